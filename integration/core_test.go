package integration

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// gdbScenario is one batch gdb session against a stub that launched src
// (built with cflags) with args.
type gdbScenario struct {
	name   string
	src    string
	cflags []string
	args   []string
	cmds   []string
	// check asserts on gdb's output; the stub has exited when it runs.
	check func(t *testing.T, out string, s *Stub)
	// compare: the normalized output must equal gdbserver's.
	compare bool
}

// gdbTrouble is what gdb prints when the conversation with the stub broke.
var gdbTrouble = []string{
	"Remote communication error",
	"Remote connection closed",
	"Ignoring packet error",
	"Remote replied unexpectedly",
	"Couldn't get registers",
	"Cannot access memory at address 0x7ff", // the stack, where all reads must work
	"Could not read registers",
	"internal-error",
}

func runScenario(t *testing.T, sc gdbScenario) {
	t.Parallel()
	prog := compile(t, sc.src, sc.cflags...)
	forEachStub(t, func(t *testing.T, kind StubKind) string {
		s := StartStub(t, kind, prog, sc.args...)
		out := runGDB(t, s, prog, sc.cmds...)
		// --once: whatever ended the session (exit, kill, disconnect, or gdb
		// killing the process when it quits) ends the stub too.
		s.WaitExit(t, stubExitTimeout)
		wantNotContains(t, out, gdbTrouble...)
		if sc.check != nil {
			sc.check(t, out, s)
		}
		if sc.compare {
			return normalizeGDB(out)
		}
		return ""
	})
}

// TestGDB is the core issue's scenarios: what a user types in gdb against a
// stub that launched the program.
func TestGDB(t *testing.T) {
	t.Parallel()
	var (
		loopBody    = markLine(t, "loop.c", "loop-body")
		afterLoop   = markLine(t, "loop.c", "after-loop")
		addBody     = markLine(t, "loop.c", "add-body")
		squareBody  = markLine(t, "vars.c", "square-body")
		callSquare  = markLine(t, "vars.c", "call-square")
		callScale   = markLine(t, "vars.c", "call-scale")
		afterCalls  = markLine(t, "vars.c", "after-calls")
		crashLine   = markLine(t, "segv.c", "crash")
		breakMain   = []string{"break main", "continue"}
		breakCalls  = []string{fmt.Sprintf("break vars.c:%d", afterCalls), "continue"}
		hexRe       = `0x[0-9a-f]+`
		mainLoopArg = `main \(argc=2, argv=` + hexRe + `\) at loop\.c:`
	)

	scenarios := []gdbScenario{
		{
			name: "break-main-continue", src: "loop.c", args: []string{"3"},
			cmds: breakMain,
			check: func(t *testing.T, out string, s *Stub) {
				wantMatch(t, out,
					`^Breakpoint 1 at `+hexRe+`: file loop\.c, line \d+\.$`,
					`^Breakpoint 1, `+mainLoopArg+`\d+$`,
					`^\d+\t    int n = \(argc > 1\) \? atoi\(argv\[1\]\) : 5;$`)
			},
			compare: true,
		},
		{
			name: "next", src: "loop.c", args: []string{"3"},
			cmds: append(breakMain, "next", "next", "next"),
			check: func(t *testing.T, out string, s *Stub) {
				wantInOrder(t, out,
					"Breakpoint 1, main",
					"\t    int n = (argc > 1)",
					"\t    int total = 0;",
					"\t    char buf[32] = \"hello-stack\";",
					"\t    total = add(total, 100);")
				// next steps over add(): the program must not stop inside it.
				wantNotContains(t, out, "add (a=")
			},
			compare: true,
		},
		{
			name: "step-into-function", src: "vars.c",
			cmds: []string{fmt.Sprintf("break vars.c:%d", callSquare), "continue", "step"},
			check: func(t *testing.T, out string, s *Stub) {
				wantMatch(t, out,
					`^square \(v=3\) at vars\.c:`+strconv.Itoa(squareBody)+`$`,
					`^`+strconv.Itoa(squareBody)+`\t    int r = v \* v;`)
			},
			compare: true,
		},
		{
			name: "bt", src: "loop.c", args: []string{"3"},
			cmds: []string{"break add", "continue", "bt"},
			check: func(t *testing.T, out string, s *Stub) {
				wantMatch(t, out,
					`^Breakpoint 1, add \(a=0, b=100\) at loop\.c:`+strconv.Itoa(addBody)+`$`,
					`^#0  add \(a=0, b=100\) at loop\.c:`+strconv.Itoa(addBody)+`$`,
					`^#1  `+hexRe+` in `+mainLoopArg+`\d+$`)
				wantNotContains(t, out, "#2 ")
			},
			compare: true,
		},
		{
			name: "finish", src: "vars.c",
			cmds: []string{
				fmt.Sprintf("break vars.c:%d", callSquare), "continue", "step", "finish",
				"next", "step", "finish", // into scale(): a double, returned in xmm0
			},
			check: func(t *testing.T, out string, s *Stub) {
				// (batch gdb does not print "Run till exit from ...")
				wantInOrder(t, out,
					"square (v=3) at vars.c:",
					fmt.Sprintf(" in main () at vars.c:%d", callSquare),
					"Value returned is $1 = 9",
					"scale (v=2.25, factor=3) at vars.c:",
					fmt.Sprintf(" in main () at vars.c:%d", callScale),
					"Value returned is $2 = 6.75")
			},
			compare: true,
		},
		{
			name: "info-registers", src: "vars.c",
			cmds: append(breakCalls,
				"info registers rip", "info registers eflags",
				"info registers xmm0", "info registers ymm0",
				"p $xmm0.v2_double[0]", "p $ymm0.v4_double", "p $pc == $rip"),
			check: func(t *testing.T, out string, s *Stub) {
				wantMatch(t, out,
					`^rip +`+hexRe+` +`+hexRe+` <main\+\d+>$`,
					`^eflags +`+hexRe+` +\[ ([A-Z]+ )*\]$`,
					`^xmm0 +\{.*v4_float = \{[^{}]+\}, v2_double = \{[^{}]+\}.*, uint128 = `+hexRe+`\}$`,
					`^ymm0 +\{.*v8_float = \{[^{}]+\}, v4_double = \{[^{}]+\}.*, v2_int128 = \{`+hexRe+`, `+hexRe+`\}\}$`,
					`^\$1 = 6\.75$`, // scale()'s result is still in xmm0
					`^\$2 = \{6\.75, 0, 0, 0\}$`,
					`^\$3 = 1$`)
			},
			compare: true,
		},
		{
			name: "print-set-variables", src: "vars.c",
			cmds: append(breakCalls,
				"p x", "set var x = 5", "p x",
				"p big", "p f", "p d", "p name", "p pt", "p vec", "p sq", "p sc", "p global_counter",
				"set var f = 2.5", "set var d = -0.125", "set var name[0] = 'G'",
				"set var pt.y = -4", "set var vec[2] = 7.5", "set var big = -77",
				"set var global_counter = 100",
				"p f", "p d", "p name", "p pt", "p vec", "p big", "p global_counter",
				"continue"),
			check: func(t *testing.T, out string, s *Stub) {
				wantInOrder(t, out,
					"$1 = 3", "$2 = 5",
					"$3 = 1234567890123", "$4 = 1.5", "$5 = 2.25",
					`$6 = "gostub\000`, "$7 = {x = 10, y = 20}", "$8 = {1, 2, 3, 4}",
					"$9 = 9", "$10 = 6.75", "$11 = 7",
					"$12 = 2.5", "$13 = -0.125", `$14 = "Gostub\000`,
					"$15 = {x = 10, y = -4}", "$16 = {1, 2, 7.5, 4}", "$17 = -77", "$18 = 100",
					"[Inferior 1 (process ")
				// The writes reached the process: it prints what it computed.
				if want := "vars: x=5 big=-77 f=2.5 d=-0.125 name=Gostub pt=10,-4 vec=1,2,7.5,4 sq=9 sc=6.75 global=109"; !strings.Contains(s.Output(), want) {
					t.Errorf("program output lacks %q", want)
				}
			},
			compare: true,
		},
		{
			name: "set-register", src: "loop.c", args: []string{"3"},
			cmds: append(breakMain,
				"set $rax = 0x1234", "p/x $rax", "info registers rax",
				"set var $rcx = 0x1122334455667788", "p/x $rcx", "p/x $rax",
				"set $eflags = 0x247", "p $eflags"),
			check: func(t *testing.T, out string, s *Stub) {
				wantMatch(t, out,
					`^\$1 = 0x1234$`,
					`^rax +0x1234 +4660$`,
					`^\$2 = 0x1122334455667788$`,
					`^\$3 = 0x1234$`,
					`^\$4 = \[ CF PF ZF IF \]$`)
			},
			compare: true,
		},
		{
			name: "examine-stack", src: "loop.c", args: []string{"3"},
			cmds: append(breakMain, "p $sp", "x/16xb $sp", "x/2xg $sp"),
			check: func(t *testing.T, out string, s *Stub) {
				checkStackDump(t, out)
			},
			// The stack holds pointers into the environment, which differs
			// with the way each stub starts the program.
			compare: false,
		},
		{
			name: "breakpoint-in-loop", src: "loop.c", args: []string{"8"},
			cmds: []string{
				fmt.Sprintf("break loop.c:%d", loopBody),
				"continue", "p i", "continue", "p i", "continue", "p i",
				"continue", "p i", "continue", "p i", "p total",
				"delete", "continue",
			},
			check: func(t *testing.T, out string, s *Stub) {
				const hit = "Breakpoint 1, main (argc=2, argv="
				if n := strings.Count(out, hit); n != 5 {
					t.Errorf("breakpoint reported %d times, want 5", n)
				}
				var wants []string
				for i := 0; i < 5; i++ {
					wants = append(wants, hit, fmt.Sprintf("$%d = %d", i+1, i))
				}
				// total = 100 + 0+1+2+3 before the 5th call; 100+28 = 128 -> exit 0.
				wants = append(wants, "$6 = 106", "[Inferior 1 (process ", "exited normally]")
				wantInOrder(t, out, wants...)
			},
			compare: true,
		},
		{
			name: "software-watchpoint", src: "watch.c",
			cmds: append(breakMain,
				"set can-use-hw-watchpoints 0", "watch gvar",
				"continue", "continue", "delete", "continue"),
			check: func(t *testing.T, out string, s *Stub) {
				wantInOrder(t, out,
					"Watchpoint 2: gvar",
					"Old value = 0", "New value = 1", "bump (i=1) at watch.c:",
					"Old value = 1", "New value = 3", "bump (i=2) at watch.c:",
					"exited normally]")
				wantNotContains(t, out, "Hardware watchpoint")
			},
			compare: true,
		},
		{
			name: "tbreak-until", src: "loop.c", args: []string{"5"},
			cmds: []string{
				"tbreak main", "continue",
				fmt.Sprintf("until %d", afterLoop),
				"p i", "p total", "info breakpoints", "continue",
			},
			check: func(t *testing.T, out string, s *Stub) {
				wantInOrder(t, out,
					"Temporary breakpoint 1 at ",
					"Temporary breakpoint 1, main (argc=2, argv=",
					fmt.Sprintf(") at loop.c:%d\n%d\t    printf(\"loop: total=", afterLoop, afterLoop),
					"$1 = 5", "$2 = 110",
					"No breakpoints or watchpoints.",
					"exited with code 0156]") // 110, in octal
			},
			compare: true,
		},
		{
			name: "exit-code-3", src: "exitcode.c", args: []string{"3"},
			cmds: []string{"continue"},
			check: func(t *testing.T, out string, s *Stub) {
				wantContains(t, out, fmt.Sprintf("[Inferior 1 (process %d) exited with code 03]", s.PID))
			},
			compare: true,
		},
		{
			name: "exit-code-42", src: "exitcode.c",
			cmds: []string{"break finish_with", "continue", "finish", "continue"},
			check: func(t *testing.T, out string, s *Stub) {
				wantInOrder(t, out,
					"Breakpoint 1, finish_with (code=42) at exitcode.c:",
					"Value returned is $1 = 42",
					fmt.Sprintf("[Inferior 1 (process %d) exited with code 052]", s.PID))
			},
			compare: true,
		},
		{
			name: "sigsegv", src: "segv.c",
			cmds: []string{"continue", "bt", "p before_crash", "continue", "info registers rip"},
			check: func(t *testing.T, out string, s *Stub) {
				wantInOrder(t, out,
					"Program received signal SIGSEGV, Segmentation fault.",
					" in crash (p=0x0) at segv.c:"+strconv.Itoa(crashLine),
					strconv.Itoa(crashLine)+"\t    *p = 42;",
					"#0  ", " in crash (p=0x0) at segv.c:",
					"#1  ", " in main () at segv.c:",
					"$1 = 1",
					"Program terminated with signal SIGSEGV, Segmentation fault.",
					"The program no longer exists.",
					"The program has no registers now.")
				wantNotContains(t, out, "exited normally", "exited with code")
			},
			compare: true,
		},
		{
			name: "kill", src: "loop.c", args: []string{"3"},
			cmds: []string{"break add", "continue", "kill", "info inferiors"},
			check: func(t *testing.T, out string, s *Stub) {
				wantInOrder(t, out,
					"Breakpoint 1, add (a=0, b=100)",
					fmt.Sprintf("[Inferior 1 (process %d) killed]", s.PID),
					"<null>")
				if err := waitGone(s.PID, 3*time.Second); err != nil {
					t.Errorf("inferior %d after kill: %v", s.PID, err)
				}
			},
			compare: true,
		},
		{
			// INVENTORY §1: --once, launched, client goes away while stopped:
			// the stub kills the inferior and exits.
			name: "disconnect-once", src: "loop.c", args: []string{"3"},
			cmds: append(breakMain, "disconnect", "info inferiors"),
			check: func(t *testing.T, out string, s *Stub) {
				wantContains(t, out, "Breakpoint 1, main (argc=2", "<null>")
				wantNotContains(t, out, "killed]", "detached]", "exited")
				if err := waitGone(s.PID, 3*time.Second); err != nil {
					t.Errorf("inferior %d after disconnect: %v (gdbserver --once kills it)", s.PID, err)
				}
				if strings.Contains(s.Output(), "loop: total=") {
					t.Errorf("the inferior ran to its end after the disconnect; it should have been killed")
				}
			},
			compare: true,
		},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) { runScenario(t, sc) })
	}
}

var (
	reXB = regexp.MustCompile(`(?m)^(0x[0-9a-f]+):((?:\t0x[0-9a-f]{2})+)$`)
	reXG = regexp.MustCompile(`(?m)^(0x[0-9a-f]+):\t(0x[0-9a-f]{16})\t(0x[0-9a-f]{16})$`)
	reSP = regexp.MustCompile(`(?m)^\$1 = \(void \*\) (0x[0-9a-f]+)$`)
)

// checkStackDump checks `p $sp`, `x/16xb $sp`, `x/2xg $sp`: two lines of 8
// bytes starting at $sp, and the same bytes as the two 64-bit words.
func checkStackDump(t *testing.T, out string) {
	t.Helper()
	sp := reSP.FindStringSubmatch(out)
	if sp == nil {
		t.Fatalf("no `$1 = (void *) 0x...` for p $sp")
	}
	lines := reXB.FindAllStringSubmatch(out, -1)
	if len(lines) != 2 {
		t.Fatalf("x/16xb printed %d lines of bytes, want 2", len(lines))
	}
	if lines[0][1] != sp[1] {
		t.Errorf("x/16xb starts at %s, want $sp = %s", lines[0][1], sp[1])
	}
	var got []byte
	for _, l := range lines {
		for _, f := range strings.Fields(l[2]) {
			v, err := strconv.ParseUint(f, 0, 8)
			if err != nil {
				t.Fatalf("byte %q: %v", f, err)
			}
			got = append(got, byte(v))
		}
	}
	if len(got) != 16 {
		t.Fatalf("x/16xb showed %d bytes, want 16", len(got))
	}
	g := reXG.FindStringSubmatch(out)
	if g == nil {
		t.Fatalf("no x/2xg line")
	}
	want := make([]byte, 16)
	for i, w := range g[2:4] {
		v, _ := strconv.ParseUint(w, 0, 64)
		binary.LittleEndian.PutUint64(want[8*i:], v)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("x/16xb bytes % x differ from x/2xg words % x", got, want)
	}
}

// TestAttachDetach: the test starts forever (non-PIE), the stub attaches to
// it, gdb looks around (and possibly stops at a breakpoint), detaches; the
// process must run on, untraced, with its text exactly as in the ELF file.
func TestAttachDetach(t *testing.T) {
	t.Parallel()
	prog := compile(t, "forever.c", "-fno-pie", "-no-pie")
	textAddr, text := elfSection(t, prog, ".text")
	beatsAddr := elfSymbol(t, prog, "beats")
	beatLine := markLine(t, "forever.c", "beat")

	cases := []struct {
		name  string
		cmds  []string
		wants []string // in order; %[1]d is the pid
	}{
		{
			name:  "bt-detach",
			cmds:  []string{"bt", "detach"},
			wants: []string{" in main () at forever.c:", "[Inferior 1 (process %[1]d) detached]"},
		},
		{
			name: "breakpoint-detach",
			cmds: []string{"break beat", "continue", "bt", "p beats > 0", "continue", "detach"},
			wants: []string{
				"Breakpoint 1, beat () at forever.c:" + strconv.Itoa(beatLine),
				"#0  beat () at forever.c:", "#1  ", " in main () at forever.c:",
				"$1 = 1",
				"Breakpoint 1, beat () at forever.c:",
				"[Inferior 1 (process %[1]d) detached]",
			},
		},
		{
			// No explicit detach: qAttached says "attached", so gdb detaches
			// when it quits instead of killing.
			name:  "quit-detaches",
			cmds:  []string{"break beat", "continue", "info inferiors"},
			wants: []string{"Breakpoint 1, beat () at forever.c:", "process %[1]d"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			forEachStub(t, func(t *testing.T, kind StubKind) string {
				p := startProgram(t, "forever: pid=", prog)
				s := AttachStub(t, kind, p.PID)
				if s.PID != p.PID {
					t.Errorf("%s printed pid %d (want %q with pid %d)", kind, s.PID, "Attached; pid = N", p.PID)
				}
				out := runGDB(t, s, prog, c.cmds...)
				var wants []string
				for _, w := range c.wants {
					if strings.Contains(w, "%[1]d") {
						w = fmt.Sprintf(w, p.PID)
					}
					wants = append(wants, w)
				}
				wantInOrder(t, out, wants...)
				wantNotContains(t, out, gdbTrouble...)
				wantNotContains(t, out, "killed]")
				s.WaitExit(t, stubExitTimeout)
				checkRunsUntouched(t, p.PID, textAddr, text, beatsAddr)
				return ""
			})
		})
	}
}

// checkRunsUntouched: pid is alive, not stopped or traced, makes progress
// (its `beats` counter grows), and its .text equals the ELF file's.
func checkRunsUntouched(t *testing.T, pid int, textAddr uint64, text []byte, beatsAddr uint64) {
	t.Helper()
	if err := syscall.Kill(pid, 0); err != nil {
		t.Fatalf("process %d after detach: %v", pid, err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		state, _, ok := procStat(pid)
		if !ok {
			t.Fatalf("process %d disappeared after detach", pid)
		}
		if state == 'Z' {
			t.Fatalf("process %d died after detach", pid)
		}
		if state != 't' && state != 'T' {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %d still in state %c 3s after detach", pid, state)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if tracer := procTracer(pid); tracer != 0 {
		t.Errorf("process %d still traced by %d after detach", pid, tracer)
	}
	b1, err := readMem(pid, beatsAddr, 8)
	if err != nil {
		t.Fatalf("read beats: %v", err)
	}
	time.Sleep(300 * time.Millisecond)
	b2, err := readMem(pid, beatsAddr, 8)
	if err != nil {
		t.Fatalf("read beats: %v", err)
	}
	if v1, v2 := binary.LittleEndian.Uint64(b1), binary.LittleEndian.Uint64(b2); v2 <= v1 {
		t.Errorf("process %d makes no progress after detach: beats %d then %d", pid, v1, v2)
	}
	mem, err := readMem(pid, textAddr, len(text))
	if err != nil {
		t.Fatalf("read .text of %d: %v", pid, err)
	}
	if !bytes.Equal(mem, text) {
		for i := range mem {
			if mem[i] != text[i] {
				t.Errorf(".text of process %d modified: first difference at %#x: % x, file has % x",
					pid, textAddr+uint64(i), mem[i:min(i+8, len(mem))], text[i:min(i+8, len(text))])
				break
			}
		}
	}
}

// procTracer returns the TracerPid of pid (0: not traced).
func procTracer(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "TracerPid:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return n
		}
	}
	return 0
}
