// Package breakpoints keeps the books of breakpoints without touching the
// debuggee: which addresses hold a trap instruction, the bytes the trap
// replaced, who asked for it, and how memory reads and writes must be
// adjusted so the client never sees a trap byte.
package breakpoints

import (
	"fmt"
	"sort"
)

// Trap is the x86 int3 instruction.
const Trap = 0xCC

// Memory is the debuggee memory the table patches.
type Memory interface {
	ReadMemory(addr uint64, buf []byte) error
	WriteMemory(addr uint64, data []byte) error
}

// Owner says who wants a software breakpoint at an address.
type Owner uint8

const (
	// OwnerClient is a Z0 from the client: inserted once, removed by one z0.
	OwnerClient Owner = 1 << iota
	// OwnerInternal is the stub's own use (step-over, exec stop...).
	OwnerInternal
)

type swPoint struct {
	saved  byte
	owners Owner
}

// Software is the set of inserted software breakpoints of one address space.
type Software struct {
	points map[uint64]*swPoint
}

// NewSoftware returns an empty table.
func NewSoftware() *Software {
	return &Software{points: make(map[uint64]*swPoint)}
}

// Insert plants a trap at addr for owner. Inserting twice for the same owner
// is a no-op, as gdb re-inserts its breakpoints before every resume.
func (s *Software) Insert(mem Memory, addr uint64, owner Owner) error {
	if p, ok := s.points[addr]; ok {
		p.owners |= owner
		return nil
	}
	var orig [1]byte
	if err := mem.ReadMemory(addr, orig[:]); err != nil {
		return fmt.Errorf("insert breakpoint at %#x: %w", addr, err)
	}
	if err := mem.WriteMemory(addr, []byte{Trap}); err != nil {
		return fmt.Errorf("insert breakpoint at %#x: %w", addr, err)
	}
	s.points[addr] = &swPoint{saved: orig[0], owners: owner}
	return nil
}

// Remove drops owner's claim on addr and restores the original byte when no
// claim is left. It reports false when owner had no breakpoint there.
func (s *Software) Remove(mem Memory, addr uint64, owner Owner) (bool, error) {
	p, ok := s.points[addr]
	if !ok || p.owners&owner == 0 {
		return false, nil
	}
	p.owners &^= owner
	if p.owners != 0 {
		return true, nil
	}
	delete(s.points, addr)
	if err := mem.WriteMemory(addr, []byte{p.saved}); err != nil {
		return true, fmt.Errorf("remove breakpoint at %#x: %w", addr, err)
	}
	return true, nil
}

// RemoveAll restores every original byte; it tries them all and returns the
// first error.
func (s *Software) RemoveAll(mem Memory) error {
	var first error
	for _, addr := range s.Addresses() {
		p := s.points[addr]
		delete(s.points, addr)
		if err := mem.WriteMemory(addr, []byte{p.saved}); err != nil && first == nil {
			first = fmt.Errorf("remove breakpoint at %#x: %w", addr, err)
		}
	}
	return first
}

// Forget empties the table without touching memory, for an address space
// that no longer exists (exec, exit).
func (s *Software) Forget() { clear(s.points) }

// Inserted reports whether a trap of ours sits at addr.
func (s *Software) Inserted(addr uint64) bool {
	_, ok := s.points[addr]
	return ok
}

// Len is the number of inserted traps.
func (s *Software) Len() int { return len(s.points) }

// Addresses lists the inserted traps in address order.
func (s *Software) Addresses() []uint64 {
	out := make([]uint64, 0, len(s.points))
	for a := range s.points {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// ShadowRead replaces trap bytes in buf (memory read at addr) with the bytes
// they hide.
func (s *Software) ShadowRead(addr uint64, buf []byte) {
	if len(s.points) == 0 {
		return
	}
	end := addr + uint64(len(buf))
	for a, p := range s.points {
		if a >= addr && a < end {
			buf[a-addr] = p.saved
		}
	}
}

// ShadowWrite prepares a write of data at addr over inserted traps: it records
// the new bytes as the saved ones and returns the data to really write, with
// the traps kept. data itself is not modified.
func (s *Software) ShadowWrite(addr uint64, data []byte) []byte {
	end := addr + uint64(len(data))
	var out []byte
	for a, p := range s.points {
		if a >= addr && a < end {
			if out == nil {
				out = append([]byte(nil), data...)
			}
			p.saved = data[a-addr]
			out[a-addr] = Trap
		}
	}
	if out == nil {
		return data
	}
	return out
}

// Lift writes the original bytes back but keeps the table, for a window in
// which another process shares the memory (a vfork child running untraced).
func (s *Software) Lift(mem Memory) error {
	var first error
	for a, p := range s.points {
		if err := mem.WriteMemory(a, []byte{p.saved}); err != nil && first == nil {
			first = fmt.Errorf("lift breakpoint at %#x: %w", a, err)
		}
	}
	return first
}

// Reinsert writes every trap again after Lift.
func (s *Software) Reinsert(mem Memory) error {
	var first error
	for a := range s.points {
		if err := mem.WriteMemory(a, []byte{Trap}); err != nil && first == nil {
			first = fmt.Errorf("reinsert breakpoint at %#x: %w", a, err)
		}
	}
	return first
}

// Clone copies the table, for a forked address space that holds the same traps.
func (s *Software) Clone() *Software {
	c := NewSoftware()
	for a, p := range s.points {
		cp := *p
		c.points[a] = &cp
	}
	return c
}

// Lift1 writes back the original byte of one trap, keeping it in the table
// (to step a thread over it).
func (s *Software) Lift1(mem Memory, addr uint64) error {
	p, ok := s.points[addr]
	if !ok {
		return nil
	}
	return mem.WriteMemory(addr, []byte{p.saved})
}

// Reinsert1 puts one lifted trap back.
func (s *Software) Reinsert1(mem Memory, addr uint64) error {
	if _, ok := s.points[addr]; !ok {
		return nil
	}
	return mem.WriteMemory(addr, []byte{Trap})
}
