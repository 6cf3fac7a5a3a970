package rspclient

import (
	"bytes"
	"errors"
	"testing"
)

func TestFrame(t *testing.T) {
	for _, tc := range []struct {
		payload, want string
	}{
		{"", "$#00"},
		{"OK", "$OK#9a"},
		{"qC", "$qC#b4"},
		{"?", "$?#3f"},
		{"QStartNoAckMode", "$QStartNoAckMode#b0"},
		{"vCont;c", "$vCont;c#a8"},
	} {
		if got := string(Frame([]byte(tc.payload))); got != tc.want {
			t.Errorf("Frame(%q) = %q, want %q", tc.payload, got, tc.want)
		}
	}
}

func TestExpandRLE(t *testing.T) {
	for _, tc := range []struct {
		name    string
		raw     string
		want    string
		wantErr bool
	}{
		{"plain", "OK", "OK", false},
		{"empty", "", "", false},
		{"zeros", "0* ", "0000", false},
		// From trace-lldb-gdbserver-basic.log: pc 0x555555555091.
		{"gdbserver pc", `91505*"550* `, "9150555555550000", false},
		{"count 1", "a*\x1e", "aa", false},
		{"max count", "x*~", "x" + string(bytes.Repeat([]byte("x"), 97)), false},
		{"hash count", "x*#", "xxxxxxx", false},
		{"repeat of star output", "a* * ", "aaaa" + "aaa", false},
		{"star first", "*!", "", true},
		{"star last", "ab*", "", true},
		{"count zero", "a*\x1d", "", true},
		{"count low", "a*\x01", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ExpandRLE([]byte(tc.raw))
			if tc.wantErr {
				if !errors.Is(err, ErrBadRLE) {
					t.Fatalf("ExpandRLE(%q) = %q, %v; want ErrBadRLE", tc.raw, got, err)
				}
				return
			}
			if err != nil || string(got) != tc.want {
				t.Fatalf("ExpandRLE(%q) = %q, %v; want %q", tc.raw, got, err, tc.want)
			}
		})
	}
}

func TestCompressRLE(t *testing.T) {
	for _, tc := range []struct {
		payload, want string
	}{
		{"", ""},
		{"abc", "abc"},
		{"aaa", "aaa"},
		{"aaaa", "a* "},
		{"9150555555550000", `91505*"550* `},
		{"00000000", `0*"00`}, // 7 repeats would be '$'
		{"0000000", `0*"0`},   // 6 repeats would be '#'
		{"000000000", "0*%"},  // 8 repeats
		{string(bytes.Repeat([]byte{'f'}, 98)), "f*~"},
		{string(bytes.Repeat([]byte{'f'}, 99)), "f*~f"},
	} {
		got := CompressRLE([]byte(tc.payload))
		if string(got) != tc.want {
			t.Errorf("CompressRLE(%q) = %q, want %q", tc.payload, got, tc.want)
		}
		back, err := ExpandRLE(got)
		if err != nil || string(back) != tc.payload {
			t.Errorf("ExpandRLE(CompressRLE(%q)) = %q, %v", tc.payload, back, err)
		}
		if bytes.ContainsAny(got, "#$") {
			t.Errorf("CompressRLE(%q) = %q contains a frame character", tc.payload, got)
		}
	}
}

func TestEscape(t *testing.T) {
	for _, tc := range []struct {
		name      string
		data, enc string
	}{
		{"plain", "hello", "hello"},
		{"empty", "", ""},
		{"all four", "#$}*", "}\x03}\x04}]}\x0a"},
		{"star from manual", "\x2a", "}\x0a"},
		{"binary", "\x00\x03\xff}", "\x00\x03\xff}]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Escape([]byte(tc.data))
			if string(got) != tc.enc {
				t.Fatalf("Escape(%q) = %q, want %q", tc.data, got, tc.enc)
			}
			back, err := Unescape(got)
			if err != nil || string(back) != tc.data {
				t.Fatalf("Unescape(%q) = %q, %v; want %q", got, back, err, tc.data)
			}
		})
	}
}

func TestUnescapeErrors(t *testing.T) {
	for _, in := range []string{"}", "abc}"} {
		if _, err := Unescape([]byte(in)); !errors.Is(err, ErrBadEscape) {
			t.Errorf("Unescape(%q) error = %v, want ErrBadEscape", in, err)
		}
	}
}

func TestChecksumMatchesNaive(t *testing.T) {
	data := make([]byte, 5000)
	for i := range data {
		data[i] = 0xff - byte(i%3) // near-maximal bytes stress the lane folding
	}
	for _, n := range []int{0, 1, 7, 8, 9, 15, 16, 1023, 1024, 1025, 2048, 4999, 5000} {
		var want byte
		for _, b := range data[:n] {
			want += b
		}
		if got := Checksum(data[:n]); got != want {
			t.Errorf("Checksum of %d bytes = %#02x, want %#02x", n, got, want)
		}
	}
}
