package main

import (
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestGDBOps runs every gdb op briefly on gdbserver and on gostub (built
// from this module): the Python checks in each iteration (where gdb
// stopped, how far the counters moved) make a stub that stops early or late
// fail here.  Nothing may be left running.
func TestGDBOps(t *testing.T) {
	if testing.Short() {
		t.Skip("starts gdb and the stubs")
	}
	if _, err := exec.LookPath(*flagGDB); err != nil {
		t.Skip(err)
	}
	progs := opProgs(t, gdbOps)
	for _, st := range gdbTestStubs(t) {
		for _, o := range gdbOps {
			t.Run(o.name+"/"+st.name, func(t *testing.T) {
				iters, units, elapsed, _, warn, err := measureGDB(st.path, progs[o.prog], o, 50*time.Millisecond)
				if err != nil {
					t.Fatal(err)
				}
				if warn != nil {
					t.Errorf("cleanup: %v", warn)
				}
				if iters < 1 || units != float64(iters)*o.gdb.units || elapsed <= 0 {
					t.Errorf("%d iterations, %v units in %v", iters, units, elapsed)
				}
			})
		}
	}
}

// TestGDBOpCheckFails gives gdb-condbp a check that cannot hold: the op
// must fail with gdb's message, not report a speed.
func TestGDBOpCheckFails(t *testing.T) {
	if testing.Short() {
		t.Skip("starts gdb and gdbserver")
	}
	if _, err := exec.LookPath(*flagGDB); err != nil {
		t.Skip(err)
	}
	if err := checkExecutable(*flagGdbserver); err != nil {
		t.Skip(err)
	}
	progs := opProgs(t, gdbOps)
	o := gdbOps[0]
	broken := *o.gdb
	broken.iter = strings.Replace(o.gdb.iter, `!= "bench_hit"`, `!= "main"`, 1)
	if broken.iter == o.gdb.iter {
		t.Fatal("gdb-condbp's iteration no longer checks the function")
	}
	o.gdb = &broken
	_, _, _, _, _, err := measureGDB(*flagGdbserver, progs[o.prog], o, 50*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "stopped in bench_hit") {
		t.Fatalf("err = %v, want gdb's \"stopped in bench_hit\"", err)
	}
}

// gdbTestStubs returns gdbserver (when installed) and gostub (-gostub, or
// built into a temporary directory).
func gdbTestStubs(t *testing.T) []stubSpec {
	t.Helper()
	var out []stubSpec
	for _, st := range resolveStubs(*flagGdbserver, *flagGostub, t.TempDir()) {
		if st.err != nil {
			if st.name == "gostub" {
				t.Fatalf("gostub: %v", st.err)
			}
			t.Logf("%s: %v", st.name, st.err)
			continue
		}
		out = append(out, st)
	}
	return out
}
