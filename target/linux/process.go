// Package linux implements target.Process with ptrace on Linux x86-64.
// It is the only package of gostub that talks to the kernel about tracees.
package linux

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	log "github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/gostub/gostub/breakpoints"
	"github.com/gostub/gostub/regs"
	"github.com/gostub/gostub/target"
)

const traceOptions = unix.PTRACE_O_TRACECLONE | unix.PTRACE_O_TRACEFORK | unix.PTRACE_O_TRACEVFORK |
	unix.PTRACE_O_TRACEEXEC | unix.PTRACE_O_TRACESYSGOOD | unix.PTRACE_O_TRACEVFORKDONE |
	unix.PTRACE_O_TRACEEXIT // the leader's own exit is otherwise invisible until the last thread's

// thread is what we know of one traced thread.
type thread struct {
	tid     int
	stopped bool // in a ptrace-stop
	// expectStop: we sent it a SIGSTOP that has not been reported yet.
	expectStop bool
	// newborn: a clone child whose initial SIGSTOP has not been seen yet.
	newborn bool
	// zombie: the leader exited while other threads live on; it is no
	// thread the client can use any more.
	zombie bool
	// pending is an event collected while stopping all threads, to be
	// reported at a later resume.
	pending *target.StopEvent

	// how it was last resumed
	step                 bool
	rangeStart, rangeEnd uint64
	// Range stepping with exit breakpoints (rangestep.go): the debug
	// register slots armed for this run, those armed for the run that
	// just stopped, and whether the next run must be one single step.
	rangeArmed, rangeHit uint8
	rangeStepOnce        bool
	// stepDone: its last stop ended a step or range step it was asked
	// for; kept pending, such a stop belongs to that request only.
	stepDone bool
	// passSig is a pass-through signal met while stopping all threads,
	// delivered when the thread next runs.
	passSig int
	// stopRequested: non-stop vCont;t (or interrupt) asked this thread to
	// stop; it reports signal stopAs when our SIGSTOP arrives.
	stopRequested bool
	stopAs        int
	// reported: the client was told this thread stopped (non-stop).
	reported bool
	// syscall is the number of the call the thread last entered.
	syscall int

	debugRegs regs.DebugRegs // what this thread's DR0-3/DR7 hold
	statFile  *os.File       // /proc/PID/task/TID/stat, for the core in stop replies

	gpr      []byte
	gprValid bool
	xsave    []byte
	xsaveN   int // bytes the kernel filled, 0 when not loaded
}

// Process is a traced Linux process. All ptrace work runs on its tracer thread.
type Process struct {
	tr       *tracer
	pid      int
	attached bool
	execPath string

	// mu guards the interrupt hand-over (Interrupt runs on the session's
	// goroutine while the tracer waits) and the threads map for Threads.
	mu       sync.Mutex
	threads  map[int]*thread
	running  bool
	intrTID  int  // the running thread an interrupt's SIGSTOP goes to
	intrSent bool // that SIGSTOP was sent and not yet seen
	// intrEarly: an interrupt arrived before the resume it was meant for
	// started running threads.
	intrEarly bool

	stopping    bool              // inside stopAll: absorbed events leave threads stopped
	pendingExit *target.StopEvent // the process ended while we stopped it
	lifted      bool              // breakpoints lifted for a vfork child

	layout    *regs.Layout // the 'g' layout the client gets
	cpuLayout *regs.Layout // everything the CPU has
	noXML     bool         // the client reads no target description
	mem       *memory
	bps       *breakpoints.Software
	hw        *breakpoints.HW
	extras    map[pointKey]breakpoints.PointExtras // target-side conditions and commands
	promoted  map[uint64]bool                      // conditional Z0s held in a debug register
	tsv       map[int]int64                        // agent trace state variables
	pass      map[int]bool
	exited    bool

	// Statuses of threads that are not ours (yet): a clone child seen
	// before its clone event, or a thread of another process sharing this
	// tracer (a fork child). Shared by all processes of one tracer.
	early map[int]unix.WaitStatus

	reportFork, reportVFork bool
	sharedMem               bool // a vfork child that has not exec'd: its parent's memory
	released                bool // our claim on the tracer was given back

	lastStop *target.StopEvent // the last stop reported by Resume

	// modidDesc is where the dynamic linker describes link_map's
	// l_tls_modid (learnt through qSymbol), for thread-local storage.
	modidDesc uint64

	// syscall catching (QCatchSyscalls); a nil set means every call
	catching bool
	catchSet map[int]bool

	// threadEvents: report thread creation and exit (QThreadEvents)
	threadEvents bool
	heldExits    []target.StopEvent // thread exits met while stopping all (all-stop)

	// non-stop mode
	nonStop     bool
	events      []target.StopEvent
	eventsReady chan struct{}
}

// LaunchOptions describe a program to start under ptrace.
type LaunchOptions struct {
	Path string
	Args []string // argv[1:]
	Env  []string // nil means inherit
	Dir  string
	// Shell, when set, starts the program as `Shell -c 'exec PROG ARGS'` as
	// gdbserver does by default.
	Shell string
	// DisableASLR runs the program with ADDR_NO_RANDOMIZE.
	DisableASLR bool
	// Files are the inferior's stdin, stdout and stderr.
	Files []*os.File
	// Wrapper runs the program through another (`env X=1 --`); it must exec it.
	Wrapper []string
}

// Launch starts a program stopped at its first instruction (the dynamic
// loader's entry), traced.
func Launch(opts LaunchOptions) (*Process, error) {
	p := newProcess()
	var err error
	p.tr.do(func() {
		if err = p.launch(opts); err == nil {
			p.tr.add(p)
		}
	})
	if err != nil {
		p.tr.release()
		return nil, err
	}
	return p, nil
}

// Attach traces every thread of a running process and leaves it stopped.
func Attach(pid int) (*Process, error) {
	p := newProcess()
	p.pid = pid
	p.attached = true
	var err error
	p.tr.do(func() {
		if err = p.attach(); err == nil {
			p.tr.add(p)
		}
	})
	if err != nil {
		p.tr.release()
		return nil, err
	}
	return p, nil
}

func newProcess() *Process {
	tr := newTracer()
	return &Process{
		tr:       tr,
		threads:  make(map[int]*thread),
		bps:      breakpoints.NewSoftware(),
		hw:       breakpoints.NewHW(),
		extras:   map[pointKey]breakpoints.PointExtras{},
		promoted: map[uint64]bool{},
		tsv:      map[int]int64{},
		pass:     make(map[int]bool),
		early:    tr.early, // shared by every process of the tracer thread
	}
}

func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r == '/' || r == '.' || r == '-' || r == '_' || r == '=' || r == ',' || r == ':' ||
			(r >= '0' && r <= '9') || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z'))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func (p *Process) launch(opts LaunchOptions) error {
	// A program named without a directory is looked for in the current
	// directory first, as gdbserver does, then in PATH by the shell.
	if !filepath.IsAbs(opts.Path) {
		if st, err := os.Stat(opts.Path); err == nil && !st.IsDir() {
			if abs, err := filepath.Abs(opts.Path); err == nil {
				opts.Path = abs
			}
		}
	}
	argv := append(append(append([]string(nil), opts.Wrapper...), opts.Path), opts.Args...)
	path := argv[0]
	// Each exec after the first stop is one more PTRACE_EVENT_EXEC before
	// the program itself runs: the shell's, then the wrapper's.
	execs := 0
	if len(opts.Wrapper) > 0 {
		execs++
	}
	if opts.Shell != "" {
		quoted := make([]string, len(argv))
		for i, a := range argv {
			quoted[i] = shellQuote(a)
		}
		path = opts.Shell
		argv = []string{opts.Shell, "-c", "exec " + strings.Join(quoted, " ")}
		execs++
	} else if !strings.Contains(path, "/") {
		if lp, err := exec.LookPath(path); err == nil {
			path = lp
		}
	}
	files := opts.Files
	if files == nil {
		files = []*os.File{os.Stdin, os.Stdout, os.Stderr}
	}
	if opts.DisableASLR {
		// personality is per task and inherited by fork: set it on this (the
		// tracer) thread around the fork only.
		old, err := personality(0xffffffff)
		if err == nil {
			personality(old | addrNoRandomize)
			defer personality(old)
		}
	}
	sys := procAttr(files[0])
	proc, err := os.StartProcess(path, argv, &os.ProcAttr{
		Dir:   opts.Dir,
		Env:   opts.Env,
		Files: files,
		// No Pdeathsig: it fires when the forking *thread* exits, which
		// the tracer thread does after a detach. PTRACE_O_EXITKILL covers
		// a server that dies while the program is traced.
		Sys: sys,
	})
	if err != nil {
		return fmt.Errorf("start %s: %w", opts.Path, err)
	}
	p.pid = proc.Pid
	proc.Release()
	if sys.Foreground {
		gaveTerminal.Store(files[0])
	}

	var ws unix.WaitStatus
	if _, err := unix.Wait4(p.pid, &ws, unix.WALL, nil); err != nil {
		return fmt.Errorf("wait for %s to start: %w", opts.Path, err)
	}
	if !ws.Stopped() {
		return fmt.Errorf("start %s: exited before its first instruction (%v)", opts.Path, describeStatus(ws))
	}
	if err := unix.PtraceSetOptions(p.pid, traceOptions|unix.PTRACE_O_EXITKILL); err != nil {
		unix.Kill(p.pid, unix.SIGKILL)
		return fmt.Errorf("set ptrace options: %w", err)
	}
	// Run the shell and the wrapper until they exec the program.
	for ; execs > 0; execs-- {
		if err := unix.PtraceCont(p.pid, 0); err != nil {
			return fmt.Errorf("start %s: %w", opts.Path, err)
		}
		for {
			if _, err := unix.Wait4(p.pid, &ws, unix.WALL, nil); err != nil {
				return fmt.Errorf("start %s: %w", opts.Path, err)
			}
			if ws.Exited() || ws.Signaled() {
				return fmt.Errorf("During startup program exited with code %d.", ws.ExitStatus())
			}
			if ws.Stopped() && ws.StopSignal() == unix.SIGTRAP && ws.TrapCause() == unix.PTRACE_EVENT_EXEC {
				break
			}
			sig := 0
			if ws.Stopped() && ws.StopSignal() != unix.SIGTRAP {
				sig = int(ws.StopSignal())
			}
			if err := unix.PtraceCont(p.pid, sig); err != nil {
				return fmt.Errorf("start %s: %w", opts.Path, err)
			}
		}
	}
	if len(opts.Wrapper) > 0 || opts.Shell != "" {
		// The exec event stops the program inside execve (rax -ENOSYS);
		// finish the call so it stands at its first instruction with the
		// registers a fresh program has, as after a direct start.
		if err := unix.PtraceSyscall(p.pid, 0); err != nil {
			return fmt.Errorf("start %s: %w", opts.Path, err)
		}
		if _, err := unix.Wait4(p.pid, &ws, unix.WALL, nil); err != nil {
			return fmt.Errorf("start %s: %w", opts.Path, err)
		}
	}
	p.threads[p.pid] = &thread{tid: p.pid, stopped: true}
	p.execPath, _ = os.Readlink(fmt.Sprintf("/proc/%d/exe", p.pid))
	return p.setupAddressSpace()
}

func personality(persona uint64) (uint64, error) {
	r, _, e := unix.Syscall(unix.SYS_PERSONALITY, uintptr(persona), 0, 0)
	if e != 0 {
		return 0, e
	}
	return uint64(r), nil
}

func (p *Process) attach() error {
	seen := make(map[int]bool)
	for {
		tids, err := listTasks(p.pid)
		if err != nil {
			return fmt.Errorf("attach to %d: %w", p.pid, err)
		}
		added := false
		for _, tid := range tids {
			if seen[tid] {
				continue
			}
			seen[tid] = true
			added = true
			if err := p.attachThread(tid); err != nil {
				if tid == p.pid {
					p.detachAll()
					return fmt.Errorf("attach to %d: %w", p.pid, err)
				}
				log.WithError(err).WithField("tid", tid).Debug("thread vanished during attach")
			}
		}
		if !added {
			break
		}
	}
	p.execPath, _ = os.Readlink(fmt.Sprintf("/proc/%d/exe", p.pid))
	return p.setupAddressSpace()
}

func (p *Process) attachThread(tid int) error {
	if err := unix.PtraceAttach(tid); err != nil {
		return err
	}
	t := &thread{tid: tid}
	p.threads[tid] = t
	for {
		var ws unix.WaitStatus
		if _, err := unix.Wait4(tid, &ws, unix.WALL, nil); err != nil {
			delete(p.threads, tid)
			return err
		}
		if ws.Exited() || ws.Signaled() {
			delete(p.threads, tid)
			return errors.New("thread exited")
		}
		if ws.StopSignal() == unix.SIGSTOP {
			break
		}
		// Another signal arrived first: keep it for the program.
		ev := target.StopEvent{Kind: target.StopSignalled, Thread: target.ThreadID{PID: p.pid, TID: tid}, Signal: int(ws.StopSignal()), Core: -1}
		t.pending = &ev
		t.expectStop = true
		break
	}
	t.stopped = true
	if err := unix.PtraceSetOptions(tid, traceOptions); err != nil {
		return fmt.Errorf("set ptrace options of %d: %w", tid, err)
	}
	return nil
}

// setupAddressSpace (re)reads what depends on the program image: memory
// handle and register layout. Runs after launch, attach and exec.
func (p *Process) setupAddressSpace() error {
	p.mem.close()
	m, err := openMemory(p.pid)
	if err != nil {
		return err
	}
	p.mem = m
	t := p.threads[p.pid]
	if t == nil {
		for _, th := range p.threads {
			t = th
			break
		}
	}
	// The XSAVE buffer carries XCR0 and, by its size, which offsets the CPU
	// uses (AMD leaves out the MPX area).
	if err := p.loadXsave(t); err == nil && t.xsaveN >= regs.XCR0Offset+8 {
		p.cpuLayout = regs.AMD64ForXSave(t.xsave[:t.xsaveN])
	} else {
		p.cpuLayout = regs.AMD64(regs.FeatureX87 | regs.FeatureSSE)
	}
	p.pickLayout()
	return nil
}

// pickLayout chooses the 'g' layout: the CPU's, or for a client that
// reads no target description gdb's built-in amd64 Linux one (x87 and
// SSE only), as gdbserver does.
func (p *Process) pickLayout() {
	p.layout = p.cpuLayout
	if p.noXML {
		p.layout = regs.AMD64(regs.FeatureX87 | regs.FeatureSSE)
	}
}

// SetClientXML says whether the client reads target descriptions
// (qSupported xmlRegisters=).
func (p *Process) SetClientXML(has bool) {
	p.tr.do(func() {
		p.noXML = !has
		p.pickLayout()
	})
}

func le64(b []byte) uint64 {
	return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
}

func putLE64(b []byte, v uint64) {
	for i := 0; i < 8; i++ {
		b[i] = byte(v >> (8 * i))
	}
}

func describeStatus(ws unix.WaitStatus) string {
	switch {
	case ws.Exited():
		return fmt.Sprintf("exited with %d", ws.ExitStatus())
	case ws.Signaled():
		return fmt.Sprintf("killed by %v", ws.Signal())
	case ws.Stopped():
		return fmt.Sprintf("stopped by %v (event %d)", ws.StopSignal(), ws.TrapCause())
	}
	return fmt.Sprintf("status %#x", uint32(ws))
}

// PID is the process id.
func (p *Process) PID() int { return p.pid }

// Attached tells whether we attached (true) or launched (false).
func (p *Process) Attached() bool { return p.attached }

// ExecFile is the absolute path of the program.
func (p *Process) ExecFile() (string, error) {
	if p.execPath == "" {
		return "", target.ErrUnsupported
	}
	return p.execPath, nil
}

// Auxv returns the process's auxiliary vector.
func (p *Process) Auxv() ([]byte, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/auxv", p.pid))
	if err != nil {
		return nil, fmt.Errorf("read auxv: %w", err)
	}
	return b, nil
}

// Threads lists live threads, leader first then by id.
func (p *Process) Threads() []target.ThreadID {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]target.ThreadID, 0, len(p.threads))
	for tid, t := range p.threads {
		// An exited leader is no thread to use while others live on;
		// alone, it stands for the process whose end is coming (a
		// thread exit reported just before leaves the client this one
		// thread to resume).
		if t.newborn || t.zombie && len(p.threads) > 1 {
			continue
		}
		out = append(out, target.ThreadID{PID: p.pid, TID: tid})
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].TID, out[j].TID
		if (a == p.pid) != (b == p.pid) {
			return a == p.pid
		}
		return a < b
	})
	return out
}

// ThreadName is the thread's comm.
func (p *Process) ThreadName(t target.ThreadID) string { return threadName(p.pid, t.TID) }

// ThreadCore is the CPU the thread last ran on.
func (p *Process) ThreadCore(t target.ThreadID) int { return threadCore(p.pid, t.TID) }

// SetPassSignals sets the signals delivered without stopping (QPassSignals).
func (p *Process) SetPassSignals(sigs map[int]bool) {
	p.tr.do(func() { p.pass = sigs })
}

// SupportsRangeStep: yes, range stepping runs in the wait loop.
func (p *Process) SupportsRangeStep() bool { return true }

func (p *Process) thread(id target.ThreadID) (*thread, error) {
	if p.exited {
		return nil, target.ErrNoProcess
	}
	t := p.threads[id.TID]
	if t == nil || t.newborn || t.zombie {
		return nil, fmt.Errorf("thread %d: %w", id.TID, target.ErrNoThread)
	}
	return t, nil
}

// ReadMemory reads with breakpoints hidden.
func (p *Process) ReadMemory(addr uint64, buf []byte) error {
	if p.exited || p.mem == nil {
		return target.ErrNoProcess
	}
	if err := p.mem.ReadMemory(addr, buf); err != nil {
		return err
	}
	p.bps.ShadowRead(addr, buf)
	return nil
}

// WriteMemory writes around inserted breakpoints, keeping them.
func (p *Process) WriteMemory(addr uint64, data []byte) error {
	if p.exited || p.mem == nil {
		return target.ErrNoProcess
	}
	return p.mem.WriteMemory(addr, p.bps.ShadowWrite(addr, data))
}

// Detach removes every breakpoint and lets all threads run untraced.
func (p *Process) Detach() error {
	if p.exited {
		return target.ErrNoProcess
	}
	var err error
	p.tr.do(func() { err = p.detachAll() })
	p.release()
	return err
}

// gaveTerminal is the terminal whose foreground a launched program got.
var gaveTerminal atomic.Pointer[os.File]

// TakeTerminalBack makes our process group the terminal's foreground
// again, as gdbserver does when its client leaves: a program we detached
// keeps running, and when the server (a session leader, as under DejaGnu's
// pty) exits, the kernel would hang up the program's group, which then
// dies of SIGHUP, children and all.
func TakeTerminalBack() {
	term := gaveTerminal.Swap(nil)
	if term == nil {
		return
	}
	fd := int(term.Fd())
	if pgrp, err := unix.IoctlGetInt(fd, unix.TIOCGPGRP); err != nil || pgrp == unix.Getpgrp() {
		return
	}
	// From a background group, TIOCSPGRP raises SIGTTOU unless it is
	// blocked; block it on this thread only (ignoring it would be
	// inherited by programs started later).
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var set, old unix.Sigset_t
	set.Val[0] = 1 << (uint(unix.SIGTTOU) - 1)
	if unix.PthreadSigmask(unix.SIG_BLOCK, &set, &old) != nil {
		return
	}
	defer unix.PthreadSigmask(unix.SIG_SETMASK, &old, nil)
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPGRP, unix.Getpgrp()); err != nil {
		log.WithError(err).Debug("take the terminal back")
	}
}

func (p *Process) detachAll() error {
	// Non-stop leaves threads running; only a stopped tracee detaches.
	for _, t := range p.threads {
		if !t.stopped {
			p.stopAll()
			break
		}
	}
	// Fork children announced by events the client never took are ours
	// to let go as well.
	p.mu.Lock()
	evs := p.events
	p.events = nil
	p.mu.Unlock()
	for _, ev := range append(evs, p.pendingEvents()...) {
		if c, ok := ev.Child.(*Process); ok && !c.exited {
			c.detachAll()
			c.release()
		}
	}
	first := p.removeAllPoints()
	for tid, t := range p.threads {
		sig := 0
		if t.pending != nil && t.pending.Kind == target.StopSignalled && t.pending.Signal != int(unix.SIGTRAP) &&
			t.pending.Signal != int(unix.SIGSTOP) {
			sig = t.pending.Signal
		}
		if t.expectStop || t.newborn {
			// Our SIGSTOP is still queued: SIGCONT discards it, so the
			// process does not stop the moment we let go.
			unix.Tgkill(p.pid, tid, unix.SIGCONT)
		}
		if err := detachThread(tid, sig); err != nil && !errors.Is(err, unix.ESRCH) && first == nil {
			first = fmt.Errorf("detach thread %d: %w", tid, err)
		}
	}
	p.detachStragglers()
	p.closeThreads()
	p.threads = map[int]*thread{}
	p.exited = true
	p.mem.close()
	return first
}

// Kill removes breakpoints, kills the process and reaps every thread.
func (p *Process) Kill() error {
	if p.exited {
		return target.ErrNoProcess
	}
	var err error
	p.tr.do(func() { err = p.kill() })
	p.release()
	return err
}

func (p *Process) kill() error {
	p.removeAllPoints()
	if err := unix.Kill(p.pid, unix.SIGKILL); err != nil && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("kill %d: %w", p.pid, err)
	}
	p.reapAll()
	p.closeThreads()
	p.exited = true
	p.mem.close()
	return nil
}

// reapAll waits until the leader is gone, collecting every thread. Another
// process's wait loop may have set some of their statuses aside already.
func (p *Process) reapAll() {
	// take digests one status; it reports true for the leader's end.
	take := func(wpid int, ws unix.WaitStatus) bool {
		if wpid == p.pid && (ws.Exited() || ws.Signaled()) {
			return true
		}
		if ws.Stopped() {
			// An exit stop (PTRACE_O_TRACEEXIT) holds the dying thread
			// until we let it go.
			unix.PtraceCont(wpid, 0)
		}
		return false
	}
	for tid, ws := range p.early {
		if _, ours := p.threads[tid]; ours {
			delete(p.early, tid)
			if take(tid, ws) {
				return
			}
		}
	}
	for {
		var ws unix.WaitStatus
		wpid, err := unix.Wait4(-1, &ws, unix.WALL, nil)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return
		}
		if _, ours := p.threads[wpid]; !ours {
			p.tr.setAside(wpid, ws)
			continue
		}
		if take(wpid, ws) {
			return
		}
	}
}

// claimSetAside digests the statuses of this process's threads that
// another process's wait set aside, as stopAll digests the ones it waits
// for: a thread stopped that way reports nothing more until it runs. It
// reports true when the process has ended (pendingExit).
func (p *Process) claimSetAside() bool {
	for tid, ws := range p.early {
		if p.threads[tid] == nil {
			continue
		}
		delete(p.early, tid)
		ev, report := p.handleStatus(tid, ws)
		if !report {
			continue
		}
		if ev.Kind != target.StopSignalled {
			p.pendingExit = &ev
			return true
		}
		if t := p.threads[ev.Thread.TID]; t != nil {
			t.pending = &ev
		}
	}
	return false
}

// detachStragglers lets go of the process's threads still attached to us
// after the known ones were detached: a thread no event announced yet (a
// clone in flight while the others were being stopped), or one that was not
// in a stop when its detach came and may go on cloning. Left traced, they
// keep the process from finishing its exit, and its parent waits for it
// forever (gdb.threads/process-dies-while-detaching.exp). A thread not in a
// stop is stopped with SIGSTOP first; SIGCONT at the end discards any
// SIGSTOP still pending, as for the known threads.
func (p *Process) detachStragglers() {
	me := os.Getpid()
	signalled := map[int]bool{}
	deadline := time.Now().Add(time.Second)
	for {
		tids, err := listTasks(p.pid)
		if err != nil {
			break
		}
		left := 0
		for _, tid := range tids {
			if tracerOf(p.pid, tid) != me {
				continue
			}
			err := detachThread(tid, 0)
			if err == nil || !errors.Is(err, unix.ESRCH) {
				continue
			}
			left++
			if !signalled[tid] {
				signalled[tid] = true
				unix.Tgkill(p.pid, tid, unix.SIGSTOP)
			}
			var ws unix.WaitStatus
			unix.Wait4(tid, &ws, unix.WNOHANG|unix.WALL, nil)
		}
		if left == 0 || time.Now().After(deadline) {
			if left > 0 {
				log.WithField("threads", left).Warn("detach: threads still attached")
			}
			break
		}
		time.Sleep(100 * time.Microsecond)
	}
	for tid := range signalled {
		unix.Tgkill(p.pid, tid, unix.SIGCONT)
	}
}

// WaitExit blocks until a detached child of ours exits, so it leaves no zombie.
func WaitExit(pid int) {
	var ws unix.WaitStatus
	for {
		_, err := unix.Wait4(pid, &ws, 0, nil)
		if !errors.Is(err, unix.EINTR) {
			return
		}
	}
}

var _ target.Process = (*Process)(nil)

// InitialStop is the stop a client that connects is told about: the last
// one reported, or SIGTRAP at the first instruction after launch, signal 0
// after attach (the SIGSTOP of the attach is ours, not the program's).
func (p *Process) InitialStop() target.StopEvent {
	sig := int(unix.SIGTRAP)
	if p.attached {
		sig = 0
	}
	ev := target.StopEvent{Kind: target.StopSignalled, Thread: target.ThreadID{PID: p.pid, TID: p.pid}, Signal: sig}
	p.tr.do(func() {
		// A client that reconnects is told where the process stands now.
		if p.lastStop != nil && p.threads[p.lastStop.Thread.TID] != nil {
			ev = *p.lastStop
		}
		ev = p.complete(ev)
	})
	return ev
}

// addrNoRandomize is ADDR_NO_RANDOMIZE from <linux/personality.h>.
const addrNoRandomize = 0x0040000

// release gives back this process's claim on the tracer thread.
func (p *Process) release() {
	if !p.released {
		p.released = true
		p.tr.release()
	}
}

// SetForkEvents makes fork and vfork children reportable (held stopped).
func (p *Process) SetForkEvents(fork, vfork bool) {
	p.tr.do(func() { p.reportFork, p.reportVFork = fork, vfork })
}

// closeThreads releases what the thread table holds open.
func (p *Process) closeThreads() {
	for _, t := range p.threads {
		t.close()
	}
}

func (t *thread) close() {
	if t.statFile != nil {
		t.statFile.Close()
		t.statFile = nil
	}
}

// procAttr starts the program traced and, as gdbserver does, as the leader
// of its own process group. When our stdin is the terminal we own, the
// program's group gets it, so it can read it without SIGTTIN; on a
// terminal we do not own, it stays in our group.
func procAttr(stdin *os.File) *syscall.SysProcAttr {
	attr := &syscall.SysProcAttr{Ptrace: true}
	pgrp, err := unix.IoctlGetInt(int(stdin.Fd()), unix.TIOCGPGRP)
	switch {
	case err != nil: // not a terminal
		attr.Setpgid = true
	case pgrp == unix.Getpgrp():
		attr.Setpgid, attr.Foreground, attr.Ctty = true, true, 0
	}
	return attr
}

// pendingEvents lists the events kept on threads for a later report.
func (p *Process) pendingEvents() []target.StopEvent {
	var out []target.StopEvent
	for _, t := range p.threads {
		if t.pending != nil {
			out = append(out, *t.pending)
		}
	}
	return out
}
