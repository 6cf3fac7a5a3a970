package regs

import (
	"bytes"
	"fmt"
	"strings"
)

// The printer reproduces gdbsupport/tdesc.cc print_xml_feature, which is
// what gdbserver sends for qXfer:features:read:target.xml: two spaces per
// level, types before registers, every attribute in a fixed order.

type xmlType interface {
	lines() []string
}

type vectorType struct {
	id, elem string
	count    int
}

func (t *vectorType) lines() []string {
	return []string{fmt.Sprintf(`<vector id="%s" type="%s" count="%d"/>`, t.id, t.elem, t.count)}
}

// field is a struct/union/flags member; start < 0 marks a whole-type field.
type field struct {
	name       string
	start, end int
	typ        string
}

func plain(name, typ string) field { return field{name: name, start: -1, end: -1, typ: typ} }

// fieldsType is a struct, union or flags type.
type fieldsType struct {
	kind, id string
	size     int
	fields   []field
}

func (t *fieldsType) lines() []string {
	head := fmt.Sprintf(`<%s id="%s"`, t.kind, t.id)
	if t.kind != "union" && t.size > 0 {
		head += fmt.Sprintf(` size="%d"`, t.size)
	}
	out := []string{head + ">"}
	for _, f := range t.fields {
		s := fmt.Sprintf(`  <field name="%s"`, f.name)
		if t.kind != "union" && f.start >= 0 {
			s += fmt.Sprintf(` start="%d" end="%d"`, f.start, f.end)
		}
		out = append(out, s+fmt.Sprintf(` type="%s"/>`, f.typ))
	}
	return append(out, fmt.Sprintf("</%s>", t.kind))
}

// TargetXML returns the complete target description (one document, no
// xi:include). The result is a fresh copy.
func (l *Layout) TargetXML() []byte { return bytes.Clone(l.xml) }

func (l *Layout) buildXML() []byte {
	var b strings.Builder
	depth := 0
	line := func(s string) {
		b.WriteString(strings.Repeat(" ", depth))
		b.WriteString(s)
		b.WriteByte('\n')
	}
	line(`<?xml version="1.0"?>`)
	line(`<!DOCTYPE target SYSTEM "gdb-target.dtd">`)
	line(`<target>`)
	depth += 2
	line(`<architecture>i386:x86-64</architecture>`)
	line(`<osabi>GNU/Linux</osabi>`)
	regnum := 0
	for _, f := range l.features {
		line(fmt.Sprintf(`<feature name="%s">`, f.name))
		depth += 2
		for _, t := range f.types {
			for _, s := range t.lines() {
				line(s)
			}
		}
		for range f.regs {
			r := &l.Regs[regnum]
			regnum++
			s := fmt.Sprintf(`<reg name="%s" bitsize="%d" type="%s" regnum="%d"`, r.Name, r.Bits, r.Type, r.Regnum)
			if r.Group != "" {
				s += fmt.Sprintf(` group="%s"`, r.Group)
			}
			line(s + "/>")
		}
		depth -= 2
		line(`</feature>`)
	}
	depth -= 2
	line(`</target>`)
	return []byte(b.String())
}
