package breakpoints

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
)

// axEnv is a fake stopped thread: memory regions, registers, trace state
// variables, and what printf and the trace opcodes produced.
type axEnv struct {
	mem    map[uint64][]byte // region start -> bytes
	regs   map[int]uint64
	tsv    map[int]int64
	out    strings.Builder
	traced []string
	reads  int
}

func newAxEnv() *axEnv {
	return &axEnv{mem: map[uint64][]byte{}, regs: map[int]uint64{}, tsv: map[int]int64{}}
}

func (e *axEnv) ReadMemory(addr uint64, buf []byte) error {
	e.reads++
	for i := range buf {
		a := addr + uint64(i)
		found := false
		for base, b := range e.mem {
			if a >= base && a-base < uint64(len(b)) {
				buf[i] = b[a-base]
				found = true
				break
			}
		}
		if !found {
			return fmt.Errorf("no memory at %#x", a)
		}
	}
	return nil
}

func (e *axEnv) Register(n int) (uint64, error) {
	v, ok := e.regs[n]
	if !ok {
		return 0, fmt.Errorf("no register %d", n)
	}
	return v, nil
}

func (e *axEnv) TraceStateVariable(n int) (int64, bool) {
	v, ok := e.tsv[n]
	return v, ok
}

func (e *axEnv) SetTraceStateVariable(n int, v int64) { e.tsv[n] = v }
func (e *axEnv) Output(s string)                      { e.out.WriteString(s) }

// axTraceEnv also collects trace data.
type axTraceEnv struct{ *axEnv }

func (e axTraceEnv) TraceMemory(addr, size uint64, nz bool) error {
	e.traced = append(e.traced, fmt.Sprintf("mem %#x/%d nz=%v", addr, size, nz))
	return nil
}

func (e axTraceEnv) TraceVariable(n int) error {
	e.traced = append(e.traced, fmt.Sprintf("tsv %d", n))
	return nil
}

// asm assembles bytecode: an AxOp or byte is one byte, uint16/uint32/uint64
// are big-endian immediates, a string is raw bytes.
func asm(items ...any) []byte {
	var b []byte
	for _, it := range items {
		switch v := it.(type) {
		case AxOp:
			b = append(b, byte(v))
		case byte:
			b = append(b, v)
		case rune:
			b = append(b, byte(v))
		case int:
			if v < 0 || v > 255 {
				panic("asm: int immediate out of byte range")
			}
			b = append(b, byte(v))
		case uint16:
			b = binary.BigEndian.AppendUint16(b, v)
		case uint32:
			b = binary.BigEndian.AppendUint32(b, v)
		case uint64:
			b = binary.BigEndian.AppendUint64(b, v)
		case string:
			b = append(b, v...)
		default:
			panic(fmt.Sprintf("asm: %T", it))
		}
	}
	return b
}

// c64 pushes v.
func c64(v uint64) []any { return []any{AxConst64, v} }

func cat(parts ...any) []any {
	var out []any
	for _, p := range parts {
		if s, ok := p.([]any); ok {
			out = append(out, s...)
		} else {
			out = append(out, p)
		}
	}
	return out
}

func neg(v int64) uint64 { return uint64(v) }

func TestEvalOpcodes(t *testing.T) {
	const memBase = 0x7000
	type tc struct {
		name string
		code []any
		want uint64
		err  error
	}
	bin := func(name string, a, b uint64, op AxOp, want uint64) tc {
		return tc{name, cat(c64(a), c64(b), op, AxEnd), want, nil}
	}
	tests := []tc{
		bin("add", 2, 3, AxAdd, 5),
		bin("add wraps", math.MaxUint64, 2, AxAdd, 1),
		bin("sub is under-top", 2, 3, AxSub, neg(-1)),
		bin("mul", 7, 6, AxMul, 42),
		bin("mul wraps", 1<<63, 2, AxMul, 0),
		bin("div_signed truncates", neg(-7), 2, AxDivSigned, neg(-3)),
		bin("div_signed min/-1", 1<<63, neg(-1), AxDivSigned, 1<<63),
		bin("div_unsigned", neg(-8), 2, AxDivUnsigned, 1<<63-4),
		bin("rem_signed", neg(-7), 2, AxRemSigned, neg(-1)),
		bin("rem_signed min/-1", 1<<63, neg(-1), AxRemSigned, 0),
		bin("rem_unsigned", neg(-7), 2, AxRemUnsigned, 1),
		bin("lsh", 1, 63, AxLsh, 1<<63),
		bin("lsh by 64", 1, 64, AxLsh, 0),
		bin("rsh_signed", 1<<63, 4, AxRshSigned, 0xf8<<56),
		bin("rsh_signed by 64", 1<<63, 64, AxRshSigned, math.MaxUint64),
		bin("rsh_unsigned", 1<<63, 4, AxRshUnsigned, 0x08<<56),
		bin("rsh_unsigned by 99", 1<<63, 99, AxRshUnsigned, 0),
		bin("bit_and", 0xf0f0, 0xff00, AxBitAnd, 0xf000),
		bin("bit_or", 0xf0f0, 0xff00, AxBitOr, 0xfff0),
		bin("bit_xor", 0xf0f0, 0xff00, AxBitXor, 0x0ff0),
		bin("equal", 5, 5, AxEqual, 1),
		bin("not equal", 5, 6, AxEqual, 0),
		bin("less_signed -1<1", neg(-1), 1, AxLessSigned, 1),
		bin("less_signed 1<-1", 1, neg(-1), AxLessSigned, 0),
		bin("less_signed equal", 3, 3, AxLessSigned, 0),
		bin("less_unsigned max<1", neg(-1), 1, AxLessUnsigned, 0),
		bin("less_unsigned 1<max", 1, neg(-1), AxLessUnsigned, 1),
		{"log_not 0", cat(c64(0), AxLogNot, AxEnd), 1, nil},
		{"log_not 5", cat(c64(5), AxLogNot, AxEnd), 0, nil},
		{"bit_not", cat(c64(0xff), AxBitNot, AxEnd), ^uint64(0xff), nil},

		{"ext 8 negative", cat(c64(0x80), AxExt, 8, AxEnd), neg(-128), nil},
		{"ext 8 drops high bits", cat(c64(0x17f), AxExt, 8, AxEnd), 0x7f, nil},
		{"ext 32", cat(c64(0xfffffffd), AxExt, 32, AxEnd), neg(-3), nil},
		{"ext 32 positive", cat(c64(0xffffffff_7ffffffd), AxExt, 32, AxEnd), 0x7ffffffd, nil},
		{"ext 1", cat(c64(1), AxExt, 1, AxEnd), neg(-1), nil},
		{"ext 64 no effect", cat(c64(0x8000), AxExt, 64, AxEnd), 0x8000, nil},
		{"ext 200 no effect", cat(c64(0x8000), AxExt, 200, AxEnd), 0x8000, nil},
		{"ext 0", cat(c64(0x8001), AxExt, 0, AxEnd), 0, nil},
		{"zero_ext 8", cat(c64(neg(-2)), AxZeroExt, 8, AxEnd), 0xfe, nil},
		{"zero_ext 32", cat(c64(neg(-2)), AxZeroExt, 32, AxEnd), 0xfffffffe, nil},
		{"zero_ext 64", cat(c64(neg(-2)), AxZeroExt, 64, AxEnd), neg(-2), nil},
		{"zero_ext 0", cat(c64(neg(-2)), AxZeroExt, 0, AxEnd), 0, nil},

		{"const8", []any{AxConst8, 0xfe, AxEnd}, 0xfe, nil},
		{"const16 big-endian", []any{AxConst16, uint16(0x1234), AxEnd}, 0x1234, nil},
		{"const32 big-endian", []any{AxConst32, uint32(0x89abcdef), AxEnd}, 0x89abcdef, nil},
		{"const64 big-endian", []any{AxConst64, uint64(0x0123456789abcdef), AxEnd}, 0x0123456789abcdef, nil},

		{"ref8", cat(c64(memBase+1), AxRef8, AxEnd), 0x02, nil},
		{"ref16 little-endian unaligned", cat(c64(memBase+1), AxRef16, AxEnd), 0x0302, nil},
		{"ref32", cat(c64(memBase), AxRef32, AxEnd), 0x04030201, nil},
		{"ref64", cat(c64(memBase), AxRef64, AxEnd), 0x0807060504030201, nil},
		{"ref32 sign via ext", cat(c64(memBase+8), AxRef32, AxExt, 32, AxEnd), neg(-2), nil},
		{"ref64 partly unmapped", cat(c64(memBase+8), AxRef64, AxEnd), 0, ErrAgentMemory},
		{"ref8 unmapped", cat(c64(0), AxRef8, AxEnd), 0, ErrAgentMemory},
		{"ref8 empty stack", []any{AxRef8, AxEnd}, 0, ErrAgentStackUnderflow},

		{"reg", []any{AxReg, uint16(6), AxEnd}, 0x7fffffffe510, nil},
		{"reg unknown", []any{AxReg, uint16(999), AxEnd}, 0, ErrAgentRegister},

		// [0] const8 c  [2] if_goto 8  [5] const8 9  [7] end  [8] const8 7  [10] end
		{"if_goto taken", []any{AxConst8, 1, AxIfGoto, uint16(8), AxConst8, 9, AxEnd, AxConst8, 7, AxEnd}, 7, nil},
		{"if_goto not taken", []any{AxConst8, 0, AxIfGoto, uint16(8), AxConst8, 9, AxEnd, AxConst8, 7, AxEnd}, 9, nil},
		{"if_goto pops", []any{AxConst8, 5, AxConst8, 1, AxIfGoto, uint16(7), AxEnd}, 5, nil},
		{"if_goto out of range", []any{AxConst8, 1, AxIfGoto, uint16(11), AxEnd}, 0, ErrAgentGotoRange},
		{"if_goto out of range not taken", []any{AxConst8, 3, AxConst8, 0, AxIfGoto, uint16(99), AxEnd}, 3, nil},
		{"if_goto empty", []any{AxIfGoto, uint16(0), AxEnd}, 0, ErrAgentStackUnderflow},
		// [0] goto 5  [3] const8 1  [5] const8 2  [7] end
		{"goto", []any{AxGoto, uint16(5), AxConst8, 1, AxConst8, 2, AxEnd}, 2, nil},
		{"goto into an operand", []any{AxGoto, uint16(4), AxConst8, byte(AxConst8), 0x33, AxEnd}, 0x33, nil},
		{"goto out of range", []any{AxGoto, uint16(4), AxEnd}, 0, ErrAgentGotoRange},
		{"goto self loops", []any{AxGoto, uint16(0)}, 0, ErrAgentStepLimit},

		{"dup", []any{AxConst8, 4, AxDup, AxAdd, AxEnd}, 8, nil},
		{"pop", []any{AxConst8, 4, AxConst8, 5, AxPop, AxEnd}, 4, nil},
		{"swap", []any{AxConst8, 4, AxConst8, 5, AxSwap, AxEnd}, 4, nil},
		{"swap then sub", []any{AxConst8, 4, AxConst8, 5, AxSwap, AxSub, AxEnd}, 1, nil},
		{"pick 0 is dup", []any{AxConst8, 4, AxConst8, 5, AxPick, 0, AxEnd}, 5, nil},
		{"pick 2", []any{AxConst8, 4, AxConst8, 5, AxConst8, 6, AxPick, 2, AxEnd}, 4, nil},
		{"pick too deep", []any{AxConst8, 4, AxConst8, 5, AxPick, 2, AxEnd}, 0, ErrAgentStackUnderflow},
		{"rot top", []any{AxConst8, 1, AxConst8, 2, AxConst8, 3, AxRot, AxEnd}, 2, nil},
		{"rot middle", []any{AxConst8, 1, AxConst8, 2, AxConst8, 3, AxRot, AxPop, AxEnd}, 1, nil},
		{"rot bottom", []any{AxConst8, 1, AxConst8, 2, AxConst8, 3, AxRot, AxPop, AxPop, AxEnd}, 3, nil},
		{"rot short", []any{AxConst8, 1, AxConst8, 2, AxRot, AxEnd}, 0, ErrAgentStackUnderflow},

		{"getv", []any{AxGetv, uint16(5), AxEnd}, neg(-2), nil},
		{"getv unknown is 0", []any{AxGetv, uint16(6), AxEnd}, 0, nil},
		{"setv keeps value", []any{AxConst8, 42, AxSetv, uint16(3), AxEnd}, 42, nil},

		{"float", []any{AxFloat, AxEnd}, 0, ErrAgentUnsupported},
		{"ref_float", cat(c64(memBase), AxRefFloat, AxEnd), 0, ErrAgentUnsupported},
		{"ref_double", cat(c64(memBase), AxRefDouble, AxEnd), 0, ErrAgentUnsupported},
		{"ref_long_double", cat(c64(memBase), AxRefLongDouble, AxEnd), 0, ErrAgentUnsupported},
		{"l_to_d", cat(c64(1), AxLToD, AxEnd), 0, ErrAgentUnsupported},
		{"d_to_l", cat(c64(1), AxDToL, AxEnd), 0, ErrAgentUnsupported},

		{"opcode 0", []any{0x00}, 0, ErrAgentBadOpcode},
		{"opcode 0x31 (invalid2)", []any{0x31}, 0, ErrAgentBadOpcode},
		{"opcode 0x35", []any{0x35}, 0, ErrAgentBadOpcode},
		{"opcode 0xff", []any{AxConst8, 1, 0xff}, 0, ErrAgentBadOpcode},
		{"truncated const8", []any{AxConst8}, 0, ErrAgentTruncated},
		{"truncated const64", []any{AxConst64, uint32(0)}, 0, ErrAgentTruncated},
		{"truncated goto", []any{AxGoto, 0}, 0, ErrAgentTruncated},
		{"no end", []any{AxConst8, 1}, 0, ErrAgentTruncated},
		{"empty", nil, 0, ErrAgentEmpty},
		{"end with empty stack", []any{AxEnd}, 0, ErrAgentStackUnderflow},
		{"add underflow", []any{AxConst8, 1, AxAdd, AxEnd}, 0, ErrAgentStackUnderflow},
		{"pop underflow", []any{AxPop, AxEnd}, 0, ErrAgentStackUnderflow},
		{"div by zero", cat(c64(1), c64(0), AxDivSigned, AxEnd), 0, ErrAgentDivideByZero},
		{"div_unsigned by zero", cat(c64(1), c64(0), AxDivUnsigned, AxEnd), 0, ErrAgentDivideByZero},
		{"rem_signed by zero", cat(c64(1), c64(0), AxRemSigned, AxEnd), 0, ErrAgentDivideByZero},
		{"rem_unsigned by zero", cat(c64(1), c64(0), AxRemUnsigned, AxEnd), 0, ErrAgentDivideByZero},
		{"div underflow before zero check", []any{AxConst8, 0, AxDivSigned, AxEnd}, 0, ErrAgentStackUnderflow},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := newAxEnv()
			env.mem[memBase] = []byte{1, 2, 3, 4, 5, 6, 7, 8, 0xfe, 0xff, 0xff, 0xff}
			env.regs[6] = 0x7fffffffe510
			env.tsv[5] = -2
			code := asm(tc.code...)
			got, err := Eval(code, env, 1000)
			if tc.err != nil {
				var ae *AgentError
				if !errors.Is(err, tc.err) || !errors.As(err, &ae) {
					t.Fatalf("%s: err = %v, want %v", Disassemble(code), err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("%s = %#x, %v; want %#x", Disassemble(code), got, err, tc.want)
			}
		})
	}
}

func TestEvalSideEffects(t *testing.T) {
	env := newAxEnv()
	if _, err := Eval(asm(AxConst8, 42, AxExt, 8, AxSetv, uint16(3), AxEnd), env, 0); err != nil {
		t.Fatal(err)
	}
	if env.tsv[3] != 42 {
		t.Errorf("setv: tsv[3] = %d", env.tsv[3])
	}
	if _, err := Eval(asm(AxConst8, 0xd6, AxExt, 8, AxSetv, uint16(4), AxEnd), env, 0); err != nil {
		t.Fatal(err)
	}
	if env.tsv[4] != -42 {
		t.Errorf("setv negative: tsv[4] = %d", env.tsv[4])
	}
}

func TestEvalTraceOpcodes(t *testing.T) {
	code := asm(
		AxConst8, 1, // marker left at the bottom
		AxConst32, uint32(0x1000), AxConst8, 4, AxTrace, // addr size =>
		AxConst32, uint32(0x2000), AxTraceQuick, 8, AxPop, // addr => addr
		AxConst32, uint32(0x3000), AxTrace16, uint16(0x100), AxPop,
		AxConst32, uint32(0x4000), AxConst8, 16, AxTracenz,
		AxGetv, uint16(7), AxTracev, uint16(7), AxPop, // tracev leaves the stack alone
		AxEnd)
	// Without a tracer only the stack effect remains.
	if v, err := Eval(code, newAxEnv(), 0); err != nil || v != 1 {
		t.Fatalf("plain env: %d, %v", v, err)
	}
	env := newAxEnv()
	te := axTraceEnv{env}
	if v, err := Eval(code, te, 0); err != nil || v != 1 {
		t.Fatalf("tracer env: %d, %v", v, err)
	}
	want := []string{"mem 0x1000/4 nz=false", "mem 0x2000/8 nz=false", "mem 0x3000/256 nz=false", "mem 0x4000/16 nz=true", "tsv 7"}
	if !reflect.DeepEqual(env.traced, want) {
		t.Errorf("traced %q, want %q", env.traced, want)
	}
	for _, c := range [][]byte{asm(AxConst8, 1, AxTrace, AxEnd), asm(AxTraceQuick, 1, AxEnd), asm(AxConst8, 1, AxTracenz, AxEnd)} {
		if _, err := Eval(c, te, 0); !errors.Is(err, ErrAgentStackUnderflow) {
			t.Errorf("%s: %v", Disassemble(c), err)
		}
	}
}

func TestEvalStackLimits(t *testing.T) {
	var items []any
	for range AgentStackSize {
		items = append(items, AxConst8, 1)
	}
	full := asm(append(items, AxEnd)...)
	if v, err := Eval(full, newAxEnv(), 0); err != nil || v != 1 {
		t.Fatalf("%d values: %d, %v", AgentStackSize, v, err)
	}
	over := asm(append(items, AxConst8, 1, AxEnd)...)
	if _, err := Eval(over, newAxEnv(), 0); !errors.Is(err, ErrAgentStackOverflow) {
		t.Fatalf("%d values: %v", AgentStackSize+1, err)
	}
	if _, err := Eval(asm(append(items, AxDup, AxEnd)...), newAxEnv(), 0); !errors.Is(err, ErrAgentStackOverflow) {
		t.Fatalf("dup over: %v", err)
	}
	if _, err := Eval(asm(append(items, AxPick, 0, AxEnd)...), newAxEnv(), 0); !errors.Is(err, ErrAgentStackOverflow) {
		t.Fatalf("pick over: %v", err)
	}
}

func TestEvalStepLimit(t *testing.T) {
	code := asm(AxConst8, 1, AxConst8, 2, AxAdd, AxEnd) // 4 steps
	if _, err := Eval(code, newAxEnv(), 4); err != nil {
		t.Errorf("limit 4: %v", err)
	}
	_, err := Eval(code, newAxEnv(), 3)
	var ae *AgentError
	if !errors.Is(err, ErrAgentStepLimit) || !errors.As(err, &ae) || ae.PC != 5 || ae.Op != AxEnd {
		t.Errorf("limit 3: %v", err)
	}
	// A loop: [0] const8 1 [2] if_goto 0.
	loop := asm(AxConst8, 1, AxConst8, 1, AxIfGoto, uint16(2))
	_, steps, err := run(loop, newAxEnv(), 500, true)
	if !errors.Is(err, ErrAgentStepLimit) || steps != 500 {
		t.Errorf("loop: %d steps, %v", steps, err)
	}
	// limit <= 0 is the default.
	_, steps, err = run(loop, newAxEnv(), 0, true)
	if !errors.Is(err, ErrAgentStepLimit) || steps != DefaultAgentStepLimit {
		t.Errorf("default: %d steps, %v", steps, err)
	}
}

func TestAgentErrorText(t *testing.T) {
	_, err := Eval(asm(AxConst8, 1, AxConst8, 0, AxDivSigned, AxEnd), newAxEnv(), 0)
	if got := err.Error(); got != "agent expression: div_signed at offset 4: division by zero" {
		t.Errorf("%q", got)
	}
	_, err = Eval(asm(AxReg, uint16(9), AxEnd), newAxEnv(), 0)
	if got := err.Error(); got != "agent expression: reg at offset 0: cannot read register: register 9: no register 9" {
		t.Errorf("%q", got)
	}
}

func TestExecAllowsEmptyStack(t *testing.T) {
	env := newAxEnv()
	code := asm(AxConst8, 'h', AxConst8, 0, AxConst8, 0, AxPrintf, 1, uint16(4), "%c\n\x00", AxEnd)
	if err := Exec(code, env, 0); err != nil {
		t.Fatal(err)
	}
	if env.out.String() != "h\n" {
		t.Errorf("output %q", env.out.String())
	}
	if _, err := Eval(code, env, 0); !errors.Is(err, ErrAgentStackUnderflow) {
		t.Errorf("Eval wants a value: %v", err)
	}
	// Exec still returns evaluation errors.
	if err := Exec(asm(AxPop, AxEnd), env, 0); !errors.Is(err, ErrAgentStackUnderflow) {
		t.Errorf("Exec pop: %v", err)
	}
}

func TestEvalPrintfOpcode(t *testing.T) {
	env := newAxEnv()
	env.mem[0x5000] = []byte("hello\x00")
	// printf("%s=%d %x\n", s, -5, 255): arguments pushed last-first, then
	// channel and function.
	f := `%s=%d %x\n` + "\x00"
	code := asm(
		AxConst8, 0xff,
		AxConst8, 0xfb, AxExt, 8,
		AxConst16, uint16(0x5000),
		AxConst8, 0, AxConst8, 0,
		AxPrintf, 3, uint16(len(f)), f,
		AxConst8, 1, AxEnd)
	v, err := Eval(code, env, 0)
	if err != nil || v != 1 {
		t.Fatalf("%d, %v", v, err)
	}
	if got := env.out.String(); got != "hello=-5 ff\n" {
		t.Errorf("output %q", got)
	}

	for _, tc := range []struct {
		name string
		code []byte
		err  error
	}{
		{"unterminated", asm(AxConst8, 0, AxConst8, 0, AxPrintf, 0, uint16(2), "ab", AxEnd), ErrAgentPrintf},
		{"zero length", asm(AxConst8, 0, AxConst8, 0, AxPrintf, 0, uint16(0), AxEnd), ErrAgentPrintf},
		{"format past end", asm(AxConst8, 0, AxConst8, 0, AxPrintf, 0, uint16(9), "ab\x00"), ErrAgentTruncated},
		{"header past end", asm(AxConst8, 0, AxConst8, 0, AxPrintf, 0), ErrAgentTruncated},
		{"missing channel", asm(AxConst8, 0, AxPrintf, 0, uint16(1), "\x00", AxEnd), ErrAgentStackUnderflow},
		{"missing argument", asm(AxConst8, 0, AxConst8, 0, AxPrintf, 1, uint16(3), "%d\x00", AxEnd), ErrAgentStackUnderflow},
		{"count mismatch", asm(AxConst8, 1, AxConst8, 0, AxConst8, 0, AxPrintf, 1, uint16(1), "\x00", AxEnd), ErrAgentPrintf},
		{"bad %s pointer", asm(AxConst8, 9, AxConst8, 0, AxConst8, 0, AxPrintf, 1, uint16(3), "%s\x00", AxEnd), ErrAgentMemory},
	} {
		env := newAxEnv()
		if err := Exec(tc.code, env, 0); !errors.Is(err, tc.err) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.err)
		}
	}
	// An embedded NUL ends the format, as in C.
	env = newAxEnv()
	if err := Exec(asm(AxConst8, 0, AxConst8, 0, AxPrintf, 0, uint16(5), "ab\x00c\x00", AxEnd), env, 0); err != nil || env.out.String() != "ab" {
		t.Errorf("embedded NUL: %q %v", env.out.String(), err)
	}
}

// The condition gdb 13 sent for "break add if b == 3"
// (/work/shared/reference/trace-gdb-i-condeval.log, INVENTORY.md section 8).
const traceCondition = "X12,26000622100222d816080219162022031327"

// The agent dprintf of the same trace:
// dprintf loop.c:13,"agent-dprintf sum=%d a=%d b=%d\n", sum, a, b
const traceDprintf = "X54,26000622100222d816080219162026000622100222dc16080219162026000622100222ec16080219162022002200340300216167656e742d647072696e74662073756d3d256420613d256420623d25645c6e0027"

func TestTraceConditionBEquals3(t *testing.T) {
	e, rest, err := ParseAgentExpr([]byte(traceCondition))
	if err != nil || len(rest) != 0 {
		t.Fatalf("parse: %v rest %q", err, rest)
	}
	// reg rbp; +16 (the CFA); + (-40): b is at fbreg-40 = rbp-24; int32.
	want := "reg 6; const8 16; add; const8 216; ext 8; add; ref32; ext 32; const8 3; equal; end"
	if got := e.String(); got != want {
		t.Errorf("disassembly:\n got %s\nwant %s", got, want)
	}
	// Registers and stack memory at the hit gdb reported (a=103, b=3):
	// T05...06:10e5ffffff7f0000 (rbp), and m7fffffffe4c0,40.
	env := newAxEnv()
	env.regs[6] = 0x7fffffffe510
	env.mem[0x7fffffffe4c0], _ = hex.DecodeString("0000000000000000000000000000000000000000000000006097faf7ff7f0000e055faf7ff7f000078aee4f7ff7f000000000000000000000300000067000000")
	env.mem[0x7fffffffe500], _ = hex.DecodeString("78e6ffffff7f000078e6ffff6700000060e5ffffff7f00005f5255555555000078e6ffffff7f0000000000000200000068656c6c6f2d737461636b0000000000")
	v, err := e.Eval(env, 0)
	if err != nil || v != 1 {
		t.Fatalf("b == 3 at the reported hit: %d, %v", v, err)
	}
	for _, b := range []int32{0, 1, 2, 4, -3, 3 + 1<<16} {
		binary.LittleEndian.PutUint32(env.mem[0x7fffffffe4c0][0x38:], uint32(b))
		if v, err := e.Eval(env, 0); err != nil || v != 0 {
			t.Errorf("b = %d: %d, %v", b, v, err)
		}
	}
	// Unreadable frame: an error, which gdbserver treats as "report the hit".
	env.regs[6] = 0x1000
	if _, err := e.Eval(env, 0); !errors.Is(err, ErrAgentMemory) {
		t.Errorf("bad frame: %v", err)
	}
}

func TestTraceAgentDprintf(t *testing.T) {
	px, err := ParseZTail([]byte(";cmds:1," + traceDprintf))
	if err != nil {
		t.Fatal(err)
	}
	if !px.Persist || len(px.Commands) != 1 || len(px.Conditions) != 0 || len(px.Commands[0]) != 0x54 {
		t.Fatalf("extras %+v", px)
	}
	code := px.Commands[0]
	if got := Disassemble(code); !strings.HasSuffix(got, `const8 0; const8 0; printf 3 "agent-dprintf sum=%d a=%d b=%d\\n"; end`) {
		t.Errorf("disassembly %s", got)
	}
	// What gdbserver printed on its stdout during the trace, one line per
	// hit of loop.c:13 (sum = a + b).
	hits := []struct{ sum, a, b int32 }{
		{100, 0, 100}, {100, 100, 0}, {101, 100, 1}, {103, 101, 2}, {106, 103, 3}, {110, 106, 4},
	}
	const gdbserverOut = "agent-dprintf sum=100 a=0 b=100\n" +
		"agent-dprintf sum=100 a=100 b=0\n" +
		"agent-dprintf sum=101 a=100 b=1\n" +
		"agent-dprintf sum=103 a=101 b=2\n" +
		"agent-dprintf sum=106 a=103 b=3\n" +
		"agent-dprintf sum=110 a=106 b=4\n"
	env := newAxEnv()
	const rbp = 0x7fffffffe510
	env.regs[6] = rbp
	frame := make([]byte, 32)
	env.mem[rbp-32] = frame
	for _, h := range hits {
		binary.LittleEndian.PutUint32(frame[32-4:], uint32(h.sum)) // rbp-4
		binary.LittleEndian.PutUint32(frame[32-20:], uint32(h.a))  // rbp-20
		binary.LittleEndian.PutUint32(frame[32-24:], uint32(h.b))  // rbp-24
		if err := Exec(code, env, 0); err != nil {
			t.Fatal(err)
		}
	}
	if got := env.out.String(); got != gdbserverOut {
		t.Errorf("output:\n%s\nwant:\n%s", got, gdbserverOut)
	}
	// Negative ints print as C ints.
	env.out.Reset()
	binary.LittleEndian.PutUint32(frame[32-4:], uint32(0xfffffffb))
	if err := Exec(code, env, 0); err != nil || !strings.HasPrefix(env.out.String(), "agent-dprintf sum=-5 ") {
		t.Errorf("negative: %q %v", env.out.String(), err)
	}
}

func TestParseAgentExpr(t *testing.T) {
	for _, tc := range []struct {
		in   string
		code string // hex
		rest string
		ok   bool
	}{
		{"X1,27", "27", "", true},
		{"X2,2227;cmds", "2227", ";cmds", true},
		{"X2,AbCd", "abcd", "", true},
		{"X02,2227X1,27", "2227", "X1,27", true},
		{"X0,", "", "", false},
		{"X,27", "", "", false},
		{"X1;27", "", "", false},
		{"X1", "", "", false},
		{"X2,27", "", "", false},
		{"X1,2g", "", "", false},
		{"x1,27", "", "", false},
		{"", "", "", false},
		{"X123456789,00", "", "", false},
	} {
		e, rest, err := ParseAgentExpr([]byte(tc.in))
		if (err == nil) != tc.ok {
			t.Errorf("%q: err %v", tc.in, err)
			continue
		}
		if !tc.ok {
			if !errors.Is(err, ErrAgentSyntax) {
				t.Errorf("%q: %v is not ErrAgentSyntax", tc.in, err)
			}
			continue
		}
		if hex.EncodeToString(e.Code) != tc.code || string(rest) != tc.rest {
			t.Errorf("%q: %x rest %q", tc.in, e.Code, rest)
		}
	}
}

func TestParseZTail(t *testing.T) {
	b := func(s string) []byte { v, _ := hex.DecodeString(s); return v }
	for _, tc := range []struct {
		in   string
		want PointExtras
		ok   bool
	}{
		{"", PointExtras{}, true},
		{";" + traceCondition, PointExtras{Conditions: [][]byte{b(traceCondition[4:])}}, true},
		{";X1,27X2,2227", PointExtras{Conditions: [][]byte{b("27"), b("2227")}}, true},
		{";X1,27;X2,2227", PointExtras{Conditions: [][]byte{b("27"), b("2227")}}, true},
		{";cmds:0,X1,27", PointExtras{Commands: [][]byte{b("27")}}, true},
		{";cmds:1,X1,27X1,28", PointExtras{Commands: [][]byte{b("27"), b("28")}, Persist: true}, true},
		{";X1,27;cmds:1,X1,28", PointExtras{Conditions: [][]byte{b("27")}, Commands: [][]byte{b("28")}, Persist: true}, true},
		{"X1,27", PointExtras{}, false},   // no ';'
		{";", PointExtras{}, false},       // empty item
		{";X1,27;", PointExtras{}, false}, // trailing ';'
		{";;X1,27", PointExtras{}, false}, // empty item
		{";X1,27cmds:1,X1,28", PointExtras{}, false},
		{";cmds:1,", PointExtras{}, false},      // no command
		{";cmds:2,X1,27", PointExtras{}, false}, // persist not 0/1
		{";cmds:1X1,27", PointExtras{}, false},  // no ','
		{";cmds:1,X1,27;X1,27", PointExtras{}, false},
		{";cmds:1,X1,27;cmds:1,X1,27", PointExtras{}, false},
		{";X2,27", PointExtras{}, false}, // short bytes
		{";X1,27junk", PointExtras{}, false},
		{";foo", PointExtras{}, false},
	} {
		got, err := ParseZTail([]byte(tc.in))
		if (err == nil) != tc.ok {
			t.Errorf("%q: err %v", tc.in, err)
			continue
		}
		if !tc.ok {
			if !errors.Is(err, ErrAgentSyntax) {
				t.Errorf("%q: %v is not ErrAgentSyntax", tc.in, err)
			}
			if !reflect.DeepEqual(got, PointExtras{}) {
				t.Errorf("%q: partial result %+v", tc.in, got)
			}
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q: %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

func TestDisassemble(t *testing.T) {
	for code, want := range map[string]string{
		"2200":         "const8 0",
		"2301022700":   "const16 258; end; <bad 0x00 at 4>",
		"25010203":     "<truncated const64 at 0>",
		"340000":       "<truncated printf at 0>",
		"34010005":     "<truncated printf at 0>",
		"340000016127": "printf 0 \"a\"; end",
		"32031f":       "pick 3; d_to_l",
	} {
		c, _ := hex.DecodeString(code)
		if got := Disassemble(c); got != want {
			t.Errorf("%s: %q, want %q", code, got, want)
		}
	}
	if AxOp(0x31).String() != "op0x31" || AxPrintf.String() != "printf" {
		t.Error("AxOp.String")
	}
}

func TestPointExtrasHit(t *testing.T) {
	yes := asm(AxConst8, 1, AxEnd)
	no := asm(AxConst8, 0, AxEnd)
	bad := asm(AxPop, AxEnd)
	say := func(c byte) []byte {
		return asm(AxConst8, c, AxConst8, 0, AxConst8, 0, AxPrintf, 1, uint16(3), "%c\x00", AxEnd)
	}
	for _, tc := range []struct {
		name   string
		px     PointExtras
		report bool
		out    string
		err    error
	}{
		{"plain breakpoint", PointExtras{}, true, "", nil},
		{"condition true", PointExtras{Conditions: [][]byte{yes}}, true, "", nil},
		{"condition false", PointExtras{Conditions: [][]byte{no}}, false, "", nil},
		{"any condition", PointExtras{Conditions: [][]byte{no, yes}}, true, "", nil},
		{"failing condition reports", PointExtras{Conditions: [][]byte{no, bad, no}}, true, "", ErrAgentStackUnderflow},
		{"dprintf", PointExtras{Commands: [][]byte{say('a'), say('b')}}, false, "ab", nil},
		{"conditional dprintf false", PointExtras{Conditions: [][]byte{no}, Commands: [][]byte{say('a')}}, false, "", nil},
		{"conditional dprintf true", PointExtras{Conditions: [][]byte{yes}, Commands: [][]byte{say('a')}}, false, "a", nil},
		{"failing command stops", PointExtras{Commands: [][]byte{say('a'), bad, say('b')}}, false, "a", ErrAgentStackUnderflow},
	} {
		env := newAxEnv()
		report, err := tc.px.Hit(env, 0)
		if report != tc.report || env.out.String() != tc.out || (tc.err == nil) != (err == nil) || (tc.err != nil && !errors.Is(err, tc.err)) {
			t.Errorf("%s: report %v out %q err %v", tc.name, report, env.out.String(), err)
		}
	}
}
