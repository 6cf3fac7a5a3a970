package dwarf

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Test programs are built on demand with gcc from testdata/*.c into one
// temporary directory per test run, cached by a hash of the command.

var (
	workDir   string
	buildMu   sync.Mutex
	buildOnce = map[string]*buildResult{}
)

type buildResult struct {
	once sync.Once
	path string
	err  error
}

func TestMain(m *testing.M) {
	d, err := os.MkdirTemp("", "gostub-dwarf-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	workDir = d
	code := m.Run()
	os.RemoveAll(d)
	os.Exit(code)
}

func needTools(t testing.TB, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not installed: the tests need it (scripts/test.sh installs gdb, gcc, binutils)", tool)
		}
	}
}

func srcPath(t testing.TB, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// build runs `gcc -g <flags> -o OUT <sources>` once per distinct command
// and returns OUT. Sources are names under testdata/; flags may mention
// other build outputs.
func build(t testing.TB, name string, sources []string, flags ...string) string {
	t.Helper()
	needTools(t, "gcc")
	args := []string{"-g"}
	for _, s := range sources {
		args = append(args, srcPath(t, s))
	}
	args = append(args, flags...)
	h := sha256.New()
	for _, a := range args {
		h.Write([]byte(a + "\x00"))
	}
	for _, s := range sources {
		b, err := os.ReadFile(srcPath(t, s))
		if err != nil {
			t.Fatal(err)
		}
		h.Write(b)
	}
	key := hex.EncodeToString(h.Sum(nil))[:12]
	dir := filepath.Join(workDir, key)
	out := filepath.Join(dir, name)

	buildMu.Lock()
	r, ok := buildOnce[key]
	if !ok {
		r = &buildResult{}
		buildOnce[key] = r
	}
	buildMu.Unlock()
	r.once.Do(func() {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			r.err = err
			return
		}
		cmd := exec.Command("gcc", append(args, "-o", out)...)
		cmd.Dir = dir
		if b, err := cmd.CombinedOutput(); err != nil {
			r.err = fmt.Errorf("gcc %s: %v\n%s", strings.Join(args, " "), err, b)
			return
		}
		r.path = out
	})
	if r.err != nil {
		t.Fatal(r.err)
	}
	return r.path
}

// Standard builds.
func progO0(t testing.TB) string { return build(t, "prog", []string{"prog.c"}, "-O0") }
func progNoPIE(t testing.TB) string {
	return build(t, "prog_nopie", []string{"prog.c"}, "-O0", "-fno-pie", "-no-pie")
}
func inlO2(t testing.TB) string { return build(t, "inl", []string{"inl.c"}, "-O2") }
func recO0(t testing.TB) string { return build(t, "rec0", []string{"rec.c"}, "-O0") }
func recO2(t testing.TB) string {
	return build(t, "rec2", []string{"rec.c"}, "-O2", "-fomit-frame-pointer")
}

// shlib builds libshlib.so and shmain linked to it (rpath to its directory).
func shlib(t testing.TB) (lib, exe string) {
	lib = build(t, "libshlib.so", []string{"shlib.c"}, "-O0", "-shared", "-fPIC")
	dir := filepath.Dir(lib)
	exe = build(t, "shmain", []string{"shmain.c"}, "-O0", "-L"+dir, "-lshlib", "-Wl,-rpath,"+dir)
	return lib, exe
}

// run runs a command and returns its stdout, failing the test on error.
func run(t testing.TB, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

// gdbBatch runs gdb in batch mode with the given commands on bin.
func gdbBatch(t testing.TB, bin string, cmds ...string) string {
	t.Helper()
	needTools(t, "gdb")
	args := []string{"-nx", "-batch", "-ex", "set pagination off", "-ex", "set width 0", "-ex", "set confirm off"}
	for _, c := range cmds {
		args = append(args, "-ex", c)
	}
	args = append(args, bin)
	cmd := exec.Command("gdb", args...)
	out, _ := cmd.CombinedOutput() // errors of single commands are part of the answer
	return string(out)
}

// gdbSections splits gdb output produced with `echo @@KEY\n` separators.
func gdbSections(out string) map[string]string {
	m := map[string]string{}
	key := ""
	var b strings.Builder
	flush := func() {
		if key != "" {
			m[key] = b.String()
		}
		b.Reset()
	}
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if k, ok := strings.CutPrefix(line, "@@"); ok {
			flush()
			key = k
			continue
		}
		b.WriteString(line + "\n")
	}
	flush()
	return m
}

// markLine returns the line of src carrying the comment @mark:NAME.
func markLine(t testing.TB, src, name string) int {
	t.Helper()
	b, err := os.ReadFile(srcPath(t, src))
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, "@mark:"+name+" ") || strings.HasSuffix(l, "@mark:"+name) {
			return i + 1
		}
	}
	t.Fatalf("no @mark:%s in %s", name, src)
	return 0
}

func lineCount(t testing.TB, src string) int {
	b, err := os.ReadFile(srcPath(t, src))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), "\n")
}

func mustOpen(t testing.TB, path string) *Object {
	t.Helper()
	o, err := Open(path)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() { o.Close() })
	return o
}

// addr2line runs `addr2line -a -f -i -e bin` on addrs and returns, per
// address, the chain of (function, file, line), innermost first.
type a2lEntry struct {
	fn, file string
	line     int
}

var discrRE = regexp.MustCompile(` \(discriminator \d+\)$`)

func addr2line(t testing.TB, bin string, addrs []uint64) map[uint64][]a2lEntry {
	t.Helper()
	needTools(t, "addr2line")
	args := []string{"-a", "-f", "-i", "-e", bin}
	for _, a := range addrs {
		args = append(args, fmt.Sprintf("0x%x", a))
	}
	out := run(t, "addr2line", args...)
	res := map[uint64][]a2lEntry{}
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	var cur uint64
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if strings.HasPrefix(l, "0x") {
			v, err := strconv.ParseUint(l[2:], 16, 64)
			if err != nil {
				t.Fatalf("addr2line output %q", l)
			}
			cur = v
			res[cur] = nil
			continue
		}
		if i+1 >= len(lines) {
			t.Fatalf("addr2line output ends after %q", l)
		}
		pos := discrRE.ReplaceAllString(lines[i+1], "")
		i++
		e := a2lEntry{fn: l}
		if j := strings.LastIndexByte(pos, ':'); j >= 0 {
			e.file = pos[:j]
			e.line, _ = strconv.Atoi(pos[j+1:])
		}
		res[cur] = append(res[cur], e)
	}
	return res
}

func hexAddrs(pcs []uint64) string {
	var s []string
	for _, p := range pcs {
		s = append(s, fmt.Sprintf("0x%x", p))
	}
	return "[" + strings.Join(s, " ") + "]"
}

func execIn(dir, name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	return cmd
}
