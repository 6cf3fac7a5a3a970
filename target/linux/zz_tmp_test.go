package linux

import "testing"

func BenchmarkTmpParts(b *testing.B) {
	exe := buildMon(b, "deep", "-O0", "deep.c")
	p, main := launchTo(b, exe, "deep.c", monMarkLine(b, "deep.c", "leaf"), "100")
	p.Backtrace(main, 0)
	b.Run("regs", func(b *testing.B) {
		for b.Loop() {
			p.dwarfRegs(main)
		}
	})
	b.Run("space", func(b *testing.B) {
		for b.Loop() {
			symCache.Lock()
			p.buildSpace()
			symCache.Unlock()
		}
	})
	b.Run("libraries", func(b *testing.B) {
		for b.Loop() {
			p.Libraries(0)
		}
	})
	b.Run("auxv", func(b *testing.B) {
		for b.Loop() {
			p.Auxv()
		}
	})
}
