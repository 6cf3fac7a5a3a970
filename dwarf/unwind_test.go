package dwarf

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type unwindCase struct {
	name      string
	exe       func(testing.TB) string
	breakAt   string
	args      string
	minFrames int // gdb's bt must have at least this many frames
}

var unwindCases = []unwindCase{
	{"O0-deep", recO0, "leaf", "100", 105},
	{"O2-deep", recO2, "leaf", "100", 105},
	{"O0-signal", recO0, "leaf", "3 sig", 12},
	{"O2-signal", recO2, "leaf", "3 sig", 12},
	{"O2-debug_frame", func(t testing.TB) string {
		return build(t, "rec2df", []string{"rec.c"}, "-O2", "-fomit-frame-pointer", "-fno-asynchronous-unwind-tables", "-fno-unwind-tables")
	}, "leaf", "20", 25},
	{"shlib-callback", func(t testing.TB) string { _, e := shlib(t); return e }, "callback", "", 4},
}

// TestUnwindMatchesGdb unwinds offline from a snapshot of the program
// stopped under gdb and compares every frame with gdb's bt (with
// backtrace past-main): pc, signal frames, and for frames in our programs
// the function, file and line, inlined frames included.
func TestUnwindMatchesGdb(t *testing.T) {
	for _, c := range unwindCases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			exe := c.exe(t)
			snap := takeSnapshot(t, exe, c.breakAt, c.args)
			want := parseBT(t, snap.BT)
			if len(want) < c.minFrames {
				t.Fatalf("gdb bt has %d frames, want >= %d:\n%s", len(want), c.minFrames, snap.BT)
			}
			space, err := SpaceFromProcess(exe, snap.auxv, snap)
			if err != nil {
				t.Fatal(err)
			}
			defer space.Close()
			frames, err := Unwind(space, snap.regs(), snap, 0)
			if err != nil {
				t.Errorf("Unwind: %v", err)
			}
			if len(frames) != len(want) {
				t.Errorf("%d frames, gdb has %d", len(frames), len(want))
			}
			ours := func(f Frame) bool {
				return f.Object == exe || strings.HasSuffix(f.Object, "libshlib.so")
			}
			for i := 0; i < len(frames) && i < len(want); i++ {
				f, w := frames[i], want[i]
				got := fmt.Sprintf("#%d 0x%x %s %s:%d [%s] cfa=0x%x inl=%v sig=%v", i, f.PC, f.Location.Function,
					filepath.Base(f.Location.File), f.Location.Line, filepath.Base(f.Object), f.CFA, f.Inlined, f.Signal)
				switch {
				case w.signal:
					if !f.Signal {
						t.Errorf("got  %s\nwant %s", got, w.original)
					}
				case i == 0 && f.PC != snap.regs()[16] || w.pc != 0 && f.PC != w.pc:
					t.Errorf("pc differs:\ngot  %s\nwant %s", got, w.original)
				case ours(f) && (f.Location.Function != w.fn || f.Location.File != w.file || f.Location.Line != w.line):
					t.Errorf("location differs:\ngot  %s\nwant %s", got, w.original)
				case !ours(f) && w.fn != "??" && f.Location.Function != w.fn:
					t.Errorf("function differs:\ngot  %s\nwant %s", got, w.original)
				case !ours(f) && w.file != "" && (filepath.Base(f.Location.File) != filepath.Base(w.file) || f.Location.Line != w.line):
					// gdb prints library file names as the compiler saw them.
					t.Errorf("location differs:\ngot  %s\nwant %s", got, w.original)
				}
				if t.Failed() && i > 20 {
					break
				}
			}
			if t.Failed() {
				t.Logf("gdb bt:\n%s", snap.BT)
				for i, f := range frames {
					t.Logf("#%d 0x%x %s %s:%d [%s] cfa=0x%x inl=%v sig=%v", i, f.PC, f.Location.Function,
						filepath.Base(f.Location.File), f.Location.Line, filepath.Base(f.Object), f.CFA, f.Inlined, f.Signal)
				}
			}
		})
	}
}

// TestSpaceFromProcess checks the objects and biases found through auxv,
// DT_DEBUG, r_debug and the link map against the process's mappings.
func TestSpaceFromProcess(t *testing.T) {
	lib, exe := shlib(t)
	snap := takeSnapshot(t, exe, "callback", "")
	space, err := SpaceFromProcess(exe, snap.auxv, snap)
	if err != nil {
		t.Fatal(err)
	}
	defer space.Close()
	for _, e := range space.Errors() {
		t.Errorf("space error: %v", e)
	}
	objs := space.Objects()
	byFile := map[string]SpaceObject{}
	for _, o := range objs {
		if st, err := os.Stat(o.Path); err == nil {
			byFile[fileKey(st)] = o
		}
	}
	vdso := false
	for _, o := range objs {
		vdso = vdso || o.Path == "[vdso]"
	}
	if !vdso {
		t.Errorf("no vDSO in the space")
	}
	libs := 0
	for _, sg := range snap.Segs {
		if sg.Off != 0 || !strings.HasPrefix(sg.Name, "/") {
			continue
		}
		st, err := os.Stat(sg.Name)
		if err != nil {
			continue
		}
		o, ok := byFile[fileKey(st)]
		if !ok {
			t.Errorf("%s (mapped at 0x%x) is not in the space", sg.Name, sg.Lo)
			continue
		}
		libs++
		if lo := o.Object.loads[0].vaddr&^0xfff + o.Bias; lo != sg.Lo {
			t.Errorf("%s: first segment at 0x%x in the space, mapped at 0x%x", sg.Name, lo, sg.Lo)
		}
	}
	if libs < 4 { // shmain, libshlib.so, libc, ld.so
		t.Errorf("only %d objects matched the mappings", libs)
	}
	// The library's code is found at run time.
	lo := mustOpen(t, lib)
	entry, _, err := lo.FunctionEntry("lib_apply")
	if err != nil {
		t.Fatal(err)
	}
	var bias uint64
	for _, o := range objs {
		if strings.HasSuffix(o.Path, "libshlib.so") {
			bias = o.Bias
		}
	}
	loc, err := space.PCToLine(entry + bias)
	if err != nil || loc.Function != "lib_apply" {
		t.Errorf("PCToLine(lib_apply at run time) = %+v, %v", loc, err)
	}
	if _, err := space.PCToLine(16); !errors.Is(err, ErrNoObject) || err.Error() != "no object contains 0x10" {
		t.Errorf("PCToLine(0x10) = %v, want \"no object contains 0x10\"", err)
	}
}

func fileKey(st os.FileInfo) string {
	return fmt.Sprintf("%d/%d", inode(st), st.Size())
}

// TestUnwindErrors checks the errors of Unwind: a pc outside any object,
// and a stack that cannot be read.
func TestUnwindErrors(t *testing.T) {
	exe := recO2(t)
	snap := takeSnapshot(t, exe, "leaf", "100")
	space, err := SpaceFromProcess(exe, snap.auxv, snap)
	if err != nil {
		t.Fatal(err)
	}
	defer space.Close()
	regs := snap.regs()
	regs[16] = 0x10
	if _, err := Unwind(space, regs, snap, 0); !errors.Is(err, ErrNoObject) || err.Error() != "no object contains 0x10" {
		t.Errorf("Unwind at 0x10: %v", err)
	}
	frames, err := Unwind(space, snap.regs(), noMemory{}, 0)
	if err == nil || len(frames) != 2 { // leaf, then helper inlined into recurse... stops reading the return address
		t.Logf("frames: %d", len(frames))
	}
	if err == nil {
		t.Errorf("Unwind without memory succeeded")
	}
	if _, err := Unwind(space, map[int]uint64{7: 0}, snap, 0); err == nil {
		t.Errorf("Unwind without a pc succeeded")
	}
	frames, err = Unwind(space, snap.regs(), snap, 5)
	if err != nil || len(frames) != 5 {
		t.Errorf("Unwind(max 5) = %d frames, %v", len(frames), err)
	}
}

type noMemory struct{}

func (noMemory) ReadMemory(addr uint64, buf []byte) error {
	return fmt.Errorf("no memory at 0x%x", addr)
}
