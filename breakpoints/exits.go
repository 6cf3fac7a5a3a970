package breakpoints

import (
	"errors"
	"fmt"

	"golang.org/x/arch/x86/x86asm"
)

// Range stepping (vCont;r) runs a thread inside [start, end) until its PC
// leaves the range. Stepping one instruction at a time costs a stop per
// instruction; knowing every way out of the range, a stub can instead
// plant execution breakpoints at those exits and let the thread run.

// RangeExits is where a thread running inside a range must be stopped.
type RangeExits struct {
	// Outside are the addresses outside the range that control can reach
	// from inside it: branch and call targets, and the end of the range.
	// A thread that gets to one of them has left the range.
	Outside []uint64
	// Inside are instructions inside the range whose successor is not known
	// beforehand (ret, indirect jumps and calls, system calls, traps): the
	// thread must stop before each and single-step it.
	Inside []uint64
}

// Count is the number of execution breakpoints the exits need.
func (e RangeExits) Count() int { return len(e.Outside) + len(e.Inside) }

// ErrUndecodable means the range is not plain decodable code starting at
// the range's start, with pc on an instruction boundary: the caller then
// single-steps.
var ErrUndecodable = errors.New("range not decodable")

// FindRangeExits decodes code, the bytes of [start, start+len(code)) with
// no breakpoint in them, as x86-64 instructions from start, and returns the
// exits of the range. pc, where the thread is, must be one of the decoded
// instructions' addresses.
func FindRangeExits(code []byte, start, pc uint64) (RangeExits, error) {
	end := start + uint64(len(code))
	var ex RangeExits
	seen := map[uint64]bool{}
	outside := func(a uint64) {
		if !seen[a] {
			seen[a] = true
			ex.Outside = append(ex.Outside, a)
		}
	}
	atPC := false
	for off := 0; off < len(code); {
		addr := start + uint64(off)
		atPC = atPC || addr == pc
		inst, err := x86asm.Decode(code[off:], 64)
		if err == nil && inst.Op == 0 {
			// A truncated instruction decodes as a lone prefix.
			err = errors.New("no instruction")
		}
		if err != nil {
			return RangeExits{}, fmt.Errorf("%w: at %#x: %v", ErrUndecodable, addr, err)
		}
		next := addr + uint64(inst.Len)
		off += inst.Len
		target, kind := flow(inst, next)
		switch kind {
		case flowNext:
			if next == end {
				outside(end)
			}
		case flowBranch, flowJump:
			if target < start || target >= end {
				outside(target)
			}
			if kind == flowBranch && next == end {
				outside(end)
			}
		case flowUnknown:
			ex.Inside = append(ex.Inside, addr)
		}
	}
	if !atPC {
		return RangeExits{}, fmt.Errorf("%w: pc %#x is not on an instruction boundary from %#x", ErrUndecodable, pc, start)
	}
	return ex, nil
}

type flowKind int

const (
	flowNext    flowKind = iota // falls through to the next instruction
	flowBranch                  // to a known target or the next instruction
	flowJump                    // only to a known target (jmp, call)
	flowUnknown                 // anywhere: stop before it
)

// flow classifies an instruction by where control goes after it.
func flow(inst x86asm.Inst, next uint64) (uint64, flowKind) {
	rel, isRel := inst.Args[0].(x86asm.Rel)
	switch inst.Op {
	case x86asm.JA, x86asm.JAE, x86asm.JB, x86asm.JBE, x86asm.JE, x86asm.JNE,
		x86asm.JG, x86asm.JGE, x86asm.JL, x86asm.JLE, x86asm.JO, x86asm.JNO,
		x86asm.JP, x86asm.JNP, x86asm.JS, x86asm.JNS,
		x86asm.JCXZ, x86asm.JECXZ, x86asm.JRCXZ,
		x86asm.LOOP, x86asm.LOOPE, x86asm.LOOPNE:
		if isRel {
			return next + uint64(int64(rel)), flowBranch
		}
		return 0, flowUnknown
	case x86asm.JMP, x86asm.CALL:
		if isRel {
			return next + uint64(int64(rel)), flowJump
		}
		return 0, flowUnknown
	case x86asm.RET, x86asm.LRET, x86asm.IRET, x86asm.IRETD, x86asm.IRETQ,
		x86asm.LJMP, x86asm.LCALL,
		x86asm.SYSCALL, x86asm.SYSENTER, x86asm.SYSEXIT, x86asm.SYSRET,
		x86asm.INT, x86asm.INTO, x86asm.ICEBP, x86asm.UD0, x86asm.UD1, x86asm.UD2, x86asm.HLT,
		x86asm.XBEGIN, x86asm.XABORT, x86asm.XEND:
		return 0, flowUnknown
	}
	return 0, flowNext
}
