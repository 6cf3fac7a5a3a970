package regs

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrUnavailable is returned for a register whose kernel storage is missing
// (no XSAVE buffer, component not enabled in XCR0, buffer too short).
var ErrUnavailable = errors.New("register not available")

var (
	le64  = binary.LittleEndian.Uint64
	le32  = binary.LittleEndian.Uint32
	le16  = binary.LittleEndian.Uint16
	put64 = binary.LittleEndian.PutUint64
	put32 = binary.LittleEndian.PutUint32
	put16 = binary.LittleEndian.PutUint16
)

// xstate is an XSAVE buffer as gdbserver's i387_xsave_to_cache sees it.
type xstate struct {
	buf   []byte
	hdr   bool   // has the XSAVE header; without it the buffer is a bare FXSAVE area
	bv    uint64 // XSTATE_BV
	clear uint64 // components in their init state: ^XSTATE_BV & XCR0 (gdbserver's clear_bv)
}

func (l *Layout) xstateOf(xsave []byte) xstate {
	x := xstate{buf: xsave}
	if len(xsave) >= XSaveHeaderEnd {
		x.hdr = true
		x.bv = le64(xsave[XStateBVOffset:])
		x.clear = ^x.bv & l.XCR0
	}
	return x
}

type regState uint8

const (
	unavailable regState = iota
	live                 // the bytes in the kernel buffer are the value
	initial              // the component is in its init state: the value is r.init
)

func (l *Layout) state(r *Reg, gpr []byte, x *xstate) regState {
	if r.src == srcGPR {
		if len(gpr) < GPRSize {
			return unavailable
		}
		return live
	}
	if len(x.buf) < fxsaveSize {
		return unavailable
	}
	if r.comp&(FeatureX87|FeatureSSE) != 0 {
		if !x.hdr {
			return live // FXSAVE area: no init tracking
		}
	} else if !x.hdr || r.koff < XSaveHeaderEnd || r.koff+r.Size() > len(x.buf) {
		return unavailable
	}
	if l.XCR0&r.comp == 0 {
		return unavailable
	}
	// mxcsr belongs to SSE and AVX and is init only when both are (gdbserver).
	if x.clear&r.comp == r.comp {
		return initial
	}
	return live
}

// read stores r's 'g' bytes in dst (len r.Size()); false means unavailable
// (dst zeroed).
func (l *Layout) read(r *Reg, gpr []byte, x *xstate, dst []byte) bool {
	switch l.state(r, gpr, x) {
	case unavailable:
		clear(dst)
		return false
	case initial:
		clear(dst)
		if r.init != 0 {
			put32(dst, r.init)
		}
		return true
	}
	switch r.src {
	case srcGPR:
		copy(dst, gpr[r.koff:])
	case srcXSave:
		copy(dst, x.buf[r.koff:])
	case srcU16:
		put32(dst, uint32(le16(x.buf[r.koff:])))
	case srcFop:
		put32(dst, uint32(le16(x.buf[r.koff:])&0x7ff))
	case srcFtag:
		put32(dst, fullTag(x.buf))
	case srcMXCSR:
		copy(dst, x.buf[r.koff:r.koff+4])
	}
	return true
}

// write stores val ('g' bytes) in the kernel buffers and reports whether
// the stored bytes changed.
func (l *Layout) write(r *Reg, val, gpr []byte, x *xstate) bool {
	switch r.src {
	case srcGPR:
		// eflags and segment registers are 32 bits in 'g': zero-extend.
		var slot [8]byte
		copy(slot[:], val)
		dst := gpr[r.koff : r.koff+8]
		changed := !bytes.Equal(dst, slot[:])
		copy(dst, slot[:])
		return changed
	case srcXSave, srcMXCSR:
		dst := x.buf[r.koff : r.koff+len(val)]
		changed := !bytes.Equal(dst, val)
		copy(dst, val)
		return changed
	case srcU16, srcFop:
		old := le16(x.buf[r.koff:])
		v := uint16(le32(val))
		if r.src == srcFop {
			v = v&0x7ff | old&0xf800 // keep the bits that are not the opcode
		}
		put16(x.buf[r.koff:], v)
		return v != old
	case srcFtag:
		// Only the abridged byte; byte 5 is reserved.
		b := abridgedTag(le32(val))
		changed := x.buf[r.koff] != b
		x.buf[r.koff] = b
		return changed
	}
	return false
}

// materialize stores the init value of every register whose component is
// in its init state, as i387_cache_to_xsave does before comparing: once a
// write sets the component's XSTATE_BV bit, the kernel loads those bytes.
func (l *Layout) materialize(x *xstate) {
	if x.clear == 0 {
		return
	}
	var v [64]byte
	for i := range l.Regs {
		r := &l.Regs[i]
		if r.src == srcGPR || l.state(r, nil, x) != initial {
			continue
		}
		val := v[:r.Size()]
		clear(val)
		if r.init != 0 {
			put32(val, r.init)
		}
		l.write(r, val, nil, x)
	}
}

// commit marks the components whose bytes changed as in use, so that the
// kernel honours them. A changed mxcsr needs SSE or AVX marked (gdbserver).
func (l *Layout) commit(x *xstate, changed uint64, mxcsr bool) {
	if !x.hdr {
		return
	}
	if mxcsr && (x.bv|changed)&(FeatureSSE|FeatureAVX) == 0 {
		changed |= FeatureSSE
	}
	if changed&^x.bv != 0 {
		put64(x.buf[XStateBVOffset:], x.bv|changed)
	}
}

// FromKernel fills g (at least l.Size bytes) from user_regs_struct bytes and
// the NT_X86_XSTATE buffer (nil if unavailable; a bare 512-byte FXSAVE area
// gives x87 and SSE only). Components whose XSTATE_BV bit is clear read as
// their init values. If avail is non-nil (len(avail) >= len(l.Regs)) each
// entry tells whether the register is known; unknown ones are zero in g and
// go on the wire as "xx".
func (l *Layout) FromKernel(gpr, xsave, g []byte, avail []bool) {
	x := l.xstateOf(xsave)
	for i := range l.Regs {
		r := &l.Regs[i]
		ok := l.read(r, gpr, &x, g[r.Offset:r.Offset+r.Size()])
		if avail != nil {
			avail[i] = ok
		}
	}
}

// ToKernel applies a full 'g' block to gpr and xsave in place, inverting
// FromKernel, and sets the XSTATE_BV bits of the components it changed.
// Registers without kernel storage (nil xsave, component absent) are
// skipped.
func (l *Layout) ToKernel(g, gpr, xsave []byte) error {
	if len(g) < l.Size {
		return fmt.Errorf("register block of %d bytes, want %d", len(g), l.Size)
	}
	if gpr != nil && len(gpr) < GPRSize {
		return fmt.Errorf("user_regs_struct of %d bytes, want %d", len(gpr), GPRSize)
	}
	x := l.xstateOf(xsave)
	l.materialize(&x)
	var changed uint64
	mxcsr := false
	for i := range l.Regs {
		r := &l.Regs[i]
		if l.state(r, gpr, &x) == unavailable {
			continue
		}
		if !l.write(r, g[r.Offset:r.Offset+r.Size()], gpr, &x) {
			continue
		}
		if r.src == srcMXCSR {
			mxcsr = true // its comp is SSE|AVX; commit picks the bit
		} else {
			changed |= r.comp
		}
	}
	l.commit(&x, changed, mxcsr)
	return nil
}

// ReadReg returns one register (Bits/8 bytes, little endian), false if the
// register does not exist or its value is unknown.
func (l *Layout) ReadReg(regnum int, gpr, xsave []byte) ([]byte, bool) {
	r, ok := l.Reg(regnum)
	if !ok {
		return nil, false
	}
	x := l.xstateOf(xsave)
	v := make([]byte, r.Size())
	if !l.read(r, gpr, &x, v) {
		return nil, false
	}
	return v, true
}

// WriteReg sets one register from Bits/8 little-endian bytes.
func (l *Layout) WriteReg(regnum int, value, gpr, xsave []byte) error {
	r, ok := l.Reg(regnum)
	if !ok {
		return fmt.Errorf("no register %d", regnum)
	}
	if len(value) != r.Size() {
		return fmt.Errorf("register %s: %d bytes, want %d", r.Name, len(value), r.Size())
	}
	x := l.xstateOf(xsave)
	if l.state(r, gpr, &x) == unavailable {
		return fmt.Errorf("register %s: %w", r.Name, ErrUnavailable)
	}
	if r.src == srcGPR {
		l.write(r, value, gpr, &x)
		return nil
	}
	l.materialize(&x)
	if l.write(r, value, gpr, &x) {
		if r.src == srcMXCSR {
			l.commit(&x, 0, true)
		} else {
			l.commit(&x, r.comp, false)
		}
	}
	return nil
}
