package rspclient

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// fakeServer is a minimal RSP server over one connection: acks until
// QStartNoAckMode, naks bad checksums, run-length encodes every reply, and
// serves a few packets from a byte slice of "memory" at address base.
type fakeServer struct {
	base uint64
	mem  []byte
	// corruptNext, when > 0, sends that many replies with a wrong checksum
	// before the right one (ack mode only).
	corruptNext int
}

func (s *fakeServer) serve(nc net.Conn) error {
	defer nc.Close()
	br := bufio.NewReader(nc)
	noAck := false
	for {
		b, err := br.ReadByte()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		switch b {
		case '+', '-':
			continue
		case 0x03:
			if err := s.reply(nc, br, noAck, "T02thread:p10.10;"); err != nil {
				return err
			}
			continue
		case '$':
		default:
			return fmt.Errorf("fake: junk byte %q", b)
		}
		raw, err := br.ReadBytes('#')
		if err != nil {
			return err
		}
		raw = raw[:len(raw)-1]
		var cs [2]byte
		if _, err := io.ReadFull(br, cs[:]); err != nil {
			return err
		}
		sum, err := strconv.ParseUint(string(cs[:]), 16, 8)
		if err != nil || byte(sum) != Checksum(raw) {
			if !noAck {
				nc.Write([]byte{'-'})
			}
			continue
		}
		if !noAck {
			nc.Write([]byte{'+'})
		}
		r := s.handle(string(raw))
		if err := s.reply(nc, br, noAck, r); err != nil {
			return err
		}
		if string(raw) == "QStartNoAckMode" {
			noAck = true
		}
	}
}

// reply sends r run-length encoded and, with acks on, waits for '+'.
func (s *fakeServer) reply(nc net.Conn, br *bufio.Reader, noAck bool, r string) error {
	payload := CompressRLE([]byte(r))
	good := Frame(payload)
	for {
		frame := good
		if !noAck && s.corruptNext > 0 {
			s.corruptNext--
			frame = bytes.Clone(good)
			frame[len(frame)-1] ^= 1
		}
		if _, err := nc.Write(frame); err != nil {
			return err
		}
		if noAck {
			return nil
		}
		b, err := br.ReadByte()
		if err != nil {
			return err
		}
		if b == '+' {
			return nil
		}
		if b != '-' {
			return fmt.Errorf("fake: %q instead of an ack", b)
		}
	}
}

func (s *fakeServer) handle(p string) string {
	switch {
	case strings.HasPrefix(p, "qSupported"):
		return "PacketSize=47ff;QStartNoAckMode+;swbreak+;qXfer:features:read+"
	case p == "QStartNoAckMode":
		return "OK"
	case p == "?":
		return "T05swbreak:;06:0000000000000000;07:f0dfffffff7f0000;10:0610400000000000;thread:p10.10;core:2;"
	case p == "g":
		return strings.Repeat("0", 64) + strings.Repeat("x", 32) + "0610400000000000"
	case strings.HasPrefix(p, "m"):
		addr, n, ok := parseAddrLen(p[1:])
		if !ok {
			return "E01"
		}
		if addr < s.base || addr+n > s.base+uint64(len(s.mem)) {
			return "E01"
		}
		return hex.EncodeToString(s.mem[addr-s.base : addr-s.base+n])
	case strings.HasPrefix(p, "X"):
		head, data, _ := strings.Cut(p[1:], ":")
		addr, n, ok := parseAddrLen(head)
		if !ok {
			return "E01"
		}
		bin, err := Unescape([]byte(data))
		if err != nil || uint64(len(bin)) != n {
			return "E02"
		}
		if addr < s.base || addr+n > s.base+uint64(len(s.mem)) {
			return "E01"
		}
		copy(s.mem[addr-s.base:], bin)
		return "OK"
	}
	return ""
}

func parseAddrLen(s string) (addr, n uint64, ok bool) {
	a, l, found := strings.Cut(s, ",")
	if !found {
		return 0, 0, false
	}
	addr, err1 := strconv.ParseUint(a, 16, 64)
	n, err2 := strconv.ParseUint(l, 16, 64)
	return addr, n, err1 == nil && err2 == nil
}

func startFake(t *testing.T, s *fakeServer) *Conn {
	t.Helper()
	cli, srv := net.Pipe()
	errc := make(chan error, 1)
	go func() { errc <- s.serve(srv) }()
	c := New(cli)
	c.Timeout = 5 * time.Second
	t.Cleanup(func() {
		c.Close()
		if err := <-errc; err != nil && err != io.ErrClosedPipe {
			t.Errorf("fake server: %v", err)
		}
	})
	return c
}

func TestFakeServerSession(t *testing.T) {
	mem := make([]byte, 4096) // mostly zeros: replies are heavily run-length encoded
	for i := 2048; i < len(mem); i++ {
		mem[i] = byte(i)
	}
	s := &fakeServer{base: 0x401000, mem: mem, corruptNext: 2}
	c := startFake(t, s)

	feats, err := c.Supported(GDBFeatures) // the reply arrives corrupted twice
	if err != nil {
		t.Fatal(err)
	}
	if got := feats.PacketSize(); got != 0x47ff {
		t.Errorf("PacketSize = %#x, want 0x47ff", got)
	}
	if !feats.Has("QStartNoAckMode") {
		t.Errorf("features %v lack QStartNoAckMode", feats)
	}
	if err := c.StartNoAck(); err != nil {
		t.Fatal(err)
	}
	r, err := c.Exchange("?")
	if err != nil {
		t.Fatal(err)
	}
	stop, err := ParseStop(r)
	if err != nil {
		t.Fatal(err)
	}
	if pc, _ := stop.Reg(0x10); pc != 0x401006 || stop.PID != 0x10 || stop.Reason != "swbreak" {
		t.Errorf("stop %+v: pc %#x", stop, pc)
	}

	// A reply with long runs, read back in full.
	got, err := c.ReadMemory(0x401000, len(mem))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, mem) {
		t.Fatal("ReadMemory returned different bytes")
	}

	// Every byte value through an escaped X packet and back.
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	if err := c.WriteMemory(0x401010, all); err != nil {
		t.Fatal(err)
	}
	got, err = c.ReadMemory(0x401010, 256)
	if err != nil || !bytes.Equal(got, all) {
		t.Fatalf("read back after X: %x, %v", got, err)
	}

	var re *ReplyError
	if _, err := c.ReadMemory(0, 1); !errors.As(err, &re) || re.Code != 1 {
		t.Fatalf("ReadMemory at 0: %v, want E01", err)
	}
	if r, err := c.Exchange("vMustReplyEmpty"); err != nil || r != "" {
		t.Fatalf("vMustReplyEmpty = %q, %v", r, err)
	}
	if r, err := c.Exchange("g"); err != nil || len(r) != 112 {
		t.Fatalf("g = %q, %v", r, err)
	}
}

func TestFakeServerInterrupt(t *testing.T) {
	c := startFake(t, &fakeServer{})
	if err := c.Interrupt(); err != nil {
		t.Fatal(err)
	}
	r, err := c.Recv()
	if err != nil || !strings.HasPrefix(r, "T02") {
		t.Fatalf("after interrupt: %q, %v", r, err)
	}
}
