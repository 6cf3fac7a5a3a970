package breakpoints

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// The printf of agent expressions, as gdbserver's ax_printf does it with
// gdb's format_pieces parser (gdbsupport/format.cc, without gdb's own
// extensions): the format arrives with C escapes still in it ("\n" as a
// backslash and an n), conversions are the C89 ones plus ll and z, and
// each argument is a 64-bit stack value converted to the C type the
// conversion names: plain %d/%u/%x/%o/%c take an int (the low 32 bits),
// %hd a short, %ld/%lld/%zd 64 bits, %s a char * read from the debuggee.
// gdbserver hands each piece to the C library's printf; here the pieces
// are formatted in Go with C's rules for flags, width and precision.
//
// Differences from gdbserver, all on inputs gdb does not produce:
// %p is supported (gdbserver refuses it) and prints like glibc
// ("0x1234", "(nil)"); width and precision above AgentPrintfMaxWidth are
// refused; %s reads at most AgentPrintfMaxString bytes; the H, D, DD and
// I64 length modifiers are refused with integer conversions.

const (
	// AgentPrintfMaxWidth bounds a field width or precision.
	AgentPrintfMaxWidth = 4096
	// AgentPrintfMaxString bounds the bytes a %s reads from the debuggee;
	// a longer string is cut there.
	AgentPrintfMaxString = 4096
)

type argClass uint8

const (
	literalPiece argClass = iota
	intArg                // int (or short with h)
	longArg               // long, long long, size_t: 64 bits on x86-64
	stringArg
	ptrArg
)

type printfPiece struct {
	class argClass
	text  string // literal text (with %% already turned into %)
	// conversion
	conv                              byte
	minus, plus, space, hash, zero, h bool
	width, prec                       int // prec < 0: none
}

// FormatAgentPrintf formats args by format (the bytes of the printf
// opcode's string without its final NUL) and reads %s strings from mem.
// Errors wrap ErrAgentPrintf (bad format, wrong argument count) or
// ErrAgentMemory (unreadable %s string).
func FormatAgentPrintf(format []byte, args []uint64, mem AgentMemory) (string, error) {
	pieces, err := parseAgentFormat(format)
	if err != nil {
		return "", err
	}
	want := 0
	for _, p := range pieces {
		if p.class != literalPiece {
			want++
		}
	}
	if want != len(args) {
		return "", fmt.Errorf("%w: wrong number of arguments for specified format-string (%d for %d)", ErrAgentPrintf, len(args), want)
	}
	var b strings.Builder
	i := 0
	for _, p := range pieces {
		if p.class == literalPiece {
			b.WriteString(p.text)
			continue
		}
		v := args[i]
		i++
		switch p.class {
		case stringArg:
			var s []byte
			if v == 0 {
				s = []byte("(null)") // gdbserver passes this very string to printf
				if p.prec >= 0 && p.prec < len(s) {
					s = s[:p.prec]
				}
			} else {
				limit := AgentPrintfMaxString
				if p.prec >= 0 && p.prec < limit {
					limit = p.prec
				}
				if s, err = readCString(mem, v, limit); err != nil {
					return "", err
				}
			}
			pad(&b, string(s), p.width, p.minus)
		case ptrArg:
			s := "(nil)"
			if v != 0 {
				s = "0x" + strconv.FormatUint(v, 16)
			}
			pad(&b, s, p.width, p.minus)
		default:
			if p.conv == 'c' {
				pad(&b, string([]byte{byte(v)}), p.width, p.minus)
			} else {
				formatCInt(&b, p, v)
			}
		}
	}
	return b.String(), nil
}

func pad(b *strings.Builder, s string, width int, left bool) {
	n := width - len(s)
	if !left {
		for ; n > 0; n-- {
			b.WriteByte(' ')
		}
	}
	b.WriteString(s)
	for ; n > 0; n-- {
		b.WriteByte(' ')
	}
}

// formatCInt prints v as C's printf prints an integer conversion.
func formatCInt(b *strings.Builder, p printfPiece, v uint64) {
	bits := uint(64)
	if p.class == intArg {
		bits = 32
		if p.h {
			bits = 16
		}
	}
	var mag uint64
	neg := false
	signed := p.conv == 'd' || p.conv == 'i'
	if signed {
		x := int64(v<<(64-bits)) >> (64 - bits)
		neg = x < 0
		mag = uint64(x)
		if neg {
			mag = -mag
		}
	} else {
		mag = v << (64 - bits) >> (64 - bits)
	}
	base := 10
	switch p.conv {
	case 'o':
		base = 8
	case 'x', 'X':
		base = 16
	}
	digits := strconv.FormatUint(mag, base)
	if p.conv == 'X' {
		digits = strings.ToUpper(digits)
	}
	if p.prec >= 0 {
		if p.prec == 0 && mag == 0 {
			digits = ""
		}
		if len(digits) < p.prec {
			digits = strings.Repeat("0", p.prec-len(digits)) + digits
		}
	}
	prefix := ""
	switch {
	case signed && neg:
		prefix = "-"
	case signed && p.plus:
		prefix = "+"
	case signed && p.space:
		prefix = " "
	case p.hash && p.conv == 'o' && !strings.HasPrefix(digits, "0"):
		digits = "0" + digits
	case p.hash && p.conv == 'x' && mag != 0:
		prefix = "0x"
	case p.hash && p.conv == 'X' && mag != 0:
		prefix = "0X"
	}
	n := p.width - len(prefix) - len(digits)
	switch {
	case n <= 0:
		b.WriteString(prefix)
		b.WriteString(digits)
	case p.minus:
		b.WriteString(prefix)
		b.WriteString(digits)
		b.WriteString(strings.Repeat(" ", n))
	case p.zero && p.prec < 0:
		b.WriteString(prefix)
		b.WriteString(strings.Repeat("0", n))
		b.WriteString(digits)
	default:
		b.WriteString(strings.Repeat(" ", n))
		b.WriteString(prefix)
		b.WriteString(digits)
	}
}

// readCString reads the NUL-terminated string at addr, at most limit bytes,
// in aligned chunks that never cross a page, falling back to single bytes
// when a chunk fails so a string ending just before unreadable memory is
// still read (gdbserver reads byte by byte).
func readCString(mem AgentMemory, addr uint64, limit int) ([]byte, error) {
	const chunk = 64
	var out []byte
	var buf [chunk]byte
	for len(out) < limit {
		n := chunk - int(addr%chunk)
		n = min(n, limit-len(out))
		if addr+uint64(n-1) < addr { // wraps: read byte by byte up to the top
			n = 1
		}
		b := buf[:n]
		if err := mem.ReadMemory(addr, b); err != nil {
			for k := range b {
				if err := mem.ReadMemory(addr+uint64(k), b[k:k+1]); err != nil {
					return nil, fmt.Errorf("%w: %%s argument at %#x: %w", ErrAgentMemory, addr+uint64(k), err)
				}
				if b[k] == 0 {
					return append(out, b[:k]...), nil
				}
			}
		}
		for k, c := range b {
			if c == 0 {
				return append(out, b[:k]...), nil
			}
		}
		out = append(out, b...)
		addr += uint64(n)
		if addr == 0 {
			break
		}
	}
	return out, nil
}

func printfErr(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrAgentPrintf}, a...)...)
}

// unescapeFormat processes the C escapes gdb's format_pieces knows; an
// unescaped double quote ends the format, as there.
func unescapeFormat(s []byte) ([]byte, error) {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '"' {
			break
		}
		if c != '\\' {
			out = append(out, c)
			continue
		}
		i++
		if i == len(s) {
			return nil, printfErr("unrecognized escape character \\ at end of format string")
		}
		switch e := s[i]; e {
		case '\\', '"':
			out = append(out, e)
		case 'a':
			out = append(out, '\a')
		case 'b':
			out = append(out, '\b')
		case 'e':
			out = append(out, 0x1b)
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'v':
			out = append(out, '\v')
		default:
			return nil, printfErr("unrecognized escape character \\%c in format string", e)
		}
	}
	return out, nil
}

var errPrintfWidth = errors.New("width or precision too large")

// parseAgentFormat splits a format into literal and conversion pieces,
// accepting what format_pieces accepts and what ax_printf can print.
func parseAgentFormat(format []byte) ([]printfPiece, error) {
	f, err := unescapeFormat(format)
	if err != nil {
		return nil, err
	}
	var pieces []printfPiece
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			pieces = append(pieces, printfPiece{class: literalPiece, text: lit.String()})
			lit.Reset()
		}
	}
	number := func(i int) (int, int, error) {
		n := 0
		for ; i < len(f) && '0' <= f[i] && f[i] <= '9'; i++ {
			n = n*10 + int(f[i]-'0')
			if n > AgentPrintfMaxWidth {
				return 0, i, fmt.Errorf("%w: %w", ErrAgentPrintf, errPrintfWidth)
			}
		}
		return n, i, nil
	}
	for i := 0; i < len(f); {
		if f[i] != '%' {
			lit.WriteByte(f[i])
			i++
			continue
		}
		start := i
		i++
		if i < len(f) && f[i] == '%' {
			lit.WriteByte('%')
			i++
			continue
		}
		p := printfPiece{prec: -1}
		for ; i < len(f) && strings.IndexByte("0-+ #", f[i]) >= 0; i++ {
			switch f[i] {
			case '0':
				p.zero = true
			case '-':
				p.minus = true
			case '+':
				p.plus = true
			case ' ':
				p.space = true
			case '#':
				p.hash = true
			}
		}
		if p.width, i, err = number(i); err != nil {
			return nil, err
		}
		if i < len(f) && f[i] == '.' {
			if p.prec, i, err = number(i + 1); err != nil {
				return nil, err
			}
		}
		lcount, bigL, z, otherLen := 0, false, false, false
		if i < len(f) {
			switch f[i] {
			case 'h':
				p.h = true
				i++
			case 'l':
				lcount++
				i++
				if i < len(f) && f[i] == 'l' {
					lcount++
					i++
				}
			case 'L':
				bigL = true
				i++
			case 'H':
				otherLen = true
				i++
			case 'D':
				otherLen = true
				i++
				if i < len(f) && f[i] == 'D' {
					i++
				}
			case 'z':
				z = true
				i++
			case 'I':
				if i+2 < len(f) && f[i+1] == '6' && f[i+2] == '4' {
					otherLen = true
					i += 3
				}
			}
		}
		if i >= len(f) {
			return nil, printfErr("incomplete format specifier at end of format string")
		}
		p.conv = f[i]
		i++
		spec := string(f[start:i])
		bad := false
		switch p.conv {
		case 'd', 'i', 'u', 'o', 'x', 'X':
			if p.conv == 'u' && p.hash {
				bad = true
			}
			if p.conv != 'd' && p.conv != 'i' && (p.space || p.plus) {
				bad = true
			}
			p.class = intArg
			if z || lcount > 0 {
				p.class = longArg
			}
			bad = bad || bigL || otherLen
		case 'c':
			if lcount > 0 {
				return nil, printfErr("format directive in '%s' not supported in agent printf", spec)
			}
			p.class = intArg
			bad = p.h || bigL || z || otherLen || p.prec >= 0 || p.zero || p.space || p.plus
		case 's':
			if lcount == 1 {
				return nil, printfErr("format directive in '%s' not supported in agent printf", spec)
			}
			p.class = stringArg
			bad = lcount > 1 || p.h || bigL || z || otherLen || p.zero || p.space || p.plus
		case 'p':
			p.class = ptrArg
			bad = lcount > 0 || p.h || bigL || z || otherLen || p.prec >= 0 ||
				p.hash || p.zero || p.space || p.plus
		case 'e', 'f', 'g', 'E', 'G':
			return nil, printfErr("format directive in '%s' not supported in agent printf", spec)
		case '*':
			return nil, printfErr("`*' not supported for precision or width in printf")
		case 'n':
			return nil, printfErr("format specifier `n' not supported in printf")
		default:
			return nil, printfErr("unrecognized format specifier '%c' in printf", p.conv)
		}
		if bad {
			return nil, printfErr("inappropriate modifiers to format specifier '%c' in printf", p.conv)
		}
		flush()
		pieces = append(pieces, p)
	}
	flush()
	return pieces, nil
}
