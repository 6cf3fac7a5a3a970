package linux

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// memory is the raw address space of a process, without breakpoint shadowing.
// It needs no tracer-thread hop: process_vm_readv and /proc/PID/mem only need
// ptrace-level access, which the tracer's process has.
type memory struct {
	pid int
	mem *os.File // /proc/PID/mem, opened read-write
}

func openMemory(pid int) (*memory, error) {
	f, err := os.OpenFile(fmt.Sprintf("/proc/%d/mem", pid), os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("open memory of %d: %w", pid, err)
	}
	return &memory{pid: pid, mem: f}, nil
}

func (m *memory) close() {
	if m != nil && m.mem != nil {
		m.mem.Close()
	}
}

var errPartial = errors.New("memory partially unreadable")

// ReadMemory fills buf or fails: gdb relies on an error when any byte is
// unreadable.
func (m *memory) ReadMemory(addr uint64, buf []byte) error {
	if len(buf) == 0 {
		return nil
	}
	local := []unix.Iovec{{Base: &buf[0]}}
	local[0].SetLen(len(buf))
	remote := []unix.RemoteIovec{{Base: uintptr(addr), Len: len(buf)}}
	n, err := unix.ProcessVMReadv(m.pid, local, remote, 0)
	if err == nil && n == len(buf) {
		return nil
	}
	// Some mappings (e.g. [vvar], guard pages of another kind) are readable
	// only through /proc/PID/mem.
	if int64(addr) < 0 {
		return fmt.Errorf("read memory at %#x: address out of range", addr)
	}
	n, err = m.mem.ReadAt(buf, int64(addr))
	if n == len(buf) {
		return nil
	}
	if err == nil {
		err = errPartial
	}
	return fmt.Errorf("read memory at %#x: %w", addr, err)
}

// WriteMemory writes data completely; /proc/PID/mem writes through
// read-only mappings (the text where breakpoints go).
func (m *memory) WriteMemory(addr uint64, data []byte) error {
	if len(data) == 0 {
		return nil
	}
	if int64(addr) < 0 {
		return fmt.Errorf("write memory at %#x: address out of range", addr)
	}
	n, err := m.mem.WriteAt(data, int64(addr))
	if n == len(data) {
		return nil
	}
	if err == nil {
		err = errPartial
	}
	return fmt.Errorf("write memory at %#x: %w", addr, err)
}

// pokeByte writes one byte into another process's memory (a forked child we
// are about to detach) without opening a long-lived file.
func pokeMemory(pid int, addr uint64, data []byte) error {
	f, err := os.OpenFile(fmt.Sprintf("/proc/%d/mem", pid), os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.WriteAt(data, int64(addr))
	return err
}
