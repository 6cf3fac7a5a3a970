package rsp

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// osdataProc serves a different document on every call, so reads that mix
// snapshots would show.
type osdataProc struct {
	*fakeProc
	calls int
}

func (p *osdataProc) OSData(annex string) ([]byte, error) {
	p.calls++
	switch annex {
	case "", "processes":
		return []byte(fmt.Sprintf(`<osdata type="%s">`+"\n<item>#$}*%d</item></osdata>\n", annex, p.calls)), nil
	case "broken":
		return nil, errors.New("broken")
	}
	return nil, nil
}

func TestQXferOSData(t *testing.T) {
	p := &osdataProc{fakeProc: newFakeProc()}
	d := newDirect(p, Options{})
	unesc := func(r string) string {
		b, err := unescapeBinary([]byte(r))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	doc1 := "<osdata type=\"processes\">\n<item>#$}*1</item></osdata>\n"
	if r := unesc(d.one(t, "qXfer:osdata:read:processes:0,1000")); r != "l"+doc1 {
		t.Errorf("whole = %q", r)
	}
	// Chunks come from the snapshot taken at offset 0.
	var got strings.Builder
	for off := 0; ; off += 10 {
		r := unesc(d.one(t, fmt.Sprintf("qXfer:osdata:read:processes:%x,a", off)))
		got.WriteString(r[1:])
		if r[0] == 'l' {
			break
		}
		if r[0] != 'm' {
			t.Fatalf("chunk %q", r)
		}
	}
	if want := strings.Replace(doc1, "1", "2", 1); got.String() != want {
		t.Errorf("chunked = %q, want %q", got.String(), want)
	}
	if p.calls != 2 {
		t.Errorf("%d snapshots, want 2", p.calls)
	}
	if r := unesc(d.one(t, "qXfer:osdata:read::0,1000")); !strings.HasPrefix(r, "l<osdata type=\"\">") {
		t.Errorf("types = %q", r)
	}
	// Unknown types are empty, like gdbserver (gdb: "Wrong osdata type?").
	if r := d.one(t, "qXfer:osdata:read:unknown_entry:0,1000"); r != "l" {
		t.Errorf("unknown = %q", r)
	}
	for _, pkt := range []string{"qXfer:osdata:read:broken:0,100", "qXfer:osdata:read:processes:zz",
		"qXfer:osdata:read:processes"} {
		if r := d.one(t, pkt); r != "E01" {
			t.Errorf("%s = %q", pkt, r)
		}
	}
	if r := d.one(t, "qXfer:osdata:write:processes:0:xx"); r != "" {
		t.Errorf("write = %q", r)
	}

	// Without a process, the prototype answers.
	np := newDirect(nil, Options{Prototype: &osdataProc{fakeProc: newFakeProc()}})
	if r := unesc(np.one(t, "qXfer:osdata:read:processes:0,1000")); r != "l"+doc1 {
		t.Errorf("no process = %q", r)
	}
	// A target without OSDataReader does not know the object.
	if r := newDirect(newFakeProc(), Options{}).one(t, "qXfer:osdata:read::0,100"); r != "" {
		t.Errorf("no reader = %q", r)
	}
}
