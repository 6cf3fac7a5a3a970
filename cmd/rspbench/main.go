// Command rspbench measures gostub against GNU gdbserver with the same raw
// RSP operations and prints the speeds side by side.
//
// Run it from anywhere inside the gostub module:
//
//	go run ./cmd/rspbench                          # builds ./cmd/gostub into a temp dir
//	go run ./cmd/rspbench -gostub ./gostub -time 5s -ops bphit,mem64m
//	go run ./cmd/rspbench -gostub /usr/bin/gdbserver  # both columns gdbserver: checks the harness
//
// Flags: -gostub PATH (default: build ./cmd/gostub), -gdbserver PATH
// (/usr/bin/gdbserver), -time D (measuring time per op per stub, 2s),
// -rounds N (6: the time is split into N alternating runs, gdbserver first
// in odd rounds and gostub first in even ones, so both see the same machine
// conditions), -ops LIST (qC,m1,g,step,bphit,mem64m,condbp,next1000,
// watchhit,watchstop,gdb-condbp,gdb-watchhit,gdb-next1000; "roundtrip" =
// qC,m1),
// -src DIR (the C programs, default testdata/bench), -v (per-round lines).
// The exit status is 1 when a stub is unavailable or an op failed on it; the
// table is printed anyway, with the reasons below it.
//
// The numbers are only as quiet as the machine: the "per round" column shows
// the spread of back-to-back ratios, and running -gostub /usr/bin/gdbserver
// shows how far from 1.00 two identical stubs land.
//
// Every run starts a fresh `STUB --once localhost:PORT PROG` (PROG is
// testdata/bench/bphit.c or mem64m.c, built with gcc -g -O0 -no-pie and
// cached in $TMPDIR/rspbench-<hash>), waits for "Listening on port",
// connects and does gdb's handshake: qSupported with gdb 13.1's features,
// QStartNoAckMode, '?'.  Set-up is not timed.  Then:
//
//	qC      qC round trip (no ptrace work in the stub)
//	m1      m<main>,1: one-byte memory read, as gdb's x/64xb does 64 times
//	g       read all registers
//	step    vCont;s:pPID.TID inside main's loop, reply T05
//	bphit   per breakpoint hit what gdb does: vCont;c:pPID.-1 -> T05 at
//	        bench_hit (pc checked), z0, vCont;s (step off), Z0
//	mem64m  read a 64 MiB buffer with m packets of PacketSize/2 bytes
//	        (every 17th chunk checked against the buffer's pattern, untimed;
//	        a short reply is continued from, as gdb does, and noted)
//
// and the work done in the stub (instub.go; programs bphit.c and
// testdata/instub/next1000.c):
//
//	condbp    conditional breakpoint evaluated in the stub: Z0 on bench_hit
//	          with the agent expression of bench_hits % 1000 == 0; per
//	          reported stop vCont;c, z0, vCont;s, Z0; the unit is a call of
//	          bench_hit (1000 per reported stop)
//	next1000  gdb's next over a 1000-iteration loop on one line: vCont;s off
//	          the breakpoint, vCont;r<pc>,<end of line>:pPID.TID -> T05 at
//	          the end of the line (back to the line with Z0, vCont;c, z0)
//	watchhit  hardware watchpoint: Z2 on bench_hits; per hit what gdb 13
//	          sends when the watchpoint's condition is false: vCont;c ->
//	          T05watch:<addr>, m<addr>,8 four times
//	watchstop the same watchpoint, per hit the packets of a hit gdb reports
//	          that concern it: vCont;c -> T05watch, m<addr>,8, z2, Z2
//
// and with the real gdb (gdbops.go; -gdb PATH, default gdb from $PATH),
// which shows what a user sees, gdb's own time included:
//
//	gdb-condbp    break bench_hit if bench_hits % 1000 == 0, evaluated in
//	              the stub; per iteration a continue (1000 calls)
//	gdb-watchhit  watch bench_hits if bench_hits % 100 == 0; per iteration a
//	              continue (100 watchpoint hits)
//	gdb-next1000  continue to next1000.c's loop line, next over it
//
// The replayed packets leave out gdb's own work, but the replaying client
// is not gdb either: it waits for replies in Go's network poller, and its
// wake-ups differ from gdb's, which moves the ratios by tens of percent on
// a busy or virtualised machine.  Where the two disagree, the gdb-* ops
// are what a user gets.
//
// Each timed run is preceded by an untimed warm-up of a tenth of its time
// (not for mem64m).
//
// After each run the inferior is killed with vKill, the connection closed,
// and rspbench checks that neither the stub nor the inferior is left; what it
// had to kill by force is reported as a warning.
//
// The same operations run as Go benchmarks:
//
//	go test -bench . ./cmd/rspbench/
//	go test -bench 'RSP/bphit' ./cmd/rspbench/ -args -gostub=/path/to/gostub
//
// (RSPBENCH_GOSTUB and RSPBENCH_GDBSERVER in the environment work too.)
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"
)

var (
	flagGostub    = flag.String("gostub", os.Getenv("RSPBENCH_GOSTUB"), "gostub binary (default: build ./cmd/gostub into a temp dir)")
	flagGdbserver = flag.String("gdbserver", envOr("RSPBENCH_GDBSERVER", "/usr/bin/gdbserver"), "GNU gdbserver binary")
	flagTime      = flag.Duration("time", 2*time.Second, "measuring time per op and stub")
	flagRounds    = flag.Int("rounds", 6, "alternating runs per op and stub")
	flagOps       = flag.String("ops", "all", "comma-separated ops: "+allOpNames()+" (roundtrip = qC,m1)")
	flagSrc       = flag.String("src", "", "directory of the benchmark C programs (default: testdata/bench of the module)")
	flagVerbose   = flag.Bool("v", false, "print every run")
	flagGDB       = flag.String("gdb", "gdb", "gdb binary for the gdb-* ops")
)

// tmpDir is the directory gostub is built in, removed on exit and on
// interrupt.
var tmpDir atomic.Pointer[string]

// interrupted is set on SIGINT/SIGTERM; the measuring loop then stops
// reporting and leaves the exit to the signal handler.
var interrupted atomic.Bool

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// stubSpec is one column of the table.
type stubSpec struct {
	name string
	path string
	err  error // the stub cannot run at all (build failed, missing binary)
}

// resolveStubs returns gdbserver and gostub, building gostub into tmpDir
// when gostubPath is empty.
func resolveStubs(gdbserverPath, gostubPath, tmpDir string) []stubSpec {
	gdb := stubSpec{name: "gdbserver", path: gdbserverPath}
	gdb.err = checkExecutable(gdbserverPath)
	gs := stubSpec{name: "gostub", path: gostubPath}
	if gostubPath == "" {
		gs.path, gs.err = buildGostub(tmpDir)
	} else {
		gs.err = checkExecutable(gostubPath)
	}
	return []stubSpec{gdb, gs}
}

// tally accumulates the runs of one op on one stub.
type tally struct {
	iters    int
	units    float64
	elapsed  time.Duration
	err      error
	warnings []string
	info     string
	rates    []float64 // per round; 0 where the run failed
}

func (t *tally) rate() float64 { return t.units / t.elapsed.Seconds() }

// measure runs op o for about budget on a fresh session of stub and returns
// the iterations done, units of work and time taken.  Cleanup problems are
// returned as warnings.
func measure(stub string, prog *program, o op, budget time.Duration) (iters int, units float64, elapsed time.Duration, info string, warn, err error) {
	if o.gdb != nil {
		return measureGDB(stub, prog, o, budget)
	}
	s, err := launch(stub, prog)
	if err != nil {
		return 0, 0, 0, "", nil, err
	}
	defer func() { warn = s.close() }()
	info = fmt.Sprintf("PacketSize=%#x", s.feats.PacketSize())
	iter, per, err := o.prepare(s)
	if err != nil {
		return 0, 0, 0, info, nil, fmt.Errorf("%s setup: %w", o.name, err)
	}
	if !o.noWarmup {
		// Warm up (caches, CPU frequency, the stub's first-time paths) for a
		// tenth of the budget, untimed.
		for start := time.Now(); time.Since(start) < budget/10; {
			if err := iter(); err != nil {
				return 0, 0, 0, info, nil, fmt.Errorf("%s warm-up: %w", o.name, err)
			}
		}
	}
	start := time.Now()
	for {
		if err := iter(); err != nil {
			return iters, units, time.Since(start), info, nil, fmt.Errorf("%s after %d iterations: %w", o.name, iters, err)
		}
		iters++
		units += per
		if elapsed = time.Since(start); elapsed >= budget {
			break
		}
	}
	for _, n := range s.notes {
		info += "; " + n
	}
	return iters, units, elapsed, info, nil, nil
}

func main() {
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: rspbench [flags]\n\nRuns raw RSP operations against gostub and gdbserver and compares their speed.\n\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() > 0 || *flagRounds < 1 || *flagTime <= 0 {
		flag.Usage()
		os.Exit(2)
	}
	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sigc
		interrupted.Store(true)
		fmt.Fprintln(os.Stderr, "rspbench: interrupted, cleaning up")
		closeAll()
		if d := tmpDir.Load(); d != nil {
			os.RemoveAll(*d)
		}
		os.Exit(130)
	}()
	if err := run(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "rspbench:", err)
		os.Exit(1)
	}
}

func run(w io.Writer) error {
	selected, err := selectAllOps(*flagOps)
	if err != nil {
		return err
	}
	src, err := sourceDir(*flagSrc)
	if err != nil {
		return err
	}
	progs := map[string]*program{}
	for _, o := range selected {
		if progs[o.prog] == nil {
			if progs[o.prog], err = buildOpProgram(src, o.prog); err != nil {
				return err
			}
		}
	}
	tmp, err := os.MkdirTemp("", "rspbench")
	if err != nil {
		return err
	}
	tmpDir.Store(&tmp)
	defer os.RemoveAll(tmp)
	stubs := resolveStubs(*flagGdbserver, *flagGostub, tmp)

	fmt.Fprintf(w, "rspbench: %s, %d CPUs, %v per op and stub in %d alternating rounds\n",
		runtime.GOARCH, runtime.NumCPU(), *flagTime, *flagRounds)
	for _, st := range stubs {
		if st.err != nil {
			fmt.Fprintf(w, "  %-9s UNAVAILABLE: %v\n", st.name, indent(st.err.Error()))
			continue
		}
		fmt.Fprintf(w, "  %-9s %s  %s\n", st.name, st.path, version(st.path))
	}

	results := make([][]tally, len(selected))
	budget := *flagTime / time.Duration(*flagRounds)
	for i, o := range selected {
		results[i] = make([]tally, len(stubs))
		for r := 0; r < *flagRounds; r++ {
			for k := range stubs {
				j := k
				if r%2 == 1 {
					j = len(stubs) - 1 - k
				}
				st, t := stubs[j], &results[i][j]
				if st.err != nil || t.err != nil {
					continue
				}
				iters, units, el, info, warn, err := measure(st.path, progs[o.prog], o, budget)
				if interrupted.Load() {
					select {} // the signal handler cleans up and exits
				}
				t.iters += iters
				t.units += units
				t.elapsed += el
				t.info = info
				if err == nil && el > 0 {
					t.rates = append(t.rates, units/el.Seconds())
				} else {
					t.rates = append(t.rates, 0)
				}
				if warn != nil {
					t.warnings = append(t.warnings, warn.Error())
				}
				if err != nil {
					t.err = err
				}
				if *flagVerbose {
					fmt.Fprintf(w, "  %-7s round %d %-9s %7d iters %8.3fs %s", o.name, r+1, st.name, iters, el.Seconds(), info)
					if err != nil {
						fmt.Fprintf(w, " ERROR %v", err)
					}
					if warn != nil {
						fmt.Fprintf(w, " WARNING %v", warn)
					}
					fmt.Fprintln(w)
				}
			}
		}
	}
	printTable(w, selected, stubs, results)
	for j, st := range stubs {
		if st.err != nil {
			return fmt.Errorf("%s unavailable", st.name)
		}
		for i := range selected {
			if results[i][j].err != nil {
				return fmt.Errorf("some ops failed on %s", st.name)
			}
		}
	}
	return nil
}

func printTable(w io.Writer, selected []op, stubs []stubSpec, results [][]tally) {
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "op\t")
	for _, st := range stubs {
		fmt.Fprintf(tw, "%s\t", st.name)
	}
	fmt.Fprintf(tw, "ratio\t%s\t\n", "per round: median [min-max]")
	var notes []string
	for i, o := range selected {
		fmt.Fprintf(tw, "%s\t", o.name)
		for j, st := range stubs {
			t := &results[i][j]
			switch {
			case st.err != nil:
				fmt.Fprintf(tw, "unavailable\t")
			case t.err != nil:
				fmt.Fprintf(tw, "FAILED\t")
				notes = append(notes, fmt.Sprintf("%s on %s: %v", o.name, st.name, indent(t.err.Error())))
			default:
				fmt.Fprintf(tw, "%s\t", cell(o, t))
			}
			for _, wmsg := range t.warnings {
				notes = append(notes, fmt.Sprintf("%s on %s: warning: %s", o.name, st.name, indent(wmsg)))
			}
		}
		a, b := &results[i][0], &results[i][1]
		if stubs[0].err == nil && stubs[1].err == nil && a.err == nil && b.err == nil && a.units > 0 && b.units > 0 {
			med, lo, hi := roundRatios(a.rates, b.rates)
			fmt.Fprintf(tw, "%.2f\t%.2f [%.2f-%.2f]\t\n", b.rate()/a.rate(), med, lo, hi)
		} else {
			fmt.Fprintf(tw, "-\t-\t\n")
		}
	}
	tw.Flush()
	fmt.Fprintln(w)
	fmt.Fprintln(w, "  ratio = gostub speed / gdbserver speed over all rounds (>1: gostub faster).  Per round: the")
	fmt.Fprintln(w, "  ratios of the back-to-back runs of each round; their spread shows the noise.")
	for _, o := range selected {
		fmt.Fprintf(w, "  %-7s %s\n", o.name, o.desc)
	}
	for j, st := range stubs {
		var items []string
		for i := range selected {
			for _, it := range strings.Split(results[i][j].info, "; ") {
				if it != "" && !slices.Contains(items, it) {
					items = append(items, it)
				}
			}
		}
		if len(items) > 0 {
			fmt.Fprintf(w, "  %s: %s\n", st.name, strings.Join(items, "; "))
		}
	}
	for _, n := range notes {
		fmt.Fprintf(w, "  %s\n", n)
	}
}

// roundRatios returns the median, smallest and largest ratio b[r]/a[r]
// over the rounds where both ran.
func roundRatios(a, b []float64) (med, lo, hi float64) {
	var xs []float64
	for r := 0; r < len(a) && r < len(b); r++ {
		if a[r] > 0 && b[r] > 0 {
			xs = append(xs, b[r]/a[r])
		}
	}
	if len(xs) == 0 {
		return 0, 0, 0
	}
	slices.Sort(xs)
	med = xs[len(xs)/2]
	if len(xs)%2 == 0 {
		med = (xs[len(xs)/2-1] + xs[len(xs)/2]) / 2
	}
	return med, xs[0], xs[len(xs)-1]
}

// cell formats a stub's result: time per iteration and rate.
func cell(o op, t *tally) string {
	per := t.elapsed / time.Duration(max(t.iters, 1))
	if o.unit != "MiB" && t.units > 0 {
		per = time.Duration(float64(t.elapsed) / t.units) // ops with several units per iteration (condbp)
	}
	switch o.unit {
	case "MiB":
		return fmt.Sprintf("%.0f MiB/s (%v per %.0f MiB)", t.rate(), per.Round(100*time.Microsecond), t.units/float64(max(t.iters, 1)))
	default:
		return fmt.Sprintf("%v/%s (%s/s)", roundDur(per), o.unit, si(t.rate()))
	}
}

func roundDur(d time.Duration) time.Duration {
	switch {
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	case d >= 10*time.Microsecond:
		return d.Round(100 * time.Nanosecond)
	default:
		return d.Round(10 * time.Nanosecond)
	}
}

// si formats a rate with a k or M suffix.
func si(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.1fk", v/1e3)
	default:
		return fmt.Sprintf("%.0f", v)
	}
}

func indent(s string) string { return strings.ReplaceAll(s, "\n", "\n      ") }

// version returns the first line of `stub --version`, or "".
func version(path string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, "--version")
	cmd.WaitDelay = time.Second
	out, _ := cmd.Output()
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return line
}
