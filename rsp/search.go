package rsp

import (
	"bytes"
	"strconv"

	"github.com/gostub/gostub/target"
)

// Work done in the stub on the client's behalf: syscall catching, memory
// search (gdb's `find`) and CRC (`compare-sections`).

func init() {
	register(
		route{"QCatchSyscalls:", (*Session).catchSyscalls},
		route{"qSearch:memory:", (*Session).searchMemory},
		route{"qCRC:", (*Session).crc},
	)
}

// QCatchSyscalls:0 | QCatchSyscalls:1[;NR]...
func (s *Session) catchSyscalls(pkt []byte) {
	if _, ok := s.caps().(target.SyscallCatcher); !ok {
		s.reply(nil)
		return
	}
	args := bytes.Split(pkt[len("QCatchSyscalls:"):], []byte{';'})
	var nums []int
	switch string(args[0]) {
	case "0":
		if len(args) != 1 {
			s.replyString("E01")
			return
		}
	case "1":
		for _, a := range args[1:] {
			n, err := parseHexInt(a)
			if err != nil {
				s.replyString("E01")
				return
			}
			nums = append(nums, n)
		}
	default:
		s.replyString("E01")
		return
	}
	s.catch = &syscallCatch{on: string(args[0]) == "1", nums: nums}
	if p, ok := s.proc.(target.SyscallCatcher); ok {
		p.CatchSyscalls(s.catch.on, s.catch.nums)
	}
	s.replyString("OK")
}

type syscallCatch struct {
	on   bool
	nums []int
}

// searchChunk is how much memory one read of the search covers.
const searchChunk = 64 << 10

// qSearch:memory:ADDR;LEN;PATTERN(hex) -> 1,ADDR | 0
func (s *Session) searchMemory(pkt []byte) {
	parts := bytes.SplitN(pkt[len("qSearch:memory:"):], []byte{';'}, 3)
	if len(parts) != 3 || s.proc == nil {
		s.replyString("E01")
		return
	}
	addr, err1 := parseHex(parts[0])
	length, err2 := parseHex(parts[1])
	pattern, err3 := unescapeBinary(parts[2])
	if err1 != nil || err2 != nil || err3 != nil || len(pattern) == 0 {
		s.replyString("E01")
		return
	}
	buf := make([]byte, searchChunk+len(pattern)-1)
	for done := uint64(0); done < length; done += searchChunk {
		n := min(uint64(len(buf)), length-done)
		if err := s.proc.ReadMemory(addr+done, buf[:n]); err != nil {
			s.replyString("E01")
			return
		}
		if i := bytes.Index(buf[:n], pattern); i >= 0 {
			s.reply(strconv.AppendUint([]byte("1,"), addr+done+uint64(i), 16))
			return
		}
	}
	s.replyString("0")
}

// crcTable is gdb's CRC-32 (libiberty xcrc32): polynomial 0x04c11db7,
// most significant bit first, which hash/crc32 (reflected only) cannot do.
var crcTable = func() (t [256]uint32) {
	for i := range t {
		c := uint32(i) << 24
		for j := 0; j < 8; j++ {
			if c&0x80000000 != 0 {
				c = c<<1 ^ 0x04c11db7
			} else {
				c <<= 1
			}
		}
		t[i] = c
	}
	return
}()

func gdbCRC(crc uint32, b []byte) uint32 {
	for _, c := range b {
		crc = crc<<8 ^ crcTable[byte(crc>>24)^c]
	}
	return crc
}

// qCRC:ADDR,LEN -> C<crc>
func (s *Session) crc(pkt []byte) {
	addr, n, err := parseAddrLen(pkt[len("qCRC:"):])
	if err != nil || s.proc == nil {
		s.replyString("E01")
		return
	}
	crc := uint32(0xffffffff)
	buf := make([]byte, min(n, searchChunk))
	for done := 0; done < n; done += len(buf) {
		chunk := buf[:min(len(buf), n-done)]
		if err := s.proc.ReadMemory(addr+uint64(done), chunk); err != nil {
			s.replyString("E01")
			return
		}
		crc = gdbCRC(crc, chunk)
	}
	s.reply(strconv.AppendUint([]byte{'C'}, uint64(crc), 16))
}
