// Package dwarf answers target-side address questions about ELF files from
// their symbol tables, DWARF debug information and call frame information:
// pc -> function/file/line (with the inlined call chain), file:line -> pcs,
// function -> entry and end of prologue, address -> ELF symbol, global
// variable -> address and size, and CFA-based stack unwinding from .eh_frame
// and .debug_frame.
//
// It builds on the standard library's debug/elf and debug/dwarf. Every query
// works on indexes built once by Open; no query rescans the DWARF. Live
// process data (memory, registers, auxv) comes in through small interfaces,
// so the package has no ptrace dependency and can work on snapshots.
//
// Addresses given to and returned by *Object methods are file (unrelocated)
// addresses, as in the ELF file. A Space maps run-time addresses of a process
// to objects and their load bias; Unwind works with run-time addresses.
//
// An *Object and a *Space are safe for concurrent use once built.
package dwarf

import (
	"bytes"
	"cmp"
	"debug/dwarf"
	"debug/elf"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
)

// ErrNoDebugInfo is matched (errors.Is) by errors about objects that have no
// DWARF debug information, neither inside nor in a separate debug file.
var ErrNoDebugInfo = errors.New("no debug info")

// ErrNotFound is matched by errors about names, lines or addresses that the
// object does not describe.
var ErrNotFound = errors.New("not found")

// ErrNoObject is matched by errors about addresses that no object contains.
var ErrNoObject = errors.New("no object contains address")

type noDebugInfoError struct{ path string }

func (e *noDebugInfoError) Error() string        { return "no debug info in " + e.path }
func (e *noDebugInfoError) Is(target error) bool { return target == ErrNoDebugInfo }

type notFoundError struct{ msg string }

func (e *notFoundError) Error() string        { return e.msg }
func (e *notFoundError) Is(target error) bool { return target == ErrNotFound }

func notFound(format string, args ...any) error {
	return &notFoundError{fmt.Sprintf(format, args...)}
}

// AddressError reports an address that is outside every object of a Space
// (Object == "") or outside the loadable segments of one object.
type AddressError struct {
	Addr   uint64
	Object string
}

func (e *AddressError) Error() string {
	if e.Object == "" {
		return fmt.Sprintf("no object contains 0x%x", e.Addr)
	}
	return fmt.Sprintf("%s does not contain 0x%x", e.Object, e.Addr)
}

// Is makes AddressError match ErrNoObject.
func (e *AddressError) Is(target error) bool { return target == ErrNoObject }

// DefaultDebugDirs are the global debug directories searched for separate
// debug files, as gdb's "debug-file-directory".
var DefaultDebugDirs = []string{"/usr/lib/debug"}

// Options tune Open.
type Options struct {
	// DebugDirs replaces DefaultDebugDirs when non-nil: the global
	// directories searched for separate debug info (by build-id under
	// DIR/.build-id/xx/yyyy.debug, and by .gnu_debuglink under
	// DIR/<directory of the object>/).
	DebugDirs []string
}

// Object is one ELF file with its symbols, DWARF and CFI, indexed at Open.
type Object struct {
	path      string // as given to Open
	debugPath string // separate debug file the DWARF came from ("" if none)

	file    *elf.File // the object itself
	dbgFile *elf.File // separate debug file, or nil
	closers []io.Closer

	class    elf.Class
	order    binary.ByteOrder
	ptrSize  int
	entry    uint64
	loads    []segment // PT_LOAD segments, sorted by vaddr
	sections []section // SHF_ALLOC sections, sorted by addr
	dynamic  uint64    // PT_DYNAMIC vaddr (0 if none)
	dynSize  uint64
	interp   string // PT_INTERP

	dw *dwarf.Data // nil when the object has no debug info

	syms []symbol // sorted by (addr, name)

	// line tables
	files   []string // global file table, index -> full path
	fileIDs map[string]uint32
	seqs    []sequence // sorted by lo
	seqMax  []uint64   // prefix maximum of seqs[i].hi
	byFile  map[uint32][]lineRef

	// functions and their inline/lexical block trees
	funcs     []*function
	franges   []funcRange // sorted by lo
	frangeMax []uint64
	funcNames map[string][]*function
	callByRet map[uint64]*callSite // call sites with a known target, by return address

	// global variables
	vars map[string][]variable

	// call frame information
	ehFrame    *cfiTable
	debugFrame *cfiTable

	typeMu sync.Mutex // debug/dwarf's type cache is not safe for concurrent use
}

type segment struct {
	vaddr, memsz, off, filesz uint64
	flags                     elf.ProgFlag
}

type section struct {
	name       string
	addr, size uint64
	idx        int
	flags      elf.SectionFlag
}

// Open opens the ELF file at path, finds its debug info (inside, or in a
// separate file through its build-id or .gnu_debuglink), and indexes it.
// A file without debug info opens fine (its symbols and .eh_frame still
// serve Symbol and Unwind); queries that need DWARF then fail with an error
// matching ErrNoDebugInfo. A truncated or corrupt file is an error.
func Open(path string) (*Object, error) {
	return OpenWith(path, nil)
}

// OpenWith is Open with options.
func OpenWith(path string, opts *Options) (o *Object, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	o, err = newObject(f, path, opts, true)
	if err != nil {
		f.Close()
		return nil, err
	}
	o.closers = append(o.closers, f)
	return o, nil
}

// NewFile indexes an ELF image read through r (for example a vDSO copied out
// of a process's memory). name is used in messages. No separate debug file
// is looked for.
func NewFile(r io.ReaderAt, name string) (*Object, error) {
	return newObject(r, name, nil, false)
}

// Close releases the files behind the object.
func (o *Object) Close() error {
	var errs []error
	for _, c := range o.closers {
		if err := c.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	o.closers = nil
	return errors.Join(errs...)
}

// Path is the path the object was opened with.
func (o *Object) Path() string { return o.path }

// DebugPath is the separate debug file the DWARF came from, or "".
func (o *Object) DebugPath() string { return o.debugPath }

// HasDebugInfo reports whether the object has DWARF debug information.
func (o *Object) HasDebugInfo() bool { return o.dw != nil }

// Entry is the ELF entry point (file address).
func (o *Object) Entry() uint64 { return o.entry }

// Contains reports whether the file address addr is inside one of the
// object's loadable segments.
func (o *Object) Contains(addr uint64) bool {
	for _, s := range o.loads {
		if addr >= s.vaddr && addr-s.vaddr < s.memsz {
			return true
		}
	}
	return false
}

func (o *Object) noDebug() error {
	return &noDebugInfoError{o.path}
}

func newObject(r io.ReaderAt, path string, opts *Options, lookDebug bool) (o *Object, err error) {
	defer func() {
		if p := recover(); p != nil {
			o, err = nil, fmt.Errorf("%s: corrupt ELF or DWARF: %v", path, p)
		}
	}()
	f, err := elf.NewFile(r)
	if err != nil {
		return nil, fmt.Errorf("%s: not a valid ELF file: %w", path, err)
	}
	o = &Object{path: path, file: f, class: f.Class, order: f.ByteOrder, entry: f.Entry}
	if f.Class == elf.ELFCLASS64 {
		o.ptrSize = 8
	} else {
		o.ptrSize = 4
	}
	if err := o.readLayout(); err != nil {
		return nil, err
	}

	// Find the DWARF: inside, or in a separate debug file.
	dwFile := f
	if !hasDWARF(f) && lookDebug {
		dirs := DefaultDebugDirs
		if opts != nil && opts.DebugDirs != nil {
			dirs = opts.DebugDirs
		}
		if df, dpath, closer := findDebugFile(f, path, dirs); df != nil {
			o.dbgFile, o.debugPath = df, dpath
			o.closers = append(o.closers, closer)
			dwFile = df
		}
	}
	if hasDWARF(dwFile) {
		dw, err := dwFile.DWARF()
		if err != nil {
			o.Close()
			return nil, fmt.Errorf("corrupt DWARF in %s: %w", o.dwarfPath(), err)
		}
		o.dw = dw
	}

	if err := o.readSymbols(); err != nil {
		o.Close()
		return nil, err
	}
	if o.dw != nil {
		if err := o.indexDWARF(); err != nil {
			o.Close()
			return nil, fmt.Errorf("corrupt DWARF in %s: %w", o.dwarfPath(), err)
		}
	}
	if err := o.readCFI(); err != nil {
		o.Close()
		return nil, err
	}
	return o, nil
}

func (o *Object) dwarfPath() string {
	if o.debugPath != "" {
		return o.debugPath
	}
	return o.path
}

func (o *Object) readLayout() error {
	f := o.file
	for _, p := range f.Progs {
		switch p.Type {
		case elf.PT_LOAD:
			o.loads = append(o.loads, segment{vaddr: p.Vaddr, memsz: p.Memsz, off: p.Off, filesz: p.Filesz, flags: p.Flags})
		case elf.PT_DYNAMIC:
			o.dynamic, o.dynSize = p.Vaddr, p.Memsz
		case elf.PT_INTERP:
			b := make([]byte, min(p.Filesz, 4096))
			if _, err := p.ReadAt(b, 0); err != nil {
				return fmt.Errorf("%s: reading PT_INTERP: %w", o.path, err)
			}
			o.interp = string(bytes.TrimRight(b, "\x00"))
		}
	}
	slices.SortFunc(o.loads, func(a, b segment) int { return cmp.Compare(a.vaddr, b.vaddr) })
	for i, s := range f.Sections {
		if s.Flags&elf.SHF_ALLOC != 0 && s.Size > 0 {
			o.sections = append(o.sections, section{name: s.Name, addr: s.Addr, size: s.Size, idx: i, flags: s.Flags})
		}
	}
	slices.SortFunc(o.sections, func(a, b section) int { return cmp.Compare(a.addr, b.addr) })
	return nil
}

// sectionAt returns the allocated section containing addr.
func (o *Object) sectionAt(addr uint64) (section, bool) {
	i := searchLast(len(o.sections), func(i int) bool { return o.sections[i].addr <= addr })
	// Sections do not overlap, except .tbss which takes no room at run
	// time: look at a few candidates.
	for j := i; j >= 0 && j > i-4; j-- {
		if s := o.sections[j]; addr-s.addr < s.size {
			return s, true
		}
	}
	return section{}, false
}

// hasDWARF reports whether f carries DWARF (not just NOBITS placeholders, as
// in a stripped file or the non-debug half of a split).
func hasDWARF(f *elf.File) bool {
	for _, name := range []string{".debug_info", ".zdebug_info"} {
		if s := f.Section(name); s != nil && s.Type != elf.SHT_NOBITS && s.Size > 0 {
			return true
		}
	}
	return false
}

// buildID returns the GNU build-id of f, or nil.
func buildID(f *elf.File) []byte {
	var notes [][]byte
	for _, s := range f.Sections {
		if s.Type == elf.SHT_NOTE {
			if b, err := s.Data(); err == nil {
				notes = append(notes, b)
			}
		}
	}
	if len(notes) == 0 {
		for _, p := range f.Progs {
			if p.Type == elf.PT_NOTE && p.Filesz < 1<<20 {
				b := make([]byte, p.Filesz)
				if _, err := p.ReadAt(b, 0); err == nil {
					notes = append(notes, b)
				}
			}
		}
	}
	for _, b := range notes {
		for len(b) >= 12 {
			namesz := uint64(f.ByteOrder.Uint32(b))
			descsz := uint64(f.ByteOrder.Uint32(b[4:]))
			typ := f.ByteOrder.Uint32(b[8:])
			b = b[12:]
			nameEnd := (namesz + 3) &^ 3
			descEnd := (descsz + 3) &^ 3
			if nameEnd > uint64(len(b)) || nameEnd+descEnd > uint64(len(b)) || descsz > uint64(len(b)) {
				break
			}
			name := b[:namesz]
			desc := b[nameEnd : nameEnd+descsz]
			b = b[nameEnd+descEnd:]
			if typ == 3 && string(bytes.TrimRight(name, "\x00")) == "GNU" && len(desc) > 0 {
				return desc
			}
		}
	}
	return nil
}

// findDebugFile looks for f's separate debug info the way gdb does: first by
// build-id in the global debug directories, then by .gnu_debuglink next to
// the file, in its .debug/ subdirectory, and under each global directory.
func findDebugFile(f *elf.File, path string, dirs []string) (*elf.File, string, io.Closer) {
	id := buildID(f)
	if len(id) >= 2 {
		h := hex.EncodeToString(id)
		for _, d := range dirs {
			p := filepath.Join(d, ".build-id", h[:2], h[2:]+".debug")
			df, c := openDebugCandidate(p, path, func(df *elf.File, _ string) bool {
				return bytes.Equal(buildID(df), id)
			})
			if df != nil {
				return df, p, c
			}
		}
	}
	s := f.Section(".gnu_debuglink")
	if s == nil {
		return nil, "", nil
	}
	b, err := s.Data()
	if err != nil {
		return nil, "", nil
	}
	n := bytes.IndexByte(b, 0)
	if n <= 0 {
		return nil, "", nil
	}
	name := string(b[:n])
	off := (n + 4) &^ 3
	if off+4 > len(b) {
		return nil, "", nil
	}
	crc := f.ByteOrder.Uint32(b[off:])
	var candidates []string
	seen := map[string]bool{}
	addDir := func(dir string) {
		for _, c := range []string{filepath.Join(dir, name), filepath.Join(dir, ".debug", name)} {
			if !seen[c] {
				seen[c] = true
				candidates = append(candidates, c)
			}
		}
		if filepath.IsAbs(dir) {
			for _, d := range dirs {
				c := filepath.Join(d, dir, name)
				if !seen[c] {
					seen[c] = true
					candidates = append(candidates, c)
				}
			}
		}
	}
	if abs, err := filepath.Abs(path); err == nil {
		addDir(filepath.Dir(abs))
		if real, err := filepath.EvalSymlinks(abs); err == nil {
			addDir(filepath.Dir(real))
		}
	}
	for _, c := range candidates {
		df, cl := openDebugCandidate(c, path, func(_ *elf.File, p string) bool {
			return fileCRC(p) == crc
		})
		if df != nil {
			return df, c, cl
		}
	}
	return nil, "", nil
}

func openDebugCandidate(p, self string, ok func(*elf.File, string) bool) (*elf.File, io.Closer) {
	st, err := os.Stat(p)
	if err != nil || !st.Mode().IsRegular() {
		return nil, nil
	}
	if st2, err := os.Stat(self); err == nil && os.SameFile(st, st2) {
		return nil, nil
	}
	fh, err := os.Open(p)
	if err != nil {
		return nil, nil
	}
	df, err := elf.NewFile(fh)
	if err != nil || !hasDWARF(df) || !ok(df, p) {
		fh.Close()
		return nil, nil
	}
	return df, fh
}

func fileCRC(p string) uint32 {
	fh, err := os.Open(p)
	if err != nil {
		return 0
	}
	defer fh.Close()
	h := crc32.NewIEEE()
	if _, err := io.Copy(h, fh); err != nil {
		return 0
	}
	return h.Sum32()
}

// searchLast returns the last index i in [0, n) for which pred(i) holds,
// pred being true then false over the range; -1 if none.
func searchLast(n int, pred func(int) bool) int {
	return sort.Search(n, func(i int) bool { return !pred(i) }) - 1
}
