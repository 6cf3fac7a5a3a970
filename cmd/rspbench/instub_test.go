package main

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"os/exec"
	"reflect"
	"testing"

	"github.com/gostub/gostub/breakpoints"
)

// TestCondEveryNth checks the condbp condition against what gdb 13.1
// compiles for `bench_hits % 1000 == 0` in bphit (bench_hits at 0x404018):
//
//	(gdb) maint agent-eval bench_hits % 1000 == 0
//	  0  const32 4210712     5  ref64     6  const16 1000   9  zero_ext 64
//	 11  rem_unsigned       12  zero_ext 64  14  const8 0  16  zero_ext 64
//	 18  equal              19  end
//
// and runs it through gostub's agent-expression interpreter.
func TestCondEveryNth(t *testing.T) {
	code := condEveryNth(0x404018, 1000)
	const want = "24004040181a2303e82a40082a4022002a401327"
	if got := hex.EncodeToString(code); got != want {
		t.Fatalf("bytecode %s, want %s (%s)", got, want, breakpoints.Disassemble(code))
	}
	if got, want := condZ0(0x401106, code), "Z0,401106,1;X14,"+want; got != want {
		t.Errorf("condZ0 = %q, want %q", got, want)
	}
	for _, tc := range []struct {
		v    uint64
		want uint64
	}{{0, 1}, {1, 0}, {999, 0}, {1000, 1}, {1001, 0}, {5000, 1}, {1<<63 + 192, 1}, {1<<63 + 808, 0}} {
		env := &fakeAgentEnv{addr: 0x404018, val: tc.v}
		got, err := breakpoints.Eval(code, env, 0)
		if err != nil || got != tc.want {
			t.Errorf("bench_hits = %d: condition %d, %v; want %d", tc.v, got, err, tc.want)
		}
	}
	// A small n and a 64-bit address use const8 and const64.
	env := &fakeAgentEnv{addr: 0x555555558010, val: 14}
	if got, err := breakpoints.Eval(condEveryNth(0x555555558010, 7), env, 0); err != nil || got != 1 {
		t.Errorf("14 %% 7 == 0: %d, %v", got, err)
	}
}

// fakeAgentEnv is memory holding one uint64.
type fakeAgentEnv struct {
	addr, val uint64
}

func (e *fakeAgentEnv) ReadMemory(addr uint64, buf []byte) error {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], e.val)
	for i := range buf {
		if addr+uint64(i) < e.addr || addr+uint64(i) >= e.addr+8 {
			return errors.New("unmapped")
		}
		buf[i] = b[addr+uint64(i)-e.addr]
	}
	return nil
}
func (e *fakeAgentEnv) Register(int) (uint64, error)         { return 0, nil }
func (e *fakeAgentEnv) TraceStateVariable(int) (int64, bool) { return 0, false }
func (e *fakeAgentEnv) SetTraceStateVariable(int, int64)     {}
func (e *fakeAgentEnv) Output(string)                        {}

func TestSelectAllOps(t *testing.T) {
	var base []string
	for _, o := range ops {
		base = append(base, o.name)
	}
	all := append(append([]string{}, base...), "condbp", "next1000", "watchhit", "watchstop",
		"gdb-condbp", "gdb-watchhit", "gdb-next1000")
	for _, tc := range []struct {
		list    string
		want    []string
		wantErr bool
	}{
		{"", all, false},
		{"all", all, false},
		{"condbp", []string{"condbp"}, false},
		{"watchhit, g,condbp,g", []string{"watchhit", "g", "condbp"}, false},
		{"roundtrip,next1000", []string{"qC", "m1", "next1000"}, false},
		{"gdb-watchhit,watchstop", []string{"gdb-watchhit", "watchstop"}, false},
		{"condbp,nope", nil, true},
	} {
		got, err := selectAllOps(tc.list)
		if (err != nil) != tc.wantErr {
			t.Errorf("selectAllOps(%q) error %v", tc.list, err)
			continue
		}
		var names []string
		for _, o := range got {
			names = append(names, o.name)
		}
		if !reflect.DeepEqual(names, tc.want) {
			t.Errorf("selectAllOps(%q) = %v, want %v", tc.list, names, tc.want)
		}
	}
}

func TestSwap64(t *testing.T) {
	if got := swap64(0x0100000000000000); got != 1 {
		t.Fatalf("swap64 = %#x", got)
	}
}

// TestNext1000LineRange builds next1000 and checks the range of its loop
// line against the program: inside main, short, ending at another line.
func TestNext1000LineRange(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a program")
	}
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip(err)
	}
	src, err := sourceDir(*flagSrc)
	if err != nil {
		t.Fatal(err)
	}
	p, err := buildOpProgram(src, "instub/next1000")
	if err != nil {
		t.Fatal(err)
	}
	start, end, err := lineRange(p.path, "loop1000")
	if err != nil {
		t.Fatal(err)
	}
	mainAddr, err := p.sym("main")
	if err != nil {
		t.Fatal(err)
	}
	if start <= mainAddr || end <= start || end-start > 128 {
		t.Errorf("loop line range %#x-%#x, main at %#x", start, end, mainAddr)
	}
	if _, _, err := lineRange(p.path, "no-such-mark"); err == nil {
		t.Errorf("lineRange of a missing mark: no error")
	}
}

// TestInstubOpsOnGdbserver runs a few iterations of the instub ops against
// GNU gdbserver (the reference: each op's prepare checks the stub's work)
// and checks that nothing is left running.
func TestInstubOpsOnGdbserver(t *testing.T) {
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
	progs := opProgs(t, instubOps)
	for _, o := range instubOps {
		t.Run(o.name, func(t *testing.T) {
			s, err := launch(gdbserver, progs[o.prog])
			if err != nil {
				t.Fatal(err)
			}
			stubPid, pid := s.cmd.Process.Pid, s.pid
			iter, units, err := o.prepare(s)
			for i := 0; i < 2 && err == nil; i++ {
				err = iter()
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
			for _, p := range []int{stubPid, pid} {
				if st, _ := procState(p); st != 0 {
					t.Errorf("process %d left behind (state %c)", p, st)
				}
			}
		})
	}
}

// opProgs builds the programs of the ops in list.
func opProgs(tb testing.TB, list []op) map[string]*program {
	tb.Helper()
	src, err := sourceDir(*flagSrc)
	if err != nil {
		tb.Fatal(err)
	}
	progs := map[string]*program{}
	for _, o := range list {
		if progs[o.prog] == nil {
			if progs[o.prog], err = buildOpProgram(src, o.prog); err != nil {
				tb.Fatal(err)
			}
		}
	}
	return progs
}

// BenchmarkInStub runs the instub ops on gdbserver and on gostub as
// BenchmarkInStub/<op>/<stub>, like BenchmarkRSP:
//
//	go test -bench InStub ./cmd/rspbench/ -args -gostub=/path/to/gostub
func BenchmarkInStub(b *testing.B) {
	stubs, _ := benchEnv(b)
	progs := opProgs(b, instubOps)
	for _, o := range instubOps {
		b.Run(o.name, func(b *testing.B) {
			for _, st := range stubs {
				b.Run(st.name, func(b *testing.B) {
					benchOp(b, st, progs[o.prog], o)
				})
			}
		})
	}
}
