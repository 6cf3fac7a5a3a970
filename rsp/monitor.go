package rsp

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/gostub/gostub/target"
)

// monitorHelp follows gdbserver's wording; tools match on it. The commands
// after "exit" are gostub's own.
const monitorHelp = `The following monitor commands are supported:
  set debug <0|1>
    Enable general debugging messages
  set remote-debug <0|1>
    Enable remote protocol debugging messages
  set debug-format option1[,option2,...]
    Add additional information to debugging messages
    Options: all, none, timestamp
  exit
    Quit GDBserver
  info line FILE:LINE|FUNC|*ADDR
    Show where the code of a source line is (as gdb's info line)
  info symbol ADDR
    Show the symbol and section holding an address (as gdb's info symbol)
  backtrace [TID|all]
    Unwind the stack of the current thread, thread TID or all threads
  info sharedlibrary
    List the loaded shared libraries
  maps
    Show the memory mappings of the process (/proc/PID/maps)
`

// maxOutputChunk bounds the text of one O packet; longer output is split
// at line ends.
const maxOutputChunk = 2048

// maxBacktrace bounds `monitor backtrace` (gdb's "backtrace limit").
const maxBacktrace = 10000

// qRcmd runs a monitor command. Output goes out as O packets, then OK, or
// E01 for a command we do not know (gdb says "Protocol error with Rcmd").
func (s *Session) qRcmd(pkt []byte) {
	raw, err := decodeHex(pkt[len("qRcmd,"):])
	if err != nil {
		s.replyString("E01")
		return
	}
	out := s.monitorOutput
	fields := strings.Fields(string(raw))
	onOff := func(v string) (bool, bool) {
		switch v {
		case "1", "on":
			return true, true
		case "0", "off":
			return false, true
		}
		return false, false
	}
	switch {
	case len(fields) == 1 && fields[0] == "help":
		out(monitorHelp)
	case len(fields) == 1 && fields[0] == "exit":
		s.replyString("OK")
		s.finish(EndServerExit)
		return
	case len(fields) == 3 && fields[0] == "set" && fields[1] == "debug":
		on, ok := onOff(fields[2])
		if !ok {
			out("Unknown value: " + fields[2] + "\n")
			break
		}
		if s.opts.SetDebug != nil {
			s.opts.SetDebug(on)
		}
		out(map[bool]string{true: "Debug output enabled.\n", false: "Debug output disabled.\n"}[on])
	case len(fields) == 3 && fields[0] == "set" && fields[1] == "remote-debug":
		on, ok := onOff(fields[2])
		if !ok {
			out("Unknown value: " + fields[2] + "\n")
			break
		}
		s.conn.RemoteDebug.Store(on)
		if s.opts.SetRemoteDebug != nil {
			s.opts.SetRemoteDebug(on)
		}
		out(map[bool]string{true: "Protocol debug output enabled.\n", false: "Protocol debug output disabled.\n"}[on])
	case len(fields) == 3 && fields[0] == "set" && fields[1] == "debug-format":
		switch fields[2] {
		case "all", "timestamp":
			out("All extra debug format options enabled.\n")
		case "none":
			out("All extra debug format options disabled.\n")
		default:
			out("Unknown debug-format argument: \"" + fields[2] + "\"\n")
		}
	case len(fields) >= 2 && fields[0] == "info" && fields[1] == "line":
		out(s.monitorInfoLine(strings.Join(fields[2:], " ")))
	case len(fields) >= 2 && fields[0] == "info" && fields[1] == "symbol":
		out(s.monitorInfoSymbol(strings.Join(fields[2:], " ")))
	case len(fields) == 2 && fields[0] == "info" && (fields[1] == "sharedlibrary" || fields[1] == "shared" || fields[1] == "dll"):
		out(s.monitorSharedLibraries())
	case len(fields) >= 1 && (fields[0] == "backtrace" || fields[0] == "bt" || fields[0] == "where"):
		out(s.monitorBacktrace(fields[1:]))
	case len(fields) == 1 && fields[0] == "maps":
		out(s.monitorMaps())
	default:
		out("Unknown monitor command.\n\n")
		s.replyString("E01")
		return
	}
	s.replyString("OK")
}

// monitorOutput sends text as console output (O packets), in pieces of at
// most maxOutputChunk bytes cut after a newline where there is one.
func (s *Session) monitorOutput(text string) {
	for len(text) > 0 {
		n := len(text)
		if n > maxOutputChunk {
			n = maxOutputChunk
			if i := strings.LastIndexByte(text[:n], '\n'); i >= 0 {
				n = i + 1
			}
		}
		s.reply(appendHex([]byte{'O'}, []byte(text[:n])))
		text = text[n:]
	}
}

const noProcessMsg = "The program is not being run.\n"

// symbolizer returns the current process's Symbolizer, or the message that
// says why there is none.
func (s *Session) symbolizer() (target.Symbolizer, string) {
	if s.proc == nil {
		return nil, noProcessMsg
	}
	sym, ok := s.proc.(target.Symbolizer)
	if !ok {
		return nil, "This target cannot look up symbols.\n"
	}
	return sym, ""
}

// errorLine is an error as one line of output.
func errorLine(err error) string {
	msg := strings.TrimSpace(strings.ReplaceAll(err.Error(), "\n", " "))
	if msg == "" {
		msg = "error"
	}
	if errors.Is(err, target.ErrNoProcess) {
		return noProcessMsg
	}
	return msg + "\n"
}

// parseLineSpec reads the argument of `info line`: FILE:LINE, FUNC,
// FILE:FUNC or *ADDR (ADDR as in info symbol).
func (s *Session) parseLineSpec(arg string, sym target.Symbolizer) (target.LineSpec, error) {
	arg = strings.TrimSpace(arg)
	if arg == "" {
		return target.LineSpec{}, errors.New("Argument required (FILE:LINE, FUNCTION or *ADDRESS).")
	}
	if addrExpr, ok := strings.CutPrefix(arg, "*"); ok {
		addr, err := s.evalAddress(strings.TrimSpace(addrExpr), sym)
		if err != nil {
			return target.LineSpec{}, err
		}
		return target.LineSpec{Addr: addr, IsAddr: true}, nil
	}
	if i := strings.LastIndexByte(arg, ':'); i >= 0 {
		file, rest := strings.TrimSpace(arg[:i]), strings.TrimSpace(arg[i+1:])
		if file == "" || rest == "" {
			return target.LineSpec{}, fmt.Errorf("malformed line specification %q", arg)
		}
		if n, err := strconv.Atoi(rest); err == nil {
			if n <= 0 {
				return target.LineSpec{}, fmt.Errorf("Line number %d is out of range for %q.", n, file)
			}
			return target.LineSpec{File: file, Line: n}, nil
		}
		if !isIdentifier(rest) {
			return target.LineSpec{}, fmt.Errorf("malformed line specification %q", arg)
		}
		return target.LineSpec{File: file, Function: rest}, nil
	}
	if !isIdentifier(arg) {
		return target.LineSpec{}, fmt.Errorf("malformed line specification %q", arg)
	}
	return target.LineSpec{Function: arg}, nil
}

func isIdentifier(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		if c == '_' || c == '.' || c == '$' || c == '@' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9' {
			continue
		}
		return false
	}
	return true
}

// evalAddress evaluates the small expressions monitor commands take: a
// number (0x hex, 0 octal, decimal), a symbol, &symbol, $pc, each
// optionally followed by +N or -N.
func (s *Session) evalAddress(expr string, sym target.Symbolizer) (uint64, error) {
	e := strings.ReplaceAll(expr, " ", "")
	if e == "" {
		return 0, errors.New("Argument required (an address).")
	}
	base, off, neg := e, "", false
	if i := strings.LastIndexAny(e, "+-"); i > 0 {
		base, off, neg = e[:i], e[i+1:], e[i] == '-'
	}
	var delta uint64
	if off != "" {
		v, err := strconv.ParseUint(off, 0, 64)
		if err != nil {
			return 0, fmt.Errorf("cannot evaluate %q: a number or a symbol, with an optional +N or -N, is expected", expr)
		}
		delta = v
	}
	var addr uint64
	base = strings.TrimPrefix(base, "&")
	switch {
	case base == "":
		return 0, fmt.Errorf("cannot evaluate %q", expr)
	case base[0] >= '0' && base[0] <= '9':
		v, err := strconv.ParseUint(base, 0, 64)
		if err != nil {
			return 0, fmt.Errorf("Invalid number %q.", base)
		}
		addr = v
	case base == "$pc" || base == "$rip":
		t, err := s.thread(s.gThread)
		if err != nil {
			return 0, err
		}
		bt, err := sym.Backtrace(t, 1)
		if err != nil {
			return 0, err
		}
		if len(bt.Frames) == 0 {
			return 0, errors.New("No registers.")
		}
		addr = bt.Frames[0].PC
	case isIdentifier(base) && base[0] != '$':
		v, err := sym.LookupSymbol(base)
		if err != nil {
			return 0, err
		}
		addr = v
	default:
		return 0, fmt.Errorf("cannot evaluate %q: a number or a symbol, with an optional +N or -N, is expected", expr)
	}
	if neg {
		return addr - delta, nil
	}
	return addr + delta, nil
}

// formatCodeAddr prints an address as gdb's print_address: 0x1139 <add+4>.
func formatCodeAddr(a target.CodeAddr) string {
	s := "0x" + strconv.FormatUint(a.Addr, 16)
	switch {
	case a.Symbol == "":
	case a.Offset == 0:
		s += " <" + a.Symbol + ">"
	default:
		s += " <" + a.Symbol + "+" + strconv.FormatUint(a.Offset, 10) + ">"
	}
	return s
}

func (s *Session) monitorInfoLine(arg string) string {
	sym, msg := s.symbolizer()
	if sym == nil {
		return msg
	}
	spec, err := s.parseLineSpec(arg, sym)
	if err != nil {
		return errorLine(err)
	}
	infos, err := sym.InfoLine(spec)
	if err != nil {
		return errorLine(err)
	}
	return formatLineInfos(infos)
}

func formatLineInfos(infos []target.LineInfo) string {
	var b strings.Builder
	for _, li := range infos {
		switch {
		case li.File == "":
			b.WriteString("No line number information available for address " + formatCodeAddr(li.Start) + "\n")
		case li.Start.Addr == li.End.Addr:
			fmt.Fprintf(&b, "Line %d of %q is at address %s but contains no code.\n", li.Line, li.File, formatCodeAddr(li.Start))
		default:
			fmt.Fprintf(&b, "Line %d of %q starts at address %s and ends at %s.\n", li.Line, li.File,
				formatCodeAddr(li.Start), formatCodeAddr(li.End))
		}
	}
	if len(infos) == 0 {
		b.WriteString("No line number information available.\n")
	}
	return b.String()
}

func (s *Session) monitorInfoSymbol(arg string) string {
	sym, msg := s.symbolizer()
	if sym == nil {
		return msg
	}
	arg = strings.TrimSpace(arg)
	if arg == "" {
		return "Argument required (address).\n"
	}
	addr, err := s.evalAddress(arg, sym)
	if err != nil {
		return errorLine(err)
	}
	infos, err := sym.InfoSymbol(addr)
	if err != nil {
		return errorLine(err)
	}
	return formatSymbolInfos(infos, arg)
}

func formatSymbolInfos(infos []target.SymbolInfo, arg string) string {
	if len(infos) == 0 {
		return "No symbol matches " + arg + ".\n"
	}
	var b strings.Builder
	for _, si := range infos {
		b.WriteString(si.Symbol)
		if si.Offset != 0 {
			b.WriteString(" + " + strconv.FormatUint(si.Offset, 10))
		}
		b.WriteString(" in section " + si.Section)
		if si.Object != "" {
			b.WriteString(" of " + si.Object)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

func (s *Session) monitorSharedLibraries() string {
	sym, msg := s.symbolizer()
	if sym == nil {
		return msg
	}
	libs, err := sym.SharedLibraries()
	if err != nil {
		return errorLine(err)
	}
	return formatSharedLibraries(libs)
}

// formatSharedLibraries prints the table of gdb's info sharedlibrary.
func formatSharedLibraries(libs []target.SharedLibrary) string {
	if len(libs) == 0 {
		return "No shared libraries loaded at this time.\n"
	}
	var b strings.Builder
	b.WriteString("From                To                  Syms Read   Shared Object Library\n")
	noDebug := false
	for _, l := range libs {
		from, to := "", ""
		if l.From != 0 || l.To != 0 {
			from, to = fmt.Sprintf("0x%016x", l.From), fmt.Sprintf("0x%016x", l.To)
		}
		read := "No"
		if l.SymsRead {
			read = "Yes"
			if !l.Debug {
				read = "Yes (*)"
				noDebug = true
			}
		}
		fmt.Fprintf(&b, "%-18s  %-18s  %-12s%s\n", from, to, read, l.Name)
	}
	if noDebug {
		b.WriteString("(*): Shared library is missing debugging information.\n")
	}
	return b.String()
}

// monitorBacktrace runs `backtrace [TID|pPID.TID|all]`.
func (s *Session) monitorBacktrace(args []string) string {
	sym, msg := s.symbolizer()
	if sym == nil {
		return msg
	}
	if len(args) > 1 {
		return "Usage: backtrace [TID|all]\n"
	}
	if len(args) == 1 && args[0] == "all" {
		var b strings.Builder
		for _, t := range s.proc.Threads() {
			fmt.Fprintf(&b, "\nThread %d (LWP %d):\n", t.TID, t.TID)
			b.WriteString(s.backtraceOf(sym, t))
		}
		return b.String()
	}
	var t target.ThreadID
	if len(args) == 1 {
		var err error
		if t, err = s.parseMonitorThread(args[0]); err != nil {
			return errorLine(err)
		}
	} else {
		var err error
		if t, err = s.thread(s.gThread); err != nil {
			return errorLine(err)
		}
	}
	return s.backtraceOf(sym, t)
}

// parseMonitorThread reads a thread as a decimal LWP id (as gdb shows it)
// or a protocol thread-id (p<pid>.<tid>, hex).
func (s *Session) parseMonitorThread(arg string) (target.ThreadID, error) {
	var sel Selector
	if strings.HasPrefix(arg, "p") {
		v, err := parseSelector([]byte(arg))
		if err != nil || v.TID <= 0 {
			return target.ThreadID{}, fmt.Errorf("Invalid thread ID: %s", arg)
		}
		sel = v
	} else {
		tid, err := strconv.ParseUint(arg, 0, 31)
		if err != nil || tid == 0 {
			return target.ThreadID{}, fmt.Errorf("Invalid thread ID: %s", arg)
		}
		sel = Selector{TID: int(tid)}
	}
	for _, t := range s.proc.Threads() {
		if sel.Matches(t) {
			return t, nil
		}
	}
	return target.ThreadID{}, fmt.Errorf("Unknown thread %s.", arg)
}

func (s *Session) backtraceOf(sym target.Symbolizer, t target.ThreadID) string {
	bt, err := sym.Backtrace(t, maxBacktrace+1)
	if err != nil && len(bt.Frames) == 0 {
		return errorLine(err)
	}
	more := len(bt.Frames) > maxBacktrace
	if more {
		bt.Frames = bt.Frames[:maxBacktrace]
	}
	text := formatBacktrace(bt)
	if more {
		text += "(More stack frames follow...)\n"
	}
	if err != nil {
		text += errorLine(err)
	}
	return text
}

// formatBacktrace prints frames as gdb's bt does.
func formatBacktrace(bt target.Backtrace) string {
	width := bt.PtrSize * 2
	if width <= 0 {
		width = 16
	}
	var b strings.Builder
	for i, f := range bt.Frames {
		fmt.Fprintf(&b, "#%-2d ", i)
		if f.Signal {
			b.WriteString("<signal handler called>\n")
			continue
		}
		if f.ShowPC {
			fmt.Fprintf(&b, "0x%0*x in ", width, f.PC)
		}
		if f.Function != "" {
			b.WriteString(f.Function)
		} else {
			b.WriteString("??")
		}
		b.WriteString(" (")
		for k, a := range f.Args {
			if k > 0 {
				b.WriteString(", ")
			}
			b.WriteString(a.Name + "=" + a.Value)
		}
		b.WriteString(")")
		switch {
		case f.File != "":
			fmt.Fprintf(&b, " at %s:%d", f.File, f.Line)
		case f.Library != "":
			b.WriteString(" from " + f.Library)
		}
		b.WriteByte('\n')
	}
	if bt.Stopped != "" {
		b.WriteString("Backtrace stopped: " + bt.Stopped + "\n")
	}
	return b.String()
}

func (s *Session) monitorMaps() string {
	if s.proc == nil {
		return noProcessMsg
	}
	m, ok := s.proc.(target.MapsReader)
	if !ok {
		return "This target cannot show its memory mappings.\n"
	}
	text, err := m.Maps()
	if err != nil {
		return errorLine(err)
	}
	if text != "" && !strings.HasSuffix(text, "\n") {
		text += "\n"
	}
	return text
}
