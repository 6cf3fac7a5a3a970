package rsp

import (
	"bytes"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestWritePacketFraming(t *testing.T) {
	tests := []struct {
		payload string
		want    string
	}{
		{"", "$#00"},
		{"OK", "$OK#9a"},
		{"E01", "$E01#a6"},
		{"T05thread:p1.1;", "$T05thread:p1.1;#" + hex2(checksum([]byte("T05thread:p1.1;")))},
		// Runs are encoded and the checksum covers the encoded body.
		{"0000", "$0* #" + hex2(checksum([]byte("0* ")))},
		{"abc0000000000", "$abc0*&#" + hex2(checksum([]byte("abc0*&")))},
	}
	for _, tt := range tests {
		var out bytes.Buffer
		c := NewConn(bytes.NewReader(nil), &out)
		if err := c.WritePacket([]byte(tt.payload)); err != nil {
			t.Fatal(err)
		}
		if out.String() != tt.want {
			t.Errorf("WritePacket(%q) wrote %q, want %q", tt.payload, out.String(), tt.want)
		}
		items, err := splitOutput(out.Bytes())
		if err != nil || len(items) != 1 || string(items[0].payload) != tt.payload {
			t.Errorf("WritePacket(%q): client decodes %v, %v", tt.payload, items, err)
		}
	}
}

func hex2(b byte) string { return string([]byte{hexDigits[b>>4], hexDigits[b&15]}) }

type wantPkt struct {
	data      string
	interrupt bool
	tooLong   bool
}

func TestReadPacket(t *testing.T) {
	long := strings.Repeat("a", MaxPacket+1)
	exact := strings.Repeat("b", MaxPacket)
	tests := []struct {
		name    string
		noAck   bool
		in      string
		want    []wantPkt
		wantOut string // acks written
		wantErr error  // error after the packets
	}{
		{name: "simple", in: "$g#67", want: []wantPkt{{data: "g"}}, wantOut: "+", wantErr: io.EOF},
		{name: "upper-case checksum", in: "$OK#9A", want: []wantPkt{{data: "OK"}}, wantOut: "+", wantErr: io.EOF},
		{name: "empty body", in: "$#00", want: []wantPkt{{data: ""}}, wantOut: "+", wantErr: io.EOF},
		{name: "bad checksum NAKed then retransmission answered", in: "$g#00$g#67",
			want: []wantPkt{{data: "g"}}, wantOut: "-+", wantErr: io.EOF},
		{name: "non-hex checksum NAKed", in: "$g#zz$g#67", want: []wantPkt{{data: "g"}}, wantOut: "-+", wantErr: io.EOF},
		{name: "two NAKs", in: "$m0,1#00$m0,1#01$m0,1#fa", want: []wantPkt{{data: "m0,1"}}, wantOut: "--+", wantErr: io.EOF},
		{name: "acks and garbage between packets ignored", in: "+++junk\r\n\x00\xff$g#67+ x$?#3f",
			want: []wantPkt{{data: "g"}, {data: "?"}}, wantOut: "++", wantErr: io.EOF},
		{name: "bare interrupt", in: "\x03", want: []wantPkt{{interrupt: true}}, wantErr: io.EOF},
		{name: "interrupt between packets", in: "$c#63\x03$?#3f",
			want: []wantPkt{{data: "c"}, {interrupt: true}, {data: "?"}}, wantOut: "++", wantErr: io.EOF},
		{name: "0x03 inside a body is data", in: "$X0,1:\x03#" + hex2(checksum([]byte("X0,1:\x03"))),
			want: []wantPkt{{data: "X0,1:\x03"}}, wantOut: "+", wantErr: io.EOF},
		{name: "restart on '$' inside a body", in: "$abc$g#67", want: []wantPkt{{data: "g"}}, wantOut: "+", wantErr: io.EOF},
		{name: "too long", in: string(frame(long)) + "$g#67", want: []wantPkt{{tooLong: true}, {data: "g"}}, wantOut: "++", wantErr: io.EOF},
		{name: "exactly MaxPacket", in: string(frame(exact)), want: []wantPkt{{data: exact}}, wantOut: "+", wantErr: io.EOF},
		{name: "truncated checksum", in: "$g#6", wantErr: io.ErrUnexpectedEOF},
		{name: "truncated body", in: "$g", wantErr: io.EOF},
		{name: "no-ack: nothing written, checksum not enforced", noAck: true, in: "$g#00$?#3f",
			want: []wantPkt{{data: "g"}, {data: "?"}}, wantErr: io.EOF},
		{name: "no-ack: '-' ignored", noAck: true, in: "-$g#67", want: []wantPkt{{data: "g"}}, wantErr: io.EOF},
		{name: "no-ack: too long", noAck: true, in: string(frame(long)), want: []wantPkt{{tooLong: true}}, wantErr: io.EOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			c := NewConn(strings.NewReader(tt.in), &out)
			if tt.noAck {
				c.SetNoAck()
			}
			for i, w := range tt.want {
				p, err := c.ReadPacket()
				if err != nil {
					t.Fatalf("packet %d: %v", i, err)
				}
				if string(p.Data) != w.data || p.Interrupt != w.interrupt || p.TooLong != w.tooLong {
					t.Errorf("packet %d = {%.40q interrupt=%v tooLong=%v}, want {%.40q %v %v}",
						i, p.Data, p.Interrupt, p.TooLong, w.data, w.interrupt, w.tooLong)
				}
				if p.TooLong && len(p.Data) != 0 {
					t.Errorf("TooLong packet carries %d bytes", len(p.Data))
				}
			}
			_, err := c.ReadPacket()
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("final error %v, want %v", err, tt.wantErr)
			}
			if out.String() != tt.wantOut {
				t.Errorf("wrote %q, want %q", out.String(), tt.wantOut)
			}
		})
	}
}

// A '-' from the client makes the server resend its last reply.
func TestNAKResendsLastReply(t *testing.T) {
	var out bytes.Buffer
	in := strings.NewReader("--$g#67")
	c := NewConn(in, &out)
	// Nothing sent yet: a '-' resends nothing.
	c2 := NewConn(strings.NewReader("-$g#67"), &out)
	if _, err := c2.ReadPacket(); err != nil {
		t.Fatal(err)
	}
	if out.String() != "+" {
		t.Fatalf("'-' before any reply wrote %q", out.String())
	}
	out.Reset()

	if err := c.WritePacket([]byte("first")); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := c.WritePacket([]byte("T0500000000")); err != nil {
		t.Fatal(err)
	}
	last := out.String()
	out.Reset()
	p, err := c.ReadPacket()
	if err != nil || string(p.Data) != "g" {
		t.Fatalf("ReadPacket = %q, %v", p.Data, err)
	}
	if want := last + last + "+"; out.String() != want {
		t.Errorf("wrote %q, want %q", out.String(), want)
	}

	// After QStartNoAckMode a '-' is noise.
	out.Reset()
	c.SetNoAck()
	c.r.Reset(strings.NewReader("-$g#67"))
	if _, err := c.ReadPacket(); err != nil {
		t.Fatal(err)
	}
	if out.Len() != 0 {
		t.Errorf("no-ack mode: wrote %q", out.String())
	}
}

// Over a live session: a bad checksum is NAKed and the retransmission
// answered; a NAK of the reply brings it again.
func TestSessionNAKs(t *testing.T) {
	p := newFakeProc()
	h := startSession(t, p, Options{})
	c := h.c
	c.write([]byte("$qAttached#00"))
	c.expectAck('-')
	if r := c.cmd("qAttached"); r != "0" {
		t.Fatalf("qAttached = %q", r)
	}
	c.send("m1000,4")
	c.expectAck('+')
	first := c.next()
	c.write([]byte{'-'})
	again := c.next()
	if string(first.payload) != "00010203" || !bytes.Equal(first.raw, again.raw) {
		t.Fatalf("reply %q, resent %q", first.raw, again.raw)
	}
	c.write([]byte{'+'})
	if r := c.cmd("?"); r != "T05thread:4d2;" {
		t.Fatalf("? = %q", r)
	}
}

func TestSessionNoAckMode(t *testing.T) {
	h := startSession(t, newFakeProc(), Options{})
	c := h.c
	if r := c.cmd("QStartNoAckMode"); r != "OK" {
		t.Fatalf("QStartNoAckMode = %q", r)
	}
	c.noAck = true
	if !h.sconn.NoAck() {
		t.Fatal("conn still in ack mode")
	}
	// From now on: no acks either way, and no checksum enforcement.
	for _, body := range []string{"?", "qAttached", "m1000,2"} {
		c.send(body)
		it := c.next()
		if it.ack != 0 {
			t.Fatalf("%s: got %s in no-ack mode", body, it)
		}
	}
	c.write([]byte("$qAttached#00"))
	if r := c.recv(); r != "0" {
		t.Fatalf("bad checksum in no-ack mode: %q", r)
	}
}

// gdbserver switches to no-ack only once the OK is acknowledged; gostub
// switches after writing the OK. A packet that the client sends right after
// reading the OK can be parsed before SetNoAck runs and then gets a '+' the
// client (in no-ack mode) does not expect. The writer below holds the OK's
// Write open until the next packet has been read, which makes the window
// certain.
func TestNoAckModeNoStrayAck(t *testing.T) {
	cli, srv := netPipe(t)
	seen := make(chan struct{})
	r := &watchReader{r: srv, want: []byte("$?#3f"), seen: seen}
	w := &holdWriter{w: srv, hold: []byte("$OK#9a"), until: seen}
	conn := NewConn(r, w)
	s := NewSession(conn, newFakeProc(), Options{})
	done := make(chan End, 1)
	go func() { done <- s.Serve() }()
	c := newTestClient(t, cli)
	if r := c.cmd("QStartNoAckMode"); r != "OK" {
		t.Fatalf("QStartNoAckMode = %q", r)
	}
	c.noAck = true
	c.send("?")
	if it := c.next(); it.ack != 0 {
		t.Errorf("stray ack %q after QStartNoAckMode's OK", it.ack)
		c.next()
	}
	cli.Close()
	<-done
}

func netPipe(t *testing.T) (cli, srv net.Conn) {
	cli, srv = net.Pipe()
	t.Cleanup(func() { cli.Close(); srv.Close() })
	return cli, srv
}

// watchReader closes seen once the bytes read so far contain want.
type watchReader struct {
	r    io.Reader
	want []byte
	seen chan struct{}
	buf  []byte
	once sync.Once
}

func (w *watchReader) Read(p []byte) (int, error) {
	n, err := w.r.Read(p)
	w.buf = append(w.buf, p[:n]...)
	if bytes.Contains(w.buf, w.want) {
		w.once.Do(func() { close(w.seen) })
	}
	return n, err
}

// holdWriter, after writing a frame that contains hold, keeps the Write
// call open until until is closed (or a timeout), then a little longer so
// the reader goroutine gets to act.
type holdWriter struct {
	w     io.Writer
	hold  []byte
	until chan struct{}
}

func (h *holdWriter) Write(p []byte) (int, error) {
	n, err := h.w.Write(p)
	if bytes.Contains(p, h.hold) {
		select {
		case <-h.until:
			time.Sleep(50 * time.Millisecond)
		case <-time.After(2 * time.Second):
		}
	}
	return n, err
}
