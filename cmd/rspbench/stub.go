package main

import (
	"bytes"
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
	"time"

	"golang.org/x/sys/unix"

	"github.com/gostub/gostub/rsp/rspclient"
)

// Timeouts of a session.
var (
	listenTimeout = 15 * time.Second // from start to "Listening on port"
	dialTimeout   = 5 * time.Second
	packetTimeout = 10 * time.Second // any one packet exchange
	exitTimeout   = 3 * time.Second  // from vKill to the stub's exit
)

func init() {
	// Become the reaper of orphaned descendants: an inferior whose stub died
	// is re-parented to us, so we can see and reap it instead of leaving a
	// zombie under a PID 1 that may not reap.
	unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
}

// session is one stub process serving one inferior, connected and past the
// handshake gdb does (qSupported, QStartNoAckMode, ?).
type session struct {
	stub   string // the stub's path
	prog   *program
	cmd    *exec.Cmd
	exited chan struct{} // closed when the stub has exited
	out    *outputWatcher
	c      *rspclient.Conn
	feats  rspclient.Features
	pid    int // inferior
	tid    int
	notes  []string // observations for the report, each once

	closeOnce sync.Once
	closeErr  error
}

// note records an observation about the stub once.
func (s *session) note(msg string) {
	for _, n := range s.notes {
		if n == msg {
			return
		}
	}
	s.notes = append(s.notes, msg)
}

// outputWatcher collects the stub's stderr, keeps its tail for error
// messages, and reports the port of "Listening on port N".
type outputWatcher struct {
	mu   sync.Mutex
	buf  []byte
	line []byte
	port chan int
	sent bool
}

var listeningRE = regexp.MustCompile(`Listening on port (\d+)`)

func newOutputWatcher() *outputWatcher { return &outputWatcher{port: make(chan int, 1)} }

func (w *outputWatcher) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	if len(w.buf) > 8192 {
		w.buf = append(w.buf[:0], w.buf[len(w.buf)-4096:]...)
	}
	for _, b := range p {
		if b != '\n' {
			if len(w.line) < 4096 {
				w.line = append(w.line, b)
			}
			continue
		}
		if port, ok := parseListening(string(w.line)); ok && !w.sent {
			w.sent = true
			w.port <- port
		}
		w.line = w.line[:0]
	}
	return len(p), nil
}

// parseListening extracts the port from gdbserver's "Listening on port N".
func parseListening(line string) (int, bool) {
	m := listeningRE.FindStringSubmatch(line)
	if m == nil {
		return 0, false
	}
	n, err := strconv.Atoi(m[1])
	if err != nil || n <= 0 || n > 65535 {
		return 0, false
	}
	return n, true
}

func (w *outputWatcher) tail() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := strings.TrimSpace(string(w.buf))
	if s == "" {
		return "(no output)"
	}
	return s
}

// freePort returns a TCP port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// active tracks running sessions so that an interrupted rspbench can clean up.
var active struct {
	sync.Mutex
	m map[*session]bool
}

func track(s *session, on bool) {
	active.Lock()
	defer active.Unlock()
	if active.m == nil {
		active.m = map[*session]bool{}
	}
	if on {
		active.m[s] = true
	} else {
		delete(active.m, s)
	}
}

// closeAll closes every running session (on SIGINT).
func closeAll() {
	active.Lock()
	ss := make([]*session, 0, len(active.m))
	for s := range active.m {
		ss = append(ss, s)
	}
	active.Unlock()
	for _, s := range ss {
		if s.c != nil {
			s.c.Close() // wakes a goroutine blocked in an exchange
		}
		s.close()
	}
}

// launch starts the stub (startStub), connects and does the handshake.  On
// error nothing is left running.
func launch(stub string, prog *program) (s *session, err error) {
	s, port, err := startStub(stub, prog)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			if cerr := s.close(); cerr != nil {
				err = fmt.Errorf("%w; cleanup: %v", err, cerr)
			}
			s = nil
		}
	}()
	s.c, err = rspclient.Dial("localhost:"+strconv.Itoa(port), dialTimeout)
	if err != nil {
		return s, err
	}
	s.c.Timeout = packetTimeout
	if err := s.handshake(); err != nil {
		return s, fmt.Errorf("%s: handshake: %w; output:\n%s", name(stub), err, s.out.tail())
	}
	return s, nil
}

// startStub starts `stub --once localhost:PORT prog` and waits for
// "Listening on port".  The session has no connection yet.  On error
// nothing is left running.
func startStub(stub string, prog *program) (s *session, port int, err error) {
	port, err = freePort()
	if err != nil {
		return nil, 0, err
	}
	s = &session{
		stub:   stub,
		prog:   prog,
		exited: make(chan struct{}),
		out:    newOutputWatcher(),
	}
	s.cmd = exec.Command(stub, "--once", "localhost:"+strconv.Itoa(port), prog.path)
	s.cmd.Stderr = s.out
	s.cmd.Stdout = s.out
	s.cmd.WaitDelay = time.Second // do not wait for an inferior holding the pipe
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		return nil, 0, fmt.Errorf("start %s: %w", stub, err)
	}
	track(s, true)
	go func() {
		s.cmd.Wait()
		close(s.exited)
	}()
	defer func() {
		if err != nil {
			if cerr := s.close(); cerr != nil {
				err = fmt.Errorf("%w; cleanup: %v", err, cerr)
			}
			s = nil
		}
	}()

	select {
	case p := <-s.out.port:
		return s, p, nil
	case <-s.exited:
		return s, 0, fmt.Errorf("%s exited before listening (%v); output:\n%s", name(stub), s.cmd.ProcessState, s.out.tail())
	case <-time.After(listenTimeout):
		return s, 0, fmt.Errorf("%s did not print \"Listening on port\" within %v; output:\n%s", name(stub), listenTimeout, s.out.tail())
	}
}

func name(path string) string { return filepath.Base(path) }

// handshake does what gdb does first: qSupported with gdb's features,
// QStartNoAckMode, and '?' for the thread of the stopped inferior.
func (s *session) handshake() error {
	var err error
	s.feats, err = s.c.Supported(rspclient.GDBFeatures)
	if err != nil {
		return err
	}
	if err := s.c.StartNoAck(); err != nil {
		return err
	}
	r, err := s.c.Exchange("?")
	if err != nil {
		return err
	}
	stop, err := rspclient.ParseStop(r)
	if err != nil {
		return err
	}
	if stop.Kind != 'T' || stop.PID <= 0 || stop.TID <= 0 {
		return fmt.Errorf("'?' answered %q: want T with thread:pPID.TID", r)
	}
	s.pid, s.tid = stop.PID, stop.TID
	return nil
}

// close kills the inferior (vKill), closes the connection and waits for the
// stub to exit; a stub that does not exit is killed.  It then makes sure the
// inferior is gone.  Anything it had to force is returned as an error.
// Calling it again returns the first result.
func (s *session) close() error {
	s.closeOnce.Do(func() { s.closeErr = s.shutdown() })
	return s.closeErr
}

func (s *session) shutdown() error {
	defer track(s, false)
	var errs []error
	if s.c != nil {
		if s.pid > 0 {
			s.c.Timeout = exitTimeout
			if r, err := s.c.Exchangef("vKill;%x", s.pid); err != nil || r != "OK" {
				errs = append(errs, fmt.Errorf("vKill;%x: %q, %v", s.pid, r, err))
			}
		}
		s.c.Close()
	}
	select {
	case <-s.exited:
	case <-time.After(exitTimeout):
		errs = append(errs, fmt.Errorf("%s (pid %d) still running %v after vKill and disconnect; killed it", name(s.stub), s.cmd.Process.Pid, exitTimeout))
		syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		s.cmd.Process.Kill()
		<-s.exited
	}
	// Anything left in the stub's process group (an inferior it did not put
	// in a group of its own).
	syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	if s.pid > 0 {
		if err := reap(s.pid, s.prog.path); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// reap makes sure process pid (the inferior, running path) is gone: it
// waits a little for it to disappear, reaps it if it became our child, and
// kills it if it is still running, which is reported as an error.
func reap(pid int, path string) error {
	deadline := time.Now().Add(2 * time.Second)
	killed := false
	for {
		state, exe := procState(pid)
		switch {
		case state == 0:
			if killed {
				return fmt.Errorf("inferior %d outlived its stub; killed it", pid)
			}
			return nil
		case state == 'Z':
			// Ours if the stub died and we are the subreaper.
			var ws unix.WaitStatus
			unix.Wait4(pid, &ws, unix.WNOHANG, nil)
		case exe != "" && exe != path:
			return nil // pid reused by something else
		case time.Now().After(deadline) && !killed:
			syscall.Kill(pid, syscall.SIGKILL)
			killed = true
			deadline = time.Now().Add(2 * time.Second)
		case time.Now().After(deadline):
			return fmt.Errorf("inferior %d still exists after SIGKILL", pid)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// procState returns the state letter of /proc/pid/stat (0 if there is no
// such process) and the process's executable.
func procState(pid int) (byte, string) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, ""
	}
	i := bytes.LastIndexByte(data, ')')
	if i < 0 || i+2 >= len(data) {
		return 0, ""
	}
	exe, _ := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe")
	return data[i+2], exe
}

// exchange sends payload and checks the reply against want (exact match,
// or prefix match when want ends in '*').
func (s *session) expect(payload, want string) (string, error) {
	r, err := s.c.Exchange(payload)
	if err != nil {
		return "", fmt.Errorf("%s: %w", payload, err)
	}
	if p, ok := strings.CutSuffix(want, "*"); ok {
		if !strings.HasPrefix(r, p) {
			return r, fmt.Errorf("%s answered %q, want %s...", payload, r, p)
		}
	} else if r != want {
		return r, fmt.Errorf("%s answered %q, want %q", payload, r, want)
	}
	return r, nil
}

// cont resumes the whole process as gdb does in all-stop mode
// (vCont;c:pPID.-1) and checks that it stops with SIGTRAP at pc.
func (s *session) cont(pc uint64) error {
	payload := fmt.Sprintf("vCont;c:p%x.-1", s.pid)
	r, err := s.c.Exchange(payload)
	if err != nil {
		return fmt.Errorf("%s: %w", payload, err)
	}
	return checkStop(payload, r, pc)
}

// checkStop checks that reply is a T05 whose expedited pc (register 0x10)
// is pc.
func checkStop(payload, r string, pc uint64) error {
	stop, err := rspclient.ParseStop(r)
	if err != nil {
		return fmt.Errorf("%s: %w", payload, err)
	}
	if stop.Kind != 'T' || stop.Signal != 5 {
		return fmt.Errorf("%s answered %q, want T05", payload, r)
	}
	got, ok := stop.Reg(0x10)
	if !ok {
		return fmt.Errorf("%s answered %q: no expedited pc (register 10)", payload, r)
	}
	if got != pc {
		return fmt.Errorf("%s answered %q: pc %#x, want %#x", payload, r, got, pc)
	}
	return nil
}

// runTo runs the inferior to the function at addr with a temporary
// breakpoint.
func (s *session) runTo(addr uint64) error {
	if _, err := s.expect(fmt.Sprintf("Z0,%x,1", addr), "OK"); err != nil {
		return err
	}
	if err := s.cont(addr); err != nil {
		return err
	}
	_, err := s.expect(fmt.Sprintf("z0,%x,1", addr), "OK")
	return err
}
