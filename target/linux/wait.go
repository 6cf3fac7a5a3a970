package linux

import (
	"runtime"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// waitSpin is how long a wait polls before it sleeps in the kernel. A
// stop a few microseconds away (a single step, a breakpoint in a loop)
// is then picked up by a running tracer instead of one the scheduler has
// to wake: on the 2-CPU machine it was measured on, a PTRACE_SINGLESTEP
// round trip went from 66 µs (blocking wait4) to 32 µs (polling). Each
// poll yields the CPU, which matters when the machine is busy: a tracee
// or client queued behind the poller runs at once (there, polling without
// yielding made the same step slower than blocking, 45 against 19 µs;
// polling with yields took 17-28 µs).
const waitSpin = 200 * time.Microsecond

// spinWaits is false on one CPU, where polling would only keep the
// tracee from running.
var spinWaits = runtime.NumCPU() > 1

// OnBlock sets what to call before a resume first sleeps in wait4.
func (p *Process) OnBlock(f func()) {
	p.tr.do(func() { p.tr.beforeBlock = f })
}

// wait4 is unix.Wait4 with __WALL that first polls for up to waitSpin,
// and retries on EINTR. Before it sleeps it calls (once) the hook OnBlock
// set.
func (tr *tracer) wait4(pid int, ws *unix.WaitStatus) (int, error) {
	if spinWaits {
		var deadline time.Time
		for i := 0; ; i++ {
			wpid, err := unix.Wait4(pid, ws, unix.WALL|unix.WNOHANG, nil)
			if wpid != 0 || (err != nil && err != unix.EINTR) {
				return wpid, err
			}
			// The tracee may be queued on this very CPU (woken by our
			// resume): let it run.
			schedYield()
			// Reading the clock every few polls keeps it off the fast path.
			if i%8 == 0 {
				now := time.Now()
				if deadline.IsZero() {
					deadline = now.Add(waitSpin)
				} else if now.After(deadline) {
					break
				}
			}
		}
	}
	if f := tr.beforeBlock; f != nil {
		tr.beforeBlock = nil
		f()
	}
	for {
		wpid, err := unix.Wait4(pid, ws, unix.WALL, nil)
		if err != unix.EINTR {
			return wpid, err
		}
	}
}

// schedYield gives the CPU to another runnable task, if any; it never
// blocks, so it needs none of Go's system-call bookkeeping.
func schedYield() { unix.RawSyscall(unix.SYS_SCHED_YIELD, 0, 0, 0) }

// kernelSigaction is the x86-64 kernel's struct sigaction.
type kernelSigaction struct {
	handler  uintptr
	flags    uint64
	restorer uintptr
	mask     uint64
}

// SIGCHLD in all-stop mode: the Go runtime installs a handler for it at
// start-up, so every ptrace stop of a tracee also runs a signal handler on
// some thread of ours. Measured on this 2-CPU machine, that took a polled
// PTRACE_SINGLESTEP round trip from 31 to 50 µs. The default disposition
// (the kernel discards the signal; wait4 works as before, and children are
// not reaped behind our back as with SIG_IGN) costs nothing. Non-stop mode
// needs the signal: notifySIGCHLD puts Go's handler back first.
var sigchld struct {
	sync.Mutex
	quiet bool
	saved kernelSigaction
}

// quietSIGCHLD sets SIGCHLD to its default disposition, keeping Go's.
func quietSIGCHLD() {
	sigchld.Lock()
	defer sigchld.Unlock()
	if sigchld.quiet {
		return
	}
	var dfl kernelSigaction
	if _, _, e := unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(unix.SIGCHLD),
		uintptr(unsafe.Pointer(&dfl)), uintptr(unsafe.Pointer(&sigchld.saved)), 8, 0, 0); e != 0 {
		return
	}
	sigchld.quiet = true
}

// loudSIGCHLD gives SIGCHLD back to Go's handler.
func loudSIGCHLD() {
	sigchld.Lock()
	defer sigchld.Unlock()
	if !sigchld.quiet {
		return
	}
	if _, _, e := unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(unix.SIGCHLD),
		uintptr(unsafe.Pointer(&sigchld.saved)), 0, 8, 0, 0); e == 0 {
		sigchld.quiet = false
	}
}
