package integration

// Threads and signals: several threads at a breakpoint, thread listing and
// backtraces, scheduler locking, Ctrl-C while every thread runs, 200 threads
// created and joined while a breakpoint is hit, signal handling and
// delivery, $_siginfo.

import (
	"encoding/binary"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// gdbRepeat returns n copies of cmd.
func gdbRepeat(cmd string, n int) []string {
	cmds := make([]string, n)
	for i := range cmds {
		cmds[i] = cmd
	}
	return cmds
}

// gdbCmds joins command lists.
func gdbCmds(lists ...[]string) []string {
	var all []string
	for _, l := range lists {
		all = append(all, l...)
	}
	return all
}

var (
	reInfoThreadsRow = regexp.MustCompile(`(?m)^([ *]) +(\d+) +Thread \d+\.\d+ "(\w+)" (.*)$`)
	reCounters       = regexp.MustCompile(`(?m)^\$(\d+) = \{(\d+), (\d+), (\d+), (\d+)\}$`)
)

// infoThreadsRows returns the rows of the `info threads` tables in out:
// gdb thread number -> frame.
func infoThreadsRows(out, prog string) map[int]string {
	rows := map[int]string{}
	for _, m := range reInfoThreadsRow.FindAllStringSubmatch(out, -1) {
		if m[3] != prog {
			continue
		}
		n, _ := strconv.Atoi(m[2])
		rows[n] = m[4]
	}
	return rows
}

// printedCounters returns the `$N = {a, b, c, d}` values gdb printed, by N.
func printedCounters(out string) map[int][4]int64 {
	vals := map[int][4]int64{}
	for _, m := range reCounters.FindAllStringSubmatch(out, -1) {
		n, _ := strconv.Atoi(m[1])
		var v [4]int64
		for i := range v {
			v[i], _ = strconv.ParseInt(m[i+2], 10, 64)
		}
		vals[n] = v
	}
	return vals
}

// wantSiginfoSIGINT checks `p $_siginfo.si_signo` (printed as $n) after
// a Ctrl-C: the stop reply said SIGINT (T02), and the siginfo gdb reads
// with qXfer:siginfo:read must describe the same signal.
func wantSiginfoSIGINT(t *testing.T, out string, n int) {
	t.Helper()
	m := regexp.MustCompile(fmt.Sprintf(`(?m)^\$%d = (-?\d+)$`, n)).FindStringSubmatch(out)
	switch {
	case m == nil:
		t.Errorf("no $%d = <si_signo> in gdb's output", n)
	case m[1] != "2":
		t.Errorf("$_siginfo.si_signo after Ctrl-C = %s, want 2 (SIGINT): qXfer:siginfo:read "+
			"describes another signal than the T02 stop reply", m[1])
	}
}

// TestThreads: threads.c (4 workers calling work()), tspin.c (4 workers
// spinning on per-thread counters) and manythreads.c (200 threads, 20 at a
// time).  Thread scheduling differs from run to run, so the outputs are not
// compared with gdbserver's; the assertions are on what must hold anyway.
func TestThreads(t *testing.T) {
	t.Parallel()
	threads := compile(t, "threads.c", "-pthread")
	tspin := compile(t, "tspin.c", "-pthread")
	many := compile(t, "manythreads.c", "-pthread")

	t.Run("info-threads-bt", func(t *testing.T) {
		t.Parallel()
		forEachStub(t, func(t *testing.T, kind StubKind) string {
			out, s := launchGDB(t, kind, tspin, nil, tspin,
				"break all_running", "continue", "info threads", "thread apply all bt",
				"set var stop_all = 1", "delete", "continue")
			wantInOrder(t, out, `Thread 1 "tspin" hit Breakpoint 1, all_running () at tspin.c:`,
				"[Inferior 1 (process ", "exited normally]")
			rows := infoThreadsRows(textBetween(out, "hit Breakpoint 1", "\nThread 5 (Thread "), "tspin")
			if len(rows) != 5 {
				t.Errorf("info threads lists %d threads, want 5 (main + 4 workers): %v", len(rows), rows)
			}
			if !strings.HasPrefix(rows[1], "all_running () at tspin.c:") {
				t.Errorf("info threads: thread 1 at %q, want all_running ()", rows[1])
			}
			seen := map[string]bool{}
			for n := 2; n <= 5; n++ {
				if !strings.Contains(rows[n], "bump (id=") && !strings.Contains(rows[n], "worker (arg=") {
					t.Errorf("info threads: thread %d at %q, want bump () or worker ()", n, rows[n])
				}
				bt := textBetween(out, fmt.Sprintf("\nThread %d (Thread ", n), "\n\n")
				m := regexp.MustCompile(`(?m)^#\d+  (0x[0-9a-f]+ in )?worker \(arg=(0x[0-3])\) at tspin\.c:\d+\n#\d+ .* in start_thread `).FindStringSubmatch(bt)
				if m == nil {
					t.Errorf("thread apply all bt: thread %d has no worker () frame above start_thread:\n%s", n, bt)
					continue
				}
				seen[m[2]] = true
			}
			if len(seen) != 4 {
				t.Errorf("thread apply all bt: workers with args %v, want 0x0..0x3", seen)
			}
			wantMatch(t, textBetween(out, "\nThread 1 (Thread ", "[Inferior 1"),
				`^#0  all_running \(\) at tspin\.c:\d+$`,
				`^#1  0x[0-9a-f]+ in main \(\) at tspin\.c:\d+$`)
			wantProgramOutput(t, s, time.Second, "tspin: done")
			return ""
		})
	})

	t.Run("breakpoint-every-thread", func(t *testing.T) {
		t.Parallel()
		forEachStub(t, func(t *testing.T, kind StubKind) string {
			// 4 threads x 3 iterations = 12 hits, then the program exits.
			out, s := launchGDB(t, kind, threads, []string{"3"}, threads,
				gdbCmds([]string{"break work"}, gdbRepeat("continue", 13))...)
			re := regexp.MustCompile(`(?m)^Thread (\d+) "threads" hit Breakpoint 1, work \(id=(\d+), iter=(\d+)\) at threads\.c:\d+$`)
			hits := re.FindAllStringSubmatch(out, -1)
			if len(hits) != 12 {
				t.Errorf("breakpoint hit %d times, want 12 (4 threads x 3)", len(hits))
			}
			idOf := map[string]string{} // gdb thread number -> worker id
			calls := map[string]int{}   // "id/iter" -> hits
			for _, h := range hits {
				if prev, ok := idOf[h[1]]; ok && prev != h[2] {
					t.Errorf("gdb thread %s reported as worker %s and as worker %s", h[1], prev, h[2])
				}
				idOf[h[1]] = h[2]
				calls[h[2]+"/"+h[3]]++
			}
			if len(idOf) != 4 {
				t.Errorf("breakpoint hit in %d distinct threads %v, want 4", len(idOf), idOf)
			}
			for id := 0; id < 4; id++ {
				for it := 0; it < 3; it++ {
					if k := fmt.Sprintf("%d/%d", id, it); calls[k] != 1 {
						t.Errorf("work(id=%d, iter=%d) reported %d times, want once", id, it, calls[k])
					}
				}
			}
			wantContains(t, out, "[Inferior 1 (process ", "exited normally]")
			wantProgramOutput(t, s, time.Second, "result[0]=3\n", "result[1]=3003\n", "result[2]=6003\n", "result[3]=9003\n")
			return ""
		})
	})

	t.Run("scheduler-locking", func(t *testing.T) {
		t.Parallel()
		forEachStub(t, func(t *testing.T, kind StubKind) string {
			// $1 = the worker id of gdb thread 3; $2..$5 = counters[]
			// before, after 4 `next` with scheduler-locking step, after 3
			// with `on`, after 2 with `off`.
			out, s := launchGDB(t, kind, tspin, nil, tspin,
				"break all_running", "continue", "delete", "thread 3", "p id",
				"set scheduler-locking step", "p counters",
				"next", "next", "next", "next", "p counters",
				"set scheduler-locking on",
				"next", "next", "next", "p counters",
				"set scheduler-locking off",
				"next", "next", "p counters",
				"set var stop_all = 1", "continue")
			wantContains(t, out, "[Switching to thread 3 (Thread ", "[Inferior 1 (process ", "exited normally]")
			m := regexp.MustCompile(`(?m)^\$1 = ([0-3])$`).FindStringSubmatch(out)
			vals := printedCounters(out)
			if m == nil || len(vals) != 4 {
				t.Fatalf("want $1 = worker id and 4 counter arrays $2..$5, got id %q and %v", m, vals)
			}
			me, _ := strconv.Atoi(m[1])
			for _, step := range []struct {
				from, to int
				mode     string
			}{{2, 3, "step"}, {3, 4, "on"}} {
				a, b := vals[step.from], vals[step.to]
				for i := range a {
					switch {
					case i == me && a[i] == b[i]:
						t.Errorf("scheduler-locking %s: the stepped thread (worker %d) did not run its loop: counters %v -> %v", step.mode, me, a, b)
					case i != me && a[i] != b[i]:
						t.Errorf("scheduler-locking %s: worker %d ran while worker %d was stepped: counters %v -> %v", step.mode, i, me, a, b)
					}
				}
			}
			// The control: without locking, the other threads run during next.
			a, b := vals[4], vals[5]
			moved := false
			for i := range a {
				if i != me && a[i] != b[i] {
					moved = true
				}
			}
			if !moved {
				t.Errorf("scheduler-locking off: no other worker ran during next: counters %v -> %v", a, b)
			}
			wantProgramOutput(t, s, time.Second, "tspin: done")
			return ""
		})
	})

	t.Run("ctrl-c", func(t *testing.T) {
		t.Parallel()
		forEachStub(t, func(t *testing.T, kind StubKind) string {
			s := StartStub(t, kind, tspin)
			g := startGDBProc(t, kind, gdbArgs(s, tspin,
				"continue", "info threads", "p $_siginfo.si_signo",
				"set var stop_all = 1", "continue"))
			// Every worker spins once the program says so; gdb is then
			// inside `continue`, waiting for a stop.
			deadline := time.Now().Add(gdbTimeout)
			for !strings.Contains(s.Output(), "tspin: all 4 workers running") {
				if time.Now().After(deadline) {
					t.Fatalf("tspin never printed that its workers run; stub output:\n%s", s.Output())
				}
				time.Sleep(20 * time.Millisecond)
			}
			time.Sleep(300 * time.Millisecond)
			g.Interrupt(t)
			out := g.Wait(t)
			s.WaitExit(t, stubExitTimeout)
			wantNotContains(t, out, gdbTrouble...)
			wantInOrder(t, out,
				`"tspin" received signal SIGINT, Interrupt.`,
				"$1 = ",
				"[Inferior 1 (process ", "exited normally]")
			wantSiginfoSIGINT(t, out, 1)
			rows := infoThreadsRows(textBetween(out, "received signal SIGINT", "$1 = "), "tspin")
			if len(rows) != 5 {
				t.Errorf("info threads after Ctrl-C lists %d threads, want 5: %v", len(rows), rows)
			}
			wantProgramOutput(t, s, time.Second, "tspin: done")
			return ""
		})
	})

	t.Run("attach-detach-at-breakpoint", func(t *testing.T) {
		t.Parallel()
		// Non-PIE, so counters[] and .text are at their ELF addresses.
		prog := compile(t, "tspin.c", "-pthread", "-fno-pie", "-no-pie")
		textAddr, text := elfSection(t, prog, ".text")
		countersAddr := elfSymbol(t, prog, "counters")
		forEachStub(t, func(t *testing.T, kind StubKind) string {
			// Every worker runs into the breakpoint all the time: when gdb
			// detaches, other threads have hit it too (pending SIGTRAPs the
			// stub must not let through), and the int3 must be gone.
			p := startProgram(t, "tspin: all 4 workers running", prog)
			s := AttachStub(t, kind, p.PID)
			out := runGDB(t, s, prog, "info threads", "break bump", "continue", "continue", "detach")
			s.WaitExit(t, stubExitTimeout)
			wantNotContains(t, out, gdbTrouble...)
			if rows := infoThreadsRows(out, "tspin"); len(rows) != 5 {
				t.Errorf("info threads after attach lists %d threads, want 5: %v", len(rows), rows)
			}
			if n := strings.Count(out, `"tspin" hit Breakpoint 1, bump (id=`); n != 2 {
				t.Errorf("breakpoint reported %d times, want 2", n)
			}
			wantContains(t, out, fmt.Sprintf("[Inferior 1 (process %d) detached]", p.PID))
			checkRunsUntouched(t, p.PID, textAddr, text, countersAddr)
			// checkRunsUntouched watched worker 0; all 4 must run on.
			c1, err1 := readMem(p.PID, countersAddr, 32)
			time.Sleep(300 * time.Millisecond)
			c2, err2 := readMem(p.PID, countersAddr, 32)
			if err1 != nil || err2 != nil {
				t.Fatalf("read counters: %v %v", err1, err2)
			}
			for i := 0; i < 4; i++ {
				if a, b := binary.LittleEndian.Uint64(c1[8*i:]), binary.LittleEndian.Uint64(c2[8*i:]); b <= a {
					t.Errorf("worker %d makes no progress after detach: counters[%d] %d then %d", i, i, a, b)
				}
			}
			if state, _, _ := procStat(p.PID); state == 'Z' {
				t.Errorf("process %d died after detach; its output:\n%s", p.PID, p.Output())
			}
			return ""
		})
	})

	// manythreads: 200 threads, each calls hit(n) once.
	reHit := regexp.MustCompile(`(?m)^Thread \d+ "manythreads" hit Breakpoint 1, hit \(n=(\d+)\) at manythreads\.c:\d+$`)
	checkHits := func(t *testing.T, out string, want int) {
		t.Helper()
		hits := reHit.FindAllStringSubmatch(out, -1)
		if len(hits) != want {
			t.Errorf("breakpoint hit %d times, want %d", len(hits), want)
		}
		seen := map[string]bool{}
		for _, h := range hits {
			if seen[h[1]] {
				t.Errorf("hit(n=%s) reported twice", h[1])
			}
			seen[h[1]] = true
		}
	}

	t.Run("200-threads", func(t *testing.T) {
		t.Parallel()
		forEachStub(t, func(t *testing.T, kind StubKind) string {
			// Every one of the 200 hits, then the exit.
			out, s := launchGDB(t, kind, many, nil, many,
				gdbCmds([]string{"break hit"}, gdbRepeat("continue", 201))...)
			checkHits(t, out, 200)
			wantContains(t, out, "[Inferior 1 (process ", "exited normally]")
			wantProgramOutput(t, s, time.Second, "manythreads: calls=200")
			return ""
		})
	})

	t.Run("200-threads-delete", func(t *testing.T) {
		t.Parallel()
		forEachStub(t, func(t *testing.T, kind StubKind) string {
			// 50 hits (threads of the first 3 batches are created, hit and
			// joined meanwhile), then the rest runs free.
			out, s := launchGDB(t, kind, many, nil, many,
				gdbCmds([]string{"break hit"}, gdbRepeat("continue", 50),
					[]string{"info threads", "delete", "continue"})...)
			checkHits(t, out, 50)
			wantMatch(t, out, `^\* +\d+ +Thread \d+\.\d+ "manythreads" hit \(n=\d+\) at manythreads\.c:\d+$`)
			wantContains(t, out, "[Inferior 1 (process ", "exited normally]")
			wantProgramOutput(t, s, time.Second, "manythreads: calls=200")
			return ""
		})
	})
}

// TestPassSignals: the signals gdb does not want to see are handed to the
// stub with QPassSignals, which the stub then delivers without stopping.
// gdb's list ends with ';' (`QPassSignals:e;10;...;97;`).
func TestPassSignals(t *testing.T) {
	t.Parallel()
	prog := compile(t, "sigusr.c")

	t.Run("not-reported", func(t *testing.T) {
		t.Parallel()
		forEachStub(t, func(t *testing.T, kind StubKind) string {
			// gdb's output is the same either way (it resumes a SIGUSR1 it
			// does not want with vCont;C1e), so count the stop replies.
			out, s := launchGDB(t, kind, prog, nil, prog,
				"handle SIGUSR1 nostop noprint pass", "set debug remote 1", "continue")
			wantContains(t, out, "exited with code 03]")
			wantProgramOutput(t, s, time.Second, "sigusr: usr1_count=3")
			re := regexp.MustCompile(`(?m)Sending packet: \$(QPassSignals:[0-9a-f;]+)#..\n\s*\[remote\] Packet received: (.*)$`)
			ms := re.FindAllStringSubmatch(out, -1)
			if len(ms) == 0 {
				t.Errorf("gdb sent no non-empty QPassSignals")
			}
			for _, m := range ms {
				if m[2] != "OK" {
					t.Errorf("%s -> %q, want OK", m[1], m[2])
				}
			}
			if n := strings.Count(out, "Packet received: T1e"); n != 0 {
				t.Errorf("SIGUSR1 (passed, nostop) reported to gdb %d times (T1e stop replies), want 0", n)
			}
			return ""
		})
	})

	t.Run("rsp", func(t *testing.T) {
		t.Parallel()
		forEachStub(t, func(t *testing.T, kind StubKind) string {
			s := StartStub(t, kind, prog)
			c := dialRSP(t, s)
			c.Handshake(true)
			for _, p := range []string{
				"QPassSignals:e;10;14;17;1a;1b;1c;1e;21;24;25;2c;4c;97;", // gdb 13's, verbatim
				"QPassSignals:1e",
				"QPassSignals:",
			} {
				if r := c.Request(p); r != "OK" {
					t.Errorf("%s -> %q, want OK", p, abbrev(r))
				}
			}
			return ""
		})
	})
}

// TestSignals: sigusr.c raises SIGUSR1 three times and exits with the number
// its handler counted; signals.c then crashes with SIGSEGV at address 0x10.
func TestSignals(t *testing.T) {
	t.Parallel()
	handler := markLine(t, "sigusr.c", "handler")
	const gotUSR1 = "Program received signal SIGUSR1, User defined signal 1."
	scenarios := []gdbScenario{
		{
			name: "nostop-noprint-pass", src: "sigusr.c",
			cmds: []string{"handle SIGUSR1 nostop noprint pass", "continue"},
			check: func(t *testing.T, out string, s *Stub) {
				wantContains(t, out, "exited with code 03]")
				wantNotContains(t, out, "SIGUSR1, User defined")
				wantProgramOutput(t, s, time.Second, "sigusr: usr1_count=3")
			},
			compare: true,
		},
		{
			name: "stop-print-pass", src: "sigusr.c",
			cmds: []string{"continue", "p $_siginfo.si_signo", "p $_siginfo.si_code",
				"continue", "continue", "continue"},
			check: func(t *testing.T, out string, s *Stub) {
				if n := strings.Count(out, gotUSR1); n != 3 {
					t.Errorf("%q printed %d times, want 3", gotUSR1, n)
				}
				// si_code -6: SI_TKILL (raise() uses tgkill).
				wantInOrder(t, out, gotUSR1, "$1 = 10", "$2 = -6", "exited with code 03]")
				wantProgramOutput(t, s, time.Second, "sigusr: usr1_count=3")
			},
			compare: true,
		},
		{
			name: "nopass", src: "sigusr.c",
			cmds: []string{"handle SIGUSR1 stop print nopass", "continue", "continue", "continue", "continue"},
			check: func(t *testing.T, out string, s *Stub) {
				if n := strings.Count(out, gotUSR1); n != 3 {
					t.Errorf("%q printed %d times, want 3", gotUSR1, n)
				}
				wantContains(t, out, "exited normally]") // the handler never ran
				wantProgramOutput(t, s, time.Second, "sigusr: usr1_count=0")
			},
			compare: true,
		},
		{
			name: "signal-command", src: "sigusr.c",
			cmds: []string{"handle SIGUSR1 nostop noprint pass", "break done_raising", "continue",
				"p usr1_count", "break on_usr1", "signal SIGUSR1", "bt 1", "continue", "p usr1_count", "continue"},
			check: func(t *testing.T, out string, s *Stub) {
				wantInOrder(t, out,
					"Breakpoint 1, done_raising () at sigusr.c:", "$1 = 3",
					fmt.Sprintf("Breakpoint 2, on_usr1 (sig=10) at sigusr.c:%d", handler),
					"#0  on_usr1 (sig=10) at sigusr.c:",
					"Breakpoint 1, done_raising () at sigusr.c:", "$2 = 4",
					"exited with code 04]")
				wantProgramOutput(t, s, time.Second, "sigusr: usr1_count=4")
			},
			compare: true,
		},
		{
			name: "segv-siginfo", src: "signals.c",
			cmds: []string{"handle SIGUSR1 nostop noprint pass", "continue",
				"p $_siginfo.si_signo", "p $_siginfo.si_code",
				"p $_siginfo._sifields._sigfault.si_addr", "p usr1_count", "bt", "continue"},
			check: func(t *testing.T, out string, s *Stub) {
				wantInOrder(t, out,
					"Program received signal SIGSEGV, Segmentation fault.",
					" in main () at signals.c:",
					"$1 = 11", "$2 = 1", "$3 = (void *) 0x10", "$4 = 3",
					"#0  ", " in main () at signals.c:",
					"Program terminated with signal SIGSEGV, Segmentation fault.")
			},
			compare: true,
		},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) { runScenario(t, sc) })
	}
}

// TestStepCutShort: gdb nexts one thread while another keeps hitting the
// same breakpoint. The step of a thread that another thread's stop cut
// short is abandoned by gdb; its end, found while stopping everything, must
// not be reported later as a stop of its own (gdb would say "received
// signal SIGTRAP"; gdb.threads/pending-step.exp).
func TestStepCutShort(t *testing.T) {
	t.Parallel()
	prog := compile(t, "busybp.c", "-pthread")
	busy := markLine(t, "busybp.c", "busy")
	forEachStub(t, func(t *testing.T, kind StubKind) string {
		s := StartStub(t, kind, prog)
		out := runGDB(t, s, prog, append([]string{"break main", "continue", fmt.Sprintf("break %d", busy), "continue"},
			"next", "next", "next", "next", "next", "next", "next", "next", "kill")...)
		wantContains(t, out, "hit Breakpoint 2, spin (arg=0x")
		wantNotContains(t, out, "SIGTRAP")
		return ""
	})
}

// TestStaticTLS: a thread-local variable of a static executable, where gdb
// finds no link_map and asks qGetTLSAddr with module 0: the stub takes the
// executable's module, 1 (gdb.threads/staticthreads.exp).
func TestStaticTLS(t *testing.T) {
	t.Parallel()
	prog := compile(t, "statictls.c", "-static", "-pthread")
	forEachStub(t, func(t *testing.T, kind StubKind) string {
		s := StartStub(t, kind, prog)
		out := runGDB(t, s, prog, "break ready", "continue", "p tlsvar", "continue", "p tlsvar", "continue")
		s.WaitExit(t, stubExitTimeout)
		wantNotContains(t, out, "Cannot find thread-local storage")
		wantInOrder(t, out, "$1 = 42", "$2 = 5", "exited normally]")
		return normalizeProc(out)
	})
}
