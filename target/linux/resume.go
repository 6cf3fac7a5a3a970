package linux

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"unsafe"

	log "github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/gostub/gostub/breakpoints"
	"github.com/gostub/gostub/regs"
	"github.com/gostub/gostub/target"
)

// Resume runs the threads named in actions and returns the next reportable
// event with every thread stopped again.
func (p *Process) Resume(actions []target.Action) (ev target.StopEvent, err error) {
	if !p.tr.do(func() {
		ev, err = p.resume(actions)
		if err == nil && ev.Kind == target.StopSignalled {
			last := ev
			p.lastStop = &last
		}
	}) {
		err = target.ErrNoProcess
	}
	return
}

func (p *Process) resume(actions []target.Action) (target.StopEvent, error) {
	ev, _, err := resumeGroup([]*Process{p}, actions)
	return ev, err
}

// ResumeWith runs this process together with others on the same tracer
// (several inferiors, gdb's schedule-multiple) and returns the first event
// of any of them, with all of them stopped.
func (p *Process) ResumeWith(others []target.Process, actions []target.Action) (ev target.StopEvent, err error) {
	procs := []*Process{p}
	for _, o := range others {
		q, ok := o.(*Process)
		sameThread := ok && (q.tr == p.tr || q.tr.direct && p.tr.direct && q.tr.tid == p.tr.tid)
		if sameThread && q != p && !q.exited {
			procs = append(procs, q)
		}
	}
	if !p.tr.do(func() {
		var owner *Process
		ev, owner, err = resumeGroup(procs, actions)
		if err == nil && ev.Kind == target.StopSignalled && owner != nil {
			last := ev
			owner.lastStop = &last
		}
	}) {
		err = target.ErrNoProcess
	}
	return
}

// resumeGroup runs the threads the actions name, in one or several
// processes, until one event is worth reporting; then every thread of
// every process is stopped (all-stop).
func resumeGroup(procs []*Process, actions []target.Action) (target.StopEvent, *Process, error) {
	byPID := map[int]*Process{}
	for _, q := range procs {
		if q.exited {
			return target.StopEvent{}, nil, target.ErrNoProcess
		}
		byPID[q.pid] = q
		if q.pendingExit != nil {
			ev := *q.pendingExit
			q.pendingExit = nil
			return q.finishExit(ev), q, nil
		}
	}
	own := map[*Process][]target.Action{}
	for _, a := range actions {
		q := byPID[a.Thread.PID]
		if q == nil {
			q = procs[0]
		}
		if q.threads[a.Thread.TID] == nil {
			return target.StopEvent{}, nil, fmt.Errorf("resume thread %d: %w", a.Thread.TID, target.ErrNoThread)
		}
		own[q] = append(own[q], a)
	}
	// An event already collected for a thread about to run is reported
	// first, without running anything.
	for _, q := range procs {
		if ev, ok := q.takeHeldExit(); ok {
			return ev, q, nil
		}
		if ev, ok := q.takePending(own[q]); ok {
			return ev, q, nil
		}
	}
	// A Ctrl-C that came while everything was stopped (gdb sends it when
	// it believes the program runs, say between two steps of a software
	// watchpoint): reported now, with nothing run, as the SIGINT that
	// gdbserver queues in the program would stop it at once.
	for _, q := range procs {
		if t := q.takeEarlyInterrupt(own[q]); t != nil {
			return q.complete(q.interruptEvent(t)), q, nil
		}
	}
	started := false
	for _, q := range procs {
		if intrTID := q.start(own[q]); intrTID != 0 {
			q.beginRun(intrTID)
			started = true
		}
	}
	if !started && !exiting(procs) {
		return target.StopEvent{}, nil, errors.New("resume: no thread to run")
	}
	ev, owner, err := waitGroup(procs)
	for _, q := range procs {
		q.endRun()
	}
	if err != nil {
		return ev, owner, err
	}
	switch ev.Kind {
	case target.StopNoResumed:
		return ev, owner, nil
	case target.StopExited, target.StopTerminated:
		ev = owner.finishExit(ev)
		for _, q := range procs {
			if !q.exited {
				q.stopAll()
			}
		}
		return ev, owner, nil
	}
	for _, q := range procs {
		if !q.exited {
			q.stopAll()
		}
	}
	return owner.complete(ev), owner, nil
}

// takePending reports an event collected earlier for a thread the actions
// would run.
func (p *Process) takePending(actions []target.Action) (target.StopEvent, bool) {
	for _, a := range actions {
		t := p.threads[a.Thread.TID]
		if a.Kind == target.ActionStop || t == nil || t.pending == nil {
			continue
		}
		ev := *t.pending
		t.pending = nil
		if p.stillReportable(t, ev) {
			// Nothing runs, but the signals this resume passes are the
			// client's decision already: keep them for the threads' next run.
			for _, b := range actions {
				if o := p.threads[b.Thread.TID]; o != nil && b.Signal != 0 && b.Kind != target.ActionStop {
					o.passSig = b.Signal
				}
			}
			return p.complete(ev), true
		}
	}
	return target.StopEvent{}, false
}

// start runs the threads of the actions; it returns the thread an
// interrupt should go to (the leader if it runs), 0 if none runs.
func (p *Process) start(actions []target.Action) (intrTID int) {
	for _, a := range actions {
		t := p.threads[a.Thread.TID]
		if a.Kind == target.ActionStop {
			continue
		}
		t.step = a.Kind == target.ActionStep || a.Kind == target.ActionRangeStep
		t.rangeStart, t.rangeEnd = 0, 0
		if a.Kind == target.ActionRangeStep {
			t.rangeStart, t.rangeEnd = a.RangeStart, a.RangeEnd
		}
		if err := p.run(t, a.Signal); err != nil {
			log.WithError(err).WithField("tid", t.tid).Debug("resume failed; thread gone?")
			continue
		}
		if intrTID == 0 || t.tid == p.pid {
			intrTID = t.tid
		}
	}
	return intrTID
}

// takeEarlyInterrupt consumes an interrupt that came while the process was
// stopped and returns the thread to report it for: the first the actions
// run, else the leader.
func (p *Process) takeEarlyInterrupt(actions []target.Action) *thread {
	p.mu.Lock()
	early := p.intrEarly
	p.intrEarly = false
	p.mu.Unlock()
	if !early {
		return nil
	}
	for _, a := range actions {
		if t := p.threads[a.Thread.TID]; t != nil && a.Kind != target.ActionStop {
			return t
		}
	}
	if t := p.threads[p.pid]; t != nil {
		return t
	}
	for _, t := range p.threads {
		return t
	}
	return nil
}

// beginRun arms the interrupt hand-over for a running process.
func (p *Process) beginRun(intrTID int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.running, p.intrTID, p.intrSent = true, intrTID, false
	if p.intrEarly {
		// An interrupt came just before the threads ran: deliver it now.
		p.intrEarly = false
		if unix.Tgkill(p.pid, intrTID, unix.SIGSTOP) == nil {
			p.intrSent = true
		}
	}
}

// endRun disarms it; a SIGSTOP still on its way is swallowed when it comes.
func (p *Process) endRun() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.running, p.intrEarly = false, false
	if p.intrSent {
		if t := p.threads[p.intrTID]; t != nil {
			t.expectStop = true
		}
		p.intrSent = false
	}
}

// run resumes one thread the way it was asked to run.
func (p *Process) run(t *thread, sig int) error {
	if sig == 0 {
		sig = t.passSig
	}
	t.passSig = 0
	t.invalidate()
	t.reported = false
	p.syncDebugRegs(t)
	step := p.runHow(t, sig)
	if log.IsLevelEnabled(log.TraceLevel) {
		log.WithFields(log.Fields{"tid": t.tid, "step": step, "range": t.rangeArmed != 0, "sig": sig}).Trace("run")
	}
	if err := resumeThreadHow(t.tid, step, p.catching, sig); err != nil {
		t.rangeArmed = 0
		if errors.Is(err, unix.ESRCH) {
			// Killed while stopped (another thread's exit_group): not
			// stopped any more, and its exit is still to be waited for.
			t.stopped = false
		}
		return fmt.Errorf("resume thread %d: %w", t.tid, err)
	}
	t.stopped = false
	return nil
}

// rerun lets a thread go on after an event we absorbed, unless we are
// stopping everything, in which case it stays stopped.
func (p *Process) rerun(t *thread, sig int) {
	if p.stopping || t.stopRequested {
		// Stopping everything (all-stop), or the client asked this thread
		// to stop (non-stop): it stays stopped, the signal kept for later.
		t.passSig = sig
		return
	}
	if err := p.run(t, sig); err != nil {
		log.WithError(err).WithField("tid", t.tid).Debug("rerun failed")
	}
}

// Interrupt stops a running Resume (or the one about to start); the stop
// is reported as SIGINT. The
// SIGSTOP goes to one running thread (the leader when it runs), so no
// thread the client left stopped is disturbed.
func (p *Process) Interrupt() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.running {
		// The client's Ctrl-C can reach us while a resume is still on its
		// way to the threads: keep it for that resume.
		p.intrEarly = true
		return
	}
	if p.intrSent {
		return
	}
	if err := unix.Tgkill(p.pid, p.intrTID, unix.SIGSTOP); err != nil {
		log.WithError(err).Debug("interrupt: tgkill failed")
		return
	}
	p.intrSent = true
}

func waitGroup(procs []*Process) (target.StopEvent, *Process, error) {
	owner := func(tid int) *Process {
		for _, q := range procs {
			if q.threads[tid] != nil {
				return q
			}
		}
		return nil
	}
	// Statuses collected earlier (by another process's loop) come first.
	for _, r := range procs {
		for tid, ws := range r.early {
			if q := owner(tid); q != nil {
				delete(r.early, tid)
				if ev, report := q.handleStatus(tid, ws); report {
					return ev, q, nil
				}
			}
		}
	}
	for {
		var ws unix.WaitStatus
		wpid, err := procs[0].tr.wait4(-1, &ws)
		if err != nil {
			return target.StopEvent{}, procs[0], fmt.Errorf("wait: %w", err)
		}
		q := owner(wpid)
		if q == nil {
			// A clone child before its clone event, or a process we
			// hold but do not run: keep it where its process looks.
			keep := procs[0]
			if tgid := tgidOf(wpid); tgid > 0 {
				for _, r := range procs {
					if r.pid == tgid {
						keep = r
					}
				}
			}
			keep.early[wpid] = ws
			continue
		}
		if ev, report := q.handleStatus(wpid, ws); report {
			return ev, q, nil
		}
		running := false
		for _, r := range procs {
			running = running || r.anyRunning()
		}
		if !running {
			return target.StopEvent{Kind: target.StopNoResumed, Thread: target.ThreadID{PID: q.pid, TID: -1}, Core: -1}, q, nil
		}
	}
}

// anyRunning reports whether some thread may still report an event.
func (p *Process) anyRunning() bool {
	for _, t := range p.threads {
		if !t.stopped && !p.isZombieLeader(t) {
			return true
		}
	}
	// A zombie leader alone will report the end of the process.
	return len(p.threads) == 1 && p.threads[p.pid] != nil && p.threads[p.pid].zombie
}

// isZombieLeader tells (and remembers) that the leader has exited while
// other threads live on.
func (p *Process) isZombieLeader(t *thread) bool {
	if t.zombie {
		return true
	}
	if t.tid != p.pid || t.stopped || threadState(p.pid, p.pid) != 'Z' {
		return false
	}
	p.mu.Lock()
	t.zombie = true
	p.mu.Unlock()
	return true
}

// handleStatus digests one wait status. It returns an event when the status
// is worth reporting; otherwise the thread has been set running again (or
// left stopped while stopping all).
func (p *Process) handleStatus(wpid int, ws unix.WaitStatus) (target.StopEvent, bool) {
	t := p.threads[wpid]
	if t == nil {
		// A clone child can stop before its parent's clone event; a fork
		// child's threads belong to another Process on this tracer.
		p.early[wpid] = ws
		return target.StopEvent{}, false
	}
	id := target.ThreadID{PID: p.pid, TID: wpid}
	if ws.Exited() || ws.Signaled() {
		if wpid != p.pid {
			t.close()
			delete(p.threads, wpid)
			return p.threadExitEvent(id, ws)
		}
		ev := target.StopEvent{Kind: target.StopExited, Thread: id, ExitCode: ws.ExitStatus(), Core: -1}
		if ws.Signaled() {
			ev.Kind, ev.Signal = target.StopTerminated, int(ws.Signal())
		}
		return ev, true
	}
	if !ws.Stopped() {
		return target.StopEvent{}, false
	}
	t.stopped = true
	t.invalidate()
	t.rangeHit, t.rangeArmed = t.rangeArmed, 0
	t.stepDone = false
	if log.IsLevelEnabled(log.TraceLevel) {
		log.WithFields(log.Fields{"tid": wpid, "status": describeStatus(ws), "stopping": p.stopping}).Trace("stop")
	}
	if !t.debugRegs.Equivalent(p.hw.Registers()) {
		// New threads start without debug registers; non-stop threads
		// that ran through a change catch up here.
		p.installDebugRegs(t, p.hw.Registers())
	}
	sig := ws.StopSignal()
	switch {
	case sig == unix.SIGTRAP && ws.TrapCause() != 0:
		return p.handleExtended(t, ws.TrapCause())
	case sig == unix.SIGTRAP|0x80:
		return p.handleSyscallStop(t)
	case t.newborn && sig == unix.SIGSTOP:
		t.newborn = false
		if p.threadEvents {
			return p.threadCreatedEvent(id), true
		}
		p.rerun(t, 0)
		return target.StopEvent{}, false
	case sig == unix.SIGSTOP:
		p.mu.Lock()
		ours := p.intrSent && p.intrTID == t.tid
		if ours {
			p.intrSent = false
		}
		p.mu.Unlock()
		if ours {
			return p.interruptEvent(t), true
		}
		if t.expectStop {
			t.expectStop = false
			if t.stopRequested {
				t.stopRequested = false
				if t.stopAs == int(unix.SIGINT) {
					return p.interruptEvent(t), true
				}
				return signalEvent(id, unix.Signal(t.stopAs)), true
			}
			p.rerun(t, 0)
			return target.StopEvent{}, false
		}
	case sig == unix.SIGTRAP:
		return p.handleTrap(t)
	}
	if p.pass[int(sig)] && !t.step && !maybeBreakpoint(sig) {
		// A stepping thread reports even a passed signal, as gdbserver
		// does: gdb then steps over the handler (step-resume breakpoint)
		// instead of seeing the step land on its first line.
		p.rerun(t, int(sig))
		return target.StopEvent{}, false
	}
	return signalEvent(id, sig), true
}

// maybeBreakpoint tells the signals a breakpoint may cause, which are never
// passed without asking the client (gdbserver's
// linux_wstatus_maybe_breakpoint): gdb's inferior calls return to a trap
// on the stack, which a non-executable stack turns into SIGSEGV.
func maybeBreakpoint(sig unix.Signal) bool {
	return sig == unix.SIGTRAP || sig == unix.SIGILL || sig == unix.SIGSEGV
}

func signalEvent(id target.ThreadID, sig unix.Signal) target.StopEvent {
	return target.StopEvent{Kind: target.StopSignalled, Thread: id, Signal: int(sig), Core: -1}
}

func (p *Process) handleTrap(t *thread) (target.StopEvent, bool) {
	id := target.ThreadID{PID: p.pid, TID: t.tid}
	ev := signalEvent(id, unix.SIGTRAP)
	si, err := getSiginfo(t.tid)
	if err != nil {
		return ev, true
	}
	pc, err := p.pc(t)
	if err != nil {
		return ev, true
	}
	if si.Code == siKernel && p.removedBreakpointHit(t, pc) {
		ev.Reason = target.ReasonSWBreak
		return ev, true
	}
	if (si.Code == siKernel || si.Code == trapBrkpt) && p.bps.Inserted(pc-1) {
		// Report the breakpoint address, for every client.
		if err := p.setPC(t, pc-1); err != nil {
			log.WithError(err).Warn("rewind pc after breakpoint")
		}
		if _, conditional := p.extras[pointKey{target.BreakSoftware, pc - 1}]; conditional && p.stopping {
			// Met while holding every thread: leave it at the trap, which
			// it hits again (and evaluates then) when it runs.
			return target.StopEvent{}, false
		}
		if !p.conditionSaysStop(t, pointKey{target.BreakSoftware, pc - 1}) {
			// A false target-side condition: the client never hears of it.
			return p.stepOverQuietly(t, pc-1)
		}
		ev.Reason = target.ReasonSWBreak
		return ev, true
	}
	if report, ok := p.rangeExitHit(t, si, pc); ok {
		if !report {
			p.rerun(t, 0) // one step over the instruction, then on
			return target.StopEvent{}, false
		}
		t.stepDone = true
		return ev, true // out of the range: the step is over
	}
	// Only a debug exception (a hit or a step) sets DR6; after an int3 or
	// a raised SIGTRAP it still holds an older hit.
	if p.hw.Len() > 0 && (si.Code == trapHWBkpt || si.Code == trapTrace) {
		if hit, ok := p.hwHit(t); ok {
			if hit.Type == breakpoints.HWBreakpoint {
				key, reason := pointKey{target.BreakHardware, hit.Addr}, target.ReasonHWBreak
				if p.promoted[hit.Addr] {
					key, reason = pointKey{target.BreakSoftware, hit.Addr}, target.ReasonSWBreak
				}
				if !p.conditionSaysStop(t, key) {
					// The kernel sets RF, so the thread runs on past it
					// (or, held by a stop-all, passes it when it runs).
					p.rerun(t, 0)
					return target.StopEvent{}, false
				}
				ev.Reason = reason
				return ev, true
			}
			// x86 cannot tell reads from writes: gdbserver says watch for
			// all, and gdb sorts it out by value.
			ev.Reason, ev.WatchAddr = target.ReasonWatch, hit.Addr
			return ev, true
		}
	}
	if !t.step && log.IsLevelEnabled(log.DebugLevel) {
		gprFlags := le64(t.gpr[18*8:])
		log.WithFields(log.Fields{"tid": t.tid, "code": si.Code, "pc": fmt.Sprintf("%#x", pc), "flags": fmt.Sprintf("%#x", gprFlags), "inserted": p.bps.Inserted(pc - 1)}).Debug("SIGTRAP that is neither a breakpoint nor a step")
	}
	if t.step && t.rangeEnd > t.rangeStart && pc >= t.rangeStart && pc < t.rangeEnd && !p.bps.Inserted(pc) && !p.promoted[pc] {
		p.rerun(t, 0)
		return target.StopEvent{}, false
	}
	t.stepDone = t.step
	return ev, true
}

func (p *Process) handleExtended(t *thread, cause int) (target.StopEvent, bool) {
	switch cause {
	case unix.PTRACE_EVENT_CLONE:
		msg, err := unix.PtraceGetEventMsg(t.tid)
		if err == nil {
			if ev, report := p.addClone(int(msg)); report {
				// The new thread's first stop came first: its event.
				p.rerun(t, 0)
				return ev, true
			}
		}
	case unix.PTRACE_EVENT_FORK, unix.PTRACE_EVENT_VFORK:
		msg, err := unix.PtraceGetEventMsg(t.tid)
		if err != nil {
			break
		}
		vfork := cause == unix.PTRACE_EVENT_VFORK
		if (!vfork && p.reportFork) || (vfork && p.reportVFork) {
			child, err := p.adoptChild(int(msg), vfork)
			if err == nil {
				ev := signalEvent(target.ThreadID{PID: p.pid, TID: t.tid}, unix.SIGTRAP)
				ev.Reason, ev.Child = target.ReasonFork, child
				if vfork {
					ev.Reason = target.ReasonVFork
				}
				return ev, true
			}
			log.WithError(err).Warn("hold forked child")
		}
		p.releaseChild(int(msg), vfork)
	case unix.PTRACE_EVENT_VFORK_DONE:
		if p.reportVFork {
			ev := signalEvent(target.ThreadID{PID: p.pid, TID: t.tid}, unix.SIGTRAP)
			ev.Reason = target.ReasonVForkDone
			return ev, true
		}
		if p.lifted {
			p.lifted = false
			if err := p.bps.Reinsert(p.mem); err != nil {
				log.WithError(err).Warn("reinsert breakpoints after vfork")
			}
		}
	case unix.PTRACE_EVENT_EXEC:
		return p.handleExec(t), true
	case unix.PTRACE_EVENT_EXIT:
		if t.tid == p.pid {
			// The leader stays a zombie until the other threads end.
			p.mu.Lock()
			t.zombie = true
			p.mu.Unlock()
		}
	}
	p.rerun(t, 0)
	return target.StopEvent{}, false
}

// addClone registers a new thread; it starts with a SIGSTOP of its own.
// An event of its first stop, already collected, is returned.
func (p *Process) addClone(tid int) (target.StopEvent, bool) {
	nt := &thread{tid: tid, newborn: true}
	p.mu.Lock()
	p.threads[tid] = nt
	p.mu.Unlock()
	if ws, ok := p.early[tid]; ok {
		delete(p.early, tid)
		return p.handleStatus(tid, ws)
	}
	return target.StopEvent{}, false
}

// waitChildStop waits for a new child's first stop, which may already have
// been collected.
func (p *Process) waitChildStop(child int) error {
	if _, ok := p.early[child]; ok {
		delete(p.early, child)
		return nil
	}
	var ws unix.WaitStatus
	_, err := unix.Wait4(child, &ws, unix.WALL, nil)
	return err
}

// adoptChild keeps a forked child traced and stopped, as a Process of its
// own on the same tracer thread, with a copy of the parent's breakpoints
// (its memory has the same traps).
func (p *Process) adoptChild(pid int, vfork bool) (*Process, error) {
	if err := p.waitChildStop(pid); err != nil {
		return nil, fmt.Errorf("wait for forked child %d: %w", pid, err)
	}
	c := &Process{
		tr:          p.tr,
		pid:         pid,
		execPath:    p.execPath,
		threads:     map[int]*thread{pid: {tid: pid, stopped: true}},
		layout:      p.layout,
		cpuLayout:   p.cpuLayout,
		noXML:       p.noXML,
		bps:         p.bps.Clone(),
		sharedMem:   vfork,
		hw:          breakpoints.NewHW(), // debug registers are not inherited
		extras:      map[pointKey]breakpoints.PointExtras{},
		promoted:    map[uint64]bool{},
		tsv:         map[int]int64{},
		pass:        p.pass,
		early:       p.early,
		reportFork:  p.reportFork,
		reportVFork: p.reportVFork,
	}
	m, err := openMemory(pid)
	if err != nil {
		detachThread(pid, 0)
		return nil, err
	}
	c.mem = m
	// Its copies of the breakpoints keep their conditions and commands.
	maps.Copy(c.extras, p.extras)
	if vfork {
		// A vfork child runs in its parent's memory until it execs: one
		// set of traps, so one table, which must hold all of them.
		for addr := range p.promoted {
			p.demote(addr)
		}
		c.bps = p.bps
	} else {
		// The client believes the child's memory holds the parent's
		// breakpoints: give it the ones the parent keeps in registers.
		for addr := range p.promoted {
			if err := c.bps.Insert(c.mem, addr, breakpoints.OwnerClient); err != nil {
				log.WithError(err).WithField("addr", fmt.Sprintf("%#x", addr)).Warn("breakpoint in forked child")
			}
		}
	}
	p.tr.users.Add(1)
	p.tr.add(c)
	return c, nil
}

// releaseChild lets a forked child go untraced, without our breakpoints in
// its copy of memory. For vfork the memory is shared with the parent, so the
// traps are lifted until the parent's vfork-done.
func (p *Process) releaseChild(child int, vfork bool) {
	if err := p.waitChildStop(child); err != nil {
		log.WithError(err).WithField("child", child).Warn("wait for forked child")
		return
	}
	if vfork {
		if err := p.bps.Lift(p.mem); err != nil {
			log.WithError(err).Warn("lift breakpoints for vfork")
		}
		p.lifted = true
	} else if p.bps.Len() > 0 {
		if m, err := openMemory(child); err == nil {
			if err := p.bps.Lift(m); err != nil {
				log.WithError(err).Warn("remove breakpoints from forked child")
			}
			m.close()
		}
	}
	if err := detachThread(child, 0); err != nil {
		log.WithError(err).WithField("child", child).Warn("detach forked child")
	}
}

// handleExec resets what the new program replaced: threads (the exec'ing
// thread is now the leader), breakpoints, memory and registers.
func (p *Process) handleExec(t *thread) target.StopEvent {
	p.mu.Lock()
	leader := p.threads[p.pid]
	if leader == nil {
		leader = t
	}
	leader.tid, leader.stopped, leader.expectStop, leader.newborn, leader.zombie = p.pid, true, false, false, false
	leader.pending, leader.step = nil, false
	leader.invalidate()
	for _, th := range p.threads {
		if th != leader {
			th.close()
		}
	}
	leader.close() // its tid may have changed
	p.threads = map[int]*thread{p.pid: leader}
	p.mu.Unlock()
	if p.sharedMem {
		// A vfork child leaves its parent's memory: its traps stay the
		// parent's.
		p.bps, p.sharedMem = breakpoints.NewSoftware(), false
	}
	p.bps.Forget()
	p.hw.Clear()
	clear(p.extras)
	clear(p.promoted)
	p.modidDesc = 0                     // a new dynamic linker
	leader.debugRegs = regs.DebugRegs{} // exec clears them
	p.lifted = false
	p.execPath, _ = os.Readlink(fmt.Sprintf("/proc/%d/exe", p.pid))
	if err := p.setupAddressSpace(); err != nil {
		log.WithError(err).Warn("after exec")
	}
	ev := signalEvent(target.ThreadID{PID: p.pid, TID: p.pid}, unix.SIGTRAP)
	ev.Reason = target.ReasonExec
	ev.ExecPath = p.execPath
	return ev
}

// stillReportable drops a breakpoint event whose breakpoint the client has
// removed since it was collected: the PC is already back on the original
// instruction, so the thread simply runs it.
func (p *Process) stillReportable(t *thread, ev target.StopEvent) bool {
	if t.stepDone && ev.Reason == target.ReasonNone {
		// The end of a step the client has given up on: it resumed the
		// thread anew (gdb abandons one thread's next when another stops
		// first). The thread simply goes on from where it is.
		return false
	}
	if ev.Reason != target.ReasonSWBreak {
		return true
	}
	pc, err := p.pc(t)
	return err == nil && (p.bps.Inserted(pc) || p.promoted[pc])
}

// stopAll brings every thread to a stop (all-stop), keeping any event met on
// the way as pending for its thread.
func (p *Process) stopAll() {
	prev := p.stopping
	p.stopping = true
	defer func() { p.stopping = prev }()
	if p.claimSetAside() {
		return
	}
	for _, t := range p.threads {
		if t.stopped || t.newborn || t.expectStop {
			continue
		}
		if err := unix.Tgkill(p.pid, t.tid, unix.SIGSTOP); err != nil {
			continue // gone: its exit will show up in wait
		}
		t.expectStop = true
	}
	for {
		waiting := false
		for _, t := range p.threads {
			if t.stopped {
				continue
			}
			if p.isZombieLeader(t) {
				// A leader that has exited stays a zombie until the others do.
				continue
			}
			waiting = true
			break
		}
		if !waiting {
			return
		}
		var ws unix.WaitStatus
		wpid, err := p.tr.wait4(-1, &ws)
		if err != nil {
			log.WithError(err).Warn("stop all threads")
			return
		}
		ev, report := p.handleStatus(wpid, ws)
		if !report {
			continue
		}
		if ev.Kind != target.StopSignalled {
			p.pendingExit = &ev
			return
		}
		if t := p.threads[ev.Thread.TID]; t != nil {
			t.pending = &ev
		}
	}
}

// complete fills in what a stop reply needs from the stopped thread.
func (p *Process) complete(ev target.StopEvent) target.StopEvent {
	t := p.threads[ev.Thread.TID]
	if t == nil {
		return ev
	}
	ev.Core = t.core(p.pid)
	if p.loadGPR(t) == nil {
		ev.Expedited = ev.Expedited[:0]
		for _, name := range []string{"rbp", "rsp", "rip"} {
			if r, ok := p.layout.ByName(name); ok {
				if v, ok := p.layout.ReadReg(r.Regnum, t.gpr, nil); ok {
					ev.Expedited = append(ev.Expedited, target.Register{Regnum: r.Regnum, Value: v})
				}
			}
		}
	}
	return ev
}

// finishExit records the end of the process.
func (p *Process) finishExit(ev target.StopEvent) target.StopEvent {
	p.exited = true
	p.mu.Lock()
	p.closeThreads()
	p.threads = map[int]*thread{}
	p.mu.Unlock()
	p.bps.Forget()
	p.mem.close()
	p.mem = nil
	// We run on the tracer thread: stopping it takes effect after this call.
	p.release()
	return ev
}

// CatchSyscalls sets which system calls stop the program (QCatchSyscalls).
func (p *Process) CatchSyscalls(on bool, nums []int) {
	p.tr.do(func() {
		p.catching = on
		p.catchSet = nil
		if on && nums != nil {
			p.catchSet = map[int]bool{}
			for _, n := range nums {
				p.catchSet[n] = true
			}
		}
	})
}

// handleSyscallStop reports a caught system call's entry or return.
func (p *Process) handleSyscallStop(t *thread) (target.StopEvent, bool) {
	entry, nr, ok := syscallStop(t.tid)
	if ok && !entry {
		// The exit stop does not say which call; orig_rax does (the
		// entry may predate the catching, e.g. a vfork in progress).
		nr = t.syscall
		if p.loadGPR(t) == nil {
			nr = int(int64(le64(t.gpr[gprOrigRAX:])))
		}
	}
	if ok && entry {
		t.syscall = nr
	}
	if !ok || !p.catching || (p.catchSet != nil && !p.catchSet[nr]) {
		p.rerun(t, 0)
		return target.StopEvent{}, false
	}
	ev := signalEvent(target.ThreadID{PID: p.pid, TID: t.tid}, unix.SIGTRAP)
	ev.Reason, ev.Syscall = target.ReasonSyscallReturn, nr
	if entry {
		ev.Reason = target.ReasonSyscallEntry
	}
	return ev, true
}

// stepOverQuietly moves a thread past one of our breakpoints whose
// condition was false, and lets it run on. While the trap is out of memory
// every other thread is held, so none of them can run through the address
// unseen (gdbserver does the same). An event another thread met meanwhile
// is reported now.
func (p *Process) stepOverQuietly(t *thread, addr uint64) (target.StopEvent, bool) {
	// Threads stopped before we began stay stopped; every other one (a
	// thread cloned meanwhile included) runs on afterwards.
	held := map[*thread]bool{}
	running := false
	for _, o := range p.threads {
		if o.stopped {
			held[o] = true
		} else {
			running = true
		}
	}
	if running {
		p.stopAll()
	}
	var paused []*thread
	for _, o := range p.threads {
		if o != t && !held[o] {
			paused = append(paused, o)
		}
	}
	if err := p.stepOverBreakpoint(t, addr); err != nil {
		log.WithError(err).Debug("step over conditional breakpoint")
	}
	var report *target.StopEvent
	for _, o := range paused {
		if p.threads[o.tid] != o || !o.stopped {
			continue
		}
		if o.pending == nil {
			if err := p.run(o, 0); err != nil {
				log.WithError(err).WithField("tid", o.tid).Debug("resume after step-over")
			}
			continue
		}
		if p.nonStop {
			ev := *o.pending
			o.pending = nil
			p.queueEvent(p.complete(ev))
		} else if report == nil {
			ev := *o.pending
			o.pending = nil
			report = &ev
		}
	}
	if report != nil {
		// All-stop: that event stops everything; t stays where it is.
		return *report, true
	}
	p.rerun(t, 0)
	return target.StopEvent{}, false
}

// interruptEvent reports a thread our interrupt stopped as SIGINT, the
// signal gdbserver sends, with a siginfo that says so ($_siginfo).
func (p *Process) interruptEvent(t *thread) target.StopEvent {
	var si siginfo
	si.Signo = int32(unix.SIGINT)
	si.Code = 0 // SI_USER
	b := (*[siginfoSize]byte)(unsafe.Pointer(&si))
	// si_pid and si_uid follow the 16-byte header.
	putLE32(b[16:], uint32(os.Getpid()))
	putLE32(b[20:], uint32(os.Getuid()))
	if err := ptrace(unix.PTRACE_SETSIGINFO, t.tid, 0, uintptr(unsafe.Pointer(&si))); err != nil {
		log.WithError(err).Debug("set siginfo of an interrupted thread")
	}
	return signalEvent(target.ThreadID{PID: p.pid, TID: t.tid}, unix.SIGINT)
}

func putLE32(b []byte, v uint32) {
	b[0], b[1], b[2], b[3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
}
