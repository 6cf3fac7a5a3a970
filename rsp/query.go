package rsp

import (
	"bytes"
	"fmt"
	"html"
	"strconv"
	"strings"

	"github.com/gostub/gostub/target"
)

// qSupported: the reply is computed from what the process implements and
// what the client offered; nothing is announced that is not backed by code.
func (s *Session) qSupported(pkt []byte) {
	offered := map[string]bool{}
	if _, list, ok := bytes.Cut(pkt, []byte{':'}); ok {
		for _, f := range bytes.Split(list, []byte{';'}) {
			if n := len(f); n > 0 && (f[n-1] == '+' || f[n-1] == '-') {
				offered[string(f[:n-1])] = f[n-1] == '+'
			} else if name, _, ok := bytes.Cut(f, []byte{'='}); ok {
				offered[string(name)] = true
			}
		}
	}
	s.client = clientFeatures{
		multiprocess: offered["multiprocess"],
		swbreak:      offered["swbreak"],
		hwbreak:      offered["hwbreak"],
		execEvents:   offered["exec-events"],
		forkEvents:   offered["fork-events"],
		vforkEvents:  offered["vfork-events"],
		binaryUpload: offered["binary-upload"],
		xml:          offered["xmlRegisters"],
	}
	s.clientKnown = true
	for _, p := range s.procs {
		s.adopt(p) // the fork-event choice applies to processes we have
	}
	s.reply([]byte(strings.Join(s.features(offered), ";")))
}

// features lists what we announce.
func (s *Session) features(offered map[string]bool) []string {
	f := []string{fmt.Sprintf("PacketSize=%x", MaxPacket), "QStartNoAckMode+", "qXfer:features:read+",
		"qXfer:threads:read+", "multiprocess+", "swbreak+", "vContSupported+"}
	caps := s.caps()
	if _, ok := caps.(target.SignalFilter); ok {
		f = append(f, "QPassSignals+")
	}
	f = append(f, "QProgramSignals+")
	if _, ok := caps.(target.AuxvReader); ok {
		f = append(f, "qXfer:auxv:read+")
	}
	if _, ok := caps.(target.ExecFiler); ok {
		f = append(f, "qXfer:exec-file:read+")
	}
	if _, ok := caps.(target.LibraryLister); ok {
		f = append(f, "qXfer:libraries-svr4:read+", "augmented-libraries-svr4-read+")
	}
	if _, ok := caps.(target.OSDataReader); ok {
		f = append(f, "qXfer:osdata:read+")
	}
	if _, ok := caps.(target.SiginfoAccessor); ok {
		f = append(f, "qXfer:siginfo:read+", "qXfer:siginfo:write+")
	}
	if bp, ok := caps.(target.Breakpointer); ok && bp.SupportsBreakpoint(target.BreakHardware) {
		f = append(f, "hwbreak+")
	}
	if s.opts.Launch != nil {
		f = append(f, "QStartupWithShell+", "QEnvironmentHexEncoded+", "QEnvironmentReset+",
			"QEnvironmentUnset+", "QSetWorkingDir+", "QDisableRandomization+")
	}
	if _, ok := caps.(target.ForkReporter); ok && offered["multiprocess"] {
		if offered["fork-events"] {
			f = append(f, "fork-events+")
		}
		if offered["vfork-events"] {
			f = append(f, "vfork-events+")
		}
	}
	if _, ok := caps.(target.SyscallCatcher); ok {
		f = append(f, "QCatchSyscalls+")
	}
	if _, ok := caps.(target.ConditionalBreakpointer); ok {
		f = append(f, "ConditionalBreakpoints+", "BreakpointCommands+")
	}
	if _, ok := caps.(target.NonStopper); ok {
		f = append(f, "QNonStop+")
	}
	if _, ok := caps.(target.ThreadEventReporter); ok {
		f = append(f, "QThreadEvents+")
	}
	if offered["no-resumed"] {
		f = append(f, "no-resumed+")
	}
	if offered["exec-events"] {
		f = append(f, "exec-events+")
	}
	if offered["binary-upload"] {
		f = append(f, "binary-upload+")
	}
	return f
}

// qXfer:object:read:annex:offset,length
func (s *Session) qXfer(pkt []byte) {
	parts := bytes.SplitN(pkt[len("qXfer:"):], []byte{':'}, 4)
	if len(parts) != 4 {
		s.replyString("E01")
		return
	}
	object, op, annex := string(parts[0]), string(parts[1]), string(parts[2])
	if op == "write" && object == "siginfo" {
		s.writeSiginfo(parts[3])
		return
	}
	if op != "read" {
		s.reply(nil)
		return
	}
	off, n, err := parseAddrLen(parts[3])
	if err != nil {
		s.replyString("E01")
		return
	}
	var data []byte
	switch object {
	case "features":
		if annex != "target.xml" || s.proc == nil {
			s.replyString("E01")
			return
		}
		data = s.proc.TargetXML()
	case "threads":
		if s.proc == nil {
			data = []byte("<threads>\n</threads>\n")
		} else {
			data = s.threadsXML()
		}
	case "auxv":
		if _, ok := s.caps().(target.AuxvReader); !ok {
			s.reply(nil)
			return
		}
		a, ok := s.proc.(target.AuxvReader)
		if !ok {
			s.replyString("E01")
			return
		}
		if s.proc == nil {
			s.replyString("E01")
			return
		}
		if data, err = a.Auxv(); err != nil {
			s.replyErr(err)
			return
		}
	case "exec-file":
		if _, ok := s.caps().(target.ExecFiler); !ok {
			s.reply(nil)
			return
		}
		e, ok := s.proc.(target.ExecFiler)
		if !ok {
			s.replyString("E01")
			return
		}
		if annex != "" {
			if pid, err := strconv.ParseInt(annex, 16, 64); err != nil || int(pid) != s.proc.PID() {
				s.replyString("E01")
				return
			}
		}
		if s.proc == nil {
			s.replyString("E01")
			return
		}
		path, err := e.ExecFile()
		if err != nil {
			s.replyErr(err)
			return
		}
		data = []byte(path)
	case "libraries-svr4":
		if _, ok := s.caps().(target.LibraryLister); !ok {
			s.reply(nil)
			return
		}
		if data, err = s.librariesSVR4(annex); err != nil {
			s.replyErr(err)
			return
		}
	case "siginfo":
		if data, err = s.siginfo(); err != nil {
			s.replyErr(err)
			return
		}
	default:
		s.reply(nil)
		return
	}
	s.reply(xferChunk(data, off, n))
}

// xferChunk answers one qXfer read: 'm' when more follows, 'l' at the end.
func xferChunk(data []byte, off uint64, n int) []byte {
	if off >= uint64(len(data)) {
		return []byte{'l'}
	}
	n = min(n, MaxPacket/2) // room for escapes
	rest := data[off:]
	if len(rest) <= n {
		return escapeBinary([]byte{'l'}, rest)
	}
	return escapeBinary([]byte{'m'}, rest[:n])
}

func (s *Session) threadsXML() []byte {
	var b strings.Builder
	b.WriteString("<threads>\n")
	for _, p := range s.sortedProcesses() {
		s.appendThreadsXML(&b, p)
	}
	b.WriteString("</threads>\n")
	return []byte(b.String())
}

func (s *Session) appendThreadsXML(b *strings.Builder, p target.Process) {
	info, _ := p.(target.ThreadInfoer)
	for _, t := range p.Threads() {
		fmt.Fprintf(b, `<thread id="%s"`, appendThreadID(nil, t, s.client.multiprocess))
		if info != nil {
			if c := info.ThreadCore(t); c >= 0 {
				fmt.Fprintf(b, ` core="%d"`, c)
			}
			if name := info.ThreadName(t); name != "" {
				fmt.Fprintf(b, ` name="%s"`, html.EscapeString(name))
			}
		}
		b.WriteString("/>\n")
	}
}

func (s *Session) siginfo() ([]byte, error) {
	if _, ok := s.caps().(target.SiginfoAccessor); !ok {
		return nil, target.ErrUnsupported
	}
	sa, ok := s.proc.(target.SiginfoAccessor)
	if !ok {
		return nil, target.ErrNoProcess
	}
	t, err := s.thread(s.gThread)
	if err != nil {
		return nil, err
	}
	return sa.Siginfo(t)
}

// writeSiginfo answers qXfer:siginfo:write::OFFSET:DATA (DATA binary).
func (s *Session) writeSiginfo(arg []byte) {
	offHex, raw, ok := bytes.Cut(arg, []byte{':'})
	off, err := parseHex(offHex)
	data, err2 := unescapeBinary(raw)
	if !ok || err != nil || err2 != nil {
		s.replyString("E01")
		return
	}
	cur, err := s.siginfo()
	if err != nil {
		s.replyErr(err)
		return
	}
	if off > uint64(len(cur)) {
		s.replyString("E01")
		return
	}
	n := copy(cur[off:], data)
	t, _ := s.thread(s.gThread)
	if err := s.proc.(target.SiginfoAccessor).SetSiginfo(t, cur); err != nil {
		s.replyErr(err)
		return
	}
	s.reply(strconv.AppendInt(nil, int64(n), 16))
}

// librariesSVR4 builds the library list; the annex may ask to start at a
// link_map entry (start=ADDR;prev=ADDR, gdb's incremental update).
func (s *Session) librariesSVR4(annex string) ([]byte, error) {
	ll, ok := s.proc.(target.LibraryLister)
	if !ok {
		return nil, target.ErrNoProcess
	}
	var start uint64
	for _, kv := range strings.Split(annex, ";") {
		if k, v, ok := strings.Cut(kv, "="); ok && k == "start" {
			n, err := strconv.ParseUint(strings.TrimPrefix(v, "0x"), 16, 64)
			if err != nil {
				return nil, fmt.Errorf("bad annex %q", annex)
			}
			start = n
		}
	}
	libs, mainLM, err := ll.Libraries(start)
	if err != nil && len(libs) == 0 && mainLM == 0 {
		return nil, err
	}
	var b strings.Builder
	b.WriteString(`<library-list-svr4 version="1.0"`)
	if mainLM != 0 {
		fmt.Fprintf(&b, ` main-lm="0x%x"`, mainLM)
	}
	b.WriteString(">")
	for _, l := range libs {
		fmt.Fprintf(&b, `<library name="%s" lm="0x%x" l_addr="0x%x" l_ld="0x%x" lmid="0x%x"/>`,
			html.EscapeString(l.Name), l.LM, l.Addr, l.LD, l.Lmid)
	}
	b.WriteString("</library-list-svr4>")
	return []byte(b.String()), nil
}
