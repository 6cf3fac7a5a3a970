package dwarf

import (
	"debug/elf"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func copyFile(t testing.TB, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o755); err != nil {
		t.Fatal(err)
	}
}

// answers collects what an object says about every line-table address of
// the reference object, every function and the globals: two objects built
// from the same program must answer alike.
type answers struct {
	Lines   map[uint64]Location
	Funcs   map[string][2]uint64
	Globals map[string][2]int64
	Break   map[int][]uint64
}

func collectAnswers(t *testing.T, ref, o *Object) answers {
	t.Helper()
	a := answers{Lines: map[uint64]Location{}, Funcs: map[string][2]uint64{}, Globals: map[string][2]int64{}, Break: map[int][]uint64{}}
	for _, pc := range rowAddrs(ref) {
		loc, err := o.PCToLine(pc)
		if err != nil {
			t.Fatalf("%s: PCToLine(0x%x): %v", o.Path(), pc, err)
		}
		a.Lines[pc] = loc
	}
	for _, f := range ref.Functions() {
		e, p, err := o.FunctionEntry(f)
		if err != nil {
			t.Fatalf("%s: FunctionEntry(%s): %v", o.Path(), f, err)
		}
		a.Funcs[f] = [2]uint64{e, p}
	}
	for _, v := range []string{"counter", "table", "origin", "buffer"} {
		addr, size, err := o.Global(v)
		if err != nil {
			t.Fatalf("%s: Global(%s): %v", o.Path(), v, err)
		}
		a.Globals[v] = [2]int64{int64(addr), size}
	}
	for l := 1; l < 50; l++ {
		pcs, _ := o.LineToPCs("prog.c", l)
		a.Break[l] = pcs
	}
	return a
}

func objcopy(t *testing.T, dir string, args ...string) {
	t.Helper()
	needTools(t, "objcopy")
	cmd := execIn(dir, "objcopy", args...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("objcopy %s: %v\n%s", strings.Join(args, " "), err, b)
	}
}

// TestSplitDebugInfo checks that debug info found through .gnu_debuglink
// (next to the file, in .debug/, under a global debug directory) and
// through the build-id answers exactly as the unsplit program.
func TestSplitDebugInfo(t *testing.T) {
	orig := progO0(t)
	ref := mustOpen(t, orig)
	want := collectAnswers(t, ref, ref)

	// prog (stripped, with a debuglink) and prog.debug, in dir.
	split := func(t *testing.T, debuglink bool) (dir, exe, dbg string) {
		dir = t.TempDir()
		exe = filepath.Join(dir, "prog")
		dbg = filepath.Join(dir, "prog.debug")
		copyFile(t, orig, exe)
		objcopy(t, dir, "--only-keep-debug", "prog", "prog.debug")
		objcopy(t, dir, "--strip-debug", "prog")
		if debuglink {
			objcopy(t, dir, "--add-gnu-debuglink=prog.debug", "prog")
		}
		return dir, exe, dbg
	}
	check := func(t *testing.T, exe, wantDebug string, opts *Options) {
		t.Helper()
		o, err := OpenWith(exe, opts)
		if err != nil {
			t.Fatal(err)
		}
		defer o.Close()
		if o.DebugPath() != wantDebug {
			t.Fatalf("debug info from %q, want %q", o.DebugPath(), wantDebug)
		}
		if got := collectAnswers(t, ref, o); !reflect.DeepEqual(got, want) {
			t.Errorf("answers differ from the unsplit program")
		}
		// Symbols come from the stripped file's .symtab.
		if name, _, ok := o.Symbol(want.Funcs["main"][0]); !ok || name != "main" {
			t.Errorf("Symbol(main) = %q, %v", name, ok)
		}
	}
	noDirs := &Options{DebugDirs: []string{}}

	t.Run("debuglink-same-dir", func(t *testing.T) {
		_, exe, dbg := split(t, true)
		check(t, exe, dbg, noDirs)
	})
	t.Run("debuglink-dot-debug", func(t *testing.T) {
		dir, exe, dbg := split(t, true)
		moved := filepath.Join(dir, ".debug", "prog.debug")
		copyFile(t, dbg, moved)
		os.Remove(dbg)
		check(t, exe, moved, noDirs)
	})
	t.Run("debuglink-global-dir", func(t *testing.T) {
		dir, exe, dbg := split(t, true)
		global := t.TempDir()
		moved := filepath.Join(global, dir, "prog.debug")
		copyFile(t, dbg, moved)
		os.Remove(dbg)
		check(t, exe, moved, &Options{DebugDirs: []string{global}})
	})
	t.Run("build-id", func(t *testing.T) {
		_, exe, dbg := split(t, false)
		f, err := elf.Open(exe)
		if err != nil {
			t.Fatal(err)
		}
		id := buildID(f)
		f.Close()
		if len(id) == 0 {
			t.Skip("gcc made no build-id")
		}
		h := hex.EncodeToString(id)
		global := t.TempDir()
		moved := filepath.Join(global, ".build-id", h[:2], h[2:]+".debug")
		copyFile(t, dbg, moved)
		os.Remove(dbg)
		check(t, exe, moved, &Options{DebugDirs: []string{global}})
	})
	t.Run("crc-mismatch", func(t *testing.T) {
		dir, exe, dbg := split(t, true)
		// Replace the debug file by another program's: the CRC in the
		// debuglink no longer matches and it must not be used.
		other := t.TempDir()
		copyFile(t, progNoPIE(t), filepath.Join(other, "p"))
		objcopy(t, other, "--only-keep-debug", "p", "p.debug")
		copyFile(t, filepath.Join(other, "p.debug"), dbg)
		o, err := OpenWith(exe, noDirs)
		if err != nil {
			t.Fatal(err)
		}
		defer o.Close()
		_, err = o.PCToLine(want.Funcs["main"][0])
		if !errors.Is(err, ErrNoDebugInfo) || err.Error() != "no debug info in "+exe {
			t.Errorf("PCToLine with a mismatched debug file: %v", err)
		}
		_ = dir
	})
}

// TestCompressedDebugInfo checks zlib (SHF_COMPRESSED), zlib-gnu
// (.zdebug_*) and, where objcopy supports it, zstd compressed sections.
func TestCompressedDebugInfo(t *testing.T) {
	orig := progO0(t)
	ref := mustOpen(t, orig)
	want := collectAnswers(t, ref, ref)
	for _, kind := range []string{"zlib", "zlib-gnu", "zstd"} {
		t.Run(kind, func(t *testing.T) {
			dir := t.TempDir()
			exe := filepath.Join(dir, "prog")
			copyFile(t, orig, exe)
			cmd := execIn(dir, "objcopy", "--compress-debug-sections="+kind, "prog")
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Skipf("objcopy cannot compress with %s: %v %s", kind, err, b)
			}
			f, err := elf.Open(exe)
			if err != nil {
				t.Fatal(err)
			}
			s := f.Section(".debug_info")
			if kind == "zlib-gnu" {
				s = f.Section(".zdebug_info")
			}
			if s == nil || kind != "zlib-gnu" && s.Flags&elf.SHF_COMPRESSED == 0 {
				t.Fatalf("no compressed debug info in %s", exe)
			}
			f.Close()
			o := mustOpen(t, exe)
			if got := collectAnswers(t, ref, o); !reflect.DeepEqual(got, want) {
				t.Errorf("answers differ from the uncompressed program")
			}
		})
	}
	t.Run("gcc-gz", func(t *testing.T) {
		exe := build(t, "progz", []string{"prog.c"}, "-O0", "-gz=zlib")
		o := mustOpen(t, exe)
		if got := collectAnswers(t, ref, o); !reflect.DeepEqual(got, want) {
			t.Errorf("answers differ from the uncompressed program")
		}
	})
}

// TestStripped checks the errors for a program without debug info, and
// that its dynamic symbols and .eh_frame are still served.
func TestStripped(t *testing.T) {
	needTools(t, "strip")
	dir := t.TempDir()
	exe := filepath.Join(dir, "prog")
	copyFile(t, progO0(t), exe)
	if b, err := execIn(dir, "strip", "--strip-all", "prog").CombinedOutput(); err != nil {
		t.Fatalf("strip: %v %s", err, b)
	}
	o, err := OpenWith(exe, &Options{DebugDirs: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	if o.HasDebugInfo() {
		t.Fatal("stripped program has debug info")
	}
	wantMsg := "no debug info in " + exe
	_, err = o.PCToLine(o.Entry())
	if !errors.Is(err, ErrNoDebugInfo) || err.Error() != wantMsg {
		t.Errorf("PCToLine: %v, want %q", err, wantMsg)
	}
	if _, err := o.LineToPCs("prog.c", 20); !errors.Is(err, ErrNoDebugInfo) {
		t.Errorf("LineToPCs: %v", err)
	}
	if _, _, err := o.FunctionEntry("sum_to"); !errors.Is(err, ErrNoDebugInfo) {
		t.Errorf("FunctionEntry: %v", err)
	}
	if _, _, err := o.Global("counter"); !errors.Is(err, ErrNoDebugInfo) {
		t.Errorf("Global: %v", err)
	}
	if o.ehFrame == nil || len(o.ehFrame.fdes) == 0 {
		t.Errorf("no .eh_frame FDEs in the stripped program")
	}
	// printf@plt is still named (from .dynsym and .rela.plt).
	found := false
	for _, s := range o.syms {
		found = found || s.name == "printf@plt"
	}
	if !found {
		t.Errorf("no printf@plt symbol")
	}
}
