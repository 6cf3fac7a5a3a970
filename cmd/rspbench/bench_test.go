package main

import (
	"fmt"
	"os"
	"sync"
	"testing"
)

// The benchmarks run every op on gdbserver and on gostub as
// BenchmarkRSP/<op>/<stub>:
//
//	go test -bench . ./cmd/rspbench/
//	go test -bench 'RSP/(step|bphit)' -count 5 ./cmd/rspbench/ -args -gostub=/path/to/gostub
//
// gostub is built from ./cmd/gostub unless -gostub (or RSPBENCH_GOSTUB)
// names a binary.  When it cannot be built or does not answer, its
// sub-benchmarks fail with the reason and the gdbserver ones still run.

var (
	envOnce  sync.Once
	envStubs []stubSpec
	envProgs map[string]*program
	envErr   error
	envTmp   string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if envTmp != "" {
		os.RemoveAll(envTmp)
	}
	closeAll()
	os.Exit(code)
}

// benchEnv builds the programs and resolves the stubs once per test binary.
func benchEnv(tb testing.TB) ([]stubSpec, map[string]*program) {
	tb.Helper()
	envOnce.Do(func() {
		src, err := sourceDir(*flagSrc)
		if err != nil {
			envErr = err
			return
		}
		envProgs = map[string]*program{}
		for _, o := range ops {
			if envProgs[o.prog] == nil {
				if envProgs[o.prog], err = buildProgram(src, o.prog); err != nil {
					envErr = err
					return
				}
			}
		}
		if envTmp, err = os.MkdirTemp("", "rspbench-test"); err != nil {
			envErr = err
			return
		}
		envStubs = resolveStubs(*flagGdbserver, *flagGostub, envTmp)
	})
	if envErr != nil {
		tb.Fatal(envErr)
	}
	return envStubs, envProgs
}

func BenchmarkRSP(b *testing.B) {
	stubs, progs := benchEnv(b)
	for _, o := range ops {
		b.Run(o.name, func(b *testing.B) {
			for _, st := range stubs {
				b.Run(st.name, func(b *testing.B) {
					benchOp(b, st, progs[o.prog], o)
				})
			}
		})
	}
}

func benchOp(b *testing.B, st stubSpec, prog *program, o op) {
	if st.err != nil {
		b.Fatalf("%s is unavailable: %v", st.name, st.err)
	}
	s, err := launch(st.path, prog)
	if err != nil {
		b.Fatalf("%s: %v", st.name, err)
	}
	b.Cleanup(func() {
		if err := s.close(); err != nil {
			b.Errorf("%s cleanup: %v", st.name, err)
		}
	})
	iter, units, err := o.prepare(s)
	if err != nil {
		b.Fatalf("%s: %s setup: %v", st.name, o.name, err)
	}
	if o.unit == "MiB" {
		b.SetBytes(int64(units * (1 << 20)))
	}
	for b.Loop() {
		if err := iter(); err != nil {
			b.Fatalf("%s: %s: %v", st.name, o.name, err)
		}
	}
	for _, n := range s.notes {
		b.Log(fmt.Sprintf("%s: %s", st.name, n))
	}
}
