package dwarf

import (
	"cmp"
	"debug/dwarf"
	"debug/elf"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// symbol is an ELF symbol (or a synthetic name@plt one) as gdb's minimal
// symbols: defined, named, in an allocated section.
type symbol struct {
	name       string
	addr, size uint64
	secAddr    uint64 // address of the section the symbol belongs to
	typ        elf.SymType
	global     bool
}

func (o *Object) readSymbols() error {
	add := func(f *elf.File, syms []elf.Symbol) {
		for _, s := range syms {
			typ := elf.ST_TYPE(s.Info)
			if s.Name == "" || typ == elf.STT_SECTION || typ == elf.STT_FILE || typ == elf.STT_TLS ||
				s.Section == elf.SHN_UNDEF || s.Section >= elf.SHN_LORESERVE || int(s.Section) >= len(f.Sections) {
				continue
			}
			sec := f.Sections[s.Section]
			if sec.Flags&elf.SHF_ALLOC == 0 {
				continue
			}
			if len(s.Name) > 2 && s.Name[0] == '.' && s.Name[1] == 'L' {
				continue
			}
			o.syms = append(o.syms, symbol{
				name: s.Name, addr: s.Value, size: s.Size, secAddr: sec.Addr, typ: typ,
				global: elf.ST_BIND(s.Info) != elf.STB_LOCAL,
			})
		}
	}
	syms, err := o.file.Symbols()
	switch {
	case err == nil:
		add(o.file, syms)
	case errors.Is(err, elf.ErrNoSymbols):
		if o.dbgFile != nil {
			if syms, err := o.dbgFile.Symbols(); err == nil {
				add(o.dbgFile, syms)
			}
		}
	default:
		return fmt.Errorf("%s: reading .symtab: %w", o.path, err)
	}
	dyn, err := o.file.DynamicSymbols()
	if err != nil && !errors.Is(err, elf.ErrNoSymbols) {
		return fmt.Errorf("%s: reading .dynsym: %w", o.path, err)
	}
	add(o.file, dyn)
	o.addPLTSymbols(dyn)

	slices.SortFunc(o.syms, func(a, b symbol) int {
		if c := cmp.Compare(a.addr, b.addr); c != 0 {
			return c
		}
		return cmp.Compare(a.name, b.name)
	})
	o.syms = slices.CompactFunc(o.syms, func(a, b symbol) bool {
		return a.addr == b.addr && a.name == b.name && a.secAddr == b.secAddr
	})
	return nil
}

// addPLTSymbols names x86-64 PLT entries name@plt, as BFD's synthetic
// symbols do: each entry's `jmp *GOT(%rip)` is matched with the dynamic
// relocation of that GOT slot.
func (o *Object) addPLTSymbols(dyn []elf.Symbol) {
	f := o.file
	if f.Machine != elf.EM_X86_64 || f.Class != elf.ELFCLASS64 {
		return
	}
	got := map[uint64]string{}
	for _, rs := range []string{".rela.plt", ".rela.dyn"} {
		s := f.Section(rs)
		if s == nil || s.Type != elf.SHT_RELA {
			continue
		}
		b, err := s.Data()
		if err != nil {
			continue
		}
		for ; len(b) >= 24; b = b[24:] {
			off := f.ByteOrder.Uint64(b)
			info := f.ByteOrder.Uint64(b[8:])
			typ := elf.R_X86_64(info & 0xffffffff)
			si := int(info >> 32)
			if (typ == elf.R_X86_64_JMP_SLOT || typ == elf.R_X86_64_GLOB_DAT) && si >= 1 && si-1 < len(dyn) && dyn[si-1].Name != "" {
				got[off] = dyn[si-1].Name
			}
		}
	}
	if len(got) == 0 {
		return
	}
	for _, name := range []string{".plt", ".plt.sec", ".plt.got"} {
		s := f.Section(name)
		if s == nil || s.Type != elf.SHT_PROGBITS {
			continue
		}
		b, err := s.Data()
		if err != nil {
			continue
		}
		stride := 16
		if name == ".plt.got" && !(len(b) >= 4 && b[0] == 0xf3 && b[1] == 0x0f && b[2] == 0x1e && b[3] == 0xfa) {
			stride = 8
		}
		for off := 0; off+stride <= len(b); off += stride {
			e := b[off : off+stride]
			for k := 0; k+6 <= len(e) && k <= 6; k++ {
				if e[k] != 0xff || e[k+1] != 0x25 {
					continue
				}
				disp := int32(f.ByteOrder.Uint32(e[k+2:]))
				target := s.Addr + uint64(off+k+6) + uint64(int64(disp))
				if n, ok := got[target]; ok {
					o.syms = append(o.syms, symbol{name: n + "@plt", addr: s.Addr + uint64(off), size: uint64(stride), secAddr: s.Addr, typ: elf.STT_FUNC})
				}
				break
			}
		}
	}
}

// Symbol returns the ELF symbol (from .symtab, .dynsym, or a name@plt
// entry) that contains the file address pc and pc's offset into it, choosing
// as gdb's `info symbol` does: the closest preceding symbol of the same
// section, preferring one with a size that covers pc, else the nearest
// zero-sized one.
func (o *Object) Symbol(pc uint64) (name string, offset uint64, ok bool) {
	s, ok := o.symbolAt(pc)
	if !ok {
		return "", 0, false
	}
	return gdbSymName(s.name), pc - s.addr, true
}

// gdbSymName shows a symbol name as gdb does: GCC's numbered suffixes of
// local clones and statics dropped ("calls.1" -> "calls",
// "g.constprop.0" -> "g.constprop") and a cold part marked
// ("g.constprop.0.cold" -> "g.constprop[cold]").
func gdbSymName(n string) string {
	cold := false
	if len(n) > 5 && strings.HasSuffix(n, ".cold") {
		n, cold = n[:len(n)-5], true
	}
	if i := strings.LastIndexByte(n, '.'); i > 0 && i < len(n)-1 && strings.Trim(n[i+1:], "0123456789") == "" {
		n = n[:i]
	}
	if cold {
		n += "[cold]"
	}
	return n
}

func (o *Object) symbolAt(pc uint64) (symbol, bool) {
	sec, ok := o.sectionAt(pc)
	if !ok {
		return symbol{}, false
	}
	hi := sort.Search(len(o.syms), func(i int) bool { return o.syms[i].addr > pc }) - 1
	bestZero := -1
	for hi >= 0 {
		s := o.syms[hi]
		if s.addr < sec.addr {
			hi = -1
			break
		}
		if s.secAddr != sec.addr {
			hi--
			continue
		}
		if s.size == 0 {
			if bestZero < 0 {
				bestZero = hi
			}
			hi--
			continue
		}
		break
	}
	if bestZero >= 0 && (hi < 0 || o.syms[hi].size == 0) {
		hi = bestZero
	}
	if hi >= 0 && o.syms[hi].size != 0 && pc >= o.syms[hi].addr+o.syms[hi].size {
		if bestZero < 0 {
			return symbol{}, false
		}
		hi = bestZero
	}
	if hi < 0 {
		return symbol{}, false
	}
	return o.syms[hi], true
}

// symbolByName finds a defined symbol, preferring global ones.
func (o *Object) symbolByName(name string, funcOnly bool) (symbol, bool) {
	var best symbol
	found := false
	for _, s := range o.syms {
		if s.name != name || funcOnly && s.typ != elf.STT_FUNC && s.typ != elf.STT_GNU_IFUNC {
			continue
		}
		if !found || s.global && !best.global {
			best, found = s, true
		}
	}
	return best, found
}

// Global returns the file address and size in bytes of the named global
// (or file-static) variable, from its DW_AT_location (DW_OP_addr) and the
// size of its type. Without a DWARF description, a data symbol of that name
// gives its address and st_size.
func (o *Object) Global(name string) (addr uint64, size int64, err error) {
	var v *variable
	for i := range o.vars[name] {
		c := &o.vars[name][i]
		if v == nil || c.external && !v.external {
			v = c
		}
	}
	if v != nil {
		if v.tls {
			return 0, 0, fmt.Errorf("%s is a thread-local variable at offset 0x%x of the TLS block of %s", name, v.addr, o.path)
		}
		size := int64(-1)
		if v.hasType {
			size, err = o.typeSize(v.typ)
			if err != nil {
				return 0, 0, fmt.Errorf("type of %s in %s: %w", name, o.dwarfPath(), err)
			}
		}
		if size < 0 {
			if s, ok := o.symbolByName(name, false); ok && s.addr == v.addr {
				size = int64(s.size)
			}
		}
		return v.addr, size, nil
	}
	if s, ok := o.symbolByName(name, false); ok && s.typ != elf.STT_FUNC && s.typ != elf.STT_GNU_IFUNC {
		return s.addr, int64(s.size), nil
	}
	if o.dw == nil {
		return 0, 0, o.noDebug()
	}
	return 0, 0, notFound("no global variable %s in %s", name, o.path)
}

func (o *Object) typeSize(off dwarf.Offset) (size int64, err error) {
	o.typeMu.Lock()
	defer o.typeMu.Unlock()
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("corrupt type information: %v", p)
		}
	}()
	t, err := o.dw.Type(off)
	if err != nil {
		return 0, err
	}
	return t.Size(), nil
}

// nearestFuncSymbol names code the way BFD (addr2line) does when no debug
// info covers it: the function or untyped symbol of pc's section that
// contains pc, else the closest one before pc.
func (o *Object) nearestFuncSymbol(pc uint64) (symbol, bool) {
	sec, ok := o.sectionAt(pc)
	if !ok {
		return symbol{}, false
	}
	hi := sort.Search(len(o.syms), func(i int) bool { return o.syms[i].addr > pc }) - 1
	var nearest symbol
	found := false
	for i := hi; i >= 0 && o.syms[i].addr >= sec.addr; i-- {
		s := o.syms[i]
		if s.secAddr != sec.addr || s.typ != elf.STT_FUNC && s.typ != elf.STT_NOTYPE && s.typ != elf.STT_GNU_IFUNC {
			continue
		}
		if pc < s.addr+s.size {
			return s, true
		}
		if !found {
			nearest, found = s, true
		}
		if hi-i > 64 {
			break
		}
	}
	return nearest, found
}
