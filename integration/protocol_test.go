package integration

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"
)

// Protocol robustness: hand-made packets on a raw connection.  Where GNU
// gdbserver behaves well the test runs against it too, which validates the
// test; where gdbserver crashes, aborts or drops the connection (see the
// comments and INVENTORY §9) the test is gostub-only.

var (
	bothStubs  = []StubKind{KindGDBServer, KindGostub}
	gostubOnly = []StubKind{KindGostub}
)

// rspSession starts a stub on `loop 3` (or prog) and connects to it.
func rspSession(t *testing.T, kind StubKind, src string, args ...string) (*Stub, *rspConn) {
	t.Helper()
	prog := compile(t, src)
	s := StartStub(t, kind, prog, args...)
	return s, dialRSP(t, s)
}

// wantUsable checks that the connection still answers a simple request.
func wantUsable(t *testing.T, c *rspConn, after string) {
	t.Helper()
	if r := c.Request("qC"); !strings.HasPrefix(r, "QC") {
		t.Errorf("after %s: qC -> %q, want QC<thread>", after, abbrev(r))
	}
}

func TestRSPBadChecksum(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		raw   string
		kinds []StubKind
	}{
		{"wrong", "$qC#00", bothStubs},
		// gdbserver: "Invalid hex digit 122", then it drops the connection.
		{"not-hex", "$qC#zz", gostubOnly},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			forStubs(t, tc.kinds, func(t *testing.T, kind StubKind) string {
				_, c := rspSession(t, kind, "loop.c", "3")
				c.WriteRaw(tc.raw)
				if a := c.ReadAck(); a != '-' {
					t.Fatalf("%q answered with %q, want '-'", tc.raw, a)
				}
				c.ExpectSilence(300*time.Millisecond, "in reply to a packet with a bad checksum")
				// The client retransmits; the good copy is answered.
				if r := c.Request("qC"); !strings.HasPrefix(r, "QC") {
					t.Errorf("retransmitted qC -> %q, want QC<thread>", abbrev(r))
				}
				if r := c.Request("?"); !strings.HasPrefix(r, "T05") {
					t.Errorf("? -> %q, want T05...", abbrev(r))
				}
				return ""
			})
		})
	}
}

// After the OK to QStartNoAckMode neither side acks (INVENTORY §5.9).  gdb
// sends its '+' for that OK together with the next packet, in one write; a
// stub that switches off acks only after writing the OK may still ack that
// packet.  The window is small, so the handshake is repeated.
func TestRSPNoAckMode(t *testing.T) {
	t.Parallel()
	const sessions = 10
	forEachStub(t, func(t *testing.T, kind StubKind) string {
		prog := compile(t, "loop.c")
		for i := 1; i <= sessions && !t.Failed(); i++ {
			t.Run(fmt.Sprintf("session-%d", i), func(t *testing.T) {
				s := StartStub(t, kind, prog, "3")
				c := dialRSP(t, s)
				c.Request(gdbQSupported)
				c.Send("QStartNoAckMode") // requires the '+'
				c.Ack = false             // so Read does not ack the OK on its own
				if r := c.Read(); r != "OK" {
					t.Fatalf("QStartNoAckMode -> %q", r)
				}
				c.WriteRaw("+" + rspFrame("Hgp0.0"))
				if r := c.Read(); r != "OK" {
					t.Errorf("Hgp0.0 -> %q", r)
				}
				for _, p := range []string{"?", "qC", "vMustReplyEmpty"} {
					c.Request(p)
				}
				c.ExpectSilence(50*time.Millisecond, "after the replies")
				if c.StrayAcks != 0 {
					t.Errorf("%d '+' acks after QStartNoAckMode was answered OK", c.StrayAcks)
				}
				c.Close()
				s.WaitExit(t, stubExitTimeout)
			})
		}
		return ""
	})
}

func TestRSPUnknownPacket(t *testing.T) {
	t.Parallel()
	forEachStub(t, func(t *testing.T, kind StubKind) string {
		_, c := rspSession(t, kind, "loop.c", "3")
		c.Handshake(true)
		for _, p := range []string{
			"vMustReplyEmpty", "qGostubNoSuchQuery", "qGostubNoSuchQuery:1,2",
			"QGostubNoSuchSetting:1", "vGostubNoSuchVerb;1", "jGostubNoSuch", "y", "_gostub",
		} {
			if r := c.Request(p); r != "" {
				t.Errorf("%s -> %q, want the empty reply", p, abbrev(r))
			}
		}
		wantUsable(t, c, "unknown packets")
		return ""
	})
}

func TestRSPBadMemoryRead(t *testing.T) {
	t.Parallel()
	cases := []struct {
		packet string
		// gdbserver answers E01 and then closes the connection (an
		// exception from its hex parser ends the session); gostub must keep
		// it.  Only checked for gostub when set.
		gdbserverDrops bool
	}{
		{"m", true},
		{"m1234", true},
		{"mzz,4", true},
		{"m12,zz", true},
		{"m-1,4", true},
		{"m,4", false},
		{"mffffffffffffffff,4", false},
		{"m0,8", false},
	}
	for _, tc := range cases {
		t.Run(tc.packet, func(t *testing.T) {
			t.Parallel()
			forEachStub(t, func(t *testing.T, kind StubKind) string {
				_, c := rspSession(t, kind, "loop.c", "3")
				c.Handshake(true)
				if r := c.Request(tc.packet); !strings.HasPrefix(r, "E") {
					t.Errorf("%s -> %q, want an E reply", tc.packet, abbrev(r))
				}
				if kind == KindGDBServer && tc.gdbserverDrops {
					return ""
				}
				wantUsable(t, c, tc.packet)
				return ""
			})
		})
	}
}

// gdbserver (PacketSize=47ff) overflows its buffer and segfaults on larger
// packets, so this is gostub-only.
func TestRSPOversizedPacket(t *testing.T) {
	t.Parallel()
	forStubs(t, gostubOnly, func(t *testing.T, kind StubKind) string {
		_, c := rspSession(t, kind, "loop.c", "3")
		feats, stop := c.Handshake(true)
		size := packetSize(t, feats)
		sp := stopRegister(t, stop, "07")
		addr := sp - uint64(2*size)
		before := c.Request(fmt.Sprintf("m%x,10", addr))

		for _, tc := range []struct{ name, packet string }{
			{"M-twice-PacketSize", fmt.Sprintf("M%x,%x:", addr, size) + strings.Repeat("ab", size)},
			{"query-1MiB", "qGostub" + strings.Repeat("a", 1<<20)},
		} {
			if r := c.Request(tc.packet); !strings.HasPrefix(r, "E") {
				t.Errorf("%s (%d bytes) -> %q, want an E reply", tc.name, len(tc.packet), abbrev(r))
			}
			wantUsable(t, c, tc.name)
		}
		if after := c.Request(fmt.Sprintf("m%x,10", addr)); after != before {
			t.Errorf("memory at %#x changed by a rejected packet: %q -> %q", addr, before, after)
		}
		return ""
	})
}

// gdbserver aborts here ("linux-low.cc:2980 ... wait_1: Assertion
// 'target_options & TARGET_WNOHANG' failed", INVENTORY §9): gostub-only.
func TestRSPContinueAfterExit(t *testing.T) {
	t.Parallel()
	forStubs(t, gostubOnly, func(t *testing.T, kind StubKind) string {
		_, c := rspSession(t, kind, "loop.c", "3")
		c.Handshake(true)
		c.Send("vCont;c")
		stop := c.WaitStop(10 * time.Second)
		if !strings.HasPrefix(stop, "W67") { // loop 3 exits with 103
			t.Fatalf("vCont;c -> %q, want W67;process:...", abbrev(stop))
		}
		if r := c.Request("vCont;c"); !strings.HasPrefix(r, "E") {
			t.Errorf("vCont;c after the exit -> %q, want an E reply", abbrev(r))
		}
		if r := c.Request("vMustReplyEmpty"); r != "" {
			t.Errorf("vMustReplyEmpty after the exit -> %q, want the empty reply", abbrev(r))
		}
		return ""
	})
}

func TestRSPMemoryWrite(t *testing.T) {
	t.Parallel()
	forEachStub(t, func(t *testing.T, kind StubKind) string {
		_, c := rspSession(t, kind, "loop.c", "3")
		_, stop := c.Handshake(true)
		sp := stopRegister(t, stop, "07")
		// gdb probes binary-write support with a zero-length X.
		for _, p := range []string{fmt.Sprintf("X%x,0:", sp), "X0,0:"} {
			if r := c.Request(p); r != "OK" {
				t.Errorf("%s -> %q, want OK", p, abbrev(r))
			}
		}
		// Bytes that must be escaped on the wire, written below the stack
		// pointer and read back.
		data := []byte{'#', '$', '}', '*', 0, 0xff, 0x7d ^ 0x20, 0x03}
		addr := sp - 64
		if r := c.Request(fmt.Sprintf("X%x,%x:%s", addr, len(data), rspEscape(data))); r != "OK" {
			t.Fatalf("X write -> %q, want OK", abbrev(r))
		}
		r := c.Request(fmt.Sprintf("m%x,%x", addr, len(data)))
		if got, err := hex.DecodeString(r); err != nil || !bytes.Equal(got, data) {
			t.Errorf("read back %q, want %x", r, data)
		}
		data2 := []byte{1, 2, 3, 4}
		if r := c.Request(fmt.Sprintf("M%x,4:%x", addr, data2)); r != "OK" {
			t.Fatalf("M write -> %q, want OK", abbrev(r))
		}
		if r := c.Request(fmt.Sprintf("m%x,8", addr)); r != "01020304"+hex.EncodeToString(data[4:]) {
			t.Errorf("read back after M: %q", r)
		}
		return ""
	})
}

func TestRSPReadAcrossUnmapped(t *testing.T) {
	t.Parallel()
	forEachStub(t, func(t *testing.T, kind StubKind) string {
		s, c := rspSession(t, kind, "loop.c", "3")
		c.Handshake(true)
		var end uint64
		maps := procMaps(t, s.PID)
		for _, m := range maps {
			if m.Name == "[stack]" {
				end = m.End
			}
		}
		if end == 0 {
			t.Fatalf("no [stack] in /proc/%d/maps", s.PID)
		}
		for _, m := range maps {
			if m.Start == end {
				t.Fatalf("a mapping follows the stack at %#x; pick another boundary", end)
			}
		}
		for _, tc := range []struct {
			addr uint64
			n    int
			want string // "E01", or "" for n bytes of hex
		}{
			{end - 8, 8, ""},
			{end - 4, 4, ""},
			{end - 4, 8, "E01"},
			{end - 1, 2, "E01"},
			{end, 1, "E01"},
		} {
			p := fmt.Sprintf("m%x,%x", tc.addr, tc.n)
			r := c.Request(p)
			switch {
			case tc.want != "" && r != tc.want:
				t.Errorf("%s (stack ends at %#x) -> %q, want %s", p, end, abbrev(r), tc.want)
			case tc.want == "":
				if b, err := hex.DecodeString(r); err != nil || len(b) != tc.n {
					t.Errorf("%s -> %q, want %d bytes of hex", p, abbrev(r), tc.n)
				}
			}
		}
		wantUsable(t, c, "reads across the end of the stack")
		return ""
	})
}

func TestRSPInterrupt(t *testing.T) {
	t.Parallel()
	forEachStub(t, func(t *testing.T, kind StubKind) string {
		_, c := rspSession(t, kind, "forever.c")
		c.Handshake(true)
		for round := 1; round <= 2; round++ {
			c.Send("vCont;c")
			c.ExpectSilence(300*time.Millisecond, "while the program runs")
			c.WriteRaw("\x03")
			stop := c.WaitStop(5 * time.Second)
			if !strings.HasPrefix(stop, "T02") || !strings.Contains(stop, "thread:p") {
				t.Errorf("round %d: 0x03 -> %q, want T02...thread:p<pid>.<tid>;...", round, abbrev(stop))
			}
		}
		wantUsable(t, c, "the interrupts")
		return ""
	})
}
