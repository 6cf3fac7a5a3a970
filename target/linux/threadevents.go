package linux

import (
	"golang.org/x/sys/unix"

	"github.com/gostub/gostub/target"
)

// Thread events (QThreadEvents): while on, a new thread is reported with a
// stop of its own (held until the client resumes it), and a thread that
// exits, the leader aside, is reported as such.

// SetThreadEvents turns the reporting of thread creation and exit on or off.
func (p *Process) SetThreadEvents(on bool) {
	p.tr.do(func() { p.threadEvents = on })
}

// threadCreatedEvent is the first stop of a new thread, as reported.
func (p *Process) threadCreatedEvent(id target.ThreadID) target.StopEvent {
	ev := signalEvent(id, unix.SIGTRAP)
	ev.Reason = target.ReasonThreadCreated
	return ev
}

// threadExitEvent reports a thread (not the leader) that has ended, when
// the client wants to hear of it.
func (p *Process) threadExitEvent(id target.ThreadID, ws unix.WaitStatus) (target.StopEvent, bool) {
	if !p.threadEvents {
		return target.StopEvent{}, false
	}
	code := ws.ExitStatus()
	if ws.Signaled() {
		code = int(ws.Signal())
	}
	ev := target.StopEvent{Kind: target.StopThreadExited, Thread: id, ExitCode: code, Core: -1}
	if p.stopping {
		// Met while holding every thread for another event: in non-stop
		// it is one more event; in all-stop it is reported at the next
		// resume, before anything runs.
		if p.nonStop {
			p.queueEvent(ev)
		} else {
			p.heldExits = append(p.heldExits, ev)
		}
		return target.StopEvent{}, false
	}
	return ev, true
}

// takeHeldExit reports a thread exit met while every thread was being
// stopped (all-stop).
func (p *Process) takeHeldExit() (target.StopEvent, bool) {
	if len(p.heldExits) == 0 {
		return target.StopEvent{}, false
	}
	ev := p.heldExits[0]
	p.heldExits = p.heldExits[1:]
	return ev, true
}

// exiting reports whether one of procs is down to its exited leader: with
// nothing left to run, a resume waits for the end of that process (a
// client told of the last thread's exit resumes what it was left).
func exiting(procs []*Process) bool {
	for _, q := range procs {
		if l := q.threads[q.pid]; l != nil && l.zombie && !l.stopped {
			return true
		}
	}
	return false
}
