package rsp

import (
	"errors"
	"strconv"
)

const hexDigits = "0123456789abcdef"

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// appendHex appends b as lower-case hex.
func appendHex(dst, b []byte) []byte {
	for _, c := range b {
		dst = append(dst, hexDigits[c>>4], hexDigits[c&15])
	}
	return dst
}

var errBadHex = errors.New("invalid hex data")

// decodeHex decodes an even-length hex string.
func decodeHex(s []byte) ([]byte, error) {
	if len(s)%2 != 0 {
		return nil, errBadHex
	}
	out := make([]byte, len(s)/2)
	for i := range out {
		b, err := parseHexByte(s[2*i], s[2*i+1])
		if err != nil {
			return nil, errBadHex
		}
		out[i] = b
	}
	return out, nil
}

// parseHex parses a non-empty hex number of at most 64 bits.
func parseHex(s []byte) (uint64, error) {
	if len(s) == 0 || len(s) > 16 {
		return 0, errBadHex
	}
	var v uint64
	for _, c := range s {
		d, ok := unhex(c)
		if !ok {
			return 0, errBadHex
		}
		v = v<<4 | uint64(d)
	}
	return v, nil
}

// parseHexInt parses a hex number that must fit an int.
func parseHexInt(s []byte) (int, error) {
	v, err := parseHex(s)
	if err != nil || v > 1<<31 {
		return 0, errBadHex
	}
	return int(v), nil
}

// escapeBinary escapes the bytes the framing reserves: # $ } *.
func escapeBinary(dst, b []byte) []byte {
	for _, c := range b {
		switch c {
		case '#', '$', '}', '*':
			dst = append(dst, '}', c^0x20)
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

// unescapeBinary undoes escapeBinary; a trailing lone '}' is an error.
func unescapeBinary(b []byte) ([]byte, error) {
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		if b[i] == '}' {
			i++
			if i == len(b) {
				return nil, errors.New("truncated escape")
			}
			out = append(out, b[i]^0x20)
			continue
		}
		out = append(out, b[i])
	}
	return out, nil
}

// appendRLE appends payload run-length encoded: a run of n>3 equal bytes is
// the byte, '*', and n-1+29 as a printable count that is never '#' or '$'.
func appendRLE(dst, payload []byte) []byte {
	for i := 0; i < len(payload); {
		c := payload[i]
		if c == '}' && i+1 < len(payload) {
			// An escape pair stays whole: LLDB undoes escapes and runs in
			// one pass, so a run must not start on an escaped byte.
			dst = append(dst, c, payload[i+1])
			i += 2
			continue
		}
		j := i + 1
		for j < len(payload) && payload[j] == c && j-i < 98 {
			j++
		}
		n := j - i // run length including the first byte
		// Repeat count n-1 is sent as n-1+29; 6 and 7 would give '#' and '$'.
		for n-1 == 6 || n-1 == 7 {
			n--
		}
		if n > 3 {
			dst = append(dst, c, '*', byte(n-1+29))
			i += n
			continue
		}
		dst = append(dst, c)
		i++
	}
	return dst
}

// expandRLE is the client-side inverse of appendRLE (used in tests).
func expandRLE(b []byte) ([]byte, error) {
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		if b[i] == '*' {
			if len(out) == 0 || i+1 == len(b) {
				return nil, errors.New("bad run-length encoding")
			}
			n := int(b[i+1]) - 29
			for k := 0; k < n; k++ {
				out = append(out, out[len(out)-1])
			}
			i++
			continue
		}
		out = append(out, b[i])
	}
	return out, nil
}

func appendHexInt(dst []byte, v uint64) []byte {
	return strconv.AppendUint(dst, v, 16)
}
