package rsp

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/gostub/gostub/target"
)

// noPanic runs f and turns a panic into a test error.
func noPanic(t testing.TB, what string, f func()) (panicked bool) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("%s panicked: %v", what, r)
			panicked = true
		}
	}()
	f()
	return false
}

func TestParseSelector(t *testing.T) {
	tests := []struct {
		in      string
		want    Selector
		wantErr bool
	}{
		{in: "p1.2", want: Selector{1, 2}},
		{in: "p4d2.4d3", want: Selector{0x4d2, 0x4d3}},
		{in: "pA.B", want: Selector{10, 11}},
		{in: "p-1.-1", want: Selector{-1, -1}},
		{in: "p1.-1", want: Selector{1, -1}},
		{in: "p1.0", want: Selector{1, 0}},
		{in: "p0.0", want: Selector{0, 0}},
		{in: "p1", want: Selector{1, -1}}, // a whole process
		{in: "p-1", want: Selector{-1, -1}},
		{in: "-1", want: Selector{0, -1}},
		{in: "0", want: Selector{0, 0}},
		{in: "1f", want: Selector{0, 0x1f}},
		{in: "80000000", want: Selector{0, 0x80000000}},
		{in: "", wantErr: true},
		{in: "p", wantErr: true},
		{in: "p.", wantErr: true},
		{in: "p1.", wantErr: true},
		{in: "p.1", wantErr: true},
		{in: "-2", wantErr: true},
		{in: "-", wantErr: true},
		{in: "p1.2.3", wantErr: true},
		{in: "g", wantErr: true},
		{in: "1 ", wantErr: true},
		{in: "100000001", wantErr: true},
		{in: "pp1.1", wantErr: true},
		{in: "P1.1", wantErr: true},
	}
	for _, tt := range tests {
		got, err := parseSelector([]byte(tt.in))
		if tt.wantErr {
			if err == nil {
				t.Errorf("parseSelector(%q) = %+v, want error", tt.in, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("parseSelector(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
}

func TestSelectorMatches(t *testing.T) {
	th := target.ThreadID{PID: 5, TID: 7}
	for _, tt := range []struct {
		sel  Selector
		want bool
	}{
		{Selector{-1, -1}, true}, {Selector{0, 0}, true}, {Selector{5, -1}, true}, {Selector{5, 7}, true},
		{Selector{0, 7}, true}, {Selector{6, -1}, false}, {Selector{5, 8}, false}, {Selector{0, 8}, false},
	} {
		if got := tt.sel.Matches(th); got != tt.want {
			t.Errorf("%+v.Matches(%v) = %v", tt.sel, th, got)
		}
	}
	if s := string(appendThreadID(nil, th, true)); s != "p5.7" {
		t.Errorf("appendThreadID multiprocess = %q", s)
	}
	if s := string(appendThreadID(nil, target.ThreadID{PID: 0x4d2, TID: 0x4d3}, false)); s != "4d3" {
		t.Errorf("appendThreadID = %q", s)
	}
}

func TestParseVCont(t *testing.T) {
	sel := func(p, t int) Selector { return Selector{p, t} }
	tests := []struct {
		in      string
		want    []vContAction
		wantErr bool
	}{
		{in: "c", want: []vContAction{{kind: target.ActionContinue, all: true}}},
		{in: "s", want: []vContAction{{kind: target.ActionStep, all: true}}},
		{in: "t", want: []vContAction{{kind: target.ActionStop, all: true}}},
		{in: "C1e:4d3", want: []vContAction{{kind: target.ActionContinue, signal: 0x1e, sel: sel(0, 0x4d3)}}},
		{in: "S0b", want: []vContAction{{kind: target.ActionStep, signal: 0x0b, all: true}}},
		{in: "s:p1.2", want: []vContAction{{kind: target.ActionStep, sel: sel(1, 2)}}},
		{in: "c:p1.-1", want: []vContAction{{kind: target.ActionContinue, sel: sel(1, -1)}}},
		{in: "c:-1", want: []vContAction{{kind: target.ActionContinue, sel: sel(0, -1)}}},
		{in: "r1000,2000:p1.1", want: []vContAction{{kind: target.ActionRangeStep, start: 0x1000, end: 0x2000, sel: sel(1, 1)}}},
		{in: "rffffffffffffff00,ffffffffffffffff", want: []vContAction{{kind: target.ActionRangeStep, start: 0xffffffffffffff00, end: ^uint64(0), all: true}}},
		{in: "s:p1.2;c:p1.-1", want: []vContAction{
			{kind: target.ActionStep, sel: sel(1, 2)},
			{kind: target.ActionContinue, sel: sel(1, -1)}}},
		{in: "r10,20:p1.1;C05:p1.2;t:p1.3;c", want: []vContAction{
			{kind: target.ActionRangeStep, start: 0x10, end: 0x20, sel: sel(1, 1)},
			{kind: target.ActionContinue, signal: 5, sel: sel(1, 2)},
			{kind: target.ActionStop, sel: sel(1, 3)},
			{kind: target.ActionContinue, all: true}}},
		{in: "", wantErr: true},
		{in: ";", wantErr: true},
		{in: "c;", wantErr: true},
		{in: ";c", wantErr: true},
		{in: "x", wantErr: true},
		{in: "cc", wantErr: true},
		{in: "c1", wantErr: true},
		{in: "C", wantErr: true},
		{in: "Czz", wantErr: true},
		{in: "C:1", wantErr: true},
		{in: "S", wantErr: true},
		{in: "r", wantErr: true},
		{in: "r1000", wantErr: true},
		{in: "r1000,", wantErr: true},
		{in: "r,2000", wantErr: true},
		{in: "r1,2,3", wantErr: true},
		{in: "c:", wantErr: true},
		{in: "c:p", wantErr: true},
		{in: "c:zz", wantErr: true},
		{in: "s:p1.2;", wantErr: true},
		// An action with no letter before the thread-id.
		{in: ":p1.1", wantErr: true},
		{in: "c;:1", wantErr: true},
		{in: ":", wantErr: true},
	}
	for _, tt := range tests {
		var got []vContAction
		var err error
		if noPanic(t, fmt.Sprintf("parseVCont(%q)", tt.in), func() { got, err = parseVCont([]byte(tt.in)) }) {
			continue
		}
		if tt.wantErr {
			if err == nil {
				t.Errorf("parseVCont(%q) = %+v, want error", tt.in, got)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("parseVCont(%q) = %+v, %v\nwant %+v", tt.in, got, err, tt.want)
		}
	}
}

func TestSignalTables(t *testing.T) {
	fixed := map[int]int{
		0: 0, 1: 1, 2: 2, 5: 5, 6: 6, 7: 10, 9: 9, 10: 0x1e, 11: 0x0b, 12: 0x1f, 13: 13, 14: 14, 15: 15,
		16: gdbSignalUnknown, 17: 20, 18: 19, 19: 17, 20: 18, 23: 16, 29: 23, 30: 32, 31: 12,
		32: 77, 33: 45, 34: 46, 35: 47, 63: 75, 64: 78,
	}
	for l, g := range fixed {
		if got := GDBSignal(l); got != g {
			t.Errorf("GDBSignal(%d) = %d, want %d", l, got, g)
		}
	}
	seen := map[int]int{}
	for l := 1; l <= 64; l++ {
		g := GDBSignal(l)
		if l == 16 {
			// SIGSTKFLT has no gdb number.
			if g != gdbSignalUnknown {
				t.Errorf("GDBSignal(STKFLT) = %d", g)
			}
			if _, ok := LinuxSignal(g); ok {
				t.Errorf("LinuxSignal(unknown) ok")
			}
			continue
		}
		if prev, dup := seen[g]; dup {
			t.Errorf("GDBSignal(%d) = GDBSignal(%d) = %d", l, prev, g)
		}
		seen[g] = l
		back, ok := LinuxSignal(g)
		if !ok || back != l {
			t.Errorf("LinuxSignal(GDBSignal(%d)=%d) = %d, %v", l, g, back, ok)
		}
	}
	for _, g := range []int{7 /* EMT */, 29 /* LOST */, 33 /* POLL */, 34, 44, 76, 79, 142, 143, 200, -1} {
		if l, ok := LinuxSignal(g); ok {
			t.Errorf("LinuxSignal(%d) = %d, want not ok", g, l)
		}
	}
	for _, l := range []int{-1, 65, 1000} {
		if g := GDBSignal(l); g != gdbSignalUnknown {
			t.Errorf("GDBSignal(%d) = %d, want unknown", l, g)
		}
	}
	if l, ok := LinuxSignal(0); !ok || l != 0 {
		t.Errorf("LinuxSignal(0) = %d, %v", l, ok)
	}
}
