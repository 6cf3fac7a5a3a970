package integration

// extended-remote: `STUB --multi :PORT` starts with no process; gdb runs
// programs through it (vRun), kills and reruns them, passes arguments,
// environment and working directory, attaches to a running process and
// detaches from it, and ends the server with `monitor exit`.

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// startMulti starts `STUB --multi :PORT` (no --once: only `monitor exit`
// ends it).
func startMulti(t *testing.T, kind StubKind) *Stub {
	t.Helper()
	return StartStubArgs(t, kind, func(comm string) []string {
		return []string{"--multi", strings.TrimPrefix(comm, "localhost")}
	})
}

// runExtended runs a batch gdb session `target extended-remote` against s,
// on the local executable prog ("" for none), checks gdb saw no protocol
// trouble and that the stub has exited (every session ends with `monitor
// exit`).
func runExtended(t *testing.T, s *Stub, prog string, cmds ...string) string {
	t.Helper()
	out := runGDBArgs(t, s.Kind, gdbBatchArgs("target extended-remote "+s.Addr, prog, cmds...))
	wantNotContains(t, out, gdbTrouble...)
	if st := s.WaitExit(t, stubExitTimeout); st != nil && !st.Success() {
		t.Errorf("%s after `monitor exit`: %v, want exit status 0", s.Kind, st)
	}
	return out
}

func TestExtendedRemote(t *testing.T) {
	t.Parallel()
	loop := compile(t, "loop.c")
	forever := compile(t, "forever.c", "-fno-pie", "-no-pie")
	textAddr, text := elfSection(t, forever, ".text")
	beatsAddr := elfSymbol(t, forever, "beats")
	addBody := markLine(t, "loop.c", "add-body")

	t.Run("run-kill-run-attach", func(t *testing.T) {
		t.Parallel()
		forEachStub(t, func(t *testing.T, kind StubKind) string {
			p := startProgram(t, "forever: pid=", forever)
			s := startMulti(t, kind)
			out := runExtended(t, s, loop,
				"info inferiors",
				"set remote exec-file "+loop, "break add", "run", "bt", "kill",
				"run 7", "bt", "frame 1", "p argc", "p argv[1]", "delete", "continue",
				"run 2", // runs to the end: no breakpoint left
				"attach "+strconv.Itoa(p.PID), "bt", "info inferiors", "detach",
				"info inferiors", "monitor exit")
			hit := fmt.Sprintf("Breakpoint 1, add (a=0, b=100) at loop.c:%d", addBody)
			wantInOrder(t, out,
				"* 1    <null> ",
				hit, "#0  add (a=0, b=100) at loop.c:", " in main (argc=1, argv=",
				"[Inferior 1 (process ", ") killed]",
				hit, " in main (argc=2, argv=",
				"#1  ", " in main (argc=2, argv=",
				"$1 = 2", `$2 = `, ` "7"`,
				"[Inferior 1 (process ", ") exited with code 0171]", // (100+0+...+6) & 0x7f = 121
				"[Inferior 1 (process ", ") exited with code 0145]", // run 2: 101
				" in main () at forever.c:",
				fmt.Sprintf("process %d ", p.PID),
				fmt.Sprintf("[Inferior 1 (process %d) detached]", p.PID),
				"* 1    <null> ")
			wantProgramOutput(t, s, 0, " n=7\n", "loop: total=121 ", " n=2\n", "loop: total=101 ")
			checkRunsUntouched(t, p.PID, textAddr, text, beatsAddr)
			return normalizeProc(out)
		})
	})

	t.Run("environment-cwd", func(t *testing.T) {
		t.Parallel()
		dir := filepath.Dir(loop)
		forEachStub(t, func(t *testing.T, kind StubKind) string {
			s := startMulti(t, kind)
			out := runExtended(t, s, loop,
				"set remote exec-file "+loop,
				"set environment GOSTUB_T=forty two", "unset environment HOME",
				"set cwd "+dir, "break add", "run 4",
				`p (char *)getenv("GOSTUB_T")`, `p (char *)getenv("HOME")`,
				"p (char *)get_current_dir_name()", "frame 1", "p argv[1]",
				"kill", "monitor exit")
			wantInOrder(t, out,
				fmt.Sprintf("Breakpoint 1, add (a=0, b=100) at loop.c:%d", addBody),
				`$1 = 0x`, ` "forty two"`,
				`$2 = 0x0`,
				`$3 = 0x`, ` "`+dir+`"`,
				` "4"`,
				"[Inferior 1 (process ", ") killed]")
			return normalizeProc(out)
		})
	})

	t.Run("attach-no-local-exe", func(t *testing.T) {
		t.Parallel()
		forEachStub(t, func(t *testing.T, kind StubKind) string {
			p := startProgram(t, "forever: pid=", forever)
			s := startMulti(t, kind)
			// gdb has no file: it learns the executable from the stub.
			out := runExtended(t, s, "",
				"attach "+strconv.Itoa(p.PID), "info inferiors", "break beat", "continue",
				"bt", "p beats > 0", "detach", "monitor exit")
			wantInOrder(t, out,
				"Reading "+forever+" from remote target...",
				fmt.Sprintf("* 1    process %d ", p.PID), "target:"+forever,
				"Breakpoint 1 at ", "file forever.c, line "+strconv.Itoa(markLine(t, "forever.c", "beat")),
				"Breakpoint 1, beat () at forever.c:",
				"#0  beat () at forever.c:", "#1  ", " in main () at forever.c:",
				"$1 = 1",
				fmt.Sprintf("[Inferior 1 (process %d) detached]", p.PID))
			checkRunsUntouched(t, p.PID, textAddr, text, beatsAddr)
			return normalizeProc(out)
		})
	})

	t.Run("ctrl-c-rerun", func(t *testing.T) {
		t.Parallel()
		tspin := compile(t, "tspin.c", "-pthread")
		forEachStub(t, func(t *testing.T, kind StubKind) string {
			s := startMulti(t, kind)
			// Two runs, each interrupted while all threads spin.
			g := startGDBProc(t, kind, gdbBatchArgs("target extended-remote "+s.Addr, tspin,
				"set remote exec-file "+tspin, "run", "info threads", "p $_siginfo.si_signo",
				"kill", "run", "p $_siginfo.si_signo", "set var stop_all = 1", "continue",
				"monitor exit"))
			for run := 1; run <= 2; run++ {
				deadline := time.Now().Add(gdbTimeout)
				for strings.Count(s.Output(), "tspin: all 4 workers running") < run {
					if time.Now().After(deadline) {
						t.Fatalf("run %d: tspin never printed that its workers run; stub output:\n%s", run, s.Output())
					}
					time.Sleep(20 * time.Millisecond)
				}
				time.Sleep(300 * time.Millisecond)
				g.Interrupt(t)
			}
			out := g.Wait(t)
			wantNotContains(t, out, gdbTrouble...)
			if st := s.WaitExit(t, stubExitTimeout); st != nil && !st.Success() {
				t.Errorf("%s after `monitor exit`: %v, want exit status 0", s.Kind, st)
			}
			wantInOrder(t, out,
				`Thread 1 "tspin" received signal SIGINT, Interrupt.`,
				"$1 = ",
				"[Inferior 1 (process ", ") killed]",
				`Thread 1 "tspin" received signal SIGINT, Interrupt.`,
				"$2 = ",
				"[Inferior 1 (process ", ") exited normally]")
			wantSiginfoSIGINT(t, out, 1)
			wantSiginfoSIGINT(t, out, 2)
			if rows := infoThreadsRows(out, "tspin"); len(rows) != 5 {
				t.Errorf("info threads after Ctrl-C lists %d threads, want 5: %v", len(rows), rows)
			}
			return ""
		})
	})
}

// Several inferiors over one extended-remote connection: gdb's
// add-inferior, then run in each. A run adds a process and the others live
// on; killing one leaves the other, which runs on to its own exit code.
// gdb's multi-inferior tests use all-stop on top of non-stop
// (target-non-stop on), where one process's wait may reap another's
// events, so both modes are covered.
func TestExtendedTwoInferiors(t *testing.T) {
	t.Parallel()
	prog := compile(t, "exitcode.c")
	for _, tc := range []struct {
		name  string
		setup string // before connecting
	}{
		{"all-stop", "maint set target-non-stop off"},
		{"target-non-stop", "maint set target-non-stop on"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			forEachStub(t, func(t *testing.T, kind StubKind) string {
				s := startMulti(t, kind)
				out := runGDBArgs(t, s.Kind, gdbBatchArgs(tc.setup, prog,
					"target extended-remote "+s.Addr,
					"set remote exec-file "+prog, "break finish_with", "run 3",
					"add-inferior", "inferior 2", "file "+prog, "set remote exec-file "+prog, "run 5",
					"info inferiors",
					"kill", // inferior 2
					"info inferiors",
					"inferior 1", "delete", "continue",
					"inferior 2", "run 6",
					"info inferiors", "monitor exit"))
				wantNotContains(t, out, gdbTrouble...)
				if st := s.WaitExit(t, stubExitTimeout); st != nil && !st.Success() {
					t.Errorf("%s after `monitor exit`: %v, want exit status 0", s.Kind, st)
				}
				wantInOrder(t, out,
					"Breakpoint 1, finish_with (code=3) at exitcode.c:",
					"Added inferior 2",
					" hit Breakpoint 1.2, finish_with (code=5) at exitcode.c:",
					"  1    process ", "* 2    process ",
					"[Inferior 2 (process ", ") killed]",
					"  1    process ", "* 2    <null> ",
					"[Inferior 1 (process ", ") exited with code 03]",
					"[Inferior 2 (process ", ") exited with code 06]",
					"  1    <null> ", "* 2    <null> ")
				return normalizeProc(out)
			})
		})
	}
}
