package breakpoints

import (
	"errors"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/gostub/gostub/regs"
)

func TestSplitWatch(t *testing.T) {
	type P = HWPiece
	// Expected values worked out by hand from gdb's
	// x86_handle_nonaligned_watchpoint (size_try_array, max length 8).
	for _, tc := range []struct {
		addr uint64
		len  int
		want []P
	}{
		{0x1001, 6, []P{{0x1001, 1}, {0x1002, 2}, {0x1004, 2}, {0x1006, 1}}},
		{0x1000, 1, []P{{0x1000, 1}}},
		{0x1000, 2, []P{{0x1000, 2}}},
		{0x1000, 4, []P{{0x1000, 4}}},
		{0x1000, 8, []P{{0x1000, 8}}},
		{0x1004, 4, []P{{0x1004, 4}}},
		{0x1001, 1, []P{{0x1001, 1}}},
		{0x1001, 2, []P{{0x1001, 1}, {0x1002, 1}}},
		{0x1002, 4, []P{{0x1002, 2}, {0x1004, 2}}},
		{0x1006, 4, []P{{0x1006, 2}, {0x1008, 2}}},
		{0x1004, 8, []P{{0x1004, 4}, {0x1008, 4}}},
		{0x1000, 7, []P{{0x1000, 4}, {0x1004, 2}, {0x1006, 1}}},
		{0x1003, 8, []P{{0x1003, 1}, {0x1004, 4}, {0x1008, 2}, {0x100a, 1}}},
		{0x1000, 16, []P{{0x1000, 8}, {0x1008, 8}}},
		{0x1000, 3, []P{{0x1000, 2}, {0x1002, 1}}},
		{0x1000, 33, []P{{0x1000, 8}, {0x1008, 8}, {0x1010, 8}, {0x1018, 8}, {0x1020, 1}}},
		{0xfffffffffffffff8, 8, []P{{0xfffffffffffffff8, 8}}},
		{0xffffffffffffffff, 1, []P{{0xffffffffffffffff, 1}}},
		{0x1000, 0, nil},
		{0x1000, -4, nil},
		{0xffffffffffffffff, 2, nil}, // wraps
	} {
		if got := SplitWatch(tc.addr, tc.len); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("SplitWatch(%#x, %d) = %x, want %x", tc.addr, tc.len, got, tc.want)
		}
	}
}

func TestSplitWatchProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 5000 {
		addr := rng.Uint64() &^ 0xf000000000000000
		length := 1 + rng.IntN(40)
		ps := SplitWatch(addr, length)
		next := addr
		for _, p := range ps {
			if p.Addr != next {
				t.Fatalf("%#x/%d: gap or overlap at %x", addr, length, ps)
			}
			if p.Len != 1 && p.Len != 2 && p.Len != 4 && p.Len != 8 || p.Addr%uint64(p.Len) != 0 {
				t.Fatalf("%#x/%d: piece %x not naturally aligned", addr, length, p)
			}
			next += uint64(p.Len)
		}
		if next != addr+uint64(length) {
			t.Fatalf("%#x/%d: covers up to %#x", addr, length, next)
		}
	}
}

func TestHWDR7PerTypeAndLen(t *testing.T) {
	for _, tc := range []struct {
		typ  HWType
		addr uint64
		len  int
		dr7  regs.DR7
	}{
		{HWBreakpoint, 0x401000, 1, 0x101},
		{HWBreakpoint, 0x401001, 0, 0x101}, // kind is ignored for Z1
		{HWWrite, 0x1000, 1, 0x1_0101},
		{HWWrite, 0x1000, 2, 0x5_0101},
		{HWWrite, 0x1000, 4, 0xD_0101},
		{HWWrite, 0x1000, 8, 0x9_0101},
		{HWAccess, 0x1000, 1, 0x3_0101},
		{HWAccess, 0x1000, 2, 0x7_0101},
		{HWAccess, 0x1000, 4, 0xF_0101},
		{HWAccess, 0x1000, 8, 0xB_0101},
	} {
		h := NewHW()
		if err := h.Insert(tc.typ, tc.addr, tc.len); err != nil {
			t.Fatalf("%v %#x/%d: %v", tc.typ, tc.addr, tc.len, err)
		}
		r := h.Registers()
		if r.DR7 != tc.dr7 || r.Addr != [4]uint64{tc.addr} {
			t.Errorf("%v %#x/%d: %v addr %x, want DR7 %#x", tc.typ, tc.addr, tc.len, r.DR7, r.Addr, uint64(tc.dr7))
		}
		if !h.Remove(tc.typ, tc.addr, tc.len) {
			t.Errorf("%v: remove failed", tc.typ)
		}
		if r := h.Registers(); r != (regs.DebugRegs{}) {
			t.Errorf("%v: after remove %v %x", tc.typ, r.DR7, r.Addr)
		}
	}
}

func TestHWUnalignedUsesFourSlots(t *testing.T) {
	h := NewHW()
	if err := h.Insert(HWWrite, 0x1001, 6); err != nil {
		t.Fatal(err)
	}
	r := h.Registers()
	// Slots 0..3: 1@1001, 2@1002, 2@1004, 1@1006, all write, locally
	// enabled (0x55) plus LE (0x100).
	if r.Addr != [4]uint64{0x1001, 0x1002, 0x1004, 0x1006} || r.DR7 != 0x1551_0155 {
		t.Fatalf("got %x %v", r.Addr, r.DR7)
	}
	if h.Free() != 0 {
		t.Errorf("free = %d", h.Free())
	}

	// Full: a new distinct piece is refused, and nothing changes.
	gen := h.Generation()
	err := h.Insert(HWWrite, 0x2000, 1)
	if !errors.Is(err, ErrHWNoSlots) {
		t.Fatalf("insert when full: %v", err)
	}
	if h.Registers() != r || h.Generation() != gen || h.Len() != 1 {
		t.Error("refused insert changed the state")
	}

	// But a watch made only of pieces already there shares them.
	if err := h.Insert(HWWrite, 0x1002, 2); err != nil {
		t.Fatalf("shared insert: %v", err)
	}
	if err := h.Insert(HWWrite, 0x1004, 3); err != nil { // 2@1004 + 1@1006
		t.Fatalf("shared insert: %v", err)
	}
	if h.Registers() != r {
		t.Error("sharing changed the registers")
	}
	if h.Generation() == gen {
		t.Error("generation did not move")
	}

	// Removing the big watch frees what nobody else uses: slot 0 only.
	if !h.Remove(HWWrite, 0x1001, 6) {
		t.Fatal("remove")
	}
	r = h.Registers()
	if r.Addr != [4]uint64{0, 0x1002, 0x1004, 0x1006} || r.DR7 != 0x1550_0154 {
		t.Errorf("after remove: %x %v", r.Addr, r.DR7)
	}
	// A new piece takes the lowest vacant slot.
	if err := h.Insert(HWAccess, 0x3000, 8); err != nil {
		t.Fatal(err)
	}
	r = h.Registers()
	if r.Addr[0] != 0x3000 || r.DR7.Access(0) != regs.DRReadWrite || r.DR7.Len(0) != 8 {
		t.Errorf("slot 0: %x %v", r.Addr, r.DR7)
	}
	h.Remove(HWWrite, 0x1002, 2)
	h.Remove(HWWrite, 0x1004, 3)
	h.Remove(HWAccess, 0x3000, 8)
	if h.Registers() != (regs.DebugRegs{}) || h.Free() != 4 || h.Len() != 0 {
		t.Errorf("not empty: %v", h.Registers())
	}
}

func TestHWPartialInsertRollsBack(t *testing.T) {
	h := NewHW()
	for _, a := range []uint64{0x100, 0x200, 0x300} {
		if err := h.Insert(HWWrite, a, 1); err != nil {
			t.Fatal(err)
		}
	}
	before := h.Registers()
	// Needs two slots (1@0x401, 1@0x402) with one free.
	if err := h.Insert(HWWrite, 0x401, 2); !errors.Is(err, ErrHWNoSlots) {
		t.Fatalf("err = %v", err)
	}
	if h.Registers() != before || h.Free() != 1 || h.Len() != 3 {
		t.Errorf("partial state kept: %v free %d", h.Registers(), h.Free())
	}
	// The aligned one fits.
	if err := h.Insert(HWWrite, 0x402, 2); err != nil {
		t.Fatal(err)
	}
	// Too many pieces for an empty table too.
	if err := NewHW().Insert(HWAccess, 0x1000, 33); !errors.Is(err, ErrHWNoSlots) {
		t.Errorf("33 bytes: %v", err)
	}
}

func TestHWTypesDoNotShare(t *testing.T) {
	h := NewHW()
	mustHW(t, h.Insert(HWWrite, 0x1000, 4))
	mustHW(t, h.Insert(HWAccess, 0x1000, 4))
	mustHW(t, h.Insert(HWWrite, 0x1000, 2)) // same address, other length
	mustHW(t, h.Insert(HWBreakpoint, 0x1000, 1))
	if h.Free() != 0 {
		t.Errorf("free = %d, want 0 (four distinct slots)", h.Free())
	}
	r := h.Registers()
	want := [4]struct {
		acc regs.DRAccess
		n   int
	}{{regs.DRWrite, 4}, {regs.DRReadWrite, 4}, {regs.DRWrite, 2}, {regs.DRExecute, 1}}
	for i, w := range want {
		if r.Addr[i] != 0x1000 || r.DR7.Access(i) != w.acc || r.DR7.Len(i) != w.n {
			t.Errorf("slot %d: %v", i, r.DR7)
		}
	}
}

func TestHWUnsupportedAndBadRange(t *testing.T) {
	h := NewHW()
	if err := h.Insert(HWRead, 0x1000, 4); !errors.Is(err, ErrHWUnsupported) {
		t.Errorf("Z3: %v", err)
	}
	if err := h.Insert(HWType(9), 0x1000, 4); !errors.Is(err, ErrHWUnsupported) {
		t.Errorf("Z9: %v", err)
	}
	if err := h.Insert(HWWrite, 0x1000, 0); !errors.Is(err, ErrHWBadRange) {
		t.Errorf("len 0: %v", err)
	}
	if err := h.Insert(HWWrite, 0xffffffffffffffff, 2); !errors.Is(err, ErrHWBadRange) {
		t.Errorf("wrap: %v", err)
	}
	if h.Remove(HWRead, 0x1000, 4) || h.Remove(HWWrite, 0x1000, 4) {
		t.Error("removed something never inserted")
	}
	if h.Generation() != 0 || h.Len() != 0 {
		t.Error("state changed")
	}
}

func TestHWBreakpointIdempotentWatchCounted(t *testing.T) {
	h := NewHW()
	mustHW(t, h.Insert(HWBreakpoint, 0x401000, 1))
	mustHW(t, h.Insert(HWBreakpoint, 0x401000, 1))
	if h.Len() != 1 || h.Free() != 3 {
		t.Errorf("Z1 twice: %d points, %d free", h.Len(), h.Free())
	}
	if !h.Remove(HWBreakpoint, 0x401000, 1) || h.Remove(HWBreakpoint, 0x401000, 1) {
		t.Error("one z1 must remove the Z1")
	}

	mustHW(t, h.Insert(HWWrite, 0x1000, 4))
	mustHW(t, h.Insert(HWWrite, 0x1000, 4))
	if h.Len() != 2 || h.Free() != 3 {
		t.Errorf("Z2 twice: %d points, %d free", h.Len(), h.Free())
	}
	if !h.Remove(HWWrite, 0x1000, 4) || h.Registers().DR7 == 0 {
		t.Error("first z2 must keep the slot")
	}
	if !h.Remove(HWWrite, 0x1000, 4) || h.Registers().DR7 != 0 {
		t.Error("second z2 must free the slot")
	}
	if h.Remove(HWWrite, 0x1000, 4) {
		t.Error("third z2 removed something")
	}
}

func TestHWTriggered(t *testing.T) {
	h := NewHW()
	mustHW(t, h.Insert(HWWrite, 0x1001, 2))       // slots 0 (1@1001), 1 (1@1002)
	mustHW(t, h.Insert(HWWrite, 0x1002, 1))       // shares slot 1
	mustHW(t, h.Insert(HWAccess, 0x2000, 8))      // slot 2
	mustHW(t, h.Insert(HWBreakpoint, 0x40100, 1)) // slot 3

	hits := h.Triggered(regs.DR6(0xffff0ff0 | 0b0010))
	want := []HWHit{{Slot: 1, Type: HWWrite, Addr: 0x1002, Len: 1,
		Points: []HWPoint{{HWWrite, 0x1001, 2}, {HWWrite, 0x1002, 1}}}}
	if !reflect.DeepEqual(hits, want) {
		t.Errorf("B1: %+v", hits)
	}
	hits = h.Triggered(regs.DR6(0b1100 | regs.DR6BS))
	want = []HWHit{
		{Slot: 2, Type: HWAccess, Addr: 0x2000, Len: 8, Points: []HWPoint{{HWAccess, 0x2000, 8}}},
		{Slot: 3, Type: HWBreakpoint, Addr: 0x40100, Len: 1, Points: []HWPoint{{HWBreakpoint, 0x40100, 1}}},
	}
	if !reflect.DeepEqual(hits, want) {
		t.Errorf("B2|B3: %+v", hits)
	}
	if hits := h.Triggered(regs.DR6BS); hits != nil {
		t.Errorf("single step: %+v", hits)
	}
	// A bit for a vacant slot is ignored.
	h.Remove(HWAccess, 0x2000, 8)
	if hits := h.Triggered(regs.DR6(0b0100)); hits != nil {
		t.Errorf("vacant slot: %+v", hits)
	}
	// The same watch twice is listed once.
	mustHW(t, h.Insert(HWWrite, 0x1002, 1))
	if hits := h.Triggered(regs.DR6(0b0010)); len(hits) != 1 || len(hits[0].Points) != 2 {
		t.Errorf("duplicate watch: %+v", hits)
	}

	h.Clear()
	if h.Len() != 0 || h.Registers() != (regs.DebugRegs{}) || h.Triggered(0xf) != nil {
		t.Error("Clear left state")
	}
}

func mustHW(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
