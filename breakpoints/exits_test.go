package breakpoints

import (
	"errors"
	"reflect"
	"testing"
)

func TestFindRangeExits(t *testing.T) {
	const start = 0x401000
	tests := []struct {
		name    string
		code    []byte
		pc      uint64
		want    RangeExits
		wantErr bool
	}{
		{
			// gcc -O0 of `for (i = 0; i < 1000; i++) sum += i;`:
			//   movl $0,-0xc(%rbp); jmp cond; body: mov -0xc(%rbp),%eax;
			//   cltq; add %rax,-0x8(%rbp); addl $1,-0xc(%rbp);
			//   cond: cmpl $0x3e7,-0xc(%rbp); jle body
			name: "loop on one line",
			code: []byte{
				0xc7, 0x45, 0xf4, 0x00, 0x00, 0x00, 0x00, // movl $0x0,-0xc(%rbp)
				0xeb, 0x0d, // jmp +13
				0x8b, 0x45, 0xf4, // mov -0xc(%rbp),%eax
				0x48, 0x98, // cltq
				0x48, 0x01, 0x45, 0xf8, // add %rax,-0x8(%rbp)
				0x83, 0x45, 0xf4, 0x01, // addl $0x1,-0xc(%rbp)
				0x81, 0x7d, 0xf4, 0xe7, 0x03, 0x00, 0x00, // cmpl $0x3e7,-0xc(%rbp)
				0x7e, 0xe9, // jle body
			},
			pc:   start + 7,
			want: RangeExits{Outside: []uint64{start + 31}},
		},
		{
			name: "call out and return inside",
			code: []byte{
				0xe8, 0xfb, 0x0f, 0x00, 0x00, // call start+0x1000
				0xc3, // ret
			},
			pc:   start,
			want: RangeExits{Outside: []uint64{start + 0x1000}, Inside: []uint64{start + 5}},
		},
		{
			name: "indirect jump and syscall",
			code: []byte{
				0x0f, 0x05, // syscall
				0xff, 0xe0, // jmp *%rax
				0x90, // nop
			},
			pc:   start + 4,
			want: RangeExits{Outside: []uint64{start + 5}, Inside: []uint64{start, start + 2}},
		},
		{
			name: "jump back before the range",
			code: []byte{0x90, 0xeb, 0xf0}, // nop; jmp start+3-16
			pc:   start,
			want: RangeExits{Outside: []uint64{start + 3 - 16}},
		},
		{
			name:    "pc inside an instruction",
			code:    []byte{0xc7, 0x45, 0xf4, 0x00, 0x00, 0x00, 0x00, 0x90},
			pc:      start + 2,
			wantErr: true,
		},
		{
			name:    "instruction running past the end",
			code:    []byte{0x90, 0xc7, 0x45},
			pc:      start,
			wantErr: true,
		},
		{
			name: "int3 is a stop",
			code: []byte{0x90, 0xcc, 0x90},
			pc:   start,
			want: RangeExits{Outside: []uint64{start + 3}, Inside: []uint64{start + 1}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := FindRangeExits(tc.code, start, tc.pc)
			if tc.wantErr {
				if !errors.Is(err, ErrUndecodable) {
					t.Fatalf("err = %v, want ErrUndecodable", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %#v, want %#v", got, tc.want)
			}
		})
	}
}

// FuzzFindRangeExits: any bytes, any pc: no panic, and every exit is
// either outside the range or an instruction inside it.
func FuzzFindRangeExits(f *testing.F) {
	f.Add([]byte{0xeb, 0xfe}, uint64(0))
	f.Add([]byte{0x0f, 0x05, 0xff, 0xe0, 0x90}, uint64(4))
	f.Fuzz(func(t *testing.T, code []byte, pcOff uint64) {
		const start = 0x1000
		if len(code) == 0 || len(code) > 256 {
			return
		}
		ex, err := FindRangeExits(code, start, start+pcOff%uint64(len(code)))
		if err != nil {
			return
		}
		end := uint64(start + len(code))
		for _, a := range ex.Outside {
			if a >= start && a < end {
				t.Errorf("outside exit %#x inside [%#x,%#x)", a, start, end)
			}
		}
		for _, a := range ex.Inside {
			if a < start || a >= end {
				t.Errorf("inside exit %#x outside [%#x,%#x)", a, start, end)
			}
		}
	})
}
