package rsp

import (
	"bytes"
	"sync"

	"github.com/gostub/gostub/target"
)

// qXfer:osdata:read::ANNEX:OFFSET,LENGTH answers gdb's `info os`. Like
// gdbserver, a read at offset 0 takes a snapshot that later offsets of the
// same annex are served from, so the document stays consistent across
// chunks; an unknown annex reads as empty ("l"), which gdb reports as
// "Empty data returned by target. Wrong osdata type?".

func init() {
	register(route{"qXfer:osdata:", (*Session).osdata})
}

type osdataSnap struct {
	annex string
	data  []byte
}

// osdataSnaps holds each session's current snapshot (a session cannot carry
// it in a field here); it is dropped with the last chunk.
var (
	osdataMu    sync.Mutex
	osdataSnaps = map[*Session]osdataSnap{}
)

func (s *Session) osdata(pkt []byte) {
	rest, ok := bytes.CutPrefix(pkt, []byte("qXfer:osdata:read:"))
	if !ok {
		s.reply(nil) // only reads exist
		return
	}
	r, isReader := s.caps().(target.OSDataReader)
	if !isReader {
		s.reply(nil)
		return
	}
	i := bytes.LastIndexByte(rest, ':')
	if i < 0 {
		s.replyString("E01")
		return
	}
	annex := string(rest[:i])
	off, n, err := parseAddrLen(rest[i+1:])
	if err != nil {
		s.replyString("E01")
		return
	}
	osdataMu.Lock()
	snap, cached := osdataSnaps[s]
	osdataMu.Unlock()
	if off == 0 || !cached || snap.annex != annex {
		data, err := r.OSData(annex)
		if err != nil {
			s.replyString("E01")
			return
		}
		snap = osdataSnap{annex: annex, data: data}
	}
	chunk := xferChunk(snap.data, off, n)
	osdataMu.Lock()
	if chunk[0] == 'l' {
		delete(osdataSnaps, s) // gdb asks no further after the last chunk
	} else {
		osdataSnaps[s] = snap
	}
	osdataMu.Unlock()
	s.reply(chunk)
}
