package integration

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// gdbQSupported is the qSupported packet gdb 13.1 sends (INVENTORY §2).
const gdbQSupported = "qSupported:multiprocess+;swbreak+;hwbreak+;qRelocInsn+;fork-events+;vfork-events+;exec-events+;vContSupported+;QThreadEvents+;no-resumed+;memory-tagging+;xmlRegisters=i386"

// rspConn is a small GDB Remote Serial Protocol client for tests that need
// to send exactly the bytes they want: framing, acks, RLE expansion, raw
// writes.  Every read has a deadline; failures end the test.
type rspConn struct {
	t    testing.TB
	kind StubKind
	conn net.Conn
	r    *bufio.Reader
	// Ack is true while acks are exchanged (until QStartNoAckMode is OK).
	Ack bool
	// Timeout bounds each read of an ack or a reply.
	Timeout time.Duration
	// StrayAcks counts '+' bytes received in no-ack mode.  Reads skip them
	// (gdb and LLDB do too); TestRSPNoAckMode requires none.
	StrayAcks int
}

// dialRSP connects to the stub; cleanup closes the connection.
func dialRSP(t testing.TB, s *Stub) *rspConn {
	t.Helper()
	conn, err := net.DialTimeout("tcp", s.Addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s at %s: %v", s.Kind, s.Addr, err)
	}
	c := &rspConn{t: t, kind: s.Kind, conn: conn, r: bufio.NewReaderSize(conn, 1<<16), Ack: true, Timeout: 5 * time.Second}
	t.Cleanup(func() { conn.Close() })
	return c
}

// Close closes the connection (the stub sees EOF).
func (c *rspConn) Close() { c.conn.Close() }

func rspChecksum(payload string) string {
	var sum byte
	for i := 0; i < len(payload); i++ {
		sum += payload[i]
	}
	return fmt.Sprintf("%02x", sum)
}

// rspFrame returns "$payload#cs".
func rspFrame(payload string) string { return "$" + payload + "#" + rspChecksum(payload) }

// rspEscape escapes binary data for X/vFile packets: # $ } * as } (b ^ 0x20).
func rspEscape(data []byte) string {
	var sb strings.Builder
	for _, b := range data {
		switch b {
		case '#', '$', '}', '*':
			sb.WriteByte('}')
			sb.WriteByte(b ^ 0x20)
		default:
			sb.WriteByte(b)
		}
	}
	return sb.String()
}

// WriteRaw sends bytes as they are.
func (c *rspConn) WriteRaw(data string) {
	c.t.Helper()
	_ = c.conn.SetWriteDeadline(time.Now().Add(c.Timeout))
	if _, err := c.conn.Write([]byte(data)); err != nil {
		c.t.Fatalf("write to %s: %v", c.kind, err)
	}
}

// Send frames and sends payload; in ack mode it requires the '+'.
func (c *rspConn) Send(payload string) {
	c.t.Helper()
	c.WriteRaw(rspFrame(payload))
	if c.Ack {
		if a := c.ReadAck(); a != '+' {
			c.t.Fatalf("%s answered %s with %q, want '+'", c.kind, abbrev(payload), a)
		}
	}
}

// ReadAck reads one byte that must be '+' or '-' and returns it.
func (c *rspConn) ReadAck() byte {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(c.Timeout))
	b, err := c.r.ReadByte()
	if err != nil {
		c.t.Fatalf("reading an ack from %s: %v", c.kind, err)
	}
	if b != '+' && b != '-' {
		c.t.Fatalf("%s sent %q where an ack was due", c.kind, b)
	}
	return b
}

// Read reads the next packet (acking it in ack mode) and returns its payload
// with run-length encoding expanded.  Timeout or EOF fails the test.
func (c *rspConn) Read() string {
	c.t.Helper()
	p, err := c.TryRead(c.Timeout)
	if err != nil {
		c.t.Fatalf("reading a packet from %s: %v", c.kind, err)
	}
	return p
}

// TryRead is Read with an explicit timeout and the error returned.
func (c *rspConn) TryRead(timeout time.Duration) (string, error) {
	_ = c.conn.SetReadDeadline(time.Now().Add(timeout))
	for {
		b, err := c.r.ReadByte()
		if err != nil {
			return "", err
		}
		if b == '$' {
			break
		}
		if b == '+' {
			if !c.Ack {
				c.StrayAcks++
			}
			continue
		}
		return "", fmt.Errorf("unexpected byte %q before a packet", b)
	}
	body, err := c.r.ReadString('#')
	if err != nil {
		return "", err
	}
	body = body[:len(body)-1]
	var cs [2]byte
	for i := range cs {
		if cs[i], err = c.r.ReadByte(); err != nil {
			return "", err
		}
	}
	if want := rspChecksum(body); !strings.EqualFold(string(cs[:]), want) {
		return "", fmt.Errorf("bad checksum %q on %s (want %s)", cs, abbrev(body), want)
	}
	if c.Ack {
		c.WriteRaw("+")
	}
	return rspExpandRLE(body)
}

// rspExpandRLE expands "c*n": c repeated n-29 more times.
func rspExpandRLE(s string) (string, error) {
	if !strings.Contains(s, "*") {
		return s, nil
	}
	var sb strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '*' {
			if i == 0 || i+1 >= len(s) {
				return "", fmt.Errorf("bad run-length encoding in %q", abbrev(s))
			}
			n := int(s[i+1]) - 29
			if n < 3 || n > 97 {
				return "", fmt.Errorf("bad run length %d in %q", n, abbrev(s))
			}
			sb.WriteString(strings.Repeat(string(s[i-1]), n))
			i++
			continue
		}
		sb.WriteByte(s[i])
	}
	return sb.String(), nil
}

// Request sends payload and returns the reply.
func (c *rspConn) Request(payload string) string {
	c.t.Helper()
	c.Send(payload)
	return c.Read()
}

// ExpectSilence fails the test if the stub sends anything within d.
func (c *rspConn) ExpectSilence(d time.Duration, why string) {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(d))
	b, err := c.r.ReadByte()
	if err == nil {
		rest := make([]byte, c.r.Buffered())
		n, _ := c.r.Read(rest)
		c.t.Fatalf("%s sent %q %s", c.kind, string(b)+string(rest[:n]), why)
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		c.t.Fatalf("%s: %v %s", c.kind, err, why)
	}
}

// WaitStop reads until a stop reply (T, S, W, X), skipping console output
// packets (O...), and returns it.
func (c *rspConn) WaitStop(timeout time.Duration) string {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		p, err := c.TryRead(time.Until(deadline))
		if err != nil {
			c.t.Fatalf("waiting for a stop reply from %s: %v", c.kind, err)
		}
		if strings.HasPrefix(p, "O") && p != "OK" {
			continue
		}
		if p == "" || !strings.ContainsRune("TSWX", rune(p[0])) {
			c.t.Fatalf("%s sent %q where a stop reply was due", c.kind, abbrev(p))
		}
		return p
	}
}

// Handshake does what gdb does first: qSupported, QStartNoAckMode (if
// noAck), Hgp0.0 and `?`.  It returns the features and the stop reply.
func (c *rspConn) Handshake(noAck bool) (features map[string]string, stop string) {
	c.t.Helper()
	sup := c.Request(gdbQSupported)
	features = map[string]string{}
	for _, f := range strings.Split(sup, ";") {
		if k, v, ok := strings.Cut(f, "="); ok {
			features[k] = v
		} else if f != "" {
			features[f[:len(f)-1]] = f[len(f)-1:]
		}
	}
	if _, ok := features["PacketSize"]; !ok {
		c.t.Fatalf("%s: qSupported reply without PacketSize: %q", c.kind, abbrev(sup))
	}
	if noAck {
		if r := c.Request("QStartNoAckMode"); r != "OK" {
			c.t.Fatalf("%s: QStartNoAckMode -> %q", c.kind, r)
		}
		c.Ack = false
	}
	if r := c.Request("Hgp0.0"); r != "OK" {
		c.t.Fatalf("%s: Hgp0.0 -> %q", c.kind, r)
	}
	stop = c.Request("?")
	if !strings.HasPrefix(stop, "T") {
		c.t.Fatalf("%s: ? -> %q, want a T stop reply", c.kind, abbrev(stop))
	}
	return features, stop
}

// PacketSize returns the PacketSize the stub announced.
func packetSize(t testing.TB, features map[string]string) int {
	t.Helper()
	n, err := strconv.ParseUint(features["PacketSize"], 16, 32)
	if err != nil || n == 0 {
		t.Fatalf("PacketSize=%q: %v", features["PacketSize"], err)
	}
	return int(n)
}

// stopRegister returns the expedited register regnum (hex, as in the stop
// reply: "07" is rsp, "10" rip) of a T stop reply, little endian.
func stopRegister(t testing.TB, stop, regnum string) uint64 {
	t.Helper()
	for _, f := range strings.Split(stop[3:], ";") {
		if k, v, ok := strings.Cut(f, ":"); ok && k == regnum {
			b, err := hex.DecodeString(v)
			if err != nil || len(b) != 8 {
				t.Fatalf("register %s in %q: %v", regnum, abbrev(stop), err)
			}
			return binary.LittleEndian.Uint64(b)
		}
	}
	t.Fatalf("no register %s in stop reply %q", regnum, abbrev(stop))
	return 0
}

// mapping is one line of /proc/PID/maps.
type mapping struct {
	Start, End uint64
	Perms      string
	Name       string
}

func procMaps(t testing.TB, pid int) []mapping {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		t.Fatal(err)
	}
	var ms []mapping
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(l)
		if len(f) < 5 {
			continue
		}
		lo, hi, _ := strings.Cut(f[0], "-")
		start, _ := strconv.ParseUint(lo, 16, 64)
		end, _ := strconv.ParseUint(hi, 16, 64)
		m := mapping{Start: start, End: end, Perms: f[1]}
		if len(f) >= 6 {
			m.Name = f[5]
		}
		ms = append(ms, m)
	}
	return ms
}

func abbrev(s string) string {
	if len(s) > 120 {
		return fmt.Sprintf("%s...(%d bytes)", s[:100], len(s))
	}
	return s
}
