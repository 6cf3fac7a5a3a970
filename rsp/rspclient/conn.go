// Package rspclient is a small GDB Remote Serial Protocol client for tests
// and benchmarks: it frames packets, handles acknowledgements (until
// QStartNoAckMode), verifies checksums, expands run-length encoding, and lets
// tests send raw bytes and interrupts.
//
// A Conn is not safe for concurrent use, except that Interrupt and Close may
// be called from another goroutine while one goroutine waits in Recv.
//
//	c, err := rspclient.Dial("127.0.0.1:2345", 5*time.Second)
//	if err != nil { ... }
//	defer c.Close()
//	feats, err := c.Supported(rspclient.GDBFeatures)
//	err = c.StartNoAck()
//	reply, err := c.Exchange("?")
//	stop, err := rspclient.ParseStop(reply)
package rspclient

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// DefaultMaxRetransmits is the number of times Send retransmits a packet the
// server answered with '-' before giving up.
const DefaultMaxRetransmits = 5

// DefaultMaxPacket bounds the size of a received packet (before run-length
// expansion), so that a broken server cannot make Recv allocate without end.
const DefaultMaxPacket = 64 << 20

// Errors returned by Conn methods.  They are wrapped; test with errors.Is.
var (
	ErrChecksum          = errors.New("rspclient: bad checksum")
	ErrNak               = errors.New("rspclient: packet refused with '-'")
	ErrUnexpected        = errors.New("rspclient: unexpected byte")
	ErrTooLong           = errors.New("rspclient: packet too long")
	ErrBadChecksumDigits = errors.New("rspclient: checksum is not two hex digits")
)

// Packet is a received packet: a reply ('$') or a notification ('%').
type Packet struct {
	Notification bool   // sent as "%...#cc" (non-stop %Stop and the like)
	Data         []byte // payload, run-length expanded, not unescaped
}

// Conn is a client connection to an RSP server.
type Conn struct {
	// Timeout, when positive, bounds every Send, Recv and Exchange: each sets
	// the connection deadline to now+Timeout before it starts.  With Timeout
	// zero the deadline is whatever SetDeadline last set.
	Timeout time.Duration
	// MaxRetransmits is how often Send resends a packet answered with '-'.
	MaxRetransmits int
	// MaxPacket bounds a received packet's raw size (DefaultMaxPacket).
	MaxPacket int
	// Trace, when set, sees every frame written ('>') and read ('<'), raw
	// bytes included (acks, interrupts, SendRaw data).  It is called from
	// the goroutine doing the I/O, so Interrupt may call it concurrently.
	Trace func(dir byte, data []byte)

	nc    net.Conn
	br    *bufio.Reader
	noAck bool
	wbuf  []byte
	rbuf  []byte
	notes [][]byte

	wmu sync.Mutex // serialises writes (Interrupt may come from another goroutine)
}

// New wraps an established connection (a net.Pipe end in tests).
func New(nc net.Conn) *Conn {
	return &Conn{
		MaxRetransmits: DefaultMaxRetransmits,
		MaxPacket:      DefaultMaxPacket,
		nc:             nc,
		br:             bufio.NewReaderSize(nc, 64<<10),
	}
}

// Dial connects to addr ("host:port") over TCP, retrying every 10ms until the
// port accepts or timeout has passed: a stub that was just started may not be
// listening yet.
func Dial(addr string, timeout time.Duration) (*Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return DialContext(ctx, addr)
}

// DialContext is Dial with a context instead of a timeout.
func DialContext(ctx context.Context, addr string) (*Conn, error) {
	var d net.Dialer
	for {
		nc, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			if tc, ok := nc.(*net.TCPConn); ok {
				tc.SetNoDelay(true)
			}
			return New(nc), nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("rspclient: dial %s: %w", addr, err)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// Close closes the connection.
func (c *Conn) Close() error { return c.nc.Close() }

// NetConn returns the underlying connection.
func (c *Conn) NetConn() net.Conn { return c.nc }

// SetDeadline sets the read and write deadline of the connection (see
// net.Conn).  It is overridden per call while Timeout is positive.
func (c *Conn) SetDeadline(t time.Time) error { return c.nc.SetDeadline(t) }

// NoAck reports whether acknowledgements are off (after StartNoAck, or
// SetNoAck(true)).
func (c *Conn) NoAck() bool { return c.noAck }

// SetNoAck switches ack handling without telling the server; for tests that
// negotiate QStartNoAckMode by hand.
func (c *Conn) SetNoAck(on bool) { c.noAck = on }

// StartNoAck sends QStartNoAckMode and, when the server answers OK, stops
// acknowledging from then on (the OK itself is still acknowledged, as gdb
// does).  Any other answer is returned as an error and acks stay on.
func (c *Conn) StartNoAck() error {
	r, err := c.Exchange("QStartNoAckMode")
	if err != nil {
		return err
	}
	if r != "OK" {
		return fmt.Errorf("rspclient: QStartNoAckMode answered %q", r)
	}
	c.noAck = true
	return nil
}

func (c *Conn) startOp() {
	if c.Timeout > 0 {
		c.nc.SetDeadline(time.Now().Add(c.Timeout))
	}
}

func (c *Conn) write(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.Trace != nil {
		c.Trace('>', b)
	}
	_, err := c.nc.Write(b)
	return err
}

// Send frames payload and sends it.  The payload is sent verbatim: binary
// data must be escaped (see SendBinary and Escape).  With acks on, Send
// waits for the server's '+' and retransmits on '-'.
func (c *Conn) Send(payload string) error {
	c.wbuf = append(append(c.wbuf[:0], '$'), payload...)
	return c.sendFrame()
}

// SendBytes is Send for a []byte payload.
func (c *Conn) SendBytes(payload []byte) error {
	c.wbuf = append(append(c.wbuf[:0], '$'), payload...)
	return c.sendFrame()
}

// SendBinary sends prefix followed by data escaped for binary transfer, e.g.
// SendBinary(fmt.Sprintf("X%x,%x:", addr, len(data)), data).
func (c *Conn) SendBinary(prefix string, data []byte) error {
	c.wbuf = append(append(c.wbuf[:0], '$'), prefix...)
	c.wbuf = AppendEscaped(c.wbuf, data)
	return c.sendFrame()
}

// sendFrame completes c.wbuf, "$" + payload, into a frame and sends it.
func (c *Conn) sendFrame() error {
	c.startOp()
	const hexdigits = "0123456789abcdef"
	cs := Checksum(c.wbuf[1:])
	c.wbuf = append(c.wbuf, '#', hexdigits[cs>>4], hexdigits[cs&15])
	frame := c.wbuf
	for try := 0; ; try++ {
		if err := c.write(frame); err != nil {
			return fmt.Errorf("rspclient: send: %w", err)
		}
		if c.noAck {
			return nil
		}
		b, err := c.readByte()
		if err != nil {
			return fmt.Errorf("rspclient: waiting for ack: %w", err)
		}
		switch b {
		case '+':
			return nil
		case '-':
			if try >= c.MaxRetransmits {
				return fmt.Errorf("%w %d times: %q", ErrNak, try+1, frame)
			}
		default:
			return fmt.Errorf("%w %q while waiting for the ack of %q", ErrUnexpected, b, frame)
		}
	}
}

// SendRaw writes b as it is: no framing, no ack handling.  For malformed
// input tests; read the server's reaction with ReadRawByte or Recv.
func (c *Conn) SendRaw(b []byte) error {
	c.startOp()
	return c.write(b)
}

// Interrupt sends the out-of-band interrupt byte 0x03 (Ctrl-C).  It may be
// called while another goroutine waits in Recv.
func (c *Conn) Interrupt() error {
	return c.write([]byte{0x03})
}

// ReadRawByte reads one byte from the connection, e.g. the '+' or '-' a
// server sends after SendRaw.
func (c *Conn) ReadRawByte() (byte, error) {
	c.startOp()
	return c.readByte()
}

func (c *Conn) readByte() (byte, error) {
	b, err := c.br.ReadByte()
	if err == nil && c.Trace != nil {
		c.Trace('<', []byte{b})
	}
	return b, err
}

// Recv waits for the next reply packet and returns its payload, checksum
// verified and run-length expanded (binary payloads still need Unescape).
// With acks on it acknowledges the packet, or answers '-' to a bad checksum
// and waits for the retransmission.  Notifications that arrive first are
// queued (see Notifications).
func (c *Conn) Recv() (string, error) {
	b, err := c.RecvBytes()
	return string(b), err
}

// RecvBytes is Recv returning a []byte.  The slice stays valid until the
// next call on c.
func (c *Conn) RecvBytes() ([]byte, error) {
	for {
		p, err := c.RecvPacket()
		if err != nil {
			return nil, err
		}
		if !p.Notification {
			return p.Data, nil
		}
		c.notes = append(c.notes, append([]byte(nil), p.Data...))
	}
}

// Notifications returns the notifications queued by Recv and clears the
// queue.
func (c *Conn) Notifications() []string {
	out := make([]string, len(c.notes))
	for i, n := range c.notes {
		out[i] = string(n)
	}
	c.notes = c.notes[:0]
	return out
}

// RecvPacket returns the next packet, reply or notification.  Stray '+'
// bytes are skipped; any other byte outside a packet is an error.
// Notifications are never acknowledged.  The Data slice stays valid until
// the next call on c.
func (c *Conn) RecvPacket() (Packet, error) {
	c.startOp()
	naks := 0
	for {
		b, err := c.br.ReadByte()
		if err != nil {
			return Packet{}, err
		}
		switch b {
		case '$', '%':
		case '+':
			if c.Trace != nil {
				c.Trace('<', []byte{b})
			}
			continue
		default:
			if c.Trace != nil {
				c.Trace('<', []byte{b})
			}
			return Packet{}, fmt.Errorf("%w %q outside a packet", ErrUnexpected, b)
		}
		notify := b == '%'
		raw, sum, err := c.readFrame(b)
		if err != nil {
			return Packet{}, err
		}
		if got := Checksum(raw); got != sum {
			err := fmt.Errorf("%w: %q has sum %02x, frame says %02x", ErrChecksum, raw, got, sum)
			if c.noAck || notify || naks >= c.MaxRetransmits {
				return Packet{}, err
			}
			naks++
			if err := c.write([]byte{'-'}); err != nil {
				return Packet{}, err
			}
			continue
		}
		data, err := ExpandRLE(raw)
		if err != nil {
			return Packet{}, err
		}
		if !c.noAck && !notify {
			if err := c.write([]byte{'+'}); err != nil {
				return Packet{}, err
			}
		}
		return Packet{Notification: notify, Data: data}, nil
	}
}

// readFrame reads the rest of a frame after its '$' or '%': the raw payload
// up to '#' and the two checksum digits.  As in gdb, the byte after a '*' is
// a repeat count even when it is '#'.  A '$' inside the frame restarts it
// (the server gave up on the previous one).
func (c *Conn) readFrame(start byte) (raw []byte, sum byte, err error) {
	buf := c.rbuf[:0]
	defer func() { c.rbuf = buf[:0] }()
	count := false // the next byte is a run-length count
	for {
		// Read up to the next '#' in one go; scan what came for '*' counts
		// (after which a '#' does not end the frame) and restarting '$'.
		seg, err := c.br.ReadSlice('#')
		if err != nil && err != bufio.ErrBufferFull {
			return nil, 0, frameEOF(err)
		}
		from := len(buf)
		buf = append(buf, seg...)
		var end bool
		if bytes.IndexByte(seg, '$') < 0 {
			end, count = scanSegment(buf, from, count)
		} else {
			buf, end, count = scanSegmentSlow(buf, from, count)
		}
		if end {
			buf = buf[:len(buf)-1]
			break
		}
		if len(buf) > c.maxPacket() {
			return nil, 0, fmt.Errorf("%w: more than %d bytes", ErrTooLong, c.maxPacket())
		}
	}
	var cs [2]byte
	if _, err := io.ReadFull(c.br, cs[:]); err != nil {
		return nil, 0, frameEOF(err)
	}
	if c.Trace != nil {
		c.Trace('<', append(append(append([]byte{start}, buf...), '#'), cs[:]...))
	}
	hi, ok1 := unhex(cs[0])
	lo, ok2 := unhex(cs[1])
	if !ok1 || !ok2 {
		return nil, 0, fmt.Errorf("%w: %q", ErrBadChecksumDigits, cs[:])
	}
	return buf, hi<<4 | lo, nil
}

// scanSegment scans buf[from:], which holds no '$' and ends at the first
// '#' read (if any), for run-length markers.  count says that buf[from] is a
// repeat count.  It reports whether the final '#' ends the frame (it does not
// when it is a count) and whether the byte after buf is a count.
func scanSegment(buf []byte, from int, count bool) (end, countNext bool) {
	i := from
	if count {
		i++
	}
	for {
		j := bytes.IndexByte(buf[i:], '*')
		if j < 0 {
			break
		}
		i += j + 2
		if i > len(buf) {
			return false, true // '*' is the last byte
		}
	}
	return i < len(buf) && buf[len(buf)-1] == '#', false
}

// scanSegmentSlow is scanSegment for a segment with a '$' in it: a '$' that
// is not a count restarts the frame, dropping what came before it.
func scanSegmentSlow(buf []byte, from int, count bool) (out []byte, end, countNext bool) {
	for i := from; i < len(buf); i++ {
		if count {
			count = false
			continue
		}
		switch buf[i] {
		case '*':
			count = true
		case '$':
			n := copy(buf, buf[i+1:])
			buf = buf[:n]
			i = -1
		case '#':
			end = true // ReadSlice stops at '#': this is the last byte
		}
	}
	return buf, end, count
}

func (c *Conn) maxPacket() int {
	if c.MaxPacket > 0 {
		return c.MaxPacket
	}
	return DefaultMaxPacket
}

func frameEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

func unhex(b byte) (byte, bool) {
	switch {
	case b >= '0' && b <= '9':
		return b - '0', true
	case b >= 'a' && b <= 'f':
		return b - 'a' + 10, true
	case b >= 'A' && b <= 'F':
		return b - 'A' + 10, true
	}
	return 0, false
}

// Exchange sends payload and returns the reply (Send then Recv).
func (c *Conn) Exchange(payload string) (string, error) {
	if err := c.Send(payload); err != nil {
		return "", err
	}
	return c.Recv()
}

// ExchangeBytes is Exchange for []byte; the result is valid until the next
// call on c.
func (c *Conn) ExchangeBytes(payload []byte) ([]byte, error) {
	if err := c.SendBytes(payload); err != nil {
		return nil, err
	}
	return c.RecvBytes()
}

// Exchangef formats a payload with fmt.Sprintf and exchanges it.
func (c *Conn) Exchangef(format string, args ...any) (string, error) {
	return c.Exchange(fmt.Sprintf(format, args...))
}
