package rsp

import (
	"bytes"
	"strconv"

	"github.com/gostub/gostub/target"
)

// qSymbol (the stub asks the client for symbol addresses) and qGetTLSAddr.

func init() {
	register(
		route{"qSymbol:", (*Session).qSymbol},
		route{"qGetTLSAddr:", (*Session).getTLSAddr},
	)
}

// qSymbol:: starts the conversation; qSymbol:ADDR:NAME (or qSymbol::NAME,
// unknown) answers our last question. We ask each wanted symbol once per
// conversation, then say OK.
func (s *Session) qSymbol(pkt []byte) {
	su, ok := s.proc.(target.SymbolUser)
	if !ok {
		s.replyString("OK")
		return
	}
	value, name, _ := bytes.Cut(pkt[len("qSymbol:"):], []byte{':'})
	if len(name) == 0 {
		s.symAsked = map[string]bool{}
	} else if n, err := decodeHex(name); err == nil {
		addr, err := parseHex(value)
		su.SetSymbol(string(n), addr, err == nil && len(value) > 0)
	}
	for _, want := range su.WantedSymbols() {
		if s.symAsked[want] {
			continue
		}
		if s.symAsked == nil {
			s.symAsked = map[string]bool{}
		}
		s.symAsked[want] = true
		s.reply(appendHex([]byte("qSymbol:"), []byte(want)))
		return
	}
	s.replyString("OK")
}

// qGetTLSAddr:THREAD,OFFSET,LM -> address
func (s *Session) getTLSAddr(pkt []byte) {
	tl, ok := s.proc.(target.TLSLocator)
	if !ok {
		s.reply(nil)
		return
	}
	parts := bytes.Split(pkt[len("qGetTLSAddr:"):], []byte{','})
	if len(parts) != 3 {
		s.replyString("E01")
		return
	}
	sel, err := parseSelector(parts[0])
	off, err2 := parseHex(parts[1])
	lm, err3 := parseHex(parts[2])
	if err != nil || err2 != nil || err3 != nil {
		s.replyString("E01")
		return
	}
	t, err := s.thread(sel)
	if err != nil {
		s.replyErr(err)
		return
	}
	addr, err := tl.TLSAddress(t, off, lm)
	if err != nil {
		s.replyString("E01")
		return
	}
	s.reply(strconv.AppendUint(nil, addr, 16))
}
