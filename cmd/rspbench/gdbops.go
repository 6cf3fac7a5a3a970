package main

// The gdb ops drive the real gdb against each stub instead of replaying its
// packets: what a user of gdb sees, gdb's own time included.  gdb runs in
// batch mode with a Python loop that repeats one iteration (a continue, or
// a continue and a next) until the run's time is spent, and prints how many
// it did and how long they took; connecting and the first, warm-up
// iteration are not timed.
//
//	gdb-condbp    break bench_hit if bench_hits % 1000 == 0, evaluated in
//	              the stub (set breakpoint condition-evaluation target);
//	              per iteration a continue: 1000 calls of bench_hit
//	gdb-watchhit  watch bench_hits if bench_hits % 100 == 0 (a hardware
//	              watchpoint whose condition gdb evaluates); per iteration a
//	              continue: 100 watchpoint hits
//	gdb-next1000  a breakpoint on next1000.c's loop line; per iteration a
//	              continue to it and a next over the 1000-iteration loop
//
// Each iteration checks where gdb stopped, so a stub that stops early or
// late fails the op instead of looking fast.

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gostub/gostub/dwarf"
)

// gdbDrive is an op run by gdb: setup is gdb commands after the connection,
// iter the body of a Python function doing one iteration (indented by
// four spaces; it may raise to fail the op).
type gdbDrive struct {
	setup func(prog *program) ([]string, error)
	iter  string
	units float64 // units of work per iteration
}

var gdbOps = []op{
	{
		name: "gdb-condbp", prog: "bphit", unit: "call",
		desc: fmt.Sprintf("real gdb: break bench_hit if bench_hits %% %d == 0 evaluated in the stub; continue", condEvery),
		gdb: &gdbDrive{
			setup: func(*program) ([]string, error) {
				return []string{
					"set breakpoint condition-evaluation target",
					fmt.Sprintf("break bench_hit if bench_hits %% %d == 0", condEvery),
				}, nil
			},
			iter: `gdb.execute("continue", to_string=True)
    if gdb.selected_frame().name() != "bench_hit":
        raise gdb.GdbError("stopped in %s, not bench_hit" % gdb.selected_frame().name())
    v = int(gdb.parse_and_eval("bench_hits"))
    if v % ` + strconv.Itoa(condEvery) + ` != 0:
        raise gdb.GdbError("stopped with bench_hits %d: the condition was false" % v)`,
			units: condEvery,
		},
	},
	{
		name: "gdb-watchhit", prog: "bphit", unit: "hit",
		desc: fmt.Sprintf("real gdb: watch bench_hits if bench_hits %% %d == 0 (hardware watchpoint, condition in gdb); continue", watchEvery),
		gdb: &gdbDrive{
			setup: func(*program) ([]string, error) {
				return []string{
					fmt.Sprintf("watch bench_hits if bench_hits %% %d == 0", watchEvery),
					`python assert gdb.breakpoints()[-1].type == gdb.BP_HARDWARE_WATCHPOINT, "not a hardware watchpoint"`,
				}, nil
			},
			iter: `before = int(gdb.parse_and_eval("bench_hits"))
    gdb.execute("continue", to_string=True)
    v = int(gdb.parse_and_eval("bench_hits"))
    if v != before + ` + strconv.Itoa(watchEvery) + `:
        raise gdb.GdbError("bench_hits went from %d to %d in one continue, want +` + strconv.Itoa(watchEvery) + `" % (before, v))`,
			units: watchEvery,
		},
	},
	{
		name: "gdb-next1000", prog: "instub/next1000", unit: "next",
		desc:     "real gdb: continue to a 1000-iteration loop's line, next over it",
		noWarmup: true,
		gdb: &gdbDrive{
			setup: func(prog *program) ([]string, error) {
				file, line, err := markedSource(prog.path, "loop1000")
				if err != nil {
					return nil, err
				}
				return []string{fmt.Sprintf("break %s:%d", file, line), fmt.Sprintf("python loop_line = %d", line)}, nil
			},
			iter: `gdb.execute("continue", to_string=True)
    if gdb.selected_frame().find_sal().line != loop_line:
        raise gdb.GdbError("continue stopped at line %d, not the loop's" % gdb.selected_frame().find_sal().line)
    before = int(gdb.parse_and_eval("sum"))
    gdb.execute("next", to_string=True)
    grown = int(gdb.parse_and_eval("sum")) - before
    if grown != 499500 or gdb.selected_frame().find_sal().line == loop_line:
        raise gdb.GdbError("next: sum grew by %d (want 499500), at line %d" % (grown, gdb.selected_frame().find_sal().line))`,
			units: 1,
		},
	},
}

// watchEvery is how many watchpoint hits the gdb-watchhit condition lets
// through per reported stop.
const watchEvery = 100

// gdbResultPrefix starts the line the Python loop prints at its end.
const gdbResultPrefix = "rspbench-result "

// gdbScript returns the gdb command file of op o on a stub listening on
// port, running for about budget.
func gdbScript(o op, prog *program, port int, budget time.Duration) (string, error) {
	setup, err := o.gdb.setup(prog)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, l := range []string{
		"set pagination off",
		"set confirm off",
		"set width 0",
		fmt.Sprintf("target remote localhost:%d", port),
	} {
		b.WriteString(l + "\n")
	}
	for _, l := range setup {
		b.WriteString(l + "\n")
	}
	fmt.Fprintf(&b, `python
import time
def rspbench_iter():
    %s
print("rspbench-pid %%d" %% gdb.selected_inferior().pid)
rspbench_iter()
n = 0
t0 = time.monotonic()
while True:
    rspbench_iter()
    n += 1
    el = time.monotonic() - t0
    if el >= %.6f:
        break
print("%s%%d %%.9f" %% (n, el))
end
kill
`, o.gdb.iter, budget.Seconds(), gdbResultPrefix)
	return b.String(), nil
}

// measureGDB runs gdb op o on a fresh stub for about budget: the same
// results as measure.
func measureGDB(stub string, prog *program, o op, budget time.Duration) (iters int, units float64, elapsed time.Duration, info string, warn, err error) {
	gdbPath, err := exec.LookPath(*flagGDB)
	if err != nil {
		return 0, 0, 0, "", nil, fmt.Errorf("%s needs gdb: %w", o.name, err)
	}
	s, port, err := startStub(stub, prog)
	if err != nil {
		return 0, 0, 0, "", nil, err
	}
	defer func() { warn = s.close() }()
	script, err := gdbScript(o, prog, port, budget)
	if err != nil {
		return 0, 0, 0, "", nil, fmt.Errorf("%s setup: %w", o.name, err)
	}
	f, err := os.CreateTemp("", "rspbench-*.gdb")
	if err != nil {
		return 0, 0, 0, "", nil, err
	}
	defer os.Remove(f.Name())
	if _, err := f.WriteString(script); err != nil {
		f.Close()
		return 0, 0, 0, "", nil, err
	}
	f.Close()
	// A generous bound: gdb may spend a slow iteration past the budget.
	ctx, cancel := context.WithTimeout(context.Background(), budget+60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, gdbPath, "-batch", "-nx", "-x", f.Name(), prog.path)
	cmd.Dir = filepath.Dir(prog.path)
	out, runErr := cmd.CombinedOutput()
	for _, l := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(l, "rspbench-pid "); ok {
			s.pid, _ = strconv.Atoi(strings.TrimSpace(v))
		}
		if v, ok := strings.CutPrefix(l, gdbResultPrefix); ok {
			var secs float64
			if _, err := fmt.Sscanf(v, "%d %f", &iters, &secs); err == nil {
				elapsed = time.Duration(secs * float64(time.Second))
			}
		}
	}
	if iters == 0 || runErr != nil || bytes.Contains(out, []byte("Python Exception")) || bytes.Contains(out, []byte("Error while executing Python code")) {
		return 0, 0, 0, "", nil, fmt.Errorf("%s: gdb %v; output:\n%s", o.name, runErr, tail(out, 2000))
	}
	return iters, float64(iters) * o.gdb.units, elapsed, "driven by " + version(gdbPath), nil, nil
}

// markedSource returns the source file of the program holding
// "@mark:<mark>", and the line.
func markedSource(path, mark string) (string, int, error) {
	o, err := dwarf.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer o.Close()
	for _, file := range o.SourceFiles() {
		if line := markedLine(file, mark); line != 0 {
			return file, line, nil
		}
	}
	return "", 0, fmt.Errorf("%s: no source file with @mark:%s", path, mark)
}

// tail returns the last n bytes of b.
func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
