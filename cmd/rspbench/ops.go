package main

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
)

// An op is one benchmarked operation.  prepare runs on a fresh session
// (untimed) and returns the function that performs one iteration; each
// iteration does `units` units of work (one packet round trip, one
// breakpoint hit, 64 MiB).
type op struct {
	name string
	prog string // program the stub runs: "bphit" or "mem64m"
	unit string // "op", "hit" or "MiB"
	desc string
	// noWarmup skips the untimed warm-up iterations (for ops whose one
	// iteration is long).
	noWarmup bool
	prepare  func(s *session) (iter func() error, units float64, err error)
	gdb      *gdbDrive // instead of prepare: the op is run by gdb (gdbops.go)
}

// gdbDefaultPacketSize is what gdb assumes when qSupported has no PacketSize.
const gdbDefaultPacketSize = 400

var ops = []op{
	{
		name: "qC", prog: "bphit", unit: "op",
		desc: "qC round trip on the stopped process (no ptrace work)",
		prepare: func(s *session) (func() error, float64, error) {
			return func() error {
				_, err := s.expect("qC", "QC*")
				return err
			}, 1, nil
		},
	},
	{
		name: "m1", prog: "bphit", unit: "op",
		desc: "m<main>,1: one-byte memory read round trip",
		prepare: func(s *session) (func() error, float64, error) {
			addr, err := s.prog.sym("main")
			if err != nil {
				return nil, 0, err
			}
			req := []byte(fmt.Sprintf("m%x,1", addr))
			return func() error {
				r, err := s.c.ExchangeBytes(req)
				if err != nil {
					return err
				}
				if len(r) != 2 {
					return fmt.Errorf("%s answered %q", req, r)
				}
				return nil
			}, 1, nil
		},
	},
	{
		name: "g", prog: "bphit", unit: "op",
		desc: "g: read all registers",
		prepare: func(s *session) (func() error, float64, error) {
			r, err := s.c.Exchange("g")
			if err != nil {
				return nil, 0, err
			}
			want := len(r)
			if want == 0 || want%2 != 0 || r[0] == 'E' && want == 3 {
				return nil, 0, fmt.Errorf("g answered %q", r)
			}
			return func() error {
				r, err := s.c.ExchangeBytes([]byte("g"))
				if err != nil {
					return err
				}
				if len(r) != want {
					return fmt.Errorf("g answered %d bytes, first time %d", len(r), want)
				}
				return nil
			}, 1, nil
		},
	},
	{
		name: "step", prog: "bphit", unit: "op",
		desc: "vCont;s:pPID.TID single step in main's loop (reply T05)",
		prepare: func(s *session) (func() error, float64, error) {
			hit, err := s.prog.sym("bench_hit")
			if err != nil {
				return nil, 0, err
			}
			if err := s.runTo(hit); err != nil {
				return nil, 0, err
			}
			req := []byte(fmt.Sprintf("vCont;s:p%x.%x", s.pid, s.tid))
			return func() error {
				r, err := s.c.ExchangeBytes(req)
				if err != nil {
					return err
				}
				if len(r) < 3 || r[0] != 'T' || r[1] != '0' || r[2] != '5' {
					return fmt.Errorf("%s answered %q, want T05", req, r)
				}
				return nil
			}, 1, nil
		},
	},
	{
		name: "bphit", prog: "bphit", unit: "hit",
		desc: "breakpoint hit as gdb does it: vCont;c -> T05, z0, vCont;s, Z0",
		prepare: func(s *session) (func() error, float64, error) {
			hit, err := s.prog.sym("bench_hit")
			if err != nil {
				return nil, 0, err
			}
			z0 := fmt.Sprintf("Z0,%x,1", hit)
			if _, err := s.expect(z0, "OK"); err != nil {
				return nil, 0, err
			}
			return s.hitCycle(hit, z0), 1, nil
		},
	},
	{
		name: "mem64m", prog: "mem64m", unit: "MiB", noWarmup: true,
		desc:    "read a 64 MiB buffer with m packets of the largest size PacketSize allows",
		prepare: prepareMem64m,
	},
}

// prepareMem64m runs the inferior to bench_ready (the buffer is filled by
// then), reads the buffer's address and size from the globals bench_buf and
// bench_size, checks a sample of it against its pattern, and returns
// an iteration that reads it all.
func prepareMem64m(s *session) (func() error, float64, error) {
	ready, err := s.prog.sym("bench_ready")
	if err != nil {
		return nil, 0, err
	}
	bufSym, err := s.prog.sym("bench_buf")
	if err != nil {
		return nil, 0, err
	}
	sizeSym, err := s.prog.sym("bench_size")
	if err != nil {
		return nil, 0, err
	}
	if err := s.runTo(ready); err != nil {
		return nil, 0, err
	}
	b, err := s.c.ReadMemory(bufSym, 8)
	if err != nil {
		return nil, 0, fmt.Errorf("reading bench_buf: %w", err)
	}
	base := binary.LittleEndian.Uint64(b)
	b, err = s.c.ReadMemory(sizeSym, 8)
	if err != nil {
		return nil, 0, fmt.Errorf("reading bench_size: %w", err)
	}
	size := binary.LittleEndian.Uint64(b)
	if base == 0 || size == 0 || size > 1<<30 {
		return nil, 0, fmt.Errorf("bench_buf %#x, bench_size %#x", base, size)
	}
	chunk := uint64(memChunk(s))

	// Check a sample of the chunks against the pattern, untimed: every
	// verifyEvery'th (an odd stride, so the samples fall at all positions
	// modulo small powers of two) and the last one.
	const verifyEvery = 17
	got := make([]byte, chunk)
	nchunks := (size + chunk - 1) / chunk
	for k := uint64(0); k < nchunks; k++ {
		if k%verifyEvery != 0 && k != nchunks-1 {
			continue
		}
		off := k * chunk
		r, n, err := readm(s, nil, base+off, min(chunk, size-off))
		if err != nil {
			return nil, 0, err
		}
		if _, err := hex.Decode(got[:n], r); err != nil {
			return nil, 0, fmt.Errorf("m%x: %v", base+off, err)
		}
		for i := uint64(0); i < n; i++ {
			if want := memPattern(off + i); got[i] != want {
				return nil, 0, fmt.Errorf("byte %#x of the buffer is %#02x, want %#02x", off+i, got[i], want)
			}
		}
	}

	req := make([]byte, 0, 40)
	return func() error {
		for off := uint64(0); off < size; {
			_, n, err := readm(s, req, base+off, min(chunk, size-off))
			if err != nil {
				return err
			}
			off += n
		}
		return nil
	}, float64(size) / (1 << 20), nil
}

// readm sends m<addr>,<n> (built in buf) and returns the hex reply and the
// number of bytes it holds.  Like gdb, it accepts a reply shorter than asked
// for (the caller continues after it) and notes that on the session.
func readm(s *session, buf []byte, addr, n uint64) ([]byte, uint64, error) {
	req := mreq(buf[:0], addr, n)
	r, err := s.c.ExchangeBytes(req)
	if err != nil {
		return nil, 0, err
	}
	got := uint64(len(r)) / 2
	if len(r)%2 != 0 || got == 0 || got > n || r[0] == 'E' && len(r) == 3 {
		return nil, 0, fmt.Errorf("%s answered %.20q (%d bytes)", req, r, len(r))
	}
	if got < n {
		s.note(fmt.Sprintf("short m replies (m..,%x answered %d bytes)", n, got))
	}
	return r, got, nil
}

// memChunk is the largest m length whose hex reply fits the stub's
// PacketSize, as gdb computes it.
func memChunk(s *session) int {
	ps := s.feats.PacketSize()
	if ps == 0 {
		ps = gdbDefaultPacketSize
	}
	return ps / 2
}

// memPattern is byte i of mem64m's buffer (see testdata/bench/mem64m.c).
func memPattern(i uint64) byte { return byte(i*7 + (i >> 12)) }

// mreq appends "m<addr>,<n>" to dst.
func mreq(dst []byte, addr, n uint64) []byte {
	dst = append(dst, 'm')
	dst = strconv.AppendUint(dst, addr, 16)
	dst = append(dst, ',')
	return strconv.AppendUint(dst, n, 16)
}

// selectOps returns the ops named in a comma-separated list ("all" or ""
// for all; "roundtrip" stands for qC and m1).
func selectOps(list string) ([]op, error) {
	if list == "" || list == "all" {
		return ops, nil
	}
	var out []op
	seen := map[string]bool{}
	for _, name := range strings.Split(list, ",") {
		name = strings.TrimSpace(name)
		names := []string{name}
		if name == "roundtrip" {
			names = []string{"qC", "m1"}
		}
		for _, n := range names {
			found := false
			for _, o := range ops {
				if o.name == n {
					found = true
					if !seen[n] {
						seen[n] = true
						out = append(out, o)
					}
				}
			}
			if !found {
				return nil, fmt.Errorf("unknown op %q (have %s, roundtrip, all)", n, opNames())
			}
		}
	}
	return out, nil
}

func opNames() string {
	var names []string
	for _, o := range ops {
		names = append(names, o.name)
	}
	return strings.Join(names, ",")
}

// hitCycle is what gdb does per breakpoint hit: continue to the
// breakpoint at hit, remove it, step off it, put it back with z0 (the Z0
// packet, conditions included).
func (s *session) hitCycle(hit uint64, z0 string) func() error {
	rz0 := fmt.Sprintf("z0,%x,1", hit)
	step := fmt.Sprintf("vCont;s:p%x.%x", s.pid, s.tid)
	return func() error {
		if err := s.cont(hit); err != nil {
			return err
		}
		if _, err := s.expect(rz0, "OK"); err != nil {
			return err
		}
		r, err := s.c.Exchange(step)
		if err != nil {
			return err
		}
		if !strings.HasPrefix(r, "T05") {
			return fmt.Errorf("%s answered %q, want T05", step, r)
		}
		_, err = s.expect(z0, "OK")
		return err
	}
}
