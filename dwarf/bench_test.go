package dwarf

import (
	"os"
	"testing"
)

// BenchmarkOpen measures indexing one object: a small test program, and
// the C library (with its separate debug info when installed).
func BenchmarkOpen(b *testing.B) {
	objs := map[string]string{"prog": progO0(b), "inl-O2": inlO2(b)}
	if _, err := os.Stat("/lib/x86_64-linux-gnu/libc.so.6"); err == nil {
		objs["libc"] = "/lib/x86_64-linux-gnu/libc.so.6"
	}
	for name, path := range objs {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				o, err := Open(path)
				if err != nil {
					b.Fatal(err)
				}
				o.Close()
			}
		})
	}
}

// BenchmarkPCToLine looks up every line-table address of the -O2 program
// (inlined chains included), one per iteration.
func BenchmarkPCToLine(b *testing.B) {
	o := mustOpen(b, inlO2(b))
	addrs := rowAddrs(o)
	i := 0
	for b.Loop() {
		if _, err := o.PCToLine(addrs[i%len(addrs)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkLineToPCs resolves the inlined line of the -O2 program.
func BenchmarkLineToPCs(b *testing.B) {
	o := mustOpen(b, inlO2(b))
	line := markLine(b, "inl.c", "bump")
	for b.Loop() {
		if _, err := o.LineToPCs("inl.c", line); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUnwind unwinds a 100-deep recursion (about 110 frames with
// main, libc and _start) from a snapshot, with source locations.
func BenchmarkUnwind(b *testing.B) {
	for _, c := range []struct {
		name string
		exe  func(testing.TB) string
	}{{"O0", recO0}, {"O2", recO2}} {
		b.Run(c.name, func(b *testing.B) {
			exe := c.exe(b)
			snap := takeSnapshot(b, exe, "leaf", "100")
			space, err := SpaceFromProcess(exe, snap.auxv, snap)
			if err != nil {
				b.Fatal(err)
			}
			defer space.Close()
			regs := snap.regs()
			n := 0
			for b.Loop() {
				frames, err := Unwind(space, regs, snap, 0)
				if err != nil {
					b.Fatal(err)
				}
				n = len(frames)
			}
			b.ReportMetric(float64(n), "frames")
		})
	}
}
