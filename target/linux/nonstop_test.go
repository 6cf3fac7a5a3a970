package linux

import (
	"testing"

	"golang.org/x/sys/unix"

	"github.com/gostub/gostub/target"
)

// A reported stop answers the client's stop request, whichever stop it is:
// the SIGSTOP the request sent, if still on its way, is then swallowed
// (expectStop stays) rather than reported as a second stop once the client
// resumes the thread.
func TestQueueEventEndsStopRequest(t *testing.T) {
	tests := []struct {
		name string
		ev   func(id target.ThreadID) target.StopEvent
	}{
		{"step finished first", func(id target.ThreadID) target.StopEvent { return signalEvent(id, unix.SIGTRAP) }},
		{"breakpoint", func(id target.ThreadID) target.StopEvent {
			ev := signalEvent(id, unix.SIGTRAP)
			ev.Reason = target.ReasonSWBreak
			return ev
		}},
		{"the stop itself", func(id target.ThreadID) target.StopEvent { return signalEvent(id, 0) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const pid, tid = 100, 101
			th := &thread{tid: tid, stopped: true, stopRequested: true, expectStop: true}
			p := &Process{pid: pid, threads: map[int]*thread{tid: th}, eventsReady: make(chan struct{}, 1)}
			p.queueEvent(tt.ev(target.ThreadID{PID: pid, TID: tid}))
			if th.stopRequested {
				t.Error("stop request still pending after a reported stop")
			}
			if !th.expectStop {
				t.Error("the SIGSTOP on its way is no longer expected")
			}
			if !th.reported {
				t.Error("thread not marked reported")
			}
			if evs := p.events; len(evs) != 1 {
				t.Errorf("%d events queued, want 1", len(evs))
			}
		})
	}
}
