package dwarf

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// A snapshot of a process stopped at a breakpoint under gdb: its registers,
// every readable mapping's bytes, its auxv, and gdb's own backtrace. Tests
// unwind offline from it and compare with gdb.

const snapScript = `
import gdb, json, os
out = os.environ["SNAP_DIR"]
gdb.execute("set pagination off")
gdb.execute("set width 0")
gdb.execute("set backtrace past-main on")
gdb.execute("set print frame-arguments none")
gdb.execute("handle SIGUSR1 nostop noprint pass")
gdb.execute("break " + os.environ["SNAP_BREAK"])
gdb.execute("run " + os.environ.get("SNAP_ARGS", ""))
bt = gdb.execute("bt", to_string=True)
names = ["rax", "rdx", "rcx", "rbx", "rsi", "rdi", "rbp", "rsp"] + ["r%d" % i for i in range(8, 16)] + ["rip"]
regs = {}
for i, n in enumerate(names):
    regs[str(i)] = int(gdb.parse_and_eval("$" + n)) & 0xffffffffffffffff
inf = gdb.selected_inferior()
pid = inf.pid
with open("/proc/%d/auxv" % pid, "rb") as f:
    auxv = f.read()
with open(out + "/auxv", "wb") as f:
    f.write(auxv)
segs = []
with open("/proc/%d/maps" % pid) as f:
    maps = f.read()
for line in maps.splitlines():
    parts = line.split()
    lo, hi = [int(x, 16) for x in parts[0].split("-")]
    perms = parts[1]
    off = int(parts[2], 16)
    name = parts[5] if len(parts) > 5 else ""
    if perms[0] != "r" or name in ("[vvar]", "[vvar_vclock]", "[vsyscall]"):
        continue
    try:
        data = inf.read_memory(lo, hi - lo).tobytes()
    except Exception:
        continue
    fn = "%s/seg-%x" % (out, lo)
    with open(fn, "wb") as f:
        f.write(data)
    segs.append({"lo": lo, "hi": hi, "off": off, "file": fn, "name": name})
with open(out + "/snap.json", "w") as f:
    json.dump({"bt": bt, "regs": regs, "segs": segs}, f)
gdb.execute("kill")
`

type snapSeg struct {
	Lo, Hi, Off uint64
	File, Name  string
	data        []byte
}

type snapshot struct {
	BT   string            `json:"bt"`
	Regs map[string]uint64 `json:"regs"`
	Segs []*snapSeg        `json:"segs"`
	auxv []byte
	exe  string
}

// ReadMemory implements Memory over the snapshot's mappings.
func (s *snapshot) ReadMemory(addr uint64, buf []byte) error {
	for len(buf) > 0 {
		i := sort.Search(len(s.Segs), func(i int) bool { return s.Segs[i].Hi > addr })
		if i == len(s.Segs) || s.Segs[i].Lo > addr {
			return fmt.Errorf("address 0x%x not in the snapshot", addr)
		}
		sg := s.Segs[i]
		n := copy(buf, sg.data[addr-sg.Lo:])
		buf = buf[n:]
		addr += uint64(n)
	}
	return nil
}

func (s *snapshot) regs() map[int]uint64 {
	m := map[int]uint64{}
	for k, v := range s.Regs {
		n, _ := strconv.Atoi(k)
		m[n] = v
	}
	return m
}

var (
	snapMu    sync.Mutex
	snapCache = map[string]*snapshot{}
)

// takeSnapshot runs exe under gdb to the breakpoint and records it (once
// per exe, breakpoint and arguments).
func takeSnapshot(t testing.TB, exe, breakAt, args string) *snapshot {
	t.Helper()
	needTools(t, "gdb")
	key := exe + "|" + breakAt + "|" + args
	snapMu.Lock()
	defer snapMu.Unlock()
	if s, ok := snapCache[key]; ok {
		return s
	}
	dir, err := os.MkdirTemp(workDir, "snap-")
	if err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(dir, "snap.py")
	if err := os.WriteFile(script, []byte(snapScript), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("gdb", "-nx", "-batch", "-x", script, exe)
	cmd.Env = append(os.Environ(), "SNAP_DIR="+dir, "SNAP_BREAK="+breakAt, "SNAP_ARGS="+args)
	out, err := cmd.CombinedOutput()
	b, rerr := os.ReadFile(filepath.Join(dir, "snap.json"))
	if rerr != nil {
		if strings.Contains(string(out), "Python scripting is not supported") {
			t.Skip("gdb has no Python")
		}
		t.Fatalf("gdb snapshot of %s: %v %v\n%s", exe, err, rerr, out)
	}
	s := &snapshot{exe: exe}
	if err := json.Unmarshal(b, s); err != nil {
		t.Fatal(err)
	}
	for _, sg := range s.Segs {
		if sg.data, err = os.ReadFile(sg.File); err != nil {
			t.Fatal(err)
		}
	}
	slices.SortFunc(s.Segs, func(a, b *snapSeg) int {
		if a.Lo < b.Lo {
			return -1
		}
		return 1
	})
	if s.auxv, err = os.ReadFile(filepath.Join(dir, "auxv")); err != nil {
		t.Fatal(err)
	}
	snapCache[key] = s
	return s
}

// gdbFrame is one line of gdb's bt.
type gdbFrame struct {
	num      int
	pc       uint64 // 0 when gdb did not print it
	fn       string
	file     string
	line     int
	from     string
	signal   bool
	original string
}

var btRE = regexp.MustCompile(`^#(\d+)\s+(?:(0x[0-9a-f]+) in )?(\S+) \(.*?\)(?: at (\S+):(\d+))?(?: from (\S+))?\s*$`)
var btSigRE = regexp.MustCompile(`^#(\d+)\s+<signal handler called>`)

func parseBT(t testing.TB, bt string) []gdbFrame {
	t.Helper()
	var out []gdbFrame
	for _, l := range strings.Split(bt, "\n") {
		if !strings.HasPrefix(l, "#") {
			continue
		}
		if m := btSigRE.FindStringSubmatch(l); m != nil {
			n, _ := strconv.Atoi(m[1])
			out = append(out, gdbFrame{num: n, signal: true, original: l})
			continue
		}
		m := btRE.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("cannot parse bt line %q", l)
		}
		f := gdbFrame{fn: m[3], file: m[4], from: m[6], original: l}
		f.num, _ = strconv.Atoi(m[1])
		if m[2] != "" {
			f.pc, _ = strconv.ParseUint(m[2][2:], 16, 64)
		}
		f.line, _ = strconv.Atoi(m[5])
		out = append(out, f)
	}
	return out
}
