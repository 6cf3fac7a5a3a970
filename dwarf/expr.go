package dwarf

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// DWARF expression opcodes used here.
const (
	opAddr              = 0x03
	opDeref             = 0x06
	opConst1u           = 0x08
	opConst1s           = 0x09
	opConst2u           = 0x0a
	opConst2s           = 0x0b
	opConst4u           = 0x0c
	opConst4s           = 0x0d
	opConst8u           = 0x0e
	opConst8s           = 0x0f
	opConstu            = 0x10
	opConsts            = 0x11
	opDup               = 0x12
	opDrop              = 0x13
	opOver              = 0x14
	opPick              = 0x15
	opSwap              = 0x16
	opRot               = 0x17
	opAbs               = 0x19
	opAnd               = 0x1a
	opDiv               = 0x1b
	opMinus             = 0x1c
	opMod               = 0x1d
	opMul               = 0x1e
	opNeg               = 0x1f
	opNot               = 0x20
	opOr                = 0x21
	opPlus              = 0x22
	opPlusUconst        = 0x23
	opShl               = 0x24
	opShr               = 0x25
	opShra              = 0x26
	opXor               = 0x27
	opBra               = 0x28
	opEq                = 0x29
	opGe                = 0x2a
	opGt                = 0x2b
	opLe                = 0x2c
	opLt                = 0x2d
	opNe                = 0x2e
	opSkip              = 0x2f
	opLit0              = 0x30
	opLit31             = 0x4f
	opReg0              = 0x50
	opReg31             = 0x6f
	opBreg0             = 0x70
	opBreg31            = 0x8f
	opRegx              = 0x90
	opBregx             = 0x92
	opDerefSize         = 0x94
	opNop               = 0x96
	opFormTLSAddress    = 0x9b
	opCallFrameCFA      = 0x9c
	opStackValue        = 0x9f
	opGNUPushTLSAddress = 0xe0
)

var errExpr = errors.New("unsupported or malformed DWARF expression")

// exprEnv is what a CFI expression may consult.
type exprEnv struct {
	regs    *[maxReg]uint64
	valid   uint64 // bit i set when regs[i] is known
	mem     Memory
	order   binary.ByteOrder
	ptrSize int
	bias    uint64 // added to DW_OP_addr operands
	buf     [8]byte
}

func (e *exprEnv) reg(r uint64) (uint64, error) {
	if r >= maxReg || e.valid&(1<<r) == 0 {
		return 0, fmt.Errorf("register %d is not available", r)
	}
	return e.regs[r], nil
}

func (e *exprEnv) read(addr uint64, size int) (uint64, error) {
	if size <= 0 || size > 8 {
		return 0, errExpr
	}
	b := e.buf[:size]
	if err := e.mem.ReadMemory(addr, b); err != nil {
		return 0, fmt.Errorf("reading %d bytes at 0x%x: %w", size, addr, err)
	}
	var full [8]byte
	if e.order == binary.BigEndian {
		copy(full[8-size:], b)
		return binary.BigEndian.Uint64(full[:]), nil
	}
	copy(full[:], b)
	return binary.LittleEndian.Uint64(full[:]), nil
}

// eval runs a DWARF expression as used by CFI (a location description that
// computes an address or value); push is pushed first (the CFA for
// DW_CFA_expression rules).
func (e *exprEnv) eval(expr []byte, push ...uint64) (uint64, error) {
	var stack [64]uint64
	sp := 0
	for _, v := range push {
		stack[sp] = v
		sp++
	}
	c := &cursor{b: expr, order: e.order}
	need := func(n int) bool { return sp >= n }
	pushV := func(v uint64) error {
		if sp >= len(stack) {
			return errExpr
		}
		stack[sp] = v
		sp++
		return nil
	}
	for steps := 0; c.left() > 0; steps++ {
		if steps > 10000 {
			return 0, errExpr
		}
		op := c.u8()
		var err error
		switch {
		case op >= opLit0 && op <= opLit31:
			err = pushV(uint64(op - opLit0))
		case op >= opBreg0 && op <= opBreg31:
			off := c.sleb()
			var v uint64
			if v, err = e.reg(uint64(op - opBreg0)); err == nil {
				err = pushV(v + uint64(off))
			}
		case op >= opReg0 && op <= opReg31:
			// A register location: the register's value serves as the
			// answer (only meaningful for val_expression).
			var v uint64
			if v, err = e.reg(uint64(op - opReg0)); err == nil {
				err = pushV(v)
			}
		default:
			switch op {
			case opAddr:
				err = pushV(c.addr(e.ptrSize) + e.bias)
			case opConst1u:
				err = pushV(uint64(c.u8()))
			case opConst1s:
				err = pushV(uint64(int64(int8(c.u8()))))
			case opConst2u:
				err = pushV(uint64(c.u16()))
			case opConst2s:
				err = pushV(uint64(int64(int16(c.u16()))))
			case opConst4u:
				err = pushV(uint64(c.u32()))
			case opConst4s:
				err = pushV(uint64(int64(int32(c.u32()))))
			case opConst8u, opConst8s:
				err = pushV(c.u64())
			case opConstu:
				err = pushV(c.uleb())
			case opConsts:
				err = pushV(uint64(c.sleb()))
			case opBregx:
				r := c.uleb()
				off := c.sleb()
				var v uint64
				if v, err = e.reg(r); err == nil {
					err = pushV(v + uint64(off))
				}
			case opRegx:
				var v uint64
				if v, err = e.reg(c.uleb()); err == nil {
					err = pushV(v)
				}
			case opDup:
				if !need(1) {
					return 0, errExpr
				}
				err = pushV(stack[sp-1])
			case opDrop:
				if !need(1) {
					return 0, errExpr
				}
				sp--
			case opOver:
				if !need(2) {
					return 0, errExpr
				}
				err = pushV(stack[sp-2])
			case opPick:
				i := int(c.u8())
				if !need(i + 1) {
					return 0, errExpr
				}
				err = pushV(stack[sp-1-i])
			case opSwap:
				if !need(2) {
					return 0, errExpr
				}
				stack[sp-1], stack[sp-2] = stack[sp-2], stack[sp-1]
			case opRot:
				if !need(3) {
					return 0, errExpr
				}
				stack[sp-1], stack[sp-2], stack[sp-3] = stack[sp-2], stack[sp-3], stack[sp-1]
			case opDeref, opDerefSize:
				size := e.ptrSize
				if op == opDerefSize {
					size = int(c.u8())
				}
				if !need(1) {
					return 0, errExpr
				}
				stack[sp-1], err = e.read(stack[sp-1], size)
			case opAbs, opNeg, opNot:
				if !need(1) {
					return 0, errExpr
				}
				v := int64(stack[sp-1])
				switch op {
				case opAbs:
					if v < 0 {
						v = -v
					}
				case opNeg:
					v = -v
				default:
					v = ^v
				}
				stack[sp-1] = uint64(v)
			case opPlusUconst:
				if !need(1) {
					return 0, errExpr
				}
				stack[sp-1] += c.uleb()
			case opAnd, opDiv, opMinus, opMod, opMul, opOr, opPlus, opShl, opShr, opShra, opXor,
				opEq, opGe, opGt, opLe, opLt, opNe:
				if !need(2) {
					return 0, errExpr
				}
				b, a := stack[sp-1], stack[sp-2]
				sp--
				var r uint64
				switch op {
				case opAnd:
					r = a & b
				case opDiv:
					if b == 0 {
						return 0, errExpr
					}
					r = uint64(int64(a) / int64(b))
				case opMinus:
					r = a - b
				case opMod:
					if b == 0 {
						return 0, errExpr
					}
					r = a % b
				case opMul:
					r = a * b
				case opOr:
					r = a | b
				case opPlus:
					r = a + b
				case opShl:
					r = a << min(b, 64)
				case opShr:
					r = a >> min(b, 64)
				case opShra:
					r = uint64(int64(a) >> min(b, 63))
				case opXor:
					r = a ^ b
				default:
					sa, sb := int64(a), int64(b)
					var t bool
					switch op {
					case opEq:
						t = sa == sb
					case opGe:
						t = sa >= sb
					case opGt:
						t = sa > sb
					case opLe:
						t = sa <= sb
					case opLt:
						t = sa < sb
					case opNe:
						t = sa != sb
					}
					if t {
						r = 1
					}
				}
				stack[sp-1] = r
			case opSkip, opBra:
				off := int(int16(c.u16()))
				jump := true
				if op == opBra {
					if !need(1) {
						return 0, errExpr
					}
					sp--
					jump = stack[sp] != 0
				}
				if jump {
					n := c.off + off
					if n < 0 || n > len(c.b) {
						return 0, errExpr
					}
					c.off = n
				}
			case opNop:
			case opStackValue:
				// The value on the stack is the answer.
			default:
				return 0, fmt.Errorf("%w: opcode 0x%x", errExpr, op)
			}
		}
		if err != nil {
			return 0, err
		}
		if c.bad {
			return 0, errExpr
		}
	}
	if sp == 0 {
		return 0, errExpr
	}
	return stack[sp-1], nil
}
