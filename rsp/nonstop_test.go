package rsp

import (
	"reflect"
	"strings"
	"testing"

	"github.com/gostub/gostub/target"
)

// nsProc is a fake that runs in non-stop mode: ResumeAsync and StopAsync
// are recorded, and events are handed over as the test decides.
type nsProc struct {
	*fakeProc
	on      bool
	events  []target.StopEvent
	ready   chan struct{}
	running map[target.ThreadID]bool
	resumed [][]target.Action
	stopped [][]target.ThreadID
}

func newNSProc() *nsProc {
	return &nsProc{fakeProc: newFakeProc(), ready: make(chan struct{}, 1), running: map[target.ThreadID]bool{}}
}

func (p *nsProc) SetNonStop(on bool) error { p.on = on; return nil }

func (p *nsProc) ResumeAsync(actions []target.Action) error {
	p.resumed = append(p.resumed, append([]target.Action(nil), actions...))
	for _, a := range actions {
		p.running[a.Thread] = true
	}
	return nil
}

func (p *nsProc) StopAsync(threads []target.ThreadID, sig int) error {
	p.stopped = append(p.stopped, append([]target.ThreadID(nil), threads...))
	return nil
}

func (p *nsProc) EventsReady() <-chan struct{} { return p.ready }

func (p *nsProc) TakeEvents() []target.StopEvent {
	evs := p.events
	p.events = nil
	return evs
}

func (p *nsProc) Stopped(t target.ThreadID) bool { return !p.running[t] }

// stop makes thread tid stop with sig; the session takes it at its next
// collection.
func (p *nsProc) stop(tid, sig int) {
	t := target.ThreadID{PID: fakePID, TID: tid}
	p.running[t] = false
	p.events = append(p.events, target.StopEvent{Kind: target.StopSignalled, Thread: t, Signal: sig, Core: -1})
}

func resumedTIDs(acts []target.Action) []int {
	var out []int
	for _, a := range acts {
		out = append(out, a.Thread.TID)
	}
	return out
}

// A resume action for a thread whose stop the client has not yet taken
// (by vStopped) is ignored: the client cannot know the thread stopped, and
// resuming it would report a stale stop and then a second one.
func TestNonStopResumeSkipsQueuedStops(t *testing.T) {
	const a, b, c = fakePID, fakePID + 1, fakePID + 2
	tests := []struct {
		name string
		// stopped are the threads whose stops are queued, in order;
		// acked is how many vStopped the client sends before resuming.
		stopped []int
		acked   int
		vcont   string
		want    []int // threads ResumeAsync is asked to run
	}{
		{"wildcard skips the notified thread", []int{b}, 0, "vCont;c", []int{a, c}},
		{"wildcard after the ack runs it", []int{b}, 1, "vCont;c", []int{a, b, c}},
		{"process wildcard skips it", []int{b}, 0, "vCont;c:p4d2.-1", []int{a, c}},
		{"step and wildcard", []int{b}, 0, "vCont;s:p4d2.4d2;c", []int{a, c}},
		{"acked stop runs, the next queued one waits", []int{b, c}, 1, "vCont;c", []int{a, b}},
		{"explicit resume of a queued thread is ignored", []int{b}, 0, "vCont;c:p4d2.4d3", nil},
		{"all stops taken", []int{b, c}, 2, "vCont;c", []int{a, b, c}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newNSProc()
			d := newDirect(p, Options{})
			d.one(t, "qSupported:multiprocess+")
			if r := d.one(t, "QNonStop:1"); r != "OK" {
				t.Fatalf("QNonStop:1 = %q", r)
			}
			p.ResumeAsync([]target.Action{{Thread: target.ThreadID{PID: fakePID, TID: a}}, {Thread: target.ThreadID{PID: fakePID, TID: b}}, {Thread: target.ThreadID{PID: fakePID, TID: c}}})
			p.resumed = nil
			for _, tid := range tt.stopped {
				p.stop(tid, sigTRAP)
			}
			d.out.Reset()
			d.sess.collectEvents()
			if !strings.HasPrefix(d.out.String(), "%Stop:T05") {
				t.Fatalf("no stop notification: %q", d.out.String())
			}
			for i := 0; i < tt.acked; i++ {
				d.one(t, "vStopped")
			}
			if r := d.one(t, tt.vcont); r != "OK" {
				t.Fatalf("%s = %q", tt.vcont, r)
			}
			var got []int
			if len(p.resumed) > 0 {
				got = resumedTIDs(p.resumed[len(p.resumed)-1])
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("%s resumed %x, want %x", tt.vcont, got, tt.want)
			}
		})
	}
}

// The child a fork stop announces is not the client's until it has taken
// that stop: a wildcard resume sent before (gdb does, with the fork
// notification on its way) leaves the child stopped, as gdbserver does; a
// child let run would be gone before the client detaches it
// (gdb.threads/next-fork-other-thread.exp: "Can't detach process").
func TestNonStopResumeSkipsAnnouncedForkChild(t *testing.T) {
	for _, tt := range []struct {
		reason    target.StopReason
		acked     bool
		wantChild bool
	}{
		{target.ReasonFork, false, false},
		{target.ReasonVFork, false, false},
		{target.ReasonFork, true, true},
	} {
		p := newNSProc()
		child := newNSProc()
		const childPID = fakePID + 0x100
		child.pid = childPID
		child.threads = []target.ThreadID{{PID: childPID, TID: childPID}}
		d := newDirect(p, Options{})
		d.one(t, "qSupported:multiprocess+;fork-events+;vfork-events+")
		d.one(t, "QNonStop:1")
		parent := target.ThreadID{PID: fakePID, TID: fakePID + 1}
		p.events = append(p.events, target.StopEvent{Kind: target.StopSignalled, Thread: parent, Signal: sigTRAP,
			Reason: tt.reason, Child: child, Core: -1})
		d.out.Reset()
		d.sess.collectEvents()
		if !strings.Contains(d.out.String(), "fork:p5d2.5d2") {
			t.Fatalf("no fork notification: %q", d.out.String())
		}
		if tt.acked {
			d.one(t, "vStopped")
		}
		if r := d.one(t, "vCont;c"); r != "OK" {
			t.Fatalf("vCont;c = %q", r)
		}
		if got := len(child.resumed) > 0; got != tt.wantChild {
			t.Errorf("reason %v, acked %v: child resumed %v, want %v", tt.reason, tt.acked, got, tt.wantChild)
		}
	}
}

// Each stop is reported once: the notification carries the first, vStopped
// hands out the rest in order and then OK.
func TestNonStopNotificationQueue(t *testing.T) {
	p := newNSProc()
	d := newDirect(p, Options{})
	d.one(t, "qSupported:multiprocess+")
	d.one(t, "QNonStop:1")
	p.stop(fakePID+1, sigTRAP)
	p.stop(fakePID+2, 0)
	d.out.Reset()
	d.sess.collectEvents()
	items, err := splitOutput(d.out.Bytes())
	if err != nil || len(items) != 1 || !items[0].notif {
		t.Fatalf("collect wrote %q (%v), want one notification", d.out.String(), err)
	}
	if got := string(items[0].payload); !strings.Contains(got, "thread:p4d2.4d3;") {
		t.Errorf("notification %q, want thread p4d2.4d3", got)
	}
	steps := []struct{ pkt, want string }{
		{"vStopped", "T00"},
		{"vStopped", "OK"},
		{"vStopped", "OK"},
	}
	for _, s := range steps {
		if r := d.one(t, s.pkt); !strings.HasPrefix(r, s.want) {
			t.Errorf("%s = %q, want %s...", s.pkt, r, s.want)
		}
	}
}
