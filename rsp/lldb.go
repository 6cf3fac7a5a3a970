package rsp

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"os"
	"os/user"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	log "github.com/sirupsen/logrus"

	"github.com/gostub/gostub/target"
)

// LLDB's dialect. Everything here is used only when the client asked for it
// (QThreadSuffixSupported, QListThreadsInStopReply, ...), never guessed: gdb
// sends none of these packets, so a gdb session never sees any of it.
//
// What changes for a client that spoke LLDB's packets:
//   - target.xml names the flags register rflags (LLDB's name; eflags stays
//     as its alternative name), and carries LLDB's encoding, format, register
//     set, DWARF and generic attributes. Register numbers, sizes and the 'g'
//     layout are gdb's, byte for byte.
//   - the library list has no main-lm attribute (LLDB misreads it).
//   - stop replies list every thread and its PC (threads:, thread-pcs:)
//     once the client sent QListThreadsInStopReply, and describe faults
//     (description:, "signal SIGSEGV: invalid address (fault address: 0x0)").
//   - error replies carry their text (E<nn>;<hex>) once it sent
//     QEnableErrorStrings, in the handlers of this file.
//   - signal numbers: see lldbSignalsWired.

// lldbState holds what an LLDB client switched on.
type lldbState struct {
	// dialect: the client sent an LLDB-only packet (it is LLDB).
	dialect      bool
	threadSuffix bool // QThreadSuffixSupported
	// nativeSignals: signal numbers on the wire are Linux's (what LLDB
	// assumes of a stub that takes the thread suffix).
	nativeSignals bool
	listThreads   bool // QListThreadsInStopReply
	errorStrings  bool // QEnableErrorStrings

	// procs are the qfProcessInfo matches qsProcessInfo has yet to send.
	procs []target.ProcessInfo
	// saved register states (QSaveRegisterState), by id.
	saved  map[int]savedRegisters
	nextID int
}

type savedRegisters struct {
	thread target.ThreadID
	block  []byte
}

func init() {
	register([]route{
		{"QThreadSuffixSupported", (*Session).lldbThreadSuffix},
		{"QListThreadsInStopReply", (*Session).lldbListThreads},
		{"QEnableErrorStrings", (*Session).lldbErrorStrings},
		{"qVAttachOrWaitSupported", (*Session).lldbAttachOrWaitSupported},
		{"qHostInfo", (*Session).qHostInfo},
		{"qProcessInfo", (*Session).qProcessInfo},
		{"qProcessInfoPID:", (*Session).qProcessInfoPID},
		{"qfProcessInfo", (*Session).qfProcessInfo},
		{"qsProcessInfo", (*Session).qsProcessInfo},
		{"qGetWorkingDir", (*Session).qGetWorkingDir},
		{"qUserName:", (*Session).qUserName},
		{"qGroupName:", (*Session).qGroupName},
		{"qWatchpointSupportInfo:", (*Session).qWatchpointSupportInfo},
		{"qMemoryRegionInfo", (*Session).qMemoryRegionInfo},
		{"jThreadsInfo", (*Session).jThreadsInfo},
		{"jThreadExtendedInfo", func(s *Session, _ []byte) { s.reply(nil) }},
		{"QSaveRegisterState", (*Session).saveRegisterState},
		{"QRestoreRegisterState:", (*Session).restoreRegisterState},
		{"vAttachName;", (*Session).vAttachName},
		{"vAttachWait;", (*Session).vAttachWait},
		{"vAttachOrWait;", (*Session).vAttachOrWait},
		// One-letter route: "_M" + a hex size starting with a-f would not
		// match a named route (see lookup).
		{"_", (*Session).lldbAllocate},
		// LLDB's flavour of the target description and of the library
		// list; gdb's otherwise.
		{"qXfer:features:read:", (*Session).lldbFeatures},
		{"qXfer:libraries-svr4:read:", (*Session).lldbLibraries},
	}...)
	// qRegisterInfo<hex n>: lookup refuses a named route followed by a
	// letter, so the numbers starting with a-f get routes of their own.
	register(route{"qRegisterInfo", (*Session).qRegisterInfo})
	for c := 'a'; c <= 'f'; c++ {
		register(route{"qRegisterInfo" + string(c), (*Session).qRegisterInfo})
	}
}

// lldbOK answers an LLDB switch with OK and notes who is talking.
func (s *Session) lldbOK() {
	s.lldb.dialect = true
	s.replyString("OK")
}

// lldbSignalsWired says that every signal number on the wire goes through
// wireSignal and hostSignal (stop replies, vCont;C/S, C/S, QPassSignals,
// QProgramSignals). LLDB 16 takes a stub that accepts QThreadSuffixSupported
// for lldb-server and reads and writes signal numbers in the target's own
// numbering from then on (GDBRemoteCommunicationClient::UsesNativeSignals):
// SIGUSR1 as gdb's 0x1e would show as SIGPWR. Until those call sites are
// converted, QThreadSuffixSupported is declined (LLDB then selects threads
// with Hg, and keeps gdb's numbering).
const lldbSignalsWired = true

func (s *Session) lldbThreadSuffix(_ []byte) {
	s.lldb.dialect = true
	if !lldbSignalsWired {
		s.reply(nil)
		return
	}
	s.lldb.threadSuffix = true
	s.lldb.nativeSignals = true
	s.replyString("OK")
}

// wireSignal is a host (Linux) signal number as this client writes it:
// Linux's own for LLDB once it took the thread suffix, gdb's otherwise.
func (s *Session) wireSignal(host int) int {
	if s.lldb.nativeSignals {
		return host
	}
	return GDBSignal(host)
}

// hostSignal is wireSignal's inverse; ok is false for a number the host does
// not have.
func (s *Session) hostSignal(wire int) (int, bool) {
	if s.lldb.nativeSignals {
		return wire, wire >= 0 && wire <= 64
	}
	return LinuxSignal(wire)
}

func (s *Session) lldbListThreads(_ []byte) {
	s.lldb.listThreads = true
	s.lldbOK()
}

func (s *Session) lldbErrorStrings(_ []byte) {
	s.lldb.errorStrings = true
	s.lldbOK()
}

func (s *Session) lldbAttachOrWaitSupported(_ []byte) {
	s.lldb.dialect = true
	if s.opts.Attach == nil {
		s.reply(nil)
		return
	}
	s.replyString("OK")
}

// lldbError answers E<code>, with the text when the client asked for it.
func (s *Session) lldbError(code byte, err error) {
	log.WithError(err).Debug("request failed")
	b := appendHexByte([]byte{'E'}, code)
	if s.lldb.errorStrings && err != nil {
		b = append(b, ';')
		b = appendHex(b, []byte(err.Error()))
	}
	s.reply(b)
}

// hostInfoer and friends find a host-level capability: on the HostFS, else
// on the process (or the prototype when there is none).
func (s *Session) hostInfoer() target.HostInfoer {
	if h, ok := s.opts.FS.(target.HostInfoer); ok {
		return h
	}
	h, _ := s.caps().(target.HostInfoer)
	return h
}

func (s *Session) processLister() target.ProcessLister {
	if h, ok := s.opts.FS.(target.ProcessLister); ok {
		return h
	}
	h, _ := s.caps().(target.ProcessLister)
	return h
}

func (s *Session) processFinder() target.ProcessFinder {
	if h, ok := s.opts.FS.(target.ProcessFinder); ok {
		return h
	}
	h, _ := s.caps().(target.ProcessFinder)
	return h
}

// lldbKV writes "key:value;".
func lldbKV(b []byte, key, value string) []byte {
	b = append(b, key...)
	b = append(b, ':')
	b = append(b, value...)
	return append(b, ';')
}

func hexString(s string) string { return string(appendHex(nil, []byte(s))) }

func (s *Session) qHostInfo(_ []byte) {
	s.lldb.dialect = true
	h := s.hostInfoer()
	if h == nil {
		s.reply(nil)
		return
	}
	info, err := h.HostInfo()
	if err != nil {
		s.lldbError(1, err)
		return
	}
	var b []byte
	b = lldbKV(b, "triple", hexString(info.Triple))
	b = lldbKV(b, "ptrsize", strconv.Itoa(info.PtrSize))
	if info.Distribution != "" {
		b = lldbKV(b, "distribution_id", hexString(info.Distribution))
	}
	// x86 reports a watchpoint after the access.
	b = lldbKV(b, "watchpoint_exceptions_received", "after")
	if info.LittleEndian {
		b = lldbKV(b, "endian", "little")
	} else {
		b = lldbKV(b, "endian", "big")
	}
	if info.OSVersion != "" {
		b = lldbKV(b, "os_version", info.OSVersion)
	}
	if info.OSBuild != "" {
		b = lldbKV(b, "os_build", hexString(info.OSBuild))
	}
	if info.OSKernel != "" {
		b = lldbKV(b, "os_kernel", hexString(info.OSKernel))
	}
	if info.Hostname != "" {
		b = lldbKV(b, "hostname", hexString(info.Hostname))
	}
	s.reply(b)
}

// qProcessInfo describes the debugged process, in the form of lldb-server
// (numbers in hex).
func (s *Session) qProcessInfo(pkt []byte) {
	s.lldb.dialect = true
	if len(pkt) != len("qProcessInfo") {
		s.reply(nil)
		return
	}
	pl := s.processLister()
	if pl == nil {
		s.reply(nil)
		return
	}
	if s.proc == nil {
		s.lldbError(0x68, target.ErrNoProcess)
		return
	}
	info, err := pl.ProcessInfo(s.proc.PID())
	if err != nil {
		s.lldbError(1, err)
		return
	}
	hx := func(v int) string { return strconv.FormatInt(int64(v), 16) }
	var b []byte
	b = lldbKV(b, "pid", hx(info.PID))
	b = lldbKV(b, "parent-pid", hx(info.PPID))
	b = lldbKV(b, "real-uid", hx(info.UID))
	b = lldbKV(b, "real-gid", hx(info.GID))
	b = lldbKV(b, "effective-uid", hx(info.EUID))
	b = lldbKV(b, "effective-gid", hx(info.EGID))
	triple, ptr := info.Triple, info.PtrSize
	if h := s.hostInfoer(); triple == "" && h != nil {
		if hi, err := h.HostInfo(); err == nil {
			triple, ptr = hi.Triple, hi.PtrSize
		}
	}
	if triple != "" {
		b = lldbKV(b, "triple", hexString(triple))
	}
	b = lldbKV(b, "ostype", "linux")
	b = lldbKV(b, "endian", "little")
	if ptr > 0 {
		b = lldbKV(b, "ptrsize", strconv.Itoa(ptr))
	}
	s.reply(b)
}

// appendProcessEntry writes one process as qProcessInfoPID and
// qfProcessInfo answer it (decimal numbers, hex strings).
func appendProcessEntry(b []byte, info target.ProcessInfo) []byte {
	d := strconv.Itoa
	b = lldbKV(b, "pid", d(info.PID))
	b = lldbKV(b, "ppid", d(info.PPID))
	b = lldbKV(b, "uid", d(info.UID))
	b = lldbKV(b, "gid", d(info.GID))
	b = lldbKV(b, "euid", d(info.EUID))
	b = lldbKV(b, "egid", d(info.EGID))
	b = lldbKV(b, "name", hexString(info.Name))
	if len(info.Args) > 0 {
		args := make([]string, len(info.Args))
		for i, a := range info.Args {
			args[i] = hexString(a)
		}
		b = lldbKV(b, "args", strings.Join(args, "-"))
	}
	if info.Triple != "" {
		b = lldbKV(b, "triple", hexString(info.Triple))
	}
	return b
}

func (s *Session) qProcessInfoPID(pkt []byte) {
	s.lldb.dialect = true
	pl := s.processLister()
	if pl == nil {
		s.reply(nil)
		return
	}
	pid, err := strconv.Atoi(string(pkt[len("qProcessInfoPID:"):]))
	if err != nil || pid <= 0 {
		s.lldbError(1, fmt.Errorf("bad pid %q", pkt[len("qProcessInfoPID:"):]))
		return
	}
	info, err := pl.ProcessInfo(pid)
	if err != nil {
		s.lldbError(1, err)
		return
	}
	s.reply(appendProcessEntry(nil, info))
}

// processFilter is the match criteria of qfProcessInfo.
type processFilter struct {
	name      string
	nameMatch string // equals, starts_with, ends_with, contains, regex
	re        *regexp.Regexp
	ids       map[string]int // pid, parent_pid, uid, gid, euid, egid
	allUsers  bool
	triple    string
}

func parseProcessFilter(arg []byte) (processFilter, error) {
	f := processFilter{nameMatch: "equals", ids: map[string]int{}}
	for _, kv := range bytes.Split(arg, []byte{';'}) {
		if len(kv) == 0 {
			continue
		}
		k, v, ok := bytes.Cut(kv, []byte{':'})
		if !ok {
			return f, fmt.Errorf("bad qfProcessInfo field %q", kv)
		}
		switch key := string(k); key {
		case "name":
			n, err := decodeHex(v)
			if err != nil {
				return f, err
			}
			f.name = string(n)
		case "name_match":
			f.nameMatch = string(v)
		case "pid", "parent_pid", "uid", "gid", "euid", "egid":
			n, err := strconv.Atoi(string(v))
			if err != nil {
				return f, fmt.Errorf("bad %s %q", key, v)
			}
			f.ids[key] = n
		case "all_users":
			f.allUsers = string(v) == "1" || string(v) == "true"
		case "triple":
			t, err := decodeHex(v)
			if err != nil {
				return f, err
			}
			f.triple = string(t)
		}
	}
	switch f.nameMatch {
	case "equals", "starts_with", "ends_with", "contains", "ignore":
	case "regex":
		re, err := regexp.Compile(f.name)
		if err != nil {
			return f, err
		}
		f.re = re
	default:
		return f, fmt.Errorf("bad name_match %q", f.nameMatch)
	}
	return f, nil
}

func (f processFilter) matches(p target.ProcessInfo, myUID int) bool {
	if f.name != "" {
		// The executable's base name is what `platform process list -n` means.
		name := p.Name
		if i := strings.LastIndexByte(name, '/'); i >= 0 {
			name = name[i+1:]
		}
		ok := true
		switch f.nameMatch {
		case "equals":
			ok = name == f.name || p.Name == f.name
		case "starts_with":
			ok = strings.HasPrefix(name, f.name) || strings.HasPrefix(p.Name, f.name)
		case "ends_with":
			ok = strings.HasSuffix(p.Name, f.name)
		case "contains":
			ok = strings.Contains(p.Name, f.name)
		case "regex":
			ok = f.re.MatchString(p.Name)
		}
		if !ok {
			return false
		}
	}
	vals := map[string]int{"pid": p.PID, "parent_pid": p.PPID, "uid": p.UID, "gid": p.GID, "euid": p.EUID, "egid": p.EGID}
	for k, want := range f.ids {
		if vals[k] != want {
			return false
		}
	}
	if !f.allUsers && myUID != 0 && p.UID != myUID {
		return false
	}
	if f.triple != "" && p.Triple != "" && !strings.HasPrefix(p.Triple, strings.SplitN(f.triple, "-", 2)[0]) {
		return false
	}
	return true
}

func (s *Session) qfProcessInfo(pkt []byte) {
	s.lldb.dialect = true
	pl := s.processLister()
	if pl == nil {
		s.reply(nil)
		return
	}
	arg := bytes.TrimPrefix(pkt[len("qfProcessInfo"):], []byte{':'})
	f, err := parseProcessFilter(arg)
	if err != nil {
		s.lldbError(3, err)
		return
	}
	all, err := pl.Processes()
	if err != nil {
		s.lldbError(3, err)
		return
	}
	s.lldb.procs = s.lldb.procs[:0]
	for _, p := range all {
		if f.matches(p, os.Getuid()) {
			s.lldb.procs = append(s.lldb.procs, p)
		}
	}
	if len(s.lldb.procs) == 0 {
		s.lldbError(3, errors.New("no matching process"))
		return
	}
	s.qsProcessInfo(nil)
}

func (s *Session) qsProcessInfo(_ []byte) {
	if len(s.lldb.procs) == 0 {
		// The end of the list, as lldb-server says it.
		s.replyString("E04")
		return
	}
	p := s.lldb.procs[0]
	s.lldb.procs = s.lldb.procs[1:]
	s.reply(appendProcessEntry(nil, p))
}

// qGetWorkingDir: the process's working directory, else the server's.
func (s *Session) qGetWorkingDir(_ []byte) {
	s.lldb.dialect = true
	dir := ""
	if pl := s.processLister(); pl != nil && s.proc != nil {
		if info, err := pl.ProcessInfo(s.proc.PID()); err == nil {
			dir = info.Cwd
		}
	}
	if dir == "" {
		if s.opts.Settings != nil && s.opts.Settings.Dir != "" {
			dir = s.opts.Settings.Dir
		} else if wd, err := os.Getwd(); err == nil {
			dir = wd
		}
	}
	if dir == "" {
		s.lldbError(1, errors.New("no working directory"))
		return
	}
	s.reply(appendHex(nil, []byte(dir)))
}

func (s *Session) qUserName(pkt []byte) {
	u, err := user.LookupId(string(pkt[len("qUserName:"):]))
	if err != nil {
		s.lldbError(1, err)
		return
	}
	s.reply(appendHex(nil, []byte(u.Username)))
}

func (s *Session) qGroupName(pkt []byte) {
	g, err := user.LookupGroupId(string(pkt[len("qGroupName:"):]))
	if err != nil {
		s.lldbError(1, err)
		return
	}
	s.reply(appendHex(nil, []byte(g.Name)))
}

// qWatchpointSupportInfo: how many watchpoints can be set at once.
func (s *Session) qWatchpointSupportInfo(_ []byte) {
	s.lldb.dialect = true
	n := 0
	if bp, ok := s.caps().(target.Breakpointer); ok && bp.SupportsBreakpoint(target.WatchWrite) {
		n = 4
		if wc, ok := s.caps().(target.WatchpointCounter); ok {
			n = wc.HardwareWatchpoints()
		}
	}
	s.replyString("num:" + strconv.Itoa(n) + ";")
}

// qMemoryRegionInfo:ADDR answers the mapping holding ADDR, or the hole
// around it (no permissions).
func (s *Session) qMemoryRegionInfo(pkt []byte) {
	s.lldb.dialect = true
	mr, ok := s.caps().(target.MemoryRegioner)
	if !ok {
		s.reply(nil)
		return
	}
	arg, hasArg := bytes.CutPrefix(pkt[len("qMemoryRegionInfo"):], []byte{':'})
	if !hasArg {
		// The bare packet asks whether the packet is supported.
		s.replyString("OK")
		return
	}
	addr, err := parseHex(arg)
	if err != nil {
		s.lldbError(1, fmt.Errorf("bad address %q", arg))
		return
	}
	if s.proc == nil {
		s.lldbError(1, target.ErrNoProcess)
		return
	}
	r, err := mr.MemoryRegion(addr)
	if err != nil {
		s.lldbError(1, err)
		return
	}
	var b []byte
	b = lldbKV(b, "start", strconv.FormatUint(r.Start, 16))
	b = lldbKV(b, "size", strconv.FormatUint(r.Size, 16))
	if r.Mapped {
		perms := ""
		if r.Read {
			perms += "r"
		}
		if r.Write {
			perms += "w"
		}
		if r.Exec {
			perms += "x"
		}
		b = lldbKV(b, "permissions", perms)
		b = lldbKV(b, "flags", "")
		if r.Name != "" {
			b = lldbKV(b, "name", hexString(r.Name))
		}
	}
	s.reply(b)
}

// _M<size>,<perms> allocates memory in the inferior; _m<addr> frees it.
func (s *Session) lldbAllocate(pkt []byte) {
	al, ok := s.caps().(target.MemoryAllocator)
	if !ok || len(pkt) < 2 || (pkt[1] != 'M' && pkt[1] != 'm') {
		s.reply(nil)
		return
	}
	if s.proc == nil {
		s.lldbError(1, target.ErrNoProcess)
		return
	}
	if pkt[1] == 'm' {
		addr, err := parseHex(pkt[2:])
		if err != nil {
			s.lldbError(1, fmt.Errorf("bad address %q", pkt[2:]))
			return
		}
		if err := al.DeallocateMemory(addr); err != nil {
			s.lldbError(1, err)
			return
		}
		s.replyString("OK")
		return
	}
	sizeHex, permStr, ok := bytes.Cut(pkt[2:], []byte{','})
	size, err := parseHex(sizeHex)
	if !ok || err != nil || size == 0 {
		s.lldbError(1, fmt.Errorf("bad allocation request %q", pkt))
		return
	}
	var perms target.Permissions
	for _, c := range permStr {
		switch c {
		case 'r':
			perms.Read = true
		case 'w':
			perms.Write = true
		case 'x':
			perms.Exec = true
		default:
			s.lldbError(1, fmt.Errorf("bad permissions %q", permStr))
			return
		}
	}
	addr, err := al.AllocateMemory(size, perms)
	if err != nil {
		if errors.Is(err, target.ErrUnsupported) {
			s.reply(nil)
			return
		}
		s.lldbError(1, err)
		return
	}
	s.replyString(padHex(addr))
}

// QSaveRegisterState[;thread:TID;] saves all registers of a thread and
// answers an id; QRestoreRegisterState:ID[;thread:TID;] puts them back.
func (s *Session) saveRegisterState(pkt []byte) {
	if s.proc == nil {
		s.lldbError(3, target.ErrNoProcess)
		return
	}
	rest, t, err := s.regThread(pkt)
	if err != nil || len(rest) != len("QSaveRegisterState") {
		s.lldbError(3, fmt.Errorf("bad QSaveRegisterState: %v", err))
		return
	}
	block, _, err := s.proc.ReadRegisters(t)
	if err != nil {
		s.lldbError(3, err)
		return
	}
	if s.lldb.saved == nil {
		s.lldb.saved = map[int]savedRegisters{}
	}
	s.lldb.nextID++
	s.lldb.saved[s.lldb.nextID] = savedRegisters{thread: t, block: block}
	s.replyString(strconv.Itoa(s.lldb.nextID))
}

func (s *Session) restoreRegisterState(pkt []byte) {
	if s.proc == nil {
		s.lldbError(3, target.ErrNoProcess)
		return
	}
	rest, t, err := s.regThread(pkt)
	if err != nil {
		s.lldbError(3, err)
		return
	}
	id, err := strconv.Atoi(string(rest[len("QRestoreRegisterState:"):]))
	st, ok := s.lldb.saved[id]
	if err != nil || !ok {
		s.lldbError(3, fmt.Errorf("no saved register state %q", rest[len("QRestoreRegisterState:"):]))
		return
	}
	delete(s.lldb.saved, id)
	if st.thread != t {
		log.WithField("saved", st.thread).WithField("restore", t).Debug("register state restored on another thread")
	}
	if err := s.proc.WriteRegisters(t, st.block); err != nil {
		s.lldbError(3, err)
		return
	}
	s.replyString("OK")
}

// pcRegnum is the register number of the program counter, or -1.
func (s *Session) pcRegnum() int {
	if rd, ok := s.proc.(target.RegisterDescriber); ok {
		for _, r := range rd.RegisterInfo() {
			if r.Generic == "pc" {
				return r.Regnum
			}
		}
	}
	return -1
}

// appendStopExtras adds what the client asked to find in stop replies
// beyond gdb's fields (LLDB's threads:/thread-pcs:).
func (s *Session) appendStopExtras(b []byte, ev target.StopEvent) []byte {
	if ev.Kind != target.StopSignalled || s.proc == nil {
		return b
	}
	if s.lldb.dialect && ev.Reason == target.ReasonExec {
		// LLDB reloads its view of the process on reason:exec.
		b = append(b, "reason:exec;"...)
	}
	if d := s.crashDescription(ev); d != "" {
		b = append(b, "description:"...)
		b = append(appendHex(b, []byte(d)), ';')
	}
	if !s.lldb.listThreads {
		return b
	}
	threads := s.proc.Threads()
	b = append(b, "threads:"...)
	for i, t := range threads {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, int64(t.TID), 16)
	}
	b = append(b, ';')
	if pc := s.pcRegnum(); pc >= 0 {
		pcs := make([]byte, 0, 17*len(threads))
		for i, t := range threads {
			v, err := s.proc.ReadRegister(t, pc)
			if err != nil || len(v) != 8 {
				return b // all or nothing: LLDB pairs them with threads:
			}
			if i > 0 {
				pcs = append(pcs, ',')
			}
			pcs = append(pcs, padHex(binary.LittleEndian.Uint64(v))...)
		}
		b = append(b, "thread-pcs:"...)
		b = append(append(b, pcs...), ';')
	}
	return b
}

// Linux signal numbers of the faults LLDB describes, and their si_codes
// (asm-generic/siginfo.h) in the words of lldb-server.
var faultCodes = map[int]map[int32]string{
	11: {1: "invalid address", 2: "address access protected", 3: "bound violation"}, // SIGSEGV
	7:  {1: "illegal alignment", 2: "illegal address", 3: "hardware error"},         // SIGBUS
	4: {1: "illegal instruction", 2: "illegal instruction operand", 3: "illegal addressing mode",
		4: "illegal trap", 5: "privileged instruction", 6: "privileged register",
		7: "coprocessor error", 8: "internal stack error"}, // SIGILL
	8: {1: "integer divide by zero", 2: "integer overflow", 3: "floating point divide by zero",
		4: "floating point overflow", 5: "floating point underflow", 6: "inexact floating point result",
		7: "invalid floating point operation", 8: "invalid floating point subscript range"}, // SIGFPE
}

var faultNames = map[int]string{11: "SIGSEGV", 7: "SIGBUS", 4: "SIGILL", 8: "SIGFPE"}

// crashDescription is what LLDB shows as the stop reason of a fault
// ("signal SIGSEGV: invalid address (fault address: 0x0)"), from the
// thread's siginfo; "" for other stops and other clients.
func (s *Session) crashDescription(ev target.StopEvent) string {
	codes, ok := faultCodes[ev.Signal]
	if !s.lldb.dialect || !ok || ev.Kind != target.StopSignalled {
		return ""
	}
	sa, ok := s.proc.(target.SiginfoAccessor)
	if !ok {
		return ""
	}
	si, err := sa.Siginfo(ev.Thread)
	// siginfo_t: si_signo, si_errno, si_code (int32 each), then si_addr at 16.
	if err != nil || len(si) < 24 || int(int32(binary.LittleEndian.Uint32(si[0:4]))) != ev.Signal {
		return ""
	}
	what, ok := codes[int32(binary.LittleEndian.Uint32(si[8:12]))]
	if !ok {
		// Sent by kill() or the like: no fault to describe.
		return ""
	}
	return fmt.Sprintf("signal %s: %s (fault address: %#x)", faultNames[ev.Signal], what, binary.LittleEndian.Uint64(si[16:24]))
}

// jsonThread is one thread of jThreadsInfo.
type jsonThread struct {
	TID         int               `json:"tid"`
	Name        string            `json:"name,omitempty"`
	Signal      *int              `json:"signal,omitempty"`
	Reason      string            `json:"reason,omitempty"`
	Description string            `json:"description,omitempty"`
	Registers   map[string]string `json:"registers,omitempty"`
}

// jThreadsInfo lists every thread with its expedited registers; the thread
// that reported the last stop carries its signal (gdb numbering, as in the
// T reply).
func (s *Session) jThreadsInfo(_ []byte) {
	s.lldb.dialect = true
	if s.proc == nil {
		s.lldbError(1, target.ErrNoProcess)
		return
	}
	var expedite []int
	if rd, ok := s.proc.(target.RegisterDescriber); ok {
		for _, r := range rd.RegisterInfo() {
			switch r.Generic {
			case "pc", "sp", "fp":
				expedite = append(expedite, r.Regnum)
			}
		}
	}
	info, _ := s.proc.(target.ThreadInfoer)
	var out []jsonThread
	for _, t := range s.proc.Threads() {
		jt := jsonThread{TID: t.TID}
		if info != nil {
			jt.Name = info.ThreadName(t)
		}
		if s.hasLast && s.last.Kind == target.StopSignalled && s.last.Thread == t {
			sig := s.wireSignal(s.last.Signal)
			jt.Signal = &sig
			if s.last.Reason == target.ReasonSWBreak || s.last.Reason == target.ReasonHWBreak {
				jt.Reason = "breakpoint"
			}
			if d := s.crashDescription(s.last); d != "" {
				jt.Reason, jt.Description = "signal", d
			}
		}
		for _, n := range expedite {
			if v, err := s.proc.ReadRegister(t, n); err == nil {
				if jt.Registers == nil {
					jt.Registers = map[string]string{}
				}
				jt.Registers[strconv.Itoa(n)] = string(appendHex(nil, v))
			}
		}
		out = append(out, jt)
	}
	js, err := json.Marshal(out)
	if err != nil {
		s.lldbError(1, err)
		return
	}
	s.reply(escapeBinary(nil, js))
}

// vAttachName;NAME attaches to the one process running program NAME.
func (s *Session) vAttachName(pkt []byte) {
	name, err := decodeHex(pkt[len("vAttachName;"):])
	if err != nil || len(name) == 0 || s.opts.Attach == nil {
		s.attachFailed(fmt.Errorf("bad vAttachName"))
		return
	}
	pf := s.processFinder()
	if pf == nil {
		s.reply(nil)
		return
	}
	pids, err := pf.FindProcesses(string(name))
	switch {
	case err != nil:
		s.attachFailed(err)
	case len(pids) == 0:
		s.attachFailed(fmt.Errorf("no process named %s", name))
	case len(pids) > 1:
		s.attachFailed(fmt.Errorf("more than one process named %s: %v", name, pids))
	default:
		s.attachTo(pids[0])
	}
}

// vAttachWait;NAME waits for a new process running NAME and attaches to it.
func (s *Session) vAttachWait(pkt []byte) {
	s.attachWait(pkt[len("vAttachWait;"):], false)
}

// vAttachOrWait;NAME attaches to a running NAME, or waits for one.
func (s *Session) vAttachOrWait(pkt []byte) {
	s.attachWait(pkt[len("vAttachOrWait;"):], true)
}

// attachPollInterval is how often vAttachWait looks for the new process.
const attachPollInterval = 5 * time.Millisecond

func (s *Session) attachWait(hexName []byte, existing bool) {
	name, err := decodeHex(hexName)
	if err != nil || len(name) == 0 || s.opts.Attach == nil {
		s.attachFailed(fmt.Errorf("bad attach request"))
		return
	}
	pf := s.processFinder()
	if pf == nil {
		s.reply(nil)
		return
	}
	// The client may give up (^C) or go away while we wait.
	cancel := make(chan struct{})
	var once sync.Once
	cancelWait := func() { once.Do(func() { close(cancel) }) }
	in := s.in
	if w := s.conn.watcher; w != nil && !s.ns.on {
		// The session reads the link itself: have it watched meanwhile.
		// What the client sent stays readable for after the wait.
		if s.conn.bufferedInterrupt() {
			cancelWait()
		}
		stop := w.Watch(cancelWait)
		defer stop()
		in = nil
	}
	seen := map[int]bool{}
	if !existing {
		old, err := pf.FindProcesses(string(name))
		if err != nil {
			s.attachFailed(err)
			return
		}
		for _, pid := range old {
			seen[pid] = true
		}
	}
	tick := time.NewTicker(attachPollInterval)
	defer tick.Stop()
	for {
		pids, err := pf.FindProcesses(string(name))
		if err != nil {
			s.attachFailed(err)
			return
		}
		sort.Ints(pids)
		for _, pid := range pids {
			if !seen[pid] {
				s.attachTo(pid)
				return
			}
		}
		select {
		case <-tick.C:
		case <-cancel:
			s.attachFailed(fmt.Errorf("waiting for %s interrupted", name))
			return
		case r := <-in:
			switch {
			case r.err != nil:
				s.finish(EndDisconnected)
				return
			case r.pkt.Interrupt || bytes.Equal(r.pkt.Data, []byte("vCtrlC")):
				s.attachFailed(fmt.Errorf("waiting for %s interrupted", name))
				return
			default:
				// Nothing else is answered while we wait.
				log.WithField("packet", printable(r.pkt.Data)).Debug("ignored while waiting to attach")
			}
		}
	}
}

func (s *Session) attachFailed(err error) {
	s.lldbError(1, err)
}

// attachTo attaches through the server's Attach, like vAttach.
func (s *Session) attachTo(pid int) {
	if s.proc != nil && s.proc.PID() == pid {
		s.attachFailed(fmt.Errorf("already attached to process %d", pid))
		return
	}
	p, err := s.opts.Attach(pid)
	if err != nil {
		s.attachFailed(err)
		return
	}
	if s.proc != nil {
		if err := s.proc.Detach(); err != nil {
			log.WithError(err).Warn("detach before attach")
		}
	}
	s.setProcess(p)
	s.reply(s.stopReply(s.last))
}

// qRegisterInfo<hex n> describes register n the way LLDB wants it (used by
// LLDB only when it cannot read target.xml).
func (s *Session) qRegisterInfo(pkt []byte) {
	s.lldb.dialect = true
	n, err := parseHexInt(pkt[len("qRegisterInfo"):])
	if err != nil {
		s.lldbError(0x45, fmt.Errorf("bad register number %q", pkt[len("qRegisterInfo"):]))
		return
	}
	rd, ok := s.caps().(target.RegisterDescriber)
	if !ok || s.proc == nil {
		s.reply(nil)
		return
	}
	regs := lldbRegisters(rd.RegisterInfo())
	if n >= len(regs) {
		// The end of the table, as lldb-server says it.
		s.replyString("E45")
		return
	}
	r := regs[n]
	var b []byte
	b = lldbKV(b, "name", r.name)
	if r.altName != "" {
		b = lldbKV(b, "alt-name", r.altName)
	}
	b = lldbKV(b, "bitsize", strconv.Itoa(r.bits))
	b = lldbKV(b, "offset", strconv.Itoa(r.offset))
	b = lldbKV(b, "encoding", r.encoding)
	b = lldbKV(b, "format", r.format)
	b = lldbKV(b, "set", r.set)
	if r.dwarf >= 0 {
		b = lldbKV(b, "ehframe", strconv.Itoa(r.dwarf))
		b = lldbKV(b, "dwarf", strconv.Itoa(r.dwarf))
	}
	if r.generic != "" {
		b = lldbKV(b, "generic", r.generic)
	}
	s.reply(b)
}

// lldbReg is a register as LLDB describes it.
type lldbReg struct {
	name, altName    string
	regnum           int
	bits, offset     int
	encoding, format string
	set              string
	feature          string
	dwarf            int
	generic          string
}

// lldbNames are LLDB's names for registers gdb names otherwise.
var lldbNames = map[string]string{"eflags": "rflags"}

// lldbSets names LLDB's register sets after gdb's features.
var lldbSets = map[string]string{
	"org.gnu.gdb.i386.core":     "General Purpose Registers",
	"org.gnu.gdb.i386.sse":      "Floating Point Registers",
	"org.gnu.gdb.i386.linux":    "Linux Registers",
	"org.gnu.gdb.i386.segments": "Linux Registers",
	"org.gnu.gdb.i386.avx":      "Advanced Vector Extensions",
	"org.gnu.gdb.i386.mpx":      "Memory Protection Extensions",
	"org.gnu.gdb.i386.avx512":   "AVX-512 Registers",
	"org.gnu.gdb.i386.pkeys":    "Protection Keys",
}

// lldbRegisters translates the target's registers to LLDB's vocabulary.
// Names stay gdb's (LLDB derives eax, ax, al, mm0 and ymm0 from rax, st0,
// xmm0 and ymm0h itself) except where LLDB has its own name.
func lldbRegisters(infos []target.RegisterInfo) []lldbReg {
	out := make([]lldbReg, 0, len(infos))
	for _, r := range infos {
		l := lldbReg{name: r.Name, regnum: r.Regnum, bits: r.Bits, offset: r.Offset,
			encoding: "uint", format: "hex", feature: r.Feature, dwarf: r.DWARF, generic: r.Generic}
		if n, ok := lldbNames[r.Name]; ok {
			l.name, l.altName = n, r.Name
		}
		if r.Bits > 64 {
			// st0-7, xmm, ymmNh, zmmNh: byte vectors, as lldb-server shows them.
			l.encoding, l.format = "vector", "vector-uint8"
		}
		l.set = lldbSets[r.Feature]
		if l.set == "" {
			l.set = r.Feature
		}
		if r.Feature == "org.gnu.gdb.i386.core" && (r.Group == "float" || r.Type == "i387_ext") {
			l.set = "Floating Point Registers"
		}
		out = append(out, l)
	}
	return out
}

// lldbTargetXML is target.xml for LLDB: gdb's registers, numbers and
// layout, with LLDB's names and attributes.
func lldbTargetXML(infos []target.RegisterInfo) []byte {
	var b strings.Builder
	b.WriteString("<?xml version=\"1.0\"?>\n<!DOCTYPE target SYSTEM \"gdb-target.dtd\">\n<target version=\"1.0\">\n")
	b.WriteString("  <architecture>i386:x86-64</architecture>\n  <osabi>GNU/Linux</osabi>\n")
	feature := ""
	for _, r := range lldbRegisters(infos) {
		if r.feature != feature || feature == "" {
			if feature != "" {
				b.WriteString("  </feature>\n")
			}
			feature = r.feature
			fmt.Fprintf(&b, "  <feature name=\"%s\">\n", html.EscapeString(feature))
		}
		fmt.Fprintf(&b, `    <reg name="%s"`, r.name)
		if r.altName != "" {
			fmt.Fprintf(&b, ` altname="%s"`, r.altName)
		}
		fmt.Fprintf(&b, ` bitsize="%d" regnum="%d" offset="%d" encoding="%s" format="%s" group="%s"`,
			r.bits, r.regnum, r.offset, r.encoding, r.format, html.EscapeString(r.set))
		if r.dwarf >= 0 {
			fmt.Fprintf(&b, ` ehframe_regnum="%d" dwarf_regnum="%d"`, r.dwarf, r.dwarf)
		}
		if r.generic != "" {
			fmt.Fprintf(&b, ` generic="%s"`, r.generic)
		}
		b.WriteString("/>\n")
	}
	if feature != "" {
		b.WriteString("  </feature>\n")
	}
	b.WriteString("</target>\n")
	return []byte(b.String())
}

// lldbFeatures serves target.xml in LLDB's flavour to a client that spoke
// LLDB's packets, and hands every other qXfer:features read to qXfer.
func (s *Session) lldbFeatures(pkt []byte) {
	rd, ok := s.caps().(target.RegisterDescriber)
	rest, isTarget := bytes.CutPrefix(pkt, []byte("qXfer:features:read:target.xml:"))
	if !s.lldb.dialect || !ok || !isTarget || s.proc == nil {
		s.qXfer(pkt)
		return
	}
	off, n, err := parseAddrLen(rest)
	infos := rd.RegisterInfo()
	if err != nil || len(infos) == 0 {
		s.qXfer(pkt)
		return
	}
	s.reply(xferChunk(lldbTargetXML(infos), off, n))
}

// mainLMAttr is gdbserver's main-lm attribute of library-list-svr4.
var mainLMAttr = regexp.MustCompile(` main-lm="[^"]*"`)

// lldbLibraries serves the library list without main-lm to LLDB, as
// lldb-server does: LLDB 16 takes main-lm for the address of a pointer to
// r_debug (it is the main program's link_map), reads the ELF header as
// r_debug and never learns of the libraries (trace-lldb-gdbserver-attach-hw:
// the breakpoint it then plants at 0x1003e0003 is ELF header bytes).
func (s *Session) lldbLibraries(pkt []byte) {
	_, ok := s.caps().(target.LibraryLister)
	rest := pkt[len("qXfer:libraries-svr4:read:"):]
	i := bytes.LastIndexByte(rest, ':')
	if !s.lldb.dialect || !ok || s.proc == nil || i < 0 {
		s.qXfer(pkt)
		return
	}
	off, n, err := parseAddrLen(rest[i+1:])
	if err != nil {
		s.qXfer(pkt)
		return
	}
	data, err := s.librariesSVR4(string(rest[:i]))
	if err != nil {
		s.lldbError(1, err)
		return
	}
	s.reply(xferChunk(mainLMAttr.ReplaceAll(data, nil), off, n))
}
