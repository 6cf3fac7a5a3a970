package rspclient

import (
	"errors"
	"reflect"
	"testing"
)

func TestParseFeatures(t *testing.T) {
	f := ParseFeatures("PacketSize=47ff;QPassSignals+;qXfer:features:read+;multiprocess-;vContSupported?;;weird")
	want := Features{
		"PacketSize":          "47ff",
		"QPassSignals":        "+",
		"qXfer:features:read": "+",
		"multiprocess":        "-",
		"vContSupported":      "?",
		"weird":               "",
	}
	if !reflect.DeepEqual(f, want) {
		t.Fatalf("ParseFeatures = %v, want %v", f, want)
	}
	for _, tc := range []struct {
		reply string
		want  int
	}{
		{"PacketSize=47ff", 0x47ff},
		{"PacketSize=131072", 0x131072}, // lldb-server sends decimal; the manual says hex
		{"PacketSize=zz", 0},
		{"swbreak+", 0},
	} {
		if got := ParseFeatures(tc.reply).PacketSize(); got != tc.want {
			t.Errorf("PacketSize of %q = %#x, want %#x", tc.reply, got, tc.want)
		}
	}
}

func TestParseStop(t *testing.T) {
	for _, tc := range []struct {
		reply   string
		want    Stop
		pc      uint64
		wantErr bool
	}{
		{
			reply: "T05swbreak:;06:0000000000000000;07:f0dfffffff7f0000;10:0611400000000000;thread:p1e1d.1e1e;core:1;",
			want:  Stop{Kind: 'T', Signal: 5, Reason: "swbreak", Thread: "p1e1d.1e1e", PID: 0x1e1d, TID: 0x1e1e},
			pc:    0x401106,
		},
		{
			reply: "T05watch:000055555555801c;thread:p5.5;",
			want:  Stop{Kind: 'T', Signal: 5, Reason: "watch", Value: "000055555555801c", Thread: "p5.5", PID: 5, TID: 5},
		},
		{
			reply: "T0206:xxxxxxxxxxxxxxxx;thread:7b;",
			want:  Stop{Kind: 'T', Signal: 2, Thread: "7b", PID: -1, TID: 0x7b},
		},
		{reply: "S05", want: Stop{Kind: 'S', Signal: 5, PID: -1, TID: -1}},
		{reply: "W00", want: Stop{Kind: 'W', Signal: 0, PID: -1, TID: -1}},
		{reply: "W6e;process:1f", want: Stop{Kind: 'W', Signal: 0x6e, PID: 0x1f, TID: -1}},
		{reply: "Xb;process:1f", want: Stop{Kind: 'X', Signal: 0xb, PID: 0x1f, TID: -1}},
		{reply: "N", want: Stop{Kind: 'N', PID: -1, TID: -1}},
		{reply: "OK", wantErr: true},
		{reply: "", wantErr: true},
		{reply: "T5", wantErr: true},
		{reply: "Tzz", wantErr: true},
		{reply: "T05thread:pq.1;", wantErr: true},
		{reply: "T05junk;", wantErr: true},
		{reply: "W00;process:zz", wantErr: true},
	} {
		got, err := ParseStop(tc.reply)
		if tc.wantErr {
			if err == nil {
				t.Errorf("ParseStop(%q) = %+v, want an error", tc.reply, got)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseStop(%q): %v", tc.reply, err)
			continue
		}
		pc, _ := got.Reg(0x10)
		got.Regs, got.Pairs = nil, nil
		if !reflect.DeepEqual(got, tc.want) || pc != tc.pc {
			t.Errorf("ParseStop(%q) = %+v pc %#x, want %+v pc %#x", tc.reply, got, pc, tc.want, tc.pc)
		}
	}
}

func TestParseThreadID(t *testing.T) {
	for _, tc := range []struct {
		id       string
		pid, tid int
		wantErr  bool
	}{
		{"p1e1d.1e1d", 0x1e1d, 0x1e1d, false},
		{"p1e1d.-1", 0x1e1d, -1, false},
		{"p-1.-1", -1, -1, false},
		{"p10", 0x10, -1, false},
		{"7b", -1, 0x7b, false},
		{"0", -1, 0, false},
		{"-1", -1, -1, false},
		{"px.1", 0, 0, true},
		{"", 0, 0, true},
	} {
		pid, tid, err := ParseThreadID(tc.id)
		if (err != nil) != tc.wantErr || !tc.wantErr && (pid != tc.pid || tid != tc.tid) {
			t.Errorf("ParseThreadID(%q) = %d, %d, %v", tc.id, pid, tid, err)
		}
	}
}

func TestAsError(t *testing.T) {
	for _, tc := range []struct {
		reply string
		code  int
		text  string
		isErr bool
	}{
		{"E01", 1, "", true},
		{"Eff", 255, "", true},
		{"E.Btrace not enabled.", -1, "Btrace not enabled.", true},
		{"OK", 0, "", false},
		{"E", 0, "", false},
		{"E0", 0, "", false},
		{"E0g", 0, "", false},
		{"e01", 0, "", false},
		{"Ex123", 0, "", false},
	} {
		err := AsError(tc.reply)
		var re *ReplyError
		if !tc.isErr {
			if err != nil {
				t.Errorf("AsError(%q) = %v, want nil", tc.reply, err)
			}
			continue
		}
		if !errors.As(err, &re) || re.Code != tc.code || re.Text != tc.text {
			t.Errorf("AsError(%q) = %#v", tc.reply, err)
		}
	}
}
