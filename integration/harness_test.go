// Package integration holds end-to-end tests: real gdb (and later lldb-16 and
// gdb/MI) against a real stub debugging a small C program from ../testdata.
//
// Every scenario runs against both stubs, as subtests named "gdbserver"
// (GNU gdbserver, the reference) and "gostub" (built from ./cmd/gostub once
// per run).  Where behaviour is the question, the gostub subtest also
// compares its normalized gdb output with the one the gdbserver subtest
// produced.  Run:
//
//	go test ./integration/ -count=1 -v
//	GOSTUB_TEST_STUBS=gdbserver go test ./integration/   # validate the tests
//	go test ./integration/ -run 'TestGDB/kill/gostub'     # one scenario, one stub
//
// Environment:
//
//	GOSTUB_TEST_STUBS=gdbserver|gostub|both   which stubs run (default both)
//	GOSTUB_TEST_GOSTUB=/path/to/binary        use this gostub instead of building one
//
// The pieces, for tests written later:
//
//	compile(t, "loop.c", flags...)          build a testdata program (cached by content)
//	markLine(t, "loop.c", "loop-body")      line of the "@mark:loop-body" comment
//	forEachStub(t, fn) / forStubs(t, k, fn) run fn per selected stub, compare outputs
//	StartStub(t, kind, prog, args...)       `STUB --once localhost:PORT prog args...`
//	AttachStub(t, kind, pid)                `STUB --once --attach localhost:PORT pid`
//	StartStubArgs(t, kind, argsFn)          any other command line
//	stub.Output / WaitExit / CheckNoZombies what it printed; lifecycle checks
//	runGDB(t, stub, prog, cmds...)          gdb -batch session, combined output
//	normalizeGDB(out), lineDiff(a, b)       comparable transcripts
//	wantContains / wantInOrder / wantMatch  assertions on gdb output
//	startProgram(t, waitFor, path, args...) run a program directly (for attach)
//	dialRSP(t, stub)                        raw protocol client (rspconn_test.go)
package integration

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
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

	"github.com/gostub/gostub/dwarf"
)

// StubKind names a stub implementation under test.
type StubKind string

const (
	KindGDBServer StubKind = "gdbserver"
	KindGostub    StubKind = "gostub"
)

// Timeouts.  Generous, because a half-working stub must fail a test, not hang
// the suite; a healthy gdb session takes well under a second.
const (
	stubStartTimeout = 10 * time.Second
	gdbTimeout       = 20 * time.Second
	stubExitTimeout  = 10 * time.Second
	cleanupGrace     = 2 * time.Second
)

var (
	// moduleRoot is the directory holding go.mod (the parent of this package).
	moduleRoot string
	// workDir holds the gostub binary, compiled test programs and logs.
	workDir string

	gdbserverPath = "/usr/bin/gdbserver"
	gostubPath    string
	gostubErr     error // why gostub could not be built, if it could not

	selectedStubs []StubKind
)

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	var err error
	if moduleRoot, err = filepath.Abs(".."); err != nil {
		fmt.Fprintln(os.Stderr, "integration:", err)
		return 2
	}
	if selectedStubs, err = parseStubSelection(os.Getenv("GOSTUB_TEST_STUBS")); err != nil {
		fmt.Fprintln(os.Stderr, "integration:", err)
		return 2
	}
	if workDir, err = os.MkdirTemp("", "gostub-integration-"); err != nil {
		fmt.Fprintln(os.Stderr, "integration:", err)
		return 2
	}
	defer os.RemoveAll(workDir)

	// Become a child subreaper: a stub that exits without reaping its
	// inferior hands it to us rather than to PID 1 (which in a container may
	// never reap), so the cleanup checks can see and reap it.
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0); errno != 0 {
		fmt.Fprintln(os.Stderr, "integration: PR_SET_CHILD_SUBREAPER:", errno)
	}

	if bin := os.Getenv("GOSTUB_TEST_GOSTUB"); bin != "" && stubSelected(KindGostub) {
		gostubPath = bin // a prebuilt binary (e.g. built with -race), used as is
	} else if stubSelected(KindGostub) {
		gostubPath = filepath.Join(workDir, "gostub")
		cmd := exec.Command("go", "build", "-o", gostubPath, "./cmd/gostub")
		cmd.Dir = moduleRoot
		if out, err := cmd.CombinedOutput(); err != nil {
			gostubErr = fmt.Errorf("go build ./cmd/gostub: %v\n%s", err, out)
			fmt.Fprintln(os.Stderr, "integration: gostub subtests will fail:", gostubErr)
		}
	}
	return m.Run()
}

const prSetChildSubreaper = 36

func parseStubSelection(v string) ([]StubKind, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "", "both", "all":
		return []StubKind{KindGDBServer, KindGostub}, nil
	case "gdbserver":
		return []StubKind{KindGDBServer}, nil
	case "gostub":
		return []StubKind{KindGostub}, nil
	}
	return nil, fmt.Errorf("GOSTUB_TEST_STUBS=%q: want gdbserver, gostub or both", v)
}

func stubSelected(k StubKind) bool { return containsKind(selectedStubs, k) }

// stubBinary returns the executable for kind, or an error the test must fail
// with (gostub did not build).
func stubBinary(kind StubKind) (string, error) {
	switch kind {
	case KindGDBServer:
		return gdbserverPath, nil
	case KindGostub:
		if gostubErr != nil {
			return "", gostubErr
		}
		return gostubPath, nil
	}
	return "", fmt.Errorf("unknown stub kind %q", kind)
}

// forEachStub runs fn as one subtest per selected stub, gdbserver first, one
// after the other (the parent may be parallel).  fn returns the text to
// compare across stubs (usually normalizeGDB of the gdb output), or "" when
// the scenario is not a comparison.  The gostub subtest fails when its text
// differs from the one of a gdbserver subtest that passed.
func forEachStub(t *testing.T, fn func(t *testing.T, kind StubKind) string) {
	t.Helper()
	forStubs(t, []StubKind{KindGDBServer, KindGostub}, fn)
}

// forStubs is forEachStub restricted to kinds (still intersected with
// GOSTUB_TEST_STUBS).  Use it for tests gdbserver cannot pass, and say why.
func forStubs(t *testing.T, kinds []StubKind, fn func(t *testing.T, kind StubKind) string) {
	t.Helper()
	var ref string
	ranRef, refOK := false, false
	for _, kind := range selectedStubs {
		if !containsKind(kinds, kind) {
			continue
		}
		t.Run(string(kind), func(t *testing.T) {
			got := fn(t, kind)
			switch {
			case kind == KindGDBServer:
				ref, ranRef, refOK = got, true, !t.Failed()
			case got == "" || t.Failed():
			case !ranRef:
				t.Logf("no comparison with gdbserver: it did not run (GOSTUB_TEST_STUBS=%s)", os.Getenv("GOSTUB_TEST_STUBS"))
			case !refOK:
				t.Errorf("no comparison: the gdbserver subtest failed")
			default:
				if d := lineDiff(ref, got); d != "" {
					t.Errorf("normalized gdb output differs from gdbserver's (-gdbserver +%s):\n%s", kind, d)
				}
			}
		})
	}
}

func containsKind(kinds []StubKind, k StubKind) bool {
	for _, x := range kinds {
		if x == k {
			return true
		}
	}
	return false
}

// ---------------------------------------------------------------------------
// Test programs

type compiled struct {
	once sync.Once
	path string
	err  error
}

var (
	compileMu    sync.Mutex
	compileCache = map[string]*compiled{}
)

// compile builds ../testdata/<src> with `gcc -g -O0 <flags>` and returns the
// path of the executable.  Builds are cached for the whole run by a hash of
// the source and the flags; the executable is named after the source (loop.c
// -> .../loop) so gdb's output does not depend on the hash.
func compile(t testing.TB, src string, flags ...string) string {
	t.Helper()
	return compileIn(t, "", src, flags...)
}

// compileIn builds testdata/<sub>/<src> with gcc -g -O0 <flags>, run in that
// directory so gdb names the file "<src>", cached for the run by a hash of
// the place, the source and the flags.
func compileIn(t testing.TB, sub, src string, flags ...string) string {
	t.Helper()
	dir := filepath.Join(moduleRoot, "testdata", sub)
	source, err := os.ReadFile(filepath.Join(dir, src))
	if err != nil {
		t.Fatalf("compile %s: %v", src, err)
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s/%s\x00", sub, src)
	h.Write(source)
	for _, f := range flags {
		fmt.Fprintf(h, "\x00%s", f)
	}
	key := hex.EncodeToString(h.Sum(nil))[:16]

	compileMu.Lock()
	c := compileCache[key]
	if c == nil {
		c = &compiled{}
		compileCache[key] = c
	}
	compileMu.Unlock()

	c.once.Do(func() {
		outDir := filepath.Join(workDir, "bin", key)
		if err := os.MkdirAll(outDir, 0o755); err != nil {
			c.err = err
			return
		}
		out := filepath.Join(outDir, strings.TrimSuffix(src, filepath.Ext(src)))
		args := append([]string{"-g", "-O0", "-o", out}, flags...)
		args = append(args, src)
		cmd := exec.Command("gcc", args...)
		cmd.Dir = dir
		if b, err := cmd.CombinedOutput(); err != nil {
			c.err = fmt.Errorf("gcc %s: %v\n%s", strings.Join(args, " "), err, b)
			return
		}
		c.path = out
	})
	if c.err != nil {
		t.Fatalf("compile %s: %v", src, c.err)
	}
	return c.path
}

// markLine returns the 1-based line of testdata/<src> that contains
// "@mark:<mark>", so tests do not hard-code line numbers.
func markLine(t testing.TB, src, mark string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(moduleRoot, "testdata", src))
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, "@mark:"+mark+" ") || strings.HasSuffix(l, "@mark:"+mark) {
			return i + 1
		}
	}
	t.Fatalf("%s: no line with @mark:%s", src, mark)
	return 0
}

// ---------------------------------------------------------------------------
// Stubs

// Stub is one running gdbserver or gostub process.
type Stub struct {
	Kind StubKind
	Args []string // command line after the binary
	Addr string   // "localhost:PORT", what gdb connects to
	Port int
	// PID is the inferior the stub reported ("Process P created; pid = N" or
	// "Attached; pid = N"); 0 if it printed neither.
	PID      int
	Launched bool // PID was created by the stub (not attached)

	cmd     *exec.Cmd
	logPath string
	done    chan struct{} // closed when the stub process has been waited for
	state   *os.ProcessState
	waitErr error
}

// StartStub launches `STUB --once localhost:PORT prog args...`.
func StartStub(t testing.TB, kind StubKind, prog string, args ...string) *Stub {
	t.Helper()
	return StartStubArgs(t, kind, func(comm string) []string {
		return append([]string{"--once", comm, prog}, args...)
	})
}

// AttachStub launches `STUB --once --attach localhost:PORT pid`.
func AttachStub(t testing.TB, kind StubKind, pid int) *Stub {
	t.Helper()
	return StartStubArgs(t, kind, func(comm string) []string {
		return []string{"--once", "--attach", comm, strconv.Itoa(pid)}
	})
}

var (
	reListening = regexp.MustCompile(`Listening on port (\d+)`)
	reCreated   = regexp.MustCompile(`Process .* created; pid = (\d+)`)
	reAttached  = regexp.MustCompile(`Attached; pid = (\d+)`)
	logSeq      struct {
		sync.Mutex
		n int
	}
)

// StartStubArgs starts a stub whose command line is argsFn(comm), comm being
// "localhost:PORT" on a free port, and waits until it prints "Listening on
// port".  Its stdout and stderr (and those of the inferior it launches) go to
// one log file, see Output.  At cleanup the stub is given a moment to exit on
// its own, then killed; a launched inferior must then be gone (not alive, no
// zombie left to its stub), and on failure the stub's output is logged.
func StartStubArgs(t testing.TB, kind StubKind, argsFn func(comm string) []string) *Stub {
	t.Helper()
	bin, err := stubBinary(kind)
	if err != nil {
		t.Fatalf("%s: %v", kind, err)
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port := freePort(t)
		comm := fmt.Sprintf("localhost:%d", port)
		s := &Stub{Kind: kind, Args: argsFn(comm), Addr: comm, Port: port, done: make(chan struct{})}
		if err := s.start(bin); err != nil {
			t.Fatalf("start %s: %v", kind, err)
		}
		lastErr = s.waitListening(stubStartTimeout)
		if lastErr == nil {
			t.Cleanup(func() { s.cleanup(t) })
			return s
		}
		s.kill()
		s.reapInferior()
		if !strings.Contains(s.Output(), "in use") {
			break
		}
	}
	t.Fatalf("%s did not start listening: %v", kind, lastErr)
	return nil
}

func (s *Stub) start(bin string) error {
	s.logPath = newStubLogPath(s.Kind, "")
	f, err := os.Create(s.logPath)
	if err != nil {
		return err
	}
	defer f.Close() // the child keeps its own descriptors
	cmd := exec.Command(bin, s.Args...)
	cmd.Stdout = f // an *os.File: no copying goroutine, Wait never blocks on I/O
	cmd.Stderr = f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return s.launch(cmd)
}

// newStubLogPath names the next stub output file in the work directory.
func newStubLogPath(kind StubKind, suffix string) string {
	logSeq.Lock()
	logSeq.n++
	n := logSeq.n
	logSeq.Unlock()
	return filepath.Join(workDir, fmt.Sprintf("stub-%03d-%s%s.log", n, kind, suffix))
}

// launch starts cmd, with its output already wired to s.logPath, as the
// stub, and closes s.done when it ends.
func (s *Stub) launch(cmd *exec.Cmd) error {
	s.cmd = cmd
	s.cmd.Env = inferiorEnv()
	if err := s.cmd.Start(); err != nil {
		return err
	}
	go func() {
		s.waitErr = s.cmd.Wait()
		s.state = s.cmd.ProcessState
		close(s.done)
	}()
	return nil
}

// inferiorEnv is the environment of stubs (and so of their inferiors): the
// test's own, minus what would make gdb or the program behave differently.
func inferiorEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "DEBUGINFOD_URLS=") || strings.HasPrefix(kv, "LD_PRELOAD=") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

func (s *Stub) waitListening(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		out := s.Output()
		if reListening.MatchString(out) {
			if m := reCreated.FindStringSubmatch(out); m != nil {
				s.PID, _ = strconv.Atoi(m[1])
				s.Launched = true
			} else if m := reAttached.FindStringSubmatch(out); m != nil {
				s.PID, _ = strconv.Atoi(m[1])
			}
			return nil
		}
		select {
		case <-s.done:
			return fmt.Errorf("%s exited (%v) before listening; output:\n%s", s.Kind, s.exitDesc(), out)
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no %q after %v; output:\n%s", "Listening on port", timeout, out)
		}
	}
}

// Output returns everything the stub (and a launched inferior) printed so far.
func (s *Stub) Output() string {
	b, _ := os.ReadFile(s.logPath)
	return string(b)
}

// Exited reports whether the stub process has ended.
func (s *Stub) Exited() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// WaitExit waits for the stub to exit on its own and fails the test if it
// does not within timeout.  It returns the exit state (nil on timeout).
func (s *Stub) WaitExit(t testing.TB, timeout time.Duration) *os.ProcessState {
	t.Helper()
	select {
	case <-s.done:
		return s.state
	case <-time.After(timeout):
		t.Errorf("%s still running %v after it should have exited", s.Kind, timeout)
		return nil
	}
}

func (s *Stub) exitDesc() string {
	if s.state != nil {
		return s.state.String()
	}
	if s.waitErr != nil {
		return s.waitErr.Error()
	}
	return "running"
}

func (s *Stub) kill() {
	if s.Exited() {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.done
}

func (s *Stub) cleanup(t testing.TB) {
	select {
	case <-s.done:
	case <-time.After(cleanupGrace):
		s.CheckNoZombies(t)
		t.Logf("%s still running at cleanup: killing it", s.Kind)
		s.kill()
	}
	if s.Launched && s.PID > 0 {
		if err := waitGone(s.PID, 3*time.Second); err != nil {
			t.Errorf("inferior %d after %s exited: %v", s.PID, s.Kind, err)
			_ = syscall.Kill(s.PID, syscall.SIGKILL)
			_ = waitGone(s.PID, 3*time.Second)
		}
	}
	// A gostub built with -race (GOSTUB_TEST_GOSTUB) reports races here.
	if strings.Contains(s.Output(), "WARNING: DATA RACE") {
		t.Errorf("%s reported a data race", s.Kind)
	}
	if t.Failed() {
		t.Logf("%s %s (%s), output:\n%s", s.Kind, strings.Join(s.Args, " "), s.exitDesc(), s.Output())
	}
}

// CheckNoZombies fails the test if the (running) stub keeps children that
// died and were never reaped.  A zombie is given a second to be reaped.
func (s *Stub) CheckNoZombies(t testing.TB) {
	t.Helper()
	if s.Exited() {
		return
	}
	deadline := time.Now().Add(time.Second)
	for {
		z := zombieChildren(s.cmd.Process.Pid)
		if len(z) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("%s has unreaped (zombie) children %v", s.Kind, z)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// zombieChildren lists the children of pid that are zombies.
func zombieChildren(pid int) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var z []int
	for _, e := range ents {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if state, ppid, ok := procStat(n); ok && ppid == pid && state == 'Z' {
			z = append(z, n)
		}
	}
	return z
}

// reapInferior is the quiet variant of the cleanup check, for failed starts.
func (s *Stub) reapInferior() {
	if m := reCreated.FindStringSubmatch(s.Output()); m != nil {
		pid, _ := strconv.Atoi(m[1])
		_ = syscall.Kill(pid, syscall.SIGKILL)
		_ = waitGone(pid, time.Second)
	}
}

// freePort returns a TCP port that was free on the loopback interface a
// moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// ---------------------------------------------------------------------------
// Processes

// procStat returns the state letter and parent pid of pid from
// /proc/PID/stat; ok is false if the process does not exist.
func procStat(pid int) (state byte, ppid int, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 >= len(s) {
		return 0, 0, false
	}
	f := strings.Fields(s[i+2:])
	if len(f) < 2 {
		return 0, 0, false
	}
	ppid, _ = strconv.Atoi(f[1])
	return f[0][0], ppid, true
}

// waitGone waits until pid is dead.  A zombie that was handed to us (we are a
// subreaper) is reaped and counts as gone; a zombie whose parent is still
// alive (a stub that did not reap its inferior) or a live process after
// timeout is an error.
func waitGone(pid int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		state, ppid, ok := procStat(pid)
		if !ok {
			return nil
		}
		if state == 'Z' || state == 'X' {
			if ppid == os.Getpid() {
				var ws syscall.WaitStatus
				_, _ = syscall.Wait4(pid, &ws, syscall.WNOHANG, nil)
				if _, _, still := procStat(pid); !still {
					return nil
				}
			} else if ppid == 1 {
				return nil // PID 1's business now
			}
		}
		if time.Now().After(deadline) {
			if state == 'Z' {
				return fmt.Errorf("zombie, parent %d never reaped it", ppid)
			}
			return fmt.Errorf("still alive (state %c, parent %d)", state, ppid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Program is a test program started directly by the test (for --attach).
type Program struct {
	Path    string
	Cmd     *exec.Cmd
	PID     int
	logPath string
}

// startProgram runs path with args, output to a log file, and waits until it
// printed waitFor (if not empty).  Cleanup kills and reaps it.
func startProgram(t testing.TB, waitFor string, path string, args ...string) *Program {
	t.Helper()
	logSeq.Lock()
	logSeq.n++
	n := logSeq.n
	logSeq.Unlock()
	p := &Program{Path: path, logPath: filepath.Join(workDir, fmt.Sprintf("prog-%03d-%s.log", n, filepath.Base(path)))}
	f, err := os.Create(p.logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p.Cmd = exec.Command(path, args...)
	p.Cmd.Stdout = f
	p.Cmd.Stderr = f
	p.Cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.Cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p.PID = p.Cmd.Process.Pid
	done := make(chan struct{})
	go func() { _ = p.Cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = p.Cmd.Process.Kill()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Errorf("program %d (%s) did not die after SIGKILL", p.PID, path)
		}
	})
	if waitFor != "" {
		deadline := time.Now().Add(5 * time.Second)
		for !strings.Contains(p.Output(), waitFor) {
			if time.Now().After(deadline) {
				t.Fatalf("%s did not print %q; output: %q", path, waitFor, p.Output())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	return p
}

// Output returns what the program printed so far.
func (p *Program) Output() string {
	b, _ := os.ReadFile(p.logPath)
	return string(b)
}

// readMem reads n bytes at addr of process pid through /proc/PID/mem.
func readMem(pid int, addr uint64, n int) ([]byte, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/mem", pid))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	buf := make([]byte, n)
	if _, err := f.ReadAt(buf, int64(addr)); err != nil {
		return nil, err
	}
	return buf, nil
}

// elfSection returns the address and contents of a section of an ELF file.
func elfSection(t testing.TB, path, name string) (uint64, []byte) {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sec := f.Section(name)
	if sec == nil {
		t.Fatalf("%s: no section %s", path, name)
	}
	data, err := sec.Data()
	if err != nil {
		t.Fatal(err)
	}
	return sec.Addr, data
}

// elfSymbol returns the address of a function (its entry) or global
// variable of an ELF file, found through package dwarf.
func elfSymbol(t testing.TB, path, name string) uint64 {
	t.Helper()
	o, err := dwarf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	if entry, _, err := o.FunctionEntry(name); err == nil {
		return entry
	}
	addr, _, err := o.Global(name)
	if err != nil {
		t.Fatalf("%s: no symbol %s: %v", path, name, err)
	}
	return addr
}

// ---------------------------------------------------------------------------
// gdb

// gdbArgs is the command line of a batch gdb session against stub: quiet,
// no init files, no debuginfod, `target remote`, then cmds, on prog (may be
// "" to let gdb find the executable through the stub).
func gdbArgs(s *Stub, prog string, cmds ...string) []string {
	args := []string{"-nx", "-batch",
		"-iex", "set debuginfod enabled off",
		"-ex", "set confirm off",
		"-ex", "set pagination off",
		"-ex", "set width 0",
		"-ex", "target remote " + s.Addr,
	}
	for _, c := range cmds {
		args = append(args, "-ex", c)
	}
	if prog != "" {
		args = append(args, prog)
	}
	return args
}

// runGDB runs a batch gdb session against stub and returns gdb's combined
// stdout and stderr.  A gdb that does not finish within gdbTimeout fails the
// test (with what it printed).  gdb's exit status is not checked: batch gdb
// reports the status of its last command.
func runGDB(t testing.TB, s *Stub, prog string, cmds ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), gdbTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "gdb", gdbArgs(s, prog, cmds...)...)
	cmd.Env = inferiorEnv()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = 2 * time.Second
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("gdb against %s timed out after %v (%v); gdb output:\n%s", s.Kind, gdbTimeout, err, out.String())
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("gdb: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("gdb %s\ngdb output:\n%s", strings.Join(gdbArgs(s, prog, cmds...), " "), out.String())
		}
	})
	return out.String()
}

var normalizers = []struct {
	re   *regexp.Regexp
	repl string
}{
	// `from target:/lib/...` when the stub serves files, `from /lib/...` when not.
	{regexp.MustCompile(`\btarget:/`), "/"},
	{regexp.MustCompile(`\(LWP \d+\)`), "(LWP TID)"},
	// info inferiors pads its column after the pid to the pid's width.
	{regexp.MustCompile(`\bprocess \d+ +`), "process PID "},
	{regexp.MustCompile(`\bprocess \d+`), "process PID"},
	{regexp.MustCompile(`\bpid = \d+`), "pid = PID"},
	{regexp.MustCompile(`\bThread \d+\.\d+\b`), "Thread N.N"},
	// Addresses: code, stack, heap, libraries; short hex values (0x1234) stay.
	{regexp.MustCompile(`\b0x[0-9a-f]{8,16}\b`), "0xADDR"},
	{regexp.MustCompile(`[ \t]+\n`), "\n"},
}

// Lines that depend on how gdb gets files, not on what the stub does with
// the process.
var dropLines = []*regexp.Regexp{
	regexp.MustCompile(`^Reading .* from remote target\.\.\.$`),
	regexp.MustCompile(`^warning: File transfers from remote targets can be slow`),
	regexp.MustCompile(`^warning: remote target does not support file transfer`),
	regexp.MustCompile(`^Remote debugging using `),
	regexp.MustCompile(`^Reading symbols from `),
	regexp.MustCompile(`^Download failed: `),
	regexp.MustCompile(`^$`),
}

// normalizeGDB makes a gdb transcript comparable across stubs and runs:
// pids, thread ids, addresses and the temp directory are replaced by
// placeholders; vFile chatter and blank lines are dropped.
func normalizeGDB(out string) string {
	out = strings.ReplaceAll(out, workDir, "$WORK")
	for _, n := range normalizers {
		out = n.re.ReplaceAllString(out, n.repl)
	}
	var keep []string
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
lines:
	for sc.Scan() {
		l := sc.Text()
		for _, d := range dropLines {
			if d.MatchString(l) {
				continue lines
			}
		}
		keep = append(keep, l)
	}
	return strings.Join(keep, "\n") + "\n"
}

// lineDiff returns "" if a == b, else a line diff of them ("-" lines only in
// a, "+" only in b, " " common), from the longest common subsequence.
func lineDiff(a, b string) string {
	if a == b {
		return ""
	}
	x := strings.Split(strings.TrimSuffix(a, "\n"), "\n")
	y := strings.Split(strings.TrimSuffix(b, "\n"), "\n")
	// lcs[i][j] = length of the LCS of x[i:] and y[j:].
	lcs := make([][]int, len(x)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(y)+1)
	}
	for i := len(x) - 1; i >= 0; i-- {
		for j := len(y) - 1; j >= 0; j-- {
			if x[i] == y[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var sb strings.Builder
	i, j := 0, 0
	for i < len(x) || j < len(y) {
		switch {
		case i < len(x) && j < len(y) && x[i] == y[j]:
			sb.WriteString("  " + x[i] + "\n")
			i++
			j++
		case i < len(x) && (j == len(y) || lcs[i+1][j] >= lcs[i][j+1]):
			sb.WriteString("- " + x[i] + "\n")
			i++
		default:
			sb.WriteString("+ " + y[j] + "\n")
			j++
		}
	}
	return sb.String()
}

// ---------------------------------------------------------------------------
// Assertions on gdb output

// wantContains fails the test for each want not found in out.
func wantContains(t testing.TB, out string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(out, w) {
			t.Errorf("gdb output lacks %q", w)
		}
	}
}

// wantNotContains fails the test for each bad string found in out.
func wantNotContains(t testing.TB, out string, bads ...string) {
	t.Helper()
	for _, b := range bads {
		if strings.Contains(out, b) {
			t.Errorf("gdb output contains %q", b)
		}
	}
}

// wantMatch fails the test for each regexp (multi-line mode) not matching out.
func wantMatch(t testing.TB, out string, res ...string) {
	t.Helper()
	for _, r := range res {
		if !regexp.MustCompile(`(?m)` + r).MatchString(out) {
			t.Errorf("gdb output does not match %q", r)
		}
	}
}

// wantInOrder fails the test unless the wants occur in out in this order.
func wantInOrder(t testing.TB, out string, wants ...string) {
	t.Helper()
	rest := out
	for _, w := range wants {
		i := strings.Index(rest, w)
		if i < 0 {
			t.Errorf("gdb output lacks %q (in this order, after the previous expectations)", w)
			return
		}
		rest = rest[i+len(w):]
	}
}
