package target

// Optional capabilities behind the monitor commands that ask about code and
// the address space: `monitor info line`, `info symbol`, `backtrace`,
// `info sharedlibrary` and `maps`. The target does the work (symbol tables,
// DWARF, unwinding, /proc); the rsp package only parses the command line and
// prints the answers in gdb's words. Errors returned by these methods are
// shown to the user as they are, on one line: word them for people ("No
// source file named foo.c.", "No debugging information in /bin/true.").

// LineSpec is the argument of `info line`, one of three forms:
// FILE:LINE (File and Line), FUNC or FILE:FUNC (Function, File optional)
// and *ADDR (IsAddr and Addr, a run-time address).
type LineSpec struct {
	File     string
	Line     int
	Function string
	Addr     uint64
	IsAddr   bool
}

// CodeAddr is an address with the symbol that contains it, as gdb prints
// `0x555555555167 <leaf+11>`.
type CodeAddr struct {
	Addr   uint64
	Symbol string // "" when no symbol contains Addr
	Offset uint64 // Addr - the symbol's address
}

// LineInfo is one answer of `info line` (a spec may have several: a line in
// several objects, a function in several files).
//
//   - File != "" and Start.Addr < End.Addr: Line of File is the code at
//     [Start, End).
//   - File != "" and Start.Addr == End.Addr: Line has no code; Start is
//     where the next line with code starts.
//   - File == "": there is no line information for the address Start.
type LineInfo struct {
	File       string // as gdb displays it: the name the compiler was given ("loop.c")
	Line       int
	Start, End CodeAddr
}

// SymbolInfo is one answer of `info symbol ADDR`: ADDR is Offset bytes into
// Symbol, in Section of the object file Object.
type SymbolInfo struct {
	Symbol  string
	Offset  uint64
	Section string // ".text", ".bss", ...
	// Object names the file (or "system-supplied DSO at 0x..." for the
	// vDSO); "" when the process has only one object, as gdb then omits it.
	Object string
}

// FrameArg is one argument of a frame's function; Value is "?" when the
// target cannot tell.
type FrameArg struct {
	Name, Value string
}

// Frame is one line of a backtrace, innermost first.
type Frame struct {
	PC uint64
	// ShowPC says whether gdb would print "0x... in" before the function:
	// not for the innermost frame stopped at the start of a line, nor for a
	// function whose inner frame is inlined into it.
	ShowPC   bool
	Function string     // "" when unknown (printed "??")
	Args     []FrameArg // nil when unknown: printed "()"
	File     string     // as gdb displays it; "" when there is no line information
	Line     int
	// Library is the shared object holding PC, printed "from LIB" when
	// there is no line information. "" for the main program.
	Library string
	// Signal marks a signal trampoline: "<signal handler called>".
	Signal bool
}

// Backtrace is what the unwinder found for one thread.
type Backtrace struct {
	Frames []Frame
	// Stopped says why the walk ended before the outermost frame
	// ("previous frame inner to this frame (corrupt stack?)"), "" when it
	// did not.
	Stopped string
	// PtrSize is the width of addresses in bytes (8 on x86-64).
	PtrSize int
}

// SharedLibrary is one row of `info sharedlibrary`.
type SharedLibrary struct {
	Name     string // the path in the dynamic linker's list
	From, To uint64 // run-time bounds of its .text; both 0 when unknown
	SymsRead bool   // the file was found and indexed
	Debug    bool   // it has debug information
}

type (
	// Symbolizer answers questions about the code of a stopped process.
	// Its methods are called from the session's goroutine, with the
	// process stopped, like those of Process.
	Symbolizer interface {
		// LookupSymbol returns the run-time address of a function (its
		// entry) or a global variable named name.
		LookupSymbol(name string) (uint64, error)
		// InfoLine answers `info line`.
		InfoLine(spec LineSpec) ([]LineInfo, error)
		// InfoSymbol answers `info symbol ADDR`: none when no symbol
		// contains addr.
		InfoSymbol(addr uint64) ([]SymbolInfo, error)
		// Backtrace unwinds thread t, at most max frames (max <= 0: no
		// limit). Like gdb's bt it ends at main.
		Backtrace(t ThreadID, max int) (Backtrace, error)
		// SharedLibraries lists the loaded shared objects, in the dynamic
		// linker's order, without the main program and the vDSO.
		SharedLibraries() ([]SharedLibrary, error)
	}
	// MapsReader shows the process's memory mappings, as /proc/PID/maps.
	MapsReader interface {
		Maps() (string, error)
	}
)
