package breakpoints

import (
	"errors"
	"testing"
)

const strAddr = 0x6000

func TestFormatAgentPrintfMatchesC(t *testing.T) {
	// Expected strings produced by glibc's snprintf with the argument
	// converted to the C type of the conversion (int, long, char *,
	// void *), as gdbserver's ax_printf calls it.
	for _, tc := range []struct {
		format string
		args   []uint64
		want   string
	}{
		{"%d", []uint64{neg(-5)}, "-5"},
		{"%d", []uint64{0xffffffff}, "-1"},
		{"%d", []uint64{0x100000005}, "5"},
		{"%i", []uint64{neg(-3)}, "-3"},
		{"%u", []uint64{neg(-1)}, "4294967295"},
		{"%x", []uint64{255}, "ff"},
		{"%X", []uint64{0xabc}, "ABC"},
		{"%o", []uint64{8}, "10"},
		{"%#o", []uint64{8}, "010"},
		{"%#o", []uint64{0}, "0"},
		{"%#x", []uint64{0}, "0"},
		{"%#x", []uint64{255}, "0xff"},
		{"%#X", []uint64{255}, "0XFF"},
		{"%5d", []uint64{42}, "   42"},
		{"%-5d|", []uint64{42}, "42   |"},
		{"%05d", []uint64{neg(-42)}, "-0042"},
		{"%+d", []uint64{5}, "+5"},
		{"% d", []uint64{5}, " 5"},
		{"%+d", []uint64{neg(-5)}, "-5"},
		{"% 5d", []uint64{42}, "   42"},
		{"%+05d", []uint64{42}, "+0042"},
		{"%.3d", []uint64{5}, "005"},
		{"%.0d", []uint64{0}, ""},
		{"[%5.0d]", []uint64{0}, "[     ]"},
		{"%8.3d", []uint64{neg(-5)}, "    -005"},
		{"%08.3d", []uint64{5}, "     005"},
		{"%#.0o", []uint64{0}, "0"},
		{"%#.0x", []uint64{0}, ""},
		{"%#5x", []uint64{1}, "  0x1"},
		{"%#05x", []uint64{1}, "0x001"},
		{"%-#6x|", []uint64{1}, "0x1   |"},
		{"%-05d|", []uint64{3}, "3    |"},
		{"%.5x", []uint64{0xabc}, "00abc"},
		{"%#.3o", []uint64{8}, "010"},
		{"%#10.4X", []uint64{0xab}, "    0X00AB"},
		{"%ld", []uint64{neg(-5)}, "-5"},
		{"%lld", []uint64{0x8000000000000000}, "-9223372036854775808"},
		{"%lu", []uint64{neg(-1)}, "18446744073709551615"},
		{"%lx", []uint64{neg(-1)}, "ffffffffffffffff"},
		{"%llx", []uint64{0x123456789a}, "123456789a"},
		{"%zu", []uint64{neg(-1)}, "18446744073709551615"},
		{"%zd", []uint64{neg(-1)}, "-1"},
		{"%zx", []uint64{4096}, "1000"},
		{"%li", []uint64{neg(-7)}, "-7"},
		{"%lo", []uint64{64}, "100"},
		{"%20lld|", []uint64{neg(-1)}, "                  -1|"},
		{"%hd", []uint64{0x18000}, "-32768"},
		{"%hu", []uint64{0x1ffff}, "65535"},
		{"%hx", []uint64{0x12345}, "2345"},
		{"%hd", []uint64{5}, "5"},
		{"%c", []uint64{'A'}, "A"},
		{"%c", []uint64{0x141}, "A"},
		{"%3c", []uint64{'x'}, "  x"},
		{"%-3c|", []uint64{'x'}, "x  |"},
		{"%s", []uint64{strAddr}, "hello"},
		{"%10s|", []uint64{strAddr}, "     hello|"},
		{"%-10s|", []uint64{strAddr}, "hello     |"},
		{"%.3s", []uint64{strAddr}, "hel"},
		{"%.0s|", []uint64{strAddr}, "|"},
		{"%#s", []uint64{strAddr}, "hello"},
		{"%-8.2s|", []uint64{strAddr}, "he      |"},
		{"%s", []uint64{0}, "(null)"},
		{"%.2s", []uint64{0}, "(n"},
		{"%8s", []uint64{0}, "  (null)"},
		{"%p", []uint64{0x1234}, "0x1234"},
		{"%p", []uint64{0}, "(nil)"},
		{"%10p", []uint64{0x1234}, "    0x1234"},
		{"%-10p|", []uint64{0x1234}, "0x1234    |"},
		{"%8p", []uint64{0}, "   (nil)"},
		{"%p", []uint64{0xffffffffffffffff}, "0xffffffffffffffff"},
	} {
		env := newAxEnv()
		env.mem[strAddr] = []byte("hello\x00")
		got, err := FormatAgentPrintf([]byte(tc.format), tc.args, env)
		if err != nil || got != tc.want {
			t.Errorf("printf(%q, %#x) = %q, %v; want %q", tc.format, tc.args, got, err, tc.want)
		}
	}
}

func TestFormatAgentPrintfLiteralsAndEscapes(t *testing.T) {
	for _, tc := range []struct {
		format string
		args   []uint64
		want   string
	}{
		{``, nil, ""},
		{`plain`, nil, "plain"},
		{`100%%`, nil, "100%"},
		{`a%%b%dc%%`, []uint64{1}, "a%b1c%"},
		{`%d%d`, []uint64{1, 2}, "12"},
		{`a\tb\\c\"d\n`, nil, "a\tb\\c\"d\n"},
		{`\a\b\e\f\r\v`, nil, "\a\b\x1b\f\r\v"},
		{`ab"cd`, nil, "ab"}, // an unescaped quote ends the format
		{"tab\tliteral", nil, "tab\tliteral"},
		{`%s|%s`, []uint64{strAddr, strAddr + 3}, "hello|lo"},
	} {
		env := newAxEnv()
		env.mem[strAddr] = []byte("hello\x00")
		got, err := FormatAgentPrintf([]byte(tc.format), tc.args, env)
		if err != nil || got != tc.want {
			t.Errorf("printf(%q) = %q, %v; want %q", tc.format, got, err, tc.want)
		}
	}
}

func TestFormatAgentPrintfErrors(t *testing.T) {
	for _, tc := range []struct {
		format string
		nargs  int
	}{
		{`%n`, 1}, {`%*d`, 2}, {`%.*d`, 2}, {`%f`, 1}, {`%e`, 1}, {`%Lf`, 1}, {`%ls`, 1}, {`%lc`, 1},
		{`%hhd`, 1}, {`%`, 1}, {`%5`, 1}, {`%l`, 1}, {`%5%`, 1}, {`%q`, 1},
		{`%#u`, 1}, {`%+u`, 1}, {`% x`, 1}, {`%Ld`, 1}, {`%Hd`, 1}, {`%Dd`, 1}, {`%I64d`, 1},
		{`%0c`, 1}, {`%.2c`, 1}, {`%hc`, 1}, {`%hs`, 1}, {`%lls`, 1}, {`%05s`, 1}, {`%+s`, 1}, {`%zs`, 1},
		{`%#p`, 1}, {`%.1p`, 1}, {`%lp`, 1}, {`%0p`, 1},
		{`\q`, 0}, {`abc\`, 0}, {`%99999d`, 1}, {`%.5000d`, 1},
		{`%d`, 0}, {`%d`, 2}, {`plain`, 1},
	} {
		args := make([]uint64, tc.nargs)
		_, err := FormatAgentPrintf([]byte(tc.format), args, newAxEnv())
		if !errors.Is(err, ErrAgentPrintf) {
			t.Errorf("printf(%q) with %d args: %v, want ErrAgentPrintf", tc.format, tc.nargs, err)
		}
	}
}

// pageEnv maps [lo, hi) with letters and a NUL at nul (if not 0), and
// counts reads.
type pageEnv struct {
	*axEnv
	lo, hi, nul uint64
}

func (e pageEnv) ReadMemory(addr uint64, buf []byte) error {
	e.reads++
	if addr < e.lo || addr+uint64(len(buf)) > e.hi || addr+uint64(len(buf)) < addr {
		return errors.New("EFAULT")
	}
	for i := range buf {
		buf[i] = 'a' + byte((addr+uint64(i))%26)
	}
	if e.nul != 0 && addr <= e.nul && e.nul-addr < uint64(len(buf)) {
		buf[e.nul-addr] = 0
	}
	return nil
}

func TestFormatAgentPrintfStringReads(t *testing.T) {
	// A string that ends on the last byte before unmapped memory is read
	// in full: chunks that fail are retried byte by byte.
	env := pageEnv{newAxEnv(), 0x1000, 0x1ff8, 0x1ff7}
	got, err := FormatAgentPrintf([]byte("%s"), []uint64{0x1fd0}, env)
	if err != nil || len(got) != 0x27 {
		t.Fatalf("len %d, %v", len(got), err)
	}
	if got[0] != 'a'+byte(0x1fd0%26) {
		t.Errorf("first byte %q", got[0])
	}
	// Unterminated before unmapped memory: a memory error.
	env = pageEnv{newAxEnv(), 0x1000, 0x2000, 0}
	if _, err := FormatAgentPrintf([]byte("%s"), []uint64{0x1ff0}, env); !errors.Is(err, ErrAgentMemory) {
		t.Errorf("unterminated at the edge: %v", err)
	}
	// A precision bounds the read: no NUL needed.
	if got, err := FormatAgentPrintf([]byte("%.4s"), []uint64{0x1ffc}, env); err != nil || len(got) != 4 {
		t.Errorf("precision at the edge: %q %v", got, err)
	}
	// Long strings stop at AgentPrintfMaxString, in a bounded number of reads.
	env = pageEnv{newAxEnv(), 0x1000, 0x100000, 0}
	env.axEnv.reads = 0
	got, err = FormatAgentPrintf([]byte("%s"), []uint64{0x1001}, env)
	if err != nil || len(got) != AgentPrintfMaxString {
		t.Errorf("long: len %d, %v", len(got), err)
	}
	if env.axEnv.reads > AgentPrintfMaxString/64+1 {
		t.Errorf("long: %d reads", env.axEnv.reads)
	}
	// Top of the address space: no wrap-around.
	env = pageEnv{newAxEnv(), 0xffffffffffffff00, 0xffffffffffffffff, 0}
	if _, err := FormatAgentPrintf([]byte("%s"), []uint64{0xfffffffffffffff0}, env); err == nil {
		t.Error("read past the top succeeded")
	}
}
