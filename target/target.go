// Package target is the contract between the protocol layer (rsp) and a debuggee.
// It holds no kernel code; the Linux implementation lives in target/linux.
//
// Signals crossing this boundary use the host (Linux) numbering; the rsp package
// converts to and from gdb's numbering on the wire.
package target

import (
	"errors"
	"fmt"
)

// ThreadID names one thread of one process. TID -1 means all threads of PID.
type ThreadID struct {
	PID, TID int
}

func (t ThreadID) String() string { return fmt.Sprintf("p%x.%x", t.PID, t.TID) }

// Process is the mandatory part of a debuggee. Every method except Interrupt
// is called with the process stopped (all-stop) and from one goroutine at a time.
type Process interface {
	PID() int
	// Attached reports whether the process was attached to rather than launched.
	Attached() bool
	// Threads lists the live threads, leader first.
	Threads() []ThreadID

	// TargetXML is the complete target description; RegistersSize is the
	// length of the block ReadRegisters returns and WriteRegisters takes.
	TargetXML() []byte
	RegistersSize() int
	// RegisterSizes is the byte size of each register, in 'g' order.
	RegisterSizes() []int
	// ReadRegisters returns the 'g' block; avail[i] is false for register i
	// when its value cannot be known. avail may be nil when all are known.
	ReadRegisters(t ThreadID) (block []byte, avail []bool, err error)
	WriteRegisters(t ThreadID, block []byte) error
	// ReadRegister and WriteRegister work on one register by gdb number.
	ReadRegister(t ThreadID, regnum int) ([]byte, error)
	WriteRegister(t ThreadID, regnum int, value []byte) error

	// ReadMemory fills buf completely or fails; inserted breakpoints are invisible.
	ReadMemory(addr uint64, buf []byte) error
	// WriteMemory writes all of data or fails; it may write read-only text and
	// keeps inserted breakpoints in place, updating their saved bytes.
	WriteMemory(addr uint64, data []byte) error

	// Resume runs the threads named in actions (others stay stopped) until an
	// event worth reporting, stops every thread (all-stop) and returns the event.
	Resume(actions []Action) (StopEvent, error)
	// Interrupt asks a running Resume to stop soon and report SIGINT.
	// It is safe to call from any goroutine, at any time.
	Interrupt()

	// Detach removes every breakpoint and lets the process run free.
	Detach() error
	// Kill removes every breakpoint, kills the process and reaps it.
	Kill() error

	// InitialStop describes the process as the first client finds it:
	// stopped at its first instruction after launch, or where attach caught it.
	InitialStop() StopEvent
}

// ActionKind is what a resume does with one thread.
type ActionKind int

const (
	ActionContinue ActionKind = iota
	ActionStep
	// ActionRangeStep steps while the PC stays in [RangeStart, RangeEnd).
	ActionRangeStep
	// ActionStop keeps the thread stopped (vCont;t); it is reported with signal 0.
	ActionStop
)

// Action is the resume of one concrete thread.
type Action struct {
	Thread     ThreadID
	Kind       ActionKind
	Signal     int // host signal to deliver, 0 for none
	RangeStart uint64
	RangeEnd   uint64
}

// StopKind says whether the process stopped or ended.
type StopKind int

const (
	StopSignalled  StopKind = iota // a thread stopped with Signal
	StopExited                     // the process exited with ExitCode
	StopTerminated                 // the process was killed by Signal
	// StopNoResumed: every thread the client resumed has exited; the
	// others are stopped and nothing can happen (gdb's "N" reply).
	StopNoResumed
	// StopThreadExited: one thread (not the leader) exited with
	// ExitCode; the process lives on. Reported only while the client
	// asked for thread events (QThreadEvents:1).
	StopThreadExited
)

// StopReason refines a SIGTRAP stop.
type StopReason int

const (
	ReasonNone StopReason = iota
	ReasonSWBreak
	ReasonHWBreak
	ReasonWatch
	ReasonRWatch
	ReasonAWatch
	// ReasonFork and ReasonVFork: the thread forked; Child is the new
	// process, held stopped until the client decides (detach or keep).
	ReasonFork
	ReasonVFork
	// ReasonVForkDone: the vfork child exec'd or exited; the parent runs on.
	ReasonVForkDone
	// ReasonSyscallEntry and ReasonSyscallReturn: a caught system call
	// (Syscall) is entered or returns.
	ReasonSyscallEntry
	ReasonSyscallReturn
	// ReasonExec: the process executed a new program (ExecPath); threads,
	// breakpoints and registers of the old image are gone.
	ReasonExec
	// ReasonThreadCreated: the thread is new (reported only while the
	// client asked for thread events); it stays stopped until resumed.
	ReasonThreadCreated
)

// Register is one register value sent with a stop reply.
type Register struct {
	Regnum int
	Value  []byte
}

// StopEvent is one reportable event, as the stop reply will describe it.
type StopEvent struct {
	Kind      StopKind
	Thread    ThreadID
	Signal    int // host numbering
	ExitCode  int
	Reason    StopReason
	WatchAddr uint64
	Core      int // CPU the thread last ran on, -1 when unknown
	ExecPath  string
	Syscall   int
	// Child is the new process of a fork or vfork event.
	Child Process
	// Expedited registers (frame pointer, stack pointer, PC) at the stop.
	Expedited []Register
}

// Capabilities a process may implement; the session discovers them with type
// assertions and advertises exactly what is there.
type (
	// Breakpointer inserts and removes client breakpoints (Z0/z0 and friends).
	Breakpointer interface {
		InsertBreakpoint(kind BreakpointKind, addr uint64, size int) error
		RemoveBreakpoint(kind BreakpointKind, addr uint64, size int) error
		SupportsBreakpoint(kind BreakpointKind) bool
		// RemoveAllBreakpoints undoes every insertion, for a client that left.
		RemoveAllBreakpoints() error
	}
	// ConditionalBreakpointer evaluates target-side conditions and
	// commands (agent bytecode) of breakpoints: extras is the tail of the
	// Z packet after the kind (";X2,2201;cmds:0,X5,...").
	ConditionalBreakpointer interface {
		InsertBreakpointWith(kind BreakpointKind, addr uint64, size int, extras []byte) error
	}
	// LibraryLister walks the dynamic linker's list of loaded objects
	// (qXfer:libraries-svr4:read); start 0 means from the beginning.
	LibraryLister interface {
		Libraries(start uint64) (libs []Library, mainLM uint64, err error)
	}
	// SymbolUser wants addresses of symbols only the client can look up
	// (the qSymbol conversation), e.g. the dynamic linker's layout
	// descriptors that thread-local storage needs.
	SymbolUser interface {
		WantedSymbols() []string
		SetSymbol(name string, addr uint64, found bool)
	}
	// TLSLocator finds thread-local variables (qGetTLSAddr): offset within
	// the TLS block of the module whose link_map is at lm.
	TLSLocator interface {
		TLSAddress(t ThreadID, offset, lm uint64) (uint64, error)
	}
	// XMLChooser adapts the register layout to a client that reads no
	// target description (no xmlRegisters= in qSupported).
	XMLChooser interface {
		SetClientXML(has bool)
	}
	// GroupResumer runs several processes at once (gdb's schedule-multiple,
	// or vCont actions naming several inferiors) and reports the first
	// event of any, with all of them stopped.
	GroupResumer interface {
		ResumeWith(others []Process, actions []Action) (StopEvent, error)
	}
	// BlockNotifier is a process whose Resume can say when it is about to
	// sleep until the program stops, after polling for a short while: the
	// client's link need be watched for Ctrl-C only from then on.
	BlockNotifier interface {
		// OnBlock sets f, called at most once, on the thread that runs
		// Resume, before the next Resume first sleeps; nil clears it.
		OnBlock(f func())
	}
	// AuxvReader serves qXfer:auxv:read.
	AuxvReader interface {
		Auxv() ([]byte, error)
	}
	// ExecFiler serves qXfer:exec-file:read.
	ExecFiler interface {
		ExecFile() (string, error)
	}
	// SignalFilter takes QPassSignals: signals delivered to the program without
	// a stop reply (host numbering).
	SignalFilter interface {
		SetPassSignals(sigs map[int]bool)
	}
	// ThreadInfoer gives names and cores for qXfer:threads:read.
	ThreadInfoer interface {
		ThreadName(t ThreadID) string
		ThreadCore(t ThreadID) int
	}
	// SiginfoAccessor reads and writes the siginfo of a thread's last
	// signal (qXfer:siginfo), in the host's siginfo_t layout.
	SiginfoAccessor interface {
		Siginfo(t ThreadID) ([]byte, error)
		SetSiginfo(t ThreadID, data []byte) error
	}
	// ForkReporter holds fork and vfork children for the client
	// (fork-events, vfork-events) instead of letting them go at once.
	ForkReporter interface {
		SetForkEvents(fork, vfork bool)
	}
	// NonStopper runs threads independently (non-stop mode): resuming
	// returns at once and each stop comes back on its own as an event.
	NonStopper interface {
		SetNonStop(on bool) error
		// ResumeAsync runs the named threads; the others keep their state.
		ResumeAsync(actions []Action) error
		// StopAsync stops running threads; each reports a stop with
		// signal sig (0 for vCont;t, SIGINT for an interrupt).
		StopAsync(threads []ThreadID, sig int) error
		// EventsReady signals when TakeEvents has something.
		EventsReady() <-chan struct{}
		TakeEvents() []StopEvent
		// Stopped reports whether a thread is stopped.
		Stopped(t ThreadID) bool
	}
	// ThreadEventReporter reports thread creation (a stop of the new
	// thread with ReasonThreadCreated) and thread exit (StopThreadExited)
	// while on (QThreadEvents).
	ThreadEventReporter interface {
		SetThreadEvents(on bool)
	}
	// SyscallCatcher stops threads at the system calls the client catches
	// (QCatchSyscalls): all of them when nums is nil and on is true.
	SyscallCatcher interface {
		CatchSyscalls(on bool, nums []int)
	}
	// RangeStepper is implemented by processes that honour ActionRangeStep.
	RangeStepper interface {
		SupportsRangeStep() bool
	}
)

// BreakpointKind is the Z packet type.
type BreakpointKind int

const (
	BreakSoftware BreakpointKind = iota
	BreakHardware
	WatchWrite
	WatchRead
	WatchAccess
)

// Errors with a meaning for the protocol layer.
var (
	// ErrUnsupported makes the session answer with the empty packet.
	ErrUnsupported = errors.New("not supported")
	// ErrNoProcess means the process has exited or was never there.
	ErrNoProcess = errors.New("no process")
	// ErrNoThread names a thread that does not exist.
	ErrNoThread = errors.New("no such thread")
	// ErrNotInserted answers removal of a point that was never inserted.
	ErrNotInserted = errors.New("breakpoint not inserted")
)

// HostFS gives the client access to files on the target machine (vFile),
// seen from the mount namespace of process fsPID (0: the server's own).
type HostFS interface {
	OpenFile(fsPID int, path string, flags int, mode uint32) (File, error)
	Unlink(fsPID int, path string) error
	Readlink(fsPID int, path string) (string, error)
}

// File is an open target file. Errors carry the host errno (syscall.Errno).
type File interface {
	ReadAt(p []byte, off int64) (int, error)
	WriteAt(p []byte, off int64) (int, error)
	Close() error
	Stat() (FileStat, error)
}

// FileStat is what vFile:fstat reports.
type FileStat struct {
	Dev, Ino, Mode, Nlink, UID, GID, Rdev uint32
	Size, Blksize, Blocks                 uint64
	Atime, Mtime, Ctime                   uint32
}

// Open flags as host I/O carries them (gdb's fileio values).
const (
	OpenWrite  = 0x1
	OpenRDWR   = 0x2
	OpenAppend = 0x8
	OpenCreate = 0x200
	OpenTrunc  = 0x400
	OpenExcl   = 0x800
)

// Library is one entry of the dynamic linker's link_map list.
type Library struct {
	Name         string
	LM, Addr, LD uint64 // the link_map entry, load bias, dynamic section
	Lmid         uint64 // the namespace: the address of its r_debug
}
