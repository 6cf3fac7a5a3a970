package dwarf

import (
	"bytes"
	"cmp"
	"compress/zlib"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"sync"
)

// Call frame information: CIEs and FDEs from .eh_frame and .debug_frame,
// and the CFA program interpreter that computes the unwind row at a pc.

// maxReg bounds the DWARF register numbers the unwinder tracks; rules for
// higher registers are parsed and ignored.
const maxReg = 64

// cursor reads little- or big-endian data with bounds checks: past the end
// it returns zeros and sets bad.
type cursor struct {
	b     []byte
	off   int
	order binary.ByteOrder
	bad   bool
}

func (c *cursor) left() int { return len(c.b) - c.off }

func (c *cursor) take(n int) []byte {
	if n < 0 || c.left() < n {
		c.bad = true
		c.off = len(c.b)
		return nil
	}
	b := c.b[c.off : c.off+n]
	c.off += n
	return b
}

func (c *cursor) u8() byte {
	b := c.take(1)
	if b == nil {
		return 0
	}
	return b[0]
}

func (c *cursor) u16() uint16 {
	b := c.take(2)
	if b == nil {
		return 0
	}
	return c.order.Uint16(b)
}

func (c *cursor) u32() uint32 {
	b := c.take(4)
	if b == nil {
		return 0
	}
	return c.order.Uint32(b)
}

func (c *cursor) u64() uint64 {
	b := c.take(8)
	if b == nil {
		return 0
	}
	return c.order.Uint64(b)
}

func (c *cursor) uleb() uint64 {
	var v uint64
	var shift uint
	for {
		if c.off >= len(c.b) {
			c.bad = true
			return 0
		}
		b := c.b[c.off]
		c.off++
		if shift < 64 {
			v |= uint64(b&0x7f) << shift
		}
		shift += 7
		if b&0x80 == 0 {
			return v
		}
	}
}

func (c *cursor) sleb() int64 {
	var v int64
	var shift uint
	for {
		if c.off >= len(c.b) {
			c.bad = true
			return 0
		}
		b := c.b[c.off]
		c.off++
		if shift < 64 {
			v |= int64(b&0x7f) << shift
		}
		shift += 7
		if b&0x80 == 0 {
			if shift < 64 && b&0x40 != 0 {
				v |= -1 << shift
			}
			return v
		}
	}
}

func (c *cursor) cstring() string {
	i := bytes.IndexByte(c.b[c.off:], 0)
	if i < 0 {
		c.bad = true
		c.off = len(c.b)
		return ""
	}
	s := string(c.b[c.off : c.off+i])
	c.off += i + 1
	return s
}

func (c *cursor) addr(size int) uint64 {
	switch size {
	case 4:
		return uint64(c.u32())
	case 8:
		return c.u64()
	case 2:
		return uint64(c.u16())
	case 1:
		return uint64(c.u8())
	}
	c.bad = true
	return 0
}

// Pointer encodings (DW_EH_PE_*).
const (
	peAbsptr  = 0x00
	peUleb128 = 0x01
	peUdata2  = 0x02
	peUdata4  = 0x03
	peUdata8  = 0x04
	peSleb128 = 0x09
	peSdata2  = 0x0a
	peSdata4  = 0x0b
	peSdata8  = 0x0c
	pePcrel   = 0x10
	peDatarel = 0x30
	peOmit    = 0xff
)

var errEncoding = errors.New("unsupported pointer encoding")

// encoded reads a pointer with encoding enc; base is the address of the
// first byte of c.b (so pc-relative values can be resolved).
func (c *cursor) encoded(enc byte, base uint64, ptrSize int, applyRel bool) (uint64, error) {
	if enc == peOmit {
		return 0, nil
	}
	pos := base + uint64(c.off)
	var v uint64
	switch enc & 0x0f {
	case peAbsptr:
		v = c.addr(ptrSize)
	case peUleb128:
		v = c.uleb()
	case peUdata2:
		v = uint64(c.u16())
	case peUdata4:
		v = uint64(c.u32())
	case peUdata8:
		v = c.u64()
	case peSleb128:
		v = uint64(c.sleb())
	case peSdata2:
		v = uint64(int64(int16(c.u16())))
	case peSdata4:
		v = uint64(int64(int32(c.u32())))
	case peSdata8:
		v = c.u64()
	default:
		return 0, errEncoding
	}
	if c.bad {
		return 0, io.ErrUnexpectedEOF
	}
	if !applyRel {
		return v, nil
	}
	switch enc & 0x70 {
	case 0:
	case pePcrel:
		v += pos
	default:
		return 0, errEncoding
	}
	if ptrSize == 4 {
		v &= 0xffffffff
	}
	return v, nil
}

type cie struct {
	version   byte
	codeAlign uint64
	dataAlign int64
	raReg     uint64
	fdeEnc    byte
	addrSize  int
	hasAug    bool // 'z': FDEs carry augmentation data
	signal    bool // 'S': signal frame
	initial   []byte
	base      uint64 // address of initial[0] (for DW_CFA_set_loc)
	ok        bool

	once    sync.Once
	initRow *cfiRow
	initErr error
}

type fde struct {
	lo, hi uint64
	cie    *cie
	instr  []byte
	base   uint64 // address of instr[0]
}

// cfiTable is the sorted FDEs of one section.
type cfiTable struct {
	name  string
	fdes  []fde
	maxHi []uint64
	order binary.ByteOrder
	ptr   int
}

func (t *cfiTable) find(pc uint64) *fde {
	if t == nil {
		return nil
	}
	i := sort.Search(len(t.fdes), func(i int) bool { return t.fdes[i].lo > pc }) - 1
	for ; i >= 0 && t.maxHi[i] > pc; i-- {
		if f := &t.fdes[i]; pc < f.hi {
			return f
		}
	}
	return nil
}

// readCFI loads .eh_frame from the object (the copy in a split debug file
// is empty) and .debug_frame from wherever the DWARF is.
func (o *Object) readCFI() error {
	if s := o.file.Section(".eh_frame"); s != nil && s.Type != elf.SHT_NOBITS {
		b, err := s.Data()
		if err != nil {
			return fmt.Errorf("%s: reading .eh_frame: %w", o.path, err)
		}
		o.ehFrame = parseCFI(".eh_frame", b, s.Addr, true, o.order, o.ptrSize)
	}
	for _, f := range []*elf.File{o.dbgFile, o.file} {
		if f == nil {
			continue
		}
		b, err := sectionData(f, "debug_frame")
		if err != nil {
			return fmt.Errorf("%s: reading .debug_frame: %w", o.path, err)
		}
		if b != nil {
			o.debugFrame = parseCFI(".debug_frame", b, 0, false, o.order, o.ptrSize)
			break
		}
	}
	return nil
}

// sectionData returns the contents of .NAME, decompressing SHF_COMPRESSED
// (zlib or zstd, through debug/elf) and old-style .zNAME (zlib) sections;
// nil when the section is absent or NOBITS.
func sectionData(f *elf.File, name string) ([]byte, error) {
	if s := f.Section("." + name); s != nil && s.Type != elf.SHT_NOBITS {
		return io.ReadAll(s.Open())
	}
	s := f.Section(".z" + name)
	if s == nil || s.Type == elf.SHT_NOBITS {
		return nil, nil
	}
	b, err := s.Data()
	if err != nil {
		return nil, err
	}
	if len(b) < 12 || string(b[:4]) != "ZLIB" {
		return nil, fmt.Errorf(".z%s: bad compression header", name)
	}
	size := binary.BigEndian.Uint64(b[4:12])
	zr, err := zlib.NewReader(bytes.NewReader(b[12:]))
	if err != nil {
		return nil, err
	}
	out, err := io.ReadAll(io.LimitReader(zr, int64(min(size, 1<<32))))
	if err != nil {
		return nil, err
	}
	return out, nil
}

// parseCFI indexes the FDEs of a .eh_frame (eh) or .debug_frame section.
// Malformed entries end the parse; what was read before is kept.
func parseCFI(name string, data []byte, secAddr uint64, eh bool, order binary.ByteOrder, ptrSize int) *cfiTable {
	t := &cfiTable{name: name, order: order, ptr: ptrSize}
	cies := map[int]*cie{}
	getCIE := func(off int) *cie {
		if c, ok := cies[off]; ok {
			return c
		}
		c := parseCIE(data, off, secAddr, eh, order, ptrSize)
		cies[off] = c
		return c
	}
	off := 0
	for off+4 <= len(data) {
		c := &cursor{b: data, off: off, order: order}
		length := uint64(c.u32())
		is64 := false
		if length == 0xffffffff {
			length = c.u64()
			is64 = true
		}
		if length == 0 {
			if eh {
				break // terminator
			}
			off = c.off
			continue
		}
		bodyStart := c.off
		if c.bad || length > uint64(len(data)-bodyStart) {
			break
		}
		end := bodyStart + int(length)
		idPos := c.off
		var id uint64
		if is64 {
			id = c.u64()
		} else {
			id = uint64(c.u32())
		}
		var isCIE bool
		if eh {
			isCIE = id == 0
		} else {
			isCIE = is64 && id == ^uint64(0) || !is64 && id == 0xffffffff
		}
		if !isCIE {
			var cieOff int
			if eh {
				if id > uint64(idPos) {
					break
				}
				cieOff = idPos - int(id)
			} else {
				if id >= uint64(len(data)) {
					break
				}
				cieOff = int(id)
			}
			ci := getCIE(cieOff)
			if ci != nil && ci.ok {
				body := &cursor{b: data[:end], off: c.off, order: order}
				if f, ok := parseFDE(body, ci, secAddr, eh, ptrSize); ok {
					t.fdes = append(t.fdes, f)
				}
			}
		}
		off = end
	}
	slices.SortStableFunc(t.fdes, func(a, b fde) int { return cmp.Compare(a.lo, b.lo) })
	t.maxHi = make([]uint64, len(t.fdes))
	var m uint64
	for i, f := range t.fdes {
		m = max(m, f.hi)
		t.maxHi[i] = m
	}
	return t
}

func parseCIE(data []byte, off int, secAddr uint64, eh bool, order binary.ByteOrder, ptrSize int) *cie {
	if off < 0 || off+4 > len(data) {
		return nil
	}
	c := &cursor{b: data, off: off, order: order}
	length := uint64(c.u32())
	is64 := false
	if length == 0xffffffff {
		length = c.u64()
		is64 = true
	}
	if c.bad || length > uint64(c.left()) {
		return nil
	}
	end := c.off + int(length)
	c.b = data[:end]
	if is64 {
		c.u64()
	} else {
		c.u32()
	}
	ci := &cie{addrSize: ptrSize, fdeEnc: peAbsptr}
	ci.version = c.u8()
	aug := c.cstring()
	if ci.version >= 4 {
		ci.addrSize = int(c.u8())
		c.u8() // segment selector size
	}
	ci.codeAlign = c.uleb()
	ci.dataAlign = c.sleb()
	if ci.version == 1 {
		ci.raReg = uint64(c.u8())
	} else {
		ci.raReg = c.uleb()
	}
	switch {
	case len(aug) > 0 && aug[0] == 'z':
		ci.hasAug = true
		n := c.uleb()
		if n > uint64(c.left()) {
			return ci
		}
		augEnd := c.off + int(n)
		a := &cursor{b: data[:augEnd], off: c.off, order: order}
	loop:
		for _, ch := range aug[1:] {
			switch ch {
			case 'L':
				a.u8()
			case 'R':
				ci.fdeEnc = a.u8()
			case 'P':
				enc := a.u8()
				if _, err := a.encoded(enc&0x7f, secAddr, ptrSize, false); err != nil {
					break loop
				}
			case 'S':
				ci.signal = true
			case 'B', 'G':
			default:
				break loop // unknown: the length lets us skip the rest
			}
		}
		c.off = augEnd
	case aug == "":
	case aug == "eh":
		c.addr(ptrSize)
	default:
		return ci // unknown augmentation: its FDEs cannot be parsed
	}
	if c.bad {
		return ci
	}
	ci.initial = data[c.off:end]
	ci.base = secAddr + uint64(c.off)
	ci.ok = ci.codeAlign != 0 && (ci.addrSize == 4 || ci.addrSize == 8)
	return ci
}

func parseFDE(c *cursor, ci *cie, secAddr uint64, eh bool, ptrSize int) (fde, bool) {
	var lo, n uint64
	var err error
	if eh {
		lo, err = c.encoded(ci.fdeEnc, secAddr, ptrSize, true)
		if err != nil {
			return fde{}, false
		}
		n, err = c.encoded(ci.fdeEnc&0x0f, secAddr, ptrSize, false)
		if err != nil {
			return fde{}, false
		}
	} else {
		lo = c.addr(ci.addrSize)
		n = c.addr(ci.addrSize)
	}
	if ci.hasAug {
		l := c.uleb()
		c.take(int(min(l, uint64(c.left())+1)))
	}
	if c.bad || n == 0 || lo+n < lo {
		return fde{}, false
	}
	if lo == 0 && !eh {
		return fde{}, false // discarded by the linker
	}
	return fde{lo: lo, hi: lo + n, cie: ci, instr: c.b[c.off:], base: secAddr + uint64(c.off)}, true
}

type ruleKind uint8

const (
	ruleUnspecified ruleKind = iota
	ruleUndefined
	ruleSameValue
	ruleOffset     // saved at CFA+off
	ruleValOffset  // value is CFA+off
	ruleRegister   // in register reg
	ruleExpression // saved at the address expr computes
	ruleValExpression
)

type regRule struct {
	kind ruleKind
	reg  uint32
	off  int64
	expr []byte
}

type cfaRule struct {
	reg  uint32
	off  int64
	expr []byte // when non-nil, the CFA is the value of this expression
}

type cfiRow struct {
	cfa  cfaRule
	regs [maxReg]regRule
}

// initialRow runs the CIE's initial instructions once.
func (ci *cie) initialRow(t *cfiTable) (*cfiRow, error) {
	ci.once.Do(func() {
		row := &cfiRow{}
		var stack []cfiRow
		ci.initErr = runCFA(ci.initial, ci.base, ci, t, ^uint64(0), 0, row, nil, &stack)
		ci.initRow = row
	})
	return ci.initRow, ci.initErr
}

var errCFA = errors.New("malformed CFA program")

// rowAt computes the unwind row of f at pc into row; stack is scratch.
func (t *cfiTable) rowAt(f *fde, pc uint64, row *cfiRow, stack *[]cfiRow) error {
	init, err := f.cie.initialRow(t)
	if err != nil {
		return err
	}
	*row = *init
	*stack = (*stack)[:0]
	return runCFA(f.instr, f.base, f.cie, t, pc, f.lo, row, init, stack)
}

// runCFA interprets a CFA program from location loc until the location
// passes pc. init is the CIE's row for DW_CFA_restore (nil while running
// the CIE's own instructions).
func runCFA(prog []byte, base uint64, ci *cie, t *cfiTable, pc, loc uint64, row, init *cfiRow, stack *[]cfiRow) error {
	c := &cursor{b: prog, order: t.order}
	da := ci.dataAlign
	set := func(reg uint64, r regRule) {
		if reg < maxReg {
			row.regs[reg] = r
		}
	}
	restore := func(reg uint64) {
		if reg < maxReg {
			if init != nil {
				row.regs[reg] = init.regs[reg]
			} else {
				row.regs[reg] = regRule{}
			}
		}
	}
	block := func() []byte {
		n := c.uleb()
		if n > uint64(c.left()) {
			c.bad = true
			return nil
		}
		return c.take(int(n))
	}
	for c.left() > 0 {
		op := c.u8()
		switch op >> 6 {
		case 1: // DW_CFA_advance_loc
			loc += uint64(op&0x3f) * ci.codeAlign
			if loc > pc {
				return nil
			}
			continue
		case 2: // DW_CFA_offset
			set(uint64(op&0x3f), regRule{kind: ruleOffset, off: int64(c.uleb()) * da})
			continue
		case 3: // DW_CFA_restore
			restore(uint64(op & 0x3f))
			continue
		}
		switch op {
		case 0x00: // nop
		case 0x01: // set_loc
			var err error
			if t.name == ".eh_frame" {
				loc, err = c.encoded(ci.fdeEnc, base, t.ptr, true)
			} else {
				loc = c.addr(ci.addrSize)
			}
			if err != nil {
				return err
			}
			if loc > pc {
				return nil
			}
		case 0x02, 0x03, 0x04: // advance_loc1/2/4
			var d uint64
			switch op {
			case 0x02:
				d = uint64(c.u8())
			case 0x03:
				d = uint64(c.u16())
			default:
				d = uint64(c.u32())
			}
			loc += d * ci.codeAlign
			if loc > pc {
				return nil
			}
		case 0x1d: // MIPS_advance_loc8
			loc += c.u64() * ci.codeAlign
			if loc > pc {
				return nil
			}
		case 0x05: // offset_extended
			reg := c.uleb()
			set(reg, regRule{kind: ruleOffset, off: int64(c.uleb()) * da})
		case 0x06: // restore_extended
			restore(c.uleb())
		case 0x07: // undefined
			set(c.uleb(), regRule{kind: ruleUndefined})
		case 0x08: // same_value
			set(c.uleb(), regRule{kind: ruleSameValue})
		case 0x09: // register
			reg := c.uleb()
			set(reg, regRule{kind: ruleRegister, reg: uint32(c.uleb())})
		case 0x0a: // remember_state
			if len(*stack) > 64 {
				return errCFA
			}
			*stack = append(*stack, *row)
		case 0x0b: // restore_state
			if n := len(*stack); n > 0 {
				*row = (*stack)[n-1]
				*stack = (*stack)[:n-1]
			}
		case 0x0c: // def_cfa
			reg := c.uleb()
			row.cfa = cfaRule{reg: uint32(reg), off: int64(c.uleb())}
		case 0x0d: // def_cfa_register
			row.cfa.reg = uint32(c.uleb())
			row.cfa.expr = nil
		case 0x0e: // def_cfa_offset
			row.cfa.off = int64(c.uleb())
			row.cfa.expr = nil
		case 0x0f: // def_cfa_expression
			row.cfa = cfaRule{expr: block()}
		case 0x10: // expression
			reg := c.uleb()
			set(reg, regRule{kind: ruleExpression, expr: block()})
		case 0x11: // offset_extended_sf
			reg := c.uleb()
			set(reg, regRule{kind: ruleOffset, off: c.sleb() * da})
		case 0x12: // def_cfa_sf
			reg := c.uleb()
			row.cfa = cfaRule{reg: uint32(reg), off: c.sleb() * da}
		case 0x13: // def_cfa_offset_sf
			row.cfa.off = c.sleb() * da
			row.cfa.expr = nil
		case 0x14: // val_offset
			reg := c.uleb()
			set(reg, regRule{kind: ruleValOffset, off: int64(c.uleb()) * da})
		case 0x15: // val_offset_sf
			reg := c.uleb()
			set(reg, regRule{kind: ruleValOffset, off: c.sleb() * da})
		case 0x16: // val_expression
			reg := c.uleb()
			set(reg, regRule{kind: ruleValExpression, expr: block()})
		case 0x2d: // GNU_window_save (SPARC) / AArch64 negate_ra_state
		case 0x2e: // GNU_args_size
			c.uleb()
		case 0x2f: // GNU_negative_offset_extended
			reg := c.uleb()
			set(reg, regRule{kind: ruleOffset, off: -int64(c.uleb()) * da})
		default:
			return fmt.Errorf("%w: unknown opcode 0x%x", errCFA, op)
		}
		if c.bad {
			return fmt.Errorf("%w: truncated", errCFA)
		}
	}
	return nil
}

// findFDE looks pc up in .eh_frame, then in .debug_frame.
func (o *Object) findFDE(pc uint64) (*fde, *cfiTable) {
	if f := o.ehFrame.find(pc); f != nil {
		return f, o.ehFrame
	}
	if f := o.debugFrame.find(pc); f != nil {
		return f, o.debugFrame
	}
	return nil, nil
}
