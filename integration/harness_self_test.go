package integration

import (
	"strings"
	"testing"
)

// Self-tests of the harness helpers (no stub involved).

func TestHarnessNormalizeGDB(t *testing.T) {
	in := strings.Join([]string{
		"Reading /lib64/ld-linux-x86-64.so.2 from remote target...",
		`warning: File transfers from remote targets can be slow. Use "set sysroot" to access files locally instead.`,
		"0x00007ffff7fe4b70 in _start () from target:/lib64/ld-linux-x86-64.so.2",
		"",
		"Breakpoint 1, main (argc=2, argv=0x7fffffffe7e8) at loop.c:19   ",
		"$1 = 0x1234",
		"[Inferior 1 (process 4006) exited with code 0147]",
		"* 1    Thread 0x7ffff7d8a740 (LWP 4007) \"loop\" main () at " + workDir + "/bin/x/loop.c:3",
	}, "\n")
	want := strings.Join([]string{
		"0xADDR in _start () from /lib64/ld-linux-x86-64.so.2",
		"Breakpoint 1, main (argc=2, argv=0xADDR) at loop.c:19",
		"$1 = 0x1234",
		"[Inferior 1 (process PID) exited with code 0147]",
		"* 1    Thread 0xADDR (LWP TID) \"loop\" main () at $WORK/bin/x/loop.c:3",
	}, "\n") + "\n"
	if got := normalizeGDB(in); got != want {
		t.Errorf("normalizeGDB:\n%s", lineDiff(want, got))
	}
}

func TestHarnessLineDiff(t *testing.T) {
	if d := lineDiff("a\nb\n", "a\nb\n"); d != "" {
		t.Errorf("equal inputs: diff %q", d)
	}
	want := "  a\n- b\n+ B\n  c\n+ d\n"
	if d := lineDiff("a\nb\nc\n", "a\nB\nc\nd\n"); d != want {
		t.Errorf("lineDiff = %q, want %q", d, want)
	}
}

func TestHarnessRLE(t *testing.T) {
	for in, want := range map[string]string{
		"0* ":      "0000",   // ' ' = 32: 3 more
		"0*\"":     "000000", // '"' = 34: 5 more
		"ab":       "ab",
		"T05f* ;x": "T05ffff;x",
	} {
		if got, err := rspExpandRLE(in); err != nil || got != want {
			t.Errorf("rspExpandRLE(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"*a", "a*"} {
		if _, err := rspExpandRLE(bad); err == nil {
			t.Errorf("rspExpandRLE(%q): no error", bad)
		}
	}
}
