// Package regs describes amd64 registers as data: the gdb register table
// (names, sizes, gdb and DWARF numbers, offsets in the RSP 'g' block), the
// target.xml document gdbserver 13 would send, and the byte conversions
// between the kernel's ptrace buffers and the 'g' block.
//
// It performs no system calls: the caller reads struct user_regs_struct
// (NT_PRSTATUS) and the NT_X86_XSTATE buffer and hands over the raw bytes.
package regs

import (
	"fmt"
	"sync"
)

// XSAVE feature bits (XCR0 / XSTATE_BV).
const (
	FeatureX87      uint64 = 1 << 0
	FeatureSSE      uint64 = 1 << 1
	FeatureAVX      uint64 = 1 << 2
	FeatureBNDREGS  uint64 = 1 << 3
	FeatureBNDCSR   uint64 = 1 << 4
	FeatureOpmask   uint64 = 1 << 5
	FeatureZMMHi256 uint64 = 1 << 6
	FeatureHi16ZMM  uint64 = 1 << 7
	FeaturePKRU     uint64 = 1 << 9

	featureMPX    = FeatureBNDREGS | FeatureBNDCSR
	featureAVX512 = FeatureOpmask | FeatureZMMHi256 | FeatureHi16ZMM
	// featureKnown is gdb's X86_XSTATE_ALL_MASK: other XCR0 bits (AMX
	// tiles, ...) have no registers in gdb 13 and are ignored.
	featureKnown = FeatureX87 | FeatureSSE | FeatureAVX | featureMPX | featureAVX512 | FeaturePKRU
)

// GPRSize is sizeof(struct user_regs_struct) on x86-64.
const GPRSize = 216

// Offsets in struct user_regs_struct (kernel order r15 r14 r13 r12 rbp rbx
// r11 r10 r9 r8 rax rcx rdx rsi rdi orig_rax rip cs eflags rsp ss fs_base
// gs_base ds es fs gs, 8 bytes each).
const (
	UserR15     = 0
	UserRBP     = 32
	UserRAX     = 80
	UserOrigRAX = 120
	UserRIP     = 128
	UserEFLAGS  = 144
	UserRSP     = 152
	UserFSBase  = 168
	UserGSBase  = 176
)

// Offsets in the NT_X86_XSTATE buffer.
const (
	XCR0Offset     = 464 // sw_reserved: the kernel stores the enabled XCR0 here
	XStateBVOffset = 512 // XSAVE header: XSTATE_BV
	XSaveHeaderEnd = 576 // end of the header; a buffer this short has no extended state
	fxsaveSize     = 512 // legacy region (FXSAVE layout)
)

// Reg is one register of a Layout.
type Reg struct {
	Name    string
	Bits    int
	Regnum  int    // gdb register number = index in Layout.Regs
	Offset  int    // byte offset in the 'g' block
	Type    string // target.xml type
	Group   string // target.xml group attribute, if any
	Feature string // target.xml feature, e.g. "org.gnu.gdb.i386.core"
	DWARF   int    // System V AMD64 ABI DWARF number, -1 if none
	Generic string // LLDB generic role: "pc", "sp", "fp", "flags", "arg1".."arg6" or ""

	src  source // where the value lives in the kernel buffers
	koff int    // byte offset in user_regs_struct or in the XSAVE buffer
	comp uint64 // XSAVE component(s) owning the value; 0 for user_regs_struct
	init uint32 // value ('g' form) while the component is in its init state
}

// Size is the register's size in bytes in the 'g' block.
func (r *Reg) Size() int { return r.Bits / 8 }

// Layout is one target description: the registers in gdb order and the
// conversions for a given XCR0 and XSAVE component placement.
type Layout struct {
	Regs  []Reg
	Size  int    // bytes in 'g'
	XCR0  uint64 // XSAVE features the description and conversions assume
	XSave XSaveOffsets

	features []*feature
	byName   map[string]int
	xml      []byte
}

// XSaveOffsets are the byte offsets of the extended XSAVE components in the
// standard (non-compacted) format, i.e. what CPUID leaf 0xD sub-leaf i
// reports in EBX; the kernel's NT_X86_XSTATE buffer uses them. Zero means
// the component has no place in the buffer.
type XSaveOffsets struct {
	AVX, BNDREGS, BNDCSR, Opmask, ZMMHi256, Hi16ZMM, PKRU int
}

// IntelXSave is the classic layout, the one gdb 13 hard-codes. It holds on
// Intel CPUs (this host included) even when they lack MPX.
var IntelXSave = XSaveOffsets{AVX: 576, BNDREGS: 960, BNDCSR: 1024, Opmask: 1088, ZMMHi256: 1152, Hi16ZMM: 1664, PKRU: 2688}

// AMDXSave is the layout of AMD Zen 3/4 CPUs: no MPX hole, so AVX-512 and
// PKRU sit lower (gdb 14's i387_guess_xsave_layout). gdb 13 gets it wrong.
var AMDXSave = XSaveOffsets{AVX: 576, Opmask: 832, ZMMHi256: 896, Hi16ZMM: 1408, PKRU: 2432}

// end is the first byte after the last component of xcr0 in the buffer.
func (o XSaveOffsets) end(xcr0 uint64) int {
	n := XSaveHeaderEnd
	for _, c := range []struct {
		bit       uint64
		off, size int
	}{
		{FeatureAVX, o.AVX, 256}, {FeatureBNDREGS, o.BNDREGS, 64}, {FeatureBNDCSR, o.BNDCSR, 16},
		{FeatureOpmask, o.Opmask, 64}, {FeatureZMMHi256, o.ZMMHi256, 512},
		{FeatureHi16ZMM, o.Hi16ZMM, 1024}, {FeaturePKRU, o.PKRU, 8},
	} {
		if xcr0&c.bit != 0 && c.off+c.size > n {
			n = c.off + c.size
		}
	}
	return n
}

// GuessXSave picks the component offsets from XCR0 and the length of the
// NT_X86_XSTATE buffer, as gdb does for core files: a buffer too short for
// the Intel layout but long enough for the AMD one is AMD's. CPUID leaf 0xD
// is the authority when the caller can execute it.
func GuessXSave(xcr0 uint64, size int) XSaveOffsets {
	xcr0 &= featureKnown
	if xcr0&featureMPX == 0 && size < IntelXSave.end(xcr0) && size >= AMDXSave.end(xcr0) {
		return AMDXSave
	}
	return IntelXSave
}

type layoutKey struct {
	xcr0 uint64
	off  XSaveOffsets
}

var layouts sync.Map // layoutKey -> *Layout

// AMD64 returns the description gdbserver 13 builds for xcr0 on x86-64
// Linux (amd64_linux_read_description), with the Intel XSAVE offsets.
// Bits gdb does not know are dropped and x87|SSE are always assumed.
// Layouts are cached and shared: treat them as read-only.
func AMD64(xcr0 uint64) *Layout { return AMD64XSave(xcr0, IntelXSave) }

// AMD64ForXSave is AMD64 for the XCR0 stored in an NT_X86_XSTATE buffer,
// with offsets guessed from its length. A buffer without XSAVE header (nil
// or a bare 512-byte FXSAVE area) gives the x87+SSE description.
func AMD64ForXSave(xsave []byte) *Layout {
	if len(xsave) < XSaveHeaderEnd {
		return AMD64(FeatureX87 | FeatureSSE)
	}
	xcr0 := le64(xsave[XCR0Offset:])
	return AMD64XSave(xcr0, GuessXSave(xcr0, len(xsave)))
}

// AMD64XSave is AMD64 with explicit XSAVE component offsets.
func AMD64XSave(xcr0 uint64, off XSaveOffsets) *Layout {
	key := layoutKey{xcr0&featureKnown | FeatureX87 | FeatureSSE, off}
	if l, ok := layouts.Load(key); ok {
		return l.(*Layout)
	}
	l, _ := layouts.LoadOrStore(key, build(key.xcr0, off))
	return l.(*Layout)
}

// build mirrors amd64_create_target_description (gdb/arch/amd64.c) with
// is_linux and segments set: the feature order fixes the register numbers.
func build(xcr0 uint64, off XSaveOffsets) *Layout {
	fs := []*feature{coreFeature(), sseFeature(), linuxFeature(), segmentsFeature()}
	if xcr0&FeatureAVX != 0 {
		fs = append(fs, avxFeature(off))
	}
	if xcr0&featureMPX != 0 {
		fs = append(fs, mpxFeature(off))
	}
	if xcr0&featureAVX512 != 0 {
		fs = append(fs, avx512Feature(off))
	}
	if xcr0&FeaturePKRU != 0 {
		fs = append(fs, pkeysFeature(off))
	}
	l := &Layout{XCR0: xcr0, XSave: off, features: fs, byName: map[string]int{}}
	for _, f := range fs {
		for _, r := range f.regs {
			r.Regnum = len(l.Regs)
			r.Offset = l.Size
			r.Feature = f.name
			l.Regs = append(l.Regs, r)
			l.byName[r.Name] = r.Regnum
			l.Size += r.Size()
		}
	}
	l.xml = l.buildXML()
	return l
}

// ByName finds a register by its gdb name.
func (l *Layout) ByName(name string) (*Reg, bool) {
	i, ok := l.byName[name]
	if !ok {
		return nil, false
	}
	return &l.Regs[i], true
}

// Reg finds a register by gdb number.
func (l *Layout) Reg(regnum int) (*Reg, bool) {
	if regnum < 0 || regnum >= len(l.Regs) {
		return nil, false
	}
	return &l.Regs[regnum], true
}

// ByGeneric finds the register with an LLDB generic role ("pc", "sp", ...).
func (l *Layout) ByGeneric(generic string) (*Reg, bool) {
	for i := range l.Regs {
		if l.Regs[i].Generic == generic {
			return &l.Regs[i], true
		}
	}
	return nil, false
}

// XSaveEnd is the minimum NT_X86_XSTATE length holding every component of
// the layout's XCR0. The kernel's buffer may be longer (AMX tiles...).
func (l *Layout) XSaveEnd() int { return l.XSave.end(l.XCR0) }

func (l *Layout) String() string {
	return fmt.Sprintf("amd64 xcr0=%#x: %d registers, %d bytes", l.XCR0, len(l.Regs), l.Size)
}
