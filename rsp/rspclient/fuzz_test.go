package rspclient

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// bytesConn is a net.Conn that reads from a fixed byte slice and discards
// writes: the reply decoder can be fuzzed without goroutines.
type bytesConn struct {
	r *bytes.Reader
}

func (b bytesConn) Read(p []byte) (int, error)       { return b.r.Read(p) }
func (b bytesConn) Write(p []byte) (int, error)      { return len(p), nil }
func (b bytesConn) Close() error                     { return nil }
func (b bytesConn) LocalAddr() net.Addr              { return nil }
func (b bytesConn) RemoteAddr() net.Addr             { return nil }
func (b bytesConn) SetDeadline(time.Time) error      { return nil }
func (b bytesConn) SetReadDeadline(time.Time) error  { return nil }
func (b bytesConn) SetWriteDeadline(time.Time) error { return nil }

// FuzzRecv feeds arbitrary server output to the reply decoder, with acks on
// and off.  It must never panic or loop, and every packet it accepts must
// carry a valid checksum and a decodable run-length encoding.
func FuzzRecv(f *testing.F) {
	for _, seed := range []string{
		"$OK#9a",
		"+$OK#9a",
		"$OK#00$OK#9a",
		`$91505*"550* #00`,
		"$x*##00",
		"%Stop:T05#00$OK#9a",
		"$O$OK#9a",
		"$*!#4b",
		"$}]}\x03#00",
		"$abc",
		"",
		"-",
	} {
		f.Add([]byte(seed), false)
		f.Add([]byte(seed), true)
	}
	f.Fuzz(func(t *testing.T, in []byte, noAck bool) {
		c := New(bytesConn{bytes.NewReader(in)})
		c.MaxPacket = 1 << 16
		c.SetNoAck(noAck)
		for i := 0; i < 100; i++ {
			p, err := c.RecvPacket()
			if err != nil {
				if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
					return
				}
				continue // a decode error; the stream goes on
			}
			if len(p.Data) > 226*len(in) {
				t.Fatalf("expanded %d input bytes to %d", len(in), len(p.Data))
			}
			Unescape(p.Data)
		}
	})
}

// FuzzRoundTrip checks that what a server encodes (escape, then run-length
// compression, then framing) decodes to the original bytes.
func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte("hello"))
	f.Add([]byte("#$}*"))
	f.Add(bytes.Repeat([]byte{0}, 300))
	f.Add([]byte("0000000}}}}}}}}****$$$$$$$$$"))
	f.Fuzz(func(t *testing.T, data []byte) {
		wire := Frame(CompressRLE(Escape(data)))
		c := New(bytesConn{bytes.NewReader(wire)})
		c.SetNoAck(true)
		got, err := c.RecvBytes()
		if err != nil {
			t.Fatalf("Recv(%q): %v", wire, err)
		}
		back, err := Unescape(got)
		if err != nil || !bytes.Equal(back, data) {
			t.Fatalf("round trip of %q: wire %q, got %q, %v", data, wire, back, err)
		}
	})
}

// refReadFrame is the obvious byte-at-a-time frame reader that readFrame's
// faster scan must agree with.
func refReadFrame(br *bufio.Reader) (raw []byte, sum byte, err error) {
	var buf []byte
	for {
		b, err := br.ReadByte()
		if err != nil {
			return nil, 0, frameEOF(err)
		}
		switch b {
		case '#':
			var cs [2]byte
			if _, err := io.ReadFull(br, cs[:]); err != nil {
				return nil, 0, frameEOF(err)
			}
			hi, ok1 := unhex(cs[0])
			lo, ok2 := unhex(cs[1])
			if !ok1 || !ok2 {
				return nil, 0, ErrBadChecksumDigits
			}
			return buf, hi<<4 | lo, nil
		case '$':
			buf = buf[:0]
			continue
		case '*':
			buf = append(buf, b)
			if b, err = br.ReadByte(); err != nil {
				return nil, 0, frameEOF(err)
			}
		}
		buf = append(buf, b)
	}
}

// FuzzReadFrame compares readFrame with refReadFrame on the same stream,
// frame after frame.  A small bufio buffer makes frames span reads.
func FuzzReadFrame(f *testing.F) {
	for _, seed := range []string{
		"OK#9a", "x*##00", "O$OK#9a", "a*$b#00", "**#*##00", "$$$#00", "ab*", "#", "*#", "*##", "0* 1*!#00OK#9a",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		c := New(bytesConn{bytes.NewReader(in)})
		c.br = bufio.NewReaderSize(bytesConn{bytes.NewReader(in)}, 16)
		ref := bufio.NewReaderSize(bytes.NewReader(in), 16)
		for i := 0; i < 50; i++ {
			raw, sum, err := c.readFrame('$')
			wantRaw, wantSum, wantErr := refReadFrame(ref)
			if (err != nil) != (wantErr != nil) || err == nil && (!bytes.Equal(raw, wantRaw) || sum != wantSum) {
				t.Fatalf("frame %d of %q: readFrame = %q, %02x, %v; reference %q, %02x, %v", i, in, raw, sum, err, wantRaw, wantSum, wantErr)
			}
			if err != nil {
				return
			}
		}
	})
}
