package linux

// What LLDB asks of the host and the process beyond gdb's needs: host and
// process descriptions from /proc and uname, memory maps, registers described
// for qRegisterInfo, and memory allocated inside the inferior by running an
// mmap system call on one of its threads.

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/gostub/gostub/regs"
	"github.com/gostub/gostub/target"
)

var (
	_ target.HostInfoer        = HostFS{}
	_ target.ProcessLister     = HostFS{}
	_ target.ProcessFinder     = HostFS{}
	_ target.MemoryRegioner    = (*Process)(nil)
	_ target.MemoryAllocator   = (*Process)(nil)
	_ target.RegisterDescriber = (*Process)(nil)
	_ target.WatchpointCounter = (*Process)(nil)
)

// hostTriple is the triple of the machine gostub runs on.
func hostTriple() (triple string, ptrSize int) {
	switch runtime.GOARCH {
	case "amd64":
		return "x86_64-pc-linux-gnu", 8
	case "386":
		return "i386-pc-linux-gnu", 4
	case "arm64":
		return "aarch64-unknown-linux-gnu", 8
	}
	return runtime.GOARCH + "-unknown-linux-gnu", 8
}

func cstring(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// HostInfo describes this machine from uname and /etc/os-release.
func (HostFS) HostInfo() (target.HostInfo, error) {
	triple, ptr := hostTriple()
	h := target.HostInfo{Triple: triple, PtrSize: ptr, LittleEndian: true}
	var u unix.Utsname
	if err := unix.Uname(&u); err == nil {
		h.OSBuild = cstring(u.Release[:])
		h.OSKernel = cstring(u.Version[:])
		h.Hostname = cstring(u.Nodename[:])
		// "6.1.0-18-amd64" -> "6.1.0": LLDB parses a dotted version.
		v := h.OSBuild
		if i := strings.IndexFunc(v, func(r rune) bool { return r != '.' && (r < '0' || r > '9') }); i >= 0 {
			v = v[:i]
		}
		h.OSVersion = strings.TrimSuffix(v, ".")
	}
	if h.Hostname == "" {
		h.Hostname, _ = os.Hostname()
	}
	if b, err := os.ReadFile("/etc/os-release"); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "ID="); ok {
				h.Distribution = strings.Trim(v, `"'`)
			}
		}
	}
	return h, nil
}

// ProcessInfo reads one process from /proc.
func (HostFS) ProcessInfo(pid int) (target.ProcessInfo, error) {
	return procInfo(pid)
}

func procInfo(pid int) (target.ProcessInfo, error) {
	info := target.ProcessInfo{PID: pid}
	dir := fmt.Sprintf("/proc/%d", pid)
	stat, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return info, fmt.Errorf("process %d: %w", pid, target.ErrNoProcess)
	}
	s := string(stat)
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		if f := strings.Fields(s[i+1:]); len(f) >= 2 {
			info.PPID, _ = strconv.Atoi(f[1])
		}
	}
	if status, err := os.ReadFile(dir + "/status"); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(status))
		for sc.Scan() {
			line := sc.Text()
			var a, b *int
			switch {
			case strings.HasPrefix(line, "Uid:"):
				a, b = &info.UID, &info.EUID
			case strings.HasPrefix(line, "Gid:"):
				a, b = &info.GID, &info.EGID
			default:
				continue
			}
			if f := strings.Fields(line); len(f) >= 3 {
				*a, _ = strconv.Atoi(f[1])
				*b, _ = strconv.Atoi(f[2])
			}
		}
	}
	if cmdline, err := os.ReadFile(dir + "/cmdline"); err == nil && len(cmdline) > 0 {
		info.Args = strings.Split(strings.TrimSuffix(string(cmdline), "\x00"), "\x00")
	}
	if exe, err := os.Readlink(dir + "/exe"); err == nil {
		info.Name = strings.TrimSuffix(exe, " (deleted)")
		info.Triple, info.PtrSize = elfTriple(dir + "/exe")
	} else if comm, err := os.ReadFile(dir + "/comm"); err == nil {
		info.Name = strings.TrimSpace(string(comm))
	}
	info.Cwd, _ = os.Readlink(dir + "/cwd")
	return info, nil
}

// elfTriple reads the class and machine of an ELF file.
func elfTriple(path string) (string, int) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0
	}
	defer f.Close()
	var h [20]byte
	if _, err := f.ReadAt(h[:], 0); err != nil || string(h[:4]) != "\x7fELF" {
		return "", 0
	}
	ptr := 4
	if h[4] == 2 {
		ptr = 8
	}
	switch uint16(h[18]) | uint16(h[19])<<8 {
	case 62: // EM_X86_64
		return "x86_64-pc-linux-gnu", ptr
	case 3: // EM_386
		return "i386-pc-linux-gnu", ptr
	case 183: // EM_AARCH64
		return "aarch64-unknown-linux-gnu", ptr
	}
	return "", ptr
}

// Processes lists the user processes of the host (kernel threads, which
// have no command line, are left out).
func (HostFS) Processes() ([]target.ProcessInfo, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var out []target.ProcessInfo
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		info, err := procInfo(pid)
		if err != nil || len(info.Args) == 0 {
			continue
		}
		out = append(out, info)
	}
	return out, nil
}

// MemoryRegion finds the mapping of /proc/PID/maps that holds addr, or the
// hole around addr between two mappings.
func (p *Process) MemoryRegion(addr uint64) (target.MemoryRegion, error) {
	if p.exited {
		return target.MemoryRegion{}, target.ErrNoProcess
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/maps", p.pid))
	if err != nil {
		return target.MemoryRegion{}, fmt.Errorf("read maps: %w", err)
	}
	return findRegion(b, addr), nil
}

// findRegion is MemoryRegion on the text of a maps file.
func findRegion(maps []byte, addr uint64) target.MemoryRegion {
	var prevEnd uint64
	nextStart := ^uint64(0)
	for _, line := range strings.Split(string(maps), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		lo, hi, ok := strings.Cut(f[0], "-")
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			continue
		}
		switch {
		case addr >= start && addr < end:
			r := target.MemoryRegion{Start: start, Size: end - start, Mapped: true}
			perms := f[1]
			r.Read = strings.Contains(perms, "r")
			r.Write = strings.Contains(perms, "w")
			r.Exec = strings.Contains(perms, "x")
			if len(f) >= 6 {
				// The path may hold spaces: take the rest of the line.
				i := strings.Index(line, f[5])
				r.Name = strings.TrimSuffix(line[i:], " (deleted)")
			}
			return r
		case end <= addr && end > prevEnd:
			prevEnd = end
		case start > addr && start < nextStart:
			nextStart = start
		}
	}
	return target.MemoryRegion{Start: prevEnd, Size: nextStart - prevEnd}
}

// RegisterInfo describes the registers of the current layout.
func (p *Process) RegisterInfo() []target.RegisterInfo {
	if p == nil || p.layout == nil {
		return nil
	}
	out := make([]target.RegisterInfo, len(p.layout.Regs))
	for i, r := range p.layout.Regs {
		out[i] = target.RegisterInfo{Name: r.Name, Regnum: r.Regnum, Bits: r.Bits, Offset: r.Offset,
			Type: r.Type, Feature: r.Feature, Group: r.Group, DWARF: r.DWARF, Generic: r.Generic}
	}
	return out
}

// HardwareWatchpoints is the number of x86 debug address registers, when
// the process implements watchpoints at all.
func (p *Process) HardwareWatchpoints() int {
	if p.SupportsBreakpoint(target.WatchWrite) {
		return 4
	}
	return 0
}

// Memory allocated in the inferior, by process, so that _m knows the size
// to unmap.
var allocations = struct {
	sync.Mutex
	m map[*Process]map[uint64]uint64
}{m: map[*Process]map[uint64]uint64{}}

// x86-64 system call numbers and mmap flags.
const (
	sysMmap   = 9
	sysMunmap = 11
)

// AllocateMemory maps size bytes (rounded up to pages) in the inferior.
func (p *Process) AllocateMemory(size uint64, perms target.Permissions) (uint64, error) {
	if runtime.GOARCH != "amd64" {
		return 0, target.ErrUnsupported
	}
	if size == 0 {
		return 0, errors.New("allocate 0 bytes")
	}
	size = (size + 0xfff) &^ 0xfff
	prot := uint64(unix.PROT_NONE)
	if perms.Read {
		prot |= unix.PROT_READ
	}
	if perms.Write {
		prot |= unix.PROT_WRITE
	}
	if perms.Exec {
		prot |= unix.PROT_EXEC
	}
	var addr uint64
	var err error
	if !p.tr.do(func() {
		addr, err = p.inferiorSyscall(sysMmap, 0, size, prot, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS, ^uint64(0), 0)
	}) {
		return 0, target.ErrNoProcess
	}
	if err != nil {
		return 0, fmt.Errorf("mmap in the inferior: %w", err)
	}
	allocations.Lock()
	if allocations.m[p] == nil {
		allocations.m[p] = map[uint64]uint64{}
	}
	allocations.m[p][addr] = size
	allocations.Unlock()
	return addr, nil
}

// DeallocateMemory unmaps memory AllocateMemory gave.
func (p *Process) DeallocateMemory(addr uint64) error {
	allocations.Lock()
	size, ok := allocations.m[p][addr]
	allocations.Unlock()
	if !ok {
		return fmt.Errorf("no allocation at %#x", addr)
	}
	var err error
	if !p.tr.do(func() { _, err = p.inferiorSyscall(sysMunmap, addr, size) }) {
		return target.ErrNoProcess
	}
	if err != nil {
		return fmt.Errorf("munmap in the inferior: %w", err)
	}
	allocations.Lock()
	delete(allocations.m[p], addr)
	if len(allocations.m[p]) == 0 {
		delete(allocations.m, p)
	}
	allocations.Unlock()
	return nil
}

// syscallThread picks a stopped thread to run a system call on: the leader
// when it can, since it is the one least likely to be inside the kernel
// on behalf of a lock the others need.
func (p *Process) syscallThread() (*thread, error) {
	if p.exited || p.mem == nil {
		return nil, target.ErrNoProcess
	}
	if t := p.threads[p.pid]; t != nil && t.stopped && !t.newborn && threadState(p.pid, p.pid) != 'Z' {
		return t, nil
	}
	for _, t := range p.threads {
		if t.stopped && !t.newborn {
			return t, nil
		}
	}
	return nil, errors.New("no stopped thread to run a system call on")
}

// inferiorSyscall runs one system call on a stopped thread of the inferior
// (x86-64): the registers are saved, a `syscall` instruction is written at
// the PC, the thread steps over it with the arguments in place, and code and
// registers are put back. Runs on the tracer thread.
func (p *Process) inferiorSyscall(nr uint64, args ...uint64) (ret uint64, err error) {
	t, err := p.syscallThread()
	if err != nil {
		return 0, err
	}
	saved := make([]byte, regs.GPRSize)
	if _, err := getRegset(t.tid, unix.NT_PRSTATUS, saved); err != nil {
		return 0, fmt.Errorf("save registers of %d: %w", t.tid, err)
	}
	t.invalidate()
	pc := le64(saved[gprRIP:])

	// Raw memory: a breakpoint at pc is saved and restored with the rest.
	var code [2]byte
	if err := p.mem.ReadMemory(pc, code[:]); err != nil {
		return 0, err
	}
	if err := p.mem.WriteMemory(pc, []byte{0x0f, 0x05}); err != nil {
		return 0, err
	}
	defer func() {
		if e := p.mem.WriteMemory(pc, code[:]); e != nil && err == nil {
			ret, err = 0, fmt.Errorf("restore code at %#x: %w", pc, e)
		}
	}()
	defer func() {
		if e := setRegset(t.tid, unix.NT_PRSTATUS, saved); e != nil && err == nil {
			ret, err = 0, fmt.Errorf("restore registers of %d: %w", t.tid, e)
		}
		t.invalidate()
	}()

	work := append([]byte(nil), saved...)
	// Offsets in user_regs_struct of the argument registers.
	argOff := []int{112, 104, 96, 56, 72, 64} // rdi rsi rdx r10 r8 r9
	putLE64(work[regs.UserRAX:], nr)
	for i, a := range args {
		putLE64(work[argOff[i]:], a)
	}
	// orig_rax -1: the kernel must not take this for a syscall to restart.
	putLE64(work[regs.UserOrigRAX:], ^uint64(0))
	// RF: an instruction breakpoint (debug register) at pc must not fire.
	putLE64(work[regs.UserEFLAGS:], le64(work[regs.UserEFLAGS:])|1<<16)
	got := make([]byte, regs.GPRSize)
	for tries := 0; ; tries++ {
		if tries == 8 {
			return 0, errors.New("the thread did not step over the system call")
		}
		// (Again) each round: a thread stopped at an exec event first
		// finishes execve, which stores its result in rax and reports the
		// step at the system call's exit without running our instruction.
		if err := setRegset(t.tid, unix.NT_PRSTATUS, work); err != nil {
			return 0, fmt.Errorf("set registers of %d: %w", t.tid, err)
		}
		if err := resumeThread(t.tid, true, 0); err != nil {
			return 0, fmt.Errorf("step thread %d: %w", t.tid, err)
		}
		var ws unix.WaitStatus
		for {
			_, err := unix.Wait4(t.tid, &ws, unix.WALL, nil)
			if err == nil {
				break
			}
			if !errors.Is(err, unix.EINTR) {
				return 0, fmt.Errorf("wait for thread %d: %w", t.tid, err)
			}
		}
		if ws.Exited() || ws.Signaled() {
			// Killed meanwhile (SIGKILL from outside): record the end the
			// way the wait loop would, for the next resume to report.
			if ev, report := p.handleStatus(t.tid, ws); report && ev.Kind != target.StopSignalled && p.pendingExit == nil {
				p.pendingExit = &ev
			}
			return 0, fmt.Errorf("thread %d ended during a system call: %s", t.tid, describeStatus(ws))
		}
		if !ws.Stopped() {
			continue
		}
		sig := ws.StopSignal()
		switch {
		case sig == unix.SIGTRAP && ws.TrapCause() == 0:
			if _, err := getRegset(t.tid, unix.NT_PRSTATUS, got); err != nil {
				return 0, fmt.Errorf("read result of %d: %w", t.tid, err)
			}
			switch after := le64(got[gprRIP:]); after {
			case pc + 2:
				ret = le64(got[regs.UserRAX:])
				if int64(ret) < 0 && int64(ret) >= -4095 {
					return 0, unix.Errno(-int64(ret))
				}
				return ret, nil
			case pc:
				// Trapped before our instruction ran: step again.
			default:
				return 0, fmt.Errorf("system call not executed (pc %#x, want %#x)", after, pc+2)
			}
		case sig == unix.SIGSTOP && t.expectStop:
			// Our own SIGSTOP from an earlier stop: it is now consumed.
			t.expectStop = false
		case sig == unix.SIGTRAP:
			// A ptrace event (clone...) cannot come from one syscall
			// instruction we placed; ignore it and step again.
		default:
			// A signal for the program: keep it for the next resume.
			if t.pending == nil {
				ev := signalEvent(target.ThreadID{PID: p.pid, TID: t.tid}, sig)
				t.pending = &ev
			}
		}
	}
}

// matchesName tells whether a process runs the program name.
func matchesName(info target.ProcessInfo, name string) bool {
	if info.Name == "" {
		return false
	}
	if info.Name == name || filepath.Base(info.Name) == filepath.Base(name) {
		return true
	}
	// comm is the first 15 bytes of the program name.
	base := filepath.Base(name)
	if len(base) > 15 {
		base = base[:15]
	}
	return !strings.Contains(info.Name, "/") && info.Name == base
}

// FindProcesses lists the processes named name (full path, or base name of
// the executable), leaving out ourselves and processes already traced.
func (HostFS) FindProcesses(name string) ([]int, error) {
	procs, err := HostFS{}.Processes()
	if err != nil {
		return nil, err
	}
	var out []int
	for _, info := range procs {
		if info.PID == os.Getpid() || !matchesName(info, name) || traced(info.PID) {
			continue
		}
		out = append(out, info.PID)
	}
	return out, nil
}

// traced tells whether a process already has a tracer.
func traced(pid int) bool { return tracerOf(pid, pid) != 0 }
