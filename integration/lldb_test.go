package integration

// LLDB 16 against gostub, and against lldb-server-16 as the reference that
// validates each expectation (GNU gdbserver cannot serve LLDB: it leaves the
// PC after an int3 for clients that did not offer swbreak+, INVENTORY §7).
//
// GOSTUB_TEST_STUBS selects as for the gdb tests: "gdbserver" means the
// reference stub, which for LLDB is lldb-server; "gostub" runs gostub only.
// Tests fail when lldb-16 or lldb-server-16 is missing (CI installs both);
// only GOSTUB_TEST_STUBS narrows which stubs run.
//
//	runLLDB(t, stub, prog, cmds...)   lldb-16 -b: gdb-remote, then cmds
//	startLLDBPipe(t, prog)            lldb-16 driven over stdin (async: process interrupt)

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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

const (
	lldbPath       = "lldb-16"
	lldbServerPath = "lldb-server-16"
	lldbTimeout    = 30 * time.Second

	kindLLDBServer = "lldb-server"
	kindGostub     = string(KindGostub)
)

var (
	withLLDBServer = []string{kindLLDBServer, kindGostub}
	lldbGostubOnly = []string{kindGostub}
)

func needLLDB(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath(lldbPath); err != nil {
		t.Fatalf("%s not installed: the tests need it (scripts/test.sh installs it)", lldbPath)
	}
}

// lldbStub is a stub LLDB connects to: gostub (through the harness) or
// lldb-server.
type lldbStub struct {
	kind string
	addr string // 127.0.0.1:PORT
	stub *Stub  // gostub

	cmd     *exec.Cmd // lldb-server
	logPath string
	done    chan struct{}
}

// Output is what the stub and its inferior printed so far (with
// lldb-server the inferior's output reaches LLDB instead).
func (s *lldbStub) Output() string {
	if s.stub != nil {
		return s.stub.Output()
	}
	b, _ := os.ReadFile(s.logPath)
	return string(b)
}

// waitExit waits for the stub to end on its own.
func (s *lldbStub) waitExit(t *testing.T) {
	t.Helper()
	if s.stub != nil {
		s.stub.WaitExit(t, stubExitTimeout)
		return
	}
	select {
	case <-s.done:
	case <-time.After(stubExitTimeout):
		t.Errorf("lldb-server still running %v after it should have exited", stubExitTimeout)
	}
}

// forLLDB runs fn once per selected stub kind, as subtests.
func forLLDB(t *testing.T, kinds []string, fn func(t *testing.T, kind string)) {
	t.Helper()
	needLLDB(t)
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			switch kind {
			case kindLLDBServer:
				if !stubSelected(KindGDBServer) {
					t.Skip("reference stubs not selected (GOSTUB_TEST_STUBS)")
				}
				if _, err := exec.LookPath(lldbServerPath); err != nil {
					t.Fatalf("%s not installed: it comes with lldb-16", lldbServerPath)
				}
			case kindGostub:
				if !stubSelected(KindGostub) {
					t.Skip("gostub not selected (GOSTUB_TEST_STUBS)")
				}
			}
			fn(t, kind)
		})
	}
}

// startLLDBStub starts kind debugging prog args (launched), or attached to
// pid when prog is "" .
func startLLDBStub(t *testing.T, kind string, pid int, prog string, args ...string) *lldbStub {
	t.Helper()
	if kind == kindGostub {
		var st *Stub
		if prog == "" {
			st = AttachStub(t, KindGostub, pid)
		} else {
			st = StartStub(t, KindGostub, prog, args...)
		}
		return &lldbStub{kind: kind, addr: fmt.Sprintf("127.0.0.1:%d", st.Port), stub: st}
	}
	return startLLDBServer(t, pid, prog, args...)
}

// startLLDBServer runs `lldb-server gdbserver --pipe FD 127.0.0.1:0 -- prog
// args` (or --attach PID) and reads the port it listens on from the pipe.
func startLLDBServer(t *testing.T, pid int, prog string, args ...string) *lldbStub {
	t.Helper()
	logSeq.Lock()
	logSeq.n++
	n := logSeq.n
	logSeq.Unlock()
	s := &lldbStub{kind: kindLLDBServer, logPath: filepath.Join(workDir, fmt.Sprintf("stub-%03d-lldb-server.log", n)),
		done: make(chan struct{})}
	f, err := os.Create(s.logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	cmdArgs := []string{"gdbserver", "--pipe", "3", "127.0.0.1:0"}
	if prog == "" {
		cmdArgs = append(cmdArgs, "--attach", strconv.Itoa(pid))
	} else {
		cmdArgs = append(append(cmdArgs, "--", prog), args...)
	}
	s.cmd = exec.Command(lldbServerPath, cmdArgs...)
	s.cmd.Stdout, s.cmd.Stderr = f, f
	s.cmd.ExtraFiles = []*os.File{w}
	s.cmd.Env = inferiorEnv()
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		w.Close()
		t.Fatalf("start %s: %v", lldbServerPath, err)
	}
	w.Close()
	go func() { _ = s.cmd.Wait(); close(s.done) }()
	t.Cleanup(func() {
		select {
		case <-s.done:
		case <-time.After(cleanupGrace):
			_ = s.cmd.Process.Kill()
			<-s.done
		}
		if m := regexp.MustCompile(`as process (\d+)`).FindStringSubmatch(s.Output()); m != nil {
			ipid, _ := strconv.Atoi(m[1])
			if err := waitGone(ipid, 3*time.Second); err != nil {
				t.Errorf("inferior %d of lldb-server: %v", ipid, err)
				_ = syscall.Kill(ipid, syscall.SIGKILL)
			}
		}
		if t.Failed() {
			t.Logf("lldb-server %s, output:\n%s", strings.Join(cmdArgs, " "), s.Output())
		}
	})
	portc := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(io.LimitReader(r, 32))
		portc <- string(bytes.TrimRight(b, "\x00"))
	}()
	select {
	case port := <-portc:
		if _, err := strconv.Atoi(port); err != nil {
			t.Fatalf("lldb-server did not report its port (%q); output:\n%s", port, s.Output())
		}
		s.addr = "127.0.0.1:" + port
	case <-time.After(stubStartTimeout):
		t.Fatalf("lldb-server did not report its port; output:\n%s", s.Output())
	}
	return s
}

func lldbEnv() []string {
	return append(inferiorEnv(), "LLDB_HISTORY_FILE=/dev/null")
}

// lldbArgs is a batch session running cmds on prog.
func lldbArgs(prog string, cmds ...string) []string {
	args := []string{"-x", "-b", "-o", "settings set auto-confirm true"}
	for _, c := range cmds {
		args = append(args, "-o", c)
	}
	return append(args, prog)
}

// runLLDB runs `lldb-16 -b` on prog: `gdb-remote ADDR`, then cmds. LLDB
// stops at the first command that fails, which the assertions then see.
func runLLDB(t *testing.T, s *lldbStub, prog string, cmds ...string) string {
	t.Helper()
	return runLLDBRaw(t, prog, append([]string{"gdb-remote " + s.addr}, cmds...)...)
}

func runLLDBRaw(t *testing.T, prog string, cmds ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), lldbTimeout)
	defer cancel()
	args := lldbArgs(prog, cmds...)
	cmd := exec.CommandContext(ctx, lldbPath, args...)
	cmd.Env = lldbEnv()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = 2 * time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s %s\nlldb output:\n%s", lldbPath, strings.Join(args, " "), out.String())
		}
	})
	if ctx.Err() != nil {
		t.Fatalf("lldb timed out after %v (%v)", lldbTimeout, err)
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("lldb: %v", err)
	}
	return out.String()
}

// lldbPipe is an LLDB session driven over stdin, as a user types: commands
// return at once and the process runs in the background (what `process
// interrupt` needs; batch mode waits for every stop).
type lldbPipe struct {
	t     *testing.T
	cmd   *exec.Cmd
	stdin io.WriteCloser
	mu    sync.Mutex
	out   bytes.Buffer
	mark  int
	done  chan struct{}
}

func (l *lldbPipe) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.out.Write(p)
}

func startLLDBPipe(t *testing.T, prog string) *lldbPipe {
	t.Helper()
	l := &lldbPipe{t: t, done: make(chan struct{})}
	l.cmd = exec.Command(lldbPath, "-x", prog)
	l.cmd.Env = lldbEnv()
	l.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	l.cmd.Stdout, l.cmd.Stderr = l, l
	var err error
	if l.stdin, err = l.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := l.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = l.cmd.Wait(); close(l.done) }()
	t.Cleanup(func() {
		l.stdin.Close()
		select {
		case <-l.done:
		case <-time.After(5 * time.Second):
			t.Errorf("lldb did not end after its input closed")
			_ = l.cmd.Process.Kill()
			<-l.done
		}
		if t.Failed() {
			t.Logf("lldb session:\n%s", l.output())
		}
	})
	return l
}

func (l *lldbPipe) output() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.out.String()
}

func (l *lldbPipe) send(cmd string) {
	l.t.Helper()
	if _, err := io.WriteString(l.stdin, cmd+"\n"); err != nil {
		l.t.Fatalf("lldb stdin: %v", err)
	}
}

// expect waits until the output since the last expectation holds want,
// and returns that stretch of output.
func (l *lldbPipe) expect(want string) string {
	l.t.Helper()
	deadline := time.Now().Add(lldbTimeout)
	for {
		l.mu.Lock()
		rest := l.out.String()[l.mark:]
		if i := strings.Index(rest, want); i >= 0 {
			l.mark += i + len(want)
			l.mu.Unlock()
			return rest[:i+len(want)]
		}
		l.mu.Unlock()
		if time.Now().After(deadline) {
			l.t.Fatalf("lldb did not print %q within %v", want, lldbTimeout)
		}
		select {
		case <-l.done:
			if !strings.Contains(l.output()[l.mark:], want) {
				l.t.Fatalf("lldb ended without printing %q", want)
			}
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// ---------------------------------------------------------------------------

// TestLLDBSession: the commands of the reference trace (trace-lldb-*-basic):
// breakpoint by name, backtrace, variables, registers, stepping, memory,
// expressions writing a variable, continue to exit.
func TestLLDBSession(t *testing.T) {
	t.Parallel()
	prog := compile(t, "loop.c")
	add := markLine(t, "loop.c", "add-body")
	forLLDB(t, withLLDBServer, func(t *testing.T, kind string) {
		t.Parallel()
		s := startLLDBStub(t, kind, 0, prog, "3")
		out := runLLDB(t, s, prog,
			"breakpoint set --name add",
			"process continue",
			"thread backtrace",
			"frame variable",
			"register read rip rflags xmm0",
			"thread step-over",
			"thread step-in",
			"thread step-out",
			"memory read --format s &buf",
			"memory read --size 4 --format x --count 1 &counter",
			"expression counter = 5",
			"expression counter",
			"image list",
			"breakpoint delete --force",
			"process continue",
		)
		wantInOrder(t, out,
			"Breakpoint 1: where = loop`add + ",
			"stop reason = breakpoint 1.1", fmt.Sprintf("loop`add(a=0, b=100) at loop.c:%d", add),
			"(lldb) thread backtrace", "frame #0: ", "loop`add(a=0, b=100)", "frame #1: ", "loop`main(argc=2",
			"libc.so.6`__libc_start_call_main",
			"(lldb) frame variable", "(int) a = 0", "(int) b = 100",
			"(lldb) register read", "rip = 0x", "loop`add + ", "rflags = 0x", "xmm0 = {0x",
			"stop reason = step over", fmt.Sprintf("at loop.c:%d", add+1),
			"stop reason = step in", fmt.Sprintf("at loop.c:%d", add+2),
			"stop reason = step out", "Return value: (int) $0 = 100", "loop`main(argc=2",
			`"hello-stack"`,
			": 0x00000064",
			"(lldb) expression counter = 5\n(int) $", " = 5\n", "(lldb) expression counter\n(int) $", " = 5\n",
			"(lldb) image list", "ld-linux-x86-64.so.2", "libc.so.6",
			"exited with status = 103 (0x00000067)",
		)
		wantNotContains(t, out, "error:", "signal SIGTRAP\n    frame #0: 0x0000555")
		s.waitExit(t)
		// counter = 5, then 100 + 101 + 103 from the loop: the write reached the process.
		if all := out + s.Output(); !strings.Contains(all, "counter=309") {
			t.Errorf("program output lacks counter=309")
		}
	})
}

// TestLLDBBreakpointFileLine: a breakpoint by file and line, hit twice.
func TestLLDBBreakpointFileLine(t *testing.T) {
	t.Parallel()
	prog := compile(t, "loop.c")
	line := markLine(t, "loop.c", "loop-body")
	forLLDB(t, withLLDBServer, func(t *testing.T, kind string) {
		t.Parallel()
		s := startLLDBStub(t, kind, 0, prog, "3")
		out := runLLDB(t, s, prog,
			fmt.Sprintf("breakpoint set --file loop.c --line %d", line),
			"process continue",
			"frame variable i total",
			"process continue",
			"frame variable i",
			"breakpoint disable 1",
			"process continue",
		)
		wantInOrder(t, out,
			"Breakpoint 1: where = loop`main + ", fmt.Sprintf("at loop.c:%d", line),
			"stop reason = breakpoint 1.1", "loop`main(argc=2, argv=0x", fmt.Sprintf(") at loop.c:%d", line),
			"(int) i = 0", "(int) total = 100",
			"stop reason = breakpoint 1.1", "(int) i = 1",
			"exited with status = 103 (0x00000067)",
		)
		wantNotContains(t, out, "error:")
		s.waitExit(t)
	})
}

// TestLLDBExpressionCall: an expression that calls a function of the
// program (LLDB JIT-compiles it into memory from _M, saves the registers,
// runs the call and restores them), then the program goes on unharmed.
func TestLLDBExpressionCall(t *testing.T) {
	t.Parallel()
	prog := compile(t, "loop.c")
	line := markLine(t, "loop.c", "loop-body")
	forLLDB(t, withLLDBServer, func(t *testing.T, kind string) {
		t.Parallel()
		s := startLLDBStub(t, kind, 0, prog, "3")
		out := runLLDB(t, s, prog,
			fmt.Sprintf("breakpoint set --file loop.c --line %d", line),
			"process continue",
			"expression add(2, 3)",
			"expression counter",
			"frame variable i",
			"breakpoint delete --force",
			"process continue",
		)
		wantInOrder(t, out,
			"stop reason = breakpoint 1.1",
			"(int) $0 = 5", "(int) $1 = 105", "(int) i = 0",
			"exited with status = 103 (0x00000067)")
		wantNotContains(t, out, "error:")
		s.waitExit(t)
		if all := out + s.Output(); !strings.Contains(all, "counter=409") {
			t.Errorf("program output lacks counter=409 (100 + 5 from the call + 304 from the loop)")
		}
	})
}

// TestLLDBRegisters: LLDB's names (rflags, eflags as its alias, eax, ymm0
// built from xmm0 and ymm0h), every register available, writes through P.
func TestLLDBRegisters(t *testing.T) {
	t.Parallel()
	prog := compile(t, "vars.c")
	forLLDB(t, lldbGostubOnly, func(t *testing.T, kind string) {
		t.Parallel()
		s := startLLDBStub(t, kind, 0, prog)
		out := runLLDB(t, s, prog,
			"breakpoint set --name scale",
			"process continue",
			"register read",
			"register read eflags",
			"register read --all",
			"register write rax 0x1234",
			"register write xmm1 \"{0x01 0x02 0x03 0x04 0x05 0x06 0x07 0x08 0x09 0x0a 0x0b 0x0c 0x0d 0x0e 0x0f 0x10}\"",
			"register read rax eax xmm1",
			"process kill",
		)
		gpr := out
		if i := strings.Index(gpr, "(lldb) register read\n"); i >= 0 {
			gpr = gpr[i:]
		}
		if i := strings.Index(gpr, "(lldb) register read eflags"); i >= 0 {
			gpr = gpr[:i]
		}
		wantInOrder(t, gpr, "General Purpose Registers:", "rax = 0x", "rip = 0x", "rflags = 0x", "gs = 0x")
		wantNotContains(t, gpr, "xmm0", "st0", "eflags =")
		wantInOrder(t, out,
			"(lldb) register read eflags", "rflags = 0x",
			"(lldb) register read --all", "Floating Point Registers:", "st0 = {", "xmm15 = {",
			"eax = 0x", "mm0 = 0x", "ymm0 = {",
			"(lldb) register read rax eax xmm1", "rax = 0x0000000000001234", "eax = 0x00001234",
			"xmm1 = {0x01 0x02 0x03 0x04 0x05 0x06 0x07 0x08 0x09 0x0a 0x0b 0x0c 0x0d 0x0e 0x0f 0x10}",
			"exited with status = 9")
		// scale(double v, int factor): v arrives in xmm0 = 2.25.
		if !regexp.MustCompile(`xmm0 = \{0x00 0x00 0x00 0x00 0x00 0x00 0x02 0x40 `).MatchString(out) {
			t.Errorf("xmm0 does not hold 2.25 (the double argument of scale)")
		}
		wantNotContains(t, out, "unavailable", "error:")
	})
}

// TestLLDBWatchpoint: a hardware write watchpoint (qWatchpointSupportInfo,
// Z2, watch: in the stop reply) with LLDB's old and new values.
func TestLLDBWatchpoint(t *testing.T) {
	t.Parallel()
	prog := compile(t, "watch.c")
	forLLDB(t, withLLDBServer, func(t *testing.T, kind string) {
		t.Parallel()
		s := startLLDBStub(t, kind, 0, prog)
		out := runLLDB(t, s, prog,
			"breakpoint set --name main",
			"process continue",
			"watchpoint set variable gvar",
			"process continue",
			"process continue",
			"frame variable i",
		)
		wantInOrder(t, out,
			"Watchpoint created: Watchpoint 1: addr = 0x", "size = 4 state = enabled type = w",
			"Watchpoint 1 hit:", "old value: 0", "new value: 1", "stop reason = watchpoint 1", "watch`bump(i=1)",
			"Watchpoint 1 hit:", "old value: 1", "new value: 3", "stop reason = watchpoint 1", "watch`bump(i=2)",
			"(int) i = 2")
		wantNotContains(t, out, "error:")
	})
}

// TestLLDBThreads: a breakpoint hit in worker threads, threads listed with
// their stop reasons, backtraces of all threads.
func TestLLDBThreads(t *testing.T) {
	t.Parallel()
	prog := compile(t, "threads.c", "-pthread")
	forLLDB(t, withLLDBServer, func(t *testing.T, kind string) {
		t.Parallel()
		s := startLLDBStub(t, kind, 0, prog, "3")
		out := runLLDB(t, s, prog,
			"breakpoint set --name work",
			"process continue",
			"thread list",
			"thread backtrace all",
			"process continue",
			"thread list",
			"breakpoint delete --force",
			"process continue",
		)
		wantInOrder(t, out,
			"stop reason = breakpoint 1.1", "threads`work(id=",
			"(lldb) thread list", "thread #1: tid = ", "thread #2: tid = ", "stop reason = breakpoint 1.1",
			"(lldb) thread backtrace all", "threads`thread_fn(arg=",
			"stop reason = breakpoint 1.1",
			"exited with status = 0 (0x00000000)")
		wantNotContains(t, out, "error:")
		lists := regexp.MustCompile(`(?s)\(lldb\) thread list\n(.*?)\(lldb\)`).FindAllStringSubmatch(out, -1)
		for _, l := range lists {
			if n := strings.Count(l[1], "  thread #") + strings.Count(l[1], "* thread #"); n < 2 {
				t.Errorf("thread list shows %d threads:\n%s", n, l[1])
			}
		}
		s.waitExit(t)
		if all := out + s.Output(); !strings.Contains(all, "result[3]=9003") {
			t.Errorf("program output lacks result[3]=9003")
		}
	})
}

// TestLLDBInterrupt: `process interrupt` while the program runs, a look
// around, and `process kill`.
func TestLLDBInterrupt(t *testing.T) {
	t.Parallel()
	prog := compile(t, "forever.c")
	forLLDB(t, withLLDBServer, func(t *testing.T, kind string) {
		t.Parallel()
		s := startLLDBStub(t, kind, 0, prog)
		l := startLLDBPipe(t, prog)
		l.send("gdb-remote " + s.addr)
		l.expect("stop reason = ")
		for round := 1; round <= 2; round++ {
			l.send("process continue")
			l.expect("resuming")
			// Interrupt main's loop, not LLDB's handling of the libraries
			// loading: wait for the program's first words.
			deadline := time.Now().Add(lldbTimeout)
			for !strings.Contains(s.Output()+l.output(), "forever: pid=") {
				if time.Now().After(deadline) {
					t.Fatalf("the program did not start")
				}
				time.Sleep(10 * time.Millisecond)
			}
			time.Sleep(100 * time.Millisecond)
			l.send("process interrupt")
			// gostub reports the interrupt as SIGINT, lldb-server as SIGSTOP.
			l.expect("stop reason = signal SIG")
			l.send("thread backtrace")
			l.expect("forever`main at forever.c:")
		}
		l.send("expression beats > 0")
		l.expect("(bool) $0 = true")
		l.send("process kill")
		l.expect("exited with status = 9 (0x00000009)")
		l.send("quit")
		s.waitExit(t)
	})
}

// TestLLDBSignals: a signal stop shown with its name (SIGUSR1: the
// numbering LLDB reads must be the one gostub writes), passed to the
// program's handler on continue, then passed without stopping.
func TestLLDBSignals(t *testing.T) {
	t.Parallel()
	prog := compile(t, "signals.c")
	forLLDB(t, withLLDBServer, func(t *testing.T, kind string) {
		t.Parallel()
		s := startLLDBStub(t, kind, 0, prog)
		l := startLLDBPipe(t, prog)
		l.send("gdb-remote " + s.addr)
		l.expect("stop reason = ")
		l.send("process continue")
		l.expect("stop reason = signal SIGUSR1")
		l.send("process continue")
		l.expect("stop reason = signal SIGUSR1")
		l.send("process handle --pass true --stop false --notify false SIGUSR1")
		l.send("process continue")
		l.expect("stop reason = signal SIGSEGV")
		l.send("process kill")
		l.expect("exited with status = 9")
		l.send("quit")
		s.waitExit(t)
		if all := l.output() + s.Output(); !strings.Contains(all, "usr1_count=3") {
			t.Errorf("the handler did not see 3 SIGUSR1")
		}
	})
}

// TestLLDBDetach: LLDB attached through the stub, at a breakpoint, then
// `process detach`: the program runs on, untraced, its text intact.
func TestLLDBDetach(t *testing.T) {
	t.Parallel()
	prog := compile(t, "forever.c", "-fno-pie", "-no-pie")
	textAddr, text := elfSection(t, prog, ".text")
	beatsAddr := elfSymbol(t, prog, "beats")
	forLLDB(t, withLLDBServer, func(t *testing.T, kind string) {
		t.Parallel()
		p := startProgram(t, "forever: pid=", prog)
		s := startLLDBStub(t, kind, p.PID, "")
		out := runLLDB(t, s, prog,
			"breakpoint set --name beat",
			"process continue",
			"thread backtrace",
			"expression beats > 0",
			"breakpoint delete --force",
			"process detach",
		)
		wantInOrder(t, out,
			"stop reason = breakpoint 1.1", "forever`beat at forever.c:",
			"forever`main at forever.c:",
			"(bool) $0 = true",
			fmt.Sprintf("Process %d detached", p.PID))
		wantNotContains(t, out, "error:")
		s.waitExit(t)
		checkRunsUntouched(t, p.PID, textAddr, text, beatsAddr)
	})
}

// TestLLDBExitAndCrash: exit codes, a crash with LLDB's description of the
// fault, and death by the signal when the program is let go.
func TestLLDBExitAndCrash(t *testing.T) {
	t.Parallel()
	exitProg := compile(t, "exitcode.c")
	segv := compile(t, "segv.c")
	crash := markLine(t, "segv.c", "crash")
	forLLDB(t, withLLDBServer, func(t *testing.T, kind string) {
		t.Parallel()
		t.Run("exit", func(t *testing.T) {
			t.Parallel()
			s := startLLDBStub(t, kind, 0, exitProg, "7")
			out := runLLDB(t, s, exitProg, "process continue", "process status")
			wantInOrder(t, out, "exited with status = 7 (0x00000007)", "(lldb) process status", "exited with status = 7")
			s.waitExit(t)
		})
		t.Run("crash", func(t *testing.T) {
			t.Parallel()
			s := startLLDBStub(t, kind, 0, segv)
			// LLDB's batch mode ends at a crash (and kills the program).
			out := runLLDB(t, s, segv, "process continue")
			wantInOrder(t, out,
				"stop reason = signal SIGSEGV: invalid address (fault address: 0x0)",
				fmt.Sprintf("segv`crash(p=0x0000000000000000) at segv.c:%d", crash))
		})
		t.Run("killed-by-signal", func(t *testing.T) {
			t.Parallel()
			s := startLLDBStub(t, kind, 0, segv)
			out := runLLDB(t, s, segv,
				"process handle --pass true --stop false --notify false SIGSEGV",
				"process continue")
			wantInOrder(t, out, "exited with status = 11 (0x0000000b)")
			s.waitExit(t)
		})
	})
}

// TestLLDBKill: `process kill` answers (gdbserver sends nothing back) and
// the program and the stub are gone.
func TestLLDBKill(t *testing.T) {
	t.Parallel()
	prog := compile(t, "loop.c")
	forLLDB(t, withLLDBServer, func(t *testing.T, kind string) {
		t.Parallel()
		s := startLLDBStub(t, kind, 0, prog, "0")
		out := runLLDB(t, s, prog, "breakpoint set --name add", "process continue", "process kill")
		wantInOrder(t, out, "stop reason = breakpoint 1.1", "exited with status = 9 (0x00000009)")
		wantNotContains(t, out, "failed to send k packet", "error:")
		s.waitExit(t)
	})
}

// TestLLDBProcessConnect: `process connect -p gdb-remote connect://...`,
// the other way in.
func TestLLDBProcessConnect(t *testing.T) {
	t.Parallel()
	prog := compile(t, "loop.c")
	forLLDB(t, withLLDBServer, func(t *testing.T, kind string) {
		t.Parallel()
		s := startLLDBStub(t, kind, 0, prog, "3")
		out := runLLDBRaw(t, prog,
			"process connect -p gdb-remote connect://"+s.addr,
			"breakpoint set --name add",
			"process continue",
			"frame variable b",
			"process continue",
			"frame variable b",
			"breakpoint delete --force",
			"process continue")
		wantInOrder(t, out, "stop reason = breakpoint 1.1", "(int) b = 100", "(int) b = 0",
			"exited with status = 103 (0x00000067)")
		wantNotContains(t, out, "error:")
		s.waitExit(t)
	})
}

// ---------------------------------------------------------------------------
// The LLDB packets on the wire (gostub only: the answers are compared with
// /proc rather than with another stub).

// lldbRawSession opens a raw connection to gostub the way LLDB does.
func lldbRawSession(t *testing.T, src string, args ...string) (*Stub, *rspConn) {
	t.Helper()
	if !stubSelected(KindGostub) {
		t.Skip("gostub not selected (GOSTUB_TEST_STUBS)")
	}
	s, c := rspSession(t, KindGostub, src, args...)
	if r := c.Request("QStartNoAckMode"); r != "OK" {
		t.Fatalf("QStartNoAckMode -> %q", r)
	}
	c.Ack = false
	c.Request("qSupported:xmlRegisters=i386,arm,mips,arc;multiprocess+;fork-events+;vfork-events+")
	// OK, or empty while gostub keeps gdb's signal numbers for LLDB (see
	// lldbSignalsWired in rsp/lldb.go).
	if r := c.Request("QThreadSuffixSupported"); r != "OK" && r != "" {
		t.Fatalf("QThreadSuffixSupported -> %q", r)
	}
	for _, p := range []string{"QListThreadsInStopReply", "QEnableErrorStrings"} {
		if r := c.Request(p); r != "OK" {
			t.Fatalf("%s -> %q, want OK", p, r)
		}
	}
	return s, c
}

func kvFields(reply string) map[string]string {
	m := map[string]string{}
	for _, f := range strings.Split(strings.TrimSuffix(reply, ";"), ";") {
		if k, v, ok := strings.Cut(f, ":"); ok {
			m[k] = v
		}
	}
	return m
}

func hexOf(s string) string { return hex.EncodeToString([]byte(s)) }

func TestLLDBPackets(t *testing.T) {
	t.Parallel()
	s, c := lldbRawSession(t, "loop.c", "3")
	pid := s.PID

	host := kvFields(c.Request("qHostInfo"))
	if host["triple"] != hexOf("x86_64-pc-linux-gnu") || host["ptrsize"] != "8" || host["endian"] != "little" {
		t.Errorf("qHostInfo -> %v", host)
	}
	pi := kvFields(c.Request("qProcessInfo"))
	if pi["pid"] != strconv.FormatInt(int64(pid), 16) || pi["parent-pid"] == "" || pi["triple"] != hexOf("x86_64-pc-linux-gnu") {
		t.Errorf("qProcessInfo -> %v (pid %d)", pi, pid)
	}
	cwd, _ := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid))
	if r := c.Request("qGetWorkingDir"); r != hexOf(cwd) {
		t.Errorf("qGetWorkingDir -> %q, want hex of %q", r, cwd)
	}
	// qfProcessInfo finds our program among the processes named loop.
	found := false
	for r := c.Request("qfProcessInfo:name:" + hexOf("loop") + ";name_match:equals;all_users:1;"); strings.HasPrefix(r, "pid:"); r = c.Request("qsProcessInfo") {
		if kvFields(r)["pid"] == strconv.Itoa(pid) {
			found = true
		}
	}
	if !found {
		t.Errorf("qfProcessInfo did not list process %d", pid)
	}

	stop := c.Request("?")
	rip := stopRegister(t, stop, "10")
	if want := fmt.Sprintf("threads:%x;thread-pcs:%016x;", pid, rip); !strings.Contains(stop, want) {
		t.Errorf("stop reply %q lacks %q", abbrev(stop), want)
	}
	var threads []map[string]any
	if err := json.Unmarshal([]byte(rspUnescape(c.Request("jThreadsInfo"))), &threads); err != nil || len(threads) != 1 ||
		threads[0]["tid"] != float64(pid) {
		t.Errorf("jThreadsInfo -> %v (%v)", threads, err)
	}
	if r := c.Request("jThreadExtendedInfo:{}"); r != "" {
		t.Errorf("jThreadExtendedInfo:{} -> %q, want empty", r)
	}

	// Memory regions agree with /proc/PID/maps.
	maps := procMaps(t, pid)
	for _, m := range maps {
		if rip < m.Start || rip >= m.End {
			continue
		}
		r := kvFields(c.Request(fmt.Sprintf("qMemoryRegionInfo:%x", rip)))
		if r["start"] != strconv.FormatUint(m.Start, 16) || r["size"] != strconv.FormatUint(m.End-m.Start, 16) ||
			r["permissions"] != "rx" || r["name"] != hexOf(m.Name) {
			t.Errorf("qMemoryRegionInfo:%x -> %v, want %+v", rip, r, m)
		}
	}
	if r := kvFields(c.Request("qMemoryRegionInfo:0")); r["start"] != "0" || r["size"] != strconv.FormatUint(maps[0].Start, 16) || r["permissions"] != "" {
		t.Errorf("qMemoryRegionInfo:0 -> %v, want the hole below %#x", r, maps[0].Start)
	}

	// Memory allocated in the inferior: mapped, writable, freed.
	r := c.Request("_M2000,rw")
	addr, err := strconv.ParseUint(r, 16, 64)
	if err != nil || addr == 0 {
		t.Fatalf("_M2000,rw -> %q", r)
	}
	mapped := func() string {
		for _, m := range procMaps(t, pid) {
			if m.Start <= addr && addr < m.End {
				return m.Perms
			}
		}
		return ""
	}
	if p := mapped(); p != "rw-p" {
		t.Errorf("allocation at %#x mapped %q, want rw-p", addr, p)
	}
	if r := c.Request(fmt.Sprintf("M%x,4:7d2a2324", addr+0x1000)); r != "OK" {
		t.Errorf("write to the allocation -> %q", r)
	}
	if r := rspUnescape(c.Request(fmt.Sprintf("x%x,4", addr+0x1000))); r != "}*#$" {
		t.Errorf("x of the allocation -> %q, want the bytes written", r)
	}
	if r := c.Request(fmt.Sprintf("_m%x", addr)); r != "OK" {
		t.Errorf("_m -> %q", r)
	}
	if p := mapped(); p != "" {
		t.Errorf("freed allocation still mapped %q", p)
	}
	// The injected system calls left registers and code as they were:
	// the program runs to its normal end.
	if r := c.Request("vCont;c"); r != fmt.Sprintf("W67;process:%x", pid) {
		t.Errorf("continue after the allocations -> %q, want W67", r)
	}
}

// TestLLDBAllocateInSyscall: _M on a thread stopped inside a system call
// (nanosleep, interrupted): the allocation works and the interrupted call
// resumes properly afterwards.
func TestLLDBAllocateInSyscall(t *testing.T) {
	t.Parallel()
	prog := compile(t, "forever.c", "-fno-pie", "-no-pie")
	beatsAddr := elfSymbol(t, prog, "beats")
	if !stubSelected(KindGostub) {
		t.Skip("gostub not selected (GOSTUB_TEST_STUBS)")
	}
	s := StartStub(t, KindGostub, prog)
	c := dialRSP(t, s)
	c.Request("QStartNoAckMode")
	c.Ack = false
	beats := func() uint64 {
		b, err := hex.DecodeString(c.Request(fmt.Sprintf("m%x,8", beatsAddr)))
		if err != nil || len(b) != 8 {
			t.Fatalf("read beats: %v", err)
		}
		return binary.LittleEndian.Uint64(b)
	}
	var last uint64
	for round := 1; round <= 3; round++ {
		c.Send("vCont;c")
		time.Sleep(150 * time.Millisecond)
		c.WriteRaw("\x03")
		if stop := c.WaitStop(5 * time.Second); !strings.HasPrefix(stop, "T02") {
			t.Fatalf("round %d: interrupt -> %q", round, abbrev(stop))
		}
		if b := beats(); b <= last {
			t.Fatalf("round %d: beats %d, was %d: the program stopped making progress", round, b, last)
		} else {
			last = b
		}
		r := c.Request("_M1000,rwx")
		if _, err := strconv.ParseUint(r, 16, 64); err != nil {
			t.Fatalf("round %d: _M1000,rwx -> %q", round, r)
		}
	}
	if tracer := procTracer(s.PID); tracer == 0 {
		t.Errorf("process %d not traced any more", s.PID)
	}
}

// rspUnescape undoes the binary escapes of a reply.
func rspUnescape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '}' && i+1 < len(s) {
			i++
			b.WriteByte(s[i] ^ 0x20)
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
