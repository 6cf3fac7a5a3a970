package dwarf

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

type binCase struct {
	name  string
	build func(testing.TB) string
	src   string // main source file
}

var lineCases = []binCase{
	{"O0-pie", progO0, "prog.c"},
	{"O0-nopie", progNoPIE, "prog.c"},
	{"O2-inline", inlO2, "inl.c"},
	{"O0-rec", recO0, "rec.c"},
	{"O2-rec", recO2, "rec.c"},
	{"shlib", func(t testing.TB) string { l, _ := shlib(t); return l }, "shlib.c"},
	{"gz-zlib", func(t testing.TB) string {
		return build(t, "progz", []string{"prog.c"}, "-O0", "-gz=zlib")
	}, "prog.c"},
}

// rowAddrs returns every line-table row address of o, each row address +1
// when still inside its range, and every function entry, sorted.
func rowAddrs(o *Object) []uint64 {
	var out []uint64
	for _, s := range o.seqs {
		for i, r := range s.rows {
			out = append(out, r.addr)
			next := s.hi
			if i+1 < len(s.rows) {
				next = s.rows[i+1].addr
			}
			if r.addr+1 < next {
				out = append(out, r.addr+1)
			}
		}
	}
	for _, f := range o.funcs {
		out = append(out, f.entry)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// TestPCToLineMatchesAddr2line checks the function, file, line and inlined
// call chain at every line-table address against `addr2line -f -i`.
func TestPCToLineMatchesAddr2line(t *testing.T) {
	for _, c := range lineCases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			bin := c.build(t)
			o := mustOpen(t, bin)
			addrs := rowAddrs(o)
			if len(addrs) < 20 {
				t.Fatalf("only %d addresses in the line table", len(addrs))
			}
			want := addr2line(t, bin, addrs)
			bad := 0
			for _, pc := range addrs {
				w := want[pc]
				loc, err := o.PCToLine(pc)
				if len(w) == 0 || w[0].file == "??" {
					if err == nil && loc.Line != 0 {
						t.Errorf("0x%x: got %s:%d, addr2line has no line", pc, loc.File, loc.Line)
						bad++
					}
					continue
				}
				if err != nil {
					t.Errorf("0x%x: %v; addr2line says %v", pc, err, w)
					bad++
					continue
				}
				got := loc.Chain()
				if !sameChain(got, w) {
					t.Errorf("0x%x:\n got  %s\n want %s", pc, fmtChain(got), fmtA2L(w))
					bad++
				}
				if bad > 10 {
					t.Fatal("too many differences")
				}
			}
			t.Logf("%d addresses agree with addr2line", len(addrs))
		})
	}
}

func sameChain(got []Location, want []a2lEntry) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i].Function != want[i].fn || got[i].File != want[i].file || got[i].Line != want[i].line {
			return false
		}
	}
	return true
}

func fmtChain(c []Location) string {
	var s []string
	for _, l := range c {
		s = append(s, fmt.Sprintf("%s@%s:%d", l.Function, filepath.Base(l.File), l.Line))
	}
	return strings.Join(s, " <- ")
}

func fmtA2L(c []a2lEntry) string {
	var s []string
	for _, l := range c {
		s = append(s, fmt.Sprintf("%s@%s:%d", l.fn, filepath.Base(l.file), l.line))
	}
	return strings.Join(s, " <- ")
}

var infoLineRE = regexp.MustCompile(`^Line (\d+) of "([^"]+)" starts at address (0x[0-9a-f]+) <[^>]*> and ends at (0x[0-9a-f]+)`)

// TestLineRangeMatchesGdb checks the line and address range at every
// line-table address against gdb's `info line *ADDR`.
func TestLineRangeMatchesGdb(t *testing.T) {
	for _, c := range lineCases[:5] {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			bin := c.build(t)
			o := mustOpen(t, bin)
			addrs := rowAddrs(o)
			var cmds []string
			for _, pc := range addrs {
				cmds = append(cmds, fmt.Sprintf("echo @@%x\\n", pc), fmt.Sprintf("info line *0x%x", pc))
			}
			secs := gdbSections(gdbBatch(t, bin, cmds...))
			checked := 0
			for _, pc := range addrs {
				out := strings.TrimSpace(secs[fmt.Sprintf("%x", pc)])
				file, line, start, end, err := o.LineRange(pc)
				m := infoLineRE.FindStringSubmatch(out)
				if m == nil {
					if strings.HasPrefix(out, "No line number information") {
						if err == nil {
							t.Errorf("0x%x: got %s:%d, gdb: %s", pc, file, line, out)
						}
						continue
					}
					t.Errorf("0x%x: unexpected gdb output %q", pc, out)
					continue
				}
				wl, _ := strconv.Atoi(m[1])
				ws, _ := strconv.ParseUint(m[3][2:], 16, 64)
				we, _ := strconv.ParseUint(m[4][2:], 16, 64)
				if err != nil || line != wl || file != m[2] || start != ws || end != we {
					t.Errorf("0x%x: got %s:%d [0x%x,0x%x) %v; gdb: %s", pc, filepath.Base(file), line, start, end, err, out)
				}
				checked++
			}
			if checked < len(addrs)/2 {
				t.Errorf("only %d of %d addresses checked", checked, len(addrs))
			}
		})
	}
}

var bpAddrRE = regexp.MustCompile(`\s(0x[0-9a-f]+) in `)

// gdbBreakAddrs asks gdb where `break FILE:LINE` goes for each line.
func gdbBreakAddrs(t *testing.T, bin, file string, lines []int) map[int][]uint64 {
	var cmds []string
	for _, l := range lines {
		cmds = append(cmds, fmt.Sprintf("echo @@%d\\n", l), fmt.Sprintf("break %s:%d", file, l), "info breakpoints $bpnum", "delete")
	}
	secs := gdbSections(gdbBatch(t, bin, cmds...))
	res := map[int][]uint64{}
	for _, l := range lines {
		var pcs []uint64
		for _, m := range bpAddrRE.FindAllStringSubmatch(secs[strconv.Itoa(l)], -1) {
			v, _ := strconv.ParseUint(m[1][2:], 16, 64)
			pcs = append(pcs, v)
		}
		slices.Sort(pcs)
		res[l] = pcs
	}
	return res
}

// TestLineToPCsMatchesGdbBreak checks, for every line of the source, the
// addresses of `break FILE:LINE` (all locations). gdb's break also moves a
// function's opening line past the prologue, which LineToPCs does not: an
// entry address we return is compared as the function's afterPrologue.
func TestLineToPCsMatchesGdbBreak(t *testing.T) {
	for _, c := range lineCases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			bin := c.build(t)
			o := mustOpen(t, bin)
			n := lineCount(t, c.src)
			var lines []int
			for l := 1; l <= n+1; l++ {
				lines = append(lines, l)
			}
			want := gdbBreakAddrs(t, bin, c.src, lines)
			after := map[uint64]uint64{}
			for _, name := range o.Functions() {
				e, a, err := o.FunctionEntry(name)
				if err == nil {
					after[e] = a
				}
			}
			for _, l := range lines {
				pcs, err := o.LineToPCs(c.src, l)
				if len(want[l]) == 0 {
					if err == nil {
						t.Errorf("line %d: got %s, gdb has no location", l, hexAddrs(pcs))
					} else if !errors.Is(err, ErrNotFound) {
						t.Errorf("line %d: error %v does not match ErrNotFound", l, err)
					}
					continue
				}
				if err != nil {
					t.Errorf("line %d: %v; gdb: %s", l, err, hexAddrs(want[l]))
					continue
				}
				var moved []uint64
				for _, pc := range pcs {
					if a, ok := after[pc]; ok {
						pc = a
					}
					moved = append(moved, pc)
				}
				slices.Sort(moved)
				if !slices.Equal(moved, want[l]) {
					t.Errorf("line %d: got %s (after prologue %s), gdb %s", l, hexAddrs(pcs), hexAddrs(moved), hexAddrs(want[l]))
				}
			}
		})
	}
}

var bpAtRE = regexp.MustCompile(`Breakpoint \d+ at (0x[0-9a-f]+)`)
var infoAddrFuncRE = regexp.MustCompile(`is a function at address (0x[0-9a-f]+)`)

// TestFunctionEntryMatchesGdb checks entry points against gdb's `info
// address FUNC` and, at -O0 (where gdb's amd64 prologue analysis and the
// line table agree), the after-prologue address against `break FUNC`.
func TestFunctionEntryMatchesGdb(t *testing.T) {
	for _, c := range lineCases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			bin := c.build(t)
			o := mustOpen(t, bin)
			names := o.Functions()
			if len(names) < 2 {
				t.Fatalf("functions: %v", names)
			}
			var cmds []string
			for _, f := range names {
				cmds = append(cmds, "echo @@"+f+"\\n", "info address "+f, "break "+f)
			}
			secs := gdbSections(gdbBatch(t, bin, cmds...))
			for _, f := range names {
				entry, after, err := o.FunctionEntry(f)
				if err != nil {
					t.Errorf("%s: %v", f, err)
					continue
				}
				out := secs[f]
				m := infoAddrFuncRE.FindStringSubmatch(out)
				if m == nil {
					t.Errorf("%s: gdb: %q", f, out)
					continue
				}
				if we, _ := strconv.ParseUint(m[1][2:], 16, 64); we != entry {
					t.Errorf("%s: entry 0x%x, gdb 0x%x", f, entry, we)
				}
				b := bpAtRE.FindStringSubmatch(out)
				if b == nil || strings.Contains(out, "locations)") {
					continue // inlined copies too: several locations
				}
				wa, _ := strconv.ParseUint(b[1][2:], 16, 64)
				if strings.Contains(c.name, "O2") {
					// gdb trusts optimized code's locations and does not
					// skip prologues there; ours must still be a row start
					// inside the function.
					if after < entry || (after != entry && !isRowStart(o, after)) {
						t.Errorf("%s: after prologue 0x%x (entry 0x%x) is not a line start", f, after, entry)
					}
					continue
				}
				if wa != after {
					t.Errorf("%s: after prologue 0x%x, gdb breaks at 0x%x", f, after, wa)
				}
			}
		})
	}
}

func isRowStart(o *Object, pc uint64) bool {
	_, _, start, _, err := o.LineRange(pc)
	return err == nil && start == pc
}

// TestInlinedCopies checks the -O2 build's inlined functions: every copy of
// a line of an inlined function is found, and each reports its call chain.
func TestInlinedCopies(t *testing.T) {
	bin := inlO2(t)
	o := mustOpen(t, bin)
	bump := markLine(t, "inl.c", "bump")
	pcs, err := o.LineToPCs("inl.c", bump)
	if err != nil {
		t.Fatal(err)
	}
	// bump is inlined into scale (twice, in work) and into other.
	if len(pcs) != 3 {
		t.Fatalf("LineToPCs(inl.c:%d) = %s, want 3 copies", bump, hexAddrs(pcs))
	}
	callers := map[string]int{}
	calls := map[int]bool{}
	for _, pc := range pcs {
		loc, err := o.PCToLine(pc)
		if err != nil {
			t.Fatal(err)
		}
		chain := loc.Chain()
		callers[chain[len(chain)-1].Function]++
		if loc.Function != "bump" {
			// The copy in other() starts at other's first address, before
			// the inlined block's own range (gdb says "in other" too).
			continue
		}
		if loc.Line != bump {
			t.Errorf("0x%x: %s, want bump at line %d", pc, fmtChain(chain), bump)
		}
		if chain[len(chain)-1].Function == "work" {
			if len(chain) != 3 || chain[1].Function != "scale" || chain[1].Line != markLine(t, "inl.c", "scale_call") {
				t.Errorf("0x%x: chain %s, want bump <- scale:%d <- work", pc, fmtChain(chain), markLine(t, "inl.c", "scale_call"))
			}
			calls[chain[2].Line] = true
		}
	}
	if callers["work"] != 2 || callers["other"] != 1 {
		t.Errorf("outer functions of the copies: %v, want work x2 and other x1", callers)
	}
	// The two scale() copies in work are called from two lines.
	if !calls[markLine(t, "inl.c", "work_scale1")] || !calls[markLine(t, "inl.c", "work_scale2")] {
		t.Errorf("call lines of scale in work: %v", calls)
	}
	// A line with no code maps to the next line that has some.
	blank := bump - 3 // the blank line before bump()
	got, err := o.LineToPCs("inl.c", blank)
	next, err2 := o.LineToPCs("inl.c", blank+1)
	if err != nil || err2 != nil || len(got) == 0 || !slices.Equal(got, next) {
		t.Errorf("LineToPCs(blank line %d) = %s, %v; line %d: %s, %v", blank, hexAddrs(got), err, blank+1, hexAddrs(next), err2)
	}
	// File matching: full path and basename suffix; other names fail.
	full, err := o.LineToPCs(srcPath(t, "inl.c"), bump)
	if err != nil || !slices.Equal(full, pcs) {
		t.Errorf("LineToPCs(full path) = %s, %v", hexAddrs(full), err)
	}
	if _, err := o.LineToPCs("nl.c", bump); !errors.Is(err, ErrNotFound) {
		t.Errorf("LineToPCs(nl.c) = %v, want a not-found error", err)
	}
	if _, err := o.LineToPCs("inl.c", 100000); !errors.Is(err, ErrNotFound) {
		t.Errorf("LineToPCs(inl.c:100000) = %v, want a not-found error", err)
	}
}
