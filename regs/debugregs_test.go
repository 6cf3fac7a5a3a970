package regs

import (
	"reflect"
	"testing"
)

func TestDebugRegOffset(t *testing.T) {
	// offsetof(struct user, u_debugreg) = 848 (checked with gcc against
	// <sys/user.h> on x86-64), 8 bytes per register.
	want := []uintptr{848, 856, 864, 872, 880, 888, 896, 904}
	for n, w := range want {
		if got := DebugRegOffset(n); got != w {
			t.Errorf("DebugRegOffset(%d) = %d, want %d", n, got, w)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("DebugRegOffset(8) did not panic")
		}
	}()
	DebugRegOffset(8)
}

func TestLenBits(t *testing.T) {
	for _, tc := range []struct {
		size int
		bits uint8
		ok   bool
	}{
		{1, 0b00, true}, {2, 0b01, true}, {4, 0b11, true}, {8, 0b10, true},
		{0, 0, false}, {3, 0, false}, {16, 0, false}, {-1, 0, false},
	} {
		b, err := LenBits(tc.size)
		if (err == nil) != tc.ok || b != tc.bits {
			t.Errorf("LenBits(%d) = %02b, %v", tc.size, b, err)
		}
		if tc.ok && lenFromBits(b) != tc.size {
			t.Errorf("lenFromBits(%02b) = %d", b, lenFromBits(b))
		}
	}
}

func TestDR7WithSlot(t *testing.T) {
	for _, tc := range []struct {
		slot int
		acc  DRAccess
		size int
		want DR7
	}{
		// L0 | LE | RW0=00 LEN0=00
		{0, DRExecute, 1, 0x101},
		// L0 | LE | RW0=01 LEN0=00
		{0, DRWrite, 1, 0x1_0101},
		// L1 | LE | RW1=01 LEN1=01 (bits 20..23 = 0101)
		{1, DRWrite, 2, 0x50_0104},
		// L2 | LE | RW2=11 LEN2=11 (bits 24..27 = 1111)
		{2, DRReadWrite, 4, 0xF00_0110},
		// L3 | LE | RW3=01 LEN3=10 (bits 28..31 = 1001)
		{3, DRWrite, 8, 0x9000_0140},
		// L3 | LE | RW3=11 LEN3=10 (1011)
		{3, DRReadWrite, 8, 0xB000_0140},
	} {
		got, err := DR7(0).WithSlot(tc.slot, tc.acc, tc.size)
		if err != nil || got != tc.want {
			t.Errorf("WithSlot(%d, %v, %d) = %#x, %v; want %#x", tc.slot, tc.acc, tc.size, uint64(got), err, uint64(tc.want))
			continue
		}
		if !got.Local(tc.slot) || got.Global(tc.slot) || !got.Enabled(tc.slot) {
			t.Errorf("%v: enable bits wrong", got)
		}
		if got.Access(tc.slot) != tc.acc || got.Len(tc.slot) != tc.size {
			t.Errorf("%v: decoded %v/%d", got, got.Access(tc.slot), got.Len(tc.slot))
		}
		for i := 0; i < NumDebugAddrRegs; i++ {
			if i != tc.slot && (got.Enabled(i) || got.RWLen(i) != 0) {
				t.Errorf("%v: slot %d touched", got, i)
			}
		}
		if back := got.WithoutSlot(tc.slot); back != 0 {
			t.Errorf("WithoutSlot after WithSlot = %#x, want 0", uint64(back))
		}
	}
}

func TestDR7Refusals(t *testing.T) {
	for _, tc := range []struct {
		slot int
		acc  DRAccess
		size int
	}{
		{0, DRIO, 1},        // I/O breakpoints never
		{0, DRExecute, 2},   // execute is 1 byte
		{0, DRWrite, 3},     // no 3-byte length
		{4, DRWrite, 1},     // only 4 slots
		{-1, DRWrite, 1},    //
		{0, DRAccess(7), 1}, // not an encoding
	} {
		if d, err := DR7(0x101).WithSlot(tc.slot, tc.acc, tc.size); err == nil || d != 0x101 {
			t.Errorf("WithSlot(%d, %v, %d) = %#x, %v; want error and unchanged", tc.slot, tc.acc, tc.size, uint64(d), err)
		}
	}
}

func TestDR7Combined(t *testing.T) {
	d, _ := DR7(0).WithSlot(0, DRExecute, 1)
	d, _ = d.WithSlot(2, DRWrite, 4)
	// L0 | L2 | LE | RW2=01 LEN2=11 (1101 at bits 24..27)
	if d != 0xD00_0111 {
		t.Fatalf("DR7 = %#x", uint64(d))
	}
	// Reprogramming a slot replaces its field.
	d2, _ := d.WithSlot(2, DRReadWrite, 1)
	if d2.Access(2) != DRReadWrite || d2.Len(2) != 1 || d2.Access(0) != DRExecute {
		t.Errorf("reprogram: %v", d2)
	}
	d = d.WithoutSlot(0)
	if d != 0xD00_0110 {
		t.Errorf("after removing slot 0: %#x (LE must stay while slot 2 is in use)", uint64(d))
	}
	d = d.WithoutSlot(2)
	if d != 0 {
		t.Errorf("after removing slot 2: %#x, want 0", uint64(d))
	}
	// Reserved bits never leak from WithSlot.
	d, _ = DR7(0xFC00).WithSlot(1, DRWrite, 1)
	if d&DR7Reserved != 0 {
		t.Errorf("reserved bits kept: %#x", uint64(d))
	}
	if s := DR7(0xD00_0111).String(); s != "0xd000111[0:exec/1 2:write/4]" {
		t.Errorf("String = %q", s)
	}
}

func TestDR6(t *testing.T) {
	d := DR6(0xffff4ff2) // typical value read back: reserved ones, BS, B1
	if !d.SingleStep() {
		t.Error("BS not seen")
	}
	if d.HitMask() != 0b0010 || !d.Hit(1) || d.Hit(0) || d.Hit(2) || d.Hit(3) {
		t.Errorf("hits %04b", d.HitMask())
	}
	if DR6(0x8).Hit(3) != true || DR6(0x8).SingleStep() {
		t.Error("B3")
	}
}

func TestDebugRegsWrites(t *testing.T) {
	if got := (DebugRegs{}).Writes(); !reflect.DeepEqual(got, []DebugRegWrite{{904, 0}}) {
		t.Errorf("empty: %v", got)
	}
	d, _ := DR7(0).WithSlot(1, DRWrite, 4)
	d, _ = d.WithSlot(3, DRExecute, 1)
	r := DebugRegs{Addr: [4]uint64{0, 0x1000, 0, 0x401000}, DR7: d}
	want := []DebugRegWrite{{904, 0}, {856, 0x1000}, {872, 0x401000}, {904, uint64(d)}}
	if got := r.Writes(); !reflect.DeepEqual(got, want) {
		t.Errorf("Writes = %v, want %v", got, want)
	}
}

func TestDebugRegsWritesTo(t *testing.T) {
	w0, _ := DR7(0).WithSlot(0, DRWrite, 8)
	w01, _ := w0.WithSlot(1, DRReadWrite, 4)
	a := DebugRegs{Addr: [4]uint64{0x4000, 0, 0, 0}, DR7: w0}
	ab := DebugRegs{Addr: [4]uint64{0x4000, 0x5000, 0, 0}, DR7: w01}
	tests := []struct {
		name       string
		from, want DebugRegs
		writes     []DebugRegWrite
		after      DebugRegs
	}{
		{"same", a, a, nil, a},
		{"freed slot keeps its address", a, DebugRegs{}, []DebugRegWrite{{904, 0}}, DebugRegs{Addr: a.Addr}},
		{"re-armed at the old address", DebugRegs{Addr: a.Addr}, a, []DebugRegWrite{{904, uint64(w0)}}, a},
		{"disabled slot's address ignored", DebugRegs{Addr: [4]uint64{0, 0x9999, 0, 0}}, DebugRegs{}, nil, DebugRegs{Addr: [4]uint64{0, 0x9999, 0, 0}}},
		{"new address", a, ab, ab.Writes(), ab},
		{"from nothing", DebugRegs{}, a, a.Writes(), a},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			writes, after := tc.from.WritesTo(tc.want)
			if !reflect.DeepEqual(writes, tc.writes) || after != tc.after {
				t.Errorf("WritesTo = %v, %+v; want %v, %+v", writes, after, tc.writes, tc.after)
			}
			if !after.Equivalent(tc.want) {
				t.Errorf("after %+v not equivalent to %+v", after, tc.want)
			}
		})
	}
}
