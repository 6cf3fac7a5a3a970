package rspclient

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// Framing and payload encodings of the GDB Remote Serial Protocol.
//
// On the wire a packet is "$" payload "#" cc, where cc is the modulo-256 sum
// of the payload bytes in two hex digits.  Notifications use "%" instead of
// "$".  A reply payload may be run-length encoded ("X*n" = X repeated n-29
// more times); binary data inside a payload escapes '#', '$', '}' and '*' as
// '}' followed by the byte XOR 0x20.  Decoding undoes the run-length encoding
// first and the escaping second; encoding does the opposite.

// Escape byte and the XOR applied to escaped bytes.
const (
	escapeByte = '}'
	escapeXor  = 0x20
)

// Errors returned by the decoders.
var (
	ErrBadRLE    = errors.New("rspclient: invalid run-length encoding")
	ErrBadEscape = errors.New("rspclient: '}' escape at end of data")
)

// Checksum returns the RSP checksum of data: the sum of its bytes modulo 256.
func Checksum(data []byte) byte {
	// Eight bytes at a time: add the even and the odd bytes of each word into
	// four 16-bit lanes, folding the lanes before they can overflow.
	const mask = 0x00ff00ff00ff00ff
	var s uint64
	for len(data) >= 8 {
		n := min(len(data)/8, 128) // 128 * 2 * 255 < 1<<16
		var acc uint64
		for k := 0; k < n; k++ {
			v := binary.LittleEndian.Uint64(data[8*k:])
			acc += v&mask + (v>>8)&mask
		}
		s += acc&0xffff + (acc>>16)&0xffff + (acc>>32)&0xffff + acc>>48
		data = data[8*n:]
	}
	for _, b := range data {
		s += uint64(b)
	}
	return byte(s)
}

// Frame returns "$" + payload + "#" + checksum.  The payload is used as is:
// escape binary data with Escape first.
func Frame(payload []byte) []byte {
	return appendFrame(make([]byte, 0, len(payload)+4), '$', payload)
}

func appendFrame(dst []byte, start byte, payload []byte) []byte {
	const hexdigits = "0123456789abcdef"
	cs := Checksum(payload)
	dst = append(dst, start)
	dst = append(dst, payload...)
	return append(dst, '#', hexdigits[cs>>4], hexdigits[cs&15])
}

// needsEscape reports whether b must be escaped in binary data.
func needsEscape(b byte) bool {
	return b == '#' || b == '$' || b == escapeByte || b == '*'
}

// Escape returns data with '#', '$', '}' and '*' escaped as '}' followed by
// the byte XOR 0x20, as binary data in X, vFile:pwrite and similar packets
// must be.
func Escape(data []byte) []byte {
	return AppendEscaped(make([]byte, 0, len(data)+len(data)/16), data)
}

// AppendEscaped appends the escaped form of data to dst (see Escape).
func AppendEscaped(dst, data []byte) []byte {
	for _, b := range data {
		if needsEscape(b) {
			dst = append(dst, escapeByte, b^escapeXor)
		} else {
			dst = append(dst, b)
		}
	}
	return dst
}

// Unescape undoes Escape: every '}' is dropped and the byte after it is
// XORed with 0x20.  Use it on binary replies (qXfer, vFile:pread, X-style
// data) after Recv, which has already expanded run-length encoding.
func Unescape(data []byte) ([]byte, error) {
	out := make([]byte, 0, len(data))
	for i := 0; i < len(data); i++ {
		b := data[i]
		if b == escapeByte {
			i++
			if i == len(data) {
				return out, ErrBadEscape
			}
			b = data[i] ^ escapeXor
		}
		out = append(out, b)
	}
	return out, nil
}

// ExpandRLE expands the run-length encoding of a raw packet payload (the
// bytes between '$' and '#'): "X*n" stands for X followed by n-29 more
// copies of X.  Like gdb, it rejects a '*' with no preceding byte or with a
// count byte below 30 (a repeat of zero or less).
func ExpandRLE(raw []byte) ([]byte, error) {
	star := bytes.IndexByte(raw, '*')
	if star < 0 {
		return raw, nil // nothing to expand
	}
	out := make([]byte, 0, len(raw)*2)
	for i := 0; i < len(raw); i++ {
		// Copy up to the next '*'.
		j := bytes.IndexByte(raw[i:], '*')
		if j < 0 {
			out = append(out, raw[i:]...)
			break
		}
		out = append(out, raw[i:i+j]...)
		i += j
		if len(out) == 0 {
			return nil, fmt.Errorf("%w: '*' at offset %d repeats nothing", ErrBadRLE, i)
		}
		if i+1 >= len(raw) {
			return nil, fmt.Errorf("%w: '*' at offset %d has no count", ErrBadRLE, i)
		}
		i++
		n := int(raw[i]) - 29
		if n <= 0 {
			return nil, fmt.Errorf("%w: count byte %#02x at offset %d", ErrBadRLE, raw[i], i)
		}
		prev := out[len(out)-1]
		for ; n > 0; n-- {
			out = append(out, prev)
		}
	}
	return out, nil
}

// CompressRLE run-length encodes payload the way gdbserver does: a run of
// more than three identical bytes becomes the byte, '*' and a count byte
// n+29, never choosing a count byte of '#' or '$' (runs of 7 or 8), and never
// longer than 97 repeats (count byte '~').  ExpandRLE(CompressRLE(p)) == p for
// every p that does not itself contain '*' (escape binary data first).  Fake
// servers in tests use it.
func CompressRLE(payload []byte) []byte {
	out := make([]byte, 0, len(payload))
	for i := 0; i < len(payload); {
		b := payload[i]
		out = append(out, b)
		run := 0 // copies of b after the first
		for i+1+run < len(payload) && payload[i+1+run] == b && run < 126-29 {
			run++
		}
		// The count byte is run+29; '#' (35) and '$' (36) are forbidden, so
		// shorten runs of 6 and 7 to 5.  Runs below 3 are cheaper verbatim.
		if run == 6 || run == 7 {
			run = 5
		}
		if run >= 3 {
			out = append(out, '*', byte(run+29))
		} else {
			for k := 0; k < run; k++ {
				out = append(out, b)
			}
		}
		i += 1 + run
	}
	return out
}
