package regs

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"os"
	"strings"
	"testing"
)

// The reference is gdbserver 13.1's qXfer:features:read:target.xml on this host.
func TestTargetXMLMatchesGdbserver(t *testing.T) {
	want, err := os.ReadFile("testdata/target-xml-gdbserver-amd64.xml")
	if err != nil {
		t.Fatal(err)
	}
	if got := AMD64(0xe7).TargetXML(); !bytes.Equal(got, want) {
		t.Fatalf("target.xml differs from gdbserver's:\n%s", firstDiff(got, want))
	}
}

// The tdesc-gdb13-*.xml goldens are gdb 13.1's "maint print xml-tdesc" of
// gdb/features/i386/64bit-*.xml included in amd64_create_target_description
// order: gdb's own printer, independent of this package.
func TestTargetXMLMatchesGdbFeatures(t *testing.T) {
	for _, xcr0 := range []uint64{0x3, 0x7, 0x1f, 0x2e7, 0x2ff} {
		t.Run(fmt.Sprintf("%#x", xcr0), func(t *testing.T) {
			want, err := os.ReadFile(fmt.Sprintf("testdata/tdesc-gdb13-%x.xml", xcr0))
			if err != nil {
				t.Fatal(err)
			}
			if got := AMD64(xcr0).TargetXML(); !bytes.Equal(got, want) {
				t.Fatalf("target.xml differs from gdb's:\n%s", firstDiff(got, want))
			}
		})
	}
}

// Every description parses and agrees with the register table.
func TestTargetXMLAgreesWithTable(t *testing.T) {
	type xreg struct {
		Name    string `xml:"name,attr"`
		Bitsize int    `xml:"bitsize,attr"`
		Type    string `xml:"type,attr"`
		Regnum  int    `xml:"regnum,attr"`
		Group   string `xml:"group,attr"`
	}
	type xfeature struct {
		Name string `xml:"name,attr"`
		Regs []xreg `xml:"reg"`
	}
	type xtarget struct {
		Arch     string     `xml:"architecture"`
		OSABI    string     `xml:"osabi"`
		Features []xfeature `xml:"feature"`
	}
	for _, xcr0 := range []uint64{0x3, 0x7, 0x1f, 0xe7, 0x2e7, 0x2ff} {
		l := AMD64(xcr0)
		var doc xtarget
		if err := xml.Unmarshal(l.TargetXML(), &doc); err != nil {
			t.Fatalf("%#x: %v", xcr0, err)
		}
		if doc.Arch != "i386:x86-64" || doc.OSABI != "GNU/Linux" {
			t.Errorf("%#x: architecture %q osabi %q", xcr0, doc.Arch, doc.OSABI)
		}
		n := 0
		for _, f := range doc.Features {
			for _, x := range f.Regs {
				r, ok := l.Reg(x.Regnum)
				if !ok || r.Name != x.Name || r.Bits != x.Bitsize || r.Type != x.Type || r.Group != x.Group || r.Feature != f.Name {
					t.Errorf("%#x: xml %+v in %s, table %+v", xcr0, x, f.Name, r)
				}
				if x.Regnum != n {
					t.Errorf("%#x: %s regnum %d, want %d", xcr0, x.Name, x.Regnum, n)
				}
				n++
			}
		}
		if n != len(l.Regs) {
			t.Errorf("%#x: %d registers in XML, %d in table", xcr0, n, len(l.Regs))
		}
	}
}

func TestTargetXMLIsACopy(t *testing.T) {
	l := AMD64(0xe7)
	x := l.TargetXML()
	x[0] = 'X'
	if l.TargetXML()[0] != '<' {
		t.Fatal("TargetXML exposes the cached document")
	}
}

func firstDiff(got, want []byte) string {
	g, w := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
	for i := 0; i < len(g) || i < len(w); i++ {
		var a, b string
		if i < len(g) {
			a = g[i]
		}
		if i < len(w) {
			b = w[i]
		}
		if a != b {
			return fmt.Sprintf("line %d:\n got  %q\n want %q", i+1, a, b)
		}
	}
	return "(same lines)"
}
