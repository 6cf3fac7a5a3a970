package integration

// Processes: fork and exec events (follow-fork-mode, detach-on-fork,
// catch fork/exec), shared libraries (info sharedlibrary, a pending
// breakpoint in a library loaded later), and gdb started without a local
// executable (it reads everything through the stub).  Also the helpers the
// threads, signals and extended-remote tests share: a background gdb (for
// Ctrl-C), gdb with any target command, and a normalization that also hides
// the port.

import (
	"bytes"
	"context"
	"errors"
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

	"golang.org/x/sys/unix"
)

// ---------------------------------------------------------------------------
// Helpers

// gdbBatchArgs is gdbArgs with any target command ("target extended-remote
// ADDR", ...), for sessions that runGDB's fixed `target remote` cannot do.
func gdbBatchArgs(target, prog string, cmds ...string) []string {
	args := []string{"-nx", "-batch",
		"-iex", "set debuginfod enabled off",
		"-ex", "set confirm off",
		"-ex", "set pagination off",
		"-ex", "set width 0",
		"-ex", target,
	}
	for _, c := range cmds {
		args = append(args, "-ex", c)
	}
	if prog != "" {
		args = append(args, prog)
	}
	return args
}

// syncBuffer is a bytes.Buffer that gdb's output copier and the test may use
// at the same time.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// gdbProc is a batch gdb running in the background, for tests that act while
// it runs (Ctrl-C).
type gdbProc struct {
	kind StubKind
	args []string
	cmd  *exec.Cmd
	out  syncBuffer
	done chan struct{}
	err  error
}

// startGDBProc starts `gdb args...` against a stub of kind.  Cleanup kills
// it if the test did not wait for it.
func startGDBProc(t testing.TB, kind StubKind, args []string) *gdbProc {
	t.Helper()
	g := &gdbProc{kind: kind, args: args, done: make(chan struct{})}
	g.cmd = exec.Command("gdb", args...)
	g.cmd.Env = inferiorEnv()
	g.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	g.cmd.Stdout = &g.out
	g.cmd.Stderr = &g.out
	g.cmd.WaitDelay = 2 * time.Second
	if err := g.cmd.Start(); err != nil {
		t.Fatalf("start gdb: %v", err)
	}
	go func() {
		g.err = g.cmd.Wait()
		close(g.done)
	}()
	t.Cleanup(func() {
		select {
		case <-g.done:
		default:
			_ = syscall.Kill(-g.cmd.Process.Pid, syscall.SIGKILL)
			<-g.done
		}
		if t.Failed() {
			t.Logf("gdb %s\ngdb output:\n%s", strings.Join(g.args, " "), g.out.String())
		}
	})
	return g
}

// Interrupt sends SIGINT to gdb: what the terminal does when the user types
// Ctrl-C while gdb waits for the running program.  gdb then sends the
// stub the interrupt byte (0x03).  This works in batch mode, where gdb
// cannot read `interrupt` while a foreground `continue` runs.
func (g *gdbProc) Interrupt(t testing.TB) {
	t.Helper()
	if err := g.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatalf("SIGINT to gdb: %v", err)
	}
}

// Wait waits for gdb to finish (failing the test after gdbTimeout) and
// returns its combined output.
func (g *gdbProc) Wait(t testing.TB) string {
	t.Helper()
	select {
	case <-g.done:
	case <-time.After(gdbTimeout):
		_ = syscall.Kill(-g.cmd.Process.Pid, syscall.SIGKILL)
		<-g.done
		t.Fatalf("gdb against %s timed out after %v; gdb output:\n%s", g.kind, gdbTimeout, g.out.String())
	}
	var ee *exec.ExitError
	if g.err != nil && !errors.As(g.err, &ee) {
		t.Fatalf("gdb: %v", g.err)
	}
	return g.out.String()
}

// runGDBArgs runs `gdb args...` to the end, like runGDB.
func runGDBArgs(t testing.TB, kind StubKind, args []string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), gdbTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "gdb", args...)
	cmd.Env = inferiorEnv()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = 2 * time.Second
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("gdb against %s timed out after %v (%v); gdb output:\n%s", kind, gdbTimeout, err, out.String())
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("gdb: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("gdb %s\ngdb output:\n%s", strings.Join(args, " "), out.String())
		}
	})
	return out.String()
}

var reLocalPort = regexp.MustCompile(`\blocalhost:\d+\b`)

// normalizeProc is normalizeGDB that also hides the stub's port (`info
// inferiors` shows the connection).
func normalizeProc(out string) string {
	return normalizeGDB(reLocalPort.ReplaceAllString(out, "localhost:PORT"))
}

// launchGDB starts `STUB --once ADDR prog args...`, runs gdb with cmds on
// the local copy of prog (gdbProg, "" for none), waits for the stub to end
// and checks gdb saw no protocol trouble.
func launchGDB(t *testing.T, kind StubKind, prog string, args []string, gdbProg string, cmds ...string) (string, *Stub) {
	t.Helper()
	s := StartStub(t, kind, prog, args...)
	out := runGDB(t, s, gdbProg, cmds...)
	s.WaitExit(t, stubExitTimeout)
	wantNotContains(t, out, gdbTrouble...)
	return out, s
}

// pidsMatched returns the numbers of every match of re's first group in out.
func pidsMatched(out string, re *regexp.Regexp) []int {
	var pids []int
	for _, m := range re.FindAllStringSubmatch(out, -1) {
		if n, err := strconv.Atoi(m[1]); err == nil {
			pids = append(pids, n)
		}
	}
	return pids
}

// textBetween returns the part of out after the first from and before the next
// to ("" if from is missing; the rest of out if to is).
func textBetween(out, from, to string) string {
	i := strings.Index(out, from)
	if i < 0 {
		return ""
	}
	out = out[i+len(from):]
	if j := strings.Index(out, to); j >= 0 {
		out = out[:j]
	}
	return out
}

// wantProcsGone fails the test for each pid still alive (or a zombie nobody
// reaps) a few seconds after the session ended.
func wantProcsGone(t *testing.T, what string, pids ...int) {
	t.Helper()
	for _, pid := range pids {
		if err := waitGone(pid, 5*time.Second); err != nil {
			t.Errorf("%s %d after the session: %v", what, pid, err)
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

var (
	reNewInferior = regexp.MustCompile(`\[New inferior \d+ \(process (\d+)\)\]`)
	reDetachChild = regexp.MustCompile(`Detaching after fork from child process (\d+)`)
)

// ---------------------------------------------------------------------------
// fork / exec

// TestForkExec: forkexec forks; the child calls child_marker(21), then execs
// `loop 2` (exit code 101 = 0145); the parent waits for it and exits 0.
func TestForkExec(t *testing.T) {
	t.Parallel()
	loop := compile(t, "loop.c")
	prog := compile(t, "forkexec.c")
	args := []string{loop}

	t.Run("follow-child", func(t *testing.T) {
		t.Parallel()
		forEachStub(t, func(t *testing.T, kind StubKind) string {
			out, s := launchGDB(t, kind, prog, args, prog,
				"set follow-fork-mode child", "break child_marker", "continue",
				"bt", "info inferiors", "continue", "info inferiors")
			wantInOrder(t, out,
				"[New inferior 2 (process ",
				"[Detaching after fork from parent process "+strconv.Itoa(s.PID)+"]",
				fmt.Sprintf("[Inferior 1 (process %d) detached]", s.PID),
				`Thread 2.1 "forkexec" hit Breakpoint 1, child_marker (x=21) at forkexec.c:`,
				"#0  child_marker (x=21) at forkexec.c:",
				" in main (argc=2, argv=",
				"* 2    process ",
				"is executing new program: "+loop,
				"[Inferior 2 (process ", ") exited with code 0145]")
			// The parent ran on untraced: it saw its child exit with 101.
			wantProgramOutput(t, s, 5*time.Second, "forkexec: child ", " exited status=101")
			wantProcsGone(t, "child", pidsMatched(out, reNewInferior)...)
			return normalizeProc(out)
		})
	})

	t.Run("follow-child-hbreak", func(t *testing.T) {
		t.Parallel()
		forEachStub(t, func(t *testing.T, kind StubKind) string {
			// A hardware breakpoint on what the parent calls after the
			// fork: when gdb follows the child and lets the parent go, the
			// parent's debug registers must be cleared, or it dies of
			// SIGTRAP in waitpid.
			out, s := launchGDB(t, kind, prog, args, prog,
				"break main", "continue", "set follow-fork-mode child", "hbreak waitpid",
				"break child_marker", "continue", "info inferiors", "delete", "continue")
			wantInOrder(t, out,
				"Hardware assisted breakpoint 2 at ",
				fmt.Sprintf("[Inferior 1 (process %d) detached]", s.PID),
				`Thread 2.1 "forkexec" hit Breakpoint 3, child_marker (x=21) at forkexec.c:`,
				"[Inferior 2 (process ", ") exited with code 0145]")
			wantProgramOutput(t, s, 5*time.Second, "forkexec: child ", " exited status=101")
			wantProcsGone(t, "child", pidsMatched(out, reNewInferior)...)
			return normalizeProc(out)
		})
	})

	t.Run("follow-parent", func(t *testing.T) {
		t.Parallel()
		forEachStub(t, func(t *testing.T, kind StubKind) string {
			// The child is detached: its breakpoint must be gone from its
			// copy of the text, or it would die of SIGTRAP.
			out, s := launchGDB(t, kind, prog, args, prog,
				"break child_marker", "continue", "info inferiors")
			wantInOrder(t, out,
				"[Detaching after fork from child process ",
				fmt.Sprintf("[Inferior 1 (process %d) exited normally]", s.PID))
			wantNotContains(t, out, "hit Breakpoint 1", "SIGTRAP", "[New inferior 2")
			wantProgramOutput(t, s, 5*time.Second, "loop: total=101", "exited status=101")
			wantProcsGone(t, "child", pidsMatched(out, reDetachChild)...)
			return normalizeProc(out)
		})
	})

	t.Run("detach-on-fork-off", func(t *testing.T) {
		t.Parallel()
		forEachStub(t, func(t *testing.T, kind StubKind) string {
			// Both processes stay under gdb; with schedule-multiple both
			// run, and the child hits the breakpoint (location 1.2: the
			// breakpoint has one location per inferior).
			out, s := launchGDB(t, kind, prog, args, prog,
				"set detach-on-fork off", "set schedule-multiple on",
				"break child_marker", "continue", "info inferiors", "bt",
				"continue", "info inferiors")
			wantInOrder(t, out,
				"[New inferior 2 (process ",
				`Thread 2.1 "forkexec" hit Breakpoint 1.2, child_marker (x=21) at forkexec.c:`,
				fmt.Sprintf("  1    process %d ", s.PID),
				"* 2    process ",
				"#0  child_marker (x=21) at forkexec.c:",
				"is executing new program: "+loop,
				"[Inferior 2 (process ", ") exited with code 0145]",
				fmt.Sprintf("  1    process %d ", s.PID),
				"* 2    <null> ")
			table := textBetween(out, "hit Breakpoint 1.2", "#0  child_marker")
			if n := len(regexp.MustCompile(`(?m)^[ *] +\d+ +process \d+ `).FindAllString(table, -1)); n != 2 {
				t.Errorf("the first `info inferiors` lists %d live processes, want 2:\n%s", n, table)
			}
			wantNotContains(t, out, "[Detaching after fork")
			wantProcsGone(t, "child", pidsMatched(out, reNewInferior)...)
			return normalizeProc(out)
		})
	})

	t.Run("detach-on-fork-off-condition", func(t *testing.T) {
		t.Parallel()
		forEachStub(t, func(t *testing.T, kind StubKind) string {
			// A breakpoint with a condition the stub evaluates: gostub
			// may hold it in a debug register, which a child does not
			// inherit, so the child's copy must still stop it (and keep
			// its condition).
			out, _ := launchGDB(t, kind, prog, args, prog,
				"set detach-on-fork off", "set schedule-multiple on",
				"set breakpoint condition-evaluation target",
				"break child_marker if x == 21", "continue", "p x", "info inferiors",
				"continue", "info inferiors")
			wantInOrder(t, out,
				"[New inferior 2 (process ",
				`Thread 2.1 "forkexec" hit Breakpoint 1.2, child_marker (x=21) at forkexec.c:`,
				"$1 = 21",
				"* 2    process ",
				"is executing new program: "+loop,
				"[Inferior 2 (process ", ") exited with code 0145]")
			wantProcsGone(t, "child", pidsMatched(out, reNewInferior)...)
			return normalizeProc(out)
		})
	})

	t.Run("catch-fork-exec", func(t *testing.T) {
		t.Parallel()
		forEachStub(t, func(t *testing.T, kind StubKind) string {
			out, s := launchGDB(t, kind, prog, args, prog,
				"set follow-fork-mode child", "catch fork", "catch exec",
				"continue", "continue", "info inferiors",
				"break add", "continue", "bt", "delete", "continue")
			wantInOrder(t, out,
				"Catchpoint 1 (fork)", "Catchpoint 2 (exec)",
				"Catchpoint 1 (forked process ", "), arch_fork ",
				"[Attaching after Thread ", "[New inferior 2 (process ",
				fmt.Sprintf("[Inferior 1 (process %d) detached]", s.PID),
				"is executing new program: "+loop,
				`Thread 2.1 "loop" hit Catchpoint 2 (exec'd `+loop+"), ",
				"* 2    process ", "target:"+loop,
				`Thread 2.1 "loop" hit Breakpoint 3, add (a=0, b=100) at loop.c:`,
				"#1  ", " in main (argc=2, argv=",
				"[Inferior 2 (process ", ") exited with code 0145]")
			wantProcsGone(t, "child", pidsMatched(out, reNewInferior)...)
			return normalizeProc(out)
		})
	})
}

// TestVforkThreadExec: vforkexec vfork()s and its child execs `loop 2`;
// threadexec execs `loop 2` from a second thread (the kernel makes the
// execing thread the leader, with the process's pid).
func TestVforkThreadExec(t *testing.T) {
	t.Parallel()
	loop := compile(t, "loop.c")
	vfork := compile(t, "vforkexec.c")
	threadexec := compile(t, "threadexec.c", "-pthread")
	addBody := markLine(t, "loop.c", "add-body")

	t.Run("vfork-follow-parent", func(t *testing.T) {
		t.Parallel()
		forEachStub(t, func(t *testing.T, kind StubKind) string {
			out, s := launchGDB(t, kind, vfork, []string{loop}, vfork,
				"catch vfork", "catch exec", "continue", "continue")
			wantInOrder(t, out,
				"Catchpoint 1 (vforked process ", "), __libc_vfork () at ",
				"[Detaching after vfork from child process ",
				fmt.Sprintf("[Inferior 1 (process %d) exited normally]", s.PID))
			wantNotContains(t, out, "exec'd")
			wantProgramOutput(t, s, time.Second, "loop: total=101", "exited status=101")
			wantProcsGone(t, "child", pidsMatched(out, regexp.MustCompile(`Detaching after vfork from child process (\d+)`))...)
			return normalizeProc(out)
		})
	})

	t.Run("vfork-follow-child", func(t *testing.T) {
		t.Parallel()
		forEachStub(t, func(t *testing.T, kind StubKind) string {
			out, s := launchGDB(t, kind, vfork, []string{loop}, vfork,
				"set follow-fork-mode child", "catch exec", "continue", "info inferiors", "continue")
			wantInOrder(t, out,
				"[Attaching after Thread ", " vfork to child Thread ",
				"[New inferior 2 (process ",
				fmt.Sprintf("[Detaching vfork parent process %d after child exec]", s.PID),
				fmt.Sprintf("[Inferior 1 (process %d) detached]", s.PID),
				"is executing new program: "+loop,
				`Thread 2.1 "loop" hit Catchpoint 1 (exec'd `+loop+"), ",
				"* 2    process ",
				"[Inferior 2 (process ", ") exited with code 0145]")
			wantProgramOutput(t, s, 5*time.Second, "vforkexec: child ", " exited status=101")
			wantProcsGone(t, "child", pidsMatched(out, reNewInferior)...)
			return normalizeProc(out)
		})
	})

	t.Run("exec-from-thread", func(t *testing.T) {
		t.Parallel()
		forEachStub(t, func(t *testing.T, kind StubKind) string {
			out, s := launchGDB(t, kind, threadexec, []string{loop}, threadexec,
				"catch exec", "continue", "info threads", "break add", "continue", "bt", "delete", "continue")
			wantInOrder(t, out,
				fmt.Sprintf("process %d is executing new program: %s", s.PID, loop),
				"Catchpoint 1 (exec'd "+loop+"), ",
				fmt.Sprintf(`* 1    Thread %d.%d "loop" `, s.PID, s.PID),
				fmt.Sprintf("Breakpoint 2, add (a=0, b=100) at loop.c:%d", addBody),
				" in main (argc=2, argv=",
				fmt.Sprintf("[Inferior 1 (process %d) exited with code 0145]", s.PID))
			if rows := infoThreadsRows(textBetween(out, "Catchpoint 1 (exec'd", "Breakpoint 2 at"), "loop"); len(rows) != 1 {
				t.Errorf("info threads after the exec lists %d threads, want 1: %v", len(rows), rows)
			}
			return normalizeProc(out)
		})
	})
}

// wantProgramOutput waits up to timeout for the stub's log (where the inferior's
// output goes) to contain every want.
func wantProgramOutput(t *testing.T, s *Stub, timeout time.Duration, wants ...string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		out := s.Output()
		missing := ""
		for _, w := range wants {
			if !strings.Contains(out, w) {
				missing = w
				break
			}
		}
		if missing == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("program output lacks %q", missing)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ---------------------------------------------------------------------------
// Shared libraries

var (
	shlibOnce sync.Once
	shlibDir  string
	shlibErr  error
)

// buildShlibs builds libfoo.so (libfoo.c), shlib (linked against it, with
// an rpath) and dlmain (loads it with dlopen) into one directory and returns
// it.
func buildShlibs(t testing.TB) string {
	t.Helper()
	shlibOnce.Do(func() {
		dir := filepath.Join(workDir, "shlib")
		if shlibErr = os.MkdirAll(dir, 0o755); shlibErr != nil {
			return
		}
		for _, args := range [][]string{
			{"-shared", "-fPIC", "-o", filepath.Join(dir, "libfoo.so"), "libfoo.c"},
			{"-o", filepath.Join(dir, "shlib"), "shlib.c", "-L" + dir, "-lfoo", "-Wl,-rpath," + dir},
			{"-o", filepath.Join(dir, "dlmain"), "dlmain.c", "-ldl"},
		} {
			cmd := exec.Command("gcc", append([]string{"-g", "-O0"}, args...)...)
			cmd.Dir = filepath.Join(moduleRoot, "testdata")
			if b, err := cmd.CombinedOutput(); err != nil {
				shlibErr = fmt.Errorf("gcc %s: %v\n%s", strings.Join(args, " "), err, b)
				return
			}
		}
		shlibDir = dir
	})
	if shlibErr != nil {
		t.Fatal(shlibErr)
	}
	return shlibDir
}

// TestSharedLibraries: info sharedlibrary, and breakpoints in libfoo.so
// set before it is loaded.
func TestSharedLibraries(t *testing.T) {
	t.Parallel()
	dir := buildShlibs(t)
	lib := filepath.Join(dir, "libfoo.so")
	reLib := func(path string) string {
		return `(?m)^0x[0-9a-f]+ +0x[0-9a-f]+ +Yes +(target:)?` + regexp.QuoteMeta(path) + `$`
	}

	t.Run("linked", func(t *testing.T) {
		t.Parallel()
		prog := filepath.Join(dir, "shlib")
		forEachStub(t, func(t *testing.T, kind StubKind) string {
			// At the ld.so entry only ld.so is loaded; main's call goes
			// through the PLT, so gdb puts the breakpoint there first and
			// moves it into libfoo.so once the library is loaded.
			out, _ := launchGDB(t, kind, prog, nil, prog,
				"info sharedlibrary", "set breakpoint pending on", "break foo_square",
				"continue", "bt", "info sharedlibrary", "p foo_calls",
				"continue", "p foo_calls", "delete", "continue")
			wantInOrder(t, out,
				"Shared Object Library", "ld-linux-x86-64.so.2",
				"Breakpoint 1, foo_square (x=0) at libfoo.c:",
				"#0  foo_square (x=0) at libfoo.c:", "#1  ", " in main () at shlib.c:",
				"Shared Object Library",
				"$1 = 0",
				"Breakpoint 1, foo_square (x=1) at libfoo.c:",
				"$2 = 1",
				"[Inferior 1 (process ", "exited normally]")
			wantMatch(t, out, reLib(lib), reLib("/lib/x86_64-linux-gnu/libc.so.6"))
			return normalizeGDB(out)
		})
	})

	t.Run("dlopen-pending", func(t *testing.T) {
		t.Parallel()
		prog := filepath.Join(dir, "dlmain")
		forEachStub(t, func(t *testing.T, kind StubKind) string {
			out, s := launchGDB(t, kind, prog, []string{lib}, prog,
				"set breakpoint pending on", "break foo_square", "continue", "bt",
				"info sharedlibrary", "continue", "p foo_calls", "info breakpoints",
				"delete", "continue")
			wantInOrder(t, out,
				`Function "foo_square" not defined.`,
				"Breakpoint 1 (foo_square) pending.",
				"Breakpoint 1, foo_square (x=1) at libfoo.c:",
				"#0  foo_square (x=1) at libfoo.c:",
				"#1  ", " in main (argc=2, argv=", ") at dlmain.c:"+strconv.Itoa(markLine(t, "dlmain.c", "call")),
				"Shared Object Library",
				"Breakpoint 1, foo_square (x=2) at libfoo.c:",
				"$1 = 1",
				"in foo_square at libfoo.c:", "breakpoint already hit 2 times",
				"[Inferior 1 (process ", "exited normally]")
			wantMatch(t, out, reLib(lib), reLib("/lib/x86_64-linux-gnu/libc.so.6"))
			wantProgramOutput(t, s, time.Second, "dlmain: s=14")
			return normalizeGDB(out)
		})
	})
}

// TestNoLocalExecutable: gdb gets no file; it learns the executable's name
// (qXfer:exec-file), reads it and the libraries over vFile, and then knows
// every symbol.
func TestNoLocalExecutable(t *testing.T) {
	t.Parallel()
	prog := compile(t, "loop.c")
	addBody := markLine(t, "loop.c", "add-body")
	forEachStub(t, func(t *testing.T, kind StubKind) string {
		out, _ := launchGDB(t, kind, prog, []string{"3"}, "",
			"info files", "break add", "continue", "bt", "info sharedlibrary",
			"p counter", "finish", "p counter", "kill")
		wantInOrder(t, out,
			"Reading "+prog+" from remote target...",
			"Reading symbols from target:"+prog+"...",
			" in _start () from target:/lib64/ld-linux-x86-64.so.2",
			`Symbols from "target:`+prog+`".`,
			"`target:"+prog+"', file type elf64-x86-64.",
			"Breakpoint 1 at ", fmt.Sprintf(": file loop.c, line %d.", addBody),
			fmt.Sprintf("Breakpoint 1, add (a=0, b=100) at loop.c:%d", addBody),
			fmt.Sprintf("#0  add (a=0, b=100) at loop.c:%d", addBody),
			" in main (argc=2, argv=",
			"target:/lib/x86_64-linux-gnu/libc.so.6",
			"$1 = 0",
			"Value returned is $2 = 100",
			"$3 = 100",
			"[Inferior 1 (process ", "killed]")
		wantNotContains(t, out, "No symbol table is loaded", "No symbol ")
		return normalizeGDB(out)
	})
}

// TestInferiorSignalState: the program starts with the signal dispositions
// and mask it would have without a debugger, as under gdbserver: nothing of
// the server's own signal handling (Go's handlers, an ignored SIGPIPE)
// leaks into it (gdb.base/signals-state-child.exp).
func TestInferiorSignalState(t *testing.T) {
	t.Parallel()
	grep, err := exec.LookPath("grep")
	if err != nil {
		t.Fatalf("grep: %v", err)
	}
	sigLine := regexp.MustCompile(`(?m)^Sig(Ign|Blk):\s*[0-9a-f]+$`)
	forEachStub(t, func(t *testing.T, kind StubKind) string {
		out, s := launchGDB(t, kind, grep, []string{"-E", "^Sig(Ign|Blk):", "/proc/self/status"}, grep, "continue")
		wantContains(t, out, "exited normally]")
		wantProgramOutput(t, s, 5*time.Second, "SigIgn:", "SigBlk:")
		lines := sigLine.FindAllString(s.Output(), -1)
		if len(lines) != 2 {
			t.Fatalf("the program printed %q, want its SigBlk and SigIgn lines", lines)
		}
		return strings.Join(lines, "\n")
	})
}

// TestInterruptSoftwareWatchpoint: Ctrl-C while gdb single-steps the
// program for a software watchpoint (gdb.base/random-signal.exp). gdb's
// 0x03 then mostly arrives between two steps, while the program is
// stopped; it must still stop the next one with SIGINT.
func TestInterruptSoftwareWatchpoint(t *testing.T) {
	t.Parallel()
	spin := compile(t, "spin.c")
	forEachStub(t, func(t *testing.T, kind StubKind) string {
		s := StartStub(t, kind, spin)
		g := startGDBProc(t, kind, gdbArgs(s, spin,
			"break main", "continue", "set can-use-hw-watchpoints 0", "watch keep_going", "continue",
			"delete", "set var keep_going = 0", "continue"))
		time.Sleep(1500 * time.Millisecond)
		g.Interrupt(t)
		out := g.Wait(t)
		s.WaitExit(t, stubExitTimeout)
		wantNotContains(t, out, gdbTrouble...)
		wantInOrder(t, out, "Watchpoint 2: keep_going", "received signal SIGINT, Interrupt.",
			"[Inferior 1 (process ", "exited normally]")
		wantProgramOutput(t, s, time.Second, "spin: done")
		return ""
	})
}

// TestInferiorCallPassedSIGSEGV: with SIGSEGV passed (handle nostop
// noprint), an inferior call still returns: gdb's return address is a trap
// on the stack, which the non-executable stack turns into a SIGSEGV that
// must reach gdb, not the program (gdb.base/catch-gdb-caused-signals.exp).
func TestInferiorCallPassedSIGSEGV(t *testing.T) {
	t.Parallel()
	loop := compile(t, "loop.c")
	forEachStub(t, func(t *testing.T, kind StubKind) string {
		out, _ := launchGDB(t, kind, loop, nil, loop,
			"break main", "continue", "handle SIGSEGV nostop noprint pass", "handle SIGILL nostop noprint pass",
			"print add(40, 2)", "print add(1, 2)", "kill")
		wantInOrder(t, out, "$1 = 42", "$2 = 3")
		wantNotContains(t, out, "SIGSEGV, Segmentation fault", "exited while in a function called from GDB")
		return normalizeProc(out)
	})
}

// startStubOnTerminal is StartStubArgs with the stub on a terminal of its
// own, as DejaGnu's expect runs it: the stub leads a new session whose
// controlling terminal is a pty the test holds open, so the stub's exit,
// not the terminal's, is what hangs up the terminal's foreground group.
func startStubOnTerminal(t *testing.T, kind StubKind, args func(comm string) []string) *Stub {
	t.Helper()
	bin, err := stubBinary(kind)
	if err != nil {
		t.Fatalf("%s: %v", kind, err)
	}
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open a pty: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(master.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlock the pty: %v", err)
	}
	n, err := unix.IoctlGetInt(int(master.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("pty number: %v", err)
	}
	slave, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open the pty's terminal: %v", err)
	}
	defer slave.Close()
	port := freePort(t)
	comm := fmt.Sprintf("localhost:%d", port)
	s := &Stub{Kind: kind, Args: args(comm), Addr: comm, Port: port, done: make(chan struct{}),
		logPath: newStubLogPath(kind, "-tty")}
	logf, err := os.Create(s.logPath)
	if err != nil {
		t.Fatal(err)
	}
	copied := make(chan struct{})
	go func() { // what the terminal shows, as the stub's output
		defer close(copied)
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			if n > 0 {
				logf.Write(buf[:n])
			}
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		master.Close()
		<-copied
		logf.Close()
	})
	cmd := exec.Command(bin, s.Args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := s.launch(cmd); err != nil {
		t.Fatalf("start %s: %v", kind, err)
	}
	if err := s.waitListening(stubStartTimeout); err != nil {
		s.kill()
		s.reapInferior()
		t.Fatalf("%s on a terminal: %v", kind, err)
	}
	t.Cleanup(func() { s.cleanup(t) })
	return s
}

// TestDetachOnTerminal: a program the stub started on its terminal, that
// gdb detached from, lives on after the stub exits, and so does the child
// it forks. The stub gave the program's group the terminal; unless it
// takes it back at the detach, its exit (it waits for the program it
// started, then ends) hangs that group up and the child dies of SIGHUP
// (gdb.threads/pending-fork-event-detach.exp).
func TestDetachOnTerminal(t *testing.T) {
	t.Parallel()
	prog := compile(t, "forkexit.c")
	forEachStub(t, func(t *testing.T, kind StubKind) string {
		s := startStubOnTerminal(t, kind, func(comm string) []string { return []string{"--once", comm, prog} })
		out := runGDB(t, s, prog, "break ready", "continue", "detach")
		wantContains(t, out, "detached]")
		s.WaitExit(t, stubExitTimeout)
		wantProgramOutput(t, s, 5*time.Second, "forkexit: child done")
		return ""
	})
}

// TestDetachWhileCloning: gdb follows a fork child that creates threads
// all the time, stops it at _exit and detaches it, then detaches the
// parent. Threads cloned while the child was being stopped are attached to
// the stub before any event names them; unless the detach lets them go
// too, the child can never finish exiting, the parent waits for it forever
// and the stub (waiting for the parent it started) never exits
// (gdb.threads/process-dies-while-detaching.exp).
func TestDetachWhileCloning(t *testing.T) {
	t.Parallel()
	prog := compile(t, "forkthreads.c", "-pthread")
	forEachStub(t, func(t *testing.T, kind StubKind) string {
		out, s := launchGDB(t, kind, prog, nil, prog,
			"break main", "continue", "set detach-on-fork off", "set follow-fork-mode child",
			"tbreak _exit", "continue", "detach", "inferior 1", "detach")
		wantContains(t, out, "Temporary breakpoint", "_exit", "detached]")
		wantProgramOutput(t, s, 5*time.Second, "forkthreads: child exited 0")
		return ""
	})
}

// TestDetachOnTerminalExtended: the same with extended-remote, where the
// server outlives the detach and `monitor exit` ends it: it still hands
// the terminal back as it leaves (gdbserver's exit handler), or the
// program it ran and let go dies of SIGHUP with it
// (gdb.base/watchpoint-hw-attach.exp).
func TestDetachOnTerminalExtended(t *testing.T) {
	t.Parallel()
	prog := compile(t, "forkexit.c")
	forEachStub(t, func(t *testing.T, kind StubKind) string {
		s := startStubOnTerminal(t, kind, func(comm string) []string {
			return []string{"--once", "--multi", comm}
		})
		out := runExtended(t, s, prog, "set remote exec-file "+prog, "break ready", "run", "detach", "monitor exit")
		wantContains(t, out, "detached]")
		wantProgramOutput(t, s, 5*time.Second, "forkexit: child done")
		return ""
	})
}
