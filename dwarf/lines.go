package dwarf

import (
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

// Location is a source position.
//
// For a pc inside inlined code, Function/File/Line/Column describe the
// innermost inlined function at pc (the line table's answer), and Inlined
// lists the functions it is inlined into, innermost first, each at its call
// site: Inlined[0] is the function that called the innermost one, at the
// line of that call, and the last element is the real (out-of-line)
// function. Inlined is empty when pc is not in inlined code. This is the
// order `addr2line -f -i` prints; Chain returns it as one slice.
type Location struct {
	Function     string
	File         string
	Line, Column int
	Inlined      []Location
}

// Chain returns the location followed by its Inlined callers, innermost
// first, each without its own Inlined list.
func (l Location) Chain() []Location {
	out := make([]Location, 0, 1+len(l.Inlined))
	top := l
	top.Inlined = nil
	out = append(out, top)
	for _, c := range l.Inlined {
		c.Inlined = nil
		out = append(out, c)
	}
	return out
}

// PCToLine returns the source location of the file address pc: the
// function (innermost inlined one first, with its callers in Inlined) and
// the line table row in effect at pc, answering as `addr2line -f -i` does:
// among several rows at one address the last applies, whether or not it is
// a statement (gdb's `info line`, see LineRange, prefers a statement row),
// and code no DWARF function covers is named after the nearest preceding
// function symbol. A pc with a function but no line information gets a
// Location with only Function set (addr2line's "func ??:0").
func (o *Object) PCToLine(pc uint64) (Location, error) {
	if o.dw == nil {
		return Location{}, o.noDebug()
	}
	loc, ok := o.locate(pc, nil, false)
	if !ok {
		if !o.Contains(pc) {
			return Location{}, &AddressError{Addr: pc, Object: o.path}
		}
		return Location{}, notFound("no line information for 0x%x in %s", pc, o.path)
	}
	return loc, nil
}

// locate builds the location of pc from the line table, the function
// index and, failing those, the symbol table. buf is scratch space.
//
// gdbStyle selects gdb's answers (as in a backtrace) over addr2line's: a
// statement row is preferred among rows at pc's address, and a function
// known only from the symbol table must cover pc with its size.
func (o *Object) locate(pc uint64, buf []*scope, gdbStyle bool) (Location, bool) {
	var loc Location
	found := false
	if la, ok := o.findLine(pc, gdbStyle); ok {
		loc.File = o.fileName(la.row.file)
		loc.Line = int(la.row.line)
		loc.Column = int(la.row.col)
		found = true
	}
	if fn := o.findFunc(pc); fn != nil {
		found = true
		chain := scopesAt(fn, pc, buf)
		// Inlined scopes, innermost last.
		var inl []*scope
		for _, s := range chain {
			if s.kind == scopeInlined {
				inl = append(inl, s)
			}
		}
		if len(inl) == 0 {
			loc.Function = fn.name
		} else {
			loc.Function = inl[len(inl)-1].name
			loc.Inlined = make([]Location, len(inl))
			for k := len(inl) - 1; k >= 0; k-- {
				caller := fn.name
				if k > 0 {
					caller = inl[k-1].name
				}
				loc.Inlined[len(inl)-1-k] = Location{
					Function: caller,
					File:     o.fileName(inl[k].callFile),
					Line:     int(inl[k].callLine),
					Column:   int(inl[k].callCol),
				}
			}
		}
	}
	if loc.Function == "" {
		var s symbol
		var ok bool
		if gdbStyle {
			s, ok = o.symbolAt(pc)
		} else {
			s, ok = o.nearestFuncSymbol(pc)
		}
		if ok {
			loc.Function = s.name
			if gdbStyle {
				loc.Function = gdbSymName(s.name)
			}
			found = true
		}
	}
	return loc, found
}

// fileMatches reports whether the full path full matches the user's file
// name: equal, or (for a relative name) a suffix starting at a path
// separator, as gdb's compare_filenames_for_search.
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

// LineToPCs returns the addresses where a breakpoint on file:line goes, as
// gdb's linespec resolves it: every is_stmt row of that line in every
// matching file (the file matched by full path or by a suffix such as the
// base name), keeping the lowest address per block, so that each inlined
// copy or duplicated instance of the line gets one address. When the line
// has no code, the next line that has some is used. Unlike gdb's break,
// the addresses are not moved past a function's prologue.
func (o *Object) LineToPCs(file string, line int) ([]uint64, error) {
	if o.dw == nil {
		return nil, o.noDebug()
	}
	var ids []uint32
	for id, name := range o.files {
		if _, ok := o.byFile[uint32(id)]; ok && fileMatches(name, file) {
			ids = append(ids, uint32(id))
		}
	}
	if len(ids) == 0 {
		return nil, notFound("no source file named %s in %s", file, o.path)
	}
	collect := func(line int32) []uint64 {
		var pcs []uint64
		for _, id := range ids {
			refs := o.byFile[id]
			i := sort.Search(len(refs), func(i int) bool { return refs[i].line >= line })
			for ; i < len(refs) && refs[i].line == line; i++ {
				pcs = append(pcs, refs[i].addr)
			}
		}
		return pcs
	}
	pcs := collect(int32(line))
	if len(pcs) == 0 {
		best := int32(-1)
		for _, id := range ids {
			refs := o.byFile[id]
			i := sort.Search(len(refs), func(i int) bool { return refs[i].line > int32(line) })
			if i < len(refs) && (best < 0 || refs[i].line < best) {
				best = refs[i].line
			}
		}
		if best < 0 {
			return nil, notFound("no line %d in file %q in %s", line, file, o.path)
		}
		pcs = collect(best)
	}
	slices.Sort(pcs)
	pcs = slices.Compact(pcs)
	// One address per block: gdb's filter for lines scattered over
	// several ranges of the same function or inlined copy.
	seen := map[*scope]bool{}
	var buf []*scope
	out := pcs[:0]
	for _, pc := range pcs {
		b := o.blockAt(pc, buf)
		if b != nil {
			if seen[b] {
				continue
			}
			seen[b] = true
		}
		out = append(out, pc)
	}
	return out, nil
}

// blockAt returns the innermost gdb block at pc: the innermost inlined
// call, lexical block declaring something, or function containing pc.
func (o *Object) blockAt(pc uint64, buf []*scope) *scope {
	fn := o.findFunc(pc)
	if fn == nil {
		return nil
	}
	chain := scopesAt(fn, pc, buf)
	for i := len(chain) - 1; i >= 0; i-- {
		if s := chain[i]; s.kind != scopeLexical || s.symbols {
			return s
		}
	}
	return fn.root
}

// FunctionEntry returns the entry address of the named function and the
// address after its prologue, found from the line table as gdb's
// skip_prologue_using_sal does: normally the address of the function's
// second line-table row; the entry itself when the function starts with
// two rows at the same address (optimized code) or has a single line.
// Without debug info, a function symbol gives the entry and no prologue
// analysis is done (afterPrologue == entry).
func (o *Object) FunctionEntry(name string) (entry, afterPrologue uint64, err error) {
	var fn *function
	for _, f := range o.funcNames[name] {
		if fn == nil || f.external && !fn.external {
			fn = f
		}
	}
	if fn == nil {
		if s, ok := o.symbolByName(name, true); ok {
			return s.addr, s.addr, nil
		}
		if o.dw == nil {
			return 0, 0, o.noDebug()
		}
		return 0, 0, notFound("no function %s in %s", name, o.path)
	}
	after := o.skipPrologueUsingSal(fn)
	if after == 0 {
		after = fn.entry
	}
	return fn.entry, after, nil
}

func (o *Object) skipPrologueUsingSal(fn *function) uint64 {
	start := fn.entry
	var endPC uint64
	for _, r := range fn.root.ranges {
		if start >= r[0] && start < r[1] {
			endPC = r[1]
		}
	}
	if endPC == 0 {
		return 0
	}
	pro, ok := o.findLine(start, true)
	if !ok {
		return 0
	}
	// Two consecutive rows of the file at the function's start address:
	// a zero-instruction prologue.
	rows := pro.seq.rows
	i := sort.Search(len(rows), func(i int) bool { return rows[i].addr >= pro.start })
	for i < len(rows) && rows[i].addr == pro.start && rows[i].file != pro.row.file {
		i++
	}
	if i+1 < len(rows) && rows[i].addr == pro.start && rows[i+1].file == pro.row.file &&
		rows[i+1].line != 0 && rows[i+1].addr == start {
		return start
	}
	if pro.end >= endPC {
		return 0
	}
	var buf []*scope
	for pro.end < endPC {
		sal, ok := o.findLine(pro.end, true)
		if !ok {
			break
		}
		if sal.row.line >= pro.row.line || sal.row.file != pro.row.file {
			break
		}
		// A smaller line inside an inlined call says nothing about the
		// prologue.
		if fn := o.findFunc(pro.end); fn != nil {
			inlined := false
			for _, s := range scopesAt(fn, pro.end, buf) {
				inlined = inlined || s.kind == scopeInlined
			}
			if inlined {
				break
			}
		}
		pro = sal
	}
	if pro.end < endPC {
		return pro.end
	}
	return pro.start
}

// LineRange is gdb's `info line *ADDR`: the line table row in effect at
// the file address pc and the address range [Start, End) it covers.
func (o *Object) LineRange(pc uint64) (file string, line int, start, end uint64, err error) {
	if o.dw == nil {
		return "", 0, 0, 0, o.noDebug()
	}
	la, ok := o.findLine(pc, true)
	if !ok {
		return "", 0, 0, 0, notFound("no line number information for 0x%x in %s", pc, o.path)
	}
	return o.fileName(la.row.file), int(la.row.line), la.start, la.end, nil
}

// Functions returns the names of the functions with code that the debug
// info describes, sorted.
func (o *Object) Functions() []string {
	names := make([]string, 0, len(o.funcNames))
	for n := range o.funcNames {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// SourceFiles returns the full paths of the files the line tables name.
func (o *Object) SourceFiles() []string {
	var out []string
	for id, name := range o.files {
		if _, ok := o.byFile[uint32(id)]; ok {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}
