package linux

// The target side of the monitor commands that ask about code
// (target.Symbolizer, target.MapsReader): symbols, lines and unwinding come
// from the dwarf package, the objects loaded in the process from the auxv and
// the dynamic linker's list (r_debug's link map).
//
// Objects are indexed once and kept in a cache shared by all processes,
// keyed by the identity of the file (device, inode, size, mtime): a fork
// child, a second run of the same program or a re-exec of it reuses the
// index, and an exec of another program (or a rebuilt one) indexes the new
// file. A query assembles a dwarf.Space of cached objects at the biases the
// auxv and the link map give; the space is kept per process and used again
// while the program image, the auxv and the link map (read through a page
// cache: a handful of reads) are unchanged. A dlopen between two queries is
// thus seen without indexing anything again. (dwarf.SpaceFromProcess would
// open and index every object on each call.)

import (
	"bytes"
	"debug/dwarf"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"

	ddwarf "github.com/gostub/gostub/dwarf"
	"github.com/gostub/gostub/target"
)

var (
	_ target.Symbolizer = (*Process)(nil)
	_ target.MapsReader = (*Process)(nil)
)

// Auxiliary vector entries used here (atPHDR is in libraries.go).
const (
	atBase        = 7
	atEntry       = 9
	atSysinfoEhdr = 33
)

// symObject is one indexed ELF file with what the dwarf package does not
// tell: its sections, program headers and the names gdb displays for its
// source files.
type symObject struct {
	obj      *ddwarf.Object
	sections []symSection // allocated, non-empty, sorted by address
	text     symSection   // .text (size 0 if none)
	phdr     uint64       // PT_PHDR vaddr
	hasPhdr  bool
	dynamic  uint64 // PT_DYNAMIC vaddr
	hasDyn   bool
	closed   bool   // evicted from the cache
	first    uint64 // page of the first PT_LOAD
	interp   string // PT_INTERP
	lastUse  uint64 // generation of the last query that used it

	dwOnce      sync.Once
	dw          *dwarf.Data // a second reader of the DWARF, for what the index lacks
	displayOnce sync.Once
	display     map[string]string // full source path -> name as gdb shows it
	stmt        map[uint64]bool   // is_stmt of line rows asked about, by file address
	paramCache  map[uint64]*funcParams
	filesOnce   sync.Once
	files       []string // source files of the line tables
	funcsOnce   sync.Once
	funcs       map[string]bool // functions of the debug info
}

type symSection struct {
	name       string
	addr, size uint64
}

// The object cache. Its lock is held for the whole of a query: queries are
// rare and short, and objects are only closed (evicted) under it.
var symCache = struct {
	sync.Mutex
	objs map[string]*symObject
	gen  uint64
}{objs: map[string]*symObject{}}

// symCacheMax is the number of objects kept beyond those in use.
const symCacheMax = 64

func fileIdentity(path string) (string, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return "", err
	}
	return fmt.Sprintf("%d:%d:%d:%d.%d", st.Dev, st.Ino, st.Size, st.Mtim.Sec, st.Mtim.Nsec), nil
}

// cachedObject returns the indexed object of the file at path (opened
// through open, which defaults to path).
func cachedObject(path, open string) (*symObject, error) {
	if open == "" {
		open = path
	}
	key, err := fileIdentity(open)
	if err != nil {
		return nil, err
	}
	if so := symCache.objs[key]; so != nil {
		so.lastUse = symCache.gen
		return so, nil
	}
	o, err := ddwarf.Open(open)
	if err != nil {
		return nil, err
	}
	f, err := elf.Open(open)
	if err != nil {
		o.Close()
		return nil, err
	}
	defer f.Close()
	so := newSymObject(o, f)
	symCache.objs[key] = so
	return so, nil
}

func newSymObject(o *ddwarf.Object, f *elf.File) *symObject {
	so := &symObject{obj: o, lastUse: symCache.gen}
	for _, s := range f.Sections {
		if s.Flags&elf.SHF_ALLOC == 0 || s.Size == 0 {
			continue
		}
		sec := symSection{s.Name, s.Addr, s.Size}
		so.sections = append(so.sections, sec)
		if s.Name == ".text" {
			so.text = sec
		}
	}
	slices.SortFunc(so.sections, func(a, b symSection) int {
		switch {
		case a.addr < b.addr:
			return -1
		case a.addr > b.addr:
			return 1
		}
		return 0
	})
	firstLoad := true
	for _, p := range f.Progs {
		switch p.Type {
		case elf.PT_PHDR:
			so.phdr, so.hasPhdr = p.Vaddr, true
		case elf.PT_DYNAMIC:
			so.dynamic, so.hasDyn = p.Vaddr, true
		case elf.PT_LOAD:
			if firstLoad || p.Vaddr&^0xfff < so.first {
				so.first = p.Vaddr &^ 0xfff
			}
			firstLoad = false
		case elf.PT_INTERP:
			b := make([]byte, min(p.Filesz, 4096))
			if _, err := p.ReadAt(b, 0); err == nil {
				so.interp = string(bytes.TrimRight(b, "\x00"))
			}
		}
	}
	return so
}

// evictObjects closes objects no query used lately, beyond symCacheMax.
func evictObjects() {
	if len(symCache.objs) <= symCacheMax {
		return
	}
	for k, so := range symCache.objs {
		if symCache.gen-so.lastUse > 16 {
			so.closed = true
			so.obj.Close()
			delete(symCache.objs, k)
		}
	}
}

// section returns the allocated section holding the file address addr.
func (so *symObject) section(addr uint64) (symSection, bool) {
	i, _ := slices.BinarySearchFunc(so.sections, addr, func(s symSection, a uint64) int {
		if s.addr <= a {
			return -1
		}
		return 1
	})
	// Sections do not overlap, but .tbss takes no room: look at a few.
	for j := i - 1; j >= 0 && j >= i-4; j-- {
		if s := so.sections[j]; addr-s.addr < s.size {
			return s, true
		}
	}
	return symSection{}, false
}

// displayName is the name gdb shows for a source file of this object: the
// name the compiler was given (DW_AT_name, "loop.c") for the primary file
// of a compilation unit, the full path for the others.
func (so *symObject) displayName(full string) string {
	so.displayOnce.Do(so.readDisplayNames)
	if d, ok := so.display[filepath.Clean(full)]; ok {
		return d
	}
	// A relative path comes from a relative directory gdb keeps as
	// written; for the "-fdebug-prefix-map=DIR=." builds of distributions
	// that is "./libio" where debug/dwarf gives "libio".
	if full != "" && !filepath.IsAbs(full) && !strings.HasPrefix(full, "../") && !strings.HasPrefix(full, "./") {
		return "./" + full
	}
	return full
}

// debugData opens the object's DWARF with debug/dwarf, once, for the
// compilation unit names and the is_stmt flags the index does not keep.
func (so *symObject) debugData() *dwarf.Data {
	so.dwOnce.Do(func() {
		if !so.obj.HasDebugInfo() {
			return
		}
		path := so.obj.DebugPath()
		if path == "" {
			path = so.obj.Path()
		}
		f, err := elf.Open(path)
		if err != nil {
			return
		}
		defer f.Close()
		if dw, err := f.DWARF(); err == nil {
			so.dw = dw
		}
	})
	return so.dw
}

func (so *symObject) readDisplayNames() {
	so.display = map[string]string{}
	dw := so.debugData()
	if dw == nil {
		return
	}
	r := dw.Reader()
	for {
		e, err := r.Next()
		if err != nil || e == nil {
			return
		}
		if e.Tag == dwarf.TagCompileUnit || e.Tag == dwarf.TagPartialUnit {
			name, _ := e.Val(dwarf.AttrName).(string)
			dir, _ := e.Val(dwarf.AttrCompDir).(string)
			if name != "" {
				full, show := name, name
				if !filepath.IsAbs(name) && dir != "" {
					full = filepath.Join(dir, name)
					if !filepath.IsAbs(dir) {
						// gdb keeps a relative directory as written
						// ("./libio/ioputs.c").
						show = dir + "/" + name
					}
				}
				so.display[filepath.Clean(full)] = show
			}
		}
		r.SkipChildren()
	}
}

// isStmt reports whether the line table has a statement row for line at
// the file address addr. gdb shows the address of a frame whose line row
// is not a statement even when the pc is where the row starts.
func (so *symObject) isStmt(addr uint64, line int) (stmt bool) {
	if v, ok := so.stmt[addr]; ok {
		return v
	}
	defer func() {
		if recover() != nil {
			stmt = true
		}
		if so.stmt == nil {
			so.stmt = map[uint64]bool{}
		}
		so.stmt[addr] = stmt
	}()
	dw := so.debugData()
	if dw == nil {
		return true
	}
	cu, err := dw.Reader().SeekPC(addr)
	if err != nil {
		return true
	}
	lr, err := dw.LineReader(cu)
	if err != nil || lr == nil {
		return true
	}
	var e dwarf.LineEntry
	seen := false
	for lr.Next(&e) == nil {
		if e.Address == addr && !e.EndSequence {
			seen = true
			if e.IsStmt && e.Line == line {
				return true
			}
		}
	}
	return !seen
}

// hasSourceFile reports whether one of the object's line tables names a
// file matching name as gdb matches them: the same path, or a suffix of
// the full path that starts at a directory boundary.
func (so *symObject) hasSourceFile(name string) bool {
	so.filesOnce.Do(func() { so.files = so.obj.SourceFiles() })
	for _, full := range so.files {
		if fileMatches(full, name) {
			return true
		}
	}
	return false
}

func fileMatches(full, name string) bool {
	if full == name {
		return true
	}
	if name == "" || full == "" {
		return false
	}
	if filepath.IsAbs(name) {
		return filepath.Clean(full) == filepath.Clean(name)
	}
	name = strings.TrimPrefix(name, "./")
	return strings.HasSuffix(full, "/"+name)
}

// loaded is one object of the process at its load bias.
type loaded struct {
	so   *symObject
	bias uint64
	name string // the path of the main program or the link map's name
	main bool
	vdso bool
}

// procSpace is the process's address space as the queries see it.
type procSpace struct {
	space *ddwarf.Space
	objs  []*loaded // main program first, then the link map order, interpreter, vDSO
	libs  []target.Library
	main  *loaded

	// What it was built from, to tell whether it still holds.
	exeKey string
	auxv   string
	links  []target.Library // the link map as read, vDSO included
}

func (ps *procSpace) add(so *symObject, bias uint64, name string) *loaded {
	l := &loaded{so: so, bias: bias, name: name}
	ps.space.Add(so.obj, bias, name)
	ps.objs = append(ps.objs, l)
	return l
}

// lookup returns the object holding the run-time address addr.
func (ps *procSpace) lookup(addr uint64) *loaded {
	o, bias, ok := ps.space.Lookup(addr)
	if !ok {
		return nil
	}
	for _, l := range ps.objs {
		if l.so.obj == o && l.bias == bias {
			return l
		}
	}
	return nil
}

// objectName is the object's name in `info symbol`.
func (l *loaded) objectName() string {
	if l.vdso {
		return fmt.Sprintf("system-supplied DSO at 0x%x", l.so.first+l.bias)
	}
	return l.name
}

// spaceCache keeps the last space built for each process (by pid). An
// entry is only a guess: it is used when the program file, the auxv and
// the link map read from memory are still the ones it was built from.
var spaceCache = map[int]*procSpace{}

const spaceCacheMax = 16

// buildSpace returns the process's objects, from the caches when nothing
// changed. mem serves the reads of the link map. Call with symCache held.
func (p *Process) buildSpace(mem *pageCache) (*procSpace, error) {
	if p.exited {
		delete(spaceCache, p.pid)
		return nil, target.ErrNoProcess
	}
	symCache.gen++
	exe := p.execPath
	if exe == "" {
		exe = fmt.Sprintf("/proc/%d/exe", p.pid)
	}
	// The running image, even if the file was replaced or deleted since.
	image := fmt.Sprintf("/proc/%d/exe", p.pid)
	exeKey, err := fileIdentity(image)
	if err != nil {
		return nil, fmt.Errorf("cannot read the program %s: %v", exe, unwrapPathError(err))
	}
	auxv, err := p.Auxv()
	if err != nil {
		return nil, err
	}
	if ps := spaceCache[p.pid]; ps != nil && ps.exeKey == exeKey && ps.auxv == string(auxv) {
		links := readLinkMap(mem, ps.main.so, ps.main.bias)
		if slices.Equal(links, ps.links) && !ps.stale() {
			for _, l := range ps.objs {
				l.so.lastUse = symCache.gen
			}
			return ps, nil
		}
	}
	mainSO, err := cachedObject(exe, image)
	if err != nil {
		return nil, fmt.Errorf("cannot read the program %s: %v", exe, unwrapPathError(err))
	}
	av := ddwarf.ParseAuxv(auxv, binary.LittleEndian, 8)
	ps := &procSpace{space: ddwarf.NewSpace(), exeKey: exeKey, auxv: string(auxv)}
	var bias uint64
	if phdr, ok := av[atPHDR]; ok && mainSO.hasPhdr {
		bias = phdr - mainSO.phdr
	} else if entry, ok := av[atEntry]; ok {
		bias = entry - mainSO.obj.Entry()
	}
	ps.main = ps.add(mainSO, bias, exe)
	ps.main.main = true

	ps.links = readLinkMap(mem, mainSO, bias)
	for _, lib := range ps.links {
		if isVDSOName(lib.Name) {
			continue
		}
		ps.libs = append(ps.libs, lib)
		so, err := cachedObject(lib.Name, "")
		if err != nil {
			continue
		}
		ps.add(so, lib.Addr, lib.Name)
	}
	// Before the dynamic linker has filled in its list (the first stop of
	// a launched program) only the interpreter is there, at AT_BASE.
	if base := av[atBase]; len(ps.links) == 0 && base != 0 && mainSO.interp != "" {
		ps.libs = append(ps.libs, target.Library{Name: mainSO.interp, Addr: base})
		if so, err := cachedObject(mainSO.interp, ""); err == nil {
			ps.libs[0].Addr = base - so.first
			ps.add(so, base-so.first, mainSO.interp)
		}
	}
	if addr := av[atSysinfoEhdr]; addr != 0 {
		if so, err := vdsoObject(mem, addr); err == nil {
			l := ps.add(so, addr-so.first, "[vdso]")
			l.vdso = true
		}
	}
	evictObjects()
	if len(spaceCache) >= spaceCacheMax {
		for pid := range spaceCache {
			delete(spaceCache, pid)
			break
		}
	}
	spaceCache[p.pid] = ps
	return ps, nil
}

// stale reports whether one of the space's objects was evicted (closed).
func (ps *procSpace) stale() bool {
	for _, l := range ps.objs {
		if l.so.closed {
			return true
		}
	}
	return false
}

// readLinkMap walks the dynamic linker's list of loaded objects (r_debug,
// found through the program's DT_DEBUG) without the program's own entry.
// It returns what it could read: nothing before the dynamic linker has set
// DT_DEBUG, or for a static program.
func readLinkMap(mem *pageCache, main *symObject, bias uint64) []target.Library {
	if !main.hasDyn {
		return nil
	}
	word := func(addr uint64) (uint64, bool) {
		var b [8]byte
		if mem.ReadMemory(addr, b[:]) != nil {
			return 0, false
		}
		return binary.LittleEndian.Uint64(b[:]), true
	}
	var rdebug uint64
	for a, n := main.dynamic+bias, 0; n < 4096; a, n = a+16, n+1 {
		tag, ok := word(a)
		if !ok || tag == dtNull {
			return nil
		}
		if tag == dtDebug {
			if rdebug, ok = word(a + 8); !ok {
				return nil
			}
			break
		}
	}
	if rdebug == 0 {
		return nil
	}
	lm, ok := word(rdebug + 8) // r_map
	if !ok {
		return nil
	}
	var out []target.Library
	for n := 0; lm != 0 && n < maxLinks; n++ {
		// struct link_map { l_addr, l_name, l_ld, l_next, l_prev }
		var b [32]byte
		if mem.ReadMemory(lm, b[:]) != nil {
			break
		}
		if n > 0 { // the first entry is the program
			name := mem.readString(binary.LittleEndian.Uint64(b[8:]), 4096)
			out = append(out, target.Library{Name: name, LM: lm, Addr: binary.LittleEndian.Uint64(b[0:]),
				LD: binary.LittleEndian.Uint64(b[16:]), Lmid: rdebug})
		}
		lm = binary.LittleEndian.Uint64(b[24:])
	}
	return out
}

func isVDSOName(name string) bool {
	return name == "linux-vdso.so.1" || name == "linux-gate.so.1"
}

func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// vdsoObject indexes the vDSO's ELF image, copied out of the process. The
// image is known by its size and the checksum of its first page.
func vdsoObject(mem *pageCache, addr uint64) (*symObject, error) {
	hdr := make([]byte, 0x1000)
	if err := mem.ReadMemory(addr, hdr); err != nil {
		return nil, err
	}
	if string(hdr[:4]) != elf.ELFMAG || elf.Class(hdr[elf.EI_CLASS]) != elf.ELFCLASS64 {
		return nil, errors.New("no 64-bit ELF header")
	}
	shoff := binary.LittleEndian.Uint64(hdr[0x28:])
	size := shoff + uint64(binary.LittleEndian.Uint16(hdr[0x3c:]))*uint64(binary.LittleEndian.Uint16(hdr[0x3a:]))
	if size < 64 || size > 1<<22 {
		return nil, fmt.Errorf("implausible vDSO size %d", size)
	}
	key := fmt.Sprintf("vdso:%d:%08x", size, crc32.ChecksumIEEE(hdr))
	if so := symCache.objs[key]; so != nil {
		so.lastUse = symCache.gen
		return so, nil
	}
	img := make([]byte, size)
	if err := mem.ReadMemory(addr, img); err != nil {
		return nil, err
	}
	o, err := ddwarf.NewFile(bytes.NewReader(img), "[vdso]")
	if err != nil {
		return nil, err
	}
	f, err := elf.NewFile(bytes.NewReader(img))
	if err != nil {
		return nil, err
	}
	so := newSymObject(o, f)
	symCache.objs[key] = so
	return so, nil
}

// codeAddr names the run-time address addr as gdb's print_address: after
// the function the debug info says holds it, when that function starts
// where the ELF symbol does (the names differ for aliases: printf is
// __printf), else after the ELF symbol.
func (ps *procSpace) codeAddr(addr uint64) target.CodeAddr {
	ca := target.CodeAddr{Addr: addr}
	l := ps.lookup(addr)
	if l == nil {
		return ca
	}
	a := addr - l.bias
	name, off, ok := l.so.obj.Symbol(a)
	if ok {
		ca.Symbol, ca.Offset = name, off
	}
	if !l.so.obj.HasDebugInfo() {
		return ca
	}
	loc, err := l.so.obj.PCToLine(a)
	if err != nil {
		return ca
	}
	chain := loc.Chain()
	fn := chain[len(chain)-1].Function
	if fn == "" || fn == name || !l.so.hasFunction(fn) {
		return ca
	}
	entry, _, err := l.so.obj.FunctionEntry(fn)
	if err != nil || entry > a || ok && entry != a-off {
		return ca
	}
	ca.Symbol, ca.Offset = fn, a-entry
	return ca
}

// gdbOrder lists the objects in the order gdb loads them for a launched
// program: the program, the dynamic linker, the vDSO, then the libraries
// in the dynamic linker's order.
func (ps *procSpace) gdbOrder() []*loaded {
	order := slices.Clone(ps.objs)
	rank := func(l *loaded) int {
		switch {
		case l.main:
			return 0
		case l.name == ps.main.so.interp:
			return 1
		case l.vdso:
			return 2
		}
		return 3
	}
	slices.SortStableFunc(order, func(a, b *loaded) int { return rank(a) - rank(b) })
	return order
}

// LookupSymbol finds a function's entry or a global variable by name, as
// gdb evaluates a name: debug information first, then the symbol tables,
// the objects taken in gdb's order for a launched program (the program, the
// dynamic linker, the vDSO, then the libraries as they were loaded).
func (p *Process) LookupSymbol(name string) (uint64, error) {
	symCache.Lock()
	defer symCache.Unlock()
	ps, err := p.buildSpace(newPageCache(p))
	if err != nil {
		return 0, err
	}
	order := ps.gdbOrder()
	for _, l := range order {
		if l.so.hasFunction(name) {
			if entry, _, err := l.so.obj.FunctionEntry(name); err == nil {
				return entry + l.bias, nil
			}
		}
	}
	for _, l := range order {
		if addr, _, err := l.so.obj.Global(name); err == nil {
			return addr + l.bias, nil
		}
	}
	for _, l := range order {
		if entry, _, err := l.so.obj.FunctionEntry(name); err == nil {
			return entry + l.bias, nil
		}
	}
	return 0, fmt.Errorf("No symbol %q in current context.", name)
}

// hasFunction reports whether the debug info describes a function name.
func (so *symObject) hasFunction(name string) bool {
	if !so.obj.HasDebugInfo() {
		return false
	}
	so.funcsOnce.Do(func() {
		so.funcs = map[string]bool{}
		for _, f := range so.obj.Functions() {
			so.funcs[f] = true
		}
	})
	return so.funcs[name]
}

// InfoLine answers `info line` as gdb does.
func (p *Process) InfoLine(spec target.LineSpec) ([]target.LineInfo, error) {
	symCache.Lock()
	defer symCache.Unlock()
	ps, err := p.buildSpace(newPageCache(p))
	if err != nil {
		return nil, err
	}
	switch {
	case spec.IsAddr:
		return []target.LineInfo{ps.lineAt(spec.Addr)}, nil
	case spec.Function != "":
		return ps.functionLines(spec.File, spec.Function)
	default:
		return ps.fileLines(spec.File, spec.Line)
	}
}

// lineAt is `info line *ADDR`.
func (ps *procSpace) lineAt(addr uint64) target.LineInfo {
	l := ps.lookup(addr)
	if l == nil {
		return target.LineInfo{Start: target.CodeAddr{Addr: addr}}
	}
	file, line, start, end, err := l.so.obj.LineRange(addr - l.bias)
	if err != nil {
		return target.LineInfo{Start: ps.codeAddr(addr)}
	}
	return target.LineInfo{File: l.so.displayName(file), Line: line,
		Start: ps.codeAddr(start + l.bias), End: ps.codeAddr(end + l.bias)}
}

// functionLines is `info line FUNC` (or FILE:FUNC): the line of the
// function's entry, in every object that has it (from its debug info, or
// else its symbols), in gdb's order.
func (ps *procSpace) functionLines(file, fn string) ([]target.LineInfo, error) {
	var out []target.LineInfo
	knownFile := file == ""
	for _, l := range ps.gdbOrder() {
		if file != "" {
			if !l.so.obj.HasDebugInfo() || !l.so.hasSourceFile(file) {
				continue
			}
			knownFile = true
		}
		entry, _, err := l.so.obj.FunctionEntry(fn)
		if err != nil {
			continue
		}
		if file != "" {
			if f, _, _, _, err := l.so.obj.LineRange(entry); err != nil || !fileMatches(f, file) {
				continue
			}
		}
		out = append(out, ps.lineAt(entry+l.bias))
	}
	switch {
	case len(out) > 0:
		return out, nil
	case !knownFile:
		return nil, fmt.Errorf("No source file named %s.", file)
	case file != "":
		return nil, fmt.Errorf("Function %q not defined in %q.", fn, file)
	}
	return nil, fmt.Errorf("Function %q not defined.", fn)
}

// fileLines is `info line FILE:LINE`: gdb's find_line_pc_range on the
// lowest address of the line, or of the next line with code when the line
// has none.
func (ps *procSpace) fileLines(file string, line int) ([]target.LineInfo, error) {
	var out []target.LineInfo
	known := false
	var rangeErr error
	for _, l := range ps.objs {
		if !l.so.obj.HasDebugInfo() || !l.so.hasSourceFile(file) {
			continue
		}
		known = true
		pcs, err := l.so.obj.LineToPCs(file, line)
		if err != nil || len(pcs) == 0 {
			rangeErr = fmt.Errorf("Line number %d is out of range for %q.", line, ps.fileDisplay(l, file))
			continue
		}
		f, got, start, end, err := l.so.obj.LineRange(pcs[0])
		if err != nil {
			rangeErr = fmt.Errorf("Line number %d is out of range for %q.", line, ps.fileDisplay(l, file))
			continue
		}
		li := target.LineInfo{File: l.so.displayName(f), Line: line,
			Start: ps.codeAddr(start + l.bias), End: ps.codeAddr(end + l.bias)}
		if got != line {
			li.End = li.Start
		}
		out = append(out, li)
	}
	switch {
	case len(out) > 0:
		return out, nil
	case !known:
		return nil, fmt.Errorf("No source file named %s.", file)
	}
	return nil, rangeErr
}

// fileDisplay names the source file matching the user's name as gdb does.
func (ps *procSpace) fileDisplay(l *loaded, name string) string {
	l.so.filesOnce.Do(func() { l.so.files = l.so.obj.SourceFiles() })
	for _, full := range l.so.files {
		if fileMatches(full, name) {
			return l.so.displayName(full)
		}
	}
	return name
}

// InfoSymbol answers `info symbol ADDR`.
func (p *Process) InfoSymbol(addr uint64) ([]target.SymbolInfo, error) {
	symCache.Lock()
	defer symCache.Unlock()
	ps, err := p.buildSpace(newPageCache(p))
	if err != nil {
		return nil, err
	}
	l := ps.lookup(addr)
	if l == nil {
		return nil, nil
	}
	sec, ok := l.so.section(addr - l.bias)
	if !ok {
		return nil, nil
	}
	name, off, ok := l.so.obj.Symbol(addr - l.bias)
	if !ok {
		return nil, nil
	}
	si := target.SymbolInfo{Symbol: name, Offset: off, Section: sec.name}
	if len(ps.objs) > 1 {
		si.Object = l.objectName()
	}
	return []target.SymbolInfo{si}, nil
}

// SharedLibraries lists the dynamic linker's objects with their .text.
func (p *Process) SharedLibraries() ([]target.SharedLibrary, error) {
	symCache.Lock()
	defer symCache.Unlock()
	ps, err := p.buildSpace(newPageCache(p))
	if err != nil {
		return nil, err
	}
	// The interpreter first: gdb lists it from the first stop on, before
	// the dynamic linker's list exists, and adds the others after it.
	libs := slices.Clone(ps.libs)
	if interp := ps.main.so.interp; interp != "" {
		for i, lib := range libs {
			if lib.Name == interp {
				copy(libs[1:i+1], libs[:i])
				libs[0] = lib
				break
			}
		}
	}
	var out []target.SharedLibrary
	for _, lib := range libs {
		sl := target.SharedLibrary{Name: lib.Name}
		for _, l := range ps.objs {
			if l.name == lib.Name && !l.main && !l.vdso {
				sl.SymsRead = true
				sl.Debug = l.so.obj.HasDebugInfo()
				if l.so.text.size != 0 {
					sl.From, sl.To = l.so.text.addr+l.bias, l.so.text.addr+l.so.text.size+l.bias
				}
				break
			}
		}
		out = append(out, sl)
	}
	return out, nil
}

// Maps is the text of /proc/PID/maps.
func (p *Process) Maps() (string, error) {
	if p.exited {
		return "", target.ErrNoProcess
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/maps", p.pid))
	if err != nil {
		return "", fmt.Errorf("cannot read the memory map: %v", unwrapPathError(err))
	}
	return string(b), nil
}

// Backtrace unwinds a stopped thread with the CFI of the objects it runs
// through and describes each frame as gdb's bt, ending at main as gdb does
// by default.
func (p *Process) Backtrace(id target.ThreadID, max int) (target.Backtrace, error) {
	bt := target.Backtrace{PtrSize: 8}
	regs, err := p.dwarfRegs(id)
	if err != nil {
		return bt, err
	}
	symCache.Lock()
	defer symCache.Unlock()
	mem := newPageCache(p)
	ps, err := p.buildSpace(mem)
	if err != nil {
		return bt, err
	}
	if max <= 0 {
		max = 100000
	}
	// One more frame than asked for: an inlined frame at the stop pc may
	// be dropped below.
	frames, uerr := ddwarf.Unwind(ps.space, regs, mem, max+1)
	if len(frames) == 0 {
		pc := regs[16]
		bt.Frames = []target.Frame{{PC: pc, ShowPC: true}}
		if uerr != nil {
			bt.Stopped = stoppedReason(uerr)
		}
		return bt, nil
	}
	frames, skipped := skipInlineEntries(ps, frames)
	for i, f := range frames {
		if len(bt.Frames) >= max {
			break
		}
		l := ps.lookup(f.PC)
		if i > 0 && !f.Signal && f.PC > 0 && !frames[i-1].Signal {
			if c := ps.lookup(f.PC - 1); c != nil {
				l = c // the call, not what follows it
			}
		}
		tf := target.Frame{PC: f.PC, ShowPC: true, Function: f.Location.Function, Signal: f.Signal}
		if f.Location.Line > 0 && f.Location.File != "" && l != nil {
			tf.File, tf.Line = l.so.displayName(f.Location.File), f.Location.Line
		}
		if tf.File == "" && l != nil && !l.main && !l.vdso {
			tf.Library = l.name
		}
		if l != nil && !f.Signal && !f.Inlined && f.Location.Function != "" && l.so.obj.HasDebugInfo() {
			lookup, cfa := f.PC, f.CFA
			if i > 0 && !frames[i-1].Signal {
				lookup--
			}
			if f.TailCall {
				cfa = 0 // its own frame is gone: names only
			}
			tf.Args = ps.frameArgs(l, lookup, cfa, mem)
		}
		switch {
		case i == 0 && skipped:
			tf.ShowPC = false
		case (i == 0 || frames[i-1].Signal) && l != nil:
			// Where the pc is the stop or interrupted address (not a
			// return address) and starts a line, gdb shows no address.
			a := f.PC - l.bias
			if _, line, start, _, err := l.so.obj.LineRange(a); err == nil && start == a && tf.File != "" && l.so.isStmt(a, line) {
				tf.ShowPC = false
			}
		case i > 0 && frames[i-1].Inlined:
			// The function an inner frame was inlined into.
			tf.ShowPC = false
		}
		bt.Frames = append(bt.Frames, tf)
		if l != nil && l.main && !f.Inlined && f.Location.Function == "main" {
			return bt, nil // gdb's bt stops at main (backtrace past-main off)
		}
	}
	if uerr != nil && len(frames) <= max {
		bt.Stopped = stoppedReason(uerr)
	}
	return bt, nil
}

// skipInlineEntries drops the innermost inlined frames whose inlined call
// starts exactly at the stop pc (and says so), as gdb's skip_inline_frames does: stopped
// at the first instruction of an inlined body (a breakpoint on the outer
// function's line, a step), gdb shows the outer function at that line. An
// inlined call starts at pc when it does not hold pc-1
// (block_starting_point_at).
func skipInlineEntries(ps *procSpace, frames []ddwarf.Frame) ([]ddwarf.Frame, bool) {
	if len(frames) < 2 || !frames[0].Inlined || frames[0].Signal {
		return frames, false
	}
	pc := frames[0].PC
	l := ps.lookup(pc)
	if l == nil || pc == 0 {
		return frames, false
	}
	// The physical frame: frames[0..n-1], the last one not inlined.
	n := 1
	for n < len(frames) && frames[n-1].Inlined {
		n++
	}
	var before []ddwarf.Location
	if l.so.obj.Contains(pc - 1 - l.bias) {
		if loc, err := l.so.obj.PCToLine(pc - 1 - l.bias); err == nil {
			before = loc.Chain() // innermost first
		}
	}
	skip := 0
	for k := 0; k < n-1; k++ {
		// Depth of frame k from the real function (0) inward.
		depth := n - 1 - k
		held := len(before) > depth && before[len(before)-1-depth].Function == frames[k].Location.Function
		if held {
			break
		}
		skip++
	}
	if skip == 0 {
		return frames, false
	}
	// The outer frame keeps the line of the call, as gdb shows it.
	return frames[skip:], true
}

func stoppedReason(err error) string {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "backtrace stopped: ")
	return msg
}

// dwarfRegs reads a thread's general registers, by DWARF number.
func (p *Process) dwarfRegs(id target.ThreadID) (map[int]uint64, error) {
	block, avail, err := p.ReadRegisters(id)
	if err != nil {
		return nil, err
	}
	regs := map[int]uint64{}
	for i, r := range p.Layout().Regs {
		if r.DWARF < 0 || r.DWARF > 16 || r.Bits != 64 || avail != nil && !avail[i] || r.Offset+8 > len(block) {
			continue
		}
		regs[r.DWARF] = binary.LittleEndian.Uint64(block[r.Offset:])
	}
	if _, ok := regs[16]; !ok {
		return nil, errors.New("the thread's pc is not available")
	}
	return regs, nil
}

// pageCache reads the process's memory a page at a time and keeps the
// pages for one query: an unwind reads the same stack pages many times, the
// link map sits in a few pages of the dynamic linker.
type pageCache struct {
	p     *Process
	pages map[uint64][]byte // nil entry: the page could not be read whole
}

func newPageCache(p *Process) *pageCache {
	return &pageCache{p: p, pages: map[uint64][]byte{}}
}

// readString reads a NUL-terminated string of at most max bytes.
func (c *pageCache) readString(addr uint64, max int) string {
	if addr == 0 {
		return ""
	}
	var out []byte
	var buf [64]byte
	for len(out) < max {
		n := min(len(buf), int(0x1000-addr&0xfff))
		if c.ReadMemory(addr, buf[:n]) != nil {
			break
		}
		if i := bytes.IndexByte(buf[:n], 0); i >= 0 {
			return string(append(out, buf[:i]...))
		}
		out = append(out, buf[:n]...)
		addr += uint64(n)
	}
	return string(out)
}

func (c *pageCache) ReadMemory(addr uint64, buf []byte) error {
	for len(buf) > 0 {
		base := addr &^ 0xfff
		page, seen := c.pages[base]
		if !seen {
			page = make([]byte, 0x1000)
			if err := c.p.ReadMemory(base, page); err != nil {
				page = nil
			}
			c.pages[base] = page
		}
		off := addr - base
		n := min(uint64(len(buf)), 0x1000-off)
		if page == nil {
			if err := c.p.ReadMemory(addr, buf[:n]); err != nil {
				return err
			}
		} else {
			copy(buf[:n], page[off:])
		}
		buf = buf[n:]
		addr += n
	}
	return nil
}

// Frame arguments, as gdb's bt prints them with its default "print
// frame-arguments scalars": numbers, characters, pointers (with the string
// of a char pointer, the symbol of a function pointer), "..." for
// aggregates. A value is read when its location is a DW_OP_fbreg offset
// from a frame base that is the CFA (gcc -O0); otherwise it shows as "?".

// funcParams are the parameters of one function.
type funcParams struct {
	params  []paramInfo
	cfaBase bool // DW_AT_frame_base is DW_OP_call_frame_cfa
}

type paramInfo struct {
	name string
	loc  []byte // DW_AT_location expression, nil when a list or missing
	typ  dwarf.Type
}

const (
	opFbreg        = 0x91
	opCallFrameCFA = 0x9c
)

// params returns the parameters of the (out-of-line) function holding the
// file address pc, from the debug info; nil when unknown.
func (so *symObject) params(pc uint64) (fp *funcParams) {
	if fp, ok := so.paramCache[pc]; ok {
		return fp
	}
	defer func() {
		if recover() != nil {
			fp = nil
		}
		if so.paramCache == nil {
			so.paramCache = map[uint64]*funcParams{}
		}
		so.paramCache[pc] = fp
	}()
	dw := so.debugData()
	if dw == nil {
		return nil
	}
	r := dw.Reader()
	if _, err := r.SeekPC(pc); err != nil {
		return nil
	}
	// The innermost subprogram DIE whose ranges hold pc.
	var fn *dwarf.Entry
	for depth := 1; depth > 0; {
		e, err := r.Next()
		if err != nil || e == nil {
			break
		}
		if e.Tag == 0 {
			depth--
			continue
		}
		if e.Tag == dwarf.TagSubprogram {
			if rg, err := dw.Ranges(e); err == nil && inRanges(rg, pc) {
				fn = e
				break
			}
		}
		if e.Children {
			if e.Tag == dwarf.TagSubprogram || e.Tag == dwarf.TagLexDwarfBlock || e.Tag == dwarf.TagInlinedSubroutine {
				r.SkipChildren() // no function of ours nests in another's body
				continue
			}
			depth++
		}
	}
	if fn == nil || !fn.Children {
		return nil
	}
	fp = &funcParams{}
	if fb, ok := fn.Val(dwarf.AttrFrameBase).([]byte); ok && len(fb) == 1 && fb[0] == opCallFrameCFA {
		fp.cfaBase = true
	}
	for {
		e, err := r.Next()
		if err != nil || e == nil || e.Tag == 0 {
			break
		}
		if e.Tag == dwarf.TagFormalParameter {
			fp.params = append(fp.params, so.paramOf(dw, e))
		}
		if e.Children {
			r.SkipChildren()
		}
	}
	return fp
}

func inRanges(rg [][2]uint64, pc uint64) bool {
	for _, r := range rg {
		if pc >= r[0] && pc < r[1] {
			return true
		}
	}
	return false
}

// paramOf reads a formal parameter, following its abstract origin for the
// name and type of a concrete out-of-line instance.
func (so *symObject) paramOf(dw *dwarf.Data, e *dwarf.Entry) paramInfo {
	var pi paramInfo
	pi.loc, _ = e.Val(dwarf.AttrLocation).([]byte)
	src := e
	for range 4 {
		if n, ok := src.Val(dwarf.AttrName).(string); ok && pi.name == "" {
			pi.name = n
		}
		if off, ok := src.Val(dwarf.AttrType).(dwarf.Offset); ok && pi.typ == nil {
			if t, err := dw.Type(off); err == nil {
				pi.typ = t
			}
		}
		origin, ok := src.Val(dwarf.AttrAbstractOrigin).(dwarf.Offset)
		if !ok || pi.name != "" && pi.typ != nil {
			break
		}
		r := dw.Reader()
		r.Seek(origin)
		next, err := r.Next()
		if err != nil || next == nil {
			break
		}
		src = next
	}
	return pi
}

// frameArgs evaluates the arguments of a frame whose CFA is cfa.
func (ps *procSpace) frameArgs(l *loaded, lookupPC, cfa uint64, mem *pageCache) []target.FrameArg {
	fp := l.so.params(lookupPC - l.bias)
	if fp == nil {
		return nil
	}
	args := make([]target.FrameArg, 0, len(fp.params))
	for _, p := range fp.params {
		v := "?"
		if off, ok := fbregOffset(p.loc); ok && fp.cfaBase && cfa != 0 && p.typ != nil {
			v = ps.formatValue(p.typ, cfa+uint64(off), mem, 0)
		}
		args = append(args, target.FrameArg{Name: p.name, Value: v})
	}
	return args
}

// fbregOffset decodes a location that is exactly DW_OP_fbreg N.
func fbregOffset(loc []byte) (int64, bool) {
	if len(loc) < 2 || loc[0] != opFbreg {
		return 0, false
	}
	var v int64
	var shift uint
	for i, b := range loc[1:] {
		v |= int64(b&0x7f) << shift
		shift += 7
		if b&0x80 == 0 {
			if shift < 64 && b&0x40 != 0 {
				v |= -1 << shift
			}
			return v, i+2 == len(loc)
		}
		if shift >= 64 {
			break
		}
	}
	return 0, false
}

// stripType removes typedefs and qualifiers.
func stripType(t dwarf.Type) dwarf.Type {
	for range 32 {
		switch tt := t.(type) {
		case *dwarf.TypedefType:
			t = tt.Type
		case *dwarf.QualType:
			t = tt.Type
		default:
			return t
		}
	}
	return t
}

// formatValue prints the value of type t at addr as gdb prints a frame
// argument.
func (ps *procSpace) formatValue(t dwarf.Type, addr uint64, mem *pageCache, depth int) string {
	t = stripType(t)
	size := t.Size()
	switch t.(type) {
	case *dwarf.StructType, *dwarf.ArrayType:
		return "..."
	}
	if size <= 0 || size > 8 {
		return "?"
	}
	var b [8]byte
	if mem.ReadMemory(addr, b[:size]) != nil {
		return fmt.Sprintf("<error: Cannot access memory at address 0x%x>", addr)
	}
	u := binary.LittleEndian.Uint64(b[:])
	signed := func() int64 {
		shift := 64 - 8*uint(size)
		return int64(u<<shift) >> shift
	}
	switch tt := t.(type) {
	case *dwarf.CharType:
		return fmt.Sprintf("%d '%s'", signed(), escapeChar(byte(u), '\''))
	case *dwarf.UcharType:
		return fmt.Sprintf("%d '%s'", u, escapeChar(byte(u), '\''))
	case *dwarf.IntType:
		return fmt.Sprint(signed())
	case *dwarf.UintType:
		return fmt.Sprint(u)
	case *dwarf.BoolType:
		switch u {
		case 0:
			return "false"
		case 1:
			return "true"
		}
		return fmt.Sprint(u)
	case *dwarf.FloatType:
		switch size {
		case 4:
			return formatFloat(float64(math.Float32frombits(uint32(u))), 9)
		case 8:
			return formatFloat(math.Float64frombits(u), 17)
		}
		return "?"
	case *dwarf.EnumType:
		v := signed()
		for _, e := range tt.Val {
			if e.Val == v {
				return e.Name
			}
		}
		return fmt.Sprint(v)
	case *dwarf.PtrType:
		if u == 0 {
			return "0x0"
		}
		// gdb names what a pointer points to when a symbol holds it.
		s := formatCodeAddr(ps.codeAddr(u))
		switch stripType(tt.Type).(type) {
		case *dwarf.CharType, *dwarf.UcharType:
			if depth == 0 {
				s += " " + quoteCString(mem, u)
			}
		}
		return s
	}
	return "?"
}

// formatCodeAddr prints an address as gdb's print_address: 0x1139 <add+4>.
func formatCodeAddr(a target.CodeAddr) string {
	s := fmt.Sprintf("0x%x", a.Addr)
	switch {
	case a.Symbol == "":
	case a.Offset == 0:
		s += " <" + a.Symbol + ">"
	default:
		s += fmt.Sprintf(" <%s+%d>", a.Symbol, a.Offset)
	}
	return s
}

// formatFloat prints like C's %.*g, as gdb does.
func formatFloat(v float64, digits int) string {
	switch {
	case math.IsInf(v, 1):
		return "inf"
	case math.IsInf(v, -1):
		return "-inf"
	case math.IsNaN(v):
		return "nan(0x8000000000000)"
	}
	s := strconv.FormatFloat(v, 'g', digits, 64)
	// %g drops trailing zeros of the fraction, strconv keeps them.
	mant, exp, hasExp := strings.Cut(s, "e")
	if strings.Contains(mant, ".") {
		mant = strings.TrimRight(strings.TrimRight(mant, "0"), ".")
	}
	if hasExp {
		return mant + "e" + exp
	}
	return mant
}

// quoteCString reads a C string for printing: at most 200 characters, as
// gdb's "print elements".
func quoteCString(mem *pageCache, addr uint64) string {
	const limit = 200
	s := mem.readString(addr, limit+1)
	if s == "" {
		var b [1]byte
		if mem.ReadMemory(addr, b[:]) != nil {
			return fmt.Sprintf("<error: Cannot access memory at address 0x%x>", addr)
		}
	}
	more := len(s) > limit
	if more {
		s = s[:limit]
	}
	var sb strings.Builder
	sb.WriteByte('"')
	for i := 0; i < len(s); i++ {
		sb.WriteString(escapeChar(s[i], '"'))
	}
	sb.WriteByte('"')
	if more {
		sb.WriteString("...")
	}
	return sb.String()
}

// escapeChar writes c as C source would inside quote.
func escapeChar(c, quote byte) string {
	switch c {
	case '\a':
		return `\a`
	case '\b':
		return `\b`
	case '\f':
		return `\f`
	case '\n':
		return `\n`
	case '\r':
		return `\r`
	case '\t':
		return `\t`
	case '\v':
		return `\v`
	case 033:
		return `\033`
	case '\\':
		return `\\`
	case quote:
		return `\` + string(quote)
	}
	if c >= 0x20 && c < 0x7f {
		return string(c)
	}
	return fmt.Sprintf(`\%03o`, c)
}
