package regs

import (
	"bytes"
	"encoding/hex"
	"math/rand/v2"
	"os"
	"testing"
)

func readFixture(t testing.TB, name string) []byte {
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The live fixtures are ptrace dumps of a stopped process on this host and
// the 'g' reply gdbserver 13.1 sent for the same stop.
func TestFromKernelMatchesGdbserver(t *testing.T) {
	for _, tc := range []struct{ name, gpr, xsave, g string }{
		{"all components live", "live-gpr.bin", "live-xstate.bin", "live-g-gdbserver.hex"},
		{"x87 and AVX in init state", "live-init-gpr.bin", "live-init-xstate.bin", "live-init-g-gdbserver.hex"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gpr, xsave := readFixture(t, tc.gpr), readFixture(t, tc.xsave)
			want, err := hex.DecodeString(string(readFixture(t, tc.g)))
			if err != nil {
				t.Fatal(err)
			}
			l := AMD64ForXSave(xsave)
			if l != AMD64(0xe7) {
				t.Fatalf("layout %v", l)
			}
			g := make([]byte, l.Size)
			avail := make([]bool, len(l.Regs))
			l.FromKernel(gpr, xsave, g, avail)
			for _, r := range l.Regs {
				got, exp := g[r.Offset:r.Offset+r.Size()], want[r.Offset:r.Offset+r.Size()]
				if !bytes.Equal(got, exp) || !avail[r.Regnum] {
					t.Errorf("%s: got %x (avail %v), gdbserver %x", r.Name, got, avail[r.Regnum], exp)
				}
			}
			// And back: an unchanged block changes nothing.
			gpr2, xs2 := bytes.Clone(gpr), bytes.Clone(xsave)
			if err := l.ToKernel(g, gpr2, xs2); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(gpr2, gpr) {
				t.Error("ToKernel changed user_regs_struct")
			}
			if le64(xs2[XStateBVOffset:]) != le64(xsave[XStateBVOffset:]) {
				t.Errorf("XSTATE_BV %#x -> %#x", le64(xsave[XStateBVOffset:]), le64(xs2[XStateBVOffset:]))
			}
		})
	}
}

// synthetic builds kernel buffers with a recognisable value in every byte.
func synthetic(xcr0, bv uint64) (gpr, xsave []byte) {
	gpr = make([]byte, GPRSize)
	for i := range gpr {
		gpr[i] = byte(i + 1)
	}
	xsave = make([]byte, 2696)
	for i := range xsave {
		xsave[i] = byte(i*7 + 3)
	}
	put64(xsave[XCR0Offset:], xcr0)
	put64(xsave[XStateBVOffset:], bv)
	return gpr, xsave
}

func regValue(t *testing.T, l *Layout, g []byte, name string) []byte {
	t.Helper()
	r, ok := l.ByName(name)
	if !ok {
		t.Fatalf("no %s", name)
	}
	return g[r.Offset : r.Offset+r.Size()]
}

func TestFromKernelSynthetic(t *testing.T) {
	l := AMD64(0x2ff)
	gpr, xsave := synthetic(0x2ff, 0x2ff)
	// An x87 stack of two values: st0 = 1.0 (valid), st1 = +0 (zero); top = 6.
	put16(xsave[2:], 6<<11)
	xsave[4] = 1<<6 | 1<<7
	copy(xsave[32:], []byte{0, 0, 0, 0, 0, 0, 0, 0x80, 0xff, 0x3f})
	copy(xsave[48:], make([]byte, 10))
	g := make([]byte, l.Size)
	avail := make([]bool, len(l.Regs))
	l.FromKernel(gpr, xsave, g, avail)
	for i, ok := range avail {
		if !ok {
			t.Errorf("%s unavailable", l.Regs[i].Name)
		}
	}
	for _, tc := range []struct {
		name string
		want []byte
	}{
		{"r15", gpr[0:8]},
		{"rax", gpr[80:88]},
		{"rip", gpr[128:136]},
		{"eflags", gpr[144:148]},
		{"cs", gpr[136:140]},
		{"gs", gpr[208:212]},
		{"orig_rax", gpr[120:128]},
		{"fs_base", gpr[168:176]},
		{"gs_base", gpr[176:184]},
		{"st0", xsave[32:42]},
		{"st7", xsave[144:154]},
		{"fctrl", []byte{xsave[0], xsave[1], 0, 0}},
		{"fstat", []byte{0, 0x30, 0, 0}},
		{"ftag", []byte{0xff, 0x4f, 0, 0}}, // phys 7 zero (1), phys 6 valid (0), rest empty (3)
		{"fiseg", []byte{xsave[12], xsave[13], 0, 0}},
		{"fioff", xsave[8:12]},
		{"foseg", []byte{xsave[20], xsave[21], 0, 0}},
		{"fooff", xsave[16:20]},
		{"fop", []byte{xsave[6], xsave[7] & 7, 0, 0}},
		{"xmm0", xsave[160:176]},
		{"xmm15", xsave[400:416]},
		{"mxcsr", xsave[24:28]},
		{"ymm0h", xsave[576:592]},
		{"ymm15h", xsave[816:832]},
		{"bnd0raw", xsave[960:976]},
		{"bnd3raw", xsave[1008:1024]},
		{"bndcfgu", xsave[1024:1032]},
		{"bndstatus", xsave[1032:1040]},
		{"k0", xsave[1088:1096]},
		{"k7", xsave[1144:1152]},
		{"zmm0h", xsave[1152:1184]},
		{"zmm15h", xsave[1632:1664]},
		{"xmm16", xsave[1664:1680]},
		{"ymm16h", xsave[1680:1696]},
		{"zmm16h", xsave[1696:1728]},
		{"xmm31", xsave[2624:2640]},
		{"ymm31h", xsave[2640:2656]},
		{"zmm31h", xsave[2656:2688]},
		{"pkru", xsave[2688:2692]},
	} {
		if got := regValue(t, l, g, tc.name); !bytes.Equal(got, tc.want) {
			t.Errorf("%s = %x, want %x", tc.name, got, tc.want)
		}
	}
}

func TestFromKernelInitState(t *testing.T) {
	l := AMD64(0x2ff)
	gpr, xsave := synthetic(0x2ff, 0) // every component in its init state
	g := make([]byte, l.Size)
	avail := make([]bool, len(l.Regs))
	l.FromKernel(gpr, xsave, g, avail)
	for _, r := range l.Regs {
		if !avail[r.Regnum] {
			t.Errorf("%s unavailable", r.Name)
		}
		if r.src == srcGPR {
			continue
		}
		want := make([]byte, r.Size())
		switch r.Name {
		case "fctrl":
			put32(want, 0x37f)
		case "ftag":
			put32(want, 0xffff)
		case "mxcsr":
			put32(want, 0x1f80)
		}
		if got := g[r.Offset : r.Offset+r.Size()]; !bytes.Equal(got, want) {
			t.Errorf("%s = %x, want init %x", r.Name, got, want)
		}
	}

	// mxcsr stays live while either SSE or AVX is (gdbserver's rule).
	for _, bv := range []uint64{FeatureSSE, FeatureAVX} {
		put64(xsave[XStateBVOffset:], bv)
		l.FromKernel(gpr, xsave, g, nil)
		if got := regValue(t, l, g, "mxcsr"); !bytes.Equal(got, xsave[24:28]) {
			t.Errorf("bv %#x: mxcsr %x, want %x", bv, got, xsave[24:28])
		}
	}
	// Without AVX in XCR0 mxcsr is never init.
	l3 := AMD64(0x3)
	put64(xsave[XStateBVOffset:], 0)
	g3 := make([]byte, l3.Size)
	l3.FromKernel(gpr, xsave, g3, nil)
	if got := regValue(t, l3, g3, "mxcsr"); !bytes.Equal(got, xsave[24:28]) {
		t.Errorf("sse-only: mxcsr %x, want %x", got, xsave[24:28])
	}
}

func TestFromKernelAvailability(t *testing.T) {
	l := AMD64(0xe7)
	gpr, xsave := synthetic(0xe7, 0xe7)
	g := make([]byte, l.Size)
	avail := make([]bool, len(l.Regs))
	for _, tc := range []struct {
		name      string
		gpr, xs   []byte
		available func(r *Reg) bool
	}{
		{"no xsave", gpr, nil, func(r *Reg) bool { return r.src == srcGPR }},
		{"fxsave only", gpr, xsave[:512], func(r *Reg) bool { return r.Regnum < 60 }},
		{"short xsave", gpr, xsave[:1664], func(r *Reg) bool { return r.comp != FeatureHi16ZMM }},
		{"no gpr", nil, xsave, func(r *Reg) bool { return r.src != srcGPR }},
		{"everything", gpr, xsave, func(r *Reg) bool { return true }},
	} {
		for i := range g {
			g[i] = 0xee
		}
		l.FromKernel(tc.gpr, tc.xs, g, avail)
		for i := range l.Regs {
			r := &l.Regs[i]
			want := tc.available(r)
			if avail[i] != want {
				t.Errorf("%s: %s available %v, want %v", tc.name, r.Name, avail[i], want)
			}
			_, ok := l.ReadReg(i, tc.gpr, tc.xs)
			if ok != want {
				t.Errorf("%s: ReadReg(%s) ok %v", tc.name, r.Name, ok)
			}
			if !want && !bytes.Equal(g[r.Offset:r.Offset+r.Size()], make([]byte, r.Size())) {
				t.Errorf("%s: unavailable %s not zeroed", tc.name, r.Name)
			}
		}
	}
	// Components missing from XCR0 are unavailable even if the layout has them.
	put64(xsave[XStateBVOffset:], 0xff)
	lm := AMD64XSave(0x27, IntelXSave) // opmask only: the avx512 feature is still described
	gm := make([]byte, lm.Size)
	am := make([]bool, len(lm.Regs))
	lm.FromKernel(gpr, xsave, gm, am)
	for _, r := range lm.Regs {
		want := r.comp != FeatureZMMHi256 && r.comp != FeatureHi16ZMM
		if am[r.Regnum] != want {
			t.Errorf("xcr0 0x27: %s available %v", r.Name, am[r.Regnum])
		}
	}
}

func TestFtag(t *testing.T) {
	ext := func(b ...byte) []byte { return b }
	for _, tc := range []struct {
		raw  []byte
		want uint32
	}{
		{ext(0, 0, 0, 0, 0, 0, 0, 0x80, 0xff, 0x3f), 0}, // 1.0
		{ext(0, 0, 0, 0, 0, 0, 0, 0, 0, 0), 1},          // +0
		{ext(0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80), 1},       // -0
		{ext(1, 0, 0, 0, 0, 0, 0, 0, 0, 0), 2},          // denormal
		{ext(0, 0, 0, 0, 0, 0, 0, 0x80, 0xff, 0x7f), 2}, // infinity
		{ext(0, 0, 0, 0, 0, 0, 0, 0xc0, 0xff, 0xff), 2}, // NaN
		{ext(0, 0, 0, 0, 0, 0, 0, 0x00, 0xff, 0x3f), 2}, // unnormal
		{ext(0, 0, 0, 0, 0, 0, 0, 0x80, 0, 0), 2},       // pseudo-denormal
	} {
		if got := st387Tag(tc.raw); got != tc.want {
			t.Errorf("tag(%x) = %d, want %d", tc.raw, got, tc.want)
		}
	}
	for full := uint32(0); full < 1<<16; full += 97 {
		b := abridgedTag(full)
		for i := 0; i < 8; i++ {
			if (b>>i)&1 == 1 != ((full>>(2*i))&3 != 3) {
				t.Fatalf("abridged(%#x) = %#x", full, b)
			}
		}
	}
}

func randomBuffers(rng *rand.Rand, xcr0 uint64, n int) (gpr, xsave []byte) {
	gpr = make([]byte, GPRSize)
	xsave = make([]byte, n)
	for i := range gpr {
		gpr[i] = byte(rng.Uint32())
	}
	for i := range xsave {
		xsave[i] = byte(rng.Uint32())
	}
	// The kernel's eflags and selectors never have upper bits; 'g' drops them.
	for _, off := range []int{136, 144, 160, 184, 192, 200, 208} {
		clear(gpr[off+4 : off+8])
	}
	put64(xsave[XCR0Offset:], xcr0)
	put64(xsave[XStateBVOffset:], ^uint64(0))
	return gpr, xsave
}

func TestRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, xcr0 := range []uint64{0x3, 0x7, 0x1f, 0xe7, 0x2ff} {
		l := AMD64(xcr0)
		for range 50 {
			gpr, xsave := randomBuffers(rng, xcr0, 2696)
			g := make([]byte, l.Size)
			avail := make([]bool, len(l.Regs))
			l.FromKernel(gpr, xsave, g, avail)
			gpr2, xs2 := make([]byte, len(gpr)), make([]byte, len(xsave))
			// Start from other bytes: everything 'g' covers must be rewritten.
			for i := range gpr2 {
				gpr2[i] = ^gpr[i]
			}
			copy(xs2, xsave)
			for _, r := range l.Regs {
				if r.src == srcXSave {
					for i := r.koff; i < r.koff+r.Size(); i++ {
						xs2[i] = ^xs2[i]
					}
				}
			}
			for _, off := range []int{136, 144, 160, 184, 192, 200, 208} {
				clear(gpr2[off+4 : off+8])
			}
			if err := l.ToKernel(g, gpr2, xs2); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(gpr2, gpr) {
				t.Fatalf("%#x: user_regs_struct round trip differs", xcr0)
			}
			// x87 control words are partly rebuilt: compare them through 'g'.
			g2 := make([]byte, l.Size)
			l.FromKernel(gpr2, xs2, g2, nil)
			if !bytes.Equal(g2, g) {
				t.Fatalf("%#x: 'g' round trip differs", xcr0)
			}
			// Direct round trip on an untouched copy is byte exact.
			xs3 := bytes.Clone(xsave)
			if err := l.ToKernel(g, bytes.Clone(gpr), xs3); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(xs3, xsave) {
				t.Fatalf("%#x: XSAVE round trip differs", xcr0)
			}
		}
	}
}

func TestReadWriteRegAgreeWithBlock(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	l := AMD64(0x2ff)
	gpr, xsave := randomBuffers(rng, 0x2ff, 2696)
	g := make([]byte, l.Size)
	l.FromKernel(gpr, xsave, g, nil)
	for i := range l.Regs {
		r := &l.Regs[i]
		v, ok := l.ReadReg(i, gpr, xsave)
		if !ok || !bytes.Equal(v, g[r.Offset:r.Offset+r.Size()]) {
			t.Fatalf("ReadReg(%s) = %x, %v; block has %x", r.Name, v, ok, g[r.Offset:r.Offset+r.Size()])
		}
	}
	// Writing each register with a new value changes exactly that register.
	ftag, _ := l.ByName("ftag")
	for i := range l.Regs {
		r := &l.Regs[i]
		v := make([]byte, r.Size())
		for j := range v {
			v[j] = byte(rng.Uint32())
		}
		v = canonical(r, v)
		if err := l.WriteReg(i, v, gpr, xsave); err != nil {
			t.Fatalf("WriteReg(%s): %v", r.Name, err)
		}
		copy(g[r.Offset:], v)
		g2 := make([]byte, l.Size)
		l.FromKernel(gpr, xsave, g2, nil)
		if r.Name == "fstat" || r.comp == FeatureX87 && r.Bits == 80 {
			// ftag's kinds are recomputed from TOP and the st registers.
			copy(g[ftag.Offset:ftag.Offset+4], g2[ftag.Offset:])
		}
		if !bytes.Equal(g2, g) {
			for _, r2 := range l.Regs {
				if !bytes.Equal(g2[r2.Offset:r2.Offset+r2.Size()], g[r2.Offset:r2.Offset+r2.Size()]) {
					t.Errorf("after WriteReg(%s): %s = %x, want %x", r.Name, r2.Name,
						g2[r2.Offset:r2.Offset+r2.Size()], g[r2.Offset:r2.Offset+r2.Size()])
				}
			}
			t.FailNow()
		}
	}
	if err := l.WriteReg(0, []byte{1}, gpr, xsave); err == nil {
		t.Error("short value accepted")
	}
	if err := l.WriteReg(len(l.Regs), make([]byte, 8), gpr, xsave); err == nil {
		t.Error("unknown register accepted")
	}
	k0, _ := l.ByName("k0")
	if err := l.WriteReg(k0.Regnum, make([]byte, 8), gpr, nil); err == nil {
		t.Error("write without XSAVE buffer accepted")
	}
}

// canonical trims v to what the register can hold, as FromKernel shows it.
func canonical(r *Reg, v []byte) []byte {
	switch r.src {
	case srcU16:
		clear(v[2:])
	case srcFop:
		v[1] &= 7
		clear(v[2:])
	case srcFtag:
		// Only empty (3) vs in use survives; the kind is recomputed.
		clear(v)
		put32(v, 0xffff)
	}
	return v
}

func TestWriteIntoInitComponent(t *testing.T) {
	l := AMD64(0xe7)
	gpr, xsave := synthetic(0xe7, FeatureX87|FeatureSSE) // AVX and AVX-512 init, stale bytes
	k1, _ := l.ByName("k1")
	val := []byte{1, 2, 3, 4, 5, 6, 7, 8}
	if err := l.WriteReg(k1.Regnum, val, gpr, xsave); err != nil {
		t.Fatal(err)
	}
	if bv := le64(xsave[XStateBVOffset:]); bv != FeatureX87|FeatureSSE|FeatureOpmask {
		t.Errorf("XSTATE_BV %#x", bv)
	}
	// The other opmask registers were init (zero) and must stay so now the
	// kernel loads the component; other init components are untouched in meaning.
	want := make([]byte, 64)
	copy(want[8:], val)
	if !bytes.Equal(xsave[1088:1152], want) {
		t.Errorf("opmask area %x", xsave[1088:1152])
	}
	g := make([]byte, l.Size)
	l.FromKernel(gpr, xsave, g, nil)
	for _, r := range l.Regs {
		if r.comp&(FeatureAVX|FeatureZMMHi256|FeatureHi16ZMM) != 0 && r.src == srcXSave {
			if !bytes.Equal(g[r.Offset:r.Offset+r.Size()], make([]byte, r.Size())) {
				t.Errorf("%s not zero", r.Name)
			}
		}
	}

	// Writing an init value into an init component sets no bit.
	zmm3h, _ := l.ByName("zmm3h")
	if err := l.WriteReg(zmm3h.Regnum, make([]byte, 32), gpr, xsave); err != nil {
		t.Fatal(err)
	}
	if bv := le64(xsave[XStateBVOffset:]); bv&FeatureZMMHi256 != 0 {
		t.Errorf("XSTATE_BV %#x after writing zero", bv)
	}

	// mxcsr with SSE and AVX init: the write needs SSE marked.
	gpr, xsave = synthetic(0xe7, FeatureX87)
	mx, _ := l.ByName("mxcsr")
	if err := l.WriteReg(mx.Regnum, []byte{0xa0, 0x1f, 0, 0}, gpr, xsave); err != nil {
		t.Fatal(err)
	}
	if bv := le64(xsave[XStateBVOffset:]); bv != FeatureX87|FeatureSSE {
		t.Errorf("XSTATE_BV %#x after mxcsr", bv)
	}
	if le32(xsave[24:]) != 0x1fa0 || !bytes.Equal(xsave[160:416], make([]byte, 256)) {
		t.Errorf("mxcsr %#x, xmm area not zeroed", le32(xsave[24:]))
	}

	// x87 init: fctrl write materialises the init x87 state first.
	gpr, xsave = synthetic(0xe7, FeatureSSE)
	fc, _ := l.ByName("fctrl")
	if err := l.WriteReg(fc.Regnum, []byte{0x7f, 0x02, 0, 0}, gpr, xsave); err != nil {
		t.Fatal(err)
	}
	if bv := le64(xsave[XStateBVOffset:]); bv != FeatureX87|FeatureSSE {
		t.Errorf("XSTATE_BV %#x after fctrl", bv)
	}
	l.FromKernel(gpr, xsave, g, nil)
	if v := le32(regValue(t, l, g, "ftag")); v != 0xffff {
		t.Errorf("ftag %#x", v)
	}
	if v := le32(regValue(t, l, g, "fctrl")); v != 0x27f {
		t.Errorf("fctrl %#x", v)
	}
	if !bytes.Equal(regValue(t, l, g, "st3"), make([]byte, 10)) {
		t.Errorf("st3 %x", regValue(t, l, g, "st3"))
	}
}

func TestToKernelWithoutXSave(t *testing.T) {
	l := AMD64(0xe7)
	gpr, _ := synthetic(0xe7, 0xe7)
	g := make([]byte, l.Size)
	for i := range g {
		g[i] = byte(i)
	}
	if err := l.ToKernel(g, gpr, nil); err != nil {
		t.Fatal(err)
	}
	rip, _ := l.ByName("rip")
	if !bytes.Equal(gpr[UserRIP:UserRIP+8], g[rip.Offset:rip.Offset+8]) {
		t.Error("rip not written")
	}
	// eflags is zero-extended into its 64-bit slot.
	if le64(gpr[UserEFLAGS:]) != uint64(le32(g[136:])) {
		t.Errorf("eflags slot %x", gpr[UserEFLAGS:UserEFLAGS+8])
	}
	if err := l.ToKernel(g[:10], gpr, nil); err == nil {
		t.Error("short block accepted")
	}
}

func BenchmarkFromKernel(b *testing.B) {
	l := AMD64(0xe7)
	gpr, xsave := readFixture(b, "live-gpr.bin"), readFixture(b, "live-xstate.bin")
	g := make([]byte, l.Size)
	avail := make([]bool, len(l.Regs))
	b.SetBytes(int64(l.Size))
	for b.Loop() {
		l.FromKernel(gpr, xsave, g, avail)
	}
}

func BenchmarkToKernel(b *testing.B) {
	l := AMD64(0xe7)
	gpr, xsave := readFixture(b, "live-gpr.bin"), readFixture(b, "live-xstate.bin")
	g := make([]byte, l.Size)
	l.FromKernel(gpr, xsave, g, nil)
	for b.Loop() {
		if err := l.ToKernel(g, gpr, xsave); err != nil {
			b.Fatal(err)
		}
	}
}
