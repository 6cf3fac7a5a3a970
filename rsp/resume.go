package rsp

import (
	"bytes"
	"strconv"
	"sync"

	log "github.com/sirupsen/logrus"

	"github.com/gostub/gostub/target"
)

// vContAction is one action of a vCont packet before it is matched to threads.
type vContAction struct {
	kind       target.ActionKind
	signal     int // gdb numbering
	start, end uint64
	sel        Selector
	all        bool // no thread-id: applies to every thread left
}

// actionFor returns the leftmost action that names thread t (first match
// wins), if any does.
func actionFor(acts []vContAction, t target.ThreadID) (vContAction, bool) {
	for _, a := range acts {
		if a.all || a.sel.Matches(t) {
			return a, true
		}
	}
	return vContAction{}, false
}

// action turns a vCont action for thread t into a target action.
func (s *Session) action(t target.ThreadID, a vContAction) (target.Action, bool) {
	act, ok := s.toAction(t, a.kind, a.signal)
	act.RangeStart, act.RangeEnd = a.start, a.end
	return act, ok
}

// parseVCont parses the actions after "vCont;".
func parseVCont(b []byte) ([]vContAction, error) {
	var out []vContAction
	for _, part := range bytes.Split(b, []byte{';'}) {
		if len(part) == 0 {
			return nil, errBadHex
		}
		act, tid, hasTID := bytes.Cut(part, []byte{':'})
		if len(act) == 0 {
			return nil, errBadHex
		}
		var a vContAction
		switch act[0] {
		case 'c':
			a.kind = target.ActionContinue
		case 's':
			a.kind = target.ActionStep
		case 't':
			a.kind = target.ActionStop
		case 'C', 'S':
			a.kind = target.ActionContinue
			if act[0] == 'S' {
				a.kind = target.ActionStep
			}
			n, err := parseHexInt(act[1:])
			if err != nil {
				return nil, err
			}
			a.signal = n
			act = act[:1]
		case 'r':
			a.kind = target.ActionRangeStep
			start, end, ok := bytes.Cut(act[1:], []byte{','})
			if !ok {
				return nil, errBadHex
			}
			var err error
			if a.start, err = parseHex(start); err != nil {
				return nil, err
			}
			if a.end, err = parseHex(end); err != nil {
				return nil, err
			}
			act = act[:1]
		default:
			return nil, errBadHex
		}
		if len(act) != 1 {
			return nil, errBadHex
		}
		if hasTID {
			sel, err := parseSelector(tid)
			if err != nil {
				return nil, err
			}
			a.sel = sel
		} else {
			a.all = true
		}
		out = append(out, a)
	}
	return out, nil
}

func (s *Session) vContQuery(_ []byte) {
	reply := "vCont;c;C;s;S;t"
	if rs, ok := s.caps().(target.RangeStepper); ok && rs.SupportsRangeStep() {
		reply += ";r"
	}
	s.replyString(reply)
}

func (s *Session) vCont(pkt []byte) {
	acts, err := parseVCont(pkt[len("vCont;"):])
	if err != nil {
		s.replyString("E01")
		return
	}
	if s.ns.on {
		// Actions apply to every process; the first one they name
		// becomes the current one. Threads of a process whose exit is
		// still on its way to the client are no error (gdb stops every
		// inferior when one exits): nothing is left to stop or run.
		for _, a := range acts {
			if p := s.procs[a.sel.PID]; !a.all && a.sel.PID > 0 && p != nil {
				s.proc = p
				break
			}
		}
		s.vContNonStop(acts)
		return
	}
	if s.proc == nil {
		s.replyString("E01")
		return
	}
	// Each thread, of every process, takes the leftmost action that names
	// it; the processes with a running thread run together.
	var actions []target.Action
	var involved []target.Process
	for _, p := range s.sortedProcesses() {
		n := len(actions)
		for _, t := range p.Threads() {
			a, named := actionFor(acts, t)
			if !named {
				continue
			}
			act, ok := s.action(t, a)
			if !ok {
				s.replyString("E01")
				return
			}
			actions = append(actions, act)
		}
		if len(actions) > n {
			involved = append(involved, p)
		}
	}
	if len(involved) == 0 {
		s.replyString("E01")
		return
	}
	s.proc = involved[0]
	s.resume(actions, involved[1:])
}

func (s *Session) toAction(t target.ThreadID, kind target.ActionKind, gdbSig int) (target.Action, bool) {
	sig, ok := s.hostSignal(gdbSig)
	return target.Action{Thread: t, Kind: kind, Signal: sig}, ok
}

// legacyResume answers c, C, s and S: the selected thread steps or
// continues with the others continuing (c) or held (s).
func (s *Session) legacyResume(pkt []byte) {
	if s.proc == nil {
		s.replyString("E01")
		return
	}
	kind := target.ActionContinue
	if pkt[0] == 's' || pkt[0] == 'S' {
		kind = target.ActionStep
	}
	sig := 0
	if pkt[0] == 'C' || pkt[0] == 'S' {
		num, _, _ := bytes.Cut(pkt[1:], []byte{';'})
		n, err := parseHexInt(num)
		if err != nil {
			s.replyString("E01")
			return
		}
		sig = n
	} else if len(pkt) > 1 {
		// "c addr" resumes at addr; nothing in use sends it.
		s.replyString("E01")
		return
	}
	cur, err := s.thread(s.cThread)
	if err != nil {
		s.replyErr(err)
		return
	}
	var actions []target.Action
	for _, t := range s.proc.Threads() {
		if t == cur {
			a, ok := s.toAction(t, kind, sig)
			if !ok {
				s.replyString("E01")
				return
			}
			actions = append(actions, a)
		} else if kind == target.ActionContinue {
			actions = append(actions, target.Action{Thread: t, Kind: target.ActionContinue})
		}
	}
	s.resume(actions, nil)
}

// resume runs the process until it stops and replies with the stop. It
// runs on the session goroutine (the tracer thread, for a direct tracer);
// meanwhile the reader goroutine turns the client's Ctrl-C (or its
// disappearance) into an Interrupt.
func (s *Session) resume(actions []target.Action, others []target.Process) {
	if len(actions) == 0 {
		s.replyString("E01")
		return
	}
	proc := s.proc
	run := proc.Resume
	if gr, ok := proc.(target.GroupResumer); ok && len(others) > 0 {
		run = func(a []target.Action) (target.StopEvent, error) { return gr.ResumeWith(others, a) }
	}
	if w := s.conn.watcher; w != nil && !s.ns.on {
		// Read on this thread: a Ctrl-C may already wait in the buffer,
		// and the link watches for the next one while the program runs.
		if s.conn.bufferedInterrupt() {
			s.watchedIntr.Add(1)
			proc.Interrupt()
		}
		var mu sync.Mutex
		var stop func()
		watch := func() {
			mu.Lock()
			defer mu.Unlock()
			stop = w.Watch(func() {
				s.watchedIntr.Add(1)
				proc.Interrupt()
			})
		}
		bn, lazy := proc.(target.BlockNotifier)
		if lazy {
			bn.OnBlock(watch)
		} else {
			watch()
		}
		ev, err := run(actions)
		if lazy {
			bn.OnBlock(nil)
		}
		mu.Lock()
		if stop != nil {
			stop()
		}
		mu.Unlock()
		s.finishResume(ev, err)
		return
	}
	s.running.Store(&proc)
	// A Ctrl-C the reader passed on just before we got here is for this run.
	for drained := false; !drained; {
		select {
		case r := <-s.in:
			if r.err != nil || r.pkt.Interrupt {
				proc.Interrupt()
			}
			if !r.pkt.Interrupt {
				s.stash = append(s.stash, r)
			}
		default:
			drained = true
		}
	}
	ev, err := run(actions)
	s.running.Store(nil)
	s.finishResume(ev, err)
}

func (s *Session) finishResume(ev target.StopEvent, err error) {
	if err != nil {
		log.WithError(err).Warn("resume")
		s.replyString("E01")
		return
	}
	s.reportStop(ev)
}

func (s *Session) reportStop(ev target.StopEvent) {
	if ev.Kind == target.StopNoResumed {
		s.reply(s.stopReply(ev))
		return
	}
	s.noteStop(ev)
	s.reply(s.stopReply(ev))
}

func (s *Session) noteStop(ev target.StopEvent) {
	if ev.Kind == target.StopThreadExited {
		// The thread is gone; the process, and the last real stop, stay.
		return
	}
	s.last, s.hasLast = ev, true
	if ev.Child != nil {
		s.adopt(ev.Child)
	}
	if ev.Kind != target.StopSignalled {
		if p := s.procs[ev.Thread.PID]; p != nil {
			s.drop(p)
		}
	} else {
		// gdbserver makes the reporting thread the current one.
		s.gThread = Selector{PID: ev.Thread.PID, TID: ev.Thread.TID}
		if p := s.procs[ev.Thread.PID]; p != nil {
			s.proc = p
		}
	}
}

func (s *Session) haltReason(_ []byte) {
	if s.ns.on {
		s.haltReasonNonStop()
		return
	}
	if s.proc == nil && (!s.hasLast || s.last.Kind == target.StopSignalled) {
		s.replyString("W00")
		return
	}
	s.reply(s.stopReply(s.last))
}

// stopReply formats a stop event in the one shape every client gets:
// T<sig><reason>;<expedited registers>;thread:<id>;core:<n>;
func (s *Session) stopReply(ev target.StopEvent) []byte {
	var b []byte
	switch ev.Kind {
	case target.StopNoResumed:
		return []byte{'N'}
	case target.StopExited:
		b = append(b, 'W')
		b = appendHexByte(b, byte(ev.ExitCode))
		return s.appendProcess(b, ev.Thread.PID)
	case target.StopTerminated:
		b = append(b, 'X')
		b = appendHexByte(b, byte(s.wireSignal(ev.Signal)))
		return s.appendProcess(b, ev.Thread.PID)
	case target.StopThreadExited:
		return s.appendThreadExit(b, ev)
	}
	if s.opts.Disabled["T"] {
		// gdbserver's --disable-packet=T: the old S reply, with no thread.
		return appendHexByte([]byte{'S'}, byte(s.wireSignal(ev.Signal)))
	}
	b = append(b, 'T')
	b = appendHexByte(b, byte(s.wireSignal(ev.Signal)))
	switch ev.Reason {
	case target.ReasonSWBreak:
		if s.client.swbreak {
			b = append(b, "swbreak:;"...)
		}
	case target.ReasonHWBreak:
		if s.client.hwbreak {
			b = append(b, "hwbreak:;"...)
		}
	case target.ReasonWatch, target.ReasonRWatch, target.ReasonAWatch:
		name := reasonNames[ev.Reason]
		b = append(b, name...)
		b = append(b, ':')
		b = append(b, []byte(padHex(ev.WatchAddr))...)
		b = append(b, ';')
	case target.ReasonFork, target.ReasonVFork:
		if ev.Child != nil {
			b = append(b, reasonNames[ev.Reason]...)
			b = append(b, ':')
			b = appendThreadID(b, target.ThreadID{PID: ev.Child.PID(), TID: ev.Child.PID()}, true)
			b = append(b, ';')
		}
	case target.ReasonSyscallEntry, target.ReasonSyscallReturn:
		b = append(b, reasonNames[ev.Reason]...)
		b = append(b, ':')
		b = strconv.AppendInt(b, int64(ev.Syscall), 16)
		b = append(b, ';')
	case target.ReasonVForkDone:
		b = append(b, "vforkdone:;"...)
	case target.ReasonThreadCreated:
		b = append(b, "create:;"...)
	case target.ReasonExec:
		if s.client.execEvents {
			b = append(b, "exec:"...)
			b = appendHex(b, []byte(ev.ExecPath))
			b = append(b, ';')
		}
	}
	for _, r := range ev.Expedited {
		b = appendHexByte(b, byte(r.Regnum))
		b = append(b, ':')
		b = appendHex(b, r.Value)
		b = append(b, ';')
	}
	if !s.opts.Disabled["Tthread"] {
		b = append(b, "thread:"...)
		b = appendThreadID(b, ev.Thread, s.client.multiprocess)
		b = append(b, ';')
	}
	if ev.Core >= 0 {
		b = append(b, "core:"...)
		b = strconv.AppendInt(b, int64(ev.Core), 16)
		b = append(b, ';')
	}
	return s.appendStopExtras(b, ev)
}

func (s *Session) appendProcess(b []byte, pid int) []byte {
	if s.client.multiprocess && pid > 0 {
		b = append(b, ";process:"...)
		b = strconv.AppendInt(b, int64(pid), 16)
	}
	return b
}

func appendHexByte(b []byte, v byte) []byte {
	return append(b, hexDigits[v>>4], hexDigits[v&15])
}

func padHex(v uint64) string {
	s := strconv.FormatUint(v, 16)
	for len(s) < 16 {
		s = "0" + s
	}
	return s
}

// reasonNames are the stop-reply keys of the stop reasons that have one.
var reasonNames = map[target.StopReason]string{
	target.ReasonWatch: "watch", target.ReasonRWatch: "rwatch", target.ReasonAWatch: "awatch",
	target.ReasonFork: "fork", target.ReasonVFork: "vfork",
	target.ReasonSyscallEntry: "syscall_entry", target.ReasonSyscallReturn: "syscall_return",
}
