package linux

import (
	"encoding/binary"
	"fmt"

	"github.com/gostub/gostub/target"
)

// The dynamic linker's list of loaded objects (r_debug / link_map), read
// from the process's memory, for qXfer:libraries-svr4:read.

const (
	atPHDR   = 3
	atPHNUM  = 5
	ptDyn    = 2
	ptPHDR   = 6
	dtNull   = 0
	dtDebug  = 21
	maxLinks = 10000 // a corrupt list must not loop forever
)

// rDebug finds r_debug through the program's DT_DEBUG; 0 when the dynamic
// linker has not filled it in yet (or the program is static).
func (p *Process) rDebug() (uint64, error) {
	auxv, err := p.Auxv()
	if err != nil {
		return 0, err
	}
	var phdr, phnum uint64
	for i := 0; i+16 <= len(auxv); i += 16 {
		switch binary.LittleEndian.Uint64(auxv[i:]) {
		case atPHDR:
			phdr = binary.LittleEndian.Uint64(auxv[i+8:])
		case atPHNUM:
			phnum = binary.LittleEndian.Uint64(auxv[i+8:])
		}
	}
	if phdr == 0 || phnum == 0 || phnum > 256 {
		return 0, nil
	}
	headers := make([]byte, 56*phnum)
	if err := p.ReadMemory(phdr, headers); err != nil {
		return 0, fmt.Errorf("read program headers: %w", err)
	}
	var bias, dynVaddr uint64
	haveDyn := false
	for i := uint64(0); i < phnum; i++ {
		h := headers[56*i:]
		switch binary.LittleEndian.Uint32(h) {
		case ptPHDR:
			bias = phdr - binary.LittleEndian.Uint64(h[16:])
		case ptDyn:
			dynVaddr, haveDyn = binary.LittleEndian.Uint64(h[16:]), true
		}
	}
	if !haveDyn {
		return 0, nil
	}
	var entry [16]byte
	for a := bias + dynVaddr; ; a += 16 {
		if err := p.ReadMemory(a, entry[:]); err != nil {
			return 0, fmt.Errorf("read dynamic section: %w", err)
		}
		switch binary.LittleEndian.Uint64(entry[:]) {
		case dtNull:
			return 0, nil
		case dtDebug:
			return binary.LittleEndian.Uint64(entry[8:]), nil
		}
	}
}

// Libraries walks the link_map list. start, when not 0, is where to begin
// (gdb's incremental reads); mainLM is the program's own entry.
func (p *Process) Libraries(start uint64) (libs []target.Library, mainLM uint64, err error) {
	if p.exited {
		return nil, 0, target.ErrNoProcess
	}
	rd, err := p.rDebug()
	if err != nil || rd == 0 {
		return nil, 0, err
	}
	lm := start
	if lm == 0 {
		var r [16]byte
		if err := p.ReadMemory(rd, r[:]); err != nil {
			return nil, 0, fmt.Errorf("read r_debug: %w", err)
		}
		lm = binary.LittleEndian.Uint64(r[8:])
		mainLM = lm
	}
	var l [40]byte
	for n := 0; lm != 0 && n < maxLinks; n++ {
		if err := p.ReadMemory(lm, l[:]); err != nil {
			return libs, mainLM, fmt.Errorf("read link_map at %#x: %w", lm, err)
		}
		lib := target.Library{LM: lm, Lmid: rd, Addr: binary.LittleEndian.Uint64(l[0:]), LD: binary.LittleEndian.Uint64(l[16:])}
		lib.Name = p.readString(binary.LittleEndian.Uint64(l[8:]), 4096)
		if lm != mainLM {
			libs = append(libs, lib)
		}
		lm = binary.LittleEndian.Uint64(l[24:])
	}
	return libs, mainLM, nil
}

// readString reads a NUL-terminated string of at most max bytes.
func (p *Process) readString(addr uint64, max int) string {
	if addr == 0 {
		return ""
	}
	var out []byte
	buf := make([]byte, 64)
	for len(out) < max {
		// Stay within one page so an unmapped neighbour does not fail the read.
		n := min(len(buf), int(0x1000-(addr&0xfff)))
		if err := p.ReadMemory(addr, buf[:n]); err != nil {
			break
		}
		for _, c := range buf[:n] {
			if c == 0 {
				return string(out)
			}
			out = append(out, c)
		}
		addr += uint64(n)
	}
	return string(out)
}
