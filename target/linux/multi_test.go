package linux

import (
	"fmt"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gostub/gostub/target"
)

// onDirectThread runs f as the server does: on one goroutine locked to its
// thread, the tracer of every process it launches. The thread ends with it.
func onDirectThread(t *testing.T, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		RunOnCallingThread()
		defer func() {
			// Later tests launch from threads of their own.
			directTID.Store(0)
			directTracer = nil
		}()
		f()
	}()
	<-done
}

// Processes launched on the direct thread share its wait4: a status one
// process's poll reaps must reach the process it belongs to, whichever
// process the session asks first. (Each process once kept the other's
// statuses to itself, and gdb waited for ever for a second inferior.)
func TestDirectProcessesShareWaits(t *testing.T) {
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer devnull.Close()
	for _, tc := range []struct {
		name string
		ask  func(a, b *Process) []*Process // whose TakeEvents to call, in order
	}{
		{"first asks first", func(a, b *Process) []*Process { return []*Process{a, b} }},
		{"second asks first", func(a, b *Process) []*Process { return []*Process{b, a} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			onDirectThread(t, func() {
				procs, done := launchTrues(t, 2, devnull)
				defer done()
				if procs == nil {
					return
				}
				a, b := procs[0], procs[1]
				if a.tr != b.tr {
					t.Error("two processes of the direct thread have tracers of their own")
				}
				for _, p := range procs {
					if err := p.SetNonStop(true); err != nil {
						t.Error(err)
						return
					}
				}
				if a.EventsReady() != b.EventsReady() {
					t.Error("the processes wake the session on different channels")
				}
				for _, p := range procs {
					main := target.ThreadID{PID: p.PID(), TID: p.PID()}
					if err := p.ResumeAsync([]target.Action{{Thread: main, Kind: target.ActionContinue}}); err != nil {
						t.Error(err)
						return
					}
				}
				exited := map[int]int{} // pid -> exit code
				deadline := time.After(10 * time.Second)
				for len(exited) < 2 {
					select {
					case <-a.EventsReady():
					case <-time.After(50 * time.Millisecond):
					case <-deadline:
						t.Errorf("exits seen %v, want both of %d and %d", exited, a.PID(), b.PID())
						return
					}
					for _, p := range tc.ask(a, b) {
						for _, ev := range p.TakeEvents() {
							if ev.Thread.PID != p.PID() {
								t.Errorf("process %d reports an event of %d", p.PID(), ev.Thread.PID)
							}
							if ev.Kind == target.StopExited {
								exited[ev.Thread.PID] = ev.ExitCode
							}
						}
					}
				}
				for pid, code := range exited {
					if code != 0 {
						t.Errorf("process %d exited with %d, want 0", pid, code)
					}
				}
				if len(a.tr.early) != 0 {
					t.Errorf("statuses left aside: %v", a.tr.early)
				}
			})
		})
	}
}

// Killing a process must not wait for a status another process's wait
// already took: its exit is found where that loop set it aside. (A third
// process, stopped, keeps wait4 from failing with ECHILD: it would block.)
func TestDirectKillFindsSetAsideExit(t *testing.T) {
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer devnull.Close()
	onDirectThread(t, func() {
		procs, done := launchTrues(t, 3, devnull)
		defer done()
		if procs == nil {
			return
		}
		b := procs[1]
		// b dies from outside while stopped, and another loop of the
		// thread reaps its exit and sets it aside, as a kill or a
		// stop-all of another process does.
		if err := unix.Kill(b.PID(), unix.SIGKILL); err != nil {
			t.Fatal(err)
		}
		for {
			var ws unix.WaitStatus
			if _, err := unix.Wait4(b.PID(), &ws, unix.WALL, nil); err != nil {
				t.Fatal(err)
			}
			if ws.Exited() || ws.Signaled() {
				b.tr.setAside(b.PID(), ws)
				break
			}
			unix.PtraceCont(b.PID(), 0) // the exit stop
		}
		if err := b.Kill(); err != nil { // hangs if b's exit is lost
			t.Errorf("kill b: %v", err)
		}
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", b.PID())); err == nil {
			t.Errorf("process %d is still there", b.PID())
		}
	})
}

// launchTrues launches n stopped /bin/true processes on the calling (tracer)
// thread; done kills those still alive. On failure procs is nil and the
// test has been marked failed.
func launchTrues(t *testing.T, n int, devnull *os.File) (procs []*Process, done func()) {
	done = func() {
		for _, p := range procs {
			if !p.exited {
				p.Kill()
			}
		}
	}
	for i := 0; i < n; i++ {
		p, err := Launch(LaunchOptions{Path: "/bin/true", Files: []*os.File{devnull, devnull, devnull}})
		if err != nil {
			t.Error(err)
			done()
			return nil, func() {}
		}
		procs = append(procs, p)
	}
	return procs, done
}
