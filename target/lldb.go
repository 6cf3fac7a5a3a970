package target

// Optional capabilities LLDB's dialect of the protocol asks for: host and
// process descriptions (qHostInfo, qProcessInfo, qfProcessInfo), memory maps
// (qMemoryRegionInfo), memory allocated in the inferior (_M, _m) and a
// register table richer than target.xml (qRegisterInfo). The session finds
// them with type assertions, like the capabilities in target.go; host-level
// ones are looked for on the session's HostFS and then on the process.

// HostInfo describes the machine the server runs on (qHostInfo).
type HostInfo struct {
	Triple       string // e.g. "x86_64-pc-linux-gnu"
	PtrSize      int
	LittleEndian bool
	OSVersion    string // kernel release, "6.1.0"
	OSBuild      string // same, as uname -r prints it
	OSKernel     string // uname -v
	Hostname     string
	Distribution string // os-release ID, "debian"
}

// ProcessInfo describes one process of the host.
type ProcessInfo struct {
	PID, PPID            int
	UID, GID, EUID, EGID int
	Name                 string   // executable path (or comm when unreadable)
	Args                 []string // argv
	Triple               string   // from the executable's ELF header; "" when unknown
	PtrSize              int
	Cwd                  string // working directory; "" when unreadable
}

// MemoryRegion is the mapping (or the hole between mappings) that holds an
// address, as qMemoryRegionInfo reports it.
type MemoryRegion struct {
	Start, Size uint64
	Mapped      bool
	Read        bool
	Write       bool
	Exec        bool
	Name        string // file path, "[stack]", "[vdso]", ... or ""
}

// Permissions of memory allocated in the inferior.
type Permissions struct {
	Read, Write, Exec bool
}

// RegisterInfo is one register as the target describes it, in 'g' order
// (Regnum is the gdb register number used by p/P and expedited registers).
type RegisterInfo struct {
	Name    string
	Regnum  int
	Bits    int
	Offset  int    // byte offset in the 'g' block
	Type    string // target.xml type: int64, code_ptr, i387_ext, vec128...
	Feature string // target.xml feature, e.g. "org.gnu.gdb.i386.core"
	Group   string // target.xml group, if any
	DWARF   int    // -1 when none
	Generic string // "pc", "sp", "fp", "flags", "arg1".."arg6" or ""
}

type (
	// HostInfoer describes the host (qHostInfo).
	HostInfoer interface {
		HostInfo() (HostInfo, error)
	}
	// ProcessLister describes processes of the host: qProcessInfo,
	// qProcessInfoPID, qfProcessInfo, and the name lookup of vAttachName.
	ProcessLister interface {
		ProcessInfo(pid int) (ProcessInfo, error)
		Processes() ([]ProcessInfo, error)
	}
	// MemoryRegioner finds the mapping holding an address.
	MemoryRegioner interface {
		MemoryRegion(addr uint64) (MemoryRegion, error)
	}
	// MemoryAllocator maps and unmaps memory in the inferior (_M, _m), for
	// code and data an expression evaluator puts there.
	MemoryAllocator interface {
		AllocateMemory(size uint64, perms Permissions) (uint64, error)
		DeallocateMemory(addr uint64) error
	}
	// RegisterDescriber lists the registers behind target.xml with what
	// LLDB's qRegisterInfo wants to know about them.
	RegisterDescriber interface {
		RegisterInfo() []RegisterInfo
	}
	// WatchpointCounter tells how many hardware watchpoints the target can
	// set at once (qWatchpointSupportInfo).
	WatchpointCounter interface {
		HardwareWatchpoints() int
	}
)

// ProcessFinder finds processes by program name (vAttachName, vAttachWait):
// the full path or the base name of the executable. Processes already
// traced and the server itself are left out.
type ProcessFinder interface {
	FindProcesses(name string) ([]int, error)
}
