package rsp

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/gostub/gostub/target"
)

// symProc is a fake process that answers the code queries of the monitor
// commands from canned data, and records what it was asked.
type symProc struct {
	*fakeProc
	syms      map[string]uint64
	lineSpecs []target.LineSpec
	lines     []target.LineInfo
	lineErr   error
	symAddrs  []uint64
	symInfos  map[uint64][]target.SymbolInfo
	btThreads []target.ThreadID
	bt        map[int]target.Backtrace // by TID
	btErr     error
	libs      []target.SharedLibrary
	maps      string
}

func newSymProc() *symProc {
	return &symProc{
		fakeProc: newFakeProc(),
		syms:     map[string]uint64{"leaf": 0x1150, "counter": 0x4010},
		symInfos: map[uint64][]target.SymbolInfo{},
		bt:       map[int]target.Backtrace{},
	}
}

func (p *symProc) LookupSymbol(name string) (uint64, error) {
	if a, ok := p.syms[name]; ok {
		return a, nil
	}
	return 0, fmt.Errorf("No symbol %q in current context.", name)
}

func (p *symProc) InfoLine(spec target.LineSpec) ([]target.LineInfo, error) {
	p.lineSpecs = append(p.lineSpecs, spec)
	return p.lines, p.lineErr
}

func (p *symProc) InfoSymbol(addr uint64) ([]target.SymbolInfo, error) {
	p.symAddrs = append(p.symAddrs, addr)
	return p.symInfos[addr], nil
}

func (p *symProc) Backtrace(t target.ThreadID, max int) (target.Backtrace, error) {
	p.btThreads = append(p.btThreads, t)
	bt := p.bt[t.TID]
	if max > 0 && len(bt.Frames) > max {
		bt.Frames = bt.Frames[:max]
	}
	return bt, p.btErr
}

func (p *symProc) SharedLibraries() ([]target.SharedLibrary, error) { return p.libs, nil }
func (p *symProc) Maps() (string, error)                            { return p.maps, nil }

// monitorText runs a monitor command and returns the text of its O packets
// and the final reply, checking that output comes only before it.
func monitorText(t *testing.T, d *direct, cmd string) (string, string) {
	t.Helper()
	r, err := d.do("qRcmd," + hex.EncodeToString([]byte(cmd)))
	if err != nil {
		t.Fatal(err)
	}
	if len(r) == 0 {
		t.Fatalf("monitor %s: no reply", cmd)
	}
	var text strings.Builder
	for _, o := range r[:len(r)-1] {
		if o == "" || o[0] != 'O' || o == "OK" {
			t.Fatalf("monitor %s: reply %q before the last", cmd, o)
		}
		b, err := hex.DecodeString(o[1:])
		if err != nil {
			t.Fatalf("monitor %s: O packet %q: %v", cmd, o, err)
		}
		if len(b) > maxOutputChunk {
			t.Errorf("monitor %s: O packet of %d bytes", cmd, len(b))
		}
		text.Write(b)
	}
	return text.String(), r[len(r)-1]
}

func TestMonitorHelpKeepsGdbserverLines(t *testing.T) {
	d := newDirect(newSymProc(), Options{})
	text, last := monitorText(t, d, "help")
	if last != "OK" {
		t.Fatalf("help: %q", last)
	}
	gdbserver := `The following monitor commands are supported:
  set debug <0|1>
    Enable general debugging messages
  set remote-debug <0|1>
    Enable remote protocol debugging messages
  set debug-format option1[,option2,...]
    Add additional information to debugging messages
    Options: all, none, timestamp
  exit
    Quit GDBserver
`
	if !strings.HasPrefix(text, gdbserver) {
		t.Errorf("help does not start with gdbserver's text:\n%s", text)
	}
	for _, c := range []string{"info line FILE:LINE|FUNC|*ADDR", "info symbol ADDR", "backtrace [TID|all]", "info sharedlibrary", "maps"} {
		if !strings.Contains(text, "\n  "+c+"\n") {
			t.Errorf("help lacks %q", c)
		}
	}
}

func TestMonitorInfoLineSpecs(t *testing.T) {
	p := newSymProc()
	d := newDirect(p, Options{})
	p.bt[fakePID] = target.Backtrace{Frames: []target.Frame{{PC: 0x1167}}}
	tests := []struct {
		arg  string
		want target.LineSpec
	}{
		{"loop.c:12", target.LineSpec{File: "loop.c", Line: 12}},
		{"/src/dir/loop.c:7", target.LineSpec{File: "/src/dir/loop.c", Line: 7}},
		{"add", target.LineSpec{Function: "add"}},
		{"loop.c:add", target.LineSpec{File: "loop.c", Function: "add"}},
		{"*0x401126", target.LineSpec{Addr: 0x401126, IsAddr: true}},
		{"* 0x401126", target.LineSpec{Addr: 0x401126, IsAddr: true}},
		{"*4198694", target.LineSpec{Addr: 4198694, IsAddr: true}},
		{"*leaf", target.LineSpec{Addr: 0x1150, IsAddr: true}},
		{"*leaf+4", target.LineSpec{Addr: 0x1154, IsAddr: true}},
		{"*leaf + 0x10", target.LineSpec{Addr: 0x1160, IsAddr: true}},
		{"*&counter", target.LineSpec{Addr: 0x4010, IsAddr: true}},
		{"*leaf-1", target.LineSpec{Addr: 0x114f, IsAddr: true}},
		{"*$pc", target.LineSpec{Addr: 0x1167, IsAddr: true}},
	}
	for _, tt := range tests {
		p.lineSpecs = nil
		if _, last := monitorText(t, d, "info line "+tt.arg); last != "OK" {
			t.Errorf("info line %s: %q", tt.arg, last)
		}
		if len(p.lineSpecs) != 1 || p.lineSpecs[0] != tt.want {
			t.Errorf("info line %s: target asked %+v, want %+v", tt.arg, p.lineSpecs, tt.want)
		}
	}
	bad := []struct{ arg, msg string }{
		{"", "Argument required (FILE:LINE, FUNCTION or *ADDRESS).\n"},
		{"loop.c:", "malformed line specification \"loop.c:\"\n"},
		{"loop.c:0", "Line number 0 is out of range for \"loop.c\".\n"},
		{"a b", "malformed line specification \"a b\"\n"},
		{"*nosuch", "No symbol \"nosuch\" in current context.\n"},
		{"*0xzz", "Invalid number \"0xzz\".\n"},
		{"*leaf+x", "cannot evaluate \"leaf+x\": a number or a symbol, with an optional +N or -N, is expected\n"},
		{"*$sp", "cannot evaluate \"$sp\": a number or a symbol, with an optional +N or -N, is expected\n"},
		{"*", "Argument required (an address).\n"},
	}
	for _, tt := range bad {
		p.lineSpecs = nil
		text, last := monitorText(t, d, "info line "+tt.arg)
		if text != tt.msg || last != "OK" {
			t.Errorf("info line %q = %q, %q; want %q, OK", tt.arg, text, last, tt.msg)
		}
		if len(p.lineSpecs) != 0 {
			t.Errorf("info line %q reached the target: %+v", tt.arg, p.lineSpecs)
		}
	}
}

func TestMonitorInfoLineFormat(t *testing.T) {
	p := newSymProc()
	d := newDirect(p, Options{})
	p.lines = []target.LineInfo{
		{File: "loop.c", Line: 12, Start: target.CodeAddr{Addr: 0x555555555167, Symbol: "leaf", Offset: 11},
			End: target.CodeAddr{Addr: 0x555555555171, Symbol: "leaf", Offset: 21}},
		{File: "loop.c", Line: 20, Start: target.CodeAddr{Addr: 0x555555555187, Symbol: "recurse"},
			End: target.CodeAddr{Addr: 0x555555555187, Symbol: "recurse"}},
		{Start: target.CodeAddr{Addr: 0x7ffff7fe4b70, Symbol: "_start"}},
		{Start: target.CodeAddr{Addr: 0x10}},
	}
	text, last := monitorText(t, d, "info line loop.c:12")
	want := `Line 12 of "loop.c" starts at address 0x555555555167 <leaf+11> and ends at 0x555555555171 <leaf+21>.
Line 20 of "loop.c" is at address 0x555555555187 <recurse> but contains no code.
No line number information available for address 0x7ffff7fe4b70 <_start>
No line number information available for address 0x10
`
	if text != want || last != "OK" {
		t.Errorf("info line = %q, %q\nwant %q", text, last, want)
	}
	p.lines, p.lineErr = nil, errors.New("No source file named nosuch.c.")
	if text, last := monitorText(t, d, "info line nosuch.c:3"); text != "No source file named nosuch.c.\n" || last != "OK" {
		t.Errorf("unknown file: %q, %q", text, last)
	}
	p.lineErr = errors.New("two\nlines")
	if text, _ := monitorText(t, d, "info line x.c:3"); text != "two lines\n" {
		t.Errorf("multi-line error shown as %q", text)
	}
}

func TestMonitorInfoSymbol(t *testing.T) {
	p := newSymProc()
	d := newDirect(p, Options{})
	p.symInfos[0x115b] = []target.SymbolInfo{{Symbol: "leaf", Offset: 11, Section: ".text", Object: "/tmp/deep"}}
	p.symInfos[0x1150] = []target.SymbolInfo{{Symbol: "leaf", Section: ".text"}}
	p.symInfos[0x4010] = []target.SymbolInfo{{Symbol: "counter", Section: ".bss", Object: "/lib/libx.so"}}
	tests := []struct{ arg, want string }{
		{"0x115b", "leaf + 11 in section .text of /tmp/deep\n"},
		{"leaf+11", "leaf + 11 in section .text of /tmp/deep\n"},
		{"leaf", "leaf in section .text\n"},
		{"&counter", "counter in section .bss of /lib/libx.so\n"},
		{"0x10", "No symbol matches 0x10.\n"},
		{"16", "No symbol matches 16.\n"},
		{"", "Argument required (address).\n"},
		{"nosuch", "No symbol \"nosuch\" in current context.\n"},
	}
	for _, tt := range tests {
		text, last := monitorText(t, d, "info symbol "+tt.arg)
		if text != tt.want || last != "OK" {
			t.Errorf("info symbol %s = %q, %q; want %q", tt.arg, text, last, tt.want)
		}
	}
}

func TestMonitorBacktrace(t *testing.T) {
	p := newSymProc()
	d := newDirect(p, Options{})
	p.bt[fakePID] = target.Backtrace{PtrSize: 8, Frames: []target.Frame{
		{PC: 0x555555555167, Function: "leaf", File: "deep.c", Line: 16},
		{PC: 0x555555555190, ShowPC: true, Function: "twice", File: "deep.c", Line: 11},
		{PC: 0x555555555190, Function: "recurse", File: "deep.c", Line: 27, Args: []target.FrameArg{{Name: "n", Value: "0"}, {Name: "p", Value: "?"}}},
		{PC: 0x7ffff7fbc113, ShowPC: true, Function: "lib_apply", Library: "/lib/libx.so"},
		{Signal: true},
		{PC: 0x7ffff7df718a, ShowPC: true, Function: "", Library: "/lib/libc.so.6"},
		{PC: 0x401000, ShowPC: true},
	}, Stopped: "previous frame inner to this frame (corrupt stack?)"}
	want := `#0  leaf () at deep.c:16
#1  0x0000555555555190 in twice () at deep.c:11
#2  recurse (n=0, p=?) at deep.c:27
#3  0x00007ffff7fbc113 in lib_apply () from /lib/libx.so
#4  <signal handler called>
#5  0x00007ffff7df718a in ?? () from /lib/libc.so.6
#6  0x0000000000401000 in ?? ()
Backtrace stopped: previous frame inner to this frame (corrupt stack?)
`
	for _, cmd := range []string{"backtrace", "bt", "where"} {
		text, last := monitorText(t, d, cmd)
		if text != want || last != "OK" {
			t.Errorf("%s = %q, %q\nwant %q", cmd, text, last, want)
		}
	}
	// The current thread is the one Hg selected.
	tid2 := target.ThreadID{PID: fakePID, TID: fakePID + 2}
	p.bt[tid2.TID] = target.Backtrace{Frames: []target.Frame{{PC: 0x10, ShowPC: true, Function: "spin"}}}
	if r := d.one(t, fmt.Sprintf("Hg%x", tid2.TID)); r != "OK" {
		t.Fatalf("Hg = %q", r)
	}
	p.btThreads = nil
	if text, _ := monitorText(t, d, "backtrace"); text != "#0  0x0000000000000010 in spin ()\n" || len(p.btThreads) != 1 || p.btThreads[0] != tid2 {
		t.Errorf("backtrace after Hg = %q, threads %v", text, p.btThreads)
	}
	// A thread by LWP id (decimal) or by protocol thread-id.
	for _, arg := range []string{fmt.Sprint(tid2.TID), fmt.Sprintf("p%x.%x", fakePID, tid2.TID)} {
		p.btThreads = nil
		if text, last := monitorText(t, d, "backtrace "+arg); last != "OK" || len(p.btThreads) != 1 || p.btThreads[0] != tid2 ||
			!strings.Contains(text, "spin") {
			t.Errorf("backtrace %s = %q, %q, threads %v", arg, text, last, p.btThreads)
		}
	}
	for _, arg := range []string{"99999", "zz", "p1.0", "0"} {
		text, last := monitorText(t, d, "backtrace "+arg)
		if last != "OK" || !strings.Contains(text, arg) || strings.Count(text, "\n") != 1 {
			t.Errorf("backtrace %s = %q, %q", arg, text, last)
		}
	}
	if text, _ := monitorText(t, d, "backtrace 1 2"); text != "Usage: backtrace [TID|all]\n" {
		t.Errorf("backtrace 1 2 = %q", text)
	}
	// All threads, with a header each.
	p.btThreads = nil
	text, _ := monitorText(t, d, "backtrace all")
	if len(p.btThreads) != 3 || strings.Count(text, "\nThread ") != 3 ||
		!strings.Contains(text, fmt.Sprintf("\nThread %d (LWP %d):\n#0  leaf () at deep.c:16\n", fakePID, fakePID)) {
		t.Errorf("backtrace all = %q (threads %v)", text, p.btThreads)
	}
	// A target error with no frames is the whole answer.
	p.btErr = errors.New("thread 1234: no such thread")
	p.bt[fakePID] = target.Backtrace{}
	if r := d.one(t, fmt.Sprintf("Hg%x", fakePID)); r != "OK" {
		t.Fatalf("Hg = %q", r)
	}
	if text, last := monitorText(t, d, "backtrace"); text != "thread 1234: no such thread\n" || last != "OK" {
		t.Errorf("backtrace error = %q, %q", text, last)
	}
}

func TestMonitorBacktraceLimitAndChunks(t *testing.T) {
	p := newSymProc()
	d := newDirect(p, Options{})
	frames := make([]target.Frame, maxBacktrace+50)
	for i := range frames {
		frames[i] = target.Frame{PC: uint64(0x1000 + i), ShowPC: true, Function: "recurse", File: "deep.c", Line: 28}
	}
	p.bt[fakePID] = target.Backtrace{Frames: frames}
	r, err := d.do("qRcmd," + hex.EncodeToString([]byte("backtrace")))
	if err != nil {
		t.Fatal(err)
	}
	if len(r) < 100 {
		t.Errorf("%d frames in %d packets: output not split", len(frames), len(r))
	}
	text, last := monitorText(t, d, "backtrace")
	if last != "OK" {
		t.Fatalf("last reply %q", last)
	}
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) != maxBacktrace+1 || lines[len(lines)-1] != "(More stack frames follow...)" {
		t.Errorf("%d lines, last %q", len(lines), lines[len(lines)-1])
	}
	if want := fmt.Sprintf("#%d 0x%016x in recurse () at deep.c:28", maxBacktrace-1, 0x1000+maxBacktrace-1); lines[maxBacktrace-1] != want {
		t.Errorf("line %d = %q, want %q", maxBacktrace-1, lines[maxBacktrace-1], want)
	}
	// Every packet but the last ends a line: gdb prints them as they come.
	for _, o := range r[:len(r)-2] {
		b, _ := hex.DecodeString(o[1:])
		if !strings.HasSuffix(string(b), "\n") {
			t.Fatalf("O packet cut inside a line: %q", b[max(0, len(b)-20):])
		}
	}
}

func TestMonitorSharedLibraries(t *testing.T) {
	p := newSymProc()
	d := newDirect(p, Options{})
	if text, _ := monitorText(t, d, "info sharedlibrary"); text != "No shared libraries loaded at this time.\n" {
		t.Errorf("no libraries: %q", text)
	}
	p.libs = []target.SharedLibrary{
		{Name: "/lib64/ld-linux-x86-64.so.2", From: 0x7ffff7fcb060, To: 0x7ffff7ff0111, SymsRead: true, Debug: true},
		{Name: "/lib/x86_64-linux-gnu/libc.so.6", From: 0x7ffff7dfb380, To: 0x7ffff7f4f22d, SymsRead: true},
		{Name: "/gone/libx.so"},
	}
	want := `From                To                  Syms Read   Shared Object Library
0x00007ffff7fcb060  0x00007ffff7ff0111  Yes         /lib64/ld-linux-x86-64.so.2
0x00007ffff7dfb380  0x00007ffff7f4f22d  Yes (*)     /lib/x86_64-linux-gnu/libc.so.6
                                        No          /gone/libx.so
(*): Shared library is missing debugging information.
`
	for _, cmd := range []string{"info sharedlibrary", "info shared", "info dll"} {
		if text, last := monitorText(t, d, cmd); text != want || last != "OK" {
			t.Errorf("%s = %q, %q\nwant %q", cmd, text, last, want)
		}
	}
}

func TestMonitorMaps(t *testing.T) {
	p := newSymProc()
	d := newDirect(p, Options{})
	p.maps = "00400000-00401000 r--p 00000000 fe:00 1234 /bin/x"
	if text, last := monitorText(t, d, "maps"); text != p.maps+"\n" || last != "OK" {
		t.Errorf("maps = %q, %q", text, last)
	}
	if _, last := monitorText(t, d, "maps now"); last != "E01" {
		t.Errorf("maps now: %q", last)
	}
}

// TestMonitorWithoutSupport: a target without the capabilities, or no
// process at all, gets a message and OK; unknown commands still get E01.
func TestMonitorWithoutSupport(t *testing.T) {
	d := newDirect(newFakeProc(), Options{})
	for _, cmd := range []string{"info line loop.c:1", "info symbol 0x10", "backtrace", "info sharedlibrary"} {
		if text, last := monitorText(t, d, cmd); text != "This target cannot look up symbols.\n" || last != "OK" {
			t.Errorf("%s = %q, %q", cmd, text, last)
		}
	}
	if text, last := monitorText(t, d, "maps"); text != "This target cannot show its memory mappings.\n" || last != "OK" {
		t.Errorf("maps = %q, %q", text, last)
	}
	d = newDirect(nil, Options{})
	for _, cmd := range []string{"info line loop.c:1", "info symbol 0x10", "backtrace", "backtrace all", "info sharedlibrary", "maps"} {
		if text, last := monitorText(t, d, cmd); text != noProcessMsg || last != "OK" {
			t.Errorf("no process: %s = %q, %q", cmd, text, last)
		}
	}
	for _, cmd := range []string{"info", "info frobs", "info line2", "mapsx"} {
		if text, last := monitorText(t, d, cmd); last != "E01" || !strings.HasPrefix(text, "Unknown monitor command.") {
			t.Errorf("%s = %q, %q", cmd, text, last)
		}
	}
}

// FuzzMonitorCommand runs arbitrary command lines through the monitor
// parser and formatter: no panic, output then OK or E01.
func FuzzMonitorCommand(f *testing.F) {
	for _, s := range []string{"info line loop.c:12", "info line *leaf+4", "info line loop.c:add", "info symbol &counter-0x10",
		"backtrace all", "backtrace p4d2.4d3", "bt 1234", "info sharedlibrary", "maps", "info line *$pc", "info symbol 0x", "info line :"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, cmd string) {
		p := newSymProc()
		p.bt[fakePID] = target.Backtrace{Frames: []target.Frame{{PC: 0x10, Function: "f"}}}
		p.lines = []target.LineInfo{{File: "x.c", Line: 1}}
		d := newDirect(p, Options{})
		r, err := d.do("qRcmd," + hex.EncodeToString([]byte(cmd)))
		if err != nil {
			t.Fatal(err)
		}
		if err := checkReplies(d, []byte("qRcmd,"), false, r); err != nil && !d.sess.ended {
			t.Fatal(err)
		}
	})
}
