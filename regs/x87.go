package regs

// FXSAVE/XSAVE keep an abridged tag byte (bit i set = physical register i
// in use); gdb wants the full 16-bit tag word (2 bits per physical register:
// 0 valid, 1 zero, 2 special, 3 empty). As in gdbserver's i387-fp.cc the
// missing information is recomputed from the register contents.

// fullTag builds the tag word from the legacy area of an XSAVE/FXSAVE
// buffer (at least 160 bytes).
func fullTag(fx []byte) uint32 {
	top := int(fx[3]>>3) & 7 // fstat bits 11-13
	abridged := fx[4]
	var tag uint32
	for i := 7; i >= 0; i-- {
		t := uint32(3)
		if abridged&(1<<i) != 0 {
			// Physical register i is st((i - top) mod 8); st(j) is stored at 32+16j.
			j := (i + 8 - top) % 8
			t = st387Tag(fx[32+16*j : 32+16*j+10])
		}
		tag |= t << (2 * i)
	}
	return tag
}

// st387Tag classifies an 80-bit value like i387_ftag.
func st387Tag(raw []byte) uint32 {
	integer := raw[7]&0x80 != 0
	exponent := uint16(raw[9]&0x7f)<<8 | uint16(raw[8])
	fractionZero := raw[0]|raw[1]|raw[2]|raw[3]|raw[4]|raw[5]|raw[6]|raw[7]&0x7f == 0
	switch {
	case exponent == 0x7fff:
		return 2 // special: infinity or NaN
	case exponent == 0:
		if fractionZero && !integer {
			return 1 // zero
		}
		return 2 // denormal
	case integer:
		return 0 // valid
	default:
		return 2 // unnormal
	}
}

// abridgedTag is the inverse: a register is in use unless tagged empty.
func abridgedTag(full uint32) byte {
	var b byte
	for i := 0; i < 8; i++ {
		if (full>>(2*i))&3 != 3 {
			b |= 1 << i
		}
	}
	return b
}
