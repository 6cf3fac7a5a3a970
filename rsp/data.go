package rsp

import (
	"bytes"
	"errors"

	"github.com/gostub/gostub/target"
)

// Registers and memory: g G p P m M X x.

// regThread strips LLDB's ";thread:TID;" suffix (QThreadSuffixSupported)
// from a register packet and returns the thread it names, or the Hg one.
func (s *Session) regThread(pkt []byte) ([]byte, target.ThreadID, error) {
	sel := s.gThread
	if i := bytes.Index(pkt, []byte(";thread:")); i >= 0 {
		tid := bytes.TrimSuffix(pkt[i+len(";thread:"):], []byte{';'})
		var err error
		if sel, err = parseSelector(tid); err != nil {
			return nil, target.ThreadID{}, err
		}
		pkt = pkt[:i]
	}
	t, err := s.thread(sel)
	return pkt, t, err
}

func (s *Session) readRegisters(pkt []byte) {
	pkt, t, err := s.regThread(pkt)
	if err != nil {
		s.replyErr(err)
		return
	}
	if len(pkt) != 1 {
		s.replyString("E01")
		return
	}
	block, avail, err := s.proc.ReadRegisters(t)
	if err != nil {
		s.replyErr(err)
		return
	}
	s.reply(s.appendRegisterBlock(make([]byte, 0, 2*len(block)), block, avail))
}

// appendRegisterBlock writes the 'g' reply: hex per register, "xx" for each
// byte of a register whose value is unknown.
func (s *Session) appendRegisterBlock(dst, block []byte, avail []bool) []byte {
	if avail == nil {
		return appendHex(dst, block)
	}
	layout := s.proc.RegisterSizes()
	off := 0
	for i, size := range layout {
		if off+size > len(block) {
			break
		}
		if i < len(avail) && !avail[i] {
			for k := 0; k < size; k++ {
				dst = append(dst, 'x', 'x')
			}
		} else {
			dst = appendHex(dst, block[off:off+size])
		}
		off += size
	}
	return appendHex(dst, block[off:])
}

func (s *Session) writeRegisters(pkt []byte) {
	pkt, t, err := s.regThread(pkt)
	if err != nil {
		s.replyErr(err)
		return
	}
	block, err := decodeHex(pkt[1:])
	if err != nil || len(block) != s.proc.RegistersSize() {
		s.replyString("E01")
		return
	}
	if err := s.proc.WriteRegisters(t, block); err != nil {
		s.replyErr(err)
		return
	}
	s.replyString("OK")
}

func (s *Session) readRegister(pkt []byte) {
	pkt, t, err := s.regThread(pkt)
	if err != nil {
		s.replyErr(err)
		return
	}
	n, err := parseHexInt(pkt[1:])
	if err != nil {
		s.replyString("E01")
		return
	}
	v, err := s.proc.ReadRegister(t, n)
	if err != nil {
		if errors.Is(err, target.ErrUnsupported) {
			s.replyString("E01")
			return
		}
		s.replyErr(err)
		return
	}
	s.reply(appendHex(nil, v))
}

func (s *Session) writeRegister(pkt []byte) {
	pkt, t, err := s.regThread(pkt)
	if err != nil {
		s.replyErr(err)
		return
	}
	num, val, ok := bytes.Cut(pkt[1:], []byte{'='})
	if !ok {
		s.replyString("E01")
		return
	}
	n, err := parseHexInt(num)
	if err != nil {
		s.replyString("E01")
		return
	}
	v, err := decodeHex(val)
	if err != nil {
		s.replyString("E01")
		return
	}
	if err := s.proc.WriteRegister(t, n, v); err != nil {
		s.replyString("E01")
		return
	}
	s.replyString("OK")
}

// parseAddrLen parses "ADDR,LEN" (hex).
func parseAddrLen(b []byte) (addr uint64, n int, err error) {
	a, l, ok := bytes.Cut(b, []byte{','})
	if !ok {
		return 0, 0, errBadHex
	}
	if addr, err = parseHex(a); err != nil {
		return 0, 0, err
	}
	v, err := parseHex(l)
	if err != nil || v > 1<<30 {
		return 0, 0, errBadHex
	}
	return addr, int(v), nil
}

// maxRead bounds a memory read so its reply fits in one packet.
func maxRead(hex bool) int {
	if hex {
		return MaxPacket / 2
	}
	return MaxPacket - 1
}

func (s *Session) readMemory(pkt []byte) {
	addr, n, err := parseAddrLen(pkt[1:])
	if err != nil {
		s.replyString("E01")
		return
	}
	if s.proc == nil {
		s.replyString("E01")
		return
	}
	if n == 0 {
		s.reply(nil)
		return
	}
	n = min(n, maxRead(true))
	buf := make([]byte, n)
	if err := s.proc.ReadMemory(addr, buf); err != nil {
		s.replyString("E01")
		return
	}
	s.reply(appendHex(make([]byte, 0, 2*n), buf))
}

// readMemoryBinary answers 'x'. gdb (which offers binary-upload+) wants the
// data behind a 'b'; LLDB's older form is the bare data.
func (s *Session) readMemoryBinary(pkt []byte) {
	addr, n, err := parseAddrLen(pkt[1:])
	if err != nil || s.proc == nil {
		s.replyString("E01")
		return
	}
	var out []byte
	if s.client.binaryUpload {
		out = append(out, 'b')
	}
	if n == 0 {
		if !s.client.binaryUpload {
			out = []byte("OK")
		}
		s.reply(out)
		return
	}
	// Escaping can double the size.
	n = min(n, maxRead(true))
	buf := make([]byte, n)
	if err := s.proc.ReadMemory(addr, buf); err != nil {
		s.replyString("E01")
		return
	}
	s.reply(escapeBinary(out, buf))
}

func (s *Session) writeMemoryHex(pkt []byte) {
	head, data, ok := bytes.Cut(pkt[1:], []byte{':'})
	if !ok {
		s.replyString("E01")
		return
	}
	addr, n, err := parseAddrLen(head)
	if err != nil {
		s.replyString("E01")
		return
	}
	b, err := decodeHex(data)
	if err != nil || len(b) != n {
		s.replyString("E01")
		return
	}
	s.writeMemory(addr, b)
}

func (s *Session) writeMemoryBinary(pkt []byte) {
	head, data, ok := bytes.Cut(pkt[1:], []byte{':'})
	if !ok {
		s.replyString("E01")
		return
	}
	addr, n, err := parseAddrLen(head)
	if err != nil {
		s.replyString("E01")
		return
	}
	b, err := unescapeBinary(data)
	if err != nil || len(b) != n {
		s.replyString("E01")
		return
	}
	s.writeMemory(addr, b)
}

func (s *Session) writeMemory(addr uint64, b []byte) {
	if s.proc == nil {
		s.replyString("E01")
		return
	}
	if len(b) == 0 {
		// gdb probes for X support with a zero-length write.
		s.replyString("OK")
		return
	}
	if err := s.proc.WriteMemory(addr, b); err != nil {
		s.replyString("E01")
		return
	}
	s.replyString("OK")
}

// Z and z: Ztype,addr,kind[;cond...]
func (s *Session) insertPoint(pkt []byte) { s.point(pkt, true) }
func (s *Session) removePoint(pkt []byte) { s.point(pkt, false) }

func (s *Session) point(pkt []byte, insert bool) {
	if _, ok := s.caps().(target.Breakpointer); !ok || len(pkt) < 2 {
		s.reply(nil)
		return
	}
	bp, ok := s.proc.(target.Breakpointer)
	if !ok {
		s.replyString("E01")
		return
	}
	kinds := map[byte]target.BreakpointKind{
		'0': target.BreakSoftware, '1': target.BreakHardware,
		'2': target.WatchWrite, '3': target.WatchRead, '4': target.WatchAccess,
	}
	kind, ok := kinds[pkt[1]]
	if !ok || !bp.SupportsBreakpoint(kind) {
		s.reply(nil)
		return
	}
	if len(pkt) < 3 || pkt[2] != ',' {
		s.replyString("E01")
		return
	}
	spec := pkt[3:]
	var extras []byte
	if i := bytes.IndexByte(spec, ';'); i >= 0 {
		spec, extras = spec[:i], spec[i:]
	}
	addr, size, err := parseAddrLen(spec)
	if err != nil || s.proc == nil {
		s.replyString("E01")
		return
	}
	cb, conditional := s.proc.(target.ConditionalBreakpointer)
	switch {
	case insert && len(extras) > 0 && conditional:
		err = cb.InsertBreakpointWith(kind, addr, size, extras)
	case insert:
		err = bp.InsertBreakpoint(kind, addr, size)
	default:
		err = bp.RemoveBreakpoint(kind, addr, size)
	}
	if err != nil {
		s.replyErr(err)
		return
	}
	s.replyString("OK")
}
