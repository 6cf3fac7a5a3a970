package breakpoints

import (
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// fuzzEnv is a cheap deterministic thread: memory readable in
// [0x1000, 0x11000) with contents derived from the address and a seed,
// registers 0..19, and a small trace state variable table.
type fuzzEnv struct {
	seed  byte
	tsv   map[int]int64
	out   int
	calls int
}

func (e *fuzzEnv) ReadMemory(addr uint64, buf []byte) error {
	e.calls++
	if addr < 0x1000 || addr >= 0x11000 || uint64(len(buf)) > 0x11000-addr {
		return errors.New("EFAULT")
	}
	for i := range buf {
		a := addr + uint64(i)
		buf[i] = byte(a*31) ^ e.seed
		if a%97 == 0 {
			buf[i] = 0
		}
	}
	return nil
}

func (e *fuzzEnv) Register(n int) (uint64, error) {
	if n >= 20 {
		return 0, errors.New("no such register")
	}
	return 0x1000 + uint64(n)*0x100 + uint64(e.seed), nil
}

func (e *fuzzEnv) TraceStateVariable(n int) (int64, bool) {
	v, ok := e.tsv[n]
	return v, ok
}

func (e *fuzzEnv) SetTraceStateVariable(n int, v int64) {
	if len(e.tsv) < 64 {
		e.tsv[n] = v
	}
}

func (e *fuzzEnv) Output(s string) { e.out += len(s) }

func FuzzEval(f *testing.F) {
	for _, s := range []string{traceCondition, traceDprintf} {
		e, _, err := ParseAgentExpr([]byte(s))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(e.Code, byte(0), uint16(1000))
	}
	f.Add(asm(AxConst8, 1, AxConst8, 1, AxIfGoto, uint16(2)), byte(1), uint16(300))
	f.Add(asm(AxReg, uint16(3), AxConst8, 7, AxAdd, AxRef64, AxConst16, uint16(0x1000), AxPick, 1, AxRot, AxSwap, AxEnd), byte(2), uint16(50))
	f.Add(asm(AxConst16, uint16(0x1234), AxConst8, 0, AxConst8, 0, AxPrintf, 1, uint16(6), "%-5s\x00", AxEnd), byte(3), uint16(10))
	f.Add(asm(AxConst8, 0, AxConst8, 0, AxDivSigned, AxEnd), byte(4), uint16(10))
	f.Add(asm(AxGetv, uint16(1), AxConst8, 1, AxAdd, AxSetv, uint16(1), AxGoto, uint16(0)), byte(5), uint16(4000))
	f.Fuzz(func(t *testing.T, code []byte, seed byte, lim uint16) {
		limit := int(lim%4096) + 1
		env := &fuzzEnv{seed: seed, tsv: map[int]int64{}}
		for _, want := range []bool{true, false} {
			v, steps, err := run(code, env, limit, want)
			if steps > limit {
				t.Fatalf("%d steps with limit %d", steps, limit)
			}
			if err != nil {
				var ae *AgentError
				if !errors.As(err, &ae) || v != 0 {
					t.Fatalf("error %v (%T), value %d", err, err, v)
				}
				if ae.Err == nil || ae.PC < 0 || ae.PC > len(code) {
					t.Fatalf("bad AgentError %+v", ae)
				}
				_ = err.Error()
			}
		}
		// Every printf reads at most a bounded amount per step.
		if env.out > limit*(AgentPrintfMaxString+len(code)+AgentPrintfMaxWidth*100) {
			t.Fatalf("output %d bytes", env.out)
		}
		_ = Disassemble(code)
	})
}

func FuzzParseZTail(f *testing.F) {
	f.Add(";" + traceCondition)
	f.Add(";cmds:1," + traceDprintf)
	f.Add(";X1,27;X2,2227;cmds:0,X1,27X1,28")
	f.Add(";cmds:1,")
	f.Fuzz(func(t *testing.T, tail string) {
		px, err := ParseZTail([]byte(tail))
		if err != nil {
			if !errors.Is(err, ErrAgentSyntax) {
				t.Fatalf("%v is not ErrAgentSyntax", err)
			}
			return
		}
		// Re-encode the way gdb does and parse again.
		var b strings.Builder
		if len(px.Conditions) > 0 {
			b.WriteByte(';')
			for _, c := range px.Conditions {
				fmt.Fprintf(&b, "X%x,%s", len(c), hex.EncodeToString(c))
			}
		}
		if len(px.Commands) > 0 {
			p := 0
			if px.Persist {
				p = 1
			}
			fmt.Fprintf(&b, ";cmds:%x,", p)
			for _, c := range px.Commands {
				fmt.Fprintf(&b, "X%x,%s", len(c), hex.EncodeToString(c))
			}
		}
		again, err := ParseZTail([]byte(b.String()))
		if err != nil || !reflect.DeepEqual(again, px) {
			t.Fatalf("%q -> %+v -> %q -> %+v, %v", tail, px, b.String(), again, err)
		}
	})
}

func FuzzFormatAgentPrintf(f *testing.F) {
	f.Add([]byte(`agent-dprintf sum=%d a=%d b=%d\n`), uint64(100), uint64(0x1000))
	f.Add([]byte(`%-#10.5x|%+05ld|%.3s|%p|%c|%%`), uint64(1<<63), uint64(0x2000))
	f.Fuzz(func(t *testing.T, format []byte, a, b uint64) {
		env := &fuzzEnv{tsv: map[int]int64{}}
		for n := 0; n <= 3; n++ {
			args := []uint64{a, b, a ^ b}[:n]
			out, err := FormatAgentPrintf(format, args, env)
			if err != nil {
				if !errors.Is(err, ErrAgentPrintf) && !errors.Is(err, ErrAgentMemory) {
					t.Fatalf("untyped error %v", err)
				}
				continue
			}
			if len(out) > len(format)+n*(AgentPrintfMaxString+AgentPrintfMaxWidth+64) {
				t.Fatalf("output of %d bytes", len(out))
			}
		}
	})
}
