package dwarf

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

var infoSymRE = regexp.MustCompile(`^(\S+)(?: \+ (\d+))? in section (\S+)`)

// TestSymbolMatchesGdb checks Symbol against gdb's `info symbol ADDR` at the
// start, inside, at the last byte and just past every symbol, PLT entries
// included.
func TestSymbolMatchesGdb(t *testing.T) {
	cases := []binCase{lineCases[0], lineCases[1], lineCases[2], lineCases[5],
		{"shmain", func(t testing.TB) string { _, e := shlib(t); return e }, "shmain.c"},
		{"clone", func(t testing.TB) string { return build(t, "clone", []string{"clone.c"}, "-O2") }, "clone.c"}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			bin := c.build(t)
			o := mustOpen(t, bin)
			seen := map[uint64]bool{}
			var addrs []uint64
			add := func(a uint64) {
				if !seen[a] {
					seen[a] = true
					addrs = append(addrs, a)
				}
			}
			plt := 0
			for _, s := range o.syms {
				add(s.addr)
				add(s.addr + 1)
				if s.size > 1 {
					add(s.addr + s.size - 1)
				}
				add(s.addr + s.size)
				if strings.HasSuffix(s.name, "@plt") {
					plt++
				}
			}
			if plt == 0 && c.name != "shlib" {
				t.Errorf("no name@plt symbols")
			}
			var cmds []string
			for _, a := range addrs {
				cmds = append(cmds, fmt.Sprintf("echo @@%x\\n", a), fmt.Sprintf("info symbol 0x%x", a))
			}
			secs := gdbSections(gdbBatch(t, bin, cmds...))
			for _, a := range addrs {
				out := strings.TrimSpace(secs[fmt.Sprintf("%x", a)])
				name, off, ok := o.Symbol(a)
				if strings.HasPrefix(out, "No symbol matches") {
					if ok {
						t.Errorf("0x%x: got %s+%d, gdb: %s", a, name, off, out)
					}
					continue
				}
				m := infoSymRE.FindStringSubmatch(out)
				if m == nil {
					t.Errorf("0x%x: unexpected gdb output %q", a, out)
					continue
				}
				woff, _ := strconv.ParseUint(m[2], 10, 64)
				if !ok || name != m[1] || off != woff {
					t.Errorf("0x%x: got %s+%d (%v), gdb: %s", a, name, off, ok, out)
				}
			}
			t.Logf("%d addresses, %d PLT entries", len(addrs), plt)
		})
	}
}

var infoAddrVarRE = regexp.MustCompile(`Symbol "([^"]+)" is static storage at address (0x[0-9a-f]+)\.`)
var sizeofRE = regexp.MustCompile(`^\$\d+ = (\d+)`)

// TestGlobalMatchesGdb checks Global against `info address VAR` and
// `p sizeof(VAR)`.
func TestGlobalMatchesGdb(t *testing.T) {
	cases := []struct {
		c    binCase
		vars []string
	}{
		{lineCases[0], []string{"counter", "table", "greeting", "origin", "buffer"}},
		{lineCases[1], []string{"counter", "table", "greeting", "origin", "buffer"}},
		{lineCases[2], []string{"sink"}},
		{lineCases[5], []string{"lib_calls", "lib_table"}},
	}
	for _, tc := range cases {
		t.Run(tc.c.name, func(t *testing.T) {
			t.Parallel()
			bin := tc.c.build(t)
			o := mustOpen(t, bin)
			var cmds []string
			for _, v := range tc.vars {
				cmds = append(cmds, "echo @@"+v+"\\n", "info address "+v, "p sizeof("+v+")")
			}
			secs := gdbSections(gdbBatch(t, bin, cmds...))
			for _, v := range tc.vars {
				out := secs[v]
				m := infoAddrVarRE.FindStringSubmatch(out)
				lines := strings.Split(strings.TrimSpace(out), "\n")
				s := sizeofRE.FindStringSubmatch(lines[len(lines)-1])
				if m == nil || s == nil {
					t.Fatalf("%s: gdb said %q", v, out)
				}
				wa, _ := strconv.ParseUint(m[2][2:], 16, 64)
				ws, _ := strconv.ParseInt(s[1], 10, 64)
				addr, size, err := o.Global(v)
				if err != nil || addr != wa || size != ws {
					t.Errorf("Global(%s) = 0x%x, %d, %v; gdb: 0x%x, %d", v, addr, size, err, wa, ws)
				}
			}
			if _, _, err := o.Global("no_such_variable"); !errors.Is(err, ErrNotFound) {
				t.Errorf("Global(no_such_variable) = %v, want not found", err)
			}
			if _, _, err := o.Global("main"); err == nil {
				t.Errorf("Global(main) succeeded; main is a function")
			}
		})
	}
}
