package regs

import (
	"fmt"
	"sync"
	"testing"
)

func TestLayoutSizes(t *testing.T) {
	for _, tc := range []struct {
		name       string
		xcr0       uint64
		regs, size int
		last       string
	}{
		{"sse", 0x3, 60, 560, "gs_base"},
		{"no xsave", 0, 60, 560, "gs_base"},
		{"avx", 0x7, 76, 816, "ymm15h"},
		{"avx+mpx", 0x1f, 82, 896, "bndstatus"},
		{"avx512", 0xe7, 148, 2416, "zmm31h"},
		{"avx512+amx bits", 0x600e7, 148, 2416, "zmm31h"},
		{"avx512+pkeys", 0x2e7, 149, 2420, "pkru"},
		{"everything", 0x2ff, 155, 2500, "pkru"},
		{"avx+pkeys", 0x207, 77, 820, "pkru"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := AMD64(tc.xcr0)
			if len(l.Regs) != tc.regs || l.Size != tc.size {
				t.Fatalf("%d registers, %d bytes; want %d, %d", len(l.Regs), l.Size, tc.regs, tc.size)
			}
			if last := l.Regs[len(l.Regs)-1]; last.Name != tc.last {
				t.Errorf("last register %s, want %s", last.Name, tc.last)
			}
			off := 0
			for i, r := range l.Regs {
				if r.Regnum != i || r.Offset != off {
					t.Fatalf("%s: regnum %d offset %d, want %d %d", r.Name, r.Regnum, r.Offset, i, off)
				}
				off += r.Size()
			}
		})
	}
}

func TestRegisterPlacement(t *testing.T) {
	l := AMD64(0xe7)
	for _, tc := range []struct {
		name                   string
		regnum, offset, bits   int
		dwarf                  int
		generic, feature, typ_ string
	}{
		{"rax", 0, 0, 64, 0, "", "org.gnu.gdb.i386.core", "int64"},
		{"rbp", 6, 48, 64, 6, "fp", "org.gnu.gdb.i386.core", "data_ptr"},
		{"rsp", 7, 56, 64, 7, "sp", "org.gnu.gdb.i386.core", "data_ptr"},
		{"rdi", 5, 40, 64, 5, "arg1", "org.gnu.gdb.i386.core", "int64"},
		{"rip", 16, 128, 64, 16, "pc", "org.gnu.gdb.i386.core", "code_ptr"},
		{"eflags", 17, 136, 32, 49, "flags", "org.gnu.gdb.i386.core", "i386_eflags"},
		{"cs", 18, 140, 32, 51, "", "org.gnu.gdb.i386.core", "int32"},
		{"gs", 23, 160, 32, 55, "", "org.gnu.gdb.i386.core", "int32"},
		{"st0", 24, 164, 80, 33, "", "org.gnu.gdb.i386.core", "i387_ext"},
		{"fctrl", 32, 244, 32, 65, "", "org.gnu.gdb.i386.core", "int"},
		{"fop", 39, 272, 32, -1, "", "org.gnu.gdb.i386.core", "int"},
		{"xmm0", 40, 276, 128, 17, "", "org.gnu.gdb.i386.sse", "vec128"},
		{"xmm15", 55, 516, 128, 32, "", "org.gnu.gdb.i386.sse", "vec128"},
		{"mxcsr", 56, 532, 32, 64, "", "org.gnu.gdb.i386.sse", "i386_mxcsr"},
		{"orig_rax", 57, 536, 64, -1, "", "org.gnu.gdb.i386.linux", "int"},
		{"fs_base", 58, 544, 64, 58, "", "org.gnu.gdb.i386.segments", "int"},
		{"gs_base", 59, 552, 64, 59, "", "org.gnu.gdb.i386.segments", "int"},
		{"ymm0h", 60, 560, 128, -1, "", "org.gnu.gdb.i386.avx", "uint128"},
		{"xmm16", 76, 816, 128, 67, "", "org.gnu.gdb.i386.avx512", "vec128"},
		{"xmm31", 91, 1056, 128, 82, "", "org.gnu.gdb.i386.avx512", "vec128"},
		{"ymm16h", 92, 1072, 128, -1, "", "org.gnu.gdb.i386.avx512", "uint128"},
		{"k0", 108, 1328, 64, 118, "", "org.gnu.gdb.i386.avx512", "uint64"},
		{"k7", 115, 1384, 64, 125, "", "org.gnu.gdb.i386.avx512", "uint64"},
		{"zmm0h", 116, 1392, 256, -1, "", "org.gnu.gdb.i386.avx512", "v2ui128"},
		{"zmm31h", 147, 2384, 256, -1, "", "org.gnu.gdb.i386.avx512", "v2ui128"},
	} {
		r, ok := l.ByName(tc.name)
		if !ok {
			t.Errorf("no %s", tc.name)
			continue
		}
		got := fmt.Sprint(r.Regnum, r.Offset, r.Bits, r.DWARF, r.Generic, r.Feature, r.Type)
		want := fmt.Sprint(tc.regnum, tc.offset, tc.bits, tc.dwarf, tc.generic, tc.feature, tc.typ_)
		if got != want {
			t.Errorf("%s: got %s, want %s", tc.name, got, want)
		}
		if r2, ok := l.Reg(tc.regnum); !ok || r2 != r {
			t.Errorf("Reg(%d) is not ByName(%s)", tc.regnum, tc.name)
		}
	}
	if _, ok := l.ByName("pkru"); ok {
		t.Error("pkru without FeaturePKRU")
	}
	for _, n := range []int{-1, 148} {
		if _, ok := l.Reg(n); ok {
			t.Errorf("Reg(%d) exists", n)
		}
	}
	if r, ok := l.ByGeneric("pc"); !ok || r.Name != "rip" {
		t.Errorf("ByGeneric(pc) = %v", r)
	}
}

func TestLayoutCache(t *testing.T) {
	var wg sync.WaitGroup
	got := make([]*Layout, 16)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i] = AMD64(0xe7 | uint64(i%2)<<17) // AMX bits are ignored
		}()
	}
	wg.Wait()
	for _, l := range got {
		if l != got[0] {
			t.Fatal("AMD64 built two layouts for one description")
		}
	}
	if got[0].XCR0 != 0xe7 {
		t.Errorf("XCR0 %#x", got[0].XCR0)
	}
	if AMD64XSave(0xe7, AMDXSave) == got[0] {
		t.Error("AMD and Intel offsets share a layout")
	}
}

func TestGuessXSave(t *testing.T) {
	for _, tc := range []struct {
		xcr0 uint64
		size int
		want XSaveOffsets
	}{
		{0x600e7, 11008, IntelXSave}, // this host (Sapphire Rapids class, AMX)
		{0x2e7, 2696, IntelXSave},
		{0xe7, 2688, IntelXSave},
		{0x1f, 1088, IntelXSave},
		{0x7, 832, IntelXSave},
		{0x2e7, 2440, AMDXSave}, // Zen 4
		{0xe7, 2432, AMDXSave},
		{0x207, 2440, AMDXSave}, // Zen 3: PKRU after the missing AVX-512 and MPX
	} {
		if got := GuessXSave(tc.xcr0, tc.size); got != tc.want {
			t.Errorf("GuessXSave(%#x, %d) = %+v", tc.xcr0, tc.size, got)
		}
	}
	l := AMD64ForXSave(make([]byte, 512))
	if l.XCR0 != 0x3 || len(l.Regs) != 60 {
		t.Errorf("FXSAVE-only buffer: %v", l)
	}
}
