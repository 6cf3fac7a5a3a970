package rsp

import (
	"bytes"
	"math/rand"
	"testing"
)

// checkRLE verifies the encoded form: every '*' is followed by a printable
// count that is neither '#' nor '$' and stands for at least 3 repeats.
func checkRLE(t testing.TB, payload, enc []byte) {
	t.Helper()
	for i := 0; i < len(enc); i++ {
		if enc[i] != '*' {
			continue
		}
		if i == 0 || i+1 >= len(enc) {
			t.Fatalf("RLE of %q: dangling '*' in %q", payload, enc)
		}
		n := enc[i+1]
		if n == '#' || n == '$' || n < ' '+0 || n > '~' {
			t.Fatalf("RLE of %q: bad count byte %q in %q", payload, n, enc)
		}
		if int(n)-29 < 3 {
			t.Fatalf("RLE of %q: run of %d encoded (not worth it)", payload, int(n)-29)
		}
		i++
	}
}

func TestRLERoundTripAllRuns(t *testing.T) {
	for c := 0; c < 256; c++ {
		if c == '*' {
			// A raw '*' can never be in a payload: escapeBinary escapes
			// it and no text reply contains one.
			continue
		}
		for n := 1; n <= 300; n++ {
			run := bytes.Repeat([]byte{byte(c)}, n)
			for _, payload := range [][]byte{run, append(append([]byte("a"), run...), 'b')} {
				enc := appendRLE(nil, payload)
				checkRLE(t, payload, enc)
				if c != '#' && c != '$' && (bytes.IndexByte(enc, '#') >= 0 || bytes.IndexByte(enc, '$') >= 0) {
					t.Fatalf("RLE of %d×%q produced a frame character: %q", n, byte(c), enc)
				}
				dec, err := expandRLE(enc)
				if err != nil || !bytes.Equal(dec, payload) {
					t.Fatalf("RLE of %d×%q: %q expands to %q, %v", n, byte(c), enc, dec, err)
				}
			}
		}
	}
}

func TestRLEEncodings(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"a", "a"},
		{"aaa", "aaa"},         // 2 repeats: not encoded
		{"aaaa", "a* "},        // 3 repeats: ' '
		{"aaaaaa", "a*\""},     // 5 repeats: '"'
		{"aaaaaaa", "a*\"a"},   // 6 repeats would be '#': 5 + 1 literal
		{"aaaaaaaa", "a*\"aa"}, // 7 repeats would be '$'
		{"aaaaaaaaa", "a*%"},   // 8 repeats: '%'
	}
	for _, tt := range tests {
		if got := string(appendRLE(nil, []byte(tt.in))); got != tt.want {
			t.Errorf("appendRLE(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	// The longest run fits under '~'.
	enc := appendRLE(nil, bytes.Repeat([]byte{'0'}, 98))
	if string(enc) != "0*~" {
		t.Errorf("98 zeros encode as %q", enc)
	}
}

func TestEscapeBinaryRoundTrip(t *testing.T) {
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	inputs := [][]byte{nil, {}, all, []byte("#$}*"), []byte("}}}}"), bytes.Repeat([]byte{'*'}, 10)}
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < 200; i++ {
		b := make([]byte, rng.Intn(64))
		for k := range b {
			b[k] = "#$}*\x00\x03a"[rng.Intn(7)]
		}
		inputs = append(inputs, b)
	}
	for _, in := range inputs {
		enc := escapeBinary(nil, in)
		for i := 0; i < len(enc); i++ {
			switch enc[i] {
			case '#', '$', '*':
				t.Fatalf("escapeBinary(%q) = %q: raw %q", in, enc, enc[i])
			case '}':
				i++
				if i == len(enc) {
					t.Fatalf("escapeBinary(%q) ends in '}'", in)
				}
			}
		}
		dec, err := unescapeBinary(enc)
		if err != nil || !bytes.Equal(dec, in) {
			t.Fatalf("unescape(escape(%q)) = %q, %v", in, dec, err)
		}
		// Escaped data survives RLE and framing too.
		exp, err := expandRLE(appendRLE(nil, enc))
		if err != nil || !bytes.Equal(exp, enc) {
			t.Fatalf("RLE of escaped %q: %q, %v", in, exp, err)
		}
	}
	if got := escapeBinary([]byte("b"), []byte("a#$}*z")); string(got) != "ba}\x03}\x04}]}\nz" {
		t.Errorf("escapeBinary = %q", got)
	}
}

func TestUnescapeBinary(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		wantErr bool
	}{
		{"", "", false},
		{"abc", "abc", false},
		{"}\x03", "#", false},
		{"}]}}", "}]", false}, // "}]" is an escaped "}", "}}" an escaped "]"
		{"a}", "", true},
		{"}", "", true},
	}
	for _, tt := range tests {
		got, err := unescapeBinary([]byte(tt.in))
		if (err != nil) != tt.wantErr || (err == nil && string(got) != tt.want) {
			t.Errorf("unescapeBinary(%q) = %q, %v", tt.in, got, err)
		}
	}
}

func TestHexHelpers(t *testing.T) {
	if v, err := parseHex([]byte("ffffffffffffffff")); err != nil || v != ^uint64(0) {
		t.Errorf("parseHex max = %x, %v", v, err)
	}
	for _, bad := range []string{"", "g", "1ffffffffffffffff", "-1", " 1", "0x1"} {
		if _, err := parseHex([]byte(bad)); err == nil {
			t.Errorf("parseHex(%q) accepted", bad)
		}
	}
	if v, err := parseHexInt([]byte("7fffffff")); err != nil || v != 0x7fffffff {
		t.Errorf("parseHexInt = %x, %v", v, err)
	}
	if _, err := parseHexInt([]byte("100000001")); err == nil {
		t.Error("parseHexInt accepted a number over 2^31")
	}
	if b, err := decodeHex([]byte("00fFa5")); err != nil || !bytes.Equal(b, []byte{0, 0xff, 0xa5}) {
		t.Errorf("decodeHex = %x, %v", b, err)
	}
	for _, bad := range []string{"0", "0g", "zz"} {
		if _, err := decodeHex([]byte(bad)); err == nil {
			t.Errorf("decodeHex(%q) accepted", bad)
		}
	}
	if s := string(appendHex(nil, []byte{0, 0xab, 0x10})); s != "00ab10" {
		t.Errorf("appendHex = %q", s)
	}
}
