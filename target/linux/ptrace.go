package linux

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Raw ptrace requests that x/sys/unix does not wrap in the form we need.
// All of them must run on the tracer thread.

func ptrace(req int, tid int, addr, data uintptr) error {
	_, _, e := unix.Syscall6(unix.SYS_PTRACE, uintptr(req), uintptr(tid), addr, data, 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

// getRegset reads one regset into buf and returns how many bytes the kernel filled.
func getRegset(tid int, note int, buf []byte) (int, error) {
	iov := unix.Iovec{Base: &buf[0]}
	iov.SetLen(len(buf))
	if err := ptrace(unix.PTRACE_GETREGSET, tid, uintptr(note), uintptr(unsafe.Pointer(&iov))); err != nil {
		return 0, err
	}
	return int(iov.Len), nil
}

func setRegset(tid int, note int, buf []byte) error {
	iov := unix.Iovec{Base: &buf[0]}
	iov.SetLen(len(buf))
	return ptrace(unix.PTRACE_SETREGSET, tid, uintptr(note), uintptr(unsafe.Pointer(&iov)))
}

func resumeThread(tid int, step bool, sig int) error {
	return resumeThreadHow(tid, step, false, sig)
}

// resumeThreadHow resumes with a step, to the next syscall stop (syscall
// catching), or plainly.
func resumeThreadHow(tid int, step, syscalls bool, sig int) error {
	req := unix.PTRACE_CONT
	switch {
	case step:
		req = unix.PTRACE_SINGLESTEP
	case syscalls:
		req = unix.PTRACE_SYSCALL
	}
	return ptrace(req, tid, 0, uintptr(sig))
}

// syscallStop says whether a syscall stop is an entry and which call it is
// (PTRACE_GET_SYSCALL_INFO: op 1 entry, 2 exit; nr follows at offset 24).
func syscallStop(tid int) (entry bool, nr int, ok bool) {
	var info [88]byte
	if err := ptrace(unix.PTRACE_GET_SYSCALL_INFO, tid, uintptr(len(info)), uintptr(unsafe.Pointer(&info[0]))); err != nil {
		return false, 0, false
	}
	switch info[0] {
	case 1:
		return true, int(le64(info[24:])), true
	case 2:
		return false, -1, true
	}
	return false, 0, false
}

func detachThread(tid int, sig int) error {
	return ptrace(unix.PTRACE_DETACH, tid, 0, uintptr(sig))
}

// siginfo is the head of the kernel's siginfo_t (128 bytes in all).
type siginfo struct {
	Signo int32
	Errno int32
	Code  int32
	_     int32
	Addr  uint64 // si_addr for SIGSEGV/SIGTRAP faults
	_     [104]byte
}

const (
	siKernel   = 0x80 // int3 on x86 reports SI_KERNEL
	trapBrkpt  = 1
	trapTrace  = 2
	trapHWBkpt = 4
)

func getSiginfo(tid int) (siginfo, error) {
	var si siginfo
	err := ptrace(unix.PTRACE_GETSIGINFO, tid, 0, uintptr(unsafe.Pointer(&si)))
	return si, err
}

// threadCore reads the CPU a thread last ran on from /proc (field 39 of stat).
func threadCore(pid, tid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/stat", pid, tid))
	if err != nil {
		return -1
	}
	return coreFromStat(b)
}

// coreFromStat picks the processor field out of a stat line.
func coreFromStat(b []byte) int {
	// The command name may hold spaces; fields start after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return -1
	}
	// After ") " comes field 3 (state); processor is field 39.
	field := 3
	n, in := 0, false
	for _, c := range b[i+2:] {
		if c == ' ' {
			if in {
				if field == 39 {
					return n
				}
				field++
				n, in = 0, false
			}
			continue
		}
		in = true
		if field == 39 {
			if c < '0' || c > '9' {
				return -1
			}
			n = n*10 + int(c-'0')
		}
	}
	if field == 39 && in {
		return n
	}
	return -1
}

// core reads a thread's CPU through a stat file kept open: one pread per
// stop instead of open, read and close.
func (t *thread) core(pid int) int {
	if t.statFile == nil {
		f, err := os.Open(fmt.Sprintf("/proc/%d/task/%d/stat", pid, t.tid))
		if err != nil {
			return -1
		}
		t.statFile = f
	}
	// One pread: a stat line is far shorter than the buffer, so there is
	// no need to read on to EOF as ReadAt would.
	var buf [1024]byte
	n, err := unix.Pread(int(t.statFile.Fd()), buf[:], 0)
	if n <= 0 || err != nil {
		t.statFile.Close()
		t.statFile = nil
		return -1
	}
	return coreFromStat(buf[:n])
}

// threadState is the one-letter state of /proc/PID/task/TID/stat, or 0.
func threadState(pid, tid int) byte {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/stat", pid, tid))
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 >= len(s) {
		return 0
	}
	return s[i+2]
}

// threadName is the comm of a thread.
func threadName(pid, tid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/comm", pid, tid))
	if err != nil {
		return ""
	}
	return strings.TrimRight(string(b), "\n")
}

// listTasks returns the thread ids of a process.
func listTasks(pid int) ([]int, error) {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return nil, err
	}
	out := make([]int, 0, len(ents))
	for _, e := range ents {
		if n, err := strconv.Atoi(e.Name()); err == nil {
			out = append(out, n)
		}
	}
	return out, nil
}

// tracerOf returns the process tracing thread tid of process pid, 0 when
// none (or when the thread is gone).
func tracerOf(pid, tid int) int {
	return statusNumber(fmt.Sprintf("/proc/%d/task/%d/status", pid, tid), "TracerPid:")
}

// tgidOf reads the thread group a thread belongs to, or 0.
func tgidOf(tid int) int { return statusNumber(fmt.Sprintf("/proc/%d/status", tid), "Tgid:") }

// statusNumber reads the number of field key ("Tgid:") in a /proc status
// file, 0 when the file or the field is missing.
func statusNumber(path, key string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, key); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return n
		}
	}
	return 0
}
