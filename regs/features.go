package regs

import "fmt"

// The features below transcribe gdb 13's gdb/features/i386/64bit-*.xml (as
// compiled into gdbserver by the generated .c files): register order, types
// and the type definitions each feature declares, in declaration order.

type feature struct {
	name  string
	types []xmlType
	regs  []Reg
}

// source says where a register's value lives in the kernel buffers.
type source uint8

const (
	srcGPR   source = iota // 8-byte slot of user_regs_struct; narrower registers are its low bytes
	srcXSave               // Size() bytes at koff in the XSAVE buffer
	srcU16                 // 16-bit x87 field shown as 32 bits (fctrl, fstat, fiseg, foseg)
	srcFop                 // 11-bit last opcode
	srcFtag                // abridged tag byte, shown as the full 16-bit tag word
	srcMXCSR               // shared by the SSE and AVX components
)

func gpr(name string, bits int, typ string, koff, dwarf int, generic string) Reg {
	return Reg{Name: name, Bits: bits, Type: typ, DWARF: dwarf, Generic: generic, src: srcGPR, koff: koff}
}

func xs(name string, bits int, typ string, src source, koff int, comp uint64, dwarf int) Reg {
	return Reg{Name: name, Bits: bits, Type: typ, DWARF: dwarf, src: src, koff: koff, comp: comp}
}

// series makes name0..name(n-1) (with suffix) at koff, koff+stride, ...
func series(n int, name, suffix string, first int, bits int, typ string, koff, stride int, comp uint64, dwarf0 int) []Reg {
	rs := make([]Reg, n)
	for i := range rs {
		d := -1
		if dwarf0 >= 0 {
			d = dwarf0 + i
		}
		rs[i] = xs(fmt.Sprintf("%s%d%s", name, first+i, suffix), bits, typ, srcXSave, koff+i*stride, comp, d)
	}
	return rs
}

func flags(id string, size int, bits ...any) *fieldsType {
	t := &fieldsType{kind: "flags", id: id, size: size}
	for i := 0; i < len(bits); i += 2 {
		b := bits[i+1].(int)
		t.fields = append(t.fields, field{name: bits[i].(string), start: b, end: b, typ: "bool"})
	}
	return t
}

func coreFeature() *feature {
	f := &feature{name: "org.gnu.gdb.i386.core"}
	f.types = []xmlType{flags("i386_eflags", 4,
		"CF", 0, "", 1, "PF", 2, "AF", 4, "ZF", 6, "SF", 7, "TF", 8, "IF", 9, "DF", 10, "OF", 11,
		"NT", 14, "RF", 16, "VM", 17, "AC", 18, "VIF", 19, "VIP", 20, "ID", 21)}
	f.regs = []Reg{
		gpr("rax", 64, "int64", UserRAX, 0, ""),
		gpr("rbx", 64, "int64", 40, 3, ""),
		gpr("rcx", 64, "int64", 88, 2, "arg4"),
		gpr("rdx", 64, "int64", 96, 1, "arg3"),
		gpr("rsi", 64, "int64", 104, 4, "arg2"),
		gpr("rdi", 64, "int64", 112, 5, "arg1"),
		gpr("rbp", 64, "data_ptr", UserRBP, 6, "fp"),
		gpr("rsp", 64, "data_ptr", UserRSP, 7, "sp"),
		gpr("r8", 64, "int64", 72, 8, "arg5"),
		gpr("r9", 64, "int64", 64, 9, "arg6"),
		gpr("r10", 64, "int64", 56, 10, ""),
		gpr("r11", 64, "int64", 48, 11, ""),
		gpr("r12", 64, "int64", 24, 12, ""),
		gpr("r13", 64, "int64", 16, 13, ""),
		gpr("r14", 64, "int64", 8, 14, ""),
		gpr("r15", 64, "int64", UserR15, 15, ""),
		gpr("rip", 64, "code_ptr", UserRIP, 16, "pc"),
		gpr("eflags", 32, "i386_eflags", UserEFLAGS, 49, "flags"),
		gpr("cs", 32, "int32", 136, 51, ""),
		gpr("ss", 32, "int32", 160, 52, ""),
		gpr("ds", 32, "int32", 184, 53, ""),
		gpr("es", 32, "int32", 192, 50, ""),
		gpr("fs", 32, "int32", 200, 54, ""),
		gpr("gs", 32, "int32", 208, 55, ""),
	}
	// FXSAVE legacy area: st(i) in 16-byte slots from byte 32.
	f.regs = append(f.regs, series(8, "st", "", 0, 80, "i387_ext", 32, 16, FeatureX87, 33)...)
	x87 := []Reg{
		xs("fctrl", 32, "int", srcU16, 0, FeatureX87, 65),
		xs("fstat", 32, "int", srcU16, 2, FeatureX87, 66),
		xs("ftag", 32, "int", srcFtag, 4, FeatureX87, -1),
		xs("fiseg", 32, "int", srcU16, 12, FeatureX87, -1),
		xs("fioff", 32, "int", srcXSave, 8, FeatureX87, -1),
		xs("foseg", 32, "int", srcU16, 20, FeatureX87, -1),
		xs("fooff", 32, "int", srcXSave, 16, FeatureX87, -1),
		xs("fop", 32, "int", srcFop, 6, FeatureX87, -1),
	}
	x87[0].init = 0x037f // I387_FCTRL_INIT_VAL
	x87[2].init = 0xffff // all registers empty
	for i := range x87 {
		x87[i].Group = "float"
	}
	f.regs = append(f.regs, x87...)
	return f
}

// vec128Types are the vector types behind "vec128"; sse and avx512 each
// declare their own copy, so both appear in the XML.
func vec128Types() []xmlType {
	return []xmlType{
		&vectorType{"v8bf16", "bfloat16", 8},
		&vectorType{"v8h", "ieee_half", 8},
		&vectorType{"v4f", "ieee_single", 4},
		&vectorType{"v2d", "ieee_double", 2},
		&vectorType{"v16i8", "int8", 16},
		&vectorType{"v8i16", "int16", 8},
		&vectorType{"v4i32", "int32", 4},
		&vectorType{"v2i64", "int64", 2},
		&fieldsType{kind: "union", id: "vec128", fields: []field{
			plain("v8_bfloat16", "v8bf16"), plain("v8_half", "v8h"), plain("v4_float", "v4f"),
			plain("v2_double", "v2d"), plain("v16_int8", "v16i8"), plain("v8_int16", "v8i16"),
			plain("v4_int32", "v4i32"), plain("v2_int64", "v2i64"), plain("uint128", "uint128"),
		}},
	}
}

func sseFeature() *feature {
	f := &feature{name: "org.gnu.gdb.i386.sse"}
	f.types = append(vec128Types(), flags("i386_mxcsr", 4,
		"IE", 0, "DE", 1, "ZE", 2, "OE", 3, "UE", 4, "PE", 5, "DAZ", 6, "IM", 7, "DM", 8,
		"ZM", 9, "OM", 10, "UM", 11, "PM", 12, "FZ", 15))
	f.regs = series(16, "xmm", "", 0, 128, "vec128", 160, 16, FeatureSSE, 17)
	mxcsr := xs("mxcsr", 32, "i386_mxcsr", srcMXCSR, 24, FeatureSSE|FeatureAVX, 64)
	mxcsr.Group = "vector"
	mxcsr.init = 0x1f80 // I387_MXCSR_INIT_VAL
	f.regs = append(f.regs, mxcsr)
	return f
}

func linuxFeature() *feature {
	return &feature{name: "org.gnu.gdb.i386.linux", regs: []Reg{gpr("orig_rax", 64, "int", UserOrigRAX, -1, "")}}
}

func segmentsFeature() *feature {
	return &feature{name: "org.gnu.gdb.i386.segments", regs: []Reg{
		gpr("fs_base", 64, "int", UserFSBase, 58, ""),
		gpr("gs_base", 64, "int", UserGSBase, 59, ""),
	}}
}

func avxFeature(off XSaveOffsets) *feature {
	return &feature{name: "org.gnu.gdb.i386.avx",
		regs: series(16, "ymm", "h", 0, 128, "uint128", off.AVX, 16, FeatureAVX, -1)}
}

func mpxFeature(off XSaveOffsets) *feature {
	f := &feature{name: "org.gnu.gdb.i386.mpx"}
	f.types = []xmlType{
		&fieldsType{kind: "struct", id: "br128", fields: []field{plain("lbound", "uint64"), plain("ubound_raw", "uint64")}},
		&fieldsType{kind: "struct", id: "_bndstatus", size: 8, fields: []field{
			{"bde", 2, 63, "uint64"}, {"error", 0, 1, "uint64"}}},
		&fieldsType{kind: "union", id: "status", fields: []field{plain("raw", "data_ptr"), plain("status", "_bndstatus")}},
		&fieldsType{kind: "struct", id: "_bndcfgu", size: 8, fields: []field{
			{"base", 12, 63, "uint64"}, {"reserved", 2, 11, "uint64"},
			{"preserved", 1, 1, "uint64"}, {"enabled", 0, 0, "uint64"}}},
		&fieldsType{kind: "union", id: "cfgu", fields: []field{plain("raw", "data_ptr"), plain("config", "_bndcfgu")}},
	}
	f.regs = series(4, "bnd", "raw", 0, 128, "br128", off.BNDREGS, 16, FeatureBNDREGS, 126)
	f.regs = append(f.regs,
		xs("bndcfgu", 64, "cfgu", srcXSave, off.BNDCSR, FeatureBNDCSR, -1),
		xs("bndstatus", 64, "status", srcXSave, off.BNDCSR+8, FeatureBNDCSR, -1))
	return f
}

func avx512Feature(off XSaveOffsets) *feature {
	f := &feature{name: "org.gnu.gdb.i386.avx512"}
	f.types = append(vec128Types(), &vectorType{"v2ui128", "uint128", 2})
	// Hi16_ZMM holds zmm16-31 whole, 64 bytes each: xmm, ymm upper, zmm upper.
	f.regs = series(16, "xmm", "", 16, 128, "vec128", off.Hi16ZMM, 64, FeatureHi16ZMM, 67)
	f.regs = append(f.regs, series(16, "ymm", "h", 16, 128, "uint128", off.Hi16ZMM+16, 64, FeatureHi16ZMM, -1)...)
	f.regs = append(f.regs, series(8, "k", "", 0, 64, "uint64", off.Opmask, 8, FeatureOpmask, 118)...)
	f.regs = append(f.regs, series(16, "zmm", "h", 0, 256, "v2ui128", off.ZMMHi256, 32, FeatureZMMHi256, -1)...)
	f.regs = append(f.regs, series(16, "zmm", "h", 16, 256, "v2ui128", off.Hi16ZMM+32, 64, FeatureHi16ZMM, -1)...)
	return f
}

func pkeysFeature(off XSaveOffsets) *feature {
	// The XSAVE slot is 8 bytes but only 32 bits are PKRU.
	return &feature{name: "org.gnu.gdb.i386.pkeys",
		regs: []Reg{xs("pkru", 32, "uint32", srcXSave, off.PKRU, FeaturePKRU, -1)}}
}
