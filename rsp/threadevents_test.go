package rsp

import (
	"strings"
	"testing"

	"github.com/gostub/gostub/target"
)

// teProc reports thread events (QThreadEvents).
type teProc struct {
	*nsProc
	threadEvents []bool // every SetThreadEvents call
}

func newTEProc() *teProc { return &teProc{nsProc: newNSProc()} }

func (p *teProc) SetThreadEvents(on bool) { p.threadEvents = append(p.threadEvents, on) }

func TestQThreadEventsPacket(t *testing.T) {
	tests := []struct {
		name string
		proc target.Process
		pkt  string
		want string
		set  []bool // what the target was told
	}{
		{"on", newTEProc(), "QThreadEvents:1", "OK", []bool{true}},
		{"off", newTEProc(), "QThreadEvents:0", "OK", []bool{false}},
		{"bad mode", newTEProc(), "QThreadEvents:2", "E.Unknown thread-events mode requested: 2", nil},
		{"target without thread events", newFakeProc(), "QThreadEvents:1", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDirect(tt.proc, Options{})
			if r := d.one(t, tt.pkt); r != tt.want {
				t.Errorf("%s = %q, want %q", tt.pkt, r, tt.want)
			}
			if p, ok := tt.proc.(*teProc); ok && !equalBools(p.threadEvents, tt.set) {
				t.Errorf("SetThreadEvents calls %v, want %v", p.threadEvents, tt.set)
			}
		})
	}
}

func equalBools(a, b []bool) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestQThreadEventsAdvertised(t *testing.T) {
	tests := []struct {
		name string
		proc target.Process
		want bool
	}{
		{"reporter", newTEProc(), true},
		{"plain", newFakeProc(), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDirect(tt.proc, Options{})
			r := d.one(t, "qSupported:multiprocess+;QThreadEvents+")
			if got := strings.Contains(r, ";QThreadEvents+"); got != tt.want {
				t.Errorf("qSupported = %q: QThreadEvents+ %v, want %v", r, got, tt.want)
			}
		})
	}
}

// A process the session adopts later (a fork child) gets the client's choice.
func TestQThreadEventsAppliesToNewProcesses(t *testing.T) {
	p := newTEProc()
	d := newDirect(p, Options{})
	d.one(t, "QThreadEvents:1")
	c := newTEProc()
	c.pid = fakePID + 100
	d.sess.Keep(c)
	if !equalBools(c.threadEvents, []bool{true}) {
		t.Errorf("new process told %v, want [true]", c.threadEvents)
	}
}

func TestThreadEventStopReplies(t *testing.T) {
	th := target.ThreadID{PID: fakePID, TID: fakePID + 1}
	tests := []struct {
		name  string
		multi bool
		ev    target.StopEvent
		want  string
	}{
		{"create", true, target.StopEvent{Kind: target.StopSignalled, Thread: th, Signal: sigTRAP, Reason: target.ReasonThreadCreated, Core: -1},
			"T05create:;thread:p4d2.4d3;"},
		{"exit", true, target.StopEvent{Kind: target.StopThreadExited, Thread: th, ExitCode: 0, Core: -1}, "w0;p4d2.4d3"},
		{"exit with status", true, target.StopEvent{Kind: target.StopThreadExited, Thread: th, ExitCode: 0x2a, Core: -1}, "w2a;p4d2.4d3"},
		{"exit without multiprocess", false, target.StopEvent{Kind: target.StopThreadExited, Thread: th, ExitCode: 1, Core: -1}, "w1;4d3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDirect(newTEProc(), Options{})
			if tt.multi {
				d.one(t, "qSupported:multiprocess+")
			}
			if got := string(d.sess.stopReply(tt.ev)); got != tt.want {
				t.Errorf("stop reply %q, want %q", got, tt.want)
			}
		})
	}
}

// In non-stop mode a thread exit is one more queued stop; the process
// stays, and so does the thread of the last real stop.
func TestNonStopThreadExitKeepsProcess(t *testing.T) {
	p := newTEProc()
	d := newDirect(p, Options{})
	d.one(t, "qSupported:multiprocess+")
	d.one(t, "QNonStop:1")
	d.one(t, "QThreadEvents:1")
	p.events = append(p.events,
		target.StopEvent{Kind: target.StopThreadExited, Thread: target.ThreadID{PID: fakePID, TID: fakePID + 2}, Core: -1},
		target.StopEvent{Kind: target.StopSignalled, Thread: target.ThreadID{PID: fakePID, TID: fakePID + 1}, Signal: sigTRAP, Reason: target.ReasonThreadCreated, Core: -1})
	d.out.Reset()
	d.sess.collectEvents()
	if got := d.out.String(); !strings.HasPrefix(got, "%Stop:w0;p4d2.4d4#") {
		t.Fatalf("notification %q, want the thread exit", got)
	}
	if d.sess.Process() == nil {
		t.Fatal("a thread exit dropped the process")
	}
	if r := d.one(t, "vStopped"); r != "T05create:;thread:p4d2.4d3;" {
		t.Errorf("vStopped = %q, want the creation", r)
	}
	if r := d.one(t, "vStopped"); r != "OK" {
		t.Errorf("vStopped = %q, want OK", r)
	}
}
