package main

import (
	"os"
	"os/exec"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseListening(t *testing.T) {
	for _, tc := range []struct {
		line string
		port int
		ok   bool
	}{
		{"Listening on port 2345", 2345, true},
		{"Listening on port 38213\r", 38213, true},
		{"gostub: Listening on port 1", 1, true},
		{"Listening on port 0", 0, false},
		{"Listening on port 70000", 0, false},
		{"Process /tmp/bphit created; pid = 4097", 0, false},
		{"", 0, false},
	} {
		port, ok := parseListening(tc.line)
		if port != tc.port || ok != tc.ok {
			t.Errorf("parseListening(%q) = %d, %v; want %d, %v", tc.line, port, ok, tc.port, tc.ok)
		}
	}
}

func TestOutputWatcher(t *testing.T) {
	w := newOutputWatcher()
	for _, chunk := range []string{"Process ./x created; pid = 7\nListen", "ing on port 4", "321\nmore\n"} {
		w.Write([]byte(chunk))
	}
	select {
	case p := <-w.port:
		if p != 4321 {
			t.Fatalf("port %d", p)
		}
	default:
		t.Fatal("no port reported")
	}
	if !strings.Contains(w.tail(), "more") {
		t.Fatalf("tail %q", w.tail())
	}
}

func TestSelectOps(t *testing.T) {
	for _, tc := range []struct {
		list    string
		want    []string
		wantErr bool
	}{
		{"", []string{"qC", "m1", "g", "step", "bphit", "mem64m"}, false},
		{"all", []string{"qC", "m1", "g", "step", "bphit", "mem64m"}, false},
		{"g", []string{"g"}, false},
		{"bphit, g", []string{"bphit", "g"}, false},
		{"roundtrip,qC,g", []string{"qC", "m1", "g"}, false},
		{"nope", nil, true},
	} {
		got, err := selectOps(tc.list)
		if (err != nil) != tc.wantErr {
			t.Errorf("selectOps(%q) error %v", tc.list, err)
			continue
		}
		var names []string
		for _, o := range got {
			names = append(names, o.name)
		}
		if !reflect.DeepEqual(names, tc.want) {
			t.Errorf("selectOps(%q) = %v, want %v", tc.list, names, tc.want)
		}
	}
}

func TestRoundRatios(t *testing.T) {
	for _, tc := range []struct {
		a, b        []float64
		med, lo, hi float64
	}{
		{[]float64{1, 2, 4}, []float64{2, 2, 2}, 1, 0.5, 2},
		{[]float64{1, 1, 1, 1}, []float64{1, 2, 3, 4}, 2.5, 1, 4},
		{[]float64{1, 0, 4}, []float64{1, 5, 4}, 1, 1, 1},
		{nil, nil, 0, 0, 0},
	} {
		med, lo, hi := roundRatios(tc.a, tc.b)
		if med != tc.med || lo != tc.lo || hi != tc.hi {
			t.Errorf("roundRatios(%v, %v) = %v, %v, %v; want %v, %v, %v", tc.a, tc.b, med, lo, hi, tc.med, tc.lo, tc.hi)
		}
	}
}

func TestMreq(t *testing.T) {
	if got := string(mreq(nil, 0x7ffff3c00000, 0x23ff)); got != "m7ffff3c00000,23ff" {
		t.Fatal(got)
	}
}

// TestOpsOnGdbserver runs a few iterations of every op against GNU
// gdbserver and checks that nothing is left running afterwards.
func TestOpsOnGdbserver(t *testing.T) {
	if testing.Short() {
		t.Skip("starts gdbserver")
	}
	gdbserver := *flagGdbserver
	if err := checkExecutable(gdbserver); err != nil {
		t.Skip(err)
	}
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip(err)
	}
	progs := opProgs(t, ops)
	for _, o := range ops {
		t.Run(o.name, func(t *testing.T) {
			s, err := launch(gdbserver, progs[o.prog])
			if err != nil {
				t.Fatal(err)
			}
			stubPid, pid := s.cmd.Process.Pid, s.pid
			iter, units, err := o.prepare(s)
			if err == nil {
				n := 3
				if o.unit == "MiB" {
					n = 1 // 64 MiB per iteration
				}
				for i := 0; i < n && err == nil; i++ {
					err = iter()
				}
			}
			if cerr := s.close(); cerr != nil {
				t.Errorf("close: %v", cerr)
			}
			if err != nil {
				t.Fatal(err)
			}
			if units <= 0 {
				t.Errorf("units = %v", units)
			}
			if len(s.notes) > 0 {
				t.Errorf("notes on gdbserver: %v", s.notes)
			}
			for _, p := range []int{stubPid, pid} {
				if st, _ := procState(p); st != 0 {
					t.Errorf("process %d left behind (state %c)", p, st)
				}
			}
		})
	}
}

// TestLaunchFailure checks that a stub that exits at once is reported with
// its output and leaves nothing behind.
func TestLaunchFailure(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a program")
	}
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip(err)
	}
	progs := opProgs(t, ops)
	fake := t.TempDir() + "/fakestub"
	if err := os.WriteFile(fake, []byte("#!/bin/sh\necho 'fakestub: cannot do it' >&2\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err := launch(fake, progs["bphit"])
	if err == nil || !strings.Contains(err.Error(), "cannot do it") || !strings.Contains(err.Error(), "exit status 3") {
		t.Fatalf("launch of a failing stub: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("took %v", d)
	}
}

// TestStubThatDoesNotExit checks that a stub still running after vKill and
// disconnect is killed with everything in its process group, and reported.
func TestStubThatDoesNotExit(t *testing.T) {
	if testing.Short() {
		t.Skip("starts gdbserver")
	}
	gdbserver := *flagGdbserver
	if err := checkExecutable(gdbserver); err != nil {
		t.Skip(err)
	}
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip(err)
	}
	progs := opProgs(t, ops)
	// gdbserver in the background, then a long sleep: the "stub" (this
	// shell) outlives the session.
	wrapper := t.TempDir() + "/lingering"
	script := "#!/bin/sh\n" + gdbserver + " \"$@\" &\nwait\nexec sleep 300\n"
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	s, err := launch(wrapper, progs["bphit"])
	if err != nil {
		t.Fatal(err)
	}
	stubPid, pid := s.cmd.Process.Pid, s.pid
	err = s.close()
	if err == nil || !strings.Contains(err.Error(), "still running") {
		t.Fatalf("close: %v, want a report of the lingering stub", err)
	}
	for _, p := range []int{stubPid, pid} {
		if st, _ := procState(p); st != 0 {
			t.Errorf("process %d left behind (state %c)", p, st)
		}
	}
}
