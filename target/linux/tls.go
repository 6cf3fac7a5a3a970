package linux

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/gostub/gostub/target"
)

// Thread-local storage, found the way libthread_db finds it but without it:
// the module id from the link_map (its offset described by the dynamic
// linker's _thread_db_link_map_l_tls_modid, which the client looks up for
// us), then the thread's DTV through its thread pointer (fs_base).

const (
	modidSymbol    = "_thread_db_link_map_l_tls_modid"
	gprFSBase      = 21 * 8 // fs_base in user_regs_struct
	dtvOffset      = 8      // tcbhead_t.dtv
	dtvEntrySize   = 16     // union dtv: {void *val; void *to_free}
	dtvUnallocated = ^uint64(0)
)

// WantedSymbols lists what we still need from the client.
func (p *Process) WantedSymbols() []string {
	if p.modidDesc == 0 {
		return []string{modidSymbol}
	}
	return nil
}

// SetSymbol records an answer of the qSymbol conversation.
func (p *Process) SetSymbol(name string, addr uint64, found bool) {
	if name == modidSymbol && found {
		p.modidDesc = addr
	}
}

// TLSAddress resolves offset in the TLS block of module lm for a thread.
func (p *Process) TLSAddress(id target.ThreadID, offset, lm uint64) (addr uint64, err error) {
	modid, err := p.tlsModid(lm)
	if err != nil {
		return 0, err
	}
	var fsBase uint64
	if !p.tr.do(func() {
		var t *thread
		if t, err = p.thread(id); err != nil {
			return
		}
		if err = p.loadGPR(t); err != nil {
			return
		}
		fsBase = le64(t.gpr[gprFSBase:])
	}) {
		return 0, target.ErrNoProcess
	}
	if err != nil {
		return 0, err
	}
	var word [8]byte
	if err := p.ReadMemory(fsBase+dtvOffset, word[:]); err != nil {
		return 0, fmt.Errorf("read DTV pointer: %w", err)
	}
	dtv := binary.LittleEndian.Uint64(word[:])
	if err := p.ReadMemory(dtv+dtvEntrySize*modid, word[:]); err != nil {
		return 0, fmt.Errorf("read DTV entry %d: %w", modid, err)
	}
	block := binary.LittleEndian.Uint64(word[:])
	if block == dtvUnallocated || block == 0 {
		return 0, errors.New("TLS block not allocated yet")
	}
	return block + offset, nil
}

// tlsModid reads l_tls_modid of a link_map entry. A client that finds
// no link_map (a static executable) asks with lm 0: the executable's TLS
// is module 1, as it always is.
func (p *Process) tlsModid(lm uint64) (uint64, error) {
	if lm == 0 {
		return 1, nil
	}
	if p.modidDesc == 0 {
		return 0, errors.New("layout of link_map unknown (no " + modidSymbol + ")")
	}
	var desc [12]byte // {size in bits, count, offset}
	if err := p.ReadMemory(p.modidDesc, desc[:]); err != nil {
		return 0, fmt.Errorf("read %s: %w", modidSymbol, err)
	}
	bits := binary.LittleEndian.Uint32(desc[0:])
	off := binary.LittleEndian.Uint32(desc[8:])
	buf := make([]byte, 8)
	n := int(bits / 8)
	if n <= 0 || n > 8 {
		return 0, fmt.Errorf("odd l_tls_modid size %d bits", bits)
	}
	if err := p.ReadMemory(lm+uint64(off), buf[:n]); err != nil {
		return 0, fmt.Errorf("read l_tls_modid: %w", err)
	}
	return binary.LittleEndian.Uint64(buf), nil
}
