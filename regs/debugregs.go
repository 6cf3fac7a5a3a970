package regs

import (
	"fmt"
	"strings"
)

// x86 debug registers as data: the DR7 control and DR6 status encodings and
// where DR0..DR7 live in struct user for PTRACE_PEEKUSER/PTRACE_POKEUSER.
// Everything here follows the Intel SDM vol. 3 ch. 17 and what gdb's
// nat/x86-dregs.c writes; nothing here performs a system call.

// NumDebugAddrRegs is the number of address registers (DR0..DR3), i.e. the
// number of hardware breakpoint/watchpoint slots.
const NumDebugAddrRegs = 4

// DebugRegsOffset is offsetof(struct user, u_debugreg) on x86-64 Linux; the
// eight debug registers follow, 8 bytes each.
const DebugRegsOffset = 848

// DebugRegOffset is the PTRACE_PEEKUSER/POKEUSER offset of debug register n
// (0..7). DR4 and DR5 are aliases the kernel refuses to set (EIO); DR6 is the
// status, DR7 the control register.
func DebugRegOffset(n int) uintptr {
	if n < 0 || n > 7 {
		panic(fmt.Sprintf("regs: no debug register DR%d", n))
	}
	return DebugRegsOffset + 8*uintptr(n)
}

// DRAccess is the 2-bit R/W field of a DR7 slot: what kind of access traps.
type DRAccess uint8

const (
	// DRExecute traps on instruction execution (hardware breakpoint); the
	// length must be 1.
	DRExecute DRAccess = 0b00
	// DRWrite traps on data writes.
	DRWrite DRAccess = 0b01
	// DRIO traps on I/O port access (needs CR4.DE). Never used by a debugger
	// of user programs; WithSlot refuses it.
	DRIO DRAccess = 0b10
	// DRReadWrite traps on data reads or writes. x86 has no read-only
	// watchpoints: gdb emulates rwatch with this.
	DRReadWrite DRAccess = 0b11
)

func (a DRAccess) String() string {
	switch a {
	case DRExecute:
		return "exec"
	case DRWrite:
		return "write"
	case DRIO:
		return "io"
	case DRReadWrite:
		return "rw"
	}
	return fmt.Sprintf("DRAccess(%d)", uint8(a))
}

// DR7 field layout.
const (
	// DR7LocalSlowdown is LE (bit 8), the "local exact breakpoint" flag. gdb
	// sets it whenever any slot is in use and clears it with the last one.
	DR7LocalSlowdown DR7 = 1 << 8
	// DR7GlobalSlowdown is GE (bit 9); gdb never sets it.
	DR7GlobalSlowdown DR7 = 1 << 9
	// DR7Reserved are the bits gdb masks out of every value it writes
	// (bit 10 reads as 1 on hardware, GD is bit 13).
	DR7Reserved DR7 = 0xFC00

	dr7ControlShift = 16 // R/W and LEN of slot i at bits 16+4i..19+4i
	dr7ControlSize  = 4
)

// DR7 is the debug control register.
type DR7 uint64

// Local reports whether slot i is enabled locally (L0..L3, bit 2i).
func (d DR7) Local(i int) bool { return d&(1<<(2*uint(i))) != 0 }

// Global reports whether slot i is enabled globally (G0..G3, bit 2i+1).
func (d DR7) Global(i int) bool { return d&(1<<(2*uint(i)+1)) != 0 }

// Enabled reports whether slot i is enabled at all (gdb's !X86_DR_VACANT).
func (d DR7) Enabled(i int) bool { return d&(3<<(2*uint(i))) != 0 }

// RWLen is the raw 4-bit R/W+LEN field of slot i (LEN in bits 3:2, R/W in
// bits 1:0), gdb's X86_DR_GET_RW_LEN.
func (d DR7) RWLen(i int) uint8 {
	return uint8(d>>(dr7ControlShift+dr7ControlSize*uint(i))) & 0xf
}

// Access is the R/W field of slot i.
func (d DR7) Access(i int) DRAccess { return DRAccess(d.RWLen(i) & 3) }

// Len is the watched length of slot i in bytes (LEN 00=1, 01=2, 11=4, 10=8).
func (d DR7) Len(i int) int { return lenFromBits(d.RWLen(i) >> 2) }

// WithSlot returns d with slot i programmed for access a over size bytes and
// locally enabled, and LE set, as gdb's x86_insert_aligned_watchpoint does.
// It refuses I/O access, sizes other than 1, 2, 4 and 8, and execute slots
// longer than 1 byte.
func (d DR7) WithSlot(i int, a DRAccess, size int) (DR7, error) {
	if i < 0 || i >= NumDebugAddrRegs {
		return d, fmt.Errorf("no debug address register DR%d", i)
	}
	bits, err := LenBits(size)
	if err != nil {
		return d, err
	}
	switch a {
	case DRExecute:
		if size != 1 {
			return d, fmt.Errorf("execute breakpoint of length %d", size)
		}
	case DRWrite, DRReadWrite:
	default:
		return d, fmt.Errorf("debug register access %v not supported", a)
	}
	shift := dr7ControlShift + dr7ControlSize*uint(i)
	d &^= 0xf << shift
	d |= DR7(bits<<2|uint8(a)) << shift
	d |= 1 << (2 * uint(i))
	d |= DR7LocalSlowdown
	return d &^ DR7Reserved, nil
}

// WithoutSlot returns d with slot i disabled and its R/W+LEN bits cleared;
// LE is cleared with the last enabled slot, so an unused DR7 is 0 (as in
// gdb's x86_remove_aligned_watchpoint).
func (d DR7) WithoutSlot(i int) DR7 {
	d &^= 3 << (2 * uint(i))
	d &^= 0xf << (dr7ControlShift + dr7ControlSize*uint(i))
	for j := 0; j < NumDebugAddrRegs; j++ {
		if d.Enabled(j) {
			return d
		}
	}
	return d &^ (DR7LocalSlowdown | DR7GlobalSlowdown)
}

func (d DR7) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%#x[", uint64(d))
	sep := ""
	for i := 0; i < NumDebugAddrRegs; i++ {
		if !d.Enabled(i) {
			continue
		}
		fmt.Fprintf(&b, "%s%d:%v/%d", sep, i, d.Access(i), d.Len(i))
		sep = " "
	}
	b.WriteByte(']')
	return b.String()
}

// LenBits is the 2-bit DR7 LEN encoding of a watched size: 1→00, 2→01,
// 4→11, 8→10 (8 bytes needs long mode).
func LenBits(size int) (uint8, error) {
	switch size {
	case 1:
		return 0b00, nil
	case 2:
		return 0b01, nil
	case 4:
		return 0b11, nil
	case 8:
		return 0b10, nil
	}
	return 0, fmt.Errorf("debug register cannot watch %d bytes", size)
}

func lenFromBits(b uint8) int {
	switch b & 3 {
	case 0b00:
		return 1
	case 0b01:
		return 2
	case 0b11:
		return 4
	default:
		return 8
	}
}

// DR6 is the debug status register.
type DR6 uint64

// DR6 bits.
const (
	DR6B0 DR6 = 1 << 0 // slot 0 condition met (B1..B3 follow)
	DR6BD DR6 = 1 << 13
	DR6BS DR6 = 1 << 14 // single step (trap flag)
	DR6BT DR6 = 1 << 15 // task switch
)

// Hit reports whether slot i's condition was met (B0..B3). The CPU may set
// Bi for a slot that is not enabled in DR7; callers check DR7 too.
func (d DR6) Hit(i int) bool { return d&(DR6B0<<uint(i)) != 0 }

// HitMask is B0..B3 as a 4-bit mask.
func (d DR6) HitMask() uint8 { return uint8(d & 0xf) }

// SingleStep reports BS: the trap came from the trap flag.
func (d DR6) SingleStep() bool { return d&DR6BS != 0 }

// DebugRegs is the debug register state to give every thread of a process:
// the four addresses and the DR7 value. Vacant slots hold address 0.
type DebugRegs struct {
	Addr [NumDebugAddrRegs]uint64
	DR7  DR7
}

// DebugRegWrite is one PTRACE_POKEUSER.
type DebugRegWrite struct {
	Offset uintptr
	Value  uint64
}

// Writes lists the POKEUSERs that install r in a thread, in gdb's order
// (x86_linux_update_debug_registers): DR7 cleared first, because older
// kernels refuse an address that disagrees with the enabled DR7 bits, then
// the addresses of the enabled slots, then DR7 if it is not zero.
// Before resuming a thread that stopped on a debug trap, also clear DR6
// (write 0 at DebugRegOffset(6)): the CPU never clears it.
func (r DebugRegs) Writes() []DebugRegWrite {
	w := []DebugRegWrite{{DebugRegOffset(7), 0}}
	for i := 0; i < NumDebugAddrRegs; i++ {
		if r.DR7.Enabled(i) {
			w = append(w, DebugRegWrite{DebugRegOffset(i), r.Addr[i]})
		}
	}
	if r.DR7 != 0 {
		w = append(w, DebugRegWrite{DebugRegOffset(7), uint64(r.DR7)})
	}
	return w
}

// Equivalent reports whether a thread holding r behaves as one holding
// want: the same DR7 and the same addresses in the enabled slots.
func (r DebugRegs) Equivalent(want DebugRegs) bool {
	if r.DR7 != want.DR7 {
		return false
	}
	for i := 0; i < NumDebugAddrRegs; i++ {
		if want.DR7.Enabled(i) && want.Addr[i] != r.Addr[i] {
			return false
		}
	}
	return true
}

// WritesTo lists the POKEUSERs that turn a thread holding r into one
// equivalent to want, and the state it then holds: nothing when they are
// equivalent already, only DR7 when the enabled slots of want have their
// addresses in r (a slot freed or re-armed), else the whole of
// want.Writes().
func (r DebugRegs) WritesTo(want DebugRegs) ([]DebugRegWrite, DebugRegs) {
	if r.Equivalent(want) {
		return nil, r
	}
	for i := 0; i < NumDebugAddrRegs; i++ {
		if want.DR7.Enabled(i) && want.Addr[i] != r.Addr[i] {
			return want.Writes(), want
		}
	}
	r.DR7 = want.DR7
	return []DebugRegWrite{{DebugRegOffset(7), uint64(want.DR7)}}, r
}
