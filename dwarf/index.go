package dwarf

import (
	"cmp"
	"debug/dwarf"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
)

// lineRow is one row of a line table as gdb records it.
type lineRow struct {
	addr uint64
	file uint32
	line int32
	col  int32
	stmt bool
}

// sequence is one DWARF line sequence: rows in address order over [lo, hi).
type sequence struct {
	lo, hi uint64
	rows   []lineRow
}

// lineRef indexes an is_stmt row by file and line.
type lineRef struct {
	line int32
	addr uint64
}

type scopeKind uint8

const (
	scopeFunction scopeKind = iota
	scopeInlined
	scopeLexical
)

// scope is a function, an inlined call or a lexical block with its address
// ranges and nested scopes.
type scope struct {
	kind     scopeKind
	ranges   [][2]uint64
	origin   dwarf.Offset // abstract origin of an inlined call
	name     string
	callFile uint32
	callLine int32
	callCol  int32
	symbols  bool // lexical block that declares something (a gdb block)
	children []*scope
}

func (s *scope) contains(pc uint64) bool {
	for _, r := range s.ranges {
		if pc >= r[0] && pc < r[1] {
			return true
		}
	}
	return false
}

// function is a subprogram with code.
type function struct {
	name      string // the linkage name when there is one, as gdb and addr2line show
	plain     string // DW_AT_name
	entry     uint64
	external  bool
	root      *scope
	origin    dwarf.Offset // where to look for the name if it has none
	off       dwarf.Offset // the subprogram's DIE
	tailCalls []*callSite  // tail calls this function makes
}

// callSite is a DW_TAG_call_site (or DW_TAG_GNU_call_site) with a known
// callee: used to rebuild the frames of functions that tail-called.
type callSite struct {
	retPC  uint64 // address after the call or jump
	origin dwarf.Offset
	tail   bool
	caller *function
	target *function
}

// GNU extensions of DWARF 4 for call sites.
const (
	tagGNUCallSite  dwarf.Tag  = 0x4109
	attrGNUTailCall dwarf.Attr = 0x2115
)

type funcRange struct {
	lo, hi uint64
	fn     *function
}

type variable struct {
	name     string
	addr     uint64
	typ      dwarf.Offset
	hasType  bool
	tls      bool
	external bool
	spec     dwarf.Offset
}

type dieInfo struct {
	name    string
	linkage string
	origin  dwarf.Offset // abstract origin or specification
	typ     dwarf.Offset
	hasTyp  bool
}

func (o *Object) intern(name string) uint32 {
	if id, ok := o.fileIDs[name]; ok {
		return id
	}
	id := uint32(len(o.files))
	o.files = append(o.files, name)
	o.fileIDs[name] = id
	return id
}

// indexDWARF reads every compilation unit once: its line table, its
// functions with their inlined calls and blocks, and its global variables.
func (o *Object) indexDWARF() error {
	o.fileIDs = map[string]uint32{}
	o.funcNames = map[string][]*function{}
	o.vars = map[string][]variable{}
	dies := map[dwarf.Offset]dieInfo{}
	var pendingVars []variable
	var sites []*callSite

	r := o.dw.Reader()
	for {
		cu, err := r.Next()
		if err != nil {
			return err
		}
		if cu == nil {
			break
		}
		if cu.Tag != dwarf.TagCompileUnit && cu.Tag != dwarf.TagPartialUnit {
			if cu.Children {
				r.SkipChildren()
			}
			continue
		}
		cuFiles, err := o.readLines(cu)
		if err != nil {
			return err
		}
		if !cu.Children {
			continue
		}
		if err := o.walkUnit(r, cuFiles, dies, &pendingVars, &sites); err != nil {
			return err
		}
	}

	// Resolve names through abstract origins and specifications.
	resolve := func(off dwarf.Offset) dieInfo {
		var out dieInfo
		for range 8 {
			d, ok := dies[off]
			if !ok {
				break
			}
			if out.name == "" {
				out.name = d.name
			}
			if out.linkage == "" {
				out.linkage = d.linkage
			}
			if !out.hasTyp && d.hasTyp {
				out.typ, out.hasTyp = d.typ, true
			}
			if out.name != "" && out.hasTyp || d.origin == 0 {
				break
			}
			off = d.origin
		}
		return out
	}
	var fixScope func(s *scope)
	display := func(d dieInfo) string {
		if d.linkage != "" {
			return d.linkage
		}
		return d.name
	}
	fixScope = func(s *scope) {
		if s.kind == scopeInlined && s.name == "" {
			s.name = display(resolve(s.origin))
		}
		for _, c := range s.children {
			fixScope(c)
		}
	}
	for _, fn := range o.funcs {
		if fn.name == "" && fn.origin != 0 {
			d := resolve(fn.origin)
			fn.name, fn.plain = display(d), d.name
		}
		fixScope(fn.root)
		if fn.name != "" {
			o.funcNames[fn.name] = append(o.funcNames[fn.name], fn)
		}
		if fn.plain != "" && fn.plain != fn.name {
			o.funcNames[fn.plain] = append(o.funcNames[fn.plain], fn)
		}
		for _, rg := range fn.root.ranges {
			if rg[1] > rg[0] {
				o.franges = append(o.franges, funcRange{rg[0], rg[1], fn})
			}
		}
	}
	byOff := map[dwarf.Offset]*function{}
	for _, fn := range o.funcs {
		byOff[fn.off] = fn
	}
	o.callByRet = map[uint64]*callSite{}
	for _, cs := range sites {
		cs.target = byOff[cs.origin]
		if cs.target == nil {
			// A declaration of a function defined elsewhere: by name.
			name := resolve(cs.origin).name
			for _, f := range o.funcNames[name] {
				if cs.target == nil || f.external && !cs.target.external {
					cs.target = f
				}
			}
		}
		if cs.target == nil {
			continue
		}
		o.callByRet[cs.retPC] = cs
		if cs.tail {
			cs.caller.tailCalls = append(cs.caller.tailCalls, cs)
		}
	}
	for _, v := range pendingVars {
		if v.spec != 0 {
			d := resolve(v.spec)
			if v.name == "" {
				v.name = d.name
			}
			if !v.hasType && d.hasTyp {
				v.typ, v.hasType = d.typ, true
			}
		}
		if v.name != "" {
			o.vars[v.name] = append(o.vars[v.name], v)
		}
	}

	slices.SortStableFunc(o.franges, func(a, b funcRange) int { return cmp.Compare(a.lo, b.lo) })
	o.frangeMax = make([]uint64, len(o.franges))
	var m uint64
	for i, fr := range o.franges {
		m = max(m, fr.hi)
		o.frangeMax[i] = m
	}

	slices.SortStableFunc(o.seqs, func(a, b sequence) int { return cmp.Compare(a.lo, b.lo) })
	o.seqMax = make([]uint64, len(o.seqs))
	m = 0
	o.byFile = map[uint32][]lineRef{}
	for i, s := range o.seqs {
		m = max(m, s.hi)
		o.seqMax[i] = m
		for _, row := range s.rows {
			if row.stmt && row.line > 0 {
				o.byFile[row.file] = append(o.byFile[row.file], lineRef{row.line, row.addr})
			}
		}
	}
	for f, refs := range o.byFile {
		slices.SortFunc(refs, func(a, b lineRef) int {
			if c := cmp.Compare(a.line, b.line); c != 0 {
				return c
			}
			return cmp.Compare(a.addr, b.addr)
		})
		o.byFile[f] = slices.CompactFunc(refs, func(a, b lineRef) bool { return a == b })
	}
	return nil
}

// readLines reads the line table of one unit into sequences, recording rows
// the way gdb's DWARF reader does (dwarf_record_line_p, the file-switch
// rules of lnp_state_machine::record_line and buildsym's end markers), so
// that pc -> line and line -> pcs answer as gdb does. It returns the unit's
// file table mapped to global file ids.
func (o *Object) readLines(cu *dwarf.Entry) ([]uint32, error) {
	lr, err := o.dw.LineReader(cu)
	if err != nil {
		return nil, err
	}
	if lr == nil {
		return nil, nil
	}
	ids := map[*dwarf.LineFile]uint32{}
	fileID := func(f *dwarf.LineFile) uint32 {
		if f == nil {
			return o.intern("")
		}
		id, ok := ids[f]
		if !ok {
			id = o.intern(f.Name)
			ids[f] = id
		}
		return id
	}

	var (
		e           dwarf.LineEntry
		rows        []lineRow
		lastFile    = -1 // file of the last recorded row in this sequence
		lastLine    int
		lastAddr    uint64
		haveAddr    bool
		prevLine    = -1
		lineHasDisc bool
	)
	// finish drops the trailing rows of file at addr, as gdb's end marker
	// (record_line with line 0) does in that file's table.
	finish := func(file int, addr uint64) {
		for n := len(rows); n > 0; n-- {
			r := rows[n-1]
			if r.addr != addr {
				break
			}
			if int(r.file) != file {
				continue
			}
			rows = slices.Delete(rows, n-1, n)
		}
	}
	for {
		err := lr.Next(&e)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if e.EndSequence {
			if lastFile >= 0 {
				finish(lastFile, e.Address)
			}
			if len(rows) > 0 && e.Address > rows[0].addr && o.validCodeAddr(rows[0].addr) {
				o.seqs = append(o.seqs, sequence{lo: rows[0].addr, hi: e.Address, rows: slices.Clip(rows)})
			}
			rows = nil
			lastFile, lastLine, haveAddr, prevLine, lineHasDisc = -1, 0, false, -1, false
			continue
		}
		if e.Line != prevLine {
			lineHasDisc = e.Discriminator != 0
			prevLine = e.Line
		} else if e.Discriminator != 0 {
			lineHasDisc = true
		}
		if e.OpIndex != 0 {
			continue
		}
		file := int(fileID(e.File))
		fileChanged := lastFile >= 0 && file != lastFile
		ignore := (fileChanged && haveAddr && lastAddr == e.Address && !e.IsStmt) || e.Line == 0
		if fileChanged && !ignore {
			finish(lastFile, e.Address)
		}
		if !ignore {
			if file != lastFile || e.Line != lastLine || !lineHasDisc {
				rows = append(rows, lineRow{addr: e.Address, file: uint32(file), line: int32(e.Line), col: int32(e.Column), stmt: e.IsStmt})
			}
			lastFile, lastLine = file, e.Line
		} else if e.Line == 0 {
			// A line-0 row ends the previous line's range: keep it as a
			// "no line here" marker.
			rows = append(rows, lineRow{addr: e.Address, file: uint32(file)})
			lastFile, lastLine = file, 0
		}
		lastAddr, haveAddr = e.Address, true
	}
	files := lr.Files()
	out := make([]uint32, len(files))
	for i, f := range files {
		if f != nil {
			out[i] = fileID(f)
		}
	}
	return out, nil
}

// validCodeAddr filters out line sequences of code the linker discarded
// (relocated to address 0), as gdb does.
func (o *Object) validCodeAddr(addr uint64) bool {
	if addr != 0 {
		return true
	}
	_, ok := o.sectionAt(0)
	return ok
}

// walkUnit indexes the DIEs of one unit; r is positioned after the unit's
// own entry.
func (o *Object) walkUnit(r *dwarf.Reader, cuFiles []uint32, dies map[dwarf.Offset]dieInfo, pendingVars *[]variable, sites *[]*callSite) error {
	type level struct {
		fn    *function
		s     *scope // enclosing scope with code, nil at unit level
		unit  bool   // children are unit-level (CU, namespace)
		block *scope // the lexical block whose declarations these are
	}
	stack := []level{{unit: true}}
	fileOf := func(v any) uint32 {
		i, ok := v.(int64)
		if !ok || i < 0 || int(i) >= len(cuFiles) {
			return o.intern("")
		}
		return cuFiles[i]
	}
	for len(stack) > 0 {
		e, err := r.Next()
		if err != nil {
			return err
		}
		if e == nil {
			return errors.New("unexpected end of .debug_info")
		}
		if e.Tag == 0 {
			stack = stack[:len(stack)-1]
			continue
		}
		top := stack[len(stack)-1]
		var push *level
		switch e.Tag {
		case dwarf.TagSubprogram:
			d := dieInfo{}
			d.name, _ = e.Val(dwarf.AttrName).(string)
			d.linkage, _ = e.Val(dwarf.AttrLinkageName).(string)
			if off, ok := e.Val(dwarf.AttrAbstractOrigin).(dwarf.Offset); ok {
				d.origin = off
			} else if off, ok := e.Val(dwarf.AttrSpecification).(dwarf.Offset); ok {
				d.origin = off
			}
			dies[e.Offset] = d
			rg, err := o.dw.Ranges(e)
			if err != nil {
				return err
			}
			rg = nonEmpty(rg)
			if len(rg) > 0 {
				fn := &function{name: d.name, plain: d.name, entry: rg[0][0], origin: d.origin, off: e.Offset}
				if d.linkage != "" {
					fn.name = d.linkage
				}
				if lo, ok := e.Val(dwarf.AttrLowpc).(uint64); ok {
					fn.entry = lo
				}
				if ep, ok := e.Val(dwarf.AttrEntrypc).(uint64); ok {
					fn.entry = ep
				}
				fn.external, _ = e.Val(dwarf.AttrExternal).(bool)
				fn.root = &scope{kind: scopeFunction, ranges: rg}
				o.funcs = append(o.funcs, fn)
				push = &level{fn: fn, s: fn.root}
			}
		case dwarf.TagInlinedSubroutine:
			if top.s != nil {
				rg, err := o.dw.Ranges(e)
				if err != nil {
					return err
				}
				s := &scope{kind: scopeInlined, ranges: nonEmpty(rg)}
				s.origin, _ = e.Val(dwarf.AttrAbstractOrigin).(dwarf.Offset)
				s.callFile = fileOf(e.Val(dwarf.AttrCallFile))
				if v, ok := e.Val(dwarf.AttrCallLine).(int64); ok {
					s.callLine = int32(v)
				}
				if v, ok := e.Val(dwarf.AttrCallColumn).(int64); ok {
					s.callCol = int32(v)
				}
				top.s.children = append(top.s.children, s)
				push = &level{fn: top.fn, s: s}
			}
		case dwarf.TagCallSite, tagGNUCallSite:
			if top.fn != nil {
				cs := &callSite{caller: top.fn}
				cs.retPC, _ = e.Val(dwarf.AttrCallReturnPC).(uint64)
				if cs.retPC == 0 {
					cs.retPC, _ = e.Val(dwarf.AttrLowpc).(uint64)
				}
				var ok bool
				if cs.origin, ok = e.Val(dwarf.AttrCallOrigin).(dwarf.Offset); !ok {
					cs.origin, ok = e.Val(dwarf.AttrAbstractOrigin).(dwarf.Offset)
				}
				t1, _ := e.Val(dwarf.AttrCallTailCall).(bool)
				t2, _ := e.Val(attrGNUTailCall).(bool)
				cs.tail = t1 || t2
				if ok && cs.retPC != 0 {
					*sites = append(*sites, cs)
				}
			}
		case dwarf.TagLexDwarfBlock:
			if top.s != nil {
				rg, err := o.dw.Ranges(e)
				if err != nil {
					return err
				}
				if rg = nonEmpty(rg); len(rg) > 0 {
					s := &scope{kind: scopeLexical, ranges: rg}
					top.s.children = append(top.s.children, s)
					push = &level{fn: top.fn, s: s, block: s}
				} else {
					push = &level{fn: top.fn, s: top.s, block: top.block}
				}
			}
		case dwarf.TagNamespace:
			if top.unit {
				push = &level{unit: true}
			}
		case dwarf.TagVariable:
			if top.unit {
				o.unitVariable(e, dies, pendingVars)
			}
		}
		// gdb makes a block of a lexical block only if it declares
		// something.
		if top.block != nil && e.Tag != dwarf.TagLexDwarfBlock && e.Tag != dwarf.TagInlinedSubroutine &&
			e.Tag != dwarf.TagCallSite && e.Tag != tagGNUCallSite {
			top.block.symbols = true
		}
		if e.Children {
			if push == nil {
				r.SkipChildren()
			} else {
				stack = append(stack, *push)
			}
		}
	}
	return nil
}

func nonEmpty(rg [][2]uint64) [][2]uint64 {
	out := rg[:0]
	for _, r := range rg {
		if r[1] > r[0] {
			out = append(out, r)
		}
	}
	return out
}

// unitVariable records a unit-level variable: declarations for name and
// type lookups, definitions with a static address as globals.
func (o *Object) unitVariable(e *dwarf.Entry, dies map[dwarf.Offset]dieInfo, pending *[]variable) {
	name, _ := e.Val(dwarf.AttrName).(string)
	typ, hasType := e.Val(dwarf.AttrType).(dwarf.Offset)
	spec, _ := e.Val(dwarf.AttrSpecification).(dwarf.Offset)
	dies[e.Offset] = dieInfo{name: name, origin: spec, typ: typ, hasTyp: hasType}
	loc, ok := e.Val(dwarf.AttrLocation).([]byte)
	if !ok || len(loc) == 0 {
		return
	}
	v := variable{name: name, typ: typ, hasType: hasType, spec: spec}
	v.external, _ = e.Val(dwarf.AttrExternal).(bool)
	ps := o.ptrSize
	switch {
	case loc[0] == opAddr && len(loc) == 1+ps:
		v.addr = o.uintN(loc[1:], ps)
	case (loc[0] == opConst8u && len(loc) == 10 || loc[0] == opConst4u && len(loc) == 6) &&
		(loc[len(loc)-1] == opGNUPushTLSAddress || loc[len(loc)-1] == opFormTLSAddress):
		v.addr = o.uintN(loc[1:], len(loc)-2)
		v.tls = true
	default:
		return
	}
	*pending = append(*pending, v)
}

func (o *Object) uintN(b []byte, n int) uint64 {
	switch n {
	case 1:
		return uint64(b[0])
	case 2:
		return uint64(o.order.Uint16(b))
	case 4:
		return uint64(o.order.Uint32(b))
	case 8:
		return o.order.Uint64(b)
	}
	return 0
}

// findSeq returns the line sequence containing pc.
func (o *Object) findSeq(pc uint64) *sequence {
	i := sort.Search(len(o.seqs), func(i int) bool { return o.seqs[i].lo > pc }) - 1
	for ; i >= 0 && o.seqMax[i] > pc; i-- {
		if s := &o.seqs[i]; pc < s.hi {
			return s
		}
	}
	return nil
}

// findFunc returns the innermost function whose ranges contain pc.
func (o *Object) findFunc(pc uint64) *function {
	i := sort.Search(len(o.franges), func(i int) bool { return o.franges[i].lo > pc }) - 1
	for ; i >= 0 && o.frangeMax[i] > pc; i-- {
		if fr := o.franges[i]; pc < fr.hi {
			return fr.fn
		}
	}
	return nil
}

// lineAt is gdb's find_pc_line on one sequence: the row in effect at pc and
// the range [start, end) it covers.
type lineAt struct {
	row        lineRow
	start, end uint64
	seq        *sequence
	idx        int
}

// With gdbStmt, landing on a non-statement row prefers a statement row at
// the same address, as gdb does; without, the last row at the address
// applies, as in DWARF (and addr2line).
func (o *Object) findLine(pc uint64, gdbStmt bool) (lineAt, bool) {
	s := o.findSeq(pc)
	if s == nil {
		return lineAt{}, false
	}
	i := sort.Search(len(s.rows), func(i int) bool { return s.rows[i].addr > pc }) - 1
	if i < 0 {
		return lineAt{}, false
	}
	end := s.hi
	if i+1 < len(s.rows) {
		end = s.rows[i+1].addr
	}
	// Landing on a non-statement row, prefer a statement row at the same
	// address (gdb's find_pc_sect_line).
	if gdbStmt && !s.rows[i].stmt {
		j := i
		for j > 0 && s.rows[j-1].addr == s.rows[j].addr && s.rows[j-1].line != 0 && !s.rows[j].stmt {
			j--
		}
		if s.rows[j].stmt {
			i = j
		}
	}
	row := s.rows[i]
	if row.line == 0 {
		return lineAt{}, false
	}
	return lineAt{row: row, start: row.addr, end: end, seq: s, idx: i}, true
}

// scopesAt returns the chain of scopes of fn containing pc, outermost
// (the function) first.
func scopesAt(fn *function, pc uint64, buf []*scope) []*scope {
	out := append(buf[:0], fn.root)
	s := fn.root
	for depth := 0; depth < 256; depth++ {
		var next *scope
		for _, c := range s.children {
			if c.contains(pc) {
				next = c
				break
			}
		}
		if next == nil {
			break
		}
		out = append(out, next)
		s = next
	}
	return out
}

func (o *Object) fileName(id uint32) string {
	if int(id) < len(o.files) {
		return o.files[id]
	}
	return ""
}

func (o *Object) String() string { return fmt.Sprintf("dwarf.Object(%s)", o.path) }

// tailChain returns the functions that must have tail-called their way
// from the call at the caller's return address retPC to callee, outermost
// first, each with the tail call it made (gdb's tail call frames). It
// returns nil unless exactly one such chain exists.
func (o *Object) tailChain(retPC uint64, callee *function) []*callSite {
	cs := o.callByRet[retPC]
	if cs == nil || cs.tail || cs.target == nil || cs.target == callee || callee == nil {
		return nil
	}
	var found [][]*callSite
	var path []*callSite
	var walk func(f *function, depth int)
	walk = func(f *function, depth int) {
		if depth > 8 || len(found) > 1 {
			return
		}
		for _, tc := range f.tailCalls {
			path = append(path, tc)
			if tc.target == callee {
				found = append(found, slices.Clone(path))
			} else if tc.target != f {
				walk(tc.target, depth+1)
			}
			path = path[:len(path)-1]
		}
	}
	walk(cs.target, 0)
	if len(found) != 1 {
		return nil
	}
	return found[0]
}
