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
}

// directTID is the thread that called RunOnCallingThread, or 0.
var directTID atomic.Int64

// RunOnCallingThread makes the calling goroutine, locked to its OS thread
// for good, the tracer of every process it launches or attaches to. Every
// Process method except Interrupt, Threads, ReadMemory, WriteMemory and
// TakeEvents must then be called from this goroutine.
func RunOnCallingThread() {
	runtime.LockOSThread()
	directTID.Store(int64(unix.Gettid()))
}

func newTracer() *tracer {
	t := &tracer{work: make(chan func()), quit: make(chan struct{}), sigchld: make(chan os.Signal, 1)}
	t.users.Store(1)
	if tid := unix.Gettid(); int64(tid) == directTID.Load() {
		t.direct, t.tid = true, tid
		return t
	}
	go t.loop()
	return t
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
	t.notify.Do(func() { signal.Notify(t.sigchld, syscall.SIGCHLD) })
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
