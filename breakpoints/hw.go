package breakpoints

import (
	"errors"
	"fmt"
	"slices"

	"github.com/gostub/gostub/regs"
)

// Hardware breakpoints and watchpoints on the x86 debug registers, as pure
// bookkeeping in the manner of gdb's nat/x86-dregs.c: a client point is cut
// into naturally aligned pieces of 1, 2, 4 or 8 bytes, each piece needs one
// of the four slots (DR0..DR3), identical pieces share a slot by reference
// count, and an insertion either fits entirely or changes nothing. The
// result is one regs.DebugRegs value that the target writes into every
// thread of the process.

// HWType is the kind of a hardware point; the values are the Z packet types.
type HWType uint8

const (
	// HWBreakpoint is Z1: break on execution of the byte at addr.
	HWBreakpoint HWType = 1
	// HWWrite is Z2: trap after a write to the range.
	HWWrite HWType = 2
	// HWRead is Z3: x86 cannot trap reads alone, so Insert refuses it with
	// ErrHWUnsupported (gdbserver answers the empty packet, and gdb then
	// emulates rwatch with Z4).
	HWRead HWType = 3
	// HWAccess is Z4: trap after a read or write of the range.
	HWAccess HWType = 4
)

func (t HWType) String() string {
	switch t {
	case HWBreakpoint:
		return "hbreak"
	case HWWrite:
		return "watch"
	case HWRead:
		return "rwatch"
	case HWAccess:
		return "awatch"
	}
	return fmt.Sprintf("HWType(%d)", uint8(t))
}

func (t HWType) access() (regs.DRAccess, bool) {
	switch t {
	case HWBreakpoint:
		return regs.DRExecute, true
	case HWWrite:
		return regs.DRWrite, true
	case HWAccess:
		return regs.DRReadWrite, true
	}
	return 0, false
}

var (
	// ErrHWUnsupported: the CPU cannot do this kind of point (Z3), so the
	// request is answered with the empty packet.
	ErrHWUnsupported = errors.New("hardware point type not supported")
	// ErrHWNoSlots: the point needs more debug registers than are free; the
	// state is unchanged (gdbserver answers E01).
	ErrHWNoSlots = errors.New("not enough hardware debug registers")
	// ErrHWBadRange: zero length, or a range that wraps past the top of the
	// address space.
	ErrHWBadRange = errors.New("bad hardware watch range")
)

// HWMaxPiece is the longest naturally aligned piece one slot can watch
// (8 bytes in long mode).
const HWMaxPiece = 8

// HWPiece is one naturally aligned region a single slot watches.
type HWPiece struct {
	Addr uint64
	Len  int
}

// sizeTry is gdb's size_try_array: row = min(len, 8)-1, column = addr % 8,
// value = the size of the next piece. Every entry is a size that is aligned
// at that column and not longer than the remaining length.
var sizeTry = [8][8]int{
	{1, 1, 1, 1, 1, 1, 1, 1}, // one byte left
	{2, 1, 2, 1, 2, 1, 2, 1}, // two
	{2, 1, 2, 1, 2, 1, 2, 1}, // three
	{4, 1, 2, 1, 4, 1, 2, 1}, // four
	{4, 1, 2, 1, 4, 1, 2, 1}, // five
	{4, 1, 2, 1, 4, 1, 2, 1}, // six
	{4, 1, 2, 1, 4, 1, 2, 1}, // seven
	{8, 1, 2, 1, 4, 1, 2, 1}, // eight or more
}

// SplitWatch cuts [addr, addr+length) into the aligned pieces gdb's
// x86_handle_nonaligned_watchpoint would use, lowest address first. An
// aligned 1, 2, 4 or 8-byte range is one piece. It returns nil for a zero
// length or a range that wraps.
func SplitWatch(addr uint64, length int) []HWPiece {
	if !rangeOK(addr, length) {
		return nil
	}
	var out []HWPiece
	for length > 0 {
		attempt := min(length, HWMaxPiece) - 1
		size := sizeTry[attempt][addr%HWMaxPiece]
		out = append(out, HWPiece{addr, size})
		addr += uint64(size)
		length -= size
	}
	return out
}

func rangeOK(addr uint64, length int) bool {
	return length > 0 && addr+uint64(length-1) >= addr
}

// HWPoint is a client hardware point as the Z packet gave it.
type HWPoint struct {
	Type HWType
	Addr uint64
	Len  int
}

// pieces lists the slots p needs. A Z1 is always one 1-byte execute slot,
// whatever its kind (x86_insert_hw_breakpoint).
func (p HWPoint) pieces() []HWPiece {
	if p.Type == HWBreakpoint {
		return []HWPiece{{p.Addr, 1}}
	}
	return SplitWatch(p.Addr, p.Len)
}

type hwSlot struct {
	addr   uint64
	access regs.DRAccess
	len    int
	refs   int // 0: vacant
}

// HW is the hardware point table of one process.
type HW struct {
	slots  [regs.NumDebugAddrRegs]hwSlot
	points []HWPoint // in insertion order; watchpoints may repeat
	gen    uint64
}

// NewHW returns a table with every slot vacant.
func NewHW() *HW { return &HW{} }

// Insert adds a client point. A Z1 at an address that already has one is a
// no-op (gdb re-sends it); watchpoints are counted, each Insert wanting its
// own Remove, as gdbserver does since gdb does not merge them. Identical
// pieces share a slot. On any error nothing changes.
func (h *HW) Insert(t HWType, addr uint64, length int) error {
	acc, ok := t.access()
	if !ok {
		return fmt.Errorf("insert %v at %#x: %w", t, addr, ErrHWUnsupported)
	}
	p := HWPoint{t, addr, length}
	if t == HWBreakpoint {
		p.Len = 1
		if h.find(p) >= 0 {
			return nil
		}
	} else if !rangeOK(addr, length) {
		return fmt.Errorf("insert %v at %#x len %d: %w", t, addr, length, ErrHWBadRange)
	}
	slots := h.slots
	for _, pc := range p.pieces() {
		if !claim(&slots, pc, acc) {
			return fmt.Errorf("insert %v at %#x len %d: %w", t, addr, length, ErrHWNoSlots)
		}
	}
	h.slots = slots
	h.points = append(h.points, p)
	h.gen++
	return nil
}

// claim is x86_insert_aligned_watchpoint: reuse a slot with the same
// address, access and length, else take the lowest vacant one.
func claim(slots *[regs.NumDebugAddrRegs]hwSlot, pc HWPiece, acc regs.DRAccess) bool {
	for i := range slots {
		s := &slots[i]
		if s.refs > 0 && s.addr == pc.Addr && s.access == acc && s.len == pc.Len {
			s.refs++
			return true
		}
	}
	for i := range slots {
		if slots[i].refs == 0 {
			slots[i] = hwSlot{addr: pc.Addr, access: acc, len: pc.Len, refs: 1}
			return true
		}
	}
	return false
}

// Remove drops one client point equal to (t, addr, length) (the length is
// ignored for Z1) and frees the slots nobody else uses. It reports false
// when there was no such point.
func (h *HW) Remove(t HWType, addr uint64, length int) bool {
	acc, ok := t.access()
	if !ok {
		return false
	}
	p := HWPoint{t, addr, length}
	if t == HWBreakpoint {
		p.Len = 1
	}
	k := h.find(p)
	if k < 0 {
		return false
	}
	h.points = append(h.points[:k], h.points[k+1:]...)
	for _, pc := range p.pieces() {
		for i := range h.slots {
			s := &h.slots[i]
			if s.refs > 0 && s.addr == pc.Addr && s.access == acc && s.len == pc.Len {
				s.refs--
				if s.refs == 0 {
					*s = hwSlot{}
				}
				break
			}
		}
	}
	h.gen++
	return true
}

func (h *HW) find(p HWPoint) int {
	for k, q := range h.points {
		if q == p {
			return k
		}
	}
	return -1
}

// Clear forgets every point, for an address space that is gone (exec,
// exit) or after the debug registers were wiped at detach.
func (h *HW) Clear() {
	if len(h.points) == 0 {
		return
	}
	h.slots = [regs.NumDebugAddrRegs]hwSlot{}
	h.points = nil
	h.gen++
}

// Points lists the client points in insertion order.
func (h *HW) Points() []HWPoint { return append([]HWPoint(nil), h.points...) }

// Len is the number of client points.
func (h *HW) Len() int { return len(h.points) }

// Free is the number of vacant slots.
func (h *HW) Free() int {
	n := 0
	for _, s := range h.slots {
		if s.refs == 0 {
			n++
		}
	}
	return n
}

// Generation changes whenever the register values may have changed, so a
// target can skip threads that already carry the current state.
func (h *HW) Generation() uint64 { return h.gen }

// Registers is what every thread's DR0..DR3 and DR7 must hold. Vacant slots
// have address 0 and no DR7 bits; DR7 is 0 when nothing is in use.
func (h *HW) Registers() regs.DebugRegs {
	var r regs.DebugRegs
	for i, s := range h.slots {
		if s.refs == 0 {
			continue
		}
		d, err := r.DR7.WithSlot(i, s.access, s.len)
		if err != nil {
			panic("breakpoints: impossible slot " + err.Error()) // pieces are validated on insert
		}
		r.DR7 = d
		r.Addr[i] = s.addr
	}
	return r
}

// HWHit is one slot whose condition DR6 reports.
type HWHit struct {
	Slot int
	// Type is HWBreakpoint for an execute slot, else HWWrite or HWAccess.
	Type HWType
	// Addr is the slot's address: what gdbserver reports in the stop reply
	// (watch:/awatch:<addr>, or the PC for hwbreak). gdb matches it against
	// the ranges of its watchpoints.
	Addr uint64
	Len  int
	// Points are the client points that use this slot, each once.
	Points []HWPoint
}

// Triggered maps a thread's DR6 to the slots that fired, in slot order.
// Bits of vacant slots are ignored (the CPU may set Bi for a disabled slot).
// It trusts the table, so it is right as long as the thread carries the
// current Registers: under non-stop a thread that ran with older values must
// be decoded from its own DR0..3/DR7 instead (see regs.DR7).
func (h *HW) Triggered(dr6 regs.DR6) []HWHit {
	var out []HWHit
	for i, s := range h.slots {
		if s.refs == 0 || !dr6.Hit(i) {
			continue
		}
		hit := HWHit{Slot: i, Addr: s.addr, Len: s.len}
		switch s.access {
		case regs.DRExecute:
			hit.Type = HWBreakpoint
		case regs.DRWrite:
			hit.Type = HWWrite
		default:
			hit.Type = HWAccess
		}
		for _, p := range h.points {
			if acc, _ := p.Type.access(); acc != s.access {
				continue
			}
			if slices.Contains(hit.Points, p) {
				continue // the same watch inserted twice
			}
			for _, pc := range p.pieces() {
				if pc.Addr == s.addr && pc.Len == s.len {
					hit.Points = append(hit.Points, p)
					break
				}
			}
		}
		out = append(out, hit)
	}
	return out
}
