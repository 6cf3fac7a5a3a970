package dwarf

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sort"
)

// Space is the set of objects loaded in a process, each with its load bias
// (run-time address = file address + bias).
type Space struct {
	entries []*spaceEntry // sorted by lo
	owned   []*Object     // opened by SpaceFromProcess, closed by Close
	errs    []error
}

type spaceEntry struct {
	obj    *Object
	bias   uint64
	path   string
	lo, hi uint64 // run-time extent of the PT_LOAD segments
}

// NewSpace returns an empty Space.
func NewSpace() *Space { return &Space{} }

// Add records that o is loaded at bias. path names it in frames (for
// example the library path from the link map).
func (s *Space) Add(o *Object, bias uint64, path string) {
	if path == "" {
		path = o.path
	}
	e := &spaceEntry{obj: o, bias: bias, path: path}
	first := true
	for _, seg := range o.loads {
		if seg.memsz == 0 {
			continue
		}
		lo, hi := seg.vaddr+bias, seg.vaddr+bias+seg.memsz
		if first || lo < e.lo {
			e.lo = lo
		}
		if first || hi > e.hi {
			e.hi = hi
		}
		first = false
	}
	if first {
		return // nothing loadable
	}
	i := sort.Search(len(s.entries), func(i int) bool { return s.entries[i].lo > e.lo })
	s.entries = slices.Insert(s.entries, i, e)
}

// Lookup returns the object whose loaded segments contain the run-time
// address pc, and its bias.
func (s *Space) Lookup(pc uint64) (*Object, uint64, bool) {
	e, ok := s.lookup(pc)
	if !ok {
		return nil, 0, false
	}
	return e.obj, e.bias, true
}

func (s *Space) lookup(pc uint64) (*spaceEntry, bool) {
	i := sort.Search(len(s.entries), func(i int) bool { return s.entries[i].lo > pc }) - 1
	// Objects do not overlap; a few candidates cover interleaved ones.
	for j := i; j >= 0 && j > i-4; j-- {
		e := s.entries[j]
		if pc < e.hi && e.obj.Contains(pc-e.bias) {
			return e, true
		}
	}
	return nil, false
}

// PCToLine answers Object.PCToLine for a run-time address.
func (s *Space) PCToLine(pc uint64) (Location, error) {
	e, ok := s.lookup(pc)
	if !ok {
		return Location{}, &AddressError{Addr: pc}
	}
	return e.obj.PCToLine(pc - e.bias)
}

// SpaceObject describes one object of a Space.
type SpaceObject struct {
	Object *Object
	Path   string
	Bias   uint64
}

// Objects lists the objects in address order.
func (s *Space) Objects() []SpaceObject {
	out := make([]SpaceObject, len(s.entries))
	for i, e := range s.entries {
		out[i] = SpaceObject{e.obj, e.path, e.bias}
	}
	return out
}

// Errors returns the problems SpaceFromProcess met with libraries it could
// not load (they are left out of the space).
func (s *Space) Errors() []error { return s.errs }

// Close closes the objects that SpaceFromProcess opened.
func (s *Space) Close() error {
	var errs []error
	for _, o := range s.owned {
		errs = append(errs, o.Close())
	}
	s.owned = nil
	return errors.Join(errs...)
}

// Auxiliary vector entries.
const (
	atNull        = 0
	atPhdr        = 3
	atBase        = 7
	atEntry       = 9
	atSysinfoEhdr = 33
)

// ParseAuxv decodes an auxiliary vector (/proc/PID/auxv, qXfer:auxv) of
// words of ptrSize bytes into type -> value.
func ParseAuxv(auxv []byte, order binary.ByteOrder, ptrSize int) map[uint64]uint64 {
	m := map[uint64]uint64{}
	c := &cursor{b: auxv, order: order}
	for c.left() >= 2*ptrSize {
		t := c.addr(ptrSize)
		v := c.addr(ptrSize)
		if t == atNull {
			break
		}
		m[t] = v
	}
	return m
}

// SpaceFromProcess builds the Space of a live (stopped) process: the main
// program exe at the bias its auxv gives (AT_PHDR against the ELF's
// PT_PHDR, or AT_ENTRY against its entry point), then every shared library
// of the dynamic linker's list, found through the main program's DT_DEBUG
// entry -> r_debug -> link_map, all read through mem. Before the dynamic
// linker has filled DT_DEBUG (at the exec stop) the space holds the main
// program, the interpreter (AT_BASE) and the vDSO. Libraries that cannot be
// opened are skipped and reported by Space.Errors. The vDSO is read from
// memory. Close the space to close the objects it opened.
func SpaceFromProcess(exe string, auxv []byte, mem Memory) (*Space, error) {
	o, err := Open(exe)
	if err != nil {
		return nil, err
	}
	s := NewSpace()
	s.owned = append(s.owned, o)
	av := ParseAuxv(auxv, o.order, o.ptrSize)
	bias := uint64(0)
	if phdr, ok := av[atPhdr]; ok && phdrVaddr(o) != 0 {
		bias = phdr - phdrVaddr(o)
	} else if entry, ok := av[atEntry]; ok {
		bias = entry - o.entry
	}
	s.Add(o, bias, exe)

	maps, err := linkMap(o, bias, mem)
	if err != nil {
		s.errs = append(s.errs, err)
	}
	sawInterp := false
	for _, lm := range maps {
		if lm.name == "" {
			continue // the main program
		}
		if lm.name == "linux-vdso.so.1" || lm.name == "linux-gate.so.1" {
			continue // loaded from memory below
		}
		lo, err := Open(lm.name)
		if err != nil {
			s.errs = append(s.errs, fmt.Errorf("library %s: %w", lm.name, err))
			continue
		}
		s.owned = append(s.owned, lo)
		s.Add(lo, lm.addr, lm.name)
		if lm.name == o.interp {
			sawInterp = true
		}
	}
	if base, ok := av[atBase]; ok && base != 0 && o.interp != "" && !sawInterp && len(maps) == 0 {
		if ip, err := Open(o.interp); err == nil {
			s.owned = append(s.owned, ip)
			s.Add(ip, base-firstLoad(ip), o.interp)
		} else {
			s.errs = append(s.errs, fmt.Errorf("interpreter %s: %w", o.interp, err))
		}
	}
	if vdso, ok := av[atSysinfoEhdr]; ok && vdso != 0 {
		if vo, err := vdsoFromMemory(vdso, mem); err == nil {
			s.owned = append(s.owned, vo)
			s.Add(vo, vdso-firstLoad(vo), "[vdso]")
		} else {
			s.errs = append(s.errs, fmt.Errorf("vdso at 0x%x: %w", vdso, err))
		}
	}
	return s, nil
}

func phdrVaddr(o *Object) uint64 {
	for _, p := range o.file.Progs {
		if p.Type == elf.PT_PHDR {
			return p.Vaddr
		}
	}
	return 0
}

func firstLoad(o *Object) uint64 {
	if len(o.loads) == 0 {
		return 0
	}
	return o.loads[0].vaddr &^ 0xfff
}

type linkMapEntry struct {
	addr uint64
	name string
}

func readWord(mem Memory, addr uint64, o *Object) (uint64, error) {
	var b [8]byte
	buf := b[:o.ptrSize]
	if err := mem.ReadMemory(addr, buf); err != nil {
		return 0, err
	}
	if o.ptrSize == 4 {
		return uint64(o.order.Uint32(buf)), nil
	}
	return o.order.Uint64(buf), nil
}

func readCString(mem Memory, addr uint64, limit int) (string, error) {
	var out []byte
	buf := make([]byte, 64)
	for len(out) < limit {
		// Read in small pieces, then byte by byte near a page end.
		n := len(buf)
		if rem := 4096 - int(addr%4096); rem < n {
			n = rem
		}
		if err := mem.ReadMemory(addr, buf[:n]); err != nil {
			return "", err
		}
		if i := bytes.IndexByte(buf[:n], 0); i >= 0 {
			return string(append(out, buf[:i]...)), nil
		}
		out = append(out, buf[:n]...)
		addr += uint64(n)
	}
	return "", errors.New("string too long")
}

// linkMap reads r_debug's link_map list through the main program's
// DT_DEBUG entry.
func linkMap(o *Object, bias uint64, mem Memory) ([]linkMapEntry, error) {
	if o.dynamic == 0 {
		return nil, nil // static executable
	}
	w := uint64(o.ptrSize)
	var rdebug uint64
	end := o.dynamic + bias + min(o.dynSize, 4096*2*w)
	for a := o.dynamic + bias; a+2*w <= end; a += 2 * w {
		tag, err := readWord(mem, a, o)
		if err != nil {
			return nil, fmt.Errorf("reading the dynamic section at 0x%x: %w", a, err)
		}
		if tag == uint64(elf.DT_NULL) {
			break
		}
		if tag == uint64(elf.DT_DEBUG) {
			if rdebug, err = readWord(mem, a+w, o); err != nil {
				return nil, fmt.Errorf("reading DT_DEBUG at 0x%x: %w", a+w, err)
			}
			break
		}
	}
	if rdebug == 0 {
		return nil, nil // not yet set up by the dynamic linker
	}
	// struct r_debug { int r_version; struct link_map *r_map; ... }
	lm, err := readWord(mem, rdebug+w, o) // r_map follows the int, padded to a word
	if err != nil {
		return nil, fmt.Errorf("reading r_debug at 0x%x: %w", rdebug, err)
	}
	var out []linkMapEntry
	seen := map[uint64]bool{}
	for lm != 0 && !seen[lm] && len(out) < 10000 {
		seen[lm] = true
		// struct link_map { l_addr, l_name, l_ld, l_next, l_prev }
		addr, err := readWord(mem, lm, o)
		if err != nil {
			return out, fmt.Errorf("reading link_map at 0x%x: %w", lm, err)
		}
		namePtr, err := readWord(mem, lm+w, o)
		if err != nil {
			return out, fmt.Errorf("reading link_map at 0x%x: %w", lm, err)
		}
		next, err := readWord(mem, lm+3*w, o)
		if err != nil {
			return out, fmt.Errorf("reading link_map at 0x%x: %w", lm, err)
		}
		name := ""
		if namePtr != 0 {
			if name, err = readCString(mem, namePtr, 4096); err != nil {
				return out, fmt.Errorf("reading a library name at 0x%x: %w", namePtr, err)
			}
		}
		out = append(out, linkMapEntry{addr: addr, name: name})
		lm = next
	}
	return out, nil
}

// vdsoFromMemory copies the vDSO's ELF image out of the process.
func vdsoFromMemory(addr uint64, mem Memory) (*Object, error) {
	hdr := make([]byte, 64)
	if err := mem.ReadMemory(addr, hdr); err != nil {
		return nil, err
	}
	if string(hdr[:4]) != elf.ELFMAG {
		return nil, errors.New("no ELF header")
	}
	var order binary.ByteOrder = binary.LittleEndian
	if elf.Data(hdr[elf.EI_DATA]) == elf.ELFDATA2MSB {
		order = binary.BigEndian
	}
	var size uint64
	if elf.Class(hdr[elf.EI_CLASS]) == elf.ELFCLASS64 {
		shoff := order.Uint64(hdr[0x28:])
		size = shoff + uint64(order.Uint16(hdr[0x3c:]))*uint64(order.Uint16(hdr[0x3a:]))
	} else {
		shoff := uint64(order.Uint32(hdr[0x20:]))
		size = shoff + uint64(order.Uint16(hdr[0x30:]))*uint64(order.Uint16(hdr[0x2e:]))
	}
	if size < 64 || size > 1<<22 {
		return nil, fmt.Errorf("implausible image size %d", size)
	}
	img := make([]byte, size)
	if err := mem.ReadMemory(addr, img); err != nil {
		return nil, err
	}
	return NewFile(bytes.NewReader(img), "[vdso]")
}
