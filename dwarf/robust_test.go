package dwarf

import (
	"bytes"
	"errors"
	"io/fs"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Open(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open(missing) = %v", err)
	}
	text := filepath.Join(dir, "text")
	os.WriteFile(text, []byte("#!/bin/sh\necho not an ELF file\n"), 0o644)
	if _, err := Open(text); err == nil || !strings.Contains(err.Error(), "not a valid ELF file") {
		t.Errorf("Open(text) = %v", err)
	}
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, nil, 0o644)
	if _, err := Open(empty); err == nil {
		t.Errorf("Open(empty) succeeded")
	}
}

// TestTruncatedELF opens the program cut at many lengths: every cut is an
// error (the section headers sit at the end), never a panic.
func TestTruncatedELF(t *testing.T) {
	data, err := os.ReadFile(progO0(t))
	if err != nil {
		t.Fatal(err)
	}
	cuts := []int{0, 1, 4, 16, 63, 64, 65, 200, len(data) - 1, len(data) - 64}
	for n := 0; n < len(data); n += len(data)/97 + 1 {
		cuts = append(cuts, n)
	}
	for _, n := range cuts {
		o, err := NewFile(bytes.NewReader(data[:n]), "truncated")
		if err == nil {
			exercise(t, o)
			t.Errorf("truncated at %d of %d bytes: opened without error", n, len(data))
		}
	}
	// Through a file too, as Open reads it.
	p := filepath.Join(t.TempDir(), "prog")
	os.WriteFile(p, data[:len(data)/2], 0o755)
	if _, err := Open(p); err == nil {
		t.Errorf("Open(half a program) succeeded")
	}
}

// TestCorruptELF flips random bytes all over the program, its DWARF and
// its CFI: opening may fail or succeed, and every query on what opened
// must answer or fail without panicking.
func TestCorruptELF(t *testing.T) {
	for _, bin := range []string{progO0(t), recO2(t)} {
		data, err := os.ReadFile(bin)
		if err != nil {
			t.Fatal(err)
		}
		ref := mustOpen(t, bin)
		var regions [][2]int
		for _, s := range ref.file.Sections {
			if strings.HasPrefix(s.Name, ".debug") || s.Name == ".eh_frame" || s.Name == ".symtab" || s.Name == ".dynsym" {
				regions = append(regions, [2]int{int(s.Offset), int(s.Offset + s.FileSize)})
			}
		}
		regions = append(regions, [2]int{0, 64})
		rng := rand.New(rand.NewSource(1))
		opened := 0
		for i := 0; i < 300; i++ {
			b := bytes.Clone(data)
			r := regions[rng.Intn(len(regions))]
			for k := 1 + rng.Intn(16); k > 0; k-- {
				if r[1] > r[0] {
					b[r[0]+rng.Intn(r[1]-r[0])] = byte(rng.Intn(256))
				}
			}
			o, err := NewFile(bytes.NewReader(b), "corrupt")
			if err != nil {
				continue
			}
			opened++
			exercise(t, o)
		}
		t.Logf("%s: %d of 300 corrupted copies opened", filepath.Base(bin), opened)
	}
}

// exercise runs every query on o; it must not panic.
func exercise(t testing.TB, o *Object) {
	addrs := rowAddrs(o)
	if len(addrs) > 200 {
		addrs = addrs[:200]
	}
	addrs = append(addrs, o.Entry(), 0, ^uint64(0))
	for _, pc := range addrs {
		o.PCToLine(pc)
		o.LineRange(pc)
		o.Symbol(pc)
	}
	for _, f := range o.Functions() {
		o.FunctionEntry(f)
	}
	for _, f := range o.SourceFiles() {
		for l := 1; l < 60; l += 7 {
			o.LineToPCs(f, l)
		}
	}
	for name := range o.vars {
		o.Global(name)
	}
	s := NewSpace()
	s.Add(o, 0x10000, "x")
	for _, pc := range addrs[:min(len(addrs), 40)] {
		Unwind(s, map[int]uint64{16: pc + 0x10000, 7: 0x7fff0000, 6: 0x7fff0100}, zeroMemory{}, 50)
	}
}

type zeroMemory struct{}

func (zeroMemory) ReadMemory(addr uint64, buf []byte) error {
	clear(buf)
	return nil
}

func FuzzOpen(f *testing.F) {
	if data, err := os.ReadFile(build(f, "prog", []string{"prog.c"}, "-O0")); err == nil {
		f.Add(data)
	}
	f.Add([]byte("\x7fELF\x02\x01\x01"))
	f.Fuzz(func(t *testing.T, data []byte) {
		o, err := NewFile(bytes.NewReader(data), "fuzz")
		if err != nil {
			return
		}
		exercise(t, o)
	})
}
