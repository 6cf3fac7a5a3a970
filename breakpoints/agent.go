package breakpoints

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Agent expressions: the bytecode gdb sends with a Z packet so the stub
// evaluates a breakpoint condition (";X<len>,<hex>") or runs commands such
// as an agent dprintf (";cmds:<persist>,X<len>,<hex>") itself, without a
// round trip to gdb. The machine is the one of the gdb manual's "Agent
// Expressions" appendix with gdbserver's limits (gdbserver/ax.cc): a stack
// of 64-bit values, AgentStackSize deep; immediates big-endian; memory
// little-endian (x86). Evaluation is bounded: at most a step limit of
// opcodes run, so any bytecode terminates, and every failure is an
// *AgentError whose Err is one of the ErrAgent* values.
//
// Output design: the printf opcode is formatted here (printf.go, which reads
// %s strings through the environment's ReadMemory), and the finished text
// is handed to AgentEnv.Output. The environment never sees a format string;
// gdbserver prints that text on its own stdout, and so should the caller.

// AxOp is an agent expression opcode (gdbsupport/ax.def).
type AxOp byte

// Opcodes, with their numbers from gdbsupport/ax.def.
const (
	AxFloat         AxOp = 0x01
	AxAdd           AxOp = 0x02
	AxSub           AxOp = 0x03
	AxMul           AxOp = 0x04
	AxDivSigned     AxOp = 0x05
	AxDivUnsigned   AxOp = 0x06
	AxRemSigned     AxOp = 0x07
	AxRemUnsigned   AxOp = 0x08
	AxLsh           AxOp = 0x09
	AxRshSigned     AxOp = 0x0a
	AxRshUnsigned   AxOp = 0x0b
	AxTrace         AxOp = 0x0c
	AxTraceQuick    AxOp = 0x0d
	AxLogNot        AxOp = 0x0e
	AxBitAnd        AxOp = 0x0f
	AxBitOr         AxOp = 0x10
	AxBitXor        AxOp = 0x11
	AxBitNot        AxOp = 0x12
	AxEqual         AxOp = 0x13
	AxLessSigned    AxOp = 0x14
	AxLessUnsigned  AxOp = 0x15
	AxExt           AxOp = 0x16
	AxRef8          AxOp = 0x17
	AxRef16         AxOp = 0x18
	AxRef32         AxOp = 0x19
	AxRef64         AxOp = 0x1a
	AxRefFloat      AxOp = 0x1b
	AxRefDouble     AxOp = 0x1c
	AxRefLongDouble AxOp = 0x1d
	AxLToD          AxOp = 0x1e
	AxDToL          AxOp = 0x1f
	AxIfGoto        AxOp = 0x20
	AxGoto          AxOp = 0x21
	AxConst8        AxOp = 0x22
	AxConst16       AxOp = 0x23
	AxConst32       AxOp = 0x24
	AxConst64       AxOp = 0x25
	AxReg           AxOp = 0x26
	AxEnd           AxOp = 0x27
	AxDup           AxOp = 0x28
	AxPop           AxOp = 0x29
	AxZeroExt       AxOp = 0x2a
	AxSwap          AxOp = 0x2b
	AxGetv          AxOp = 0x2c
	AxSetv          AxOp = 0x2d
	AxTracev        AxOp = 0x2e
	AxTracenz       AxOp = 0x2f
	AxTrace16       AxOp = 0x30
	// 0x31 is "invalid2", a hole in the table.
	AxPick   AxOp = 0x32
	AxRot    AxOp = 0x33
	AxPrintf AxOp = 0x34
)

// axOps holds each opcode's name and the number of operand bytes that
// follow it in the stream. printf's operands are dynamic: a count byte, a
// 16-bit string length, then the string; 3 is the fixed part.
var axOps = [...]struct {
	name string
	imm  int
}{
	AxFloat: {"float", 0}, AxAdd: {"add", 0}, AxSub: {"sub", 0}, AxMul: {"mul", 0},
	AxDivSigned: {"div_signed", 0}, AxDivUnsigned: {"div_unsigned", 0},
	AxRemSigned: {"rem_signed", 0}, AxRemUnsigned: {"rem_unsigned", 0},
	AxLsh: {"lsh", 0}, AxRshSigned: {"rsh_signed", 0}, AxRshUnsigned: {"rsh_unsigned", 0},
	AxTrace: {"trace", 0}, AxTraceQuick: {"trace_quick", 1}, AxLogNot: {"log_not", 0},
	AxBitAnd: {"bit_and", 0}, AxBitOr: {"bit_or", 0}, AxBitXor: {"bit_xor", 0},
	AxBitNot: {"bit_not", 0}, AxEqual: {"equal", 0}, AxLessSigned: {"less_signed", 0},
	AxLessUnsigned: {"less_unsigned", 0}, AxExt: {"ext", 1},
	AxRef8: {"ref8", 0}, AxRef16: {"ref16", 0}, AxRef32: {"ref32", 0}, AxRef64: {"ref64", 0},
	AxRefFloat: {"ref_float", 0}, AxRefDouble: {"ref_double", 0},
	AxRefLongDouble: {"ref_long_double", 0}, AxLToD: {"l_to_d", 0}, AxDToL: {"d_to_l", 0},
	AxIfGoto: {"if_goto", 2}, AxGoto: {"goto", 2},
	AxConst8: {"const8", 1}, AxConst16: {"const16", 2}, AxConst32: {"const32", 4},
	AxConst64: {"const64", 8}, AxReg: {"reg", 2}, AxEnd: {"end", 0}, AxDup: {"dup", 0},
	AxPop: {"pop", 0}, AxZeroExt: {"zero_ext", 1}, AxSwap: {"swap", 0},
	AxGetv: {"getv", 2}, AxSetv: {"setv", 2}, AxTracev: {"tracev", 2},
	AxTracenz: {"tracenz", 0}, AxTrace16: {"trace16", 2},
	AxPick: {"pick", 1}, AxRot: {"rot", 0}, AxPrintf: {"printf", 3},
}

func (o AxOp) valid() bool { return int(o) < len(axOps) && axOps[o].name != "" }

func (o AxOp) String() string {
	if o.valid() {
		return axOps[o].name
	}
	return fmt.Sprintf("op%#02x", byte(o))
}

const (
	// AgentStackSize is the deepest the value stack may grow (gdbserver's
	// STACK_MAX).
	AgentStackSize = 100
	// DefaultAgentStepLimit is the step limit when the caller gives none:
	// gdb's conditions are short and loop-free, so this is generous.
	DefaultAgentStepLimit = 1 << 16
)

// Kinds of evaluation failure, found with errors.Is on an *AgentError.
var (
	ErrAgentEmpty          = errors.New("empty expression")
	ErrAgentStackUnderflow = errors.New("stack underflow")
	ErrAgentStackOverflow  = errors.New("stack overflow")
	ErrAgentBadOpcode      = errors.New("unknown opcode")
	// ErrAgentUnsupported: a documented opcode no agent implements (the
	// floating-point family).
	ErrAgentUnsupported = errors.New("unsupported opcode")
	// ErrAgentTruncated: an operand runs past the end of the bytecode, or
	// execution ran off the end without reaching "end".
	ErrAgentTruncated    = errors.New("bytecode truncated")
	ErrAgentGotoRange    = errors.New("goto target out of range")
	ErrAgentMemory       = errors.New("cannot read memory")
	ErrAgentRegister     = errors.New("cannot read register")
	ErrAgentDivideByZero = errors.New("division by zero")
	ErrAgentStepLimit    = errors.New("step limit exceeded")
	ErrAgentPrintf       = errors.New("bad printf")
	ErrAgentTrace        = errors.New("trace collection failed")
)

// AgentError is an evaluation failure: which opcode at which offset, which
// kind (Err, an ErrAgent* value), and the underlying error if any.
type AgentError struct {
	PC    int
	Op    AxOp
	Err   error
	Cause error
}

func (e *AgentError) Error() string {
	msg := e.Err.Error()
	if e.Cause != nil {
		if errors.Is(e.Cause, e.Err) {
			msg = e.Cause.Error()
		} else {
			msg += ": " + e.Cause.Error()
		}
	}
	if e.Op == 0 { // ran off the end, or the undefined opcode 0
		return fmt.Sprintf("agent expression: offset %d: %s", e.PC, msg)
	}
	return fmt.Sprintf("agent expression: %v at offset %d: %s", e.Op, e.PC, msg)
}

func (e *AgentError) Unwrap() []error {
	if e.Cause != nil {
		return []error{e.Err, e.Cause}
	}
	return []error{e.Err}
}

// AgentMemory reads debuggee memory (with breakpoints already hidden).
type AgentMemory interface {
	ReadMemory(addr uint64, buf []byte) error
}

// AgentEnv is what an expression can see of the stopped thread.
type AgentEnv interface {
	AgentMemory
	// Register returns gdb register regnum of the thread, zero-extended.
	Register(regnum int) (uint64, error)
	// TraceStateVariable returns trace state variable n; getv pushes 0 for
	// an unknown one, as gdbserver does.
	TraceStateVariable(n int) (int64, bool)
	SetTraceStateVariable(n int, v int64)
	// Output receives the text of one printf opcode, already formatted.
	Output(text string)
}

// AgentTracer is implemented by an AgentEnv that collects trace data
// (tracepoints). Without it the trace opcodes only have their stack effect,
// which is all a breakpoint condition or dprintf needs.
type AgentTracer interface {
	// TraceMemory records size bytes at addr (trace, trace_quick, trace16),
	// or for tracenz the bytes up to the first NUL, at most size.
	TraceMemory(addr, size uint64, stopAtNUL bool) error
	// TraceVariable records trace state variable n (tracev).
	TraceVariable(n int) error
}

// Expr is one agent expression.
type Expr struct {
	Code []byte
}

// Eval runs e; see the package function Eval.
func (e Expr) Eval(env AgentEnv, limit int) (uint64, error) { return Eval(e.Code, env, limit) }

// String disassembles e.
func (e Expr) String() string { return Disassemble(e.Code) }

// Eval runs code and returns the value on top of the stack at "end". At
// most limit opcodes run (DefaultAgentStepLimit when limit <= 0). A
// breakpoint condition holds when the value is not zero.
func Eval(code []byte, env AgentEnv, limit int) (uint64, error) {
	v, _, err := run(code, env, limit, true)
	return v, err
}

// Exec runs code for its effects, as for a breakpoint command (dprintf):
// reaching "end" with an empty stack is success.
func Exec(code []byte, env AgentEnv, limit int) error {
	_, _, err := run(code, env, limit, false)
	return err
}

type axMachine struct {
	code  []byte
	env   AgentEnv
	stack [AgentStackSize]uint64
	sp    int
	at    int // offset of the current opcode
	op    AxOp
}

func (m *axMachine) fail(kind, cause error) error {
	return &AgentError{PC: m.at, Op: m.op, Err: kind, Cause: cause}
}

// need checks that n values are on the stack.
func (m *axMachine) need(n int) error {
	if m.sp < n {
		return m.fail(ErrAgentStackUnderflow, nil)
	}
	return nil
}

func (m *axMachine) push(v uint64) error {
	if m.sp >= AgentStackSize {
		return m.fail(ErrAgentStackOverflow, nil)
	}
	m.stack[m.sp] = v
	m.sp++
	return nil
}

// binary replaces the two top values a (under) and b (top) by f(a, b).
func (m *axMachine) binary(f func(a, b uint64) uint64) error {
	if err := m.need(2); err != nil {
		return err
	}
	m.sp--
	m.stack[m.sp-1] = f(m.stack[m.sp-1], m.stack[m.sp])
	return nil
}

func (m *axMachine) imm(n int) uint64 {
	var v uint64
	for _, b := range m.code[m.at+1 : m.at+1+n] {
		v = v<<8 | uint64(b)
	}
	return v
}

func (m *axMachine) jump(target uint64) (int, error) {
	if target >= uint64(len(m.code)) {
		return 0, m.fail(ErrAgentGotoRange, fmt.Errorf("target %d, length %d", target, len(m.code)))
	}
	return int(target), nil
}

func (m *axMachine) ref(size int) error {
	if err := m.need(1); err != nil {
		return err
	}
	var buf [8]byte
	addr := m.stack[m.sp-1]
	if err := m.env.ReadMemory(addr, buf[:size]); err != nil {
		return m.fail(ErrAgentMemory, fmt.Errorf("%d bytes at %#x: %w", size, addr, err))
	}
	var v uint64
	for i := size - 1; i >= 0; i-- {
		v = v<<8 | uint64(buf[i])
	}
	m.stack[m.sp-1] = v
	return nil
}

func (m *axMachine) traceMem(addr, size uint64, nz bool) error {
	if t, ok := m.env.(AgentTracer); ok {
		if err := t.TraceMemory(addr, size, nz); err != nil {
			return m.fail(ErrAgentTrace, err)
		}
	}
	return nil
}

// run is the interpreter; it also returns the number of opcodes executed.
func run(code []byte, env AgentEnv, limit int, needResult bool) (uint64, int, error) {
	m := &axMachine{code: code, env: env}
	if len(code) == 0 {
		return 0, 0, m.fail(ErrAgentEmpty, nil)
	}
	if limit <= 0 {
		limit = DefaultAgentStepLimit
	}
	pc := 0
	for steps := 0; ; steps++ {
		if pc >= len(code) {
			m.at, m.op = pc, 0
			return 0, steps, m.fail(ErrAgentTruncated, errors.New("no end opcode"))
		}
		m.at, m.op = pc, AxOp(code[pc])
		if steps >= limit {
			return 0, steps, m.fail(ErrAgentStepLimit, fmt.Errorf("%d steps", limit))
		}
		if !m.op.valid() {
			return 0, steps + 1, m.fail(ErrAgentBadOpcode, nil)
		}
		next := pc + 1 + axOps[m.op].imm
		if next > len(code) {
			return 0, steps + 1, m.fail(ErrAgentTruncated, nil)
		}
		var err error
		switch m.op {
		case AxAdd:
			err = m.binary(func(a, b uint64) uint64 { return a + b })
		case AxSub:
			err = m.binary(func(a, b uint64) uint64 { return a - b })
		case AxMul:
			err = m.binary(func(a, b uint64) uint64 { return a * b })
		case AxDivSigned, AxDivUnsigned, AxRemSigned, AxRemUnsigned:
			if err = m.need(2); err == nil && m.stack[m.sp-1] == 0 {
				err = m.fail(ErrAgentDivideByZero, nil)
			}
			if err == nil {
				switch m.op {
				case AxDivSigned: // MinInt64 / -1 wraps to MinInt64, as Go defines it
					err = m.binary(func(a, b uint64) uint64 { return uint64(int64(a) / int64(b)) })
				case AxDivUnsigned:
					err = m.binary(func(a, b uint64) uint64 { return a / b })
				case AxRemSigned:
					err = m.binary(func(a, b uint64) uint64 { return uint64(int64(a) % int64(b)) })
				default:
					err = m.binary(func(a, b uint64) uint64 { return a % b })
				}
			}
		// Shifts by 64 or more give 0 (or all sign bits), Go's definition;
		// C leaves them undefined.
		case AxLsh:
			err = m.binary(func(a, b uint64) uint64 { return a << b })
		case AxRshSigned:
			err = m.binary(func(a, b uint64) uint64 { return uint64(int64(a) >> b) })
		case AxRshUnsigned:
			err = m.binary(func(a, b uint64) uint64 { return a >> b })
		case AxTrace, AxTracenz: // addr size =>
			if err = m.need(2); err == nil {
				m.sp -= 2
				err = m.traceMem(m.stack[m.sp], m.stack[m.sp+1], m.op == AxTracenz)
			}
		case AxTraceQuick, AxTrace16: // addr => addr
			if err = m.need(1); err == nil {
				err = m.traceMem(m.stack[m.sp-1], m.imm(axOps[m.op].imm), false)
			}
		case AxLogNot:
			if err = m.need(1); err == nil {
				m.stack[m.sp-1] = b2u(m.stack[m.sp-1] == 0)
			}
		case AxBitAnd:
			err = m.binary(func(a, b uint64) uint64 { return a & b })
		case AxBitOr:
			err = m.binary(func(a, b uint64) uint64 { return a | b })
		case AxBitXor:
			err = m.binary(func(a, b uint64) uint64 { return a ^ b })
		case AxBitNot:
			if err = m.need(1); err == nil {
				m.stack[m.sp-1] = ^m.stack[m.sp-1]
			}
		case AxEqual:
			err = m.binary(func(a, b uint64) uint64 { return b2u(a == b) })
		case AxLessSigned:
			err = m.binary(func(a, b uint64) uint64 { return b2u(int64(a) < int64(b)) })
		case AxLessUnsigned:
			err = m.binary(func(a, b uint64) uint64 { return b2u(a < b) })
		case AxExt, AxZeroExt:
			if err = m.need(1); err == nil {
				m.stack[m.sp-1] = extend(m.stack[m.sp-1], uint(code[pc+1]), m.op == AxExt)
			}
		case AxRef8:
			err = m.ref(1)
		case AxRef16:
			err = m.ref(2)
		case AxRef32:
			err = m.ref(4)
		case AxRef64:
			err = m.ref(8)
		case AxFloat, AxRefFloat, AxRefDouble, AxRefLongDouble, AxLToD, AxDToL:
			err = m.fail(ErrAgentUnsupported, nil)
		case AxIfGoto:
			if err = m.need(1); err == nil {
				m.sp--
				if m.stack[m.sp] != 0 {
					next, err = m.jump(m.imm(2))
				}
			}
		case AxGoto:
			next, err = m.jump(m.imm(2))
		case AxConst8, AxConst16, AxConst32, AxConst64:
			err = m.push(m.imm(axOps[m.op].imm))
		case AxReg:
			n := int(m.imm(2))
			v, rerr := env.Register(n)
			if rerr != nil {
				err = m.fail(ErrAgentRegister, fmt.Errorf("register %d: %w", n, rerr))
			} else {
				err = m.push(v)
			}
		case AxEnd:
			if m.sp > 0 {
				return m.stack[m.sp-1], steps + 1, nil
			}
			if needResult {
				return 0, steps + 1, m.fail(ErrAgentStackUnderflow, errors.New("nothing to return"))
			}
			return 0, steps + 1, nil
		case AxDup:
			if err = m.need(1); err == nil {
				err = m.push(m.stack[m.sp-1])
			}
		case AxPop:
			if err = m.need(1); err == nil {
				m.sp--
			}
		case AxSwap:
			if err = m.need(2); err == nil {
				s := m.stack[:m.sp]
				s[len(s)-1], s[len(s)-2] = s[len(s)-2], s[len(s)-1]
			}
		case AxGetv:
			v, _ := env.TraceStateVariable(int(m.imm(2)))
			err = m.push(uint64(v))
		case AxSetv: // v => v
			if err = m.need(1); err == nil {
				env.SetTraceStateVariable(int(m.imm(2)), int64(m.stack[m.sp-1]))
			}
		case AxTracev:
			// The manual's table says "=> a", but gdbserver leaves the
			// stack alone and gdb emits it after a getv of the same
			// variable, so the stack is unchanged here too.
			if t, ok := env.(AgentTracer); ok {
				if terr := t.TraceVariable(int(m.imm(2))); terr != nil {
					err = m.fail(ErrAgentTrace, terr)
				}
			}
		case AxPick: // a ... b => a ... b a
			n := int(code[pc+1])
			if err = m.need(n + 1); err == nil {
				err = m.push(m.stack[m.sp-1-n])
			}
		case AxRot: // a b c => c a b
			if err = m.need(3); err == nil {
				s := m.stack[m.sp-3 : m.sp]
				s[0], s[1], s[2] = s[2], s[0], s[1]
			}
		case AxPrintf:
			next, err = m.printf()
		}
		if err != nil {
			return 0, steps + 1, err
		}
		pc = next
	}
}

// printf: numargs (1 byte), string length (2 bytes, including the final
// NUL), string. Pops the function, the channel, then the arguments: the
// first argument is the value just under the channel. The function and
// channel are ignored (gdb sends 0 for both), as by gdbserver.
func (m *axMachine) printf() (int, error) {
	nargs := int(m.code[m.at+1])
	slen := int(m.imm(3) & 0xffff)
	start := m.at + 4
	next := start + slen
	if next > len(m.code) {
		return 0, m.fail(ErrAgentTruncated, fmt.Errorf("format of %d bytes", slen))
	}
	if err := m.need(nargs + 2); err != nil {
		return 0, err
	}
	args := make([]uint64, nargs)
	for i := range args {
		args[i] = m.stack[m.sp-3-i]
	}
	m.sp -= nargs + 2
	if slen == 0 || m.code[next-1] != 0 {
		return 0, m.fail(ErrAgentPrintf, errors.New("unterminated format string"))
	}
	format := m.code[start : next-1]
	if i := strings.IndexByte(string(format), 0); i >= 0 {
		format = format[:i]
	}
	text, err := FormatAgentPrintf(format, args, m.env)
	if err != nil {
		kind := ErrAgentPrintf
		if errors.Is(err, ErrAgentMemory) {
			kind = ErrAgentMemory
		}
		return 0, m.fail(kind, err)
	}
	m.env.Output(text)
	return next, nil
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// extend keeps the low n bits of v, sign-extending them when signed. n of
// 64 or more leaves v alone (the manual); n of 0 keeps no bits, giving 0.
func extend(v uint64, n uint, signed bool) uint64 {
	switch {
	case n >= 64:
		return v
	case n == 0:
		return 0
	case signed:
		return uint64(int64(v<<(64-n)) >> (64 - n))
	default:
		return v & (1<<n - 1)
	}
}

// Disassemble renders code one opcode per "; "-separated item, for logs and
// test failures. It stops at the first byte it cannot decode.
func Disassemble(code []byte) string {
	var b strings.Builder
	for pc := 0; pc < len(code); {
		if pc > 0 {
			b.WriteString("; ")
		}
		op := AxOp(code[pc])
		if !op.valid() {
			fmt.Fprintf(&b, "<bad %#02x at %d>", code[pc], pc)
			break
		}
		n := axOps[op].imm
		if pc+1+n > len(code) {
			fmt.Fprintf(&b, "<truncated %v at %d>", op, pc)
			break
		}
		var v uint64
		for _, c := range code[pc+1 : pc+1+n] {
			v = v<<8 | uint64(c)
		}
		switch {
		case op == AxPrintf:
			slen := int(v & 0xffff)
			if pc+1+n+slen > len(code) {
				fmt.Fprintf(&b, "<truncated printf at %d>", pc)
				return b.String()
			}
			s := code[pc+1+n : pc+1+n+slen]
			fmt.Fprintf(&b, "printf %d %s", v>>16, strconv.Quote(strings.TrimSuffix(string(s), "\x00")))
			n += slen
		case n > 0:
			fmt.Fprintf(&b, "%v %d", op, v)
		default:
			b.WriteString(op.String())
		}
		pc += 1 + n
	}
	return b.String()
}

// ErrAgentSyntax reports a malformed "X<len>,<hex>" or Z packet tail.
var ErrAgentSyntax = errors.New("malformed agent expression")

// ParseAgentExpr parses one "X<len>,<hex bytes>" from the start of s, as a
// Z packet or QTDP carries it (len in hex, exactly 2*len hex digits
// follow), and returns the rest of s.
func ParseAgentExpr(s []byte) (Expr, []byte, error) {
	if len(s) == 0 || s[0] != 'X' {
		return Expr{}, s, fmt.Errorf("%w: want X<len>,<bytes>", ErrAgentSyntax)
	}
	i := 1
	n := 0
	for ; i < len(s) && unhex(s[i]) >= 0; i++ {
		if i > 8 {
			return Expr{}, s, fmt.Errorf("%w: length too long", ErrAgentSyntax)
		}
		n = n<<4 | unhex(s[i])
	}
	if i == 1 || i >= len(s) || s[i] != ',' {
		return Expr{}, s, fmt.Errorf("%w: bad length", ErrAgentSyntax)
	}
	if n == 0 {
		return Expr{}, s, fmt.Errorf("%w: empty expression", ErrAgentSyntax)
	}
	i++
	if len(s)-i < 2*n {
		return Expr{}, s, fmt.Errorf("%w: %d bytes announced, %d hex digits present", ErrAgentSyntax, n, len(s)-i)
	}
	code := make([]byte, n)
	for k := range code {
		hi, lo := unhex(s[i+2*k]), unhex(s[i+2*k+1])
		if hi < 0 || lo < 0 {
			return Expr{}, s, fmt.Errorf("%w: bad hex digit", ErrAgentSyntax)
		}
		code[k] = byte(hi<<4 | lo)
	}
	return Expr{Code: code}, s[i+2*n:], nil
}

func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// PointExtras is what may follow "Z0,addr,kind" or "Z1,addr,kind": target
// side conditions (the point reports only when one of them is non-zero, or
// when one fails to evaluate) and commands to run at each hit (agent
// dprintf), which keep running after gdb disconnects when Persist is set.
type PointExtras struct {
	Conditions [][]byte
	Commands   [][]byte
	Persist    bool
}

// ParseZTail parses the packet text after the kind: empty, or
// ";X<len>,<hex>..." (conditions, concatenated as gdb sends them, a ';'
// between them also accepted) optionally followed by
// ";cmds:<persist>,X<len>,<hex>..." (commands, concatenated). persist is 0
// or 1. Anything else, including an empty item, a cmds list without a
// command, or conditions after the commands, is an error.
func ParseZTail(tail []byte) (PointExtras, error) {
	var px PointExtras
	if len(tail) == 0 {
		return px, nil
	}
	if tail[0] != ';' {
		return px, fmt.Errorf("%w: Z packet options must start with ';'", ErrAgentSyntax)
	}
	s := tail[1:]
	if len(s) == 0 {
		return px, fmt.Errorf("%w: empty Z packet option", ErrAgentSyntax)
	}
	separated := true
	for len(s) > 0 && s[0] == 'X' {
		e, rest, err := ParseAgentExpr(s)
		if err != nil {
			return PointExtras{}, fmt.Errorf("condition: %w", err)
		}
		px.Conditions = append(px.Conditions, e.Code)
		s, separated = rest, false
		if len(s) > 0 && s[0] == ';' {
			s, separated = s[1:], true
			if len(s) == 0 {
				return PointExtras{}, fmt.Errorf("%w: trailing ';'", ErrAgentSyntax)
			}
		}
	}
	if len(s) == 0 {
		return px, nil
	}
	if !separated {
		return PointExtras{}, fmt.Errorf("%w: want ';' after the conditions", ErrAgentSyntax)
	}
	const cmds = "cmds:"
	if !strings.HasPrefix(string(s), cmds) {
		return PointExtras{}, fmt.Errorf("%w: unknown Z packet option %.16q", ErrAgentSyntax, s)
	}
	s = s[len(cmds):]
	if len(s) < 2 || (s[0] != '0' && s[0] != '1') || s[1] != ',' {
		return PointExtras{}, fmt.Errorf("%w: cmds wants persist 0 or 1 then ','", ErrAgentSyntax)
	}
	px.Persist = s[0] == '1'
	s = s[2:]
	for {
		e, rest, err := ParseAgentExpr(s)
		if err != nil {
			return PointExtras{}, fmt.Errorf("command: %w", err)
		}
		px.Commands = append(px.Commands, e.Code)
		s = rest
		if len(s) == 0 {
			return px, nil
		}
	}
}

// Hit evaluates what a hit of a point carrying px does, in the stopped
// thread env. The condition holds when there is none, when one evaluates to
// non-zero, or when one fails to evaluate (gdbserver reports the hit then,
// so gdb evaluates the condition itself); conditions are tried in order and
// the first error is returned alongside. When the condition holds and there
// are commands, they run in order (stopping at the first error, returned)
// and the hit is not reported: the dprintf case. report says whether to
// stop and tell gdb.
//
// gdbserver runs the commands at every hit, even when the condition is
// false; here they only run when it holds, which is what a conditional
// dprintf means.
func (px PointExtras) Hit(env AgentEnv, limit int) (report bool, err error) {
	holds := len(px.Conditions) == 0
	for _, c := range px.Conditions {
		v, cerr := Eval(c, env, limit)
		if cerr != nil {
			holds, err = true, cerr
			break
		}
		if v != 0 {
			holds = true
			break
		}
	}
	if !holds {
		return false, nil
	}
	if len(px.Commands) == 0 {
		return true, err
	}
	for _, c := range px.Commands {
		if cerr := Exec(c, env, limit); cerr != nil {
			return false, cerr
		}
	}
	return false, err
}
