package rsp

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gostub/gostub/target"
)

const gdbOffer = "qSupported:multiprocess+;swbreak+;hwbreak+;qRelocInsn+;fork-events+;vfork-events+;" +
	"exec-events+;vContSupported+;QThreadEvents+;no-resumed+;memory-tagging+;xmlRegisters=i386;binary-upload+"

const lldbOffer = "qSupported:xmlRegisters=i386,arm,mips,arc;multiprocess+;fork-events+;vfork-events+"

func features(reply string) map[string]bool {
	m := map[string]bool{}
	for _, f := range strings.Split(reply, ";") {
		m[f] = true
	}
	return m
}

func TestQSupported(t *testing.T) {
	always := []string{"PacketSize=47ff", "QStartNoAckMode+", "qXfer:features:read+", "qXfer:threads:read+",
		"multiprocess+", "swbreak+", "vContSupported+"}
	optional := []string{"QPassSignals+", "qXfer:auxv:read+", "qXfer:exec-file:read+", "hwbreak+"}
	tests := []struct {
		name    string
		proc    target.Process
		offer   string
		present []string
		absent  []string
	}{
		{"plain fake, gdb", newFakeProc(), gdbOffer, []string{"exec-events+", "binary-upload+"}, optional},
		{"plain fake, lldb", newFakeProc(), lldbOffer, nil, append([]string{"exec-events+", "binary-upload+"}, optional...)},
		{"plain fake, bare qSupported", newFakeProc(), "qSupported", nil, append([]string{"exec-events+", "binary-upload+"}, optional...)},
		{"exec-events- is not an offer", newFakeProc(), "qSupported:exec-events-;binary-upload-", nil, []string{"exec-events+", "binary-upload+"}},
		{"software breakpoints only", newBPProc(), gdbOffer, nil, []string{"hwbreak+"}},
		{"everything", newFullProc(), gdbOffer, append([]string{"exec-events+", "binary-upload+"}, optional...), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDirect(tt.proc, Options{})
			reply := d.one(t, tt.offer)
			got := features(reply)
			for _, f := range append(slices.Clone(always), tt.present...) {
				if !got[f] {
					t.Errorf("%q missing from %q", f, reply)
				}
			}
			for _, f := range tt.absent {
				if got[f] {
					t.Errorf("%q announced in %q", f, reply)
				}
			}
			seen := map[string]bool{}
			for _, f := range strings.Split(reply, ";") {
				name := strings.TrimRight(f, "+-")
				name, _, _ = strings.Cut(name, "=")
				if f == "" || seen[name] {
					t.Errorf("empty or repeated feature %q in %q", f, reply)
				}
				seen[name] = true
			}
		})
	}
}

// What the client offered decides the shape of later replies.
func TestQSupportedClientFeatures(t *testing.T) {
	ev := target.StopEvent{Kind: target.StopSignalled, Thread: target.ThreadID{PID: fakePID, TID: fakePID + 1},
		Signal: sigTRAP, Reason: target.ReasonSWBreak, Core: 2}
	tests := []struct {
		offer string
		stop  string
		x     string
	}{
		{"qSupported", "T05thread:4d3;core:2;", "OK"},
		{"qSupported:swbreak+", "T05swbreak:;thread:4d3;core:2;", "OK"},
		{"qSupported:multiprocess+", "T05thread:p4d2.4d3;core:2;", "OK"},
		{"qSupported:binary-upload+", "T05thread:4d3;core:2;", "b"},
		{gdbOffer, "T05swbreak:;thread:p4d2.4d3;core:2;", "b"},
		// A second qSupported replaces the first.
		{"qSupported:swbreak-;multiprocess-", "T05thread:4d3;core:2;", "OK"},
	}
	p := newFakeProc()
	d := newDirect(p, Options{})
	for _, tt := range tests {
		d.one(t, tt.offer)
		p.push(ev)
		if r := d.one(t, "vCont;c"); r != tt.stop {
			t.Errorf("after %q: stop reply %q, want %q", tt.offer, r, tt.stop)
		}
		if r := d.one(t, "x1000,0"); r != tt.x {
			t.Errorf("after %q: x1000,0 = %q, want %q", tt.offer, r, tt.x)
		}
	}
}

func TestInitialStop(t *testing.T) {
	p := newFakeProc()
	d := newDirect(p, Options{})
	if r := d.one(t, "?"); r != "T05thread:4d2;" {
		t.Errorf("? = %q", r)
	}
	d.one(t, "qSupported:multiprocess+")
	if r := d.one(t, "?"); r != "T05thread:p4d2.4d2;" {
		t.Errorf("? = %q", r)
	}
	// Attached: signal 0, with expedited registers and core.
	p2 := newFakeProc()
	p2.attached = true
	p2.initial = target.StopEvent{Thread: p2.threads[0], Core: 3,
		Expedited: []target.Register{{Regnum: 6, Value: []byte{1, 2}}, {Regnum: 0x10, Value: []byte{0xff}}}}
	d2 := newDirect(p2, Options{})
	if r := d2.one(t, "?"); r != "T0006:0102;10:ff;thread:4d2;core:3;" {
		t.Errorf("? = %q", r)
	}
	if r := d2.one(t, "qAttached"); r != "1" {
		t.Errorf("qAttached = %q", r)
	}
}

func TestStopReplyFormats(t *testing.T) {
	th := target.ThreadID{PID: fakePID, TID: fakePID + 2}
	exp := []target.Register{
		{Regnum: 6, Value: []byte{0x10, 0, 0, 0, 0, 0, 0, 0}},
		{Regnum: 7, Value: []byte{0x20, 0, 0, 0, 0, 0, 0, 0}},
		{Regnum: 0x10, Value: []byte{0x30, 0x11, 0x40, 0, 0, 0, 0, 0}},
	}
	regs := "06:1000000000000000;07:2000000000000000;10:3011400000000000;"
	sig := func(n int, r target.StopReason) target.StopEvent {
		return target.StopEvent{Kind: target.StopSignalled, Thread: th, Signal: n, Reason: r, Core: 5, Expedited: exp}
	}
	tests := []struct {
		name        string
		ev          target.StopEvent
		gdb, noOffs string // with gdb's offer, with none
	}{
		{"swbreak", sig(sigTRAP, target.ReasonSWBreak),
			"T05swbreak:;" + regs + "thread:p4d2.4d4;core:5;", "T05" + regs + "thread:4d4;core:5;"},
		{"hwbreak", sig(sigTRAP, target.ReasonHWBreak),
			"T05hwbreak:;" + regs + "thread:p4d2.4d4;core:5;", "T05" + regs + "thread:4d4;core:5;"},
		{"watch", target.StopEvent{Thread: th, Signal: sigTRAP, Reason: target.ReasonWatch, WatchAddr: 0x1040, Core: -1},
			"T05watch:0000000000001040;thread:p4d2.4d4;", "T05watch:0000000000001040;thread:4d4;"},
		{"rwatch", target.StopEvent{Thread: th, Signal: sigTRAP, Reason: target.ReasonRWatch, WatchAddr: 0x10, Core: -1},
			"T05rwatch:0000000000000010;thread:p4d2.4d4;", "T05rwatch:0000000000000010;thread:4d4;"},
		{"awatch", target.StopEvent{Thread: th, Signal: sigTRAP, Reason: target.ReasonAWatch, WatchAddr: 0xffffffffffffffff, Core: 0},
			"T05awatch:ffffffffffffffff;thread:p4d2.4d4;core:0;", "T05awatch:ffffffffffffffff;thread:4d4;core:0;"},
		{"exec", target.StopEvent{Thread: th, Signal: sigTRAP, Reason: target.ReasonExec, ExecPath: "/bin/x", Core: -1},
			"T05exec:2f62696e2f78;thread:p4d2.4d4;", "T05thread:4d4;"},
		{"SIGUSR1", sig(sigUSR1, target.ReasonNone), "T1e" + regs + "thread:p4d2.4d4;core:5;", "T1e" + regs + "thread:4d4;core:5;"},
		{"SIGSEGV", sig(11, target.ReasonNone), "T0b" + regs + "thread:p4d2.4d4;core:5;", "T0b" + regs + "thread:4d4;core:5;"},
		{"SIGRTMIN", sig(34, target.ReasonNone), "T2e" + regs + "thread:p4d2.4d4;core:5;", "T2e" + regs + "thread:4d4;core:5;"},
		{"SIGSTKFLT", sig(16, target.ReasonNone), "T8f" + regs + "thread:p4d2.4d4;core:5;", "T8f" + regs + "thread:4d4;core:5;"},
		{"exited", target.StopEvent{Kind: target.StopExited, Thread: target.ThreadID{PID: fakePID}, ExitCode: 42},
			"W2a;process:4d2", "W2a"},
		{"exited 0", target.StopEvent{Kind: target.StopExited, Thread: target.ThreadID{PID: fakePID}},
			"W00;process:4d2", "W00"},
		{"killed by SIGKILL", target.StopEvent{Kind: target.StopTerminated, Thread: target.ThreadID{PID: fakePID}, Signal: sigKILL},
			"X09;process:4d2", "X09"},
		{"killed by SIGUSR1", target.StopEvent{Kind: target.StopTerminated, Thread: target.ThreadID{PID: fakePID}, Signal: sigUSR1},
			"X1e;process:4d2", "X1e"},
	}
	for _, tt := range tests {
		for _, offer := range []string{gdbOffer, "qSupported"} {
			p := newFakeProc()
			d := newDirect(p, Options{})
			d.one(t, offer)
			p.push(tt.ev)
			want := tt.gdb
			if offer == "qSupported" {
				want = tt.noOffs
			}
			if r := d.one(t, "vCont;c"); r != want {
				t.Errorf("%s (%.20s): stop reply %q, want %q", tt.name, offer, r, want)
			}
			// '?' repeats it.
			if r := d.one(t, "?"); r != want {
				t.Errorf("%s: ? = %q, want %q", tt.name, r, want)
			}
		}
	}
}

func TestRegisters(t *testing.T) {
	p := newFakeProc()
	d := newDirect(p, Options{})
	leader := p.threads[0]
	full := hex.EncodeToString(p.regs[leader])
	if r := d.one(t, "g"); r != full {
		t.Fatalf("g = %q, want %q", r, full)
	}
	// Register 1 (bytes 8..16) unknown: sent as xx.
	p.avail = []bool{true, false, true, true, true}
	want := full[:16] + strings.Repeat("x", 16) + full[32:]
	if r := d.one(t, "g"); r != want {
		t.Errorf("g with unavailable register = %q, want %q", r, want)
	}
	p.avail = []bool{false, false, false, false, false}
	if r := d.one(t, "g"); r != strings.Repeat("x", 88) {
		t.Errorf("g, nothing available = %q", r)
	}
	p.avail = nil

	for _, bad := range []string{"G", "G00", "G" + full[:len(full)-2], "G" + full + "00", "G" + full[:len(full)-1], "Gzz" + full[2:]} {
		if r := d.one(t, bad); r != "E01" {
			t.Errorf("%.20s... (%d bytes) = %q, want E01", bad, len(bad), r)
		}
	}
	newBlock := strings.Repeat("ab", 44)
	if r := d.one(t, "G"+newBlock); r != "OK" {
		t.Fatalf("G = %q", r)
	}
	if r := d.one(t, "g"); r != newBlock {
		t.Errorf("g after G = %q", r)
	}
	if r := d.one(t, "g1"); r != "E01" {
		t.Errorf("g1 = %q", r)
	}

	// p / P on another thread selected with Hg.
	second := p.threads[1]
	if r := d.one(t, "Hg4d3"); r != "OK" {
		t.Fatalf("Hg = %q", r)
	}
	if r := d.one(t, "p2"); r != hex.EncodeToString(p.regs[second][16:24]) {
		t.Errorf("p2 = %q", r)
	}
	if r := d.one(t, "P3=01020304"); r != "OK" {
		t.Errorf("P3 = %q", r)
	}
	if !bytes.Equal(p.regs[second][24:28], []byte{1, 2, 3, 4}) {
		t.Errorf("P3 wrote %x", p.regs[second][24:28])
	}
	for _, bad := range []string{"p", "pzz", "p5", "P", "P3", "P3=", "P3=0102", "P3=zz", "P=00", "P9=00000000"} {
		if r := d.one(t, bad); r != "E01" {
			t.Errorf("%s = %q, want E01", bad, r)
		}
	}
	if r := d.one(t, "Hgp4d2.99"); r != "E01" {
		t.Errorf("Hg unknown thread = %q", r)
	}
	if r := d.one(t, "Hg0"); r != "OK" {
		t.Errorf("Hg0 = %q", r)
	}
	if r := d.one(t, "g"); r != newBlock {
		t.Errorf("g after Hg0 reads %q, want the leader's", r)
	}
}

func TestMemory(t *testing.T) {
	p := newFakeProc()
	d := newDirect(p, Options{})
	tests := []struct{ pkt, want string }{
		{"m1000,4", "00010203"},
		{"m10fc,4", "fcfdfeff"},
		{"m10fd,4", "E01"}, // all or nothing: one byte past the end
		{"mfff,2", "E01"},
		{"m0,1", "E01"},
		{"m0,0", ""},
		{"m1000,0", ""},
		{"mffffffffffffffff,2", "E01"},
		{"m", "E01"},
		{"m1000", "E01"},
		{"m1000,", "E01"},
		{"m,4", "E01"},
		{"mzz,4", "E01"},
		{"m1000,40000001", "E01"},
		{"M1000,2:abcd", "OK"},
		{"m1000,2", "abcd"},
		{"M1000,2:abc", "E01"},
		{"M1000,2:abcdef", "E01"},
		{"M1000,2", "E01"},
		{"M10ff,2:0000", "E01"},
		{"M1000,0:", "OK"},
		{"X1000,0:", "OK"},
		{"X0,0:", "OK"}, // the probe answers OK anywhere
		{"X1000,0", "E01"},
		{"X1000,2:", "E01"},
		{"X1000,1:}", "E01"},
		{"X10ff,2:ab", "E01"},
		{"x0,1", "E01"},
		{"x1000,0", "OK"}, // LLDB's probe, no binary-upload offered
		{"x1000,4", "\xab\xcd\x02\x03"},
	}
	for _, tt := range tests {
		if r := d.one(t, tt.pkt); r != tt.want {
			t.Errorf("%s = %q, want %q", tt.pkt, r, tt.want)
		}
	}
}

func TestMemoryBinaryEscapes(t *testing.T) {
	p := newFakeProc()
	d := newDirect(p, Options{})
	d.one(t, gdbOffer)
	data := []byte{'#', '$', '}', '*', 0x03, 0x00, 0xff, '*', '*', '*', '*', '*', 'z'}
	pkt := append(fmt.Appendf(nil, "X1010,%x:", len(data)), escapeBinary(nil, data)...)
	r, err := d.doBytes(pkt)
	if err != nil || len(r) != 1 || r[0] != "OK" {
		t.Fatalf("X with escapes = %q, %v", r, err)
	}
	if got := p.memory(0x1010, len(data)); !bytes.Equal(got, data) {
		t.Fatalf("memory after X = %q, want %q", got, data)
	}
	if r := d.one(t, fmt.Sprintf("m1010,%x", len(data))); r != hex.EncodeToString(data) {
		t.Errorf("m after X = %q", r)
	}
	// x with binary-upload: 'b' then the escaped bytes.
	r1 := d.one(t, fmt.Sprintf("x1010,%x", len(data)))
	if !strings.HasPrefix(r1, "b") {
		t.Fatalf("x reply %q lacks the 'b'", r1)
	}
	got, err := unescapeBinary([]byte(r1[1:]))
	if err != nil || !bytes.Equal(got, data) {
		t.Errorf("x reply %q unescapes to %q, %v", r1, got, err)
	}
	if r := d.one(t, "x1000,0"); r != "b" {
		t.Errorf("x1000,0 with binary-upload = %q", r)
	}
	if r := d.one(t, "x10ff,2"); r != "E01" {
		t.Errorf("x past the end = %q", r)
	}
	// A write of many identical bytes comes back whole through RLE.
	run := bytes.Repeat([]byte{0x90}, 200)
	pkt = append([]byte("X1000,c8:"), run...)
	if r, err := d.doBytes(pkt); err != nil || r[0] != "OK" {
		t.Fatalf("X run = %q, %v", r, err)
	}
	if r := d.one(t, "m1000,c8"); r != strings.Repeat("90", 200) {
		t.Errorf("m of a run = %q", r)
	}
	if r := d.one(t, "x1000,c8"); r != "b"+string(run) {
		t.Errorf("x of a run = %q", r)
	}
}

// Reads larger than a packet are cut to what fits, never refused.
func TestMemoryLargeRead(t *testing.T) {
	p := newFakeProc()
	p.mem = make([]byte, 2*MaxPacket)
	d := newDirect(p, Options{})
	d.one(t, gdbOffer)
	for i := range p.mem {
		p.mem[i] = '}' // worst case for escaping
	}
	r := d.one(t, fmt.Sprintf("m1000,%x", MaxPacket))
	if len(r) == 0 || len(r)%2 != 0 || len(r) > MaxPacket {
		t.Errorf("big m reply is %d characters", len(r))
	}
	r = d.one(t, fmt.Sprintf("x1000,%x", MaxPacket))
	if !strings.HasPrefix(r, "b") {
		t.Fatalf("big x reply %.10q", r)
	}
	got, err := unescapeBinary([]byte(r[1:]))
	if err != nil || len(got) == 0 || 1+2*len(got) > MaxPacket {
		t.Errorf("big x reply carries %d bytes (%v)", len(got), err)
	}
}

func TestBreakpoints(t *testing.T) {
	t.Run("no Breakpointer", func(t *testing.T) {
		d := newDirect(newFakeProc(), Options{})
		for _, pkt := range []string{"Z0,1000,1", "z0,1000,1", "Z1,1000,1"} {
			if r := d.one(t, pkt); r != "" {
				t.Errorf("%s = %q, want empty", pkt, r)
			}
		}
	})
	p := newBPProc()
	d := newDirect(p, Options{})
	tests := []struct{ pkt, want string }{
		{"z0,1000,1", "E01"}, // never inserted
		{"Z0,1000,1", "OK"},
		{"Z0,1000,1", "OK"}, // idempotent
		{"z0,1000,1", "OK"},
		{"z0,1000,1", "OK"},
		{"z0,1000,1", "E01"},
		{"Z0,1004,1;X2,0a", "OK"}, // conditions ignored
		{"z0,1004,1", "OK"},
		{"Z0,9000,1", "E01"}, // the target refuses
		{"Z1,1000,1", ""},    // no hardware
		{"Z2,1000,8", ""},
		{"Z9,1000,1", ""},
		{"Z", ""},
		{"Z0", "E01"},
		{"Z01000,1", "E01"},
		{"Z0,1000", "E01"},
		{"Z0,zz,1", "E01"},
		{"Z0,1000,", "E01"},
	}
	for _, tt := range tests {
		if r := d.one(t, tt.pkt); r != tt.want {
			t.Errorf("%s = %q, want %q", tt.pkt, r, tt.want)
		}
	}
	if len(p.bps) != 0 {
		t.Errorf("left inserted: %v", p.bps)
	}
	hw := newFullProc()
	d = newDirect(hw, Options{})
	for _, pkt := range []string{"Z1,1000,1", "Z2,1000,8", "Z3,1008,4", "Z4,1010,2"} {
		if r := d.one(t, pkt); r != "OK" {
			t.Errorf("%s = %q", pkt, r)
		}
	}
	want := map[bpKey]int{{target.BreakHardware, 0x1000, 1}: 1, {target.WatchWrite, 0x1000, 8}: 1,
		{target.WatchRead, 0x1008, 4}: 1, {target.WatchAccess, 0x1010, 2}: 1}
	if !reflect.DeepEqual(hw.bps, want) {
		t.Errorf("points %v, want %v", hw.bps, want)
	}
}

func TestVContQuery(t *testing.T) {
	if r := newDirect(newFakeProc(), Options{}).one(t, "vCont?"); r != "vCont;c;C;s;S;t" {
		t.Errorf("vCont? = %q", r)
	}
	if r := newDirect(newFullProc(), Options{}).one(t, "vCont?"); r != "vCont;c;C;s;S;t;r" {
		t.Errorf("vCont? with range stepping = %q", r)
	}
}

func TestVContActions(t *testing.T) {
	t1 := target.ThreadID{PID: fakePID, TID: fakePID}
	t2 := target.ThreadID{PID: fakePID, TID: fakePID + 1}
	t3 := target.ThreadID{PID: fakePID, TID: fakePID + 2}
	c := func(th target.ThreadID) target.Action { return target.Action{Thread: th, Kind: target.ActionContinue} }
	s := func(th target.ThreadID) target.Action { return target.Action{Thread: th, Kind: target.ActionStep} }
	tests := []struct {
		pkt  string
		want []target.Action // nil: E01 and no Resume
	}{
		{"vCont;c", []target.Action{c(t1), c(t2), c(t3)}},
		{"vCont;s:4d3;c", []target.Action{c(t1), s(t2), c(t3)}},
		{"vCont;s:p4d2.4d3;c:p4d2.-1", []target.Action{c(t1), s(t2), c(t3)}},
		// Leftmost wins: a bare c first takes every thread.
		{"vCont;c;s:p4d2.4d3", []target.Action{c(t1), c(t2), c(t3)}},
		{"vCont;s:4d3;c:4d3;t", []target.Action{{Thread: t1, Kind: target.ActionStop}, s(t2), {Thread: t3, Kind: target.ActionStop}}},
		// Threads no action names stay stopped.
		{"vCont;s:p4d2.4d3", []target.Action{s(t2)}},
		{"vCont;C1e:p4d2.4d2;c", []target.Action{{Thread: t1, Kind: target.ActionContinue, Signal: sigUSR1}, c(t2), c(t3)}},
		{"vCont;S0b:4d4", []target.Action{{Thread: t3, Kind: target.ActionStep, Signal: 11}}},
		{"vCont;C2e", []target.Action{{Thread: t1, Signal: 34}, {Thread: t2, Signal: 34}, {Thread: t3, Signal: 34}}},
		{"vCont;r1000,1010:p4d2.4d2;c", []target.Action{
			{Thread: t1, Kind: target.ActionRangeStep, RangeStart: 0x1000, RangeEnd: 0x1010}, c(t2), c(t3)}},
		{"vCont;c:p4d2.-1", []target.Action{c(t1), c(t2), c(t3)}},
		{"vCont;c:-1", []target.Action{c(t1), c(t2), c(t3)}},
		{"vCont;c:p99.-1", nil},  // nothing to resume
		{"vCont;s:4d5", nil},     // no such thread
		{"vCont;C8f:4d2", nil},   // gdb's "unknown signal" has no Linux number
		{"vCont;C07", nil},       // SIGEMT neither
		{"vCont;", nil},          // no action
		{"vCont;q", nil},         // no such action
		{"vCont;c;", nil},        // empty action
		{"vCont;c:zz", nil},      // bad thread-id
		{"vCont;r1000:4d2", nil}, // range without end
	}
	for _, tt := range tests {
		p := newFakeProc()
		d := newDirect(p, Options{})
		r := d.one(t, tt.pkt)
		if tt.want == nil {
			if r != "E01" || p.resumeCount() != 0 {
				t.Errorf("%s = %q after %d resumes, want E01 and none", tt.pkt, r, p.resumeCount())
			}
			continue
		}
		if !strings.HasPrefix(r, "T05") {
			t.Errorf("%s = %q", tt.pkt, r)
		}
		if got := p.lastResume(); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s resumed %+v\nwant %+v", tt.pkt, got, tt.want)
		}
	}
}

// "vCont;:p1.1" has a thread-id but no action letter: parseVCont indexes
// act[0] of an empty slice and the session goroutine panics, killing the
// server.
func TestVContEmptyActionNoPanic(t *testing.T) {
	for _, pkt := range []string{"vCont;:p4d2.4d2", "vCont;c;:1", "vCont;:"} {
		d := newDirect(newFakeProc(), Options{})
		r, err := d.do(pkt)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		if len(r) != 1 || r[0] != "E01" {
			t.Errorf("%s = %q, want E01", pkt, r)
		}
	}
}

func TestLegacyResume(t *testing.T) {
	t1 := target.ThreadID{PID: fakePID, TID: fakePID}
	t2 := target.ThreadID{PID: fakePID, TID: fakePID + 1}
	t3 := target.ThreadID{PID: fakePID, TID: fakePID + 2}
	p := newFakeProc()
	d := newDirect(p, Options{})
	if r := d.one(t, "c"); r != "T05thread:4d2;" {
		t.Errorf("c = %q", r)
	}
	if got := p.lastResume(); len(got) != 3 || got[0].Kind != target.ActionContinue {
		t.Errorf("c resumed %+v", got)
	}
	d.one(t, "Hc4d3")
	if r := d.one(t, "s"); r != "T05thread:4d3;" {
		t.Errorf("s = %q", r)
	}
	if got := p.lastResume(); !reflect.DeepEqual(got, []target.Action{{Thread: t2, Kind: target.ActionStep}}) {
		t.Errorf("s resumed %+v", got)
	}
	d.one(t, "C1e")
	if got := p.lastResume(); !reflect.DeepEqual(got, []target.Action{
		{Thread: t1, Kind: target.ActionContinue}, {Thread: t2, Kind: target.ActionContinue, Signal: sigUSR1},
		{Thread: t3, Kind: target.ActionContinue}}) {
		t.Errorf("C1e resumed %+v", got)
	}
	d.one(t, "S0b;1000")
	if got := p.lastResume(); !reflect.DeepEqual(got, []target.Action{{Thread: t2, Kind: target.ActionStep, Signal: 11}}) {
		t.Errorf("S0b resumed %+v", got)
	}
	for _, bad := range []string{"c1000", "C", "Czz", "C8f", "s1000"} {
		n := p.resumeCount()
		if r := d.one(t, bad); r != "E01" || p.resumeCount() != n {
			t.Errorf("%s = %q", bad, r)
		}
	}
}

func TestResumeAfterExit(t *testing.T) {
	p := newFakeProc()
	d := newDirect(p, Options{})
	d.one(t, "qSupported:multiprocess+")
	p.push(target.StopEvent{Kind: target.StopExited, Thread: target.ThreadID{PID: fakePID}, ExitCode: 3})
	if r := d.one(t, "vCont;c"); r != "W03;process:4d2" {
		t.Fatalf("vCont;c = %q", r)
	}
	n := p.resumeCount()
	for _, pkt := range []string{"vCont;c", "vCont;s:p4d2.4d2", "c", "s", "C05", "g", "G" + strings.Repeat("00", 44),
		"p0", "P0=0000000000000000", "m1000,1", "M1000,1:00", "X1000,1:a", "x1000,1", "Z0,1000,1", "Hg4d2",
		"qC", "qAttached", "D", "vKill;4d2", "qXfer:features:read:target.xml:0,100"} {
		if r := d.one(t, pkt); r != "E01" && r != "" {
			t.Errorf("%s after exit = %q, want E01", pkt, r)
		}
	}
	if p.resumeCount() != n {
		t.Errorf("Resume called after the exit")
	}
	if r := d.one(t, "?"); r != "W03;process:4d2" {
		t.Errorf("? after exit = %q", r)
	}
	if r := d.one(t, "qfThreadInfo"); r != "l" {
		t.Errorf("qfThreadInfo after exit = %q", r)
	}
	if d.sess.Process() != nil {
		t.Error("Process() not nil after exit")
	}
}

func TestResumeError(t *testing.T) {
	p := newFakeProc()
	d := newDirect(p, Options{})
	p.pushErr(errors.New("ptrace failed"))
	if r := d.one(t, "vCont;c"); r != "E01" {
		t.Errorf("failed resume = %q", r)
	}
	if r := d.one(t, "vCont;c"); !strings.HasPrefix(r, "T05") {
		t.Errorf("resume after a failed one = %q", r)
	}
}

// The reporting thread becomes the one g reads.
func TestStopSelectsThread(t *testing.T) {
	p := newFakeProc()
	d := newDirect(p, Options{})
	th := p.threads[2]
	p.push(target.StopEvent{Thread: th, Signal: sigTRAP, Core: -1})
	d.one(t, "vCont;c")
	if r := d.one(t, "g"); r != hex.EncodeToString(p.regs[th]) {
		t.Errorf("g after a stop in %v reads another thread", th)
	}
	if r := d.one(t, "qC"); r != "QC4d4" {
		t.Errorf("qC = %q", r)
	}
}

func TestInterruptDuringResume(t *testing.T) {
	p := newFakeProc()
	p.block = true
	h := startSession(t, p, Options{})
	c := h.c
	c.cmd("qSupported:multiprocess+")
	// 0x03 while stopped: no reply, but kept for the next resume, which
	// stops at once (gdbserver queues a SIGINT in the program).
	c.write([]byte{0x03})
	if r := c.cmd("?"); r != "T05thread:p4d2.4d2;" {
		t.Fatalf("? = %q", r)
	}
	if p.interrupts.Load() != 1 {
		t.Fatalf("Interrupt called %d times for a ^C while stopped, want 1", p.interrupts.Load())
	}
	if r := c.cmd("vCont;c"); r != "T02thread:p4d2.4d2;core:1;" {
		t.Errorf("resume after a ^C sent while stopped = %q", r)
	}
	c.send("vCont;c")
	c.expectAck('+')
	waitBlocked(t, p)
	c.write([]byte{0x03})
	if r := c.recv(); r != "T02thread:p4d2.4d2;core:1;" {
		t.Errorf("stop after ^C = %q", r)
	}
	if p.interrupts.Load() != 2 {
		t.Errorf("Interrupt called %d times", p.interrupts.Load())
	}
	// vCtrlC does the same and answers OK first.
	c.send("vCont;c")
	c.expectAck('+')
	waitBlocked(t, p)
	if r := c.cmd("vCtrlC"); r != "OK" {
		t.Errorf("vCtrlC = %q", r)
	}
	if r := c.recv(); !strings.HasPrefix(r, "T02") {
		t.Errorf("stop after vCtrlC = %q", r)
	}
	// Packets sent while running are answered after the stop.
	c.send("vCont;c")
	c.expectAck('+')
	waitBlocked(t, p)
	c.send("qAttached")
	c.expectAck('+')
	c.write([]byte{0x03})
	if r := c.recv(); !strings.HasPrefix(r, "T02") {
		t.Errorf("stop = %q", r)
	}
	if r := c.recv(); r != "0" {
		t.Errorf("qAttached after the stop = %q", r)
	}
}

func TestClientEOFDuringResume(t *testing.T) {
	p := newFakeProc()
	p.block = true
	h := startSession(t, p, Options{})
	h.c.send("vCont;c")
	h.c.expectAck('+')
	waitBlocked(t, p)
	h.cli.Close()
	if e := h.wait(); e != EndDisconnected {
		t.Errorf("Serve = %v, want disconnected", e)
	}
	if p.interrupts.Load() == 0 {
		t.Error("Interrupt not called")
	}
	if h.sess.Process() == nil {
		t.Error("process dropped after a disconnect")
	}
}

// The stop that ends a resume cut short by a disconnect is dropped: when it
// is the exit of the process, the session still lists the process as live,
// and the server then kills or detaches a process that is gone (or offers
// it to the next client).
func TestClientEOFDuringResumeProcessExits(t *testing.T) {
	p := newFakeProc()
	p.block = true
	p.onInterrupt = &target.StopEvent{Kind: target.StopExited, Thread: target.ThreadID{PID: fakePID}, ExitCode: 1}
	h := startSession(t, p, Options{})
	h.c.send("vCont;c")
	h.c.expectAck('+')
	waitBlocked(t, p)
	h.cli.Close()
	if e := h.wait(); e != EndDisconnected {
		t.Errorf("Serve = %v, want disconnected", e)
	}
	if h.sess.Process() != nil || len(h.sess.Processes()) != 0 {
		t.Errorf("the process exited during the disconnect but the session still holds %d", len(h.sess.Processes()))
	}
}

func TestClientEOFWhileStopped(t *testing.T) {
	p := newFakeProc()
	h := startSession(t, p, Options{})
	h.c.cmd("?")
	h.cli.Close()
	if e := h.wait(); e != EndDisconnected {
		t.Errorf("Serve = %v", e)
	}
	if p.detached || p.killed {
		t.Error("the session detached or killed on disconnect")
	}
}

// gdbserver keeps its last stop across connections: a client that
// reconnects is told where the program is now, not where it started. The
// session takes that from InitialStop when it starts, so a target must
// answer it with its current stop (target/linux answers the launch stop,
// which is the bug; the fake here tracks its last stop as it should).
func TestReconnectReportsLastStop(t *testing.T) {
	p := newFakeProc()
	p.trackStop = true
	stop := target.StopEvent{Thread: p.threads[1], Signal: 11, Core: -1}
	p.push(stop)
	h := startSession(t, p, Options{})
	if r := h.c.cmd("vCont;c"); r != "T0bthread:4d3;" {
		t.Fatalf("vCont;c = %q", r)
	}
	h.cli.Close()
	h.wait()

	h2 := startSession(t, p, Options{})
	if r := h2.c.cmd("?"); r != "T0bthread:4d3;" {
		t.Errorf("? after reconnecting = %q, want the last stop T0bthread:4d3;", r)
	}
	if r := h2.c.cmd("qC"); r != "QC4d3" {
		t.Errorf("qC after reconnecting = %q", r)
	}
}

func TestQXferFeatures(t *testing.T) {
	p := newFakeProc()
	d := newDirect(p, Options{})
	var got []byte
	for off := 0; ; off += 0x80 {
		r := d.one(t, fmt.Sprintf("qXfer:features:read:target.xml:%x,80", off))
		if r == "" || (r[0] != 'm' && r[0] != 'l') {
			t.Fatalf("chunk at %x = %q", off, r)
		}
		chunk, err := unescapeBinary([]byte(r[1:]))
		if err != nil {
			t.Fatal(err)
		}
		if r[0] == 'm' && len(chunk) != 0x80 {
			t.Fatalf("'m' chunk at %x carries %d bytes", off, len(chunk))
		}
		got = append(got, chunk...)
		if r[0] == 'l' {
			break
		}
		if off > 10*len(fakeXML) {
			t.Fatal("no end")
		}
	}
	if !bytes.Equal(got, fakeXML) {
		t.Fatalf("reassembled target.xml differs:\n%s\n%s", got, fakeXML)
	}
	n := len(fakeXML)
	tests := []struct{ pkt, want string }{
		{fmt.Sprintf("qXfer:features:read:target.xml:%x,10", n), "l"},
		{fmt.Sprintf("qXfer:features:read:target.xml:%x,10", n+1), "l"},
		{"qXfer:features:read:target.xml:ffffffffffffffff,10", "l"},
		{fmt.Sprintf("qXfer:features:read:target.xml:%x,10", n-1), "l>"},
		{fmt.Sprintf("qXfer:features:read:target.xml:%x,1", n-2), "mt"},
		{fmt.Sprintf("qXfer:features:read:target.xml:0,%x", n), "l" + string(escapeBinary(nil, fakeXML))},
		{"qXfer:features:read:other.xml:0,10", "E01"},
		{"qXfer:features:read:target.xml:0", "E01"},
		{"qXfer:features:read:target.xml", "E01"},
		{"qXfer:features:read:target.xml:zz,10", "E01"},
		{"qXfer:features:write:target.xml:0:abc", ""},
		{"qXfer:unknown:read::0,10", ""},
		{"qXfer:libraries-svr4:read::0,fff", ""},
		{"qXfer:auxv:read::0,10", ""},      // no AuxvReader
		{"qXfer:exec-file:read::0,10", ""}, // no ExecFiler
	}
	for _, tt := range tests {
		if r := d.one(t, tt.pkt); r != tt.want {
			t.Errorf("%s = %.60q, want %.60q", tt.pkt, r, tt.want)
		}
	}
}

func TestQXferOptional(t *testing.T) {
	p := newFullProc()
	d := newDirect(p, Options{})
	d.one(t, "qSupported:multiprocess+")
	unesc := func(r string) string {
		b, err := unescapeBinary([]byte(r))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if r := d.one(t, "qXfer:auxv:read::0,1000"); unesc(r) != "l"+string(fakeAuxv) {
		t.Errorf("auxv = %q", r)
	}
	if r := d.one(t, "qXfer:auxv:read::8,4"); unesc(r) != "m\x00\x10\x00\x00" {
		t.Errorf("auxv chunk = %q", r)
	}
	for _, pkt := range []string{"qXfer:exec-file:read::0,100", "qXfer:exec-file:read:4d2:0,100"} {
		if r := d.one(t, pkt); r != "l/bin/fake prog" {
			t.Errorf("%s = %q", pkt, r)
		}
	}
	if r := d.one(t, "qXfer:exec-file:read:99:0,100"); r != "E01" {
		t.Errorf("exec-file of another pid = %q", r)
	}
	r := d.one(t, "qXfer:threads:read::0,1000")
	want := "l<threads>\n" +
		`<thread id="p4d2.4d2" core="0" name="w&lt;0&gt;&amp;"/>` + "\n" +
		`<thread id="p4d2.4d3" core="1" name="w&lt;1&gt;&amp;"/>` + "\n" +
		`<thread id="p4d2.4d4" core="2" name="w&lt;2&gt;&amp;"/>` + "\n" +
		"</threads>\n"
	if r != want {
		t.Errorf("threads = %q\nwant %q", r, want)
	}
	plain := newDirect(newFakeProc(), Options{})
	if r := plain.one(t, "qXfer:threads:read::0,1000"); r != "l<threads>\n<thread id=\"4d2\"/>\n<thread id=\"4d3\"/>\n<thread id=\"4d4\"/>\n</threads>\n" {
		t.Errorf("threads without ThreadInfoer = %q", r)
	}
}

func TestVFile(t *testing.T) {
	if r := newDirect(newFakeProc(), Options{}).one(t, "vFile:open:2f62696e2f70726f67,0,0"); r != "" {
		t.Errorf("vFile without FS = %q", r)
	}
	fs := newFakeFS()
	d := newDirect(newFakeProc(), Options{FS: fs})
	hx := func(s string) string { return hex.EncodeToString([]byte(s)) }
	content := fs.files["/bin/prog"]
	tests := []struct{ pkt, want string }{
		{"vFile:setfs:0", "F0"},
		{"vFile:open:" + hx("just probing") + ",0,1c0", "F-1,2"},
		{"vFile:open:" + hx("/bin/prog") + ",0,0", "F3"},
		{"vFile:open:" + hx("/bin/prog") + ",0,0", "F4"},
		{"vFile:pread:3,8,0", "F8;" + string(escapeBinary(nil, content[:8]))},
		{"vFile:pread:3,1000,4", fmt.Sprintf("F%x;", len(content)-4) + string(escapeBinary(nil, content[4:]))},
		{fmt.Sprintf("vFile:pread:3,10,%x", len(content)), "F0;"},
		{"vFile:pread:3,10,100000", "F0;"},
		{"vFile:pread:9,10,0", "F-1,9"},
		{"vFile:pread:3,zz,0", "F-1,16"},
		{"vFile:pread:3", "F-1,16"},
		{"vFile:pwrite:3,0,abc", "F-1,1e"}, // EROFS
		{"vFile:fstat:9", "F-1,9"},
		{"vFile:close:4", "F0"},
		{"vFile:close:4", "F-1,9"},
		{"vFile:close:99", "F-1,9"},
		{"vFile:close:zz", "F-1,9"},
		{"vFile:readlink:" + hx("/proc/1/exe"), "F9;/bin/prog"},
		{"vFile:readlink:" + hx("/nope"), "F-1,2"},
		{"vFile:unlink:" + hx("/nope"), "F-1,2"},
		{"vFile:open:zz,0,0", "F-1,16"},
		{"vFile:open:" + hx("/bin/prog"), "F-1,16"},
		{"vFile:setfs:zz", "F-1,16"},
		{"vFile:setfs:4d2", "F0"},
		{"vFile:frob:1", ""},
		{"vFile:", "F-1,16"},
	}
	for _, tt := range tests {
		if r := d.one(t, tt.pkt); r != tt.want {
			t.Errorf("%s = %q, want %q", tt.pkt, r, tt.want)
		}
	}
	if !slices.Equal(fs.fsPIDs, []int{0, 0, 0}) {
		t.Errorf("opens saw fs pids %v", fs.fsPIDs)
	}
	d.one(t, "vFile:open:"+hx("/bin/prog")+",0,0")
	if fs.fsPIDs[len(fs.fsPIDs)-1] != fakePID {
		t.Errorf("setfs not honoured: %v", fs.fsPIDs)
	}

	r := d.one(t, "vFile:fstat:3")
	if !strings.HasPrefix(r, "F40;") {
		t.Fatalf("fstat = %q", r)
	}
	st, err := unescapeBinary([]byte(r[4:]))
	if err != nil || len(st) != 64 {
		t.Fatalf("fstat carries %d bytes (%v)", len(st), err)
	}
	be := binary.BigEndian
	got := target.FileStat{
		Dev: be.Uint32(st[0:]), Ino: be.Uint32(st[4:]), Mode: be.Uint32(st[8:]), Nlink: be.Uint32(st[12:]),
		UID: be.Uint32(st[16:]), GID: be.Uint32(st[20:]), Rdev: be.Uint32(st[24:]),
		Size: be.Uint64(st[28:]), Blksize: be.Uint64(st[36:]), Blocks: be.Uint64(st[44:]),
		Atime: be.Uint32(st[52:]), Mtime: be.Uint32(st[56:]), Ctime: be.Uint32(st[60:]),
	}
	if got != fakeStat {
		t.Errorf("fstat decodes to %+v\nwant %+v", got, fakeStat)
	}
	if r := d.one(t, "vFile:unlink:"+hx("/bin/prog")); r != "F0" {
		t.Errorf("unlink = %q", r)
	}
}

// Files the client left open are closed when the session ends.
func TestVFileClosedAtEnd(t *testing.T) {
	fs := newFakeFS()
	var files []*fakeFile
	wrap := &recordingFS{fakeFS: fs, files: &files}
	h := startSession(t, newFakeProc(), Options{FS: wrap})
	if r := h.c.cmd("vFile:open:" + hex.EncodeToString([]byte("/bin/prog")) + ",0,0"); r != "F3" {
		t.Fatalf("open = %q", r)
	}
	h.cli.Close()
	h.wait()
	if len(files) != 1 || !files[0].closed {
		t.Errorf("file left open after the session")
	}
}

type recordingFS struct {
	*fakeFS
	files *[]*fakeFile
}

func (r *recordingFS) OpenFile(fsPID int, path string, flags int, mode uint32) (target.File, error) {
	f, err := r.fakeFS.OpenFile(fsPID, path, flags, mode)
	if err == nil {
		*r.files = append(*r.files, f.(*fakeFile))
	}
	return f, err
}

func TestUnknownPackets(t *testing.T) {
	d := newDirect(newFakeProc(), Options{})
	for _, pkt := range []string{"", "qFooBar", "qTStatus", "vCont",
		"vContX", "QThreadEvents:1", "qSupportedX", "A", "b", "B",
		"bc", "i", "t", "qXfer", "vMustReplyEmpty", "qOffsets", "qL1200000000000000000", "qGetTLSAddr:1,2,3",
		"qThreadExtraInfo,1", "\x00", "\xff"} {
		if r := d.one(t, pkt); r != "" {
			t.Errorf("%q = %q, want empty", pkt, r)
		}
	}
}

func TestThreadQueries(t *testing.T) {
	p := newFakeProc()
	d := newDirect(p, Options{})
	tests := []struct{ pkt, want string }{
		{"qfThreadInfo", "m4d2,4d3,4d4"},
		{"qsThreadInfo", "l"},
		{"qC", "QC4d2"},
		{"T4d3", "OK"},
		{"T99", "E01"},
		{"T-1", "E01"},
		{"T", "E01"},
		{"H", "E01"},
		{"Hg", "E01"},
		{"Hx1", "E01"},
		{"Hc-1", "OK"},
		{"Hg4d4", "OK"},
		{"qC", "QC4d4"},
		{"qSupported:multiprocess+", ""},
		{"qfThreadInfo", "mp4d2.4d2,p4d2.4d3,p4d2.4d4"},
		{"qC", "QCp4d2.4d4"},
		{"Tp4d2.4d3", "OK"},
		{"Tp99.4d3", "E01"},
		{"qAttached", "0"},
		{"qAttached:4d2", "0"},
		{"qSymbol::", "OK"},
		{"QNonStop:0", "OK"},
		{"QNonStop:1", "E01"},
		{"QProgramSignals:e;1e", "OK"},
		{"QPassSignals:e", "OK"}, // kept for a later process even without SignalFilter
	}
	for _, tt := range tests {
		r := d.one(t, tt.pkt)
		if tt.pkt == "qSupported:multiprocess+" {
			continue
		}
		if r != tt.want {
			t.Errorf("%s = %q, want %q", tt.pkt, r, tt.want)
		}
	}
}

func TestPassSignals(t *testing.T) {
	p := newFullProc()
	d := newDirect(p, Options{})
	if r := d.one(t, "QPassSignals:e;1e;2e;8f"); r != "OK" {
		t.Fatalf("QPassSignals = %q", r)
	}
	if want := map[int]bool{14: true, sigUSR1: true, 34: true}; !reflect.DeepEqual(p.passed, want) {
		t.Errorf("passed %v, want %v", p.passed, want)
	}
	if r := d.one(t, "QPassSignals:"); r != "OK" || len(p.passed) != 0 {
		t.Errorf("empty QPassSignals = %q, %v", r, p.passed)
	}
	if r := d.one(t, "QPassSignals:zz"); r != "E01" {
		t.Errorf("bad QPassSignals = %q", r)
	}
}

func TestMonitor(t *testing.T) {
	var debug, rdebug []bool
	opts := Options{SetDebug: func(on bool) { debug = append(debug, on) }, SetRemoteDebug: func(on bool) { rdebug = append(rdebug, on) }}
	d := newDirect(newFakeProc(), opts)
	mon := func(cmd string) []string {
		r, err := d.do("qRcmd," + hex.EncodeToString([]byte(cmd)))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	r := mon("help")
	if len(r) != 2 || r[1] != "OK" || r[0][0] != 'O' {
		t.Fatalf("monitor help = %q", r)
	}
	text, err := hex.DecodeString(r[0][1:])
	if err != nil || !strings.Contains(string(text), "exit") {
		t.Errorf("help text %q, %v", text, err)
	}
	// Output (if any) in O packets, then OK.
	okAfterOutput := func(r []string) bool {
		if len(r) == 0 || r[len(r)-1] != "OK" {
			return false
		}
		for _, o := range r[:len(r)-1] {
			if o == "" || o[0] != 'O' {
				return false
			}
		}
		return true
	}
	if r := mon("set debug 1"); !okAfterOutput(r) || !slices.Equal(debug, []bool{true}) {
		t.Errorf("set debug 1 = %q, %v", r, debug)
	}
	if r := mon("set remote-debug on"); !okAfterOutput(r) || !slices.Equal(rdebug, []bool{true}) ||
		!d.sess.conn.RemoteDebug.Load() {
		t.Errorf("set remote-debug on = %q, %v", r, rdebug)
	}
	if r := mon("set remote-debug 0"); !okAfterOutput(r) || d.sess.conn.RemoteDebug.Load() {
		t.Errorf("set remote-debug 0 = %q", r)
	}
	if r := mon("frobnicate"); len(r) != 2 || r[0][0] != 'O' || r[1] != "E01" {
		t.Errorf("unknown monitor command = %q", r)
	}
	if r := mon("set colour on"); len(r) != 2 || r[1] != "E01" {
		t.Errorf("set colour = %q", r)
	}
	if r, _ := d.do("qRcmd,zz"); !slices.Equal(r, []string{"E01"}) {
		t.Errorf("qRcmd bad hex = %q", r)
	}
	if d.sess.ended {
		t.Fatal("session ended early")
	}
	if r := mon("exit"); !slices.Equal(r, []string{"OK"}) || !d.sess.ended || d.sess.end != EndServerExit {
		t.Errorf("monitor exit = %q, ended %v", r, d.sess.ended)
	}
}

func TestMonitorExitEndsServe(t *testing.T) {
	h := startSession(t, newFakeProc(), Options{})
	if r := h.c.cmd("qRcmd," + hex.EncodeToString([]byte("exit"))); r != "OK" {
		t.Fatalf("monitor exit = %q", r)
	}
	if e := h.wait(); e != EndServerExit {
		t.Errorf("Serve = %v", e)
	}
}

func TestEnds(t *testing.T) {
	tests := []struct {
		name    string
		pkts    []string
		replies []string
		end     End
		check   func(p *fakeProc) bool
	}{
		{"detach", []string{"D"}, []string{"OK"}, EndDetached, func(p *fakeProc) bool { return p.detached }},
		{"detach pid", []string{"D;1", "D1", "D;4d2"}, []string{"E01", "E01", "OK"}, EndDetached, func(p *fakeProc) bool { return p.detached }},
		{"vKill", []string{"vKill;99", "vKill;4d2"}, []string{"E01", "OK"}, EndKilled, func(p *fakeProc) bool { return p.killed }},
		{"k", []string{"k"}, []string{"X09"}, EndKilled, func(p *fakeProc) bool { return p.killed }},
		{"monitor exit", []string{"qRcmd,65786974"}, []string{"OK"}, EndServerExit, func(p *fakeProc) bool { return !p.killed && !p.detached }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newFakeProc()
			h := startSession(t, p, Options{})
			for i, pkt := range tt.pkts {
				if r := h.c.cmd(pkt); r != tt.replies[i] {
					t.Errorf("%s = %q, want %q", pkt, r, tt.replies[i])
				}
			}
			if e := h.wait(); e != tt.end {
				t.Errorf("Serve = %v, want %v", e, tt.end)
			}
			if !tt.check(p) {
				t.Errorf("process state wrong: detached=%v killed=%v", p.detached, p.killed)
			}
		})
	}
}

// A packet over PacketSize gets E01 and the connection goes on.
func TestSessionTooLong(t *testing.T) {
	h := startSession(t, newFakeProc(), Options{})
	if r := h.c.cmd("M1000,1:" + strings.Repeat("00", MaxPacket)); r != "E01" {
		t.Errorf("oversized packet = %q", r)
	}
	if r := h.c.cmd("m1000,2"); r != "0001" {
		t.Errorf("next packet = %q", r)
	}
}

func TestSessionGarbageBetweenPackets(t *testing.T) {
	h := startSession(t, newFakeProc(), Options{})
	h.c.write([]byte("\r\nhello+++\x00"))
	if r := h.c.cmd("m1000,2"); r != "0001" {
		t.Errorf("m after garbage = %q", r)
	}
	h.c.write([]byte("$#00"))
	h.c.expectAck('+')
	if r := h.c.recv(); r != "" {
		t.Errorf("empty packet = %q", r)
	}
}

func waitBlocked(t *testing.T, p *fakeProc) {
	t.Helper()
	select {
	case <-p.resumeBlocked:
	case <-time.After(waitTimeout):
		t.Fatal("Resume was not called")
	}
}

// R restarts only in extended mode, and then has no reply. Otherwise it is a
// packet the server does not support and must answer with the empty packet
// (gdbserver: "Respond with an empty packet so that gdb knows that we don't
// support this request"); gostub sends nothing and the client waits forever.
func TestRestartNotExtended(t *testing.T) {
	for _, pkt := range []string{"R", "R00"} {
		d := newDirect(newFakeProc(), Options{})
		r, err := d.do(pkt)
		if err != nil || len(r) != 1 || r[0] != "" {
			t.Errorf("%s outside extended mode = %q, %v; want one empty reply", pkt, r, err)
		}
	}
}

func TestSiginfo(t *testing.T) {
	p := newFullProc()
	d := newDirect(p, Options{})
	f := features(d.one(t, gdbOffer))
	if !f["qXfer:siginfo:read+"] || !f["qXfer:siginfo:write+"] {
		t.Errorf("siginfo not announced")
	}
	unesc := func(r string) []byte {
		b, err := unescapeBinary([]byte(r))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	if r := unesc(d.one(t, "qXfer:siginfo:read::0,100")); !bytes.Equal(r, append([]byte{'l'}, p.siginfo...)) {
		t.Errorf("siginfo read = %q", r)
	}
	if r := unesc(d.one(t, "qXfer:siginfo:read::20,10")); !bytes.Equal(r, append([]byte{'m'}, p.siginfo[0x20:0x30]...)) {
		t.Errorf("siginfo chunk = %q", r)
	}
	data := []byte{'#', '$', '}', '*'}
	pkt := append([]byte("qXfer:siginfo:write::8:"), escapeBinary(nil, data)...)
	if r, err := d.doBytes(pkt); err != nil || len(r) != 1 || r[0] != "4" {
		t.Errorf("siginfo write = %q, %v", r, err)
	}
	if !bytes.Equal(p.siginfo[8:12], data) || p.siginfo[7] != 7 || p.siginfo[12] != 12 {
		t.Errorf("siginfo after write: %x", p.siginfo[:16])
	}
	for _, bad := range []string{"qXfer:siginfo:write::81:00", "qXfer:siginfo:write::zz:00", "qXfer:siginfo:write::8", "qXfer:siginfo:write::0:}"} {
		if r := d.one(t, bad); r != "E01" {
			t.Errorf("%s = %q, want E01", bad, r)
		}
	}
	plain := newDirect(newFakeProc(), Options{})
	if f := features(plain.one(t, gdbOffer)); f["qXfer:siginfo:read+"] {
		t.Errorf("siginfo announced without SiginfoAccessor")
	}
	for _, pkt := range []string{"qXfer:siginfo:read::0,80", "qXfer:siginfo:write::0:00"} {
		if r := plain.one(t, pkt); r != "" {
			t.Errorf("%s without SiginfoAccessor = %q", pkt, r)
		}
	}
}

func TestDisabledPackets(t *testing.T) {
	ev := target.StopEvent{Thread: target.ThreadID{PID: fakePID, TID: fakePID + 1}, Signal: sigUSR1, Core: 1}
	p := newFakeProc()
	d := newDirect(p, Options{Disabled: map[string]bool{"T": true}})
	p.push(ev)
	if r := d.one(t, "vCont;c"); r != "S1e" {
		t.Errorf("stop with T disabled = %q", r)
	}
	p = newFakeProc()
	d = newDirect(p, Options{Disabled: map[string]bool{"Tthread": true, "vCont": true, "qC": true, "qfThreadInfo": true}})
	p.push(ev)
	if r := d.one(t, "c"); r != "T1ecore:1;" {
		t.Errorf("stop with Tthread disabled = %q", r)
	}
	for _, pkt := range []string{"vCont?", "vCont;c", "qC", "qfThreadInfo", "qsThreadInfo"} {
		if r := d.one(t, pkt); r != "" {
			t.Errorf("disabled %s = %q", pkt, r)
		}
	}
	if r := d.one(t, "T4d3"); r != "OK" {
		t.Errorf("T4d3 = %q", r)
	}
}

// extFake launches and attaches fake processes for extended-remote tests.
type extFake struct {
	launched []LaunchRequest
	procs    []*fakeProc
	fail     bool
}

func (e *extFake) launch(req LaunchRequest) (target.Process, error) {
	e.launched = append(e.launched, req)
	if e.fail {
		return nil, errors.New("no such\nprogram")
	}
	q := newFakeProc()
	q.pid = 0x600 + len(e.procs)
	for i := range q.threads {
		q.threads[i] = target.ThreadID{PID: q.pid, TID: q.pid + i}
	}
	q.initial.Thread = q.threads[0]
	for _, t := range q.threads {
		q.regs[t] = bytes.Repeat([]byte{byte(t.TID)}, q.RegistersSize())
	}
	e.procs = append(e.procs, q)
	return q, nil
}

func (e *extFake) attach(pid int) (target.Process, error) {
	if pid != 0x700 {
		return nil, fmt.Errorf("attach %d: no such process", pid)
	}
	q := newFakeProc()
	q.pid, q.attached = pid, true
	q.threads = []target.ThreadID{{PID: pid, TID: pid}}
	q.regs = map[target.ThreadID][]byte{q.threads[0]: make([]byte, q.RegistersSize())}
	q.initial = target.StopEvent{Thread: q.threads[0], Core: -1}
	e.procs = append(e.procs, q)
	return q, nil
}

func TestExtendedRemote(t *testing.T) {
	// Without the hooks, vRun and vAttach are unsupported.
	plain := newDirect(newFakeProc(), Options{})
	for _, pkt := range []string{"vRun;2f62696e2f78", "vAttach;700"} {
		if r := plain.one(t, pkt); r != "" {
			t.Errorf("%s without hooks = %q", pkt, r)
		}
	}

	first := newFakeProc()
	e := &extFake{}
	d := newDirect(first, Options{Launch: e.launch, Attach: e.attach})
	if r := d.one(t, "!"); r != "OK" {
		t.Fatalf("! = %q", r)
	}
	hx := func(s string) string { return hex.EncodeToString([]byte(s)) }
	for _, pkt := range []string{"QEnvironmentReset", "QEnvironmentHexEncoded:" + hx("A=1"), "QEnvironmentHexEncoded:" + hx("B=2=3"),
		"QEnvironmentUnset:" + hx("A"), "QSetWorkingDir:" + hx("/tmp"), "QStartupWithShell:0", "QDisableRandomization:0"} {
		if r := d.one(t, pkt); r != "OK" {
			t.Errorf("%s = %q", pkt, r)
		}
	}
	for _, pkt := range []string{"QEnvironmentHexEncoded:" + hx("noequals"), "QEnvironmentHexEncoded:zz", "QEnvironmentUnset:",
		"QStartupWithShell:2", "QDisableRandomization:", "QSetWorkingDir:z"} {
		if r := d.one(t, pkt); r != "E01" {
			t.Errorf("%s = %q, want E01", pkt, r)
		}
	}
	if r := d.one(t, "vRun;"+hx("/bin/x")+";"+hx("arg 1")); r != "T05thread:600;" {
		t.Fatalf("vRun = %q", r)
	}
	if !first.killed {
		t.Error("vRun did not kill the process it replaced")
	}
	// QEnvironmentReset goes back to the server's own environment.
	got := e.launched[0]
	env := got.Env
	got.Env = nil
	want := LaunchRequest{Argv: []string{"/bin/x", "arg 1"}, Dir: "/tmp", Shell: false, DisableASLR: false}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("launched %+v\nwant %+v", got, want)
	}
	if !slices.Contains(env, "B=2=3") || slices.ContainsFunc(env, func(kv string) bool { return strings.HasPrefix(kv, "A=") }) {
		t.Errorf("environment %q", env)
	}
	if r := d.one(t, "qAttached"); r != "0" {
		t.Errorf("qAttached = %q", r)
	}
	if r := d.one(t, "g"); r != strings.Repeat("00", 44) {
		t.Errorf("g after vRun = %q", r)
	}
	// An empty program name reruns the last one.
	if r := d.one(t, "vRun;"); r != "T05thread:601;" {
		t.Errorf("vRun; = %q", r)
	}
	if e.launched[1].Argv[0] != "/bin/x" {
		t.Errorf("rerun argv %q", e.launched[1].Argv)
	}
	// D and vKill leave the session open in extended mode.
	if r := d.one(t, "D"); r != "OK" || d.sess.ended {
		t.Errorf("D = %q, ended %v", r, d.sess.ended)
	}
	if !e.procs[1].detached {
		t.Error("not detached")
	}
	if r := d.one(t, "?"); r != "W00" {
		t.Errorf("? with no process = %q", r)
	}
	for _, pkt := range []string{"g", "m1000,1", "vCont;c", "qC", "D", "vKill;601"} {
		if r := d.one(t, pkt); r != "E01" {
			t.Errorf("%s with no process = %q", pkt, r)
		}
	}
	if r := d.one(t, "vAttach;123"); !strings.HasPrefix(r, "E") {
		t.Errorf("vAttach to nothing = %q", r)
	}
	if r := d.one(t, "vAttach;700"); r != "T00thread:700;" {
		t.Errorf("vAttach = %q", r)
	}
	if r := d.one(t, "vAttach;700"); !strings.HasPrefix(r, "E.") {
		t.Errorf("second vAttach = %q", r)
	}
	if r := d.one(t, "qAttached"); r != "1" {
		t.Errorf("qAttached after vAttach = %q", r)
	}
	if r := d.one(t, "vKill;700"); r != "OK" || d.sess.ended || !e.procs[2].killed {
		t.Errorf("vKill = %q, ended %v", r, d.sess.ended)
	}
	// R restarts the last program, with no reply.
	if r, err := d.do("R00"); err != nil || len(r) != 0 {
		t.Errorf("R = %q, %v", r, err)
	}
	if len(e.procs) != 4 || d.sess.Process() != e.procs[3] {
		t.Errorf("R did not start a new process")
	}
	e.fail = true
	if r := d.one(t, "vRun;"+hx("/bin/y")); r != "E.no such program" {
		t.Errorf("failed vRun = %q", r)
	}
	if !e.procs[3].killed || d.sess.Process() != nil {
		t.Errorf("failed vRun: old process killed=%v, session process %v", e.procs[3].killed, d.sess.Process())
	}
	if r := d.one(t, "vRun;zz"); r != "E01" {
		t.Errorf("vRun;zz = %q", r)
	}
	if r := d.one(t, "k"); r != "OK" {
		t.Errorf("k with no process = %q", r)
	}
}

// A client with multiprocess runs several inferiors over one connection:
// vRun adds a process and the others live on (gdb's add-inferior, then run
// in each); vKill;PID ends one, the others stay. A client without
// multiprocess gets the new process in place of the old ones.
func TestVRunKeepsOtherProcesses(t *testing.T) {
	hx := hex.EncodeToString([]byte("/bin/x"))
	for _, tc := range []struct {
		name      string
		supported string // qSupported sent first, "" for none
		keep      bool   // the first process survives the second vRun
	}{
		{"multiprocess", "qSupported:multiprocess+", true},
		{"single process", "qSupported:swbreak+", false},
		{"no qSupported", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := &extFake{}
			d := newDirect(nil, Options{Launch: e.launch, Attach: e.attach})
			d.one(t, "!")
			if tc.supported != "" {
				d.one(t, tc.supported)
			}
			d.one(t, "vRun;"+hx)
			d.one(t, "vRun;"+hx)
			if len(e.procs) != 2 {
				t.Fatalf("launched %d processes, want 2", len(e.procs))
			}
			first, second := e.procs[0], e.procs[1]
			if first.killed == tc.keep || second.killed {
				t.Fatalf("after the second vRun: first killed %v, second killed %v; want first kept = %v",
					first.killed, second.killed, tc.keep)
			}
			if got := len(d.sess.Processes()); (got == 2) != tc.keep {
				t.Errorf("session has %d processes", got)
			}
			if d.sess.Process() != second || d.sess.Processes()[0] != second {
				t.Errorf("the new process is not the current one")
			}
			if !tc.keep {
				return
			}
			if r := d.one(t, "vAttach;700"); r != "T00thread:p700.700;" {
				t.Fatalf("vAttach beside two launched processes = %q", r)
			}
			for pkt, want := range map[string]string{"qAttached:600": "0", "qAttached:700": "1", "qAttached:701": "E01"} {
				if r := d.one(t, pkt); r != want {
					t.Errorf("%s = %q, want %q", pkt, r, want)
				}
			}
			if r := d.one(t, "qfThreadInfo"); !strings.Contains(r, "p600.600") || !strings.Contains(r, "p601.601") {
				t.Errorf("qfThreadInfo = %q, want the threads of both processes", r)
			}
			if r := d.one(t, "vKill;601"); r != "OK" || !second.killed || first.killed {
				t.Errorf("vKill;601 = %q: first killed %v, second killed %v", r, first.killed, second.killed)
			}
			if cur := d.sess.Process(); cur == nil || cur == second || len(d.sess.Processes()) != 2 {
				t.Errorf("after vKill: current %v, %d processes, want the two others", cur, len(d.sess.Processes()))
			}
			if r := d.one(t, "Hgp600.600"); r != "OK" {
				t.Errorf("Hg of the remaining process = %q", r)
			}
		})
	}
}

// gdbserver's stop replies make the reporting thread the general thread,
// and gdb relies on it after vRun ("GDB assumes a vRun sets it"). gostub
// does so for stops after a resume but not for the stop vRun/vAttach
// report: a thread chosen with Hg before still names the old process, so
// 'g' answers E01 until the client sends Hg again.
func TestVRunSelectsNewThread(t *testing.T) {
	e := &extFake{}
	d := newDirect(newFakeProc(), Options{Launch: e.launch, Attach: e.attach})
	d.one(t, "!")
	if r := d.one(t, "Hg4d3"); r != "OK" {
		t.Fatalf("Hg = %q", r)
	}
	if r := d.one(t, "vRun;"+hex.EncodeToString([]byte("/bin/x"))); r != "T05thread:600;" {
		t.Fatalf("vRun = %q", r)
	}
	if r := d.one(t, "g"); r != strings.Repeat("00", 44) {
		t.Errorf("g after vRun = %q, want the new process's registers", r)
	}
	if r := d.one(t, "qC"); r != "QC600" {
		t.Errorf("qC after vRun = %q", r)
	}
}
