package linux

import (
	"fmt"

	log "github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/gostub/gostub/target"
)

// pollBatch bounds the statuses one poll digests.
const pollBatch = 64

// Non-stop mode: threads run and stop independently. The tracer thread
// never blocks in wait4; it reaps statuses without waiting at each SIGCHLD
// and queues the events worth reporting.

// SetNonStop switches between all-stop and non-stop.
func (p *Process) SetNonStop(on bool) error {
	if !p.tr.do(func() {
		p.nonStop = on
		tr := p.tr
		if on {
			for addr := range p.promoted {
				p.demote(addr) // running threads would not see a register
			}
			tr.onChild = tr.pollNonStop
			tr.notifySIGCHLD()
			if tr.eventsReady == nil {
				// One wake-up for every process of the thread: a status
				// may come out of any process's wait.
				tr.eventsReady = make(chan struct{}, 1)
				if tr.direct {
					// No tracer loop to watch SIGCHLD: wake the session,
					// which reaps on the tracer thread in TakeEvents.
					go tr.forwardSIGCHLD()
				}
			}
			p.eventsReady = tr.eventsReady
		} else if !tr.anyNonStop() {
			tr.onChild = nil
		}
	}) {
		return target.ErrNoProcess
	}
	return nil
}

// ResumeAsync runs the named threads and returns at once.
func (p *Process) ResumeAsync(actions []target.Action) (err error) {
	if !p.tr.do(func() {
		if p.exited {
			err = target.ErrNoProcess
			return
		}
		held := p.eventThreads()
		for _, a := range actions {
			t := p.threads[a.Thread.TID]
			if t == nil || !t.stopped || a.Kind == target.ActionStop {
				continue
			}
			if held[t.tid] {
				// Its stop has not reached the session yet, so the
				// client cannot know it stopped: that stop is still
				// to be reported, and stands for this resume.
				log.WithField("tid", t.tid).Debug("not resuming a thread with a stop not yet taken")
				continue
			}
			t.step = a.Kind == target.ActionStep || a.Kind == target.ActionRangeStep
			t.rangeStart, t.rangeEnd = 0, 0
			if a.Kind == target.ActionRangeStep {
				t.rangeStart, t.rangeEnd = a.RangeStart, a.RangeEnd
			}
			if e := p.run(t, a.Signal); e != nil {
				log.WithError(e).Debug("resume in non-stop")
			}
		}
		p.tr.pollNonStop()
	}) {
		err = target.ErrNoProcess
	}
	return
}

// StopAsync asks running threads to stop; each reports signal sig.
func (p *Process) StopAsync(ids []target.ThreadID, sig int) (err error) {
	if !p.tr.do(func() {
		for _, id := range ids {
			t := p.threads[id.TID]
			if t == nil || t.newborn {
				continue
			}
			if t.stopped {
				// Stopped but never reported (just attached or
				// launched): the client waits for a stop, so give one.
				if !t.reported {
					p.queueEvent(p.complete(signalEvent(id, unix.Signal(sig))))
				}
				continue
			}
			t.stopAs, t.stopRequested = sig, true
			if !t.expectStop {
				if e := unix.Tgkill(p.pid, t.tid, unix.SIGSTOP); e != nil {
					err = fmt.Errorf("stop thread %d: %w", t.tid, e)
					continue
				}
				t.expectStop = true
			}
		}
	}) {
		err = target.ErrNoProcess
	}
	return
}

// Stopped reports whether a thread is stopped.
func (p *Process) Stopped(id target.ThreadID) (stopped bool) {
	p.tr.do(func() {
		t := p.threads[id.TID]
		stopped = t != nil && t.stopped
	})
	return
}

// eventThreads lists the threads with an event not yet taken by the session.
func (p *Process) eventThreads() map[int]bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[int]bool, len(p.events))
	for _, ev := range p.events {
		if ev.Kind == target.StopSignalled {
			out[ev.Thread.TID] = true
		}
	}
	return out
}

// EventsReady is signalled when events are queued.
func (p *Process) EventsReady() <-chan struct{} { return p.eventsReady }

// TakeEvents hands over the queued events. It needs no tracer hop, so the
// exit event is collected even after the tracer thread has ended.
func (p *Process) TakeEvents() []target.StopEvent {
	if p.tr.direct && p.nonStop {
		p.tr.do(p.tr.pollNonStop)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	evs := p.events
	p.events = nil
	return evs
}

// pollNonStop reaps every status that is ready, without blocking, and
// hands each to the process it belongs to: wait4 on the tracer thread
// returns them for every process the thread traces.
func (tr *tracer) pollNonStop() {
	// Statuses a blocking loop (another process's kill or detach) set aside.
	for tid, ws := range tr.early {
		if q := tr.owner(tid); q != nil && q.nonStop {
			delete(tr.early, tid)
			q.digestNonStop(tid, ws)
		}
	}
	// Threads that keep stopping (a breakpoint whose condition is false,
	// hit by many threads) must not keep the session from its packets:
	// take a bounded batch, and ask to be called again for the rest.
	for n := 0; ; n++ {
		if n == pollBatch {
			tr.poke()
			return
		}
		var ws unix.WaitStatus
		wpid, err := unix.Wait4(-1, &ws, unix.WALL|unix.WNOHANG, nil)
		if err != nil || wpid <= 0 {
			return
		}
		q := tr.owner(wpid)
		if q == nil || !q.nonStop {
			// A clone child before its clone event, or a thread of a
			// process that waits for itself: its own loop claims it.
			tr.early[wpid] = ws
			continue
		}
		q.digestNonStop(wpid, ws)
		if tr.users.Load() <= 0 {
			return // the last process has ended
		}
	}
}

// digestNonStop handles one status of this process in non-stop mode and
// queues the event it makes, if any.
func (p *Process) digestNonStop(wpid int, ws unix.WaitStatus) {
	ev, report := p.handleStatus(wpid, ws)
	if !report {
		// A thread the client asked to stop, held by an event we
		// absorbed (a false condition, a clone...): that is its stop.
		t := p.threads[wpid]
		if t == nil || !t.stopped || !t.stopRequested || t.newborn {
			return
		}
		t.stopRequested = false
		ev = signalEvent(target.ThreadID{PID: p.pid, TID: t.tid}, unix.Signal(t.stopAs))
	}
	if ev.Kind == target.StopThreadExited {
		// The thread is gone; the process runs on.
	} else if ev.Kind != target.StopSignalled {
		ev = p.finishExit(ev)
	} else {
		if t := p.threads[ev.Thread.TID]; t != nil {
			t.stopRequested = false
		}
		ev = p.complete(ev)
	}
	p.queueEvent(ev)
}

// anyNonStop tells whether a live process of the thread is in non-stop mode.
func (tr *tracer) anyNonStop() bool {
	for q := range tr.procs {
		if !q.exited && q.nonStop {
			return true
		}
	}
	return false
}

// poke wakes the session to collect events.
func (tr *tracer) poke() {
	if tr.eventsReady == nil {
		return
	}
	select {
	case tr.eventsReady <- struct{}{}:
	default:
	}
}

// queueEvent hands an event to the session. A stop the client asked for
// (vCont;t) is answered by whatever stop is reported first: the request
// is done with, and the SIGSTOP it sent, if still on its way, is swallowed
// when it comes (expectStop) instead of passing for a second stop after
// the client resumes the thread.
func (p *Process) queueEvent(ev target.StopEvent) {
	if t := p.threads[ev.Thread.TID]; t != nil {
		t.reported = true
		t.stopRequested = false
	}
	p.mu.Lock()
	p.events = append(p.events, ev)
	p.mu.Unlock()
	select {
	case p.eventsReady <- struct{}{}:
	default:
	}
}

// forwardSIGCHLD turns SIGCHLD into an EventsReady wake-up (direct mode).
func (tr *tracer) forwardSIGCHLD() {
	for {
		select {
		case <-tr.sigchld:
			tr.poke()
		case <-tr.quit:
			return
		}
	}
}

// removedBreakpointHit tells whether a thread's int3 trap (pc just past it)
// came from a breakpoint the client removed before we saw the trap: in
// non-stop the client removes breakpoints while threads run, and a thread
// may already have hit one. Such a trap has no int3 left behind it. The PC
// goes back to the breakpoint address and the stop is reported as a
// software breakpoint, which gdb recognises as one of its moribund
// locations and resumes quietly (gdbserver gets the same by pausing every
// thread before it touches memory). Reported as a plain SIGTRAP past the
// instruction, it would be a stray signal.
func (p *Process) removedBreakpointHit(t *thread, pc uint64) bool {
	if !p.nonStop || pc == 0 || p.bps.Inserted(pc-1) {
		return false
	}
	var b [1]byte
	if err := p.mem.ReadMemory(pc-1, b[:]); err != nil || b[0] == 0xcc {
		// The program's own int3: a plain SIGTRAP, as gdbserver reports.
		return false
	}
	if err := p.setPC(t, pc-1); err != nil {
		log.WithError(err).Warn("rewind pc after a removed breakpoint")
		return false
	}
	return true
}
