package rsp

import (
	log "github.com/sirupsen/logrus"

	"github.com/gostub/gostub/target"
)

// Non-stop mode (QNonStop:1): vCont answers OK at once; each stop is sent
// as a %Stop notification, and the client drains the queue with vStopped.

func init() {
	register(
		route{"QNonStop:", (*Session).setNonStop},
		route{"vStopped", (*Session).vStopped},
	)
}

type nonStopState struct {
	on bool
	// queue holds stop replies not yet acknowledged; its head is the one
	// the client has been sent (as a notification or a reply).
	queue []target.StopEvent
}

func (s *Session) setNonStop(pkt []byte) {
	on := false
	switch string(pkt[len("QNonStop:"):]) {
	case "0":
	case "1":
		on = true
	default:
		s.replyString("E01")
		return
	}
	if _, ok := s.caps().(target.NonStopper); !ok {
		if on {
			s.replyString("E01")
		} else {
			s.replyString("OK")
		}
		return
	}
	s.ns.on = on
	s.ns.queue = nil
	for _, p := range s.procs {
		if err := p.(target.NonStopper).SetNonStop(on); err != nil {
			s.replyErr(err)
			return
		}
	}
	s.replyString("OK")
}

// applyNonStop brings a new process into the session's mode.
func (s *Session) applyNonStop(p target.Process) {
	if ns, ok := p.(target.NonStopper); ok && s.ns.on {
		ns.SetNonStop(true)
	}
}

// eventsReady is the channel that wakes the session for stop events of the
// current process in non-stop mode; nil (never ready) otherwise.
func (s *Session) eventsReady() <-chan struct{} {
	if !s.ns.on || s.proc == nil {
		return nil
	}
	if ns, ok := s.proc.(target.NonStopper); ok {
		return ns.EventsReady()
	}
	return nil
}

// collectEvents queues the events of every process and notifies the
// client of the first one when nothing is outstanding.
func (s *Session) collectEvents() {
	for _, p := range s.Processes() {
		ns, ok := p.(target.NonStopper)
		if !ok {
			continue
		}
		for _, ev := range ns.TakeEvents() {
			s.queueStop(ev)
		}
	}
}

func (s *Session) queueStop(ev target.StopEvent) {
	if ev.Child != nil {
		s.adopt(ev.Child)
	}
	switch ev.Kind {
	case target.StopSignalled:
		s.last, s.hasLast = ev, true
	case target.StopThreadExited:
		// One thread ended; the process and the last stop stay.
	default:
		if p := s.procs[ev.Thread.PID]; p != nil {
			s.drop(p)
		}
		s.last, s.hasLast = ev, true
	}
	s.ns.queue = append(s.ns.queue, ev)
	if len(s.ns.queue) == 1 {
		s.notify("Stop", s.stopReply(ev))
	}
}

// notify sends an asynchronous notification: %NAME:DATA#cs.
func (s *Session) notify(name string, data []byte) {
	if err := s.conn.WriteNotification(name, data); err != nil {
		s.replyErr(err)
	}
}

func (s *Session) vStopped(_ []byte) {
	if len(s.ns.queue) > 0 {
		s.ns.queue = s.ns.queue[1:]
	}
	if len(s.ns.queue) == 0 {
		s.replyString("OK")
		return
	}
	s.reply(s.stopReply(s.ns.queue[0]))
}

// haltReasonNonStop answers '?' in non-stop mode: every stopped thread is
// reported, the first in the reply and the others through vStopped.
func (s *Session) haltReasonNonStop() {
	s.ns.queue = nil
	for _, p := range s.sortedProcesses() {
		ns, ok := p.(target.NonStopper)
		if !ok {
			continue
		}
		for _, t := range p.Threads() {
			if !ns.Stopped(t) {
				continue
			}
			ev := target.StopEvent{Kind: target.StopSignalled, Thread: t, Core: -1}
			if s.hasLast && s.last.Thread == t {
				ev = s.last
			}
			s.ns.queue = append(s.ns.queue, ev)
		}
	}
	if len(s.ns.queue) == 0 {
		s.replyString("OK")
		return
	}
	s.reply(s.stopReply(s.ns.queue[0]))
}

// vContNonStop resumes or stops the threads the actions name, in every
// process; threads no action names keep their state.
func (s *Session) vContNonStop(acts []vContAction) {
	type work struct {
		ns   target.NonStopper
		run  []target.Action
		stop []target.ThreadID
	}
	var todo []work
	queued := s.queuedThreads()
	for _, p := range s.sortedProcesses() {
		ns, ok := p.(target.NonStopper)
		if !ok {
			s.replyString("E01")
			return
		}
		w := work{ns: ns}
		for _, t := range p.Threads() {
			a, named := actionFor(acts, t)
			switch {
			case !named:
			case a.kind == target.ActionStop:
				w.stop = append(w.stop, t)
			case queued[t]:
				// Its stop is still on its way to the client, which
				// therefore believes it runs: a resume (a wildcard "c",
				// typically) must leave it where it stopped, or the stop
				// would arrive for a thread that has moved on, and then a
				// second one (gdb's remote.c explains this; gdbserver
				// ignores such actions the same way).
				log.WithField("thread", t).Debug("not resuming a thread whose stop is queued")
			default:
				act, ok := s.action(t, a)
				if !ok {
					s.replyString("E01")
					return
				}
				w.run = append(w.run, act)
			}
		}
		todo = append(todo, w)
	}
	for _, w := range todo {
		if len(w.stop) > 0 {
			if err := w.ns.StopAsync(w.stop, 0); err != nil {
				s.replyErr(err)
				return
			}
		}
		if len(w.run) > 0 {
			if err := w.ns.ResumeAsync(w.run); err != nil {
				s.replyErr(err)
				return
			}
		}
	}
	s.replyString("OK")
}

// queuedThreads lists the threads whose stop the client has not
// acknowledged yet (the head of the queue was sent, but is only done with
// at the next vStopped), and the threads of the child a queued fork or vfork
// stop announces: the client does not know that process yet, so its
// wildcard cannot mean it (gdbserver's in_queued_stop_replies_ptid), and a
// child let run now would be gone before the client detaches it.
func (s *Session) queuedThreads() map[target.ThreadID]bool {
	out := map[target.ThreadID]bool{}
	for _, ev := range s.ns.queue {
		if ev.Kind != target.StopSignalled {
			continue
		}
		out[ev.Thread] = true
		if (ev.Reason == target.ReasonFork || ev.Reason == target.ReasonVFork) && ev.Child != nil {
			for _, t := range ev.Child.Threads() {
				out[t] = true
			}
		}
	}
	return out
}

// interruptNonStop stops one running thread and reports it as SIGINT.
func (s *Session) interruptNonStop() {
	ns, ok := s.proc.(target.NonStopper)
	if !ok {
		return
	}
	for _, t := range s.proc.Threads() {
		if !ns.Stopped(t) {
			ns.StopAsync([]target.ThreadID{t}, 2)
			return
		}
	}
}

// discardQueued drops the stops of a detached process that the client has
// not been told about; a fork child such a stop announced is detached too,
// as the client will never know it (gdbserver does the same).
func (s *Session) discardQueued(pid int) {
	var keep []target.StopEvent
	for i, ev := range s.ns.queue {
		if i == 0 || ev.Thread.PID != pid {
			keep = append(keep, ev)
			continue
		}
		if c := ev.Child; c != nil && s.procs[c.PID()] == c {
			if err := c.Detach(); err != nil {
				log.WithError(err).Warn("detach a fork child nobody heard of")
			}
			s.drop(c)
		}
	}
	s.ns.queue = keep
}
