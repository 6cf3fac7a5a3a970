package linux

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gostub/gostub/target"
)

// Tests of the monitor queries on live processes built from
// ../../testdata/monitor.

func monSrcDir(t testing.TB) string {
	t.Helper()
	d, err := filepath.Abs("../../testdata/monitor")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// buildMon runs `gcc -g args...` in testdata/monitor, output named out in
// the test's temporary directory.
func buildMon(t testing.TB, out string, args ...string) string {
	t.Helper()
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("no gcc")
	}
	path := filepath.Join(t.TempDir(), out)
	cmd := exec.Command("gcc", append([]string{"-g", "-o", path}, args...)...)
	cmd.Dir = monSrcDir(t)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("gcc %v: %v\n%s", args, err, b)
	}
	return path
}

func monMarkLine(t testing.TB, src, mark string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(monSrcDir(t), src))
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, "@mark:"+mark+" ") {
			return i + 1
		}
	}
	t.Fatalf("%s: no @mark:%s", src, mark)
	return 0
}

// monLaunchTo starts exe stopped at the first instruction of line of src and
// returns it with its main thread; it is killed at cleanup.
func monLaunchTo(t testing.TB, exe, src string, line int, args ...string) (*Process, target.ThreadID) {
	t.Helper()
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer devnull.Close()
	p, err := Launch(LaunchOptions{Path: exe, Args: args, Files: []*os.File{devnull, devnull, devnull}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Kill() })
	main := target.ThreadID{PID: p.PID(), TID: p.PID()}
	infos, err := p.InfoLine(target.LineSpec{File: src, Line: line})
	if err != nil || len(infos) != 1 {
		t.Fatalf("InfoLine(%s:%d) = %+v, %v", src, line, infos, err)
	}
	addr := infos[0].Start.Addr
	if err := p.InsertBreakpoint(target.BreakSoftware, addr, 1); err != nil {
		t.Fatal(err)
	}
	ev, err := p.Resume([]target.Action{{Thread: main, Kind: target.ActionContinue}})
	if err != nil || ev.Kind != target.StopSignalled || ev.Signal != int(unix.SIGTRAP) {
		t.Fatalf("Resume = %+v, %v", ev, err)
	}
	if err := p.RemoveBreakpoint(target.BreakSoftware, addr, 1); err != nil {
		t.Fatal(err)
	}
	return p, main
}

func TestMonitorBacktraceDeep(t *testing.T) {
	for _, c := range []struct {
		name  string
		flags []string
	}{{"pie", nil}, {"nopie", []string{"-fno-pie", "-no-pie"}}} {
		t.Run(c.name, func(t *testing.T) {
			exe := buildMon(t, "deep", append([]string{"-O0"}, append(c.flags, "deep.c")...)...)
			leaf := monMarkLine(t, "deep.c", "leaf")
			p, main := monLaunchTo(t, exe, "deep.c", leaf, "100")
			bt, err := p.Backtrace(main, 0)
			if err != nil {
				t.Fatal(err)
			}
			if bt.Stopped != "" || bt.PtrSize != 8 {
				t.Errorf("stopped %q, ptr size %d", bt.Stopped, bt.PtrSize)
			}
			want := []string{fmt.Sprintf("leaf deep.c:%d", leaf), fmt.Sprintf("recurse deep.c:%d", monMarkLine(t, "deep.c", "base"))}
			for range 100 {
				want = append(want, fmt.Sprintf("recurse deep.c:%d", monMarkLine(t, "deep.c", "recurse")))
			}
			want = append(want, fmt.Sprintf("main deep.c:%d", monMarkLine(t, "deep.c", "main-call")))
			if len(bt.Frames) != len(want) {
				t.Fatalf("%d frames, want %d: %+v", len(bt.Frames), len(want), bt.Frames)
			}
			for i, f := range bt.Frames {
				if got := fmt.Sprintf("%s %s:%d", f.Function, f.File, f.Line); got != want[i] {
					t.Errorf("frame %d: %s, want %s", i, got, want[i])
				}
				if f.ShowPC != (i > 0) {
					t.Errorf("frame %d: ShowPC %v", i, f.ShowPC)
				}
				if i > 0 && i < len(want)-1 {
					if want := []target.FrameArg{{Name: "n", Value: fmt.Sprint(i - 1)}}; !slices.Equal(f.Args, want) {
						t.Errorf("frame %d: args %v, want %v", i, f.Args, want)
					}
				}
			}
			// A limit keeps the innermost frames.
			if bt, err := p.Backtrace(main, 5); err != nil || len(bt.Frames) != 5 {
				t.Errorf("Backtrace(5) = %d frames, %v", len(bt.Frames), err)
			}
			if _, err := p.Backtrace(target.ThreadID{PID: p.PID(), TID: 1}, 0); err == nil {
				t.Errorf("Backtrace of a thread that is not there succeeded")
			}
		})
	}
}

func TestMonitorQueries(t *testing.T) {
	exe := buildMon(t, "deep", "-O0", "deep.c")
	leaf := monMarkLine(t, "deep.c", "leaf")
	p, main := monLaunchTo(t, exe, "deep.c", leaf, "3")

	li, err := p.InfoLine(target.LineSpec{File: "deep.c", Line: leaf})
	if err != nil || len(li) != 1 || li[0].File != "deep.c" || li[0].Line != leaf || li[0].Start.Symbol != "leaf" ||
		li[0].End.Addr <= li[0].Start.Addr {
		t.Errorf("InfoLine(deep.c:leaf) = %+v, %v", li, err)
	}
	nocode := monMarkLine(t, "deep.c", "nocode")
	if li, err := p.InfoLine(target.LineSpec{File: "deep.c", Line: nocode}); err != nil || len(li) != 1 ||
		li[0].Start != li[0].End || li[0].Start.Symbol != "recurse" || li[0].Start.Offset != 0 {
		t.Errorf("InfoLine(nocode) = %+v, %v", li, err)
	}
	if _, err := p.InfoLine(target.LineSpec{File: "deep.c", Line: 5000}); err == nil || err.Error() != `Line number 5000 is out of range for "deep.c".` {
		t.Errorf("InfoLine(deep.c:5000): %v", err)
	}
	if _, err := p.InfoLine(target.LineSpec{File: "nosuch.c", Line: 1}); err == nil || err.Error() != "No source file named nosuch.c." {
		t.Errorf("InfoLine(nosuch.c:1): %v", err)
	}
	if _, err := p.InfoLine(target.LineSpec{Function: "nosuch"}); err == nil || err.Error() != `Function "nosuch" not defined.` {
		t.Errorf("InfoLine(nosuch): %v", err)
	}
	if _, err := p.InfoLine(target.LineSpec{File: "deep.c", Function: "puts"}); err == nil || err.Error() != `Function "puts" not defined in "deep.c".` {
		t.Errorf("InfoLine(deep.c:puts): %v", err)
	}
	fn, err := p.InfoLine(target.LineSpec{Function: "leaf"})
	if err != nil || len(fn) != 1 || fn[0].Start.Symbol != "leaf" || fn[0].Start.Offset != 0 || fn[0].Line != leaf-1 {
		t.Errorf("InfoLine(leaf) = %+v, %v", fn, err)
	}
	if li, err := p.InfoLine(target.LineSpec{File: "deep.c", Function: "leaf"}); err != nil || len(li) != 1 || li[0] != fn[0] {
		t.Errorf("InfoLine(deep.c:leaf) = %+v, %v", li, err)
	}
	if li, err := p.InfoLine(target.LineSpec{IsAddr: true, Addr: 0x10}); err != nil || len(li) != 1 || li[0].File != "" || li[0].Start.Addr != 0x10 {
		t.Errorf("InfoLine(*0x10) = %+v, %v", li, err)
	}

	leafAddr, err := p.LookupSymbol("leaf")
	if err != nil || leafAddr != fn[0].Start.Addr {
		t.Errorf("LookupSymbol(leaf) = %#x, %v", leafAddr, err)
	}
	si, err := p.InfoSymbol(leafAddr + 3)
	if err != nil || len(si) != 1 || si[0] != (target.SymbolInfo{Symbol: "leaf", Offset: 3, Section: ".text", Object: p.execPath}) {
		t.Errorf("InfoSymbol(leaf+3) = %+v, %v", si, err)
	}
	counter, err := p.LookupSymbol("counter")
	if err != nil {
		t.Fatal(err)
	}
	if si, err := p.InfoSymbol(counter); err != nil || len(si) != 1 || si[0].Symbol != "counter" || si[0].Section != ".bss" {
		t.Errorf("InfoSymbol(&counter) = %+v, %v", si, err)
	}
	if si, err := p.InfoSymbol(0x10); err != nil || len(si) != 0 {
		t.Errorf("InfoSymbol(0x10) = %+v, %v", si, err)
	}
	puts, err := p.LookupSymbol("puts")
	if err != nil {
		t.Fatal(err)
	}
	if si, err := p.InfoSymbol(puts); err != nil || len(si) != 1 || si[0].Symbol != "puts" || !strings.Contains(si[0].Object, "libc.so") {
		t.Errorf("InfoSymbol(puts) = %+v, %v", si, err)
	}
	if _, err := p.LookupSymbol("no_such_symbol"); err == nil {
		t.Errorf("LookupSymbol(no_such_symbol) succeeded")
	}

	libs, err := p.SharedLibraries()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, l := range libs {
		names = append(names, filepath.Base(l.Name))
		if !l.SymsRead || l.From == 0 || l.To <= l.From {
			t.Errorf("library %+v", l)
		}
	}
	if len(libs) != 2 || !strings.HasPrefix(names[0], "ld-linux") || names[1] != "libc.so.6" {
		t.Errorf("libraries %v", names)
	}
	maps, err := p.Maps()
	if err != nil || !strings.Contains(maps, exe) || !strings.Contains(maps, "[stack]") {
		t.Errorf("Maps = %q, %v", maps, err)
	}

	// The cache keeps one index per file.
	symCache.Lock()
	a, err1 := cachedObject(exe, "")
	b, err2 := cachedObject(exe, fmt.Sprintf("/proc/%d/exe", p.PID()))
	symCache.Unlock()
	if err1 != nil || err2 != nil || a != b {
		t.Errorf("the program was indexed twice (%v, %v)", err1, err2)
	}
	_ = main
}

// TestMonitorObjectCache: a file that changes is indexed again.
func TestMonitorObjectCache(t *testing.T) {
	exe := buildMon(t, "deep", "-O0", "deep.c")
	b, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	cp := filepath.Join(t.TempDir(), "deep")
	if err := os.WriteFile(cp, b, 0o755); err != nil {
		t.Fatal(err)
	}
	symCache.Lock()
	defer symCache.Unlock()
	first, err := cachedObject(cp, "")
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := cachedObject(cp, ""); again != first {
		t.Errorf("the same file was indexed twice")
	}
	later := time.Now().Add(time.Minute)
	if err := os.Chtimes(cp, later, later); err != nil {
		t.Fatal(err)
	}
	if changed, _ := cachedObject(cp, ""); changed == first {
		t.Errorf("a changed file kept its old index")
	}
	if _, err := cachedObject(filepath.Join(t.TempDir(), "missing"), ""); err == nil {
		t.Errorf("a missing file was indexed")
	}
}

func TestMonitorInlinedFrames(t *testing.T) {
	exe := buildMon(t, "deep-O2", "-O2", "deep.c")
	p, main := monLaunchTo(t, exe, "deep.c", monMarkLine(t, "deep.c", "twice"), "3")
	bt, err := p.Backtrace(main, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Stopped where the inlined twice() begins, gdb shows leaf at the
	// line of the call, without an address.
	if len(bt.Frames) < 2 || bt.Frames[0].Function != "leaf" || bt.Frames[0].Line != monMarkLine(t, "deep.c", "leaf") ||
		bt.Frames[0].ShowPC || bt.Frames[len(bt.Frames)-1].Function != "main" {
		t.Errorf("frames %+v", bt.Frames)
	}
}

func TestMonitorArgs(t *testing.T) {
	exe := buildMon(t, "args", "-O0", "args.c")
	p, main := monLaunchTo(t, exe, "args.c", monMarkLine(t, "args.c", "show"))
	bt, err := p.Backtrace(main, 0)
	if err != nil || len(bt.Frames) != 2 {
		t.Fatalf("Backtrace = %+v, %v", bt, err)
	}
	var got []string
	for _, a := range bt.Frames[0].Args {
		got = append(got, a.Name+"="+a.Value)
	}
	want := []string{`c=65 'A'`, `uc=200 '\\310'`, "b=true", "s=-3", "l=-1234567890123", "ul=42", "f=1.5",
		"d=0.10000000000000001", "col=GREEN", "odd=7", `str=0x[0-9a-f]+ "hello"`,
		`esc=0x[0-9a-f]+ "tab\\there \\"q\\" \\001"`, "null=0x0", `pt=\.\.\.`, "ip=0x7ff[0-9a-f]+", "fn=0x[0-9a-f]+ <twice>"}
	if len(got) != len(want) {
		t.Fatalf("args %q", got)
	}
	for i := range want {
		if !regexp.MustCompile("^" + want[i] + "$").MatchString(got[i]) {
			t.Errorf("arg %d = %s, want %s", i, got[i], want[i])
		}
	}
	if bt.Frames[1].Function != "main" || len(bt.Frames[1].Args) != 0 {
		t.Errorf("frame 1: %+v", bt.Frames[1])
	}
}

// TestMonitorAfterExec: after an exec the queries describe the new program.
func TestMonitorAfterExec(t *testing.T) {
	deep := buildMon(t, "deep", "-O0", "deep.c")
	execer := buildMon(t, "execer", "-O0", "execer.c")
	p, main := monLaunchTo(t, execer, "execer.c", monMarkLine(t, "execer.c", "exec"), deep, "3")
	if _, err := p.LookupSymbol("execer_marker"); err != nil {
		t.Fatalf("before exec: %v", err)
	}
	if bt, err := p.Backtrace(main, 0); err != nil || len(bt.Frames) != 1 || bt.Frames[0].Function != "main" ||
		bt.Frames[0].File != "execer.c" {
		t.Fatalf("before exec: %+v, %v", bt, err)
	}
	ev, err := p.Resume([]target.Action{{Thread: main, Kind: target.ActionContinue}})
	if err != nil || ev.Reason != target.ReasonExec {
		t.Fatalf("Resume = %+v, %v", ev, err)
	}
	if _, err := p.LookupSymbol("execer_marker"); err == nil {
		t.Errorf("execer_marker still found after the exec")
	}
	li, err := p.InfoLine(target.LineSpec{File: "deep.c", Line: monMarkLine(t, "deep.c", "leaf")})
	if err != nil || len(li) != 1 || li[0].Start.Symbol != "leaf" {
		t.Fatalf("InfoLine after exec = %+v, %v", li, err)
	}
	if err := p.InsertBreakpoint(target.BreakSoftware, li[0].Start.Addr, 1); err != nil {
		t.Fatal(err)
	}
	if ev, err := p.Resume([]target.Action{{Thread: main, Kind: target.ActionContinue}}); err != nil || ev.Reason != target.ReasonSWBreak {
		t.Fatalf("Resume = %+v, %v", ev, err)
	}
	bt, err := p.Backtrace(main, 0)
	if err != nil || len(bt.Frames) != 6 || bt.Frames[0].Function != "leaf" || bt.Frames[5].Function != "main" ||
		bt.Frames[5].File != "deep.c" {
		t.Errorf("Backtrace after exec = %+v, %v", bt, err)
	}
}

func TestMonitorStripped(t *testing.T) {
	exe := buildMon(t, "deep-stripped", "-O0", "-s", "deep.c")
	devnull, _ := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	defer devnull.Close()
	p, err := Launch(LaunchOptions{Path: exe, Files: []*os.File{devnull, devnull, devnull}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Kill()
	main := target.ThreadID{PID: p.PID(), TID: p.PID()}
	if _, err := p.InfoLine(target.LineSpec{File: "deep.c", Line: 3}); err == nil || err.Error() != "No source file named deep.c." {
		t.Errorf("InfoLine(deep.c:3): %v", err)
	}
	if _, err := p.InfoLine(target.LineSpec{Function: "leaf"}); err == nil || err.Error() != `Function "leaf" not defined.` {
		t.Errorf("InfoLine(leaf): %v", err)
	}
	bt, err := p.Backtrace(main, 0)
	if err != nil || len(bt.Frames) == 0 || bt.Frames[0].Function != "_start" || !bt.Frames[0].ShowPC {
		t.Errorf("Backtrace = %+v, %v", bt, err)
	}
	if _, err := p.LookupSymbol("main"); err == nil {
		t.Errorf("LookupSymbol(main) succeeded in a stripped program")
	}
}

// BenchmarkMonitorBacktrace measures `monitor backtrace` on a thread 100
// calls deep (103 frames) in the stub: registers, the address space from
// the cache, unwinding with memory reads, source lines.
//
// The benchmark goroutine is the tracer, as the server's serving thread is
// (RunOnCallingThread): no goroutine hop per ptrace operation.
func BenchmarkMonitorBacktrace(b *testing.B) {
	RunOnCallingThread()
	exe := buildMon(b, "deep", "-O0", "deep.c")
	p, main := monLaunchTo(b, exe, "deep.c", monMarkLine(b, "deep.c", "leaf"), "100")
	// The first query indexes the objects (the C library's debug info
	// takes a while); what is measured is every later one.
	if _, err := p.Backtrace(main, 0); err != nil {
		b.Fatal(err)
	}
	n, iters := 0, 0
	cpu0 := threadCPU()
	for b.Loop() {
		bt, err := p.Backtrace(main, 0)
		if err != nil {
			b.Fatal(err)
		}
		n = len(bt.Frames)
		iters++
	}
	b.ReportMetric(float64(n), "frames")
	// CPU time of the serving thread, which a loaded machine does not
	// inflate as it does wall time.
	b.ReportMetric(float64(threadCPU()-cpu0)/float64(iters), "cpu-ns/op")
}

// threadCPU is the CPU time (user and system) of the calling thread, in ns.
func threadCPU() int64 {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_THREAD, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
