package integration

// The monitor commands that ask the stub about code: `monitor backtrace`,
// `info line`, `info symbol`, `info sharedlibrary` and `maps`, checked
// against what gdb itself answers for the same question in the same
// session. gdbserver has no such commands, so these run against gostub only.
//
// The programs are in ../testdata/monitor.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var monitorBuilds = struct {
	sync.Mutex
	m map[string]*compiled
}{m: map[string]*compiled{}}

// compileMonitor runs `gcc -g -O0 flags... -o DIR/out` in testdata/monitor
// (so gdb names files "deep.c") and returns the output path. DIR depends on
// key only, so that outputs sharing a key (a program and its library) sit
// together. Builds are cached for the run.
func compileMonitor(t testing.TB, key, out string, flags ...string) string {
	t.Helper()
	src := filepath.Join(moduleRoot, "testdata", "monitor")
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s", key, out)
	for _, f := range flags {
		fmt.Fprintf(h, "\x00%s", f)
		if strings.HasSuffix(f, ".c") {
			b, err := os.ReadFile(filepath.Join(src, f))
			if err != nil {
				t.Fatal(err)
			}
			h.Write(b)
		}
	}
	id := hex.EncodeToString(h.Sum(nil))[:16]
	monitorBuilds.Lock()
	c := monitorBuilds.m[id]
	if c == nil {
		c = &compiled{}
		monitorBuilds.m[id] = c
	}
	monitorBuilds.Unlock()
	c.once.Do(func() {
		kh := sha256.Sum256([]byte(key))
		dir := filepath.Join(workDir, "monitor", hex.EncodeToString(kh[:])[:12])
		if err := os.MkdirAll(dir, 0o755); err != nil {
			c.err = err
			return
		}
		path := filepath.Join(dir, out)
		args := append([]string{"-g", "-O0", "-o", path}, flags...)
		for i, a := range args {
			args[i] = strings.ReplaceAll(a, "$DIR", dir)
		}
		cmd := exec.Command("gcc", args...)
		cmd.Dir = src
		if b, err := cmd.CombinedOutput(); err != nil {
			c.err = fmt.Errorf("gcc %s: %v\n%s", strings.Join(args, " "), err, b)
			return
		}
		c.path = path
	})
	if c.err != nil {
		t.Fatal(c.err)
	}
	return c.path
}

func monitorMark(t testing.TB, src, mark string) int {
	t.Helper()
	return markLine(t, filepath.Join("monitor", src), mark)
}

// monSections splits a gdb transcript at `echo @@NAME@@\n` markers.
func monSections(out string) map[string]string {
	secs := map[string]string{}
	re := regexp.MustCompile(`(?m)^@@([A-Za-z0-9_-]+)@@$`)
	locs := re.FindAllStringSubmatchIndex(out, -1)
	for i, l := range locs {
		end := len(out)
		if i+1 < len(locs) {
			end = locs[i+1][0]
		}
		secs[out[l[2]:l[3]]] = strings.TrimPrefix(out[l[1]:end], "\n")
	}
	return secs
}

func monMarker(name string) string { return "echo @@" + name + "@@\\n" }

// monFrame is one frame line of a backtrace.
type monFrame struct {
	level     int
	pc        string // "" when not shown
	fn        string
	file      string
	line      int
	from      string
	signal    bool
	original  string
	argsShown string
}

var reMonFrame = regexp.MustCompile(`^#(\d+)\s+(?:(0x[0-9a-f]+) in )?(\S+) \((.*)\)(?: at (\S+):(\d+)| from (\S+))?$`)

// parseMonFrames reads the "#N ..." lines of a backtrace.
func parseMonFrames(t testing.TB, text string) []monFrame {
	t.Helper()
	var out []monFrame
	for _, l := range strings.Split(text, "\n") {
		if !strings.HasPrefix(l, "#") {
			continue
		}
		if m := regexp.MustCompile(`^#(\d+)\s+<signal handler called>$`).FindStringSubmatch(l); m != nil {
			n, _ := strconv.Atoi(m[1])
			out = append(out, monFrame{level: n, signal: true, original: l})
			continue
		}
		m := reMonFrame.FindStringSubmatch(l)
		if m == nil {
			t.Errorf("unparsed frame line %q", l)
			continue
		}
		n, _ := strconv.Atoi(m[1])
		line, _ := strconv.Atoi(m[6])
		out = append(out, monFrame{level: n, pc: m[2], fn: m[3], argsShown: m[4], file: m[5], line: line,
			from: strings.TrimPrefix(m[7], "target:"), original: l})
	}
	return out
}

// compareMonBacktraces checks `monitor backtrace` against gdb's bt frame by
// frame: level, function, file and line, the library, and the pc when gdb
// shows it (gostub must then show the same one, and only then); the
// arguments too where args says so (code built with -O0, whose arguments
// live at fixed places in the frame).
func compareMonBacktraces(t *testing.T, mon, bt string, minFrames int, args func(monFrame) bool) {
	t.Helper()
	got, want := parseMonFrames(t, mon), parseMonFrames(t, bt)
	if len(want) < minFrames {
		t.Fatalf("gdb's bt has %d frames, want at least %d:\n%s", len(want), minFrames, bt)
	}
	if len(got) != len(want) {
		t.Errorf("monitor backtrace has %d frames, gdb's bt %d", len(got), len(want))
	}
	bad := 0
	for i := 0; i < len(got) && i < len(want); i++ {
		g, w := got[i], want[i]
		if g.level != w.level || g.fn != w.fn || g.file != w.file || g.line != w.line || g.from != w.from ||
			g.pc != w.pc || g.signal != w.signal || args != nil && args(w) && g.argsShown != w.argsShown {
			t.Errorf("frame %d:\nmonitor: %s\ngdb:     %s", i, g.original, w.original)
			if bad++; bad > 5 {
				break
			}
		}
	}
	if strings.Contains(mon, "Backtrace stopped") {
		t.Errorf("monitor backtrace stopped early:\n%s", mon)
	}
}

func TestMonitorBacktrace(t *testing.T) {
	t.Parallel()
	for _, build := range []struct {
		name  string
		flags []string
	}{
		{"pie", []string{"deep.c"}},
		{"nopie", []string{"-fno-pie", "-no-pie", "deep.c"}},
	} {
		t.Run(build.name, func(t *testing.T) {
			prog := compileMonitor(t, "deep-"+build.name, "deep", build.flags...)
			forStubs(t, []StubKind{KindGostub}, func(t *testing.T, kind StubKind) string {
				s := StartStub(t, kind, prog, "100")
				out := runGDB(t, s, prog,
					"break leaf", "continue",
					monMarker("MON"), "monitor backtrace",
					monMarker("BT"), "bt",
					monMarker("END"), "kill")
				secs := monSections(out)
				compareMonBacktraces(t, secs["MON"], secs["BT"], 103, monAllFrames)
				return ""
			})
		})
	}
}

func monAllFrames(monFrame) bool { return true }

// TestMonitorBacktraceSignal unwinds from a signal handler through the
// signal trampoline into the C library (optimized: its arguments are not
// compared) and back to main.
func TestMonitorBacktraceSignal(t *testing.T) {
	t.Parallel()
	prog := compileMonitor(t, "sig", "sig", "sig.c")
	forStubs(t, []StubKind{KindGostub}, func(t *testing.T, kind StubKind) string {
		s := StartStub(t, kind, prog)
		out := runGDB(t, s, prog,
			"handle SIGUSR1 nostop noprint pass", "break inner", "continue",
			monMarker("MON"), "monitor backtrace",
			monMarker("BT"), "bt",
			monMarker("END"), "kill")
		secs := monSections(out)
		compareMonBacktraces(t, secs["MON"], secs["BT"], 5, func(f monFrame) bool { return f.file == "sig.c" })
		wantMatch(t, secs["MON"], `^#2  <signal handler called>$`)
		return ""
	})
}

// TestMonitorBacktraceThreads: the backtrace is the one of the thread gdb
// selected (Hg), or of the thread named, or of all threads.
func TestMonitorBacktraceThreads(t *testing.T) {
	t.Parallel()
	prog := compileMonitor(t, "workers", "workers", "-pthread", "workers.c")
	forStubs(t, []StubKind{KindGostub}, func(t *testing.T, kind StubKind) string {
		s := StartStub(t, kind, prog)
		out := runGDB(t, s, prog,
			"break stopme", "continue", "thread 2",
			monMarker("MON"), "monitor backtrace",
			monMarker("BT"), "bt",
			monMarker("ALL"), "monitor backtrace all",
			monMarker("ONE"), fmt.Sprintf("monitor backtrace %d", s.PID),
			monMarker("END"), "kill")
		secs := monSections(out)
		ours := func(f monFrame) bool { return f.file == "workers.c" }
		compareMonBacktraces(t, secs["MON"], secs["BT"], 3, ours)
		wantMatch(t, secs["MON"], ` in worker \(arg=0x0\) at workers.c:\d+$`)
		wantMatch(t, secs["ONE"], `^#0  stopme \(\) at workers.c:\d+$`, `^#1  0x[0-9a-f]{16} in main \(\) at workers.c:\d+$`)
		wantInOrder(t, secs["ALL"], fmt.Sprintf("\nThread %d (LWP %d):\n#0  stopme () at workers.c:", s.PID, s.PID),
			"\nThread ", " in worker (arg=0x0) at workers.c:")
		return ""
	})
}

// TestMonitorBacktraceArgs: arguments of every scalar kind print as gdb
// prints them.
func TestMonitorBacktraceArgs(t *testing.T) {
	t.Parallel()
	prog := compileMonitor(t, "args", "args", "args.c")
	forStubs(t, []StubKind{KindGostub}, func(t *testing.T, kind StubKind) string {
		s := StartStub(t, kind, prog)
		out := runGDB(t, s, prog,
			"break show", "continue",
			monMarker("MON"), "monitor backtrace",
			monMarker("BT"), "bt",
			monMarker("END"), "kill")
		secs := monSections(out)
		compareMonBacktraces(t, secs["MON"], secs["BT"], 2, monAllFrames)
		wantContains(t, secs["MON"], `c=65 'A', uc=200 '\310', b=true`, `col=GREEN, odd=7`, `pt=...`, ` <twice>)`)
		return ""
	})
}

// TestMonitorBacktraceLibrary unwinds through a shared library and back.
func TestMonitorBacktraceLibrary(t *testing.T) {
	t.Parallel()
	compileMonitor(t, "monlib", "libmonlib.so", "-shared", "-fPIC", "monlib.c")
	prog := compileMonitor(t, "monlib", "monmain", "monmain.c", "-L$DIR", "-lmonlib", "-Wl,-rpath,$DIR")
	forStubs(t, []StubKind{KindGostub}, func(t *testing.T, kind StubKind) string {
		s := StartStub(t, kind, prog)
		out := runGDB(t, s, prog,
			"break callback", "continue",
			monMarker("MON"), "monitor backtrace",
			monMarker("BT"), "bt",
			monMarker("MSYM"), "monitor info symbol lib_apply+4",
			monMarker("SYM"), "info symbol lib_apply+4",
			monMarker("MVAR"), "monitor info symbol &lib_total",
			monMarker("VAR"), "info symbol &lib_total",
			monMarker("MLINE"), "monitor info line lib_apply",
			monMarker("LINE"), "info line lib_apply",
			monMarker("MLIBS"), "monitor info sharedlibrary",
			monMarker("LIBS"), "info sharedlibrary",
			monMarker("END"), "kill")
		secs := monSections(out)
		compareMonBacktraces(t, secs["MON"], secs["BT"], 3, monAllFrames)
		wantMatch(t, secs["MON"], `^#1  0x[0-9a-f]{16} in lib_apply \(fn=0x[0-9a-f]+ <callback>, x=5\) at monlib.c:\d+$`)
		for _, k := range []string{"SYM", "VAR", "LINE", "LIBS"} {
			// gdb reads the files over vFile: "target:/lib/...".
			want := normalizeGDB(strings.ReplaceAll(secs[k], "target:/", "/"))
			if got := normalizeGDB(secs["M"+k]); got != want {
				t.Errorf("monitor %s differs from gdb (-gdb +monitor):\n%s", k, lineDiff(want, got))
			}
		}
		wantContains(t, secs["MSYM"], "lib_apply + 4 in section .text of "+filepath.Join(filepath.Dir(prog), "libmonlib.so"))
		return ""
	})
}

// TestMonitorInfoLineAndSymbol asks gdb and the stub the same questions.
func TestMonitorInfoLineAndSymbol(t *testing.T) {
	t.Parallel()
	leaf := monitorMark(t, "deep.c", "leaf")
	queries := []string{
		fmt.Sprintf("info line deep.c:%d", leaf),
		fmt.Sprintf("info line deep.c:%d", monitorMark(t, "deep.c", "nocode")),
		fmt.Sprintf("info line deep.c:%d", monitorMark(t, "deep.c", "recurse")),
		"info line deep.c:3",
		"info line deep.c:9999",
		"info line leaf",
		"info line twice",
		"info line deep.c:recurse",
		"info line main",
		"info line *$pc",
		"info line *leaf+14",
		"info line *0x10",
		"info line nosuch",
		"info line nosuch.c:1",
		"info symbol leaf",
		"info symbol leaf+11",
		"info symbol $pc",
		"info symbol &counter",
		"info symbol &scale",
		"info symbol 0x10",
		"info symbol puts",
		"info symbol clock_gettime",
		"info line printf",
		"info line clock_gettime",
		"info sharedlibrary",
	}
	for _, build := range []struct {
		name  string
		flags []string
	}{
		{"pie", []string{"deep.c"}},
		{"nopie", []string{"-fno-pie", "-no-pie", "deep.c"}},
	} {
		t.Run(build.name, func(t *testing.T) {
			prog := compileMonitor(t, "deep-"+build.name, "deep", build.flags...)
			forStubs(t, []StubKind{KindGostub}, func(t *testing.T, kind StubKind) string {
				s := StartStub(t, kind, prog, "3")
				cmds := []string{"break leaf", "continue"}
				for i, q := range queries {
					cmds = append(cmds, monMarker(fmt.Sprintf("G%d", i)), q, monMarker(fmt.Sprintf("M%d", i)), "monitor "+q)
				}
				cmds = append(cmds, monMarker("END"), "kill")
				out := runGDB(t, s, prog, cmds...)
				secs := monSections(out)
				for i, q := range queries {
					want, got := secs[fmt.Sprintf("G%d", i)], secs[fmt.Sprintf("M%d", i)]
					want = strings.ReplaceAll(want, "target:/", "/")
					if got != want || want == "" {
						t.Errorf("%s:\ngdb:     %q\nmonitor: %q", q, want, got)
					}
				}
				return ""
			})
		})
	}
}

// TestMonitorStripped: a program without symbols or debug info gets clear
// answers, and the session goes on.
func TestMonitorStripped(t *testing.T) {
	t.Parallel()
	prog := compileMonitor(t, "deep-stripped", "deep", "-s", "deep.c")
	forStubs(t, []StubKind{KindGostub}, func(t *testing.T, kind StubKind) string {
		s := StartStub(t, kind, prog, "3")
		out := runGDB(t, s, prog,
			monMarker("G1"), "info line deep.c:3", monMarker("M1"), "monitor info line deep.c:3",
			monMarker("G2"), "info line main", monMarker("M2"), "monitor info line main",
			monMarker("G3"), "info symbol 0x10", monMarker("M3"), "monitor info symbol 0x10",
			monMarker("G4"), "info symbol $pc", monMarker("M4"), "monitor info symbol $pc",
			monMarker("G5"), "info line *$pc", monMarker("M5"), "monitor info line *$pc",
			monMarker("BT"), "monitor backtrace",
			monMarker("BAD"), "monitor info symbol main", "monitor info line *", "monitor backtrace 1",
			"monitor info line deep.c:", "monitor info symbol",
			monMarker("RUN"), "continue",
			monMarker("END"))
		secs := monSections(out)
		for i := 1; i <= 5; i++ {
			want := strings.ReplaceAll(secs[fmt.Sprintf("G%d", i)], "target:/", "/")
			if got := secs[fmt.Sprintf("M%d", i)]; got != want || want == "" {
				t.Errorf("query %d:\ngdb:     %q\nmonitor: %q", i, want, got)
			}
		}
		wantMatch(t, secs["BT"], `^#0  0x[0-9a-f]{16} in _start \(\) from /\S*ld-linux\S*$`)
		bad := strings.Split(strings.TrimSpace(secs["BAD"]), "\n")
		wantLines := []string{
			`No symbol "main" in current context.`,
			"Argument required (an address).",
			"Unknown thread 1.",
			`malformed line specification "deep.c:"`,
			"Argument required (address).",
		}
		if strings.Join(bad, "\n") != strings.Join(wantLines, "\n") {
			t.Errorf("bad input answers:\n%s\nwant:\n%s", secs["BAD"], strings.Join(wantLines, "\n"))
		}
		wantContains(t, secs["RUN"], "exited normally")
		return ""
	})
}

// TestMonitorHelpAndMaps: the help lists the new commands, maps is the
// process's /proc/PID/maps.
func TestMonitorHelpAndMaps(t *testing.T) {
	t.Parallel()
	prog := compileMonitor(t, "deep-pie", "deep", "deep.c")
	forStubs(t, []StubKind{KindGostub}, func(t *testing.T, kind StubKind) string {
		s := StartStub(t, kind, prog, "3")
		out := runGDB(t, s, prog,
			monMarker("HELP"), "monitor help",
			monMarker("MAPS"), "monitor maps",
			monMarker("END"), "kill")
		secs := monSections(out)
		wantInOrder(t, secs["HELP"], "  exit\n    Quit GDBserver\n", "  info line FILE:LINE|FUNC|*ADDR\n",
			"  info symbol ADDR\n", "  backtrace [TID|all]\n", "  info sharedlibrary\n", "  maps\n")
		wantMatch(t, secs["MAPS"], `^[0-9a-f]+-[0-9a-f]+ r-xp [0-9a-f]+ \S+ \d+ +`+regexp.QuoteMeta(prog)+`$`, `\[stack\]$`)
		return ""
	})
}

// TestMonitorLLDB: LLDB shows the output of `process plugin packet monitor`.
func TestMonitorLLDB(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("lldb-16"); err != nil {
		t.Fatal("lldb-16 not installed: the tests need it (scripts/test.sh installs it)")
	}
	prog := compileMonitor(t, "deep-pie", "deep", "deep.c")
	leaf := monitorMark(t, "deep.c", "leaf")
	forStubs(t, []StubKind{KindGostub}, func(t *testing.T, kind StubKind) string {
		s := StartStub(t, kind, prog, "3")
		out := runMonitorLLDB(t, "gdb-remote "+s.Addr,
			fmt.Sprintf("process plugin packet monitor info line deep.c:%d", leaf),
			"breakpoint set -n leaf", "continue",
			"process plugin packet monitor backtrace",
			"process plugin packet monitor info symbol leaf",
			"kill")
		wantMatch(t, out,
			fmt.Sprintf(`(?m)^Line %d of "deep.c" starts at address 0x[0-9a-f]+ <leaf\+\d+> and ends at 0x[0-9a-f]+ <leaf\+\d+>\.$`, leaf),
			fmt.Sprintf(`(?m)^#0  leaf \(n=0\) at deep.c:%d$`, leaf),
			`(?m)^#5  0x[0-9a-f]{16} in main \(argc=2, argv=0x[0-9a-f]+\) at deep.c:\d+$`,
			`(?m)^leaf in section \.text of `+regexp.QuoteMeta(prog)+`$`)
		return ""
	})
}

// runMonitorLLDB runs lldb-16 in batch mode with cmds and returns its output.
func runMonitorLLDB(t *testing.T, cmds ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	args := []string{"-b", "--no-lldbinit"}
	for _, c := range cmds {
		args = append(args, "-o", c)
	}
	cmd := exec.CommandContext(ctx, "lldb-16", args...)
	cmd.Env = inferiorEnv()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = 2 * time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("lldb-16 timed out (%v):\n%s", err, out.String())
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("lldb-16 %s\noutput:\n%s", strings.Join(args, " "), out.String())
		}
	})
	return out.String()
}
