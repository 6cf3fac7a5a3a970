package integration

// gdb/MI as IDEs drive it (VS Code's cppdbg with miDebuggerServerAddress,
// CLion's "Remote GDB server"): gdb --interpreter=mi3 over pipes, MI
// commands in, records parsed. Every scenario runs against gdbserver and
// gostub and the gostub subtest must produce the same summary of records.

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const miTimeout = 20 * time.Second

// miRecord is one output record of gdb/MI: ^result, *exec-async,
// =notify-async (class and results), or ~ & @ stream text.
type miRecord struct {
	token   int    // -1 when absent
	kind    byte   // '^', '*', '=', '~', '&', '@'
	class   string // "done", "running", "stopped", ...
	results map[string]any
	text    string // stream records: the decoded string
	line    string
}

// get follows a path of keys in nested tuples ("frame.func"); list
// indexes are numbers ("stack.1.func").
func (r miRecord) get(path string) string {
	var v any = r.results
	for _, k := range strings.Split(path, ".") {
		switch x := v.(type) {
		case map[string]any:
			v = x[k]
		case []any:
			i, err := strconv.Atoi(k)
			if err != nil || i >= len(x) {
				return ""
			}
			v = x[i]
		default:
			return ""
		}
	}
	switch x := v.(type) {
	case string:
		return x
	case nil:
		return ""
	default:
		return fmt.Sprint(x)
	}
}

// parseMI parses one line of MI output.
func parseMI(line string) (miRecord, error) {
	r := miRecord{token: -1, line: line}
	i := 0
	for i < len(line) && line[i] >= '0' && line[i] <= '9' {
		i++
	}
	if i > 0 {
		r.token, _ = strconv.Atoi(line[:i])
	}
	if i >= len(line) {
		return r, fmt.Errorf("empty record %q", line)
	}
	r.kind = line[i]
	p := &miParser{s: line, i: i + 1}
	switch r.kind {
	case '~', '&', '@':
		s, err := p.cstring()
		r.text = s
		return r, err
	case '^', '*', '=':
		j := strings.IndexByte(line[p.i:], ',')
		if j < 0 {
			r.class = line[p.i:]
			r.results = map[string]any{}
			return r, nil
		}
		r.class = line[p.i : p.i+j]
		p.i += j + 1
		res, err := p.results(0)
		r.results = res
		return r, err
	}
	return r, fmt.Errorf("unknown record %q", line)
}

type miParser struct {
	s string
	i int
}

func (p *miParser) cstring() (string, error) {
	if p.i >= len(p.s) || p.s[p.i] != '"' {
		return "", fmt.Errorf("expected '\"' at %d in %q", p.i, p.s)
	}
	var b strings.Builder
	for p.i++; p.i < len(p.s); p.i++ {
		c := p.s[p.i]
		switch c {
		case '"':
			p.i++
			return b.String(), nil
		case '\\':
			p.i++
			if p.i >= len(p.s) {
				break
			}
			switch e := p.s[p.i]; e {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			default:
				b.WriteByte(e)
			}
		default:
			b.WriteByte(c)
		}
	}
	return "", fmt.Errorf("unterminated string in %q", p.s)
}

// results parses name=value pairs up to end (0: end of line).
func (p *miParser) results(end byte) (map[string]any, error) {
	m := map[string]any{}
	for p.i < len(p.s) && p.s[p.i] != end {
		j := strings.IndexByte(p.s[p.i:], '=')
		if j < 0 {
			return m, fmt.Errorf("expected name= at %d in %q", p.i, p.s)
		}
		name := p.s[p.i : p.i+j]
		p.i += j + 1
		v, err := p.value()
		if err != nil {
			return m, err
		}
		m[name] = v
		if p.i < len(p.s) && p.s[p.i] == ',' {
			p.i++
		}
	}
	return m, nil
}

func (p *miParser) value() (any, error) {
	if p.i >= len(p.s) {
		return nil, fmt.Errorf("value expected at the end of %q", p.s)
	}
	switch p.s[p.i] {
	case '"':
		return p.cstring()
	case '{':
		p.i++
		m, err := p.results('}')
		p.i++
		return m, err
	case '[':
		p.i++
		var list []any
		for p.i < len(p.s) && p.s[p.i] != ']' {
			var v any
			var err error
			if c := p.s[p.i]; c == '"' || c == '{' || c == '[' {
				v, err = p.value()
			} else {
				// name=value in a list (stack=[frame={...},...]): keep the value.
				j := strings.IndexByte(p.s[p.i:], '=')
				if j < 0 {
					return nil, fmt.Errorf("bad list item at %d in %q", p.i, p.s)
				}
				p.i += j + 1
				v, err = p.value()
			}
			if err != nil {
				return nil, err
			}
			list = append(list, v)
			if p.i < len(p.s) && p.s[p.i] == ',' {
				p.i++
			}
		}
		p.i++
		return list, nil
	}
	return nil, fmt.Errorf("bad value at %d in %q", p.i, p.s)
}

// miSession is gdb --interpreter=mi3 on pipes.
type miSession struct {
	t       *testing.T
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	lines   chan string
	pending []miRecord // records read while waiting for something else
	token   int
	log     strings.Builder
	cancel  context.CancelFunc
	done    chan struct{}
}

func startMI(t *testing.T, prog string) *miSession {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*miTimeout)
	m := &miSession{t: t, lines: make(chan string, 256), cancel: cancel, done: make(chan struct{})}
	m.cmd = exec.CommandContext(ctx, "gdb", "-nx", "--interpreter=mi3", "-iex", "set debuginfod enabled off", prog)
	m.cmd.Env = inferiorEnv()
	m.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	m.cmd.WaitDelay = 2 * time.Second
	var err error
	if m.stdin, err = m.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	out, err := m.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	m.cmd.Stderr = m.cmd.Stdout
	if err := m.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			m.lines <- sc.Text()
		}
		close(m.lines)
	}()
	go func() { _ = m.cmd.Wait(); close(m.done) }()
	t.Cleanup(func() {
		m.stdin.Close()
		select {
		case <-m.done:
		case <-time.After(5 * time.Second):
			t.Errorf("gdb did not exit")
			cancel()
			<-m.done
		}
		cancel()
		if t.Failed() {
			t.Logf("gdb/MI transcript:\n%s", m.log.String())
		}
	})
	return m
}

// next returns the next record, from the backlog first.
func (m *miSession) next(deadline time.Time) (miRecord, bool) {
	m.t.Helper()
	for {
		select {
		case line, ok := <-m.lines:
			if !ok {
				return miRecord{}, false
			}
			m.log.WriteString("<- " + line + "\n")
			if line == "(gdb) " || line == "(gdb)" || line == "" {
				continue
			}
			r, err := parseMI(line)
			if err != nil {
				m.t.Errorf("MI: %v", err)
				continue
			}
			return r, true
		case <-time.After(time.Until(deadline)):
			return miRecord{}, false
		}
	}
}

// run sends a command and returns its result record (^done, ^running,
// ^connected, ^error, ^exit). Async records met meanwhile are kept.
func (m *miSession) run(command string) miRecord {
	m.t.Helper()
	m.token++
	tok := m.token
	m.log.WriteString(fmt.Sprintf("-> %d%s\n", tok, command))
	if _, err := fmt.Fprintf(m.stdin, "%d%s\n", tok, command); err != nil {
		m.t.Fatalf("gdb stdin: %v", err)
	}
	deadline := time.Now().Add(miTimeout)
	for {
		r, ok := m.next(deadline)
		if !ok {
			m.t.Fatalf("no result for %s within %v", command, miTimeout)
		}
		if r.kind == '^' && r.token == tok {
			return r
		}
		m.pending = append(m.pending, r)
	}
}

// must runs a command that must succeed with class want.
func (m *miSession) must(command, want string) miRecord {
	m.t.Helper()
	r := m.run(command)
	if r.class != want {
		m.t.Fatalf("%s -> ^%s (%s), want ^%s", command, r.class, r.get("msg"), want)
	}
	return r
}

// await returns the next async record of kind and class ("*stopped").
func (m *miSession) await(kind byte, class string) miRecord {
	m.t.Helper()
	for i, r := range m.pending {
		if r.kind == kind && r.class == class {
			m.pending = append(m.pending[:i:i], m.pending[i+1:]...)
			return r
		}
	}
	deadline := time.Now().Add(miTimeout)
	for {
		r, ok := m.next(deadline)
		if !ok {
			m.t.Fatalf("no %c%s within %v", kind, class, miTimeout)
		}
		if r.kind == kind && r.class == class {
			return r
		}
		m.pending = append(m.pending, r)
	}
}

// miSummary collects what must be the same with both stubs.
type miSummary struct{ lines []string }

func (s *miSummary) add(format string, args ...any) {
	s.lines = append(s.lines, fmt.Sprintf(format, args...))
}

func (s *miSummary) String() string { return strings.Join(s.lines, "\n") + "\n" }

// result logs the summary (with -v) and returns it for the comparison.
func (s *miSummary) result(t *testing.T) string {
	if testing.Verbose() {
		t.Logf("summary:\n%s", s)
	}
	return s.String()
}

// stopped summarizes a *stopped record.
func stoppedSummary(r miRecord) string {
	return fmt.Sprintf("*stopped reason=%s bkptno=%s signal=%s exit-code=%s func=%s line=%s",
		r.get("reason"), r.get("bkptno"), r.get("signal-name"), r.get("exit-code"), r.get("frame.func"), r.get("frame.line"))
}

// TestMISession: the requests an IDE makes over one debug session:
// connect, breakpoints by function and by line, run, stack, variables,
// watch expressions, memory, step, step out, threads, run to the end.
func TestMISession(t *testing.T) {
	t.Parallel()
	prog := compile(t, "loop.c")
	add := markLine(t, "loop.c", "add-body")
	body := markLine(t, "loop.c", "loop-body")
	forEachStub(t, func(t *testing.T, kind StubKind) string {
		s := StartStub(t, kind, prog, "3")
		m := startMI(t, prog)
		var sum miSummary
		m.must("-gdb-set mi-async on", "done")
		m.must("-gdb-set non-stop off", "done")
		m.must("-target-select remote "+s.Addr, "connected")
		sum.add("connected: %s", stoppedSummary(m.await('*', "stopped")))

		b := m.must("-break-insert add", "done")
		sum.add("break %s: number=%s func=%s line=%s", "add", b.get("bkpt.number"), b.get("bkpt.func"), b.get("bkpt.line"))
		b = m.must(fmt.Sprintf("-break-insert loop.c:%d", body), "done")
		sum.add("break loop.c:%d: number=%s func=%s line=%s", body, b.get("bkpt.number"), b.get("bkpt.func"), b.get("bkpt.line"))

		m.must("-exec-continue", "running")
		m.await('*', "running")
		st := m.await('*', "stopped")
		sum.add("continue: %s args=%s=%s,%s=%s", stoppedSummary(st),
			st.get("frame.args.0.name"), st.get("frame.args.0.value"), st.get("frame.args.1.name"), st.get("frame.args.1.value"))
		if st.get("reason") != "breakpoint-hit" || st.get("frame.func") != "add" || st.get("frame.line") != strconv.Itoa(add) {
			t.Errorf("first stop: %s", st.line)
		}

		fr := m.must("-stack-list-frames", "done")
		sum.add("frames: %s@%s %s@%s %s", fr.get("stack.0.func"), fr.get("stack.0.line"), fr.get("stack.1.func"), fr.get("stack.1.line"), fr.get("stack.2.func"))
		if fr.get("stack.0.func") != "add" || fr.get("stack.1.func") != "main" {
			t.Errorf("frames: %s", fr.line)
		}
		vars := m.must("-stack-list-variables --all-values", "done")
		sum.add("variables: %s=%s %s=%s %s", vars.get("variables.0.name"), vars.get("variables.0.value"),
			vars.get("variables.1.name"), vars.get("variables.1.value"), vars.get("variables.2.name"))
		v := m.must("-var-create - * b", "done")
		sum.add("var-create b: value=%s type=%s numchild=%s", v.get("value"), v.get("type"), v.get("numchild"))
		e := m.must("-data-evaluate-expression a+b*2", "done")
		sum.add("evaluate a+b*2: %s", e.get("value"))
		mem := m.must("-data-read-memory-bytes &counter 4", "done")
		sum.add("memory &counter: %s", mem.get("memory.0.contents"))
		if e.get("value") != "200" || mem.get("memory.0.contents") != "00000000" {
			t.Errorf("evaluate %s, memory %s", e.line, mem.line)
		}

		for _, step := range []string{"-exec-next", "-exec-step", "-exec-finish"} {
			m.must(step, "running")
			st := m.await('*', "stopped")
			sum.add("%s: %s return-value=%s", step, stoppedSummary(st), st.get("return-value"))
		}
		m.must("-var-update --all-values *", "done")
		m.must("-break-delete 1", "done")
		m.must("-exec-continue", "running")
		st = m.await('*', "stopped")
		sum.add("continue: %s", stoppedSummary(st))
		v = m.must("-var-create - * i", "done")
		sum.add("var-create i: value=%s", v.get("value"))

		th := m.must("-thread-info", "done")
		sum.add("threads: n=%d id=%s name=%s state=%s func=%s current=%s", len(th.results["threads"].([]any)),
			th.get("threads.0.id"), th.get("threads.0.name"), th.get("threads.0.state"), th.get("threads.0.frame.func"), th.get("current-thread-id"))
		if !regexp.MustCompile(`^Thread \d+\.\d+$`).MatchString(th.get("threads.0.target-id")) {
			t.Errorf("thread target-id %q", th.get("threads.0.target-id"))
		}

		m.must("-break-delete 2", "done")
		m.must("-exec-continue", "running")
		st = m.await('*', "stopped")
		sum.add("continue: %s", stoppedSummary(st))
		if st.get("reason") != "exited" || st.get("exit-code") != "0147" {
			t.Errorf("end: %s, want exited with 0147", st.line)
		}
		m.must("-gdb-exit", "exit")
		s.WaitExit(t, stubExitTimeout)
		return sum.result(t)
	})
}

// TestMIInterrupt: -exec-interrupt on a running program (mi-async on,
// all-stop), twice, with a look at threads and stack each time; then the
// IDE detaches from the attached program and it runs on.
func TestMIInterrupt(t *testing.T) {
	t.Parallel()
	prog := compile(t, "forever.c", "-fno-pie", "-no-pie")
	textAddr, text := elfSection(t, prog, ".text")
	beatsAddr := elfSymbol(t, prog, "beats")
	forEachStub(t, func(t *testing.T, kind StubKind) string {
		p := startProgram(t, "forever: pid=", prog)
		s := AttachStub(t, kind, p.PID)
		m := startMI(t, prog)
		var sum miSummary
		m.must("-gdb-set mi-async on", "done")
		m.must("-gdb-set non-stop off", "done")
		m.must("-target-select remote "+s.Addr, "connected")
		st := m.await('*', "stopped")
		sum.add("connected: reason=%s", st.get("reason"))
		for round := 1; round <= 2; round++ {
			m.must("-exec-continue", "running")
			m.await('*', "running")
			time.Sleep(200 * time.Millisecond)
			m.must("-exec-interrupt", "done")
			st := m.await('*', "stopped")
			sum.add("interrupt: reason=%s signal=%s", st.get("reason"), st.get("signal-name"))
			if st.get("reason") != "signal-received" || st.get("signal-name") != "SIGINT" {
				t.Errorf("round %d: %s", round, st.line)
			}
			th := m.must("-thread-info", "done")
			sum.add("threads: n=%d state=%s", len(th.results["threads"].([]any)), th.get("threads.0.state"))
			fr := m.must("-stack-list-frames", "done")
			funcs := []string{}
			for _, f := range fr.results["stack"].([]any) {
				funcs = append(funcs, f.(map[string]any)["func"].(string))
			}
			if !containsString(funcs, "main") {
				t.Errorf("round %d: stack %v lacks main", round, funcs)
			}
			sum.add("stack has main: %v", containsString(funcs, "main"))
		}
		e := m.must("-data-evaluate-expression beats>0", "done")
		sum.add("beats>0: %s", e.get("value"))
		m.must("-target-detach", "done")
		m.must("-gdb-exit", "exit")
		s.WaitExit(t, stubExitTimeout)
		checkRunsUntouched(t, p.PID, textAddr, text, beatsAddr)
		return sum.result(t)
	})
}

// TestMIThreads: a breakpoint hit in a worker thread; -thread-info lists
// the threads with the stopped one current, -thread-select and
// -stack-list-frames per thread (how IDEs fill their threads view).
func TestMIThreads(t *testing.T) {
	t.Parallel()
	prog := compile(t, "threads.c", "-pthread")
	forEachStub(t, func(t *testing.T, kind StubKind) string {
		s := StartStub(t, kind, prog, "3")
		m := startMI(t, prog)
		m.must("-gdb-set mi-async on", "done")
		m.must("-target-select remote "+s.Addr, "connected")
		m.await('*', "stopped")
		m.must("-break-insert work", "done")
		for hit := 1; hit <= 3; hit++ {
			m.must("-exec-continue", "running")
			st := m.await('*', "stopped")
			if st.get("reason") != "breakpoint-hit" || st.get("frame.func") != "work" {
				t.Fatalf("hit %d: %s", hit, st.line)
			}
			th := m.must("-thread-info", "done")
			threads := th.results["threads"].([]any)
			if len(threads) < 2 {
				t.Errorf("hit %d: %d threads", hit, len(threads))
			}
			cur := th.get("current-thread-id")
			if cur != st.get("thread-id") {
				t.Errorf("hit %d: current thread %s, stopped thread %s", hit, cur, st.get("thread-id"))
			}
			// Every thread has a frame and can be selected and unwound.
			for i := range threads {
				id := th.get(fmt.Sprintf("threads.%d.id", i))
				if th.get(fmt.Sprintf("threads.%d.state", i)) != "stopped" {
					t.Errorf("hit %d: thread %s not stopped", hit, id)
				}
				m.must("-thread-select "+id, "done")
				fr := m.must("-stack-list-frames", "done")
				if fr.get("stack.0.addr") == "" {
					t.Errorf("hit %d: thread %s has no frame", hit, id)
				}
				if id == cur && fr.get("stack.1.func") != "thread_fn" {
					t.Errorf("hit %d: stopped thread's caller %q, want thread_fn", hit, fr.get("stack.1.func"))
				}
			}
			m.must("-thread-select "+cur, "done")
		}
		m.must("-break-delete", "done")
		m.must("-exec-continue", "running")
		if st := m.await('*', "stopped"); st.get("reason") != "exited-normally" {
			t.Errorf("end: %s", st.line)
		}
		m.must("-gdb-exit", "exit")
		s.WaitExit(t, stubExitTimeout)
		if out := s.Output(); !strings.Contains(out, "result[3]=9003") {
			t.Errorf("program output lacks result[3]=9003")
		}
		return ""
	})
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestMIParser(t *testing.T) {
	r, err := parseMI(`12^done,stack=[frame={level="0",func="add",args=[{name="a",value="0"}]},frame={level="1",func="main"}],x="a\"b\\c"`)
	if err != nil {
		t.Fatal(err)
	}
	if r.token != 12 || r.kind != '^' || r.class != "done" || r.get("stack.1.func") != "main" ||
		r.get("stack.0.args.0.value") != "0" || r.get("x") != `a"b\c` {
		t.Errorf("parsed %+v", r)
	}
	r, err = parseMI(`*stopped,reason="exited",exit-code="0147"`)
	if err != nil || r.token != -1 || r.get("exit-code") != "0147" {
		t.Errorf("parsed %+v %v", r, err)
	}
	r, err = parseMI(`~"Breakpoint 1, add (a=0, b=100) at loop.c:12\n"`)
	if err != nil || r.kind != '~' || !strings.HasSuffix(r.text, "loop.c:12\n") {
		t.Errorf("parsed %+v %v", r, err)
	}
}
