package main

// Ops for the work a stub does without the client: target-side breakpoint
// conditions, range stepping and hardware watchpoints.
//
//	condbp    Z0 on bench_hit with an agent-expression condition
//	          (bench_hits % condEvery == 0) that the stub evaluates; per
//	          reported stop what gdb does (vCont;c -> T05 at bench_hit, z0,
//	          vCont;s, Z0 with the condition).  The unit is a call of
//	          bench_hit: condEvery calls per reported stop, all but one of
//	          them handled inside the stub.
//	next1000  gdb's `next` over a 1000-iteration loop on one line
//	          (testdata/instub/next1000.c): at the line's start, vCont;s
//	          off the breakpoint, then vCont;r<pc>,<line end>:pP.T until
//	          the pc leaves the line, checked against the line table.  Getting
//	          back to the line (Z0, vCont;c, z0: one breakpoint hit) is part of
//	          the iteration, a fraction of a percent of it.
//	watchhit  Z2 on bench_hits (8 bytes), written by bench_hit in a loop; per
//	          hit what gdb 13 sends for `watch bench_hits if COND` when COND
//	          is false (traced against gdbserver): vCont;c ->
//	          T05watch:<addr>, then m<addr>,8 four times (old and new value,
//	          the condition), and on.  gdb leaves the watchpoint inserted and
//	          does not step: x86 reports a watchpoint after the write.
//	watchstop the watchpoint's share of a hit gdb reports: vCont;c ->
//	          T05watch:<addr>, m<addr>,8, z2, Z2 (gdb removes every
//	          breakpoint at a reported stop and inserts them again to go on;
//	          it also reads the thread list and the frame, not replayed here).
//
// The gdb-* ops (gdbops.go) run the same scenarios with the real gdb.

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/gostub/gostub/dwarf"
	"github.com/gostub/gostub/rsp/rspclient"
)

// condEvery is how many bench_hit calls the condbp condition lets through
// per reported stop.
const condEvery = 1000

// instubProgDir is the directory of programs named "instub/NAME", relative
// to the module's testdata.
const instubProgDir = "instub"

var instubOps = []op{
	{
		name: "condbp", prog: "bphit", unit: "call",
		desc:    fmt.Sprintf("conditional breakpoint evaluated in the stub (bench_hits %% %d == 0): bench_hit calls/s", condEvery),
		prepare: prepareCondBP,
	},
	{
		name: "next1000", prog: "instub/next1000", unit: "next",
		desc:    "gdb's next over a 1000-iteration loop on one line: vCont;s off the breakpoint, vCont;r over the line",
		prepare: prepareNext1000,
	},
	{
		name: "watchhit", prog: "bphit", unit: "hit",
		desc:    "hardware watchpoint hit with a false condition, as gdb does it: vCont;c -> T05watch, 4 x m (value)",
		prepare: func(s *session) (func() error, float64, error) { return prepareWatch(s, false) },
	},
	{
		name: "watchstop", prog: "bphit", unit: "hit",
		desc:    "hardware watchpoint hit gdb reports, its watchpoint packets: vCont;c -> T05watch, m (value), z2, Z2",
		prepare: func(s *session) (func() error, float64, error) { return prepareWatch(s, true) },
	},
}

// allOps is every op: the base ones, then extraOps.
func allOps() []op { return append(append([]op{}, ops...), extraOps()...) }

// extraOps are the ops beyond ops: instubOps, then gdbOps.
func extraOps() []op { return append(append([]op{}, instubOps...), gdbOps...) }

// selectAllOps is selectOps over all ops: "all" (or "") selects every op,
// names of extraOps are looked up here, the rest by selectOps.
func selectAllOps(list string) ([]op, error) {
	if list == "" || list == "all" {
		return allOps(), nil
	}
	var out []op
	seen := map[string]bool{}
	for _, name := range strings.Split(list, ",") {
		name = strings.TrimSpace(name)
		var sel []op
		if o, ok := extraOp(name); ok {
			sel = []op{o}
		} else {
			var err error
			if sel, err = selectOps(name); err != nil {
				return nil, fmt.Errorf("unknown op %q (have %s, roundtrip, all)", name, allOpNames())
			}
		}
		for _, o := range sel {
			if !seen[o.name] {
				seen[o.name] = true
				out = append(out, o)
			}
		}
	}
	return out, nil
}

func extraOp(name string) (op, bool) {
	for _, o := range extraOps() {
		if o.name == name {
			return o, true
		}
	}
	return op{}, false
}

func allOpNames() string {
	names := []string{opNames()}
	for _, o := range extraOps() {
		names = append(names, o.name)
	}
	return strings.Join(names, ",")
}

// buildOpProgram is buildProgram for an op's prog: "NAME" is srcDir/NAME.c,
// "instub/NAME" is NAME.c in testdata/instub (found as srcDir/instub, then
// as srcDir/../instub, srcDir being testdata/bench by default).
func buildOpProgram(srcDir, prog string) (*program, error) {
	name, ok := strings.CutPrefix(prog, instubProgDir+"/")
	if !ok {
		return buildProgram(srcDir, prog)
	}
	for _, d := range []string{filepath.Join(srcDir, instubProgDir), filepath.Join(srcDir, "..", instubProgDir)} {
		if _, err := os.Stat(filepath.Join(d, name+".c")); err == nil {
			p, err := buildProgram(d, name)
			if p != nil {
				p.name = prog
			}
			return p, err
		}
	}
	return nil, fmt.Errorf("no %s.c in %s or %s", name, filepath.Join(srcDir, instubProgDir), filepath.Join(srcDir, "..", instubProgDir))
}

// ---------------------------------------------------------------------------
// condbp

// Agent expression opcodes (gdb/doc/agentexpr.texi; breakpoints/agent.go).
const (
	axRemUnsigned = 0x08
	axEqual       = 0x13
	axRef64       = 0x1a
	axConst8      = 0x22
	axConst16     = 0x23
	axConst32     = 0x24
	axConst64     = 0x25
	axEnd         = 0x27
	axZeroExt     = 0x2a
)

// condEveryNth returns the bytecode of `*(unsigned long *)addr % n == 0`
// exactly as gdb 13 compiles `bench_hits % 1000 == 0` (maint agent-eval):
//
//	const32 addr; ref64; const16 n; zero_ext 64; rem_unsigned; zero_ext 64;
//	const8 0; zero_ext 64; equal; end
func condEveryNth(addr uint64, n uint16) []byte {
	var code []byte
	if addr <= 0xffffffff {
		code = append(code, axConst32)
		code = binary.BigEndian.AppendUint32(code, uint32(addr))
	} else {
		code = append(code, axConst64)
		code = binary.BigEndian.AppendUint64(code, addr)
	}
	code = append(code, axRef64)
	if n <= 0xff {
		code = append(code, axConst8, byte(n))
	} else {
		code = append(code, axConst16)
		code = binary.BigEndian.AppendUint16(code, n)
	}
	return append(code, axZeroExt, 64, axRemUnsigned, axZeroExt, 64,
		axConst8, 0, axZeroExt, 64, axEqual, axEnd)
}

// condZ0 returns "Z0,<addr>,1;X<len>,<hex bytecode>".
func condZ0(addr uint64, code []byte) string {
	return fmt.Sprintf("Z0,%x,1;X%x,%x", addr, len(code), code)
}

func prepareCondBP(s *session) (func() error, float64, error) {
	hit, err := s.prog.sym("bench_hit")
	if err != nil {
		return nil, 0, err
	}
	counter, err := s.prog.sym("bench_hits")
	if err != nil {
		return nil, 0, err
	}
	z0 := condZ0(hit, condEveryNth(counter, condEvery))
	if r, err := s.c.Exchange(z0); err != nil || r != "OK" {
		return nil, 0, fmt.Errorf("%s answered %q, %v (target-side conditions unsupported?)", z0, r, err)
	}
	iter := s.hitCycle(hit, z0)
	// Check, untimed, that the stub evaluates the condition: two reported
	// stops are condEvery calls apart, each at a multiple of condEvery.  (The
	// stop is at bench_hit's first instruction and the step does not reach
	// the increment.)
	var seen [2]uint64
	for i := range seen {
		if err := iter(); err != nil {
			return nil, 0, err
		}
		v, err := readU64(s, counter)
		if err != nil {
			return nil, 0, err
		}
		if v%condEvery != 0 {
			return nil, 0, fmt.Errorf("stopped with bench_hits = %d, not a multiple of %d: condition not evaluated", v, condEvery)
		}
		seen[i] = v
	}
	if seen[1]-seen[0] != condEvery {
		return nil, 0, fmt.Errorf("bench_hits went from %d to %d between two reported stops, want +%d", seen[0], seen[1], condEvery)
	}
	return iter, condEvery, nil
}

func readU64(s *session, addr uint64) (uint64, error) {
	b, err := s.c.ReadMemory(addr, 8)
	if err != nil {
		return 0, fmt.Errorf("m%x,8: %w", addr, err)
	}
	return binary.LittleEndian.Uint64(b), nil
}

// ---------------------------------------------------------------------------
// next1000

// lineRange returns the address range [start, end) of the source line marked
// "@mark:<mark>" in the program: start is the line's lowest breakpoint
// address, end the end of the line-table rows for that line that follow it,
// which is where gdb's range step over the line ends.
func lineRange(path, mark string) (start, end uint64, err error) {
	o, err := dwarf.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer o.Close()
	for _, file := range o.SourceFiles() {
		line := markedLine(file, mark)
		if line == 0 {
			continue
		}
		pcs, err := o.LineToPCs(file, line)
		if err != nil || len(pcs) == 0 {
			continue
		}
		start = pcs[0]
		f, l, _, e, err := o.LineRange(start)
		if err != nil {
			return 0, 0, fmt.Errorf("%s: @mark:%s line: %v", path, mark, err)
		}
		// Extend over the following rows of the same line (gdb keeps
		// range-stepping through them).
		for {
			f2, l2, s2, e2, err := o.LineRange(e)
			if err != nil || f2 != f || l2 != l || s2 != e || e2 <= e {
				break
			}
			e = e2
		}
		if l != line {
			return 0, 0, fmt.Errorf("%s: no line-table row for the @mark:%s line %s:%d", path, mark, file, line)
		}
		return start, e, nil
	}
	return 0, 0, fmt.Errorf("%s: no line-table row for a line with @mark:%s", path, mark)
}

// markedLine returns the 1-based line of file holding "@mark:<mark>", or 0.
func markedLine(file, mark string) int {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0
	}
	for i, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, "@mark:"+mark+" ") || strings.HasSuffix(l, "@mark:"+mark) {
			return i + 1
		}
	}
	return 0
}

func prepareNext1000(s *session) (func() error, float64, error) {
	start, end, err := lineRange(s.prog.path, "loop1000")
	if err != nil {
		return nil, 0, err
	}
	counter, err := s.prog.sym("sum")
	if err != nil {
		return nil, 0, err
	}
	z0 := fmt.Sprintf("Z0,%x,1", start)
	rz0 := fmt.Sprintf("z0,%x,1", start)
	step := fmt.Sprintf("vCont;s:p%x.%x", s.pid, s.tid)
	rangeReq := make([]byte, 0, 64)
	iter := func() error {
		// Back to the start of the line: one breakpoint hit.
		if _, err := s.expect(z0, "OK"); err != nil {
			return err
		}
		if err := s.cont(start); err != nil {
			return err
		}
		if _, err := s.expect(rz0, "OK"); err != nil {
			return err
		}
		// gdb's next: step off the breakpoint address, then range-step
		// from there to the end of the line.
		r, err := s.c.Exchange(step)
		if err != nil {
			return err
		}
		stop, err := rspclient.ParseStop(r)
		if err != nil {
			return fmt.Errorf("%s: %w", step, err)
		}
		pc, ok := stop.Reg(0x10)
		if stop.Kind != 'T' || stop.Signal != 5 || !ok || pc <= start || pc >= end {
			return fmt.Errorf("%s answered %q: want T05 with pc in (%#x, %#x)", step, r, start, end)
		}
		rangeReq = fmt.Appendf(rangeReq[:0], "vCont;r%x,%x:p%x.%x", pc, end, s.pid, s.tid)
		r2, err := s.c.ExchangeBytes(rangeReq)
		if err != nil {
			return err
		}
		return checkStop(string(rangeReq), string(r2), end)
	}
	// Untimed check: one next runs the whole loop (sum grows by 499500).
	if err := iter(); err != nil {
		return nil, 0, err
	}
	before, err := readU64(s, counter)
	if err != nil {
		return nil, 0, err
	}
	if err := iter(); err != nil {
		return nil, 0, err
	}
	after, err := readU64(s, counter)
	if err != nil {
		return nil, 0, err
	}
	if after-before != 999*1000/2 {
		return nil, 0, fmt.Errorf("sum grew by %d over one next, want %d (the range step stopped early or late)", after-before, 999*1000/2)
	}
	s.note(fmt.Sprintf("next1000 range %#x-%#x", start, end))
	return iter, 1, nil
}

// ---------------------------------------------------------------------------
// watchhit

// prepareWatch sets a write watchpoint on bench_hits; each iteration is one
// hit: silent (the value read four times, as gdb evaluates a false
// condition) or reported (read once, the watchpoint removed and inserted).
func prepareWatch(s *session, reported bool) (func() error, float64, error) {
	counter, err := s.prog.sym("bench_hits")
	if err != nil {
		return nil, 0, err
	}
	z2 := fmt.Sprintf("Z2,%x,8", counter)
	rz2 := fmt.Sprintf("z2,%x,8", counter)
	cont := fmt.Sprintf("vCont;c:p%x.-1", s.pid)
	mreq := fmt.Sprintf("m%x,8", counter)
	if r, err := s.c.Exchange(z2); err != nil || r != "OK" {
		return nil, 0, fmt.Errorf("%s answered %q, %v", z2, r, err)
	}
	var last uint64
	first := true
	iter := func() error {
		r, err := s.c.Exchange(cont)
		if err != nil {
			return fmt.Errorf("%s: %w", cont, err)
		}
		stop, err := rspclient.ParseStop(r)
		if err != nil {
			return fmt.Errorf("%s: %w", cont, err)
		}
		if stop.Kind != 'T' || stop.Signal != 5 || stop.Reason != "watch" {
			return fmt.Errorf("%s answered %q, want T05watch:", cont, r)
		}
		if a, err := strconv.ParseUint(stop.Value, 16, 64); err != nil || a != counter {
			return fmt.Errorf("%s answered %q: watch address %q, want %x", cont, r, stop.Value, counter)
		}
		reads := 4
		if reported {
			reads = 1
		}
		for i := 0; i < reads; i++ {
			v, err := s.c.Exchange(mreq)
			if err != nil {
				return fmt.Errorf("%s: %w", mreq, err)
			}
			val, err := strconv.ParseUint(v, 16, 64)
			if err != nil || len(v) != 16 {
				return fmt.Errorf("%s answered %q", mreq, v)
			}
			val = swap64(val)
			if i == 0 && !first && val != last+1 {
				return fmt.Errorf("bench_hits is %d after the hit, want %d (a write was missed)", val, last+1)
			}
			if i > 0 && val != last {
				return fmt.Errorf("bench_hits changed from %d to %d while stopped", last, val)
			}
			first, last = false, val
		}
		if !reported {
			return nil
		}
		if _, err := s.expect(rz2, "OK"); err != nil {
			return err
		}
		_, err = s.expect(z2, "OK")
		return err
	}
	return iter, 1, nil
}

// swap64 turns the big-endian reading of 8 little-endian hex bytes around.
func swap64(v uint64) uint64 {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	return binary.LittleEndian.Uint64(b[:])
}
