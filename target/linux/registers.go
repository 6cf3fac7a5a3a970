package linux

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/gostub/gostub/regs"
	"github.com/gostub/gostub/target"
)

// Offsets in struct user_regs_struct.
const (
	gprRIP = 16 * 8
	gprRSP = 19 * 8
	// orig_rax: the system call number, kept through the call.
	gprOrigRAX = 15 * 8
)

// xsaveMax bounds the NT_X86_XSTATE buffer; the kernel fills what the CPU has.
const xsaveMax = 16 << 10

func (p *Process) loadGPR(t *thread) error {
	if t.gprValid {
		return nil
	}
	if t.gpr == nil {
		t.gpr = make([]byte, regs.GPRSize)
	}
	if _, err := getRegset(t.tid, unix.NT_PRSTATUS, t.gpr); err != nil {
		return fmt.Errorf("read registers of %d: %w", t.tid, err)
	}
	t.gprValid = true
	return nil
}

func (p *Process) loadXsave(t *thread) error {
	if t.xsaveN > 0 {
		return nil
	}
	if t.xsave == nil {
		t.xsave = make([]byte, xsaveMax)
	}
	n, err := getRegset(t.tid, unix.NT_X86_XSTATE, t.xsave)
	if err != nil {
		return fmt.Errorf("read extended state of %d: %w", t.tid, err)
	}
	t.xsaveN = n
	return nil
}

// invalidate forgets cached registers before the thread runs.
func (t *thread) invalidate() {
	t.gprValid = false
	t.xsaveN = 0
}

func (p *Process) pc(t *thread) (uint64, error) {
	if err := p.loadGPR(t); err != nil {
		return 0, err
	}
	return le64(t.gpr[gprRIP:]), nil
}

func (p *Process) setPC(t *thread, pc uint64) error {
	if err := p.loadGPR(t); err != nil {
		return err
	}
	putLE64(t.gpr[gprRIP:], pc)
	if err := setRegset(t.tid, unix.NT_PRSTATUS, t.gpr); err != nil {
		t.gprValid = false
		return fmt.Errorf("set pc of %d: %w", t.tid, err)
	}
	return nil
}

// TargetXML is the description matching the CPU's XCR0.
func (p *Process) TargetXML() []byte { return p.layout.TargetXML() }

// RegistersSize is the length of the 'g' block.
func (p *Process) RegistersSize() int { return p.layout.Size }

// RegisterSizes lists register sizes in 'g' order.
func (p *Process) RegisterSizes() []int {
	out := make([]int, len(p.layout.Regs))
	for i, r := range p.layout.Regs {
		out[i] = r.Bits / 8
	}
	return out
}

// Layout exposes the register table (for stop-reply expedition).
func (p *Process) Layout() *regs.Layout { return p.layout }

// ReadRegisters returns the 'g' block of a thread.
func (p *Process) ReadRegisters(id target.ThreadID) (block []byte, avail []bool, err error) {
	p.tr.do(func() {
		var t *thread
		if t, err = p.thread(id); err != nil {
			return
		}
		if err = p.loadGPR(t); err != nil {
			return
		}
		var xs []byte
		if p.loadXsave(t) == nil {
			xs = t.xsave[:t.xsaveN]
		}
		block = make([]byte, p.layout.Size)
		avail = make([]bool, len(p.layout.Regs))
		p.layout.FromKernel(t.gpr, xs, block, avail)
	})
	return
}

// WriteRegisters applies a full 'g' block.
func (p *Process) WriteRegisters(id target.ThreadID, block []byte) (err error) {
	if len(block) != p.layout.Size {
		return fmt.Errorf("register block of %d bytes, want %d", len(block), p.layout.Size)
	}
	p.tr.do(func() {
		var t *thread
		if t, err = p.thread(id); err != nil {
			return
		}
		if err = p.loadGPR(t); err != nil {
			return
		}
		if err = p.loadXsave(t); err != nil {
			return
		}
		if err = p.layout.ToKernel(block, t.gpr, t.xsave[:t.xsaveN]); err != nil {
			return
		}
		err = p.flushRegs(t, true)
	})
	return
}

func (p *Process) flushRegs(t *thread, xstate bool) error {
	if err := setRegset(t.tid, unix.NT_PRSTATUS, t.gpr); err != nil {
		t.invalidate()
		return fmt.Errorf("write registers of %d: %w", t.tid, err)
	}
	if xstate {
		if err := setRegset(t.tid, unix.NT_X86_XSTATE, t.xsave[:t.xsaveN]); err != nil {
			t.invalidate()
			return fmt.Errorf("write extended state of %d: %w", t.tid, err)
		}
	}
	return nil
}

// ReadRegister returns one register by gdb number.
func (p *Process) ReadRegister(id target.ThreadID, regnum int) (value []byte, err error) {
	p.tr.do(func() {
		var t *thread
		if t, err = p.thread(id); err != nil {
			return
		}
		if err = p.loadGPR(t); err != nil {
			return
		}
		var xs []byte
		if p.loadXsave(t) == nil {
			xs = t.xsave[:t.xsaveN]
		}
		var ok bool
		if value, ok = p.layout.ReadReg(regnum, t.gpr, xs); !ok {
			err = fmt.Errorf("register %d: %w", regnum, target.ErrUnsupported)
		}
	})
	return
}

// WriteRegister sets one register by gdb number.
func (p *Process) WriteRegister(id target.ThreadID, regnum int, value []byte) (err error) {
	p.tr.do(func() {
		var t *thread
		if t, err = p.thread(id); err != nil {
			return
		}
		if err = p.loadGPR(t); err != nil {
			return
		}
		if err = p.loadXsave(t); err != nil {
			return
		}
		if err = p.layout.WriteReg(regnum, value, t.gpr, t.xsave[:t.xsaveN]); err != nil {
			return
		}
		err = p.flushRegs(t, true)
	})
	return
}

// siginfoSize is sizeof(siginfo_t).
const siginfoSize = 128

// Siginfo returns the siginfo_t of the signal that stopped a thread.
func (p *Process) Siginfo(id target.ThreadID) (data []byte, err error) {
	if !p.tr.do(func() {
		var t *thread
		if t, err = p.thread(id); err != nil {
			return
		}
		buf := make([]byte, siginfoSize)
		if err = ptrace(unix.PTRACE_GETSIGINFO, t.tid, 0, uintptr(unsafe.Pointer(&buf[0]))); err != nil {
			err = fmt.Errorf("read siginfo of %d: %w", t.tid, err)
			return
		}
		data = buf
	}) {
		err = target.ErrNoProcess
	}
	return
}

// SetSiginfo replaces the siginfo_t the thread will see when it resumes.
func (p *Process) SetSiginfo(id target.ThreadID, data []byte) (err error) {
	if len(data) != siginfoSize {
		return fmt.Errorf("siginfo of %d bytes, want %d", len(data), siginfoSize)
	}
	if !p.tr.do(func() {
		var t *thread
		if t, err = p.thread(id); err != nil {
			return
		}
		buf := append([]byte(nil), data...)
		if err = ptrace(unix.PTRACE_SETSIGINFO, t.tid, 0, uintptr(unsafe.Pointer(&buf[0]))); err != nil {
			err = fmt.Errorf("write siginfo of %d: %w", t.tid, err)
		}
	}) {
		err = target.ErrNoProcess
	}
	return
}
