// Package rsp speaks the GDB Remote Serial Protocol: framing, packet parsing,
// the session state a client negotiates, and replies. It drives a
// target.Process and never talks to the kernel itself.
package rsp

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sort"
	"sync/atomic"
	"time"

	log "github.com/sirupsen/logrus"

	"github.com/gostub/gostub/target"
)

// End says why a session finished; the server decides what follows.
type End int

const (
	// EndDisconnected: the client went away (EOF, error, or `disconnect`).
	EndDisconnected End = iota
	// EndKilled: the client killed the process (vKill, k).
	EndKilled
	// EndDetached: the client detached (D).
	EndDetached
	// EndServerExit: the client asked the server to exit (monitor exit).
	EndServerExit
)

func (e End) String() string {
	return [...]string{"disconnected", "killed", "detached", "server exit"}[e]
}

// Options connects a session to the rest of the server.
type Options struct {
	// SetDebug and SetRemoteDebug follow `monitor set debug|remote-debug`.
	SetDebug       func(on bool)
	SetRemoteDebug func(on bool)
	// FS serves host I/O (vFile); nil leaves it unsupported.
	FS target.HostFS
	// Prototype stands for the kind of process the server makes, so that
	// capabilities can be announced before any process exists (--multi).
	Prototype target.Process
	// Launch and Attach create processes for vRun, R and vAttach
	// (extended-remote); nil leaves those unsupported.
	Launch func(LaunchRequest) (target.Process, error)
	Attach func(pid int) (target.Process, error)
	// Launch settings the client changes (QEnvironment*, QSetWorkingDir,
	// QStartupWithShell, QDisableRandomization); they outlive a session.
	Settings *LaunchRequest
	// Disabled packets, as gdbserver's --disable-packet: vCont, T, Tthread,
	// qC, qfThreadInfo.
	Disabled map[string]bool
}

// LaunchRequest describes a program to start.
type LaunchRequest struct {
	Argv        []string
	Env         []string
	Dir         string
	Shell       bool
	DisableASLR bool
}

// Session is one client connection driving at most one process.
type Session struct {
	conn *Conn
	proc target.Process // the current process; nil when there is none
	// procs holds every live process, the current one included: a fork
	// child the client keeps (detach-on-fork off) is a second one.
	procs map[int]target.Process
	opts  Options
	files hostFiles

	client clientFeatures
	lldb   lldbState // LLDB dialect switches, see lldb.go
	ns     nonStopState
	// pendingEvents: stop events are waiting behind the packet at hand.
	pendingEvents bool
	extended      bool
	threadEvents  bool            // QThreadEvents:1
	pass          map[int]bool    // QPassSignals, host numbering
	catch         *syscallCatch   // QCatchSyscalls
	clientKnown   bool            // qSupported was seen
	symAsked      map[string]bool // symbols asked in this qSymbol conversation

	gThread Selector // Hg: registers and memory
	cThread Selector // Hc: legacy c/s
	last    target.StopEvent
	hasLast bool

	in    chan readResult
	stash []readResult // read while a resume started; handled before s.in
	quit  chan struct{}
	// running is the process a resume runs, for the reader goroutine.
	running atomic.Pointer[target.Process]
	// watchedIntr counts the 0x03s a link watcher (or a look into the
	// read buffer) acted on while the program ran: the bytes stay in the
	// stream, and the session must not act on them again when it reads them.
	watchedIntr atomic.Int32
	end         End
	ended       bool
}

// clientFeatures is what the client told us in qSupported and later packets.
type clientFeatures struct {
	multiprocess bool
	xml          bool // reads target descriptions (xmlRegisters=)
	forkEvents   bool
	vforkEvents  bool
	swbreak      bool
	hwbreak      bool
	execEvents   bool
	binaryUpload bool
}

type readResult struct {
	pkt Packet
	err error
}

// NewSession prepares a session on conn for proc (stopped, or nil).
func NewSession(conn *Conn, proc target.Process, opts Options) *Session {
	s := &Session{conn: conn, opts: opts}
	s.setProcess(proc)
	return s
}

// setProcess makes p the process the session drives, as it now stands.
func (s *Session) setProcess(p target.Process) {
	s.proc = p
	if p == nil {
		return
	}
	s.adopt(p)
	s.last, s.hasLast = p.InitialStop(), true
	s.gThread = Selector{PID: s.last.Thread.PID, TID: s.last.Thread.TID}
	s.cThread = Selector{}
}

// adopt adds a live process and applies what the client already set.
func (s *Session) adopt(p target.Process) {
	if s.procs == nil {
		s.procs = map[int]target.Process{}
	}
	s.procs[p.PID()] = p
	s.applyNonStop(p)
	if s.threadEvents {
		applyThreadEvents(p, true)
	}
	if f, ok := p.(target.SignalFilter); ok && s.pass != nil {
		f.SetPassSignals(s.pass)
	}
	if c, ok := p.(target.SyscallCatcher); ok && s.catch != nil {
		c.CatchSyscalls(s.catch.on, s.catch.nums)
	}
	if x, ok := p.(target.XMLChooser); ok && s.clientKnown {
		x.SetClientXML(s.client.xml)
	}
	if f, ok := p.(target.ForkReporter); ok && s.client.multiprocess {
		f.SetForkEvents(s.client.forkEvents, s.client.vforkEvents)
	}
}

// drop forgets a process that is gone; another one becomes current.
func (s *Session) drop(p target.Process) {
	delete(s.procs, p.PID())
	if s.proc != p {
		return
	}
	s.proc = nil
	for _, q := range s.procs {
		s.proc = q
		break
	}
}

// Keep adds a process the session drives besides the current one.
func (s *Session) Keep(p target.Process) { s.adopt(p) }

// Process is the current live process, or nil.
func (s *Session) Process() target.Process { return s.proc }

// Processes lists every live process, the current one first (a server
// that serves the next client with them starts from it: its last stop is
// what the client will be told), then by pid.
func (s *Session) Processes() []target.Process { return s.sortedProcesses() }

// sortedProcesses lists live processes, the current one first.
func (s *Session) sortedProcesses() []target.Process {
	out := make([]target.Process, 0, len(s.procs))
	for _, p := range s.procs {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool {
		if (out[i] == s.proc) != (out[j] == s.proc) {
			return out[i] == s.proc
		}
		return out[i].PID() < out[j].PID()
	})
	return out
}

// byPID finds a live process; pid 0 or -1 means the current one.
func (s *Session) byPID(pid int) target.Process {
	if pid <= 0 {
		return s.proc
	}
	return s.procs[pid]
}

// caps is what capabilities are discovered on.
func (s *Session) caps() target.Process {
	if s.proc != nil {
		return s.proc
	}
	return s.opts.Prototype
}

// Serve answers packets until the client leaves, kills, detaches or asks the
// server to exit. The process is stopped when it returns (or gone).
func (s *Session) Serve() End {
	s.in = make(chan readResult, 16)
	s.quit = make(chan struct{})
	defer close(s.quit)
	defer s.closeFiles()
	// A link that can watch for the client's input while the program runs
	// is read right here, on the session thread: no goroutine hands each
	// packet over. Non-stop mode, which waits for packets and stop events
	// at once, switches to a reader goroutine for good.
	for !s.ended && s.conn.watcher != nil && !s.ns.on {
		pkt, err := s.conn.ReadPacket()
		s.dispatch(readResult{pkt, err})
	}
	if !s.ended {
		go s.readLoop()
	}
	for !s.ended {
		var r readResult
		if len(s.stash) > 0 {
			r, s.stash = s.stash[0], s.stash[1:]
			s.dispatch(r)
			continue
		}
		select {
		case r = <-s.in:
		case <-s.eventsReady():
			// A client often sends its next request right after a reply;
			// gdb copes badly with a notification in the middle of it,
			// so a stop waits for a moment of quiet, as with gdbserver.
			select {
			case r = <-s.in:
				s.pendingEvents = true
			case <-time.After(notifyQuiet):
				s.collectEvents()
				continue
			}
		}
		s.dispatch(r)
		if s.pendingEvents {
			s.pendingEvents = false
			s.collectEvents()
		}
	}
	return s.end
}

// dispatch handles one read result; the client's disconnect ends the session.
func (s *Session) dispatch(r readResult) {
	if r.err != nil {
		if !errors.Is(r.err, io.EOF) {
			log.WithError(r.err).Debug("connection read")
		}
		s.stopRunning()
		s.finish(EndDisconnected)
		return
	}
	s.handle(r.pkt)
}

func (s *Session) readLoop() {
	for {
		pkt, err := s.conn.ReadPacket()
		if p := s.running.Load(); p != nil {
			// The program runs: Ctrl-C (or a vanished client) stops it
			// here, without waiting for the session goroutine.
			switch {
			case err != nil:
				log.Info("client connection closed while the program runs; stopping it")
				(*p).Interrupt()
			case pkt.Interrupt:
				(*p).Interrupt()
				continue
			case string(pkt.Data) == "vCtrlC":
				(*p).Interrupt()
				s.replyString("OK")
				continue
			}
		}
		select {
		case s.in <- readResult{pkt, err}:
		case <-s.quit:
			return
		}
		if err != nil {
			return
		}
	}
}

func (s *Session) finish(e End) {
	s.end, s.ended = e, true
}

func (s *Session) reply(b []byte) {
	if err := s.conn.WritePacket(b); err != nil {
		log.WithError(err).Debug("write reply")
	}
}

func (s *Session) replyString(str string) { s.reply([]byte(str)) }

// replyErr answers an error in the E NN form gdb expects.
func (s *Session) replyErr(err error) {
	if errors.Is(err, target.ErrUnsupported) {
		s.reply(nil)
		return
	}
	log.WithError(err).Debug("request failed")
	s.replyString("E01")
}

func (s *Session) handle(pkt Packet) {
	switch {
	case pkt.Interrupt:
		switch {
		case s.proc == nil:
		case s.ns.on:
			s.interruptNonStop()
		case s.watchedIntr.Load() > 0:
			s.watchedIntr.Add(-1) // the one that stopped the last resume
		default:
			// Everything is stopped, but gdb sent it believing the
			// program runs (the reply to its last resume crossed it):
			// kept for the next resume, which reports SIGINT, as the
			// SIGINT gdbserver sends the program would.
			s.proc.Interrupt()
		}
		return
	case pkt.TooLong:
		log.Warn("packet longer than PacketSize refused")
		s.replyString("E01")
		return
	case len(pkt.Data) == 0:
		s.reply(nil)
		return
	}
	data := pkt.Data
	h, name := s.lookup(data)
	if h != nil && s.disabled(name) {
		h = nil
	}
	if h == nil {
		log.WithField("packet", printable(data)).Debug("unsupported packet")
		s.reply(nil)
		return
	}
	h(s, data)
}

// handler answers one packet. arg is the whole packet.
type handler func(s *Session, pkt []byte)

type route struct {
	prefix string
	h      handler
}

// notifyQuiet is how long a stop notification waits for the link to be idle.
const notifyQuiet = 2 * time.Millisecond

// routes maps packet names to handlers. Each file of the package registers
// its own packets from init (handlers reach back to lookup through handle,
// which a package-level initializer may not); lookup tries longer names
// first, so "vCont?" wins over "v..." and "qC" never swallows "qCRC".
var routes []route

// register adds packet handlers to the table.
func register(rs ...route) {
	routes = append(routes, rs...)
	sort.SliceStable(routes, func(i, j int) bool { return len(routes[i].prefix) > len(routes[j].prefix) })
}

func init() {
	register([]route{
		{"qSupported", (*Session).qSupported},
		{"QStartNoAckMode", (*Session).startNoAck},
		{"vMustReplyEmpty", func(s *Session, _ []byte) { s.reply(nil) }},
		{"qXfer:", (*Session).qXfer},
		{"qAttached", (*Session).qAttached},
		{"qfThreadInfo", (*Session).qfThreadInfo},
		{"qsThreadInfo", func(s *Session, _ []byte) { s.replyString("l") }},
		{"qC", (*Session).qC},
		{"qOffsets", func(s *Session, _ []byte) { s.reply(nil) }},
		{"qRcmd,", (*Session).qRcmd},
		{"QPassSignals:", (*Session).passSignals},
		{"QProgramSignals:", func(s *Session, _ []byte) { s.replyString("OK") }},
		{"vCont?", (*Session).vContQuery},
		{"vCont;", (*Session).vCont},
		{"vKill", (*Session).kill},
		{"vFile:", (*Session).vFile},
		{"vRun;", (*Session).vRun},
		{"vAttach;", (*Session).vAttach},
		{"!", (*Session).extendedMode},
		{"R", (*Session).restart},
		{"QEnvironmentHexEncoded:", (*Session).setEnv},
		{"QEnvironmentUnset:", (*Session).unsetEnv},
		{"QEnvironmentReset", (*Session).resetEnv},
		{"QSetWorkingDir:", (*Session).setWorkingDir},
		{"QStartupWithShell:", (*Session).setStartupWithShell},
		{"QDisableRandomization:", (*Session).setDisableRandomization},
		{"vCtrlC", func(s *Session, _ []byte) {
			if s.ns.on && s.proc != nil {
				s.interruptNonStop()
			}
			s.replyString("OK")
		}},
		{"?", (*Session).haltReason},
		{"g", (*Session).readRegisters},
		{"G", (*Session).writeRegisters},
		{"p", (*Session).readRegister},
		{"P", (*Session).writeRegister},
		{"m", (*Session).readMemory},
		{"M", (*Session).writeMemoryHex},
		{"X", (*Session).writeMemoryBinary},
		{"x", (*Session).readMemoryBinary},
		{"Z", (*Session).insertPoint},
		{"z", (*Session).removePoint},
		{"H", (*Session).setThread},
		{"T", (*Session).threadAlive},
		{"c", (*Session).legacyResume},
		{"C", (*Session).legacyResume},
		{"s", (*Session).legacyResume},
		{"S", (*Session).legacyResume},
		{"D", (*Session).detach},
		{"k", (*Session).killLegacy},
	}...)
}

// lookup finds the handler for a packet. Single-letter packets match on
// their first byte; named ones on their full name, so that "qC" does not
// swallow "qCRC".
func (s *Session) lookup(pkt []byte) (handler, string) {
	for _, r := range routes {
		if !bytes.HasPrefix(pkt, []byte(r.prefix)) {
			continue
		}
		if len(r.prefix) > 1 && r.prefix[len(r.prefix)-1] != ':' && r.prefix[len(r.prefix)-1] != ';' &&
			r.prefix[len(r.prefix)-1] != ',' && len(pkt) > len(r.prefix) && isNameByte(pkt[len(r.prefix)]) {
			continue
		}
		return r.h, r.prefix
	}
	return nil, ""
}

func isNameByte(c byte) bool {
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func (s *Session) startNoAck(_ []byte) {
	// Acks stop now: the client acks this OK but nothing after it, and its
	// next packet may arrive before we get to run again.
	s.conn.SetNoAck()
	s.replyString("OK")
}

// thread resolves a selector to one live thread (any = the last stopped one).
func (s *Session) thread(sel Selector) (target.ThreadID, error) {
	if s.proc == nil {
		return target.ThreadID{}, target.ErrNoProcess
	}
	threads := s.proc.Threads()
	if sel.TID <= 0 && (sel.PID <= 0 || sel.PID == s.proc.PID()) {
		for _, t := range threads {
			if t == s.last.Thread {
				return t, nil
			}
		}
		if len(threads) > 0 {
			return threads[0], nil
		}
		return target.ThreadID{}, target.ErrNoThread
	}
	for _, t := range threads {
		if sel.Matches(t) {
			return t, nil
		}
	}
	return target.ThreadID{}, fmt.Errorf("thread %d: %w", sel.TID, target.ErrNoThread)
}

func (s *Session) setThread(pkt []byte) {
	if len(pkt) < 2 {
		s.replyString("E01")
		return
	}
	sel, err := parseSelector(pkt[2:])
	if err != nil || s.proc == nil {
		s.replyString("E01")
		return
	}
	if p := s.byPID(sel.PID); p == nil {
		s.replyString("E01")
		return
	} else if pkt[1] == 'g' {
		s.proc = p
	}
	if sel.TID > 0 {
		if _, err := s.thread(sel); err != nil {
			s.replyString("E01")
			return
		}
	}
	switch pkt[1] {
	case 'g':
		s.gThread = sel
	case 'c':
		s.cThread = sel
	default:
		s.replyString("E01")
		return
	}
	s.replyString("OK")
}

func (s *Session) threadAlive(pkt []byte) {
	sel, err := parseSelector(pkt[1:])
	if err != nil {
		s.replyString("E01")
		return
	}
	if p := s.byPID(sel.PID); p != nil && p != s.proc && sel.TID > 0 {
		for _, t := range p.Threads() {
			if sel.Matches(t) {
				s.replyString("OK")
				return
			}
		}
	}
	if _, err := s.thread(sel); err != nil || sel.TID <= 0 {
		s.replyString("E01")
		return
	}
	s.replyString("OK")
}

func (s *Session) qC(pkt []byte) {
	if len(pkt) != 2 {
		s.reply(nil)
		return
	}
	t, err := s.thread(s.gThread)
	if err != nil {
		s.replyString("E01")
		return
	}
	s.reply(appendThreadID([]byte("QC"), t, s.client.multiprocess))
}

func (s *Session) qfThreadInfo(_ []byte) {
	if s.proc == nil {
		s.replyString("l")
		return
	}
	out := []byte{'m'}
	for _, p := range s.sortedProcesses() {
		for _, t := range p.Threads() {
			if len(out) > 1 {
				out = append(out, ',')
			}
			out = appendThreadID(out, t, s.client.multiprocess)
		}
	}
	s.reply(out)
}

// qAttached[:PID] tells whether we attached to the process (gdb detaches
// it on quit) or started it (gdb kills it); with several inferiors gdb
// asks about each.
func (s *Session) qAttached(pkt []byte) {
	p := s.proc
	if rest, ok := bytes.CutPrefix(pkt, []byte("qAttached:")); ok {
		pid, err := parseHexInt(rest)
		if err != nil {
			s.replyString("E01")
			return
		}
		p = s.byPID(pid)
	}
	if p == nil {
		s.replyString("E01")
		return
	}
	if p.Attached() {
		s.replyString("1")
	} else {
		s.replyString("0")
	}
}

func (s *Session) passSignals(pkt []byte) {
	sigs := map[int]bool{}
	list := pkt[len("QPassSignals:"):]
	if len(list) > 0 {
		for _, part := range bytes.Split(list, []byte{';'}) {
			if len(part) == 0 {
				continue // gdb ends the list with ';'
			}
			n, err := parseHexInt(part)
			if err != nil {
				s.replyString("E01")
				return
			}
			if l, ok := s.hostSignal(n); ok && l != 0 {
				sigs[l] = true
			}
		}
	}
	s.pass = sigs
	if f, ok := s.proc.(target.SignalFilter); ok {
		f.SetPassSignals(sigs)
	}
	s.replyString("OK")
}

func (s *Session) detach(pkt []byte) {
	p := s.proc
	if p == nil {
		s.replyString("E01")
		return
	}
	if len(pkt) > 1 {
		if pkt[1] != ';' {
			s.replyString("E01")
			return
		}
		pid, err := parseHexInt(pkt[2:])
		if err != nil || s.byPID(pid) == nil {
			s.replyString("E01")
			return
		}
		p = s.byPID(pid)
	}
	if err := p.Detach(); err != nil {
		log.WithError(err).Warn("detach")
		s.replyString("E01")
		return
	}
	s.drop(p)
	s.discardQueued(p.PID())
	s.replyString("OK")
	if !s.extended && len(s.procs) == 0 {
		s.finish(EndDetached)
	}
}

func (s *Session) kill(pkt []byte) {
	if s.proc == nil {
		s.replyString("E01")
		return
	}
	p := s.proc
	if rest := pkt[len("vKill"):]; len(rest) > 0 {
		pid, err := parseHexInt(bytes.TrimPrefix(rest, []byte{';'}))
		if err != nil || s.byPID(pid) == nil {
			s.replyString("E01")
			return
		}
		p = s.byPID(pid)
	}
	if err := p.Kill(); err != nil {
		log.WithError(err).Warn("kill")
	}
	s.drop(p)
	s.replyString("OK")
	if !s.extended && len(s.procs) == 0 {
		s.finish(EndKilled)
	}
}

// killLegacy answers 'k'; gdbserver sends nothing back, which leaves LLDB
// waiting, so we reply with the exit the kill causes.
func (s *Session) killLegacy(pkt []byte) {
	if len(pkt) != 1 {
		s.reply(nil)
		return
	}
	if s.proc != nil {
		pid := s.proc.PID()
		for _, p := range s.Processes() {
			if err := p.Kill(); err != nil {
				log.WithError(err).Warn("kill")
			}
			s.drop(p)
		}
		s.reply(s.stopReply(target.StopEvent{Kind: target.StopTerminated, Signal: 9, Thread: target.ThreadID{PID: pid}}))
	} else {
		s.replyString("OK")
	}
	s.finish(EndKilled)
}

// disabled tells whether --disable-packet turned a packet off. ("T" and
// "Tthread" shape stop replies instead; the T thread-alive packet stays.)
func (s *Session) disabled(route string) bool {
	d := s.opts.Disabled
	if len(d) == 0 {
		return false
	}
	switch route {
	case "vCont?", "vCont;":
		return d["vCont"]
	case "qC":
		return d["qC"]
	case "qfThreadInfo", "qsThreadInfo":
		return d["qfThreadInfo"]
	}
	return false
}

// stopRunning stops what runs when the client leaves in non-stop mode, so
// the server finds every process stopped.
func (s *Session) stopRunning() {
	if !s.ns.on {
		return
	}
	for _, p := range s.Processes() {
		if ns, ok := p.(target.NonStopper); ok {
			var running []target.ThreadID
			for _, t := range p.Threads() {
				if !ns.Stopped(t) {
					running = append(running, t)
				}
			}
			if len(running) > 0 {
				ns.StopAsync(running, 0)
			}
		}
	}
}
