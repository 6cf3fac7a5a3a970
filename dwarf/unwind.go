package dwarf

import (
	"errors"
	"fmt"
)

// Memory reads a process's memory (or a snapshot of it). ReadMemory fills
// buf from addr or fails.
type Memory interface {
	ReadMemory(addr uint64, buf []byte) error
}

// Frame is one frame of a backtrace.
type Frame struct {
	// PC is the frame's pc: the current pc for the innermost frame, the
	// return address for the others (as gdb's bt prints). The source
	// location of a caller frame is looked up at PC-1, inside the call.
	PC uint64
	// CFA is the canonical frame address: the value of the stack pointer
	// in the caller just before the call.
	CFA uint64
	// Location is the source position; for a frame without debug info only
	// Function (from the ELF symbols) may be known. Location.Inlined is
	// always empty: inlined calls are frames of their own.
	Location Location
	// Object is the path of the object containing PC.
	Object string
	// Inlined marks a function inlined into the next (outer) frame; such
	// frames share PC and CFA with it, as gdb's inline frames do.
	Inlined bool
	// Signal marks a signal trampoline frame (its CIE has the 'S'
	// augmentation); the frame after it was interrupted, not calling.
	Signal bool
	// TailCall marks a frame rebuilt from DWARF call-site information, as
	// gdb does: a function that tail-called (jumped to) the next inner
	// frame's function and so has no frame of its own on the stack. Its
	// PC is the address after the jump; CFA is that of the inner frame.
	TailCall bool
}

// x86-64 DWARF register numbers of the stack pointer and the pc.
const (
	regSP = 7
	regPC = 16
)

// Unwind computes the backtrace of a stopped thread from its registers
// (DWARF register number -> value; x86-64: 0 rax, 1 rdx, 2 rcx, 3 rbx,
// 4 rsi, 5 rdi, 6 rbp, 7 rsp, 8-15 r8-r15, 16 rip), reading the stack
// through mem. Each frame is unwound with the CFI (.eh_frame, then
// .debug_frame) of the object containing its pc; no frame pointer is
// assumed. Inlined calls appear as frames of their own. At most max frames
// are returned (max <= 0: no limit but 100000).
//
// The walk ends without error at the outermost frame (return address
// undefined, as in _start, or zero). When it cannot go on (no object or no
// CFI for a pc, unreadable memory, a corrupt stack), the frames found so far
// are returned together with an error saying why.
func Unwind(objs *Space, regs map[int]uint64, mem Memory, max int) (frames []Frame, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("backtrace stopped: corrupt unwind information: %v", p)
		}
	}()
	if objs == nil {
		return nil, errors.New("dwarf.Unwind: nil Space")
	}
	if max <= 0 {
		max = 100000
	}
	u := &unwinder{space: objs, mem: mem}
	for r, v := range regs {
		if r >= 0 && r < maxReg {
			u.regs[r] = v
			u.valid |= 1 << uint(r)
		}
	}
	if u.valid&(1<<regPC) == 0 {
		return nil, errors.New("dwarf.Unwind: no pc (DWARF register 16)")
	}
	return u.run(max)
}

type unwinder struct {
	space *Space
	mem   Memory
	regs  [maxReg]uint64
	valid uint64
	row   cfiRow
	stack []cfiRow
	next  [maxReg]uint64
	buf   []*scope
}

func (u *unwinder) run(max int) ([]Frame, error) {
	var frames []Frame
	pc := u.regs[regPC]
	prevCFA := uint64(0)
	prevSignal := false
	for level := 0; len(frames) < max; level++ {
		lookup := pc
		if level > 0 && !prevSignal && pc > 0 {
			lookup = pc - 1
		}
		ent, ok := u.space.lookup(lookup)
		if !ok {
			err := &AddressError{Addr: pc}
			if level == 0 {
				return nil, err
			}
			frames = append(frames, Frame{PC: pc})
			return frames, fmt.Errorf("backtrace stopped: %w", err)
		}
		o := ent.obj
		fpc := lookup - ent.bias
		f, tab := o.findFDE(fpc)
		if f == nil {
			frames = u.appendFrames(frames, ent, pc, pc-ent.bias, 0, false, max)
			return frames, fmt.Errorf("backtrace stopped: no unwind information for 0x%x in %s", pc, ent.path)
		}
		signal := f.cie.signal
		locPC := fpc
		if signal {
			locPC = pc - ent.bias
		}
		if err := tab.rowAt(f, fpc, &u.row, &u.stack); err != nil {
			frames = u.appendFrames(frames, ent, pc, locPC, 0, signal, max)
			return frames, fmt.Errorf("backtrace stopped: CFI for 0x%x in %s: %w", pc, ent.path, err)
		}
		env := exprEnv{regs: &u.regs, valid: u.valid, mem: u.mem, order: o.order, ptrSize: o.ptrSize, bias: ent.bias}
		var cfa uint64
		var err error
		if u.row.cfa.expr != nil {
			cfa, err = env.eval(u.row.cfa.expr)
		} else {
			var v uint64
			v, err = env.reg(uint64(u.row.cfa.reg))
			cfa = v + uint64(u.row.cfa.off)
		}
		frames = u.appendFrames(frames, ent, pc, locPC, cfa, signal, max)
		if err != nil {
			return frames, fmt.Errorf("backtrace stopped: computing the CFA at 0x%x: %w", pc, err)
		}
		if level > 0 && !prevSignal && !signal && cfa < prevCFA {
			return frames, fmt.Errorf("backtrace stopped: previous frame inner to this frame (corrupt stack?) at 0x%x", pc)
		}

		// The caller's registers.
		ra := f.cie.raReg
		if ra >= maxReg {
			return frames, fmt.Errorf("backtrace stopped: return address column %d unsupported", ra)
		}
		u.next = u.regs
		nextValid := u.valid
		for r := range maxReg {
			rule := &u.row.regs[r]
			var v uint64
			switch rule.kind {
			case ruleUnspecified, ruleSameValue:
				continue
			case ruleUndefined:
				nextValid &^= 1 << uint(r)
				continue
			case ruleOffset:
				v, err = env.read(cfa+uint64(rule.off), o.ptrSize)
			case ruleValOffset:
				v = cfa + uint64(rule.off)
			case ruleRegister:
				v, err = env.reg(uint64(rule.reg))
			case ruleExpression:
				var addr uint64
				if addr, err = env.eval(rule.expr, cfa); err == nil {
					v, err = env.read(addr, o.ptrSize)
				}
			case ruleValExpression:
				v, err = env.eval(rule.expr, cfa)
			}
			if err != nil {
				if uint64(r) == ra || r == regSP {
					return frames, fmt.Errorf("backtrace stopped: register %d of the caller of 0x%x: %w", r, pc, err)
				}
				nextValid &^= 1 << uint(r)
				err = nil
				continue
			}
			u.next[r] = v
			nextValid |= 1 << uint(r)
		}
		if u.row.regs[regSP].kind == ruleUnspecified || u.row.regs[regSP].kind == ruleSameValue {
			u.next[regSP] = cfa
			nextValid |= 1 << regSP
		}
		if u.row.regs[ra].kind == ruleUndefined || nextValid&(1<<ra) == 0 {
			return frames, nil // outermost frame
		}
		newPC := u.next[ra]
		if ra != regPC {
			u.next[regPC] = newPC
			nextValid |= 1 << regPC
		}
		if newPC == 0 {
			return frames, nil
		}
		if newPC == pc && cfa == prevCFA && level > 0 {
			return frames, fmt.Errorf("backtrace stopped: frame did not change at 0x%x (corrupt stack?)", pc)
		}
		if !signal {
			frames = u.tailCallFrames(frames, ent, fpc, newPC, cfa, max)
		}
		u.regs, u.valid = u.next, nextValid
		pc, prevCFA, prevSignal = newPC, cfa, signal
	}
	return frames, nil
}

// appendFrames adds the frames of one physical frame: its inlined calls,
// innermost first, then the function itself.
func (u *unwinder) appendFrames(frames []Frame, ent *spaceEntry, pc, locPC, cfa uint64, signal bool, max int) []Frame {
	loc, _ := ent.obj.locate(locPC, u.buf, true)
	n := len(loc.Inlined)
	if n == 0 {
		return append(frames, Frame{PC: pc, CFA: cfa, Location: loc, Object: ent.path, Signal: signal})
	}
	inl := loc.Inlined
	loc.Inlined = nil
	frames = append(frames, Frame{PC: pc, CFA: cfa, Location: loc, Object: ent.path, Inlined: true})
	for i, l := range inl {
		if len(frames) >= max {
			break
		}
		frames = append(frames, Frame{PC: pc, CFA: cfa, Location: l, Object: ent.path, Inlined: i < n-1, Signal: signal && i == n-1})
	}
	return frames
}

// tailCallFrames adds the functions that tail-called their way from the
// caller's call at retPC to the function of the frame at fpc.
func (u *unwinder) tailCallFrames(frames []Frame, ent *spaceEntry, fpc, retPC, cfa uint64, max int) []Frame {
	o := ent.obj
	if len(o.callByRet) == 0 || retPC < ent.bias || !o.Contains(retPC-1-ent.bias) {
		return frames
	}
	chain := o.tailChain(retPC-ent.bias, o.findFunc(fpc))
	for i := len(chain) - 1; i >= 0 && len(frames) < max; i-- {
		pc := chain[i].retPC + ent.bias
		loc, _ := o.locate(chain[i].retPC-1, u.buf, true)
		loc.Inlined = nil
		frames = append(frames, Frame{PC: pc, CFA: cfa, Location: loc, Object: ent.path, TailCall: true})
	}
	return frames
}
