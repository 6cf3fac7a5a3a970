package linux

import (
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// tracer is the one OS thread that owns every tracee: Linux accepts ptrace
// requests only from the thread that attached.
//
// It runs in one of two ways. By default it is a goroutine of its own,
// locked to its thread, and work is handed to it as whole operations
// (resume-and-wait, read all registers). A server whose request loop runs
// on one locked thread anyway calls RunOnCallingThread first: the tracer is
// then that thread itself and an operation is a plain call, with no
// goroutine hop at all (each hop wakes a sleeping thread: microseconds).
type tracer struct {
	direct bool // work runs on the caller, which is the tracer thread
	tid    int  // the tracer's OS thread, in direct mode

	// onChild, when set, is called on the tracer thread at each SIGCHLD
	// (non-stop mode: wait without blocking the thread).
	onChild func()
	sigchld chan os.Signal
	notify  sync.Once // SIGCHLD is asked for only by non-stop mode

	beforeBlock func() // called once before wait4 sleeps (Process.OnBlock)

	work  chan func()
	quit  chan struct{}
	once  sync.Once
	users atomic.Int32 // processes sharing this thread (a fork child shares its parent's)

	// wait4(-1) on this thread returns the statuses of every tracee of it,
	// whichever process they belong to. procs are the live processes the
	// thread traces, so that a status reaped by one process's wait loop
	// reaches the process it belongs to; early holds statuses no process
	// claims yet (a clone child seen before its clone event) or that a
	// loop set aside for a process it was not waiting for. Both are only
	// touched on the tracer thread.
	procs map[*Process]bool
	early map[int]unix.WaitStatus
	// eventsReady wakes the session for non-stop events of any process
	// of this thread (nil until non-stop mode is first set).
	eventsReady chan struct{}
}

// directTID is the thread that called RunOnCallingThread, or 0.
var directTID atomic.Int64

// directTracer is the tracer of the processes of the direct thread: one
// for them all, as they share the thread and its wait4. Only the direct
// thread touches it.
var directTracer *tracer

// RunOnCallingThread makes the calling goroutine, locked to its OS thread
// for good, the tracer of every process it launches or attaches to. Every
// Process method except Interrupt, Threads, ReadMemory, WriteMemory and
// TakeEvents must then be called from this goroutine.
func RunOnCallingThread() {
	runtime.LockOSThread()
	directTID.Store(int64(unix.Gettid()))
	quietSIGCHLD()
}

// newTracer gives a new process its tracer: on the direct thread the one
// every process there shares, otherwise a thread of its own.
func newTracer() *tracer {
	tid := unix.Gettid()
	direct := int64(tid) == directTID.Load()
	if direct && directTracer != nil && directTracer.join() {
		return directTracer
	}
	t := &tracer{work: make(chan func()), quit: make(chan struct{}), sigchld: make(chan os.Signal, 1),
		procs: map[*Process]bool{}, early: map[int]unix.WaitStatus{}}
	t.users.Store(1)
	if direct {
		t.direct, t.tid = true, tid
		directTracer = t
		return t
	}
	go t.loop()
	return t
}

// join adds one claim on a tracer that is still running; false once the
// last claim has been given back (the thread is ending or gone).
func (t *tracer) join() bool {
	for {
		n := t.users.Load()
		if n <= 0 {
			return false
		}
		if t.users.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// add registers a live process of this thread (on the tracer thread). A
// status set aside for one of its thread ids is from an earlier thread
// that had the id: the new process waited for its threads itself.
func (t *tracer) add(p *Process) {
	t.procs[p] = true
	for tid := range p.threads {
		delete(t.early, tid)
	}
}

// owner is the live process a thread belongs to, or nil. Processes that
// are gone leave the list here.
func (t *tracer) owner(tid int) *Process {
	for q := range t.procs {
		if q.exited {
			delete(t.procs, q)
			continue
		}
		if q.threads[tid] != nil {
			return q
		}
	}
	return nil
}

// setAside keeps a status for the process that will claim it, and wakes
// the session in non-stop mode, where no wait loop may come by soon.
func (t *tracer) setAside(tid int, ws unix.WaitStatus) {
	t.early[tid] = ws
	if t.owner(tid) != nil {
		t.poke()
	}
}

func (t *tracer) loop() {
	// Never unlocked: the thread exits with the goroutine, so no other
	// goroutine ever inherits a thread that is some tracee's tracer.
	runtime.LockOSThread()
	defer signal.Stop(t.sigchld)
	for {
		select {
		case f := <-t.work:
			f()
		case <-t.sigchld:
			if t.onChild != nil {
				t.onChild()
			}
		case <-t.quit:
			return
		}
	}
}

// notifySIGCHLD starts delivering SIGCHLD to t.sigchld. All-stop mode
// waits in wait4 and never asks: a notified SIGCHLD costs every ptrace
// stop a wake-up of Go's signal goroutine.
func (t *tracer) notifySIGCHLD() {
	t.notify.Do(func() {
		loudSIGCHLD()
		signal.Notify(t.sigchld, syscall.SIGCHLD)
	})
}

// do runs f on the tracer thread and waits for it. It reports false, without
// running f, once the tracer has stopped.
func (t *tracer) do(f func()) bool {
	if t.direct {
		select {
		case <-t.quit:
			return false
		default:
		}
		if tid := unix.Gettid(); tid != t.tid {
			panic(fmt.Sprintf("linux: ptrace work on thread %d, but the tracer is thread %d", tid, t.tid))
		}
		f()
		return true
	}
	done := make(chan struct{})
	select {
	case t.work <- func() { defer close(done); f() }:
	case <-t.quit:
		return false
	}
	<-done
	return true
}

// stop ends the tracer goroutine (and its thread).
func (t *tracer) stop() {
	t.once.Do(func() {
		close(t.quit)
		if t.direct {
			signal.Stop(t.sigchld)
		}
	})
}

// release drops one process's claim; the last one stops the thread.
func (t *tracer) release() {
	if t.users.Add(-1) <= 0 {
		t.stop()
	}
}
