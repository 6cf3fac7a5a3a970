package rsp

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	log "github.com/sirupsen/logrus"
)

// MaxPacket is the largest packet body we accept, announced as PacketSize.
// gdb sizes its m, X and vFile:pread requests from it.
const MaxPacket = 0x47ff

// Packet is one unit read from the client.
type Packet struct {
	// Data is the body between '$' and '#', still escaped.
	Data []byte
	// Interrupt is a bare 0x03 byte outside any packet.
	Interrupt bool
	// TooLong marks a body longer than MaxPacket; Data is then empty.
	TooLong bool
}

// Conn frames packets over a byte stream: checksums, acks and
// retransmission, run-length encoding of replies, the out-of-band interrupt.
// One goroutine reads; any goroutine may write.
type Conn struct {
	r       *bufio.Reader
	w       io.Writer
	watcher InputWatcher // nil: read through a goroutine

	wmu  sync.Mutex
	last []byte // last frame written, resent on '-'
	wbuf []byte

	noAck atomic.Bool
	// RemoteDebug logs every packet in and out.
	RemoteDebug atomic.Bool
}

// NewConn frames packets over rw.
func NewConn(r io.Reader, w io.Writer) *Conn {
	c := &Conn{r: bufio.NewReaderSize(r, 2*MaxPacket), w: w}
	c.watcher, _ = r.(InputWatcher)
	return c
}

// InputWatcher is a link that can report the client's Ctrl-C (or its
// going away) while the session thread waits for the program, so the
// session reads the link itself instead of through a reader goroutine.
type InputWatcher interface {
	// Watch calls interrupt when the client sends 0x03 or disconnects,
	// until stop is called. Bytes that arrive meanwhile stay readable.
	Watch(interrupt func()) (stop func())
}

// bufferedInterrupt reports a 0x03 among the bytes read but not consumed.
func (c *Conn) bufferedInterrupt() bool {
	b, _ := c.r.Peek(c.r.Buffered())
	return bytes.IndexByte(b, 0x03) >= 0
}

// SetNoAck stops acknowledgements in both directions (QStartNoAckMode).
func (c *Conn) SetNoAck() { c.noAck.Store(true) }

// NoAck reports whether acknowledgements are off.
func (c *Conn) NoAck() bool { return c.noAck.Load() }

// ReadPacket returns the next packet or interrupt. A packet with a bad
// checksum is NAKed and skipped while acks are on; the client resends it.
func (c *Conn) ReadPacket() (Packet, error) {
	for {
		b, err := c.r.ReadByte()
		if err != nil {
			return Packet{}, err
		}
		switch b {
		case '$':
			pkt, ok, err := c.readBody()
			if err != nil {
				return Packet{}, err
			}
			if !c.noAck.Load() {
				ack := byte('+')
				if !ok {
					ack = '-'
				}
				if err := c.writeRaw([]byte{ack}); err != nil {
					return Packet{}, err
				}
				if !ok {
					log.WithField("packet", string(pkt.Data)).Debug("bad checksum, NAK sent")
					continue
				}
			}
			if c.RemoteDebug.Load() {
				log.WithField("packet", printable(pkt.Data)).Info("getpkt")
			}
			return pkt, nil
		case 0x03:
			if c.RemoteDebug.Load() {
				log.Info("getpkt: interrupt")
			}
			return Packet{Interrupt: true}, nil
		case '-':
			if !c.noAck.Load() {
				if err := c.resend(); err != nil {
					return Packet{}, err
				}
			}
		default:
			// '+' acks and line noise between packets.
		}
	}
}

// readBody reads after '$' through the checksum. ok is false on a checksum
// mismatch.
func (c *Conn) readBody() (Packet, bool, error) {
	var body []byte
	var sum byte
	tooLong := false
	for {
		b, err := c.r.ReadByte()
		if err != nil {
			return Packet{}, false, err
		}
		if b == '#' {
			break
		}
		if b == '$' {
			// A new packet started: the client gave up on this one.
			body, sum, tooLong = body[:0], 0, false
			continue
		}
		sum += b
		if len(body) < MaxPacket {
			body = append(body, b)
		} else {
			tooLong = true
		}
	}
	var cs [2]byte
	if _, err := io.ReadFull(c.r, cs[:]); err != nil {
		return Packet{}, false, err
	}
	want, err := parseHexByte(cs[0], cs[1])
	if tooLong {
		return Packet{TooLong: true}, err == nil && want == sum, nil
	}
	return Packet{Data: body}, err == nil && want == sum, nil
}

func parseHexByte(hi, lo byte) (byte, error) {
	h, ok1 := unhex(hi)
	l, ok2 := unhex(lo)
	if !ok1 || !ok2 {
		return 0, errors.New("bad hex digit")
	}
	return h<<4 | l, nil
}

// WritePacket sends one reply, run-length encoded. The payload must already
// be escaped where it carries binary data.
func (c *Conn) WritePacket(payload []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.RemoteDebug.Load() {
		log.WithField("packet", printable(payload)).Info("putpkt")
	}
	frame := c.wbuf[:0]
	frame = append(frame, '$')
	frame = appendRLE(frame, payload)
	var sum byte
	for _, b := range frame[1:] {
		sum += b
	}
	frame = append(frame, '#', hexDigits[sum>>4], hexDigits[sum&15])
	c.wbuf = frame
	if !c.noAck.Load() {
		c.last = append(c.last[:0], frame...)
	}
	_, err := c.w.Write(frame)
	if err != nil {
		return fmt.Errorf("write packet: %w", err)
	}
	return nil
}

// WriteNotification sends an asynchronous notification (%Name:data#cs);
// notifications are never acknowledged.
func (c *Conn) WriteNotification(name string, data []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.RemoteDebug.Load() {
		log.WithField("notification", name+":"+printable(data)).Info("putpkt")
	}
	frame := append([]byte{'%'}, name...)
	frame = append(frame, ':')
	frame = appendRLE(frame, escapeBinary(nil, data))
	var sum byte
	for _, b := range frame[1:] {
		sum += b
	}
	frame = append(frame, '#', hexDigits[sum>>4], hexDigits[sum&15])
	if _, err := c.w.Write(frame); err != nil {
		return fmt.Errorf("write notification: %w", err)
	}
	return nil
}

func (c *Conn) writeRaw(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_, err := c.w.Write(b)
	return err
}

func (c *Conn) resend() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if len(c.last) == 0 {
		return nil
	}
	_, err := c.w.Write(c.last)
	return err
}

func printable(b []byte) string {
	const max = 512
	s := b
	if len(s) > max {
		s = s[:max]
	}
	out := make([]byte, 0, len(s))
	for _, c := range s {
		if c >= 0x20 && c < 0x7f {
			out = append(out, c)
		} else {
			out = append(out, '\\', 'x', hexDigits[c>>4], hexDigits[c&15])
		}
	}
	if len(b) > max {
		out = fmt.Appendf(out, "...[%d bytes]", len(b))
	}
	return string(out)
}
