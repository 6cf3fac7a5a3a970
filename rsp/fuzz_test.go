package rsp

import (
	"bytes"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/gostub/gostub/target"
)

// FuzzReadPacket feeds arbitrary bytes to the frame decoder until it
// reports an error: no panic, no hang, and every packet within bounds.
func FuzzReadPacket(f *testing.F) {
	for _, s := range []string{
		"$g#67", "$g#00$g#67", "\x03", "-", "--$?#3f", "+$qSupported:multiprocess+;swbreak+#00",
		"$abc$g#67", "$X1000,4:}\x03}\x04}]}\n#00", "$#00", "$g#6", "$g", "junk\r\n+$m0,1#fa\x03",
		"$" + strings.Repeat("a", MaxPacket+1) + "#00", "$vCont;c#a8\x03\x03$?#3f", "$g#zz", "##$$",
	} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, data []byte, noAck bool) {
		var out bytes.Buffer
		c := NewConn(bytes.NewReader(data), &out)
		if noAck {
			c.SetNoAck()
		}
		if err := c.WritePacket([]byte("OK")); err != nil {
			t.Fatal(err)
		}
		for i := 0; i <= len(data); i++ {
			p, err := c.ReadPacket()
			if err != nil {
				break
			}
			if i == len(data) {
				t.Fatalf("more packets than input bytes")
			}
			if len(p.Data) > MaxPacket {
				t.Fatalf("packet of %d bytes", len(p.Data))
			}
			if p.TooLong && len(p.Data) > 0 {
				t.Fatalf("TooLong packet with data")
			}
			if p.Interrupt && (p.TooLong || len(p.Data) > 0) {
				t.Fatalf("interrupt with data")
			}
			if bytes.IndexByte(p.Data, '#') >= 0 || bytes.IndexByte(p.Data, '$') >= 0 {
				t.Fatalf("packet %q holds a frame character", p.Data)
			}
		}
		// The server wrote only acks and (re)sent frames.
		if _, err := splitOutput(out.Bytes()); err != nil {
			t.Fatalf("server output %q: %v", out.Bytes(), err)
		}
	})
}

// sessionSeeds are packets of every family, as gdb and LLDB send them.
var sessionSeeds = []string{
	gdbOffer, lldbOffer, "QStartNoAckMode", "vMustReplyEmpty", "Hg0", "Hgp4d2.4d3", "Hc-1", "qXfer:features:read:target.xml:0,ffb",
	"qXfer:features:read:target.xml:7ff,7ff", "qXfer:threads:read::0,ffff", "qXfer:auxv:read::0,1000",
	"qXfer:exec-file:read:4d2:0,ffff", "qXfer:siginfo:read::0,80", "qXfer:siginfo:write::0:abc", "qAttached:4d2", "qfThreadInfo", "qsThreadInfo", "qC",
	"qOffsets", "qSymbol::", "?", "g", "G" + strings.Repeat("00", 44), "p10", "p0", "P1=0102030405060708", "m1000,40",
	"M1000,2:abcd", "X1000,0:", "X1000,4:}\x03}\x04}]}\n", "x1000,40", "x0,0", "Z0,1000,1", "z0,1000,1", "Z2,1008,8",
	"vCont?", "vCont;c", "vCont;s:p4d2.4d2;c:p4d2.-1", "vCont;r1000,1010:p4d2.4d2;c", "vCont;C1e:4d3", "vCont;t:4d4",
	"c", "s", "C05", "S0b;1000", "T4d3", "Tp4d2.4d4", "QPassSignals:e;1e", "QProgramSignals:e", "QNonStop:0",
	"qRcmd,68656c70", "qRcmd,736574206465627567206f6e", "qRcmd,736574", "qRcmd,65786974", "qRcmd,zz",
	"vFile:setfs:0", "vFile:open:6a7573742070726f62696e67,0,1c0", "vFile:open:2f62696e2f70726f67,0,0", "vFile:pread:3,100,0",
	"vFile:fstat:3", "vFile:close:3", "vFile:readlink:2f70726f632f312f657865", "vFile:unlink:2f6e6f7065", "vFile:pwrite:3,0,abc",
	"!", "vRun;2f62696e2f70726f67;6172677631", "vRun;", "vAttach;4d3", "QEnvironmentHexEncoded:413d31",
	"QEnvironmentUnset:41", "QEnvironmentReset", "QSetWorkingDir:2f746d70", "QStartupWithShell:0", "QDisableRandomization:1",
	"vCtrlC", "D", "D;4d2", "vKill;4d2", "k", "qTStatus", "",
	// LLDB's dialect and non-stop.
	"QThreadSuffixSupported", "QListThreadsInStopReply", "QEnableErrorStrings", "qVAttachOrWaitSupported", "qHostInfo",
	"qProcessInfo", "qProcessInfoPID:1234", "qfProcessInfo:name:676f73747562;name_match:contains;", "qsProcessInfo",
	"qGetWorkingDir", "qUserName:0", "qGroupName:0", "qWatchpointSupportInfo:", "qMemoryRegionInfo:1000",
	"jThreadsInfo", "jThreadExtendedInfo:", "QSaveRegisterState;thread:4d2;", "QRestoreRegisterState:1;thread:4d2;",
	"vAttachName;676f73747562", "vAttachWait;", "vAttachOrWait;zz", "_M1000,rwx", "_m1000", "qRegisterInfo0", "qRegisterInfo4",
	"qRegisterInfoff", "p0;thread:4d3;", "g;thread:4d3;", "P0=0000000000000000;thread:4d3;", "G;thread:4d3;",
	"qXfer:features:read:target.xml:0,100", "QNonStop:1", "vStopped",
}

// fuzzSession builds a session over a fake with every capability, host I/O
// and extended-remote hooks; Resume never blocks.
func fuzzSession() *direct {
	p := newFullProc()
	launch := func(req LaunchRequest) (target.Process, error) {
		if len(req.Argv) > 0 && req.Argv[0] == "fail" {
			return nil, fmt.Errorf("cannot run %q", req.Argv[0])
		}
		q := newFullProc()
		q.pid = 0x600
		for i := range q.threads {
			q.threads[i].PID = 0x600
		}
		return q, nil
	}
	attach := func(pid int) (target.Process, error) {
		if pid != 0x700 {
			return nil, fmt.Errorf("no process %d", pid)
		}
		q := newFakeProc()
		q.pid, q.attached = pid, true
		return q, nil
	}
	return newDirect(p, Options{FS: newFakeFS(), Launch: launch, Attach: attach,
		SetDebug: func(bool) {}, SetRemoteDebug: func(bool) {}})
}

// checkReplies states what a packet must produce: exactly one reply, except
// monitor commands (output in O packets, then OK or E01) and R in extended
// mode (no reply).
func checkReplies(d *direct, pkt []byte, wasExtended bool, replies []string) error {
	switch {
	case bytes.HasPrefix(pkt, []byte("qRcmd,")):
		if len(replies) == 0 {
			return fmt.Errorf("%q: no reply", pkt)
		}
		for _, r := range replies[:len(replies)-1] {
			if r == "" || r[0] != 'O' {
				return fmt.Errorf("%q: replies %q", pkt, replies)
			}
		}
		if last := replies[len(replies)-1]; last != "OK" && last != "E01" {
			return fmt.Errorf("%q: replies %q", pkt, replies)
		}
		return nil
	case len(pkt) > 0 && pkt[0] == 'R' && wasExtended:
		if len(replies) != 0 {
			return fmt.Errorf("%q in extended mode: replies %q", pkt, replies)
		}
		return nil
	}
	if len(replies) != 1 {
		return fmt.Errorf("%q: %d replies %q, want 1", pkt, len(replies), replies)
	}
	return nil
}

// FuzzSessionPacket dispatches packets (newline-separated) to a session
// over the fake: no panic, and the right number of well-formed replies.
func FuzzSessionPacket(f *testing.F) {
	for _, s := range sessionSeeds {
		f.Add([]byte(s))
	}
	f.Add([]byte(strings.Join(sessionSeeds, "\n")))
	f.Add([]byte(gdbOffer + "\nvCont;c\n?\ng\nvCont;s:p4d2.4d3\nqXfer:threads:read::0,fff\nvKill;4d2\n?"))
	f.Add([]byte("!\nvRun;2f62696e2f78\n?\ng\nHgp600.600\ng\nD;600\n?\nvAttach;700\nqAttached\nR\nk"))
	f.Fuzz(func(t *testing.T, data []byte) {
		d := fuzzSession()
		for i, pkt := range bytes.Split(data, []byte{'\n'}) {
			if d.sess.ended || i > 64 {
				break
			}
			ext := d.sess.extended
			replies, err := d.doBytes(pkt)
			if err != nil {
				t.Fatal(err)
			}
			if err := checkReplies(d, pkt, ext, replies); err != nil {
				t.Fatal(err)
			}
			for _, r := range replies {
				if len(r) > 2*MaxPacket {
					t.Fatalf("%q: reply of %d bytes", pkt, len(r))
				}
			}
		}
	})
}

func TestSessionSeedsReplyCounts(t *testing.T) {
	for _, s := range sessionSeeds {
		d := fuzzSession()
		replies, err := d.do(s)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		if err := checkReplies(d, []byte(s), false, replies); err != nil {
			t.Errorf("%v", err)
		}
	}
}

// formatSelector writes a Selector back in the protocol's syntax.
func formatSelector(s Selector) string {
	id := func(v int) string {
		if v == -1 {
			return "-1"
		}
		return strconv.FormatInt(int64(v), 16)
	}
	if s.PID != 0 {
		return "p" + id(s.PID) + "." + id(s.TID)
	}
	return id(s.TID)
}

func FuzzParseSelector(f *testing.F) {
	for _, s := range []string{"p1.2", "p-1.-1", "-1", "0", "1f", "p1", "p4d2.4d3", "", "p", "p.", "-", "p1.2.3", "80000000", "ffffffffffffffff"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var sel Selector
		var err error
		if noPanic(t, fmt.Sprintf("parseSelector(%q)", b), func() { sel, err = parseSelector(b) }) {
			return
		}
		if err != nil {
			return
		}
		if sel.PID < -1 || sel.TID < -1 {
			t.Fatalf("parseSelector(%q) = %+v", b, sel)
		}
		s := formatSelector(sel)
		again, err := parseSelector([]byte(s))
		if err != nil || again != sel {
			t.Fatalf("parseSelector(%q) = %+v, formats as %q which parses as %+v, %v", b, sel, s, again, err)
		}
	})
}

func formatVCont(acts []vContAction) string {
	var parts []string
	for _, a := range acts {
		var p string
		switch a.kind {
		case target.ActionContinue, target.ActionStep:
			p = map[target.ActionKind]string{target.ActionContinue: "c", target.ActionStep: "s"}[a.kind]
			if a.signal != 0 {
				p = strings.ToUpper(p) + strconv.FormatInt(int64(a.signal), 16)
			}
		case target.ActionStop:
			p = "t"
		case target.ActionRangeStep:
			p = fmt.Sprintf("r%x,%x", a.start, a.end)
		}
		if !a.all {
			p += ":" + formatSelector(a.sel)
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, ";")
}

func FuzzParseVCont(f *testing.F) {
	for _, s := range []string{"c", "s", "t", "C1e:4d3", "S0b", "s:p1.2;c:p1.-1", "r1000,2000:p1.1", "r10,20:p1.1;C05:p1.2;t:p1.3;c",
		"", ";", "c;", "cc", "C", "r1000", "c:", "C00", "c:0"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var acts []vContAction
		var err error
		if noPanic(t, fmt.Sprintf("parseVCont(%q)", b), func() { acts, err = parseVCont(b) }) {
			return
		}
		if err != nil {
			return
		}
		if len(acts) != bytes.Count(b, []byte{';'})+1 {
			t.Fatalf("parseVCont(%q): %d actions", b, len(acts))
		}
		for _, a := range acts {
			if a.signal < 0 || (a.kind != target.ActionRangeStep && (a.start != 0 || a.end != 0)) {
				t.Fatalf("parseVCont(%q): %+v", b, a)
			}
			if a.all && a.sel != (Selector{}) {
				t.Fatalf("parseVCont(%q): %+v", b, a)
			}
		}
		s := formatVCont(acts)
		again, err := parseVCont([]byte(s))
		if err != nil || !reflect.DeepEqual(again, acts) {
			// 'C00' parses with signal 0 and formats as 'c'; both mean the same.
			t.Fatalf("parseVCont(%q) = %+v\nformats as %q -> %+v, %v", b, acts, s, again, err)
		}
	})
}

func FuzzUnescape(f *testing.F) {
	for _, s := range []string{"", "abc", "}\x03", "}]}}", "a}", "}", "}\n}\x04", "\x00\xff"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		// Escaping then unescaping gives back anything.
		enc := escapeBinary(nil, b)
		dec, err := unescapeBinary(enc)
		if err != nil || !bytes.Equal(dec, b) {
			t.Fatalf("unescape(escape(%q)) = %q, %v", b, dec, err)
		}
		if bytes.ContainsAny(enc, "#$*") {
			t.Fatalf("escape(%q) = %q", b, enc)
		}
		// Arbitrary input: no panic; when it decodes, re-encoding decodes
		// the same.
		u, err := unescapeBinary(b)
		if err != nil {
			if !bytes.HasSuffix(b, []byte{'}'}) {
				t.Fatalf("unescape(%q): %v", b, err)
			}
			return
		}
		if len(u) > len(b) {
			t.Fatalf("unescape grew %q to %q", b, u)
		}
		u2, err := unescapeBinary(escapeBinary(nil, u))
		if err != nil || !bytes.Equal(u2, u) {
			t.Fatalf("unescape(%q) = %q, round trip %q, %v", b, u, u2, err)
		}
	})
}

func FuzzRLE(f *testing.F) {
	for _, s := range []string{"", "a", "aaaa", "aaaaaaa", "aaaaaaaa", strings.Repeat("0", 300), "0000ffff0000000x",
		"T05thread:p4d2.4d2;", "}]}]}]}]", strings.Repeat("}\x03", 10) + strings.Repeat("\x03", 10)} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if bytes.IndexByte(b, '*') >= 0 {
			// Payloads never hold a raw '*' (escapeBinary escapes it), and
			// one would be ambiguous on the wire.
			return
		}
		enc := appendRLE(nil, b)
		checkRLE(t, b, enc)
		if !bytes.ContainsAny(b, "#$") && bytes.ContainsAny(enc, "#$") {
			t.Fatalf("appendRLE(%q) = %q holds a frame character", b, enc)
		}
		if len(enc) > len(b) {
			t.Fatalf("appendRLE(%q) grew to %q", b, enc)
		}
		dec, err := expandRLE(enc)
		if err != nil || !bytes.Equal(dec, b) {
			t.Fatalf("expandRLE(appendRLE(%q)) = %q, %v (enc %q)", b, dec, err, enc)
		}
		// Through a full frame as well.
		var out bytes.Buffer
		c := NewConn(bytes.NewReader(nil), &out)
		c.WritePacket(b)
		if bytes.ContainsAny(b, "#$") {
			return
		}
		items, err := splitOutput(out.Bytes())
		if err != nil || len(items) != 1 || !bytes.Equal(items[0].payload, b) {
			t.Fatalf("frame of %q decodes to %v, %v", b, items, err)
		}
	})
}
