package integration

// Work done in the stub: hardware breakpoints and watchpoints (debug
// registers), range stepping, target-side breakpoint conditions and agent
// dprintf, syscall catching, memory search and CRC.  Every scenario is a
// batch gdb session against gostub and against gdbserver; most compare the
// normalized gdb output, and all of them also look at the packets, from a
// `set remotelogfile` log of the session:
//
//	go test ./integration/ -run TestInStub -v
//	GOSTUB_TEST_STUBS=gdbserver go test ./integration/ -run TestInStub   # validate against gdbserver
//
// The programs are testdata/instub/instub.c and instub_mt.c (see the
// README there).  Scenarios with threads hitting a breakpoint at about the
// same time (threads-dprintf-agent, threads-condition-target) check that no
// hit is lost while the stub steps a thread over a breakpoint whose
// condition was false or whose commands it ran.

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// instubSrc is the directory of this file's programs, below testdata.
const instubSrc = "instub"

// compileInstub builds testdata/instub/<src> with `gcc -g -O0 <flags>`, in
// that directory (gdb then says "instub.c:12"), cached like compile().  The
// executable is named after the source (instub.c -> .../instub), whatever
// the flags, so gdb's output does not depend on the hash.
func compileInstub(t testing.TB, src string, flags ...string) string {
	t.Helper()
	return compileIn(t, instubSrc, src, flags...)
}

// instubLine is markLine for testdata/instub/<src>.
func instubLine(t testing.TB, src, mark string) int {
	t.Helper()
	return markLine(t, filepath.Join(instubSrc, src), mark)
}

// ---------------------------------------------------------------------------
// Packets: gdb's `set remotelogfile`

// rlExchange is one packet gdb sent and the reply (or replies) it got.
type rlExchange struct {
	Req   string
	Reply string // "" when none was logged (or the empty reply)
}

// runGDBLogged is runGDB with `set remotelogfile` (given with -iex, before
// the connection): it returns gdb's output and the exchanges gdb logged.
func runGDBLogged(t testing.TB, s *Stub, prog string, cmds ...string) (string, []rlExchange) {
	t.Helper()
	logSeq.Lock()
	logSeq.n++
	n := logSeq.n
	logSeq.Unlock()
	logPath := filepath.Join(workDir, fmt.Sprintf("remote-%03d-%s.log", n, s.Kind))
	args := append([]string{"-iex", "set remotelogfile " + logPath}, gdbArgs(s, prog, cmds...)...)

	ctx, cancel := context.WithTimeout(context.Background(), gdbTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "gdb", args...)
	cmd.Env = inferiorEnv()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = cleanupGrace
	var out strings.Builder
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
			t.Logf("gdb %s\ngdb output:\n%s\nremote log: %s", strings.Join(args, " "), out.String(), logPath)
		}
	})
	raw, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatalf("remote log: %v", err)
	}
	return out.String(), parseRemoteLog(string(raw))
}

// parseRemoteLog reads gdb's remote log: "w $payload#cs" for what gdb
// sent, "r $payload#cs" for what it received (acks and "<Timeout: ...>"
// notes before the '$' are skipped), RLE expanded.
func parseRemoteLog(log string) []rlExchange {
	var xs []rlExchange
	for _, l := range strings.Split(log, "\n") {
		if len(l) < 2 || (l[0] != 'w' && l[0] != 'r') {
			continue
		}
		i := strings.IndexByte(l, '$')
		j := strings.LastIndexByte(l, '#')
		if i < 0 || j < i {
			continue
		}
		p := l[i+1 : j]
		if l[0] == 'w' {
			xs = append(xs, rlExchange{Req: p})
			continue
		}
		if e, err := rspExpandRLE(p); err == nil {
			p = e
		}
		if len(xs) == 0 {
			xs = append(xs, rlExchange{})
		}
		if x := &xs[len(xs)-1]; x.Reply == "" {
			x.Reply = p
		} else {
			x.Reply += "\n" + p
		}
	}
	return xs
}

// rlSent returns the exchanges whose request starts with prefix.
func rlSent(xs []rlExchange, prefix string) []rlExchange {
	var out []rlExchange
	for _, x := range xs {
		if strings.HasPrefix(x.Req, prefix) {
			out = append(out, x)
		}
	}
	return out
}

// rlStopPC returns the expedited pc (register 0x10) of a T stop reply.
func rlStopPC(reply string) (uint64, bool) {
	v, ok := rlStopField(reply, "10")
	if !ok || len(v) != 16 {
		return 0, false
	}
	b, err := hex.DecodeString(v)
	if err != nil {
		return 0, false
	}
	var pc uint64
	for i := 7; i >= 0; i-- {
		pc = pc<<8 | uint64(b[i])
	}
	return pc, true
}

// rlStopsAt returns the stop replies (to vCont) whose pc is pc.
func rlStopsAt(xs []rlExchange, pc uint64) []string {
	var out []string
	for _, x := range rlSent(xs, "vCont;") {
		for _, r := range strings.Split(x.Reply, "\n") {
			if got, ok := rlStopPC(r); ok && strings.HasPrefix(r, "T") && got == pc {
				out = append(out, r)
			}
		}
	}
	return out
}

// rlStopField returns the value of field name ("watch", "syscall_entry"...)
// of a T stop reply, and whether it is there.
func rlStopField(reply, name string) (string, bool) {
	if len(reply) < 3 || reply[0] != 'T' {
		return "", false
	}
	for _, f := range strings.Split(reply[3:], ";") {
		if k, v, ok := strings.Cut(f, ":"); ok && k == name {
			return v, true
		}
	}
	return "", false
}

// rlRepliesWith returns the stop replies (to vCont) that have field name.
func rlRepliesWith(xs []rlExchange, name string) []string {
	var out []string
	for _, x := range rlSent(xs, "vCont;") {
		for _, r := range strings.Split(x.Reply, "\n") {
			if _, ok := rlStopField(r, name); ok {
				out = append(out, r)
			}
		}
	}
	return out
}

// rlWantPacket fails unless some exchange's request starts with prefix and
// (when reply is not "*") got exactly reply.  It returns the first match.
func rlWantPacket(t testing.TB, xs []rlExchange, prefix, reply string) rlExchange {
	t.Helper()
	m := rlSent(xs, prefix)
	if len(m) == 0 {
		t.Errorf("gdb never sent %s...", prefix)
		return rlExchange{}
	}
	if reply != "*" {
		for _, x := range m {
			if x.Reply != reply {
				t.Errorf("%s answered %q, want %q", x.Req, x.Reply, reply)
			}
		}
	}
	return m[0]
}

// instubAddrOf returns the address gdb printed for `p &name` ("(int *) 0x... <name>").
func instubAddrOf(t testing.TB, out, name string) uint64 {
	t.Helper()
	m := regexp.MustCompile(`\) (0x[0-9a-f]+) <` + regexp.QuoteMeta(name) + `>`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("gdb printed no address for %s", name)
	}
	v, _ := strconv.ParseUint(m[1][2:], 16, 64)
	return v
}

// instubBPAddr returns the address of breakpoint n from "Breakpoint n at 0x...:"
// (or "Hardware assisted breakpoint", "Dprintf").
func instubBPAddr(t testing.TB, out string, n int) uint64 {
	t.Helper()
	m := regexp.MustCompile(`(?m)^(?:Breakpoint|Hardware assisted breakpoint|Dprintf) ` + strconv.Itoa(n) + ` at (0x[0-9a-f]+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("gdb printed no address for breakpoint %d", n)
	}
	v, _ := strconv.ParseUint(m[1][2:], 16, 64)
	return v
}

// instubCountLines returns how many lines of out contain s.
func instubCountLines(out, s string) int {
	n := 0
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, s) {
			n++
		}
	}
	return n
}

// ---------------------------------------------------------------------------
// Scenarios

// inStubScenario is one batch gdb session per stub.
type inStubScenario struct {
	name string
	prog func(t *testing.T) string // the executable
	args []string
	cmds []string
	// check asserts on gdb's output, the packets and the stub (which has
	// exited when it runs).
	check   func(t *testing.T, out string, xs []rlExchange, s *Stub)
	compare bool // the normalized output must equal gdbserver's
}

func runInStub(t *testing.T, sc inStubScenario) {
	t.Parallel()
	prog := sc.prog(t)
	forEachStub(t, func(t *testing.T, kind StubKind) string {
		s := StartStub(t, kind, prog, sc.args...)
		out, xs := runGDBLogged(t, s, prog, sc.cmds...)
		s.WaitExit(t, stubExitTimeout)
		wantNotContains(t, out, gdbTrouble...)
		if sc.check != nil {
			sc.check(t, out, xs, s)
		}
		if sc.compare {
			return normalizeGDB(out)
		}
		return ""
	})
}

func instubRepeat(cmd string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = cmd
	}
	return out
}

func instubCat(parts ...[]string) []string {
	var out []string
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// The program's last line when it ran to the end undisturbed.
const (
	instubDone     = "instub: gvar=6 s=525 sum=499500 calls=1000"
	instubMTDone   = "instub_mt: gvar=60 seen=0,10,30"
	instubExitedOK = "exited normally]"
	// instub_mt ticks instubTicks: each of 3 threads calls tick(id, k) for k <
	// instubTicks, so ticks[id] ends at instubTicks*(instubTicks+1)/2.
	instubTicks     = 20
	instubTicksDone = "instub_mt: ticks=210,210,210"
)

// instubCheckTicks requires exactly one "tick id=I k=K" line in the stub's
// output for each of the 3*instubTicks calls of tick.
func instubCheckTicks(t *testing.T, stubOut string) {
	t.Helper()
	got := map[string]int{}
	for _, m := range regexp.MustCompile(`tick id=(\d+) k=(\d+)`).FindAllStringSubmatch(stubOut, -1) {
		got[m[1]+","+m[2]]++
	}
	var missing []string
	n := 0
	for id := 0; id < 3; id++ {
		for k := 0; k < instubTicks; k++ {
			key := fmt.Sprintf("%d,%d", id, k)
			switch {
			case got[key] == 0:
				missing = append(missing, "("+key+")")
			default:
				n++
			}
			if got[key] > 1 {
				t.Errorf("tick(%s) printed %d times", key, got[key])
			}
		}
	}
	if len(missing) > 0 {
		t.Errorf("the stub printed %d of the %d dprintf hits; missing (id,k): %s", n, n+len(missing), strings.Join(missing, " "))
	}
}

func TestInStub(t *testing.T) {
	t.Parallel()
	var (
		st   = func(t *testing.T) string { return compileInstub(t, "instub.c") }
		stNP = func(t *testing.T) string { return compileInstub(t, "instub.c", "-no-pie") }
		mt   = func(t *testing.T) string { return compileInstub(t, "instub_mt.c", "-pthread") }

		peekLine      = instubLine(t, "instub.c", "peek")
		bumpLine      = instubLine(t, "instub.c", "bump")
		fBody         = instubLine(t, "instub.c", "f-body")
		callBump      = instubLine(t, "instub.c", "call-bump")
		callScoped    = instubLine(t, "instub.c", "call-scoped")
		loop1000      = instubLine(t, "instub.c", "loop1000")
		afterLoop     = instubLine(t, "instub.c", "after-loop1000")
		callF         = instubLine(t, "instub.c", "call-f")
		writeLine     = instubLine(t, "instub.c", "write")
		workerWrite   = instubLine(t, "instub_mt.c", "worker-write")
		workerRead    = instubLine(t, "instub_mt.c", "worker-read")
		tickBody      = instubLine(t, "instub_mt.c", "tick-body")
		tickNext      = instubLine(t, "instub_mt.c", "tick-next")
		breakMain     = []string{"break main", "continue"}
		exitsNormally = func(t *testing.T, out string, s *Stub, last string) {
			t.Helper()
			wantContains(t, out, instubExitedOK)
			if !strings.Contains(s.Output(), last) {
				t.Errorf("the program did not print %q", last)
			}
		}
	)

	scenarios := []inStubScenario{
		{
			// hbreak: Z1, stop reply hwbreak:.
			name: "hbreak", prog: st,
			cmds: instubCat([]string{"hbreak peek", "continue", "bt 1"}, instubRepeat("continue", 2),
				[]string{"info breakpoints", "continue"}),
			check: func(t *testing.T, out string, xs []rlExchange, s *Stub) {
				addr := instubBPAddr(t, out, 1)
				wantContains(t, out, "Hardware assisted breakpoint 1 at ", "breakpoint already hit 3 times")
				if n := instubCountLines(out, fmt.Sprintf("Breakpoint 1, peek () at instub.c:%d", peekLine)); n != 3 {
					t.Errorf("peek's hardware breakpoint reported %d times, want 3", n)
				}
				rlWantPacket(t, xs, fmt.Sprintf("Z1,%x,1", addr), "OK")
				if bad := rlSent(xs, fmt.Sprintf("Z0,%x,", addr)); len(bad) > 0 {
					t.Errorf("gdb used a software breakpoint: %q", bad[0].Req)
				}
				if hits := rlRepliesWith(xs, "hwbreak"); len(hits) != 3 {
					t.Errorf("%d stop replies with hwbreak:, want 3: %q", len(hits), hits)
				}
				exitsNormally(t, out, s, instubDone)
			},
			compare: true,
		},
		{
			// watch a global: Z2, stop reply watch:<addr of gvar>.
			name: "watch", prog: st,
			cmds: instubCat(breakMain, []string{"p &gvar", "watch gvar"}, instubRepeat("continue", 4)),
			check: func(t *testing.T, out string, xs []rlExchange, s *Stub) {
				gvar := instubAddrOf(t, out, "gvar")
				wantInOrder(t, out, "Hardware watchpoint 2: gvar",
					"Old value = 0", "New value = 1", fmt.Sprintf("bump (i=1) at instub.c:%d", bumpLine+1),
					"Old value = 1", "New value = 3", "bump (i=2)",
					"Old value = 3", "New value = 6", "bump (i=3)",
					instubExitedOK)
				rlWantPacket(t, xs, fmt.Sprintf("Z2,%x,4", gvar), "OK")
				rlCheckWatch(t, xs, gvar, 3)
				exitsNormally(t, out, s, instubDone)
			},
			compare: true,
		},
		{
			// awatch: Z4, reads and writes reported.
			name: "awatch", prog: st,
			cmds: instubCat(breakMain, []string{"p &other", "awatch other"}, instubRepeat("continue", 4)),
			check: func(t *testing.T, out string, xs []rlExchange, s *Stub) {
				other := instubAddrOf(t, out, "other")
				wantInOrder(t, out, "Hardware access (read/write) watchpoint 2: other",
					"Value = 0", "Old value = 0", "New value = 1",
					"Value = 1", "Old value = 1", "New value = 2")
				rlWantPacket(t, xs, fmt.Sprintf("Z4,%x,4", other), "OK")
				rlCheckWatch(t, xs, other, 4)
			},
			compare: true,
		},
		{
			// rwatch: Z3 is not supported (x86 has no read-only
			// watchpoints); gdb emulates it with Z4.
			name: "rwatch", prog: st,
			cmds: instubCat(breakMain, []string{"p &gvar", "rwatch gvar"}, instubRepeat("continue", 4)),
			check: func(t *testing.T, out string, xs []rlExchange, s *Stub) {
				gvar := instubAddrOf(t, out, "gvar")
				wantInOrder(t, out, "Hardware read watchpoint 2: gvar",
					"Value = 0", "bump (i=1)", "Value = 1", "peek () at instub.c")
				rlWantPacket(t, xs, fmt.Sprintf("Z3,%x,4", gvar), "")
				rlWantPacket(t, xs, fmt.Sprintf("Z4,%x,4", gvar), "OK")
			},
			compare: true,
		},
		{
			// A watchpoint on a local goes when its frame does.
			name: "watch-scope", prog: st,
			cmds: instubCat([]string{"break scoped", "continue", "watch local"}, instubRepeat("continue", 5)),
			check: func(t *testing.T, out string, xs []rlExchange, s *Stub) {
				wantInOrder(t, out, "Hardware watchpoint 2: local",
					"New value = 0", "New value = 5", "Old value = 5", "New value = 15",
					"Watchpoint 2 deleted because the program has left the block in\nwhich its expression is valid.",
					fmt.Sprintf("main () at instub.c:%d", callScoped),
					instubExitedOK)
				exitsNormally(t, out, s, instubDone)
			},
			compare: true,
		},
		{
			// Threads created after the watchpoint was set: their debug
			// registers must be armed too.
			name: "watch-threads", prog: mt,
			cmds: instubCat(breakMain, []string{"p &gvar", "watch gvar"}, instubRepeat("continue", 4)),
			check: func(t *testing.T, out string, xs []rlExchange, s *Stub) {
				gvar := instubAddrOf(t, out, "gvar")
				wantInOrder(t, out,
					`Thread 2 "instub_mt" hit Hardware watchpoint 2: gvar`, "Old value = 0", "New value = 10",
					fmt.Sprintf("worker (arg=0x0) at instub_mt.c:%d", workerWrite+1),
					`Thread 3 "instub_mt" hit Hardware watchpoint 2: gvar`, "Old value = 10", "New value = 30",
					`Thread 4 "instub_mt" hit Hardware watchpoint 2: gvar`, "Old value = 30", "New value = 60",
					instubExitedOK)
				rlCheckWatch(t, xs, gvar, 3)
				exitsNormally(t, out, s, instubMTDone)
			},
			compare: true,
		},
		{
			name: "rwatch-threads", prog: mt,
			cmds: instubCat(breakMain, []string{"rwatch gvar"}, instubRepeat("continue", 8)),
			check: func(t *testing.T, out string, xs []rlExchange, s *Stub) {
				for i, v := range []int{0, 10, 30} {
					wantInOrder(t, out,
						fmt.Sprintf(`Thread %d "instub_mt" hit Hardware read watchpoint 2: gvar`, i+2),
						fmt.Sprintf("Value = %d", v),
						fmt.Sprintf("in worker (arg=0x%x) at instub_mt.c:%d", i, workerRead),
						fmt.Sprintf(`Thread %d "instub_mt" hit Hardware read watchpoint 2: gvar`, i+2),
						fmt.Sprintf("Value = %d", v),
						fmt.Sprintf("in worker (arg=0x%x) at instub_mt.c:%d", i, workerWrite))
				}
				wantInOrder(t, out, `Thread 1 "instub_mt" hit Hardware read watchpoint 2: gvar`, "Value = 60", instubExitedOK)
				exitsNormally(t, out, s, instubMTDone)
			},
			compare: true,
		},
		{
			// Three threads at once, each incrementing gvar 5 times under a
			// mutex: hits may coincide, so gdb may fold two into one; the
			// values must still go up and end at 15.  Not compared.
			name: "watch-race", prog: mt, args: []string{"race"},
			cmds: instubCat(breakMain, []string{"watch gvar"}, instubRepeat("continue", 17)),
			check: func(t *testing.T, out string, xs []rlExchange, s *Stub) {
				vals := regexp.MustCompile(`(?m)^New value = (\d+)$`).FindAllStringSubmatch(out, -1)
				prev := 0
				for _, m := range vals {
					v, _ := strconv.Atoi(m[1])
					if v <= prev {
						t.Errorf("watchpoint values not increasing: %d after %d", v, prev)
					}
					prev = v
				}
				if prev != 15 || len(vals) < 8 {
					t.Errorf("%d watchpoint hits, last value %d; want up to 15 hits ending at 15", len(vals), prev)
				}
				t.Logf("%s: %d of 15 writes reported", s.Kind, len(vals))
				exitsNormally(t, out, s, "instub_mt: race gvar=15")
			},
		},
		{
			// Agent dprintf hit by three threads at about the same time: the
			// stub must not miss a hit while it steps another thread over
			// the breakpoint.  Not compared (thread order).
			name: "threads-dprintf-agent", prog: mt, args: []string{"ticks", strconv.Itoa(instubTicks)},
			cmds: []string{"set dprintf-style agent",
				fmt.Sprintf(`dprintf instub_mt.c:%d,"tick id=%%d k=%%d\n", id, k`, tickNext),
				"continue"},
			check: func(t *testing.T, out string, xs []rlExchange, s *Stub) {
				wantContains(t, out, instubExitedOK)
				wantNotContains(t, out, "hit Dprintf", "tick id=")
				instubCheckTicks(t, s.Output())
				exitsNormally(t, out, s, instubTicksDone)
			},
		},
		{
			// A target-side condition true for every 5th tick of each of
			// three threads running at once: 12 stops, none lost.
			name: "threads-condition-target", prog: mt, args: []string{"ticks", strconv.Itoa(instubTicks)},
			cmds: instubCat([]string{"set breakpoint condition-evaluation target",
				fmt.Sprintf("break instub_mt.c:%d if k %% 5 == 4", tickBody)},
				instubRepeat("continue", 3*instubTicks/5+1)),
			check: func(t *testing.T, out string, xs []rlExchange, s *Stub) {
				addr := instubBPAddr(t, out, 1)
				rlWantPacket(t, xs, fmt.Sprintf("Z0,%x,1;X", addr), "OK")
				hits := regexp.MustCompile(`hit Breakpoint 1, tick \(id=(\d), k=(\d+)\)`).FindAllStringSubmatch(out, -1)
				seen := map[string]int{}
				for _, h := range hits {
					seen[h[1]+","+h[2]]++
				}
				for id := 0; id < 3; id++ {
					for k := 4; k < instubTicks; k += 5 {
						if n := seen[fmt.Sprintf("%d,%d", id, k)]; n != 1 {
							t.Errorf("stop at tick(id=%d, k=%d) reported %d times, want 1", id, k, n)
						}
					}
				}
				if len(hits) != 3*instubTicks/5 {
					t.Errorf("%d stops, want %d", len(hits), 3*instubTicks/5)
				}
				// (gdbserver sometimes reports a stop or two more at tick that
				// gdb does not show, so the replies are only logged.)
				t.Logf("%s: %d stop replies at tick", s.Kind, len(rlStopsAt(xs, addr)))
				exitsNormally(t, out, s, instubTicksDone)
			},
		},
		{
			// A hardware breakpoint in threads started after it was set.
			name: "threads-hbreak", prog: mt, args: []string{"ticks", "2"},
			cmds: instubCat([]string{"hbreak tick"}, instubRepeat("continue", 7)),
			check: func(t *testing.T, out string, xs []rlExchange, s *Stub) {
				hits := regexp.MustCompile(`hit Breakpoint 1, tick \(id=(\d), k=(\d+)\)`).FindAllStringSubmatch(out, -1)
				if len(hits) != 6 {
					t.Errorf("%d hardware breakpoint hits, want 6", len(hits))
				}
				if r := rlRepliesWith(xs, "hwbreak"); len(r) != 6 {
					t.Errorf("%d stop replies with hwbreak:, want 6", len(r))
				}
				exitsNormally(t, out, s, "instub_mt: ticks=3,3,3")
			},
		},
		{
			// next over a 1000-iteration loop on one line: with range
			// stepping, a handful of packets.
			name: "next-rangestep", prog: st,
			cmds: []string{fmt.Sprintf("break %d", loop1000), "continue", "next", "p sum", "p i"},
			check: func(t *testing.T, out string, xs []rlExchange, s *Stub) {
				wantInOrder(t, out, fmt.Sprintf("%d\t    for (i = 0; i < 1000; i++) sum += i;", loop1000),
					fmt.Sprintf("%d\t    for (i = 0; i < 1000; i++)", afterLoop), "$1 = 499500", "$2 = 1000")
				rlWantPacket(t, xs, "vCont?", "*")
				if r := rlSent(xs, "vCont?"); len(r) > 0 && !strings.Contains(r[0].Reply+";", ";r;") {
					t.Errorf("vCont? answered %q: no r (range stepping)", r[0].Reply)
				}
				vc := rlSent(xs, "vCont;")
				rs := rlSent(xs, "vCont;r")
				t.Logf("%s: %d vCont packets in the session (%d for the next), %d of them vCont;r", s.Kind, len(vc), len(rlNextPackets(xs)), len(rs))
				if len(rs) == 0 {
					t.Errorf("gdb never range-stepped")
				}
				if len(vc) >= 50 {
					t.Errorf("%d vCont packets for a next over the loop, want < 50", len(vc))
				}
			},
			compare: true,
		},
		{
			// Range steps that leave their line by a call (step into bump,
			// next over peek), by a return (the end of bump) and by the
			// loop's branch: the stub stops the thread where it leaves, as
			// gdbserver's stepping does, whatever way it runs inside.
			name: "step-next-calls", prog: st,
			cmds: instubCat([]string{fmt.Sprintf("break %d", callBump), "continue", "step", "bt 1"},
				instubRepeat("next", 5), []string{"bt 1", "step", "bt 1", "p gvar", "p other"}),
			check: func(t *testing.T, out string, xs []rlExchange, s *Stub) {
				wantInOrder(t, out, fmt.Sprintf("bump (i=1) at instub.c:%d", bumpLine),
					"#0  bump (i=1)",
					fmt.Sprintf("main () at instub.c:%d", callBump),
					"#0  main () at instub.c:",
					fmt.Sprintf("bump (i=2) at instub.c:%d", bumpLine),
					"#0  bump (i=2)", "$1 = 1", "$2 = 1")
				if rs := rlSent(xs, "vCont;r"); len(rs) == 0 {
					t.Errorf("gdb never range-stepped")
				}
			},
			compare: true,
		},
		{
			// The same without range stepping: one vCont;s per instruction.
			name: "next-no-rangestep", prog: st,
			cmds: []string{fmt.Sprintf("break %d", loop1000), "continue", "set range-stepping off", "next", "p sum", "p i"},
			check: func(t *testing.T, out string, xs []rlExchange, s *Stub) {
				wantInOrder(t, out, fmt.Sprintf("%d\t    for (i = 0; i < 1000; i++)", afterLoop), "$1 = 499500", "$2 = 1000")
				vc := rlSent(xs, "vCont;")
				t.Logf("%s: %d vCont packets in the session (%d for the next)", s.Kind, len(vc), len(rlNextPackets(xs)))
				if len(vc) < 1000 {
					t.Errorf("only %d vCont packets with range-stepping off, want thousands", len(vc))
				}
				if rs := rlSent(xs, "vCont;r"); len(rs) > 0 {
					t.Errorf("gdb range-stepped with range-stepping off: %q", rs[0].Req)
				}
			},
			compare: true,
		},
		{
			// break f if i == 999, evaluated in the stub: f runs 1000 times,
			// gdb sees one stop.
			name: "condition-target", prog: st,
			cmds: []string{"set breakpoint condition-evaluation target", "break f if i == 999",
				"continue", "p i", "p calls", "info breakpoints", "continue"},
			check: func(t *testing.T, out string, xs []rlExchange, s *Stub) {
				addr := instubBPAddr(t, out, 1)
				wantContains(t, out, fmt.Sprintf("Breakpoint 1, f (i=999) at instub.c:%d", fBody),
					"$1 = 999", "$2 = 999", "stop only if i == 999 (target evals)", "breakpoint already hit 1 time")
				z := rlWantPacket(t, xs, fmt.Sprintf("Z0,%x,1;X", addr), "OK")
				t.Logf("%s: %s", s.Kind, z.Req)
				if n := instubCountLines(out, "Breakpoint 1, f ("); n != 1 {
					t.Errorf("gdb reported %d stops at f, want 1", n)
				}
				if stops := rlStopsAt(xs, addr); len(stops) != 1 {
					t.Errorf("the stub reported %d stops at f (%#x), want 1: %q", len(stops), addr, stops)
				}
				exitsNormally(t, out, s, instubDone)
			},
			compare: true,
		},
		{
			// dprintf evaluated by the stub: printed on the stub's stdout,
			// never a stop.
			name: "dprintf-agent", prog: st,
			cmds: []string{"set dprintf-style agent",
				fmt.Sprintf(`dprintf instub.c:%d,"agent-dprintf gvar=%%d i=%%d\n", gvar, i`, bumpLine),
				"info breakpoints", "continue"},
			check: func(t *testing.T, out string, xs []rlExchange, s *Stub) {
				addr := instubBPAddr(t, out, 1)
				wantContains(t, out, `agent-printf "agent-dprintf gvar=%d i=%d\n", gvar, i`, instubExitedOK)
				if regexp.MustCompile(`(?m)^agent-dprintf gvar=\d`).MatchString(out) {
					t.Errorf("gdb printed the dprintf text (it should come from the stub)")
				}
				z := rlWantPacket(t, xs, fmt.Sprintf("Z0,%x,1;cmds:", addr), "OK")
				t.Logf("%s: %s", s.Kind, z.Req)
				if stops := rlStopsAt(xs, addr); len(stops) != 0 {
					t.Errorf("the stub reported %d stops at the dprintf (%#x): %q", len(stops), addr, stops)
				}
				wantInOrder(t, s.Output(), "agent-dprintf gvar=0 i=1\n", "agent-dprintf gvar=1 i=2\n",
					"agent-dprintf gvar=3 i=3\n", instubDone)
				if n := strings.Count(s.Output(), "agent-dprintf"); n != 3 {
					t.Errorf("the stub printed %d agent-dprintf lines, want 3", n)
				}
			},
			compare: true,
		},
		{
			// catch syscall write: QCatchSyscalls, syscall_entry and
			// syscall_return stops.
			name: "catch-syscall", prog: st,
			cmds: instubCat([]string{fmt.Sprintf("break %d", writeLine), "continue", "delete", "catch syscall write"},
				instubRepeat("continue", 5)),
			check: func(t *testing.T, out string, xs []rlExchange, s *Stub) {
				wantInOrder(t, out, "Catchpoint 2 (syscall 'write' [1])",
					"Catchpoint 2 (call to syscall write), ", "nbytes=14)",
					"Catchpoint 2 (returned from syscall write), ", "nbytes=14)",
					"Catchpoint 2 (call to syscall write), ", fmt.Sprintf("nbytes=%d)", len(instubDone)+1),
					"Catchpoint 2 (returned from syscall write), ",
					instubExitedOK)
				rlWantPacket(t, xs, "QCatchSyscalls:1;1", "OK")
				for _, f := range []string{"syscall_entry", "syscall_return"} {
					rs := rlRepliesWith(xs, f)
					if len(rs) != 2 {
						t.Errorf("%d stop replies with %s:, want 2: %q", len(rs), f, rs)
					}
					for _, r := range rs {
						if v, _ := rlStopField(r, f); v != "1" {
							t.Errorf("%s:%s in %q, want %s:1 (write)", f, v, r, f)
						}
					}
				}
				exitsNormally(t, out, s, instubDone)
			},
			compare: true,
		},
		{
			// find (qSearch:memory) and compare-sections (qCRC), on a
			// non-PIE build so that the sections are where the file says.
			name: "find-compare-sections", prog: stNP,
			cmds: []string{fmt.Sprintf("break %d", callF), "continue",
				`find &haystack[0], +sizeof(haystack), "NEEDLE-42"`,
				`find /b &haystack[0], +sizeof(haystack), 'N', 'E'`,
				`find &haystack[0], +sizeof(haystack), "nothere"`,
				`find /w &haystack[0], +sizeof(haystack), 0x2e2e2e2e`,
				"x/s $_", "p $numfound",
				"delete", "compare-sections .text", "compare-sections .data",
				"set var *(unsigned char *)main = 0xcc", "compare-sections .text",
			},
			check: func(t *testing.T, out string, xs []rlExchange, s *Stub) {
				wantInOrder(t, out, "<haystack+100>", "1 pattern found.",
					"<haystack+100>", "1 pattern found.", "Pattern not found.",
					"<haystack>", "<haystack+4>", "patterns found.", `<haystack+252>:`, "$1 = ",
					"Section .text, range ", ": matched.",
					"Section .data, range ", ": matched.",
					"Section .text, range ", ": MIS-MATCHED!")
				for _, x := range rlSent(xs, "qSearch:memory:") {
					if x.Reply != "0" && !strings.HasPrefix(x.Reply, "1,") {
						t.Errorf("%s answered %q, want 0 or 1,ADDR", x.Req, x.Reply)
					}
				}
				if len(rlSent(xs, "qSearch:memory:")) == 0 {
					t.Errorf("gdb did not use qSearch:memory")
				}
				crc := rlSent(xs, "qCRC:")
				if len(crc) == 0 {
					t.Errorf("gdb did not use qCRC")
				}
				for _, x := range crc {
					if !regexp.MustCompile(`^C[0-9a-f]{1,8}$`).MatchString(x.Reply) {
						t.Errorf("%s answered %q, want C<crc32>", x.Req, x.Reply)
					}
				}
			},
			compare: true,
		},
		{
			// A conditional breakpoint the stub may keep in a debug
			// register, then four watchpoints: the client's points get
			// all four registers and the breakpoint still stops once.
			name: "condition-target-with-watchpoints", prog: st,
			cmds: instubCat([]string{fmt.Sprintf("break %d", callBump), "continue", "delete",
				"set breakpoint condition-evaluation target", "break f if i == 999",
				"watch gvar", "watch other", "watch haystack[0]", "watch haystack[64]"},
				instubRepeat("continue", 7), []string{"p i", "info breakpoints", "delete", "continue"}),
			check: func(t *testing.T, out string, xs []rlExchange, s *Stub) {
				addr := instubBPAddr(t, out, 2)
				wantInOrder(t, out, "Hardware watchpoint 3: gvar", "Hardware watchpoint 6: haystack[64]",
					"Old value = 0", "New value = 1", "Old value = 0", "New value = 1",
					"Old value = 1", "New value = 3", "Old value = 1", "New value = 2",
					"Old value = 3", "New value = 6", "Old value = 2", "New value = 3",
					fmt.Sprintf("Breakpoint 2, f (i=999) at instub.c:%d", fBody), "$1 = 999",
					instubExitedOK)
				wantNotContains(t, out, "Could not insert")
				for _, x := range rlSent(xs, "Z2,") {
					if x.Reply != "OK" {
						t.Errorf("%s answered %q, want OK", x.Req, x.Reply)
					}
				}
				if stops := rlStopsAt(xs, addr); len(stops) != 1 {
					t.Errorf("the stub reported %d stops at f (%#x), want 1: %q", len(stops), addr, stops)
				}
				exitsNormally(t, out, s, instubDone)
			},
			compare: true,
		},
		{
			// Four debug registers: the fifth watchpoint cannot be inserted
			// and gdb says so; the others still work.
			name: "too-many-watchpoints", prog: st,
			cmds: []string{fmt.Sprintf("break %d", callBump), "continue", "delete",
				"watch gvar", "watch other", "watch calls", "watch haystack[0]", "watch haystack[64]",
				"continue", "info breakpoints", "delete 6", "continue", "continue"},
			check: func(t *testing.T, out string, xs []rlExchange, s *Stub) {
				wantInOrder(t, out, "Hardware watchpoint 6: haystack[64]",
					"Could not insert hardware watchpoint 6.",
					"Could not insert hardware breakpoints:",
					"You may have requested too many hardware breakpoints/watchpoints.",
					"Hardware watchpoint 2: gvar", "Old value = 0", "New value = 1",
					"Hardware watchpoint 3: other", "Old value = 0", "New value = 1")
				var ok, bad int
				for _, x := range rlSent(xs, "Z2,") {
					switch {
					case x.Reply == "OK":
						ok++
					case strings.HasPrefix(x.Reply, "E"):
						bad++
					default:
						t.Errorf("%s answered %q", x.Req, x.Reply)
					}
				}
				if bad == 0 {
					t.Errorf("no Z2 was refused (%d accepted)", ok)
				}
			},
			compare: true,
		},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) { runInStub(t, sc) })
	}
}

// rlNextPackets returns the vCont packets after the last plain continue
// (vCont;c:pP.-1), which in the next scenarios are those of the next.
func rlNextPackets(xs []rlExchange) []rlExchange {
	vc := rlSent(xs, "vCont;")
	for i := len(vc) - 1; i >= 0; i-- {
		if regexp.MustCompile(`^vCont;c:p[0-9a-f]+\.-1$`).MatchString(vc[i].Req) {
			return vc[i+1:]
		}
	}
	return vc
}

// rlCheckWatch requires n stop replies carrying watch: (or awatch:,
// rwatch:) with the watched address.
func rlCheckWatch(t *testing.T, xs []rlExchange, addr uint64, n int) {
	t.Helper()
	var hits []string
	for _, name := range []string{"watch", "awatch", "rwatch"} {
		for _, r := range rlRepliesWith(xs, name) {
			hits = append(hits, r)
			v, _ := rlStopField(r, name)
			if a, err := strconv.ParseUint(v, 16, 64); err != nil || a != addr || len(v) != 16 {
				t.Errorf("stop reply %q: %s:%s, want the address %#x in 16 hex digits (as gdbserver)", r, name, v, addr)
			}
		}
	}
	if len(hits) != n {
		t.Errorf("%d watchpoint stop replies, want %d: %q", len(hits), n, hits)
	}
}
