package linux

import (
	"os"
	"os/signal"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
)

// tracer is the one OS thread that owns every tracee: Linux accepts ptrace
// requests only from the thread that attached. Work is handed to it as whole
// operations (resume-and-wait, read all registers), not per syscall.
type tracer struct {
	// onChild, when set, is called on the tracer thread at each SIGCHLD
	// (non-stop mode: wait without blocking the thread).
	onChild func()

	work  chan func()
	quit  chan struct{}
	once  sync.Once
	users atomic.Int32 // processes sharing this thread (a fork child shares its parent's)
}

func newTracer() *tracer {
	t := &tracer{work: make(chan func()), quit: make(chan struct{})}
	t.users.Store(1)
	go t.loop()
	return t
}

func (t *tracer) loop() {
	// Never unlocked: the thread exits with the goroutine, so no other
	// goroutine ever inherits a thread that is some tracee's tracer.
	runtime.LockOSThread()
	sigchld := make(chan os.Signal, 1)
	signal.Notify(sigchld, syscall.SIGCHLD)
	defer signal.Stop(sigchld)
	for {
		select {
		case f := <-t.work:
			f()
		case <-sigchld:
			if t.onChild != nil {
				t.onChild()
			}
		case <-t.quit:
			return
		}
	}
}

// do runs f on the tracer thread and waits for it. It reports false, without
// running f, once the tracer has stopped.
func (t *tracer) do(f func()) bool {
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
func (t *tracer) stop() { t.once.Do(func() { close(t.quit) }) }

// release drops one process's claim; the last one stops the thread.
func (t *tracer) release() {
	if t.users.Add(-1) <= 0 {
		t.stop()
	}
}
