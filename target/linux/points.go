package linux

import (
	"errors"
	"fmt"
	"os"
	"unsafe"

	log "github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/gostub/gostub/breakpoints"
	"github.com/gostub/gostub/regs"
	"github.com/gostub/gostub/target"
)

// Hardware breakpoints and watchpoints (x86 debug registers, per thread)
// and target-side conditions and commands of breakpoints.

// agentStepLimit bounds one condition or command evaluation.
const agentStepLimit = 1 << 16

var hwTypes = map[target.BreakpointKind]breakpoints.HWType{
	target.BreakHardware: breakpoints.HWBreakpoint,
	target.WatchWrite:    breakpoints.HWWrite,
	target.WatchAccess:   breakpoints.HWAccess,
}

// SupportsBreakpoint: software and hardware breakpoints, write and access
// watchpoints. Read watchpoints do not exist on x86; gdb then uses access
// ones, as with gdbserver.
func (p *Process) SupportsBreakpoint(kind target.BreakpointKind) bool {
	return kind != target.WatchRead
}

// InsertBreakpoint plants a client breakpoint or watchpoint.
func (p *Process) InsertBreakpoint(kind target.BreakpointKind, addr uint64, size int) error {
	return p.InsertBreakpointWith(kind, addr, size, nil)
}

// InsertBreakpointWith plants a point with target-side conditions and
// commands (the tail of the Z packet after the kind, e.g. ";X3,220027").
func (p *Process) InsertBreakpointWith(kind target.BreakpointKind, addr uint64, size int, extras []byte) (err error) {
	var px breakpoints.PointExtras
	if len(extras) > 0 {
		if px, err = breakpoints.ParseZTail(extras); err != nil {
			return fmt.Errorf("breakpoint at %#x: %w", addr, err)
		}
	}
	if !p.tr.do(func() {
		if p.exited {
			err = target.ErrNoProcess
			return
		}
		switch kind {
		case target.BreakSoftware:
			conditional := len(px.Conditions)+len(px.Commands) > 0
			switch {
			case p.promoted[addr]:
				if !conditional {
					// Plain now: back to a trap, which costs no slot.
					p.demote(addr)
				}
			case conditional && p.promote(addr):
			default:
				err = p.bps.Insert(p.mem, addr, breakpoints.OwnerClient)
			}
		case target.BreakHardware, target.WatchWrite, target.WatchAccess:
			// The threads get the slots when they next run (syncDebugRegs):
			// gdb's z2 and Z2 around a watchpoint hit then cost nothing.
			if kind == target.BreakHardware && p.promoted[addr] {
				// One slot cannot serve two owners.
				p.demote(addr)
			}
			err = p.hw.Insert(hwTypes[kind], addr, size)
			for errors.Is(err, breakpoints.ErrHWNoSlots) && len(p.promoted) > 0 {
				// The client's own hardware points come first.
				for a := range p.promoted {
					p.demote(a)
					break
				}
				err = p.hw.Insert(hwTypes[kind], addr, size)
			}
		default:
			err = target.ErrUnsupported
		}
		if err != nil {
			return
		}
		key := pointKey{kind, addr}
		if len(px.Conditions)+len(px.Commands) > 0 {
			p.extras[key] = px
		} else {
			delete(p.extras, key)
		}
	}) {
		err = target.ErrNoProcess
	}
	return err
}

// RemoveBreakpoint removes a client breakpoint or watchpoint.
func (p *Process) RemoveBreakpoint(kind target.BreakpointKind, addr uint64, size int) (err error) {
	if !p.tr.do(func() {
		if p.exited {
			err = target.ErrNoProcess
			return
		}
		delete(p.extras, pointKey{kind, addr})
		switch kind {
		case target.BreakSoftware:
			if p.promoted[addr] {
				delete(p.promoted, addr)
				p.hw.Remove(breakpoints.HWBreakpoint, addr, 1)
				return
			}
			var ok bool
			if ok, err = p.bps.Remove(p.mem, addr, breakpoints.OwnerClient); err == nil && !ok {
				err = target.ErrNotInserted
			}
		case target.BreakHardware, target.WatchWrite, target.WatchAccess:
			if kind == target.BreakHardware && p.promoted[addr] || !p.hw.Remove(hwTypes[kind], addr, size) {
				err = target.ErrNotInserted
			}
		default:
			err = target.ErrUnsupported
		}
	}) {
		err = target.ErrNoProcess
	}
	return err
}

// RemoveAllBreakpoints restores every byte our breakpoints replaced and
// frees the debug registers.
func (p *Process) RemoveAllBreakpoints() (err error) {
	p.tr.do(func() { err = p.removeAllPoints() })
	return err
}

func (p *Process) removeAllPoints() error {
	if p.exited || p.mem == nil {
		return nil
	}
	clear(p.extras)
	clear(p.promoted)
	// Also after the client's own z packets: those only change the book,
	// and these threads may never run under us again.
	p.hw.Clear()
	p.applyDebugRegs()
	if p.sharedMem {
		// A vfork child before exec: the traps are its parent's.
		return nil
	}
	return p.bps.RemoveAll(p.mem)
}

// A software breakpoint with a target-side condition is kept in a free
// debug register when every thread is stopped to receive it (all-stop):
// a hit whose condition is false then costs one stop, as the kernel lets
// the thread run on past it (RF), instead of a stop, a lift of the trap, a
// single step and a re-insert. The client sees a software breakpoint all
// the same: swbreak: stops, nothing in memory to hide, z0 to remove it.

// promote holds the conditional breakpoint at addr in a debug register if
// one is free and every thread will get it before it runs again.
func (p *Process) promote(addr uint64) bool {
	if p.nonStop || p.sharedMem || p.bps.Inserted(addr) || p.hasHWBreakpoint(addr) {
		return false
	}
	for _, t := range p.threads {
		if !t.stopped {
			return false
		}
	}
	if p.hw.Insert(breakpoints.HWBreakpoint, addr, 1) != nil {
		return false
	}
	p.promoted[addr] = true
	return true
}

func (p *Process) hasHWBreakpoint(addr uint64) bool {
	for _, pt := range p.hw.Points() {
		if pt.Type == breakpoints.HWBreakpoint && pt.Addr == addr {
			return true
		}
	}
	return false
}

// demote turns a promoted breakpoint back into a trap in memory, freeing
// its slot.
func (p *Process) demote(addr uint64) {
	delete(p.promoted, addr)
	p.hw.Remove(breakpoints.HWBreakpoint, addr, 1)
	if err := p.bps.Insert(p.mem, addr, breakpoints.OwnerClient); err != nil {
		log.WithError(err).WithField("addr", fmt.Sprintf("%#x", addr)).Warn("breakpoint back into memory")
	}
}

type pointKey struct {
	kind target.BreakpointKind
	addr uint64
}

// applyDebugRegs writes the debug registers into every stopped thread now
// (before a detach); a running one (non-stop) gets them when it next stops.
func (p *Process) applyDebugRegs() {
	want := p.hw.Registers()
	for _, t := range p.threads {
		if t.stopped && !t.newborn {
			p.installDebugRegs(t, want)
		}
	}
}

// syncDebugRegs brings a stopped thread's debug registers up to date
// before it runs.
func (p *Process) syncDebugRegs(t *thread) {
	if want := p.hw.Registers(); !t.newborn && !t.debugRegs.Equivalent(want) {
		p.installDebugRegs(t, want)
	}
}

func (p *Process) installDebugRegs(t *thread, want regs.DebugRegs) {
	writes, after := t.debugRegs.WritesTo(want)
	for _, w := range writes {
		if err := ptrace(unix.PTRACE_POKEUSR, t.tid, w.Offset, uintptr(w.Value)); err != nil {
			if !errors.Is(err, unix.ESRCH) {
				log.WithError(err).WithField("tid", t.tid).Warn("write debug register")
			}
			// Part of it may be written (DR7 cleared first): the next
			// install rewrites everything.
			t.debugRegs = unknownDebugRegs
			return
		}
	}
	t.debugRegs = after
}

// unknownDebugRegs stands for registers in a state we do not know: it is
// equivalent to nothing and shares no address with anything.
var unknownDebugRegs = regs.DebugRegs{Addr: [regs.NumDebugAddrRegs]uint64{^uint64(0), ^uint64(0), ^uint64(0), ^uint64(0)}, DR7: ^regs.DR7(0)}

// hwHit explains a TRAP_HWBKPT stop from DR6 and clears DR6 (the CPU never
// does). ok is false when no slot of ours fired (a single step, say).
func (p *Process) hwHit(t *thread) (hit breakpoints.HWHit, ok bool) {
	dr6, err := peekUser(t.tid, regs.DebugRegOffset(6))
	if err != nil {
		return hit, false
	}
	if !kernelResetsDR6 {
		ptrace(unix.PTRACE_POKEUSR, t.tid, regs.DebugRegOffset(6), 0)
	}
	hits := p.hw.Triggered(regs.DR6(dr6))
	if len(hits) == 0 {
		return hit, false
	}
	return hits[0], true
}

// peekUser reads a word of struct user; the raw request stores it at data.
func peekUser(tid int, off uintptr) (uint64, error) {
	var word uint64
	err := ptrace(unix.PTRACE_PEEKUSR, tid, off, uintptr(unsafe.Pointer(&word)))
	return word, err
}

// agentEnv gives bytecode the stopped thread's registers and memory.
type agentEnv struct {
	p *Process
	t *thread
}

func (e agentEnv) ReadMemory(addr uint64, buf []byte) error { return e.p.ReadMemory(addr, buf) }

func (e agentEnv) Register(regnum int) (uint64, error) {
	if err := e.p.loadGPR(e.t); err != nil {
		return 0, err
	}
	var xs []byte
	if r, ok := e.p.layout.Reg(regnum); ok && r.Feature != "org.gnu.gdb.i386.core" {
		if e.p.loadXsave(e.t) == nil {
			xs = e.t.xsave[:e.t.xsaveN]
		}
	}
	v, ok := e.p.layout.ReadReg(regnum, e.t.gpr, xs)
	if !ok {
		return 0, fmt.Errorf("register %d unavailable", regnum)
	}
	var out uint64
	for i := 0; i < len(v) && i < 8; i++ {
		out |= uint64(v[i]) << (8 * i)
	}
	return out, nil
}

func (e agentEnv) TraceStateVariable(n int) (int64, bool) { v, ok := e.p.tsv[n]; return v, ok }
func (e agentEnv) SetTraceStateVariable(n int, v int64)   { e.p.tsv[n] = v }

// Output prints dprintf text where gdbserver does: on the server's stdout.
func (e agentEnv) Output(text string) { os.Stdout.WriteString(text) }

// conditionSaysStop evaluates the conditions and commands of the point at
// key for thread t. A point without them always stops; an evaluation error
// stops too, so the client sees what went wrong.
func (p *Process) conditionSaysStop(t *thread, key pointKey) bool {
	px, ok := p.extras[key]
	if !ok {
		return true
	}
	report, err := px.Hit(agentEnv{p, t}, agentStepLimit)
	if err != nil {
		log.WithError(err).WithField("addr", fmt.Sprintf("%#x", key.addr)).Warn("breakpoint condition")
		return true
	}
	return report
}

// stepOverBreakpoint moves a thread stopped at one of our software
// breakpoints past it: the trap is lifted, the thread single-steps alone,
// and the trap goes back. Other threads keep their state.
func (p *Process) stepOverBreakpoint(t *thread, addr uint64) error {
	p.bps.Lift1(p.mem, addr)
	defer p.bps.Reinsert1(p.mem, addr)
	t.invalidate()
	p.syncDebugRegs(t)
	if err := resumeThread(t.tid, true, 0); err != nil {
		return fmt.Errorf("step over breakpoint at %#x: %w", addr, err)
	}
	for {
		var ws unix.WaitStatus
		if _, err := p.tr.wait4(t.tid, &ws); err != nil {
			return fmt.Errorf("step over breakpoint at %#x: %w", addr, err)
		}
		if ws.Exited() || ws.Signaled() {
			// Leave the exit for the wait loop to find.
			p.early[t.tid] = ws
			return errors.New("thread exited while stepping over a breakpoint")
		}
		if ws.Stopped() && ws.StopSignal() == unix.SIGTRAP && ws.TrapCause() == 0 {
			return nil
		}
		// Another signal got in first: keep it for the program.
		if ws.Stopped() && ws.StopSignal() != unix.SIGTRAP && ws.StopSignal() != unix.SIGSTOP {
			t.passSig = int(ws.StopSignal())
		}
		if ws.Stopped() && ws.StopSignal() == unix.SIGSTOP && t.expectStop {
			t.expectStop = false
		}
		if err := resumeThread(t.tid, true, 0); err != nil {
			return err
		}
	}
}

// kernelResetsDR6 is true on kernels that start the DR6 a tracer sees
// afresh at each debug exception (Linux's virtual_dr6, in every kernel from
// 6.1 on; it came earlier, but older ones are left to clearing): there the
// stub need not write 0 into DR6 after every hit.
var kernelResetsDR6 = kernelAtLeast(6, 1)

// kernelAtLeast compares the running kernel's release with major.minor.
func kernelAtLeast(major, minor int) bool {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return false
	}
	var maj, min int
	if _, err := fmt.Sscanf(unix.ByteSliceToString(u.Release[:]), "%d.%d", &maj, &min); err != nil {
		return false
	}
	return maj > major || maj == major && min >= minor
}
