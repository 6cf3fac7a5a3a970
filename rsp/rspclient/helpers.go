package rspclient

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
)

// GDBFeatures is the qSupported payload gdb 13.1 sends on x86-64, verbatim
// (INVENTORY.md §2).
const GDBFeatures = "qSupported:multiprocess+;swbreak+;hwbreak+;qRelocInsn+;fork-events+;vfork-events+;exec-events+;vContSupported+;QThreadEvents+;no-resumed+;memory-tagging+;xmlRegisters=i386"

// Features is a parsed qSupported reply: "name+" maps to "+", "name-" to
// "-", "name=value" to value.
type Features map[string]string

// ParseFeatures parses a qSupported reply.
func ParseFeatures(reply string) Features {
	f := Features{}
	for _, item := range strings.Split(reply, ";") {
		if item == "" {
			continue
		}
		if name, val, ok := strings.Cut(item, "="); ok {
			f[name] = val
			continue
		}
		switch last := item[len(item)-1]; last {
		case '+', '-', '?':
			f[item[:len(item)-1]] = string(last)
		default:
			f[item] = ""
		}
	}
	return f
}

// Has reports whether the feature is present as "name+".
func (f Features) Has(name string) bool { return f[name] == "+" }

// PacketSize returns the PacketSize feature (hex, as gdbserver and the
// manual have it), or 0 when it is missing or malformed.
func (f Features) PacketSize() int {
	n, err := strconv.ParseUint(f["PacketSize"], 16, 31)
	if err != nil {
		return 0
	}
	return int(n)
}

// Supported sends "qSupported" or a full "qSupported:..." payload (for
// example GDBFeatures) and parses the reply.
func (c *Conn) Supported(payload string) (Features, error) {
	r, err := c.Exchange(payload)
	if err != nil {
		return nil, err
	}
	if r == "" || strings.HasPrefix(r, "E") && len(r) == 3 {
		return nil, fmt.Errorf("rspclient: %s answered %q", payload, r)
	}
	return ParseFeatures(r), nil
}

// Stop is a parsed stop reply: T, S, W, X or N.
type Stop struct {
	Kind   byte   // 'T', 'S', 'W' (exited), 'X' (killed by signal), 'N' (no resumed)
	Signal int    // T/S/X: gdb signal number; W: exit status
	Reason string // "swbreak", "hwbreak", "watch", "fork", "exec", ... or ""
	Value  string // the reason's value (watch address, fork thread id, ...)
	Thread string // "thread:" value, e.g. "p1e1d.1e1d", or ""
	PID    int    // from thread:pP.T or W/X ";process:P"; -1 when absent
	TID    int    // from thread:; -1 when absent
	Regs   map[int][]byte
	Pairs  [][2]string // every n:r pair of a T reply, in order
}

// ParseStop parses a stop reply such as
// "T05swbreak:;06:...;07:...;10:...;thread:p1e1d.1e1d;core:1;" or
// "W00;process:1e1d".
func ParseStop(reply string) (Stop, error) {
	s := Stop{PID: -1, TID: -1}
	if len(reply) < 1 {
		return s, fmt.Errorf("rspclient: empty stop reply")
	}
	s.Kind = reply[0]
	switch s.Kind {
	case 'N':
		return s, nil
	case 'T', 'S', 'W', 'X':
	default:
		return s, fmt.Errorf("rspclient: not a stop reply: %q", reply)
	}
	rest := reply[1:]
	num := rest
	if i := strings.IndexByte(rest, ';'); i >= 0 {
		num = rest[:i]
	}
	if s.Kind == 'T' || s.Kind == 'S' {
		if len(rest) < 2 {
			return s, fmt.Errorf("rspclient: short stop reply %q", reply)
		}
		num = rest[:2]
	}
	n, err := strconv.ParseUint(num, 16, 32)
	if err != nil {
		return s, fmt.Errorf("rspclient: stop reply %q: bad number %q", reply, num)
	}
	s.Signal = int(n)
	rest = rest[len(num):]
	if s.Kind == 'W' || s.Kind == 'X' {
		if v, ok := strings.CutPrefix(rest, ";process:"); ok {
			p, err := strconv.ParseUint(v, 16, 32)
			if err != nil {
				return s, fmt.Errorf("rspclient: stop reply %q: bad process", reply)
			}
			s.PID = int(p)
		}
		return s, nil
	}
	for _, pair := range strings.Split(rest, ";") {
		if pair == "" {
			continue
		}
		name, val, ok := strings.Cut(pair, ":")
		if !ok {
			return s, fmt.Errorf("rspclient: stop reply %q: bad pair %q", reply, pair)
		}
		s.Pairs = append(s.Pairs, [2]string{name, val})
		if regno, err := strconv.ParseUint(name, 16, 16); err == nil && isHex(name) {
			b, err := hex.DecodeString(val)
			if err != nil {
				// "xx" for an unavailable register: keep it absent.
				continue
			}
			if s.Regs == nil {
				s.Regs = map[int][]byte{}
			}
			s.Regs[int(regno)] = b
			continue
		}
		switch name {
		case "thread":
			s.Thread = val
			s.PID, s.TID, err = ParseThreadID(val)
			if err != nil {
				return s, fmt.Errorf("rspclient: stop reply %q: %v", reply, err)
			}
		case "core":
		default:
			if s.Reason == "" {
				s.Reason, s.Value = name, val
			}
		}
	}
	return s, nil
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if _, ok := unhex(s[i]); !ok {
			return false
		}
	}
	return s != ""
}

// ParseThreadID parses "pP.T", "pP", or "T" (hex; "-1" is -1).  A missing
// part is returned as -1.
func ParseThreadID(id string) (pid, tid int, err error) {
	pid, tid = -1, -1
	parse := func(s string) (int, error) {
		if s == "-1" {
			return -1, nil
		}
		n, err := strconv.ParseUint(s, 16, 32)
		if err != nil {
			return 0, fmt.Errorf("bad thread id %q", id)
		}
		return int(n), nil
	}
	if rest, ok := strings.CutPrefix(id, "p"); ok {
		p, t, dot := strings.Cut(rest, ".")
		if pid, err = parse(p); err != nil {
			return
		}
		if dot {
			tid, err = parse(t)
		}
		return
	}
	tid, err = parse(id)
	return
}

// Reg returns the little-endian value of expedited register regno (0x10 is
// rip on amd64), and whether the reply carried it.
func (s Stop) Reg(regno int) (uint64, bool) {
	b, ok := s.Regs[regno]
	if !ok || len(b) > 8 {
		return 0, false
	}
	var v uint64
	for i := len(b) - 1; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v, true
}

// ReplyError is an error reply: "Enn" (Code set) or "E.text" (Text set).
type ReplyError struct {
	Reply string
	Code  int // -1 for the E.text form
	Text  string
}

func (e *ReplyError) Error() string { return "rspclient: error reply " + strconv.Quote(e.Reply) }

// AsError returns a *ReplyError when reply is an error reply ("Enn", two
// hex digits, or "E.text"), and nil otherwise.
func AsError(reply string) error {
	if len(reply) < 2 || reply[0] != 'E' {
		return nil
	}
	if reply[1] == '.' {
		return &ReplyError{Reply: reply, Code: -1, Text: reply[2:]}
	}
	if len(reply) == 3 && isHex(reply[1:]) {
		n, _ := strconv.ParseUint(reply[1:], 16, 8)
		return &ReplyError{Reply: reply, Code: int(n)}
	}
	return nil
}

// ReadMemory reads n bytes at addr with one 'm' packet.  An error reply is
// returned as a *ReplyError; a reply of the wrong length is an error too.
func (c *Conn) ReadMemory(addr uint64, n int) ([]byte, error) {
	r, err := c.ExchangeBytes(fmt.Appendf(nil, "m%x,%x", addr, n))
	if err != nil {
		return nil, err
	}
	if err := AsError(string(r)); err != nil {
		return nil, err
	}
	if len(r) != 2*n {
		return nil, fmt.Errorf("rspclient: m%x,%x: got %d hex digits, want %d", addr, n, len(r), 2*n)
	}
	out := make([]byte, n)
	if _, err := hex.Decode(out, r); err != nil {
		return nil, fmt.Errorf("rspclient: m%x,%x: %v", addr, n, err)
	}
	return out, nil
}

// WriteMemory writes data at addr with one binary 'X' packet and expects OK.
func (c *Conn) WriteMemory(addr uint64, data []byte) error {
	if err := c.SendBinary(fmt.Sprintf("X%x,%x:", addr, len(data)), data); err != nil {
		return err
	}
	r, err := c.Recv()
	if err != nil {
		return err
	}
	if r != "OK" {
		if err := AsError(r); err != nil {
			return err
		}
		return fmt.Errorf("rspclient: X%x,%x: answered %q", addr, len(data), r)
	}
	return nil
}
