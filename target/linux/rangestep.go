package linux

import (
	"fmt"

	log "github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/gostub/gostub/breakpoints"
	"github.com/gostub/gostub/regs"
)

// Range stepping (vCont;r) without a stop per instruction: the code of the
// range is decoded, every way out of it gets an execution breakpoint in a
// debug register of the stepping thread alone, and the thread runs. It
// stops where it leaves the range (reported as the end of the step), or
// before an instruction whose successor cannot be known (ret, an indirect
// jump, a system call), which it then single-steps. Anything else that
// stops it (a breakpoint, a watchpoint, a signal) is handled as when
// stepping. When the range does not decode, or there are more exits than
// free debug registers, the thread single-steps as before.

// maxFastRange bounds the code read and decoded for one range step.
const maxFastRange = 4096

// userSpaceEnd is where x86-64 user addresses end (4-level paging, as
// debug registers take only user addresses from ptrace).
const userSpaceEnd = 1 << 47

// armRangeExits prepares a range-stepping thread to run freely; it reports
// false when the thread must single-step instead.
func (p *Process) armRangeExits(t *thread) bool {
	start, end := t.rangeStart, t.rangeEnd
	if end <= start || end-start > maxFastRange {
		return false
	}
	pc, err := p.pc(t)
	if err != nil || pc < start || pc >= end {
		return false
	}
	code := make([]byte, end-start)
	if err := p.ReadMemory(start, code); err != nil {
		return false
	}
	ex, err := breakpoints.FindRangeExits(code, start, pc)
	if err != nil {
		if log.IsLevelEnabled(log.DebugLevel) {
			log.WithError(err).WithField("range", fmt.Sprintf("%#x-%#x", start, end)).Debug("range step by single steps")
		}
		return false
	}
	for _, a := range ex.Inside {
		if a == pc {
			// Its breakpoint would not fire (RF may be set): step it.
			return false
		}
	}
	want := p.hw.Registers()
	exits := append(append([]uint64{}, ex.Outside...), ex.Inside...)
	for _, a := range exits {
		if a >= userSpaceEnd {
			return false // decoded garbage: the kernel would refuse it
		}
	}
	var armed uint8
	for i := 0; i < regs.NumDebugAddrRegs && len(exits) > 0; i++ {
		if want.DR7.Enabled(i) {
			continue
		}
		dr7, err := want.DR7.WithSlot(i, regs.DRExecute, 1)
		if err != nil {
			return false
		}
		want.DR7, want.Addr[i] = dr7, exits[0]
		exits = exits[1:]
		armed |= 1 << i
	}
	if len(exits) > 0 {
		return false // more exits than free slots
	}
	p.installDebugRegs(t, want)
	if !t.debugRegs.Equivalent(want) {
		return false
	}
	t.rangeArmed = armed
	return true
}

// rangeExitHit explains a debug trap of a thread that ran with range
// exits armed: at an exit outside the range the step is over (report);
// at one inside, the thread single-steps the instruction there and goes
// on. ok is false when the trap is something else.
func (p *Process) rangeExitHit(t *thread, si siginfo, pc uint64) (report, ok bool) {
	armed := t.rangeHit
	t.rangeHit = 0
	if armed == 0 || si.Code != trapHWBkpt {
		return false, false
	}
	dr6, err := peekUser(t.tid, regs.DebugRegOffset(6))
	if err != nil {
		return false, false
	}
	hits := regs.DR6(dr6).HitMask()
	if hits&armed == 0 || hits&^armed != 0 {
		// A client's point fired (too): the usual path reports it.
		return false, false
	}
	if !kernelResetsDR6 {
		ptrace(unix.PTRACE_POKEUSR, t.tid, regs.DebugRegOffset(6), 0)
	}
	if pc >= t.rangeStart && pc < t.rangeEnd {
		t.rangeStepOnce = true
		return false, true
	}
	return true, true
}

// runHow picks how a thread runs: a single step, a range step with armed
// exits (which runs freely), or freely.
func (p *Process) runHow(t *thread, sig int) (step bool) {
	once := t.rangeStepOnce
	t.rangeStepOnce = false
	if !t.step {
		return false
	}
	if sig != 0 || once || t.rangeEnd <= t.rangeStart {
		// A signal is delivered by one step, so the stop comes at its
		// handler's first instruction, outside the range.
		return true
	}
	return !p.armRangeExits(t)
}
