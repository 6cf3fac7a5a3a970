package rsp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strconv"
	"syscall"

	"github.com/gostub/gostub/target"
)

// Host I/O (vFile): gdb reads the executable and libraries, /proc files
// and `remote get/put/delete` through these.

// gdb's fileio errno values; most equal Linux's, ENAMETOOLONG does not.
var fileioErrno = map[syscall.Errno]int{
	syscall.EPERM: 1, syscall.ENOENT: 2, syscall.EINTR: 4, syscall.EBADF: 9, syscall.EACCES: 13,
	syscall.EFAULT: 14, syscall.EBUSY: 16, syscall.EEXIST: 17, syscall.ENODEV: 19, syscall.ENOTDIR: 20,
	syscall.EISDIR: 21, syscall.EINVAL: 22, syscall.ENFILE: 23, syscall.EMFILE: 24, syscall.EFBIG: 27,
	syscall.ENOSPC: 28, syscall.ESPIPE: 29, syscall.EROFS: 30, syscall.ENAMETOOLONG: 91,
}

const fileioEUnknown = 9999

type hostFiles struct {
	fsPID int
	next  int
	open  map[int]target.File
}

func (s *Session) replyFileError(err error) {
	code := fileioEUnknown
	var errno syscall.Errno
	if errors.As(err, &errno) {
		if c, ok := fileioErrno[errno]; ok {
			code = c
		}
	}
	s.reply(append([]byte("F-1,"), strconv.FormatInt(int64(code), 16)...))
}

func (s *Session) replyFileResult(n int, data []byte) {
	b := append([]byte{'F'}, strconv.FormatInt(int64(n), 16)...)
	if data != nil {
		b = append(b, ';')
		b = escapeBinary(b, data)
	}
	s.reply(b)
}

// fileArgs splits the comma-separated arguments after "vFile:op:".
func fileArgs(b []byte, n int) ([][]byte, bool) {
	parts := bytes.SplitN(b, []byte{','}, n)
	return parts, len(parts) == n
}

func (s *Session) vFile(pkt []byte) {
	if s.opts.FS == nil {
		s.reply(nil)
		return
	}
	if s.files.open == nil {
		s.files.open = map[int]target.File{}
		s.files.next = 3
	}
	op, args, ok := bytes.Cut(pkt[len("vFile:"):], []byte{':'})
	if !ok {
		s.replyString("F-1,16")
		return
	}
	fs := s.opts.FS
	switch string(op) {
	case "setfs":
		pid, err := parseHexInt(args)
		if err != nil {
			s.replyFileError(syscall.EINVAL)
			return
		}
		s.files.fsPID = pid
		s.replyString("F0")
	case "open":
		a, ok := fileArgs(args, 3)
		path, err1 := decodeHex(a[0])
		flags, err2 := parseHexInt(a[min(1, len(a)-1)])
		mode, err3 := parseHex(a[len(a)-1])
		if !ok || err1 != nil || err2 != nil || err3 != nil {
			s.replyFileError(syscall.EINVAL)
			return
		}
		f, err := fs.OpenFile(s.files.fsPID, string(path), flags, uint32(mode))
		if err != nil {
			s.replyFileError(err)
			return
		}
		fd := s.files.next
		s.files.next++
		s.files.open[fd] = f
		s.replyFileResult(fd, nil)
	case "pread":
		a, ok := fileArgs(args, 3)
		f, okf := s.fileArg(a[0])
		count, err1 := parseHexInt(a[min(1, len(a)-1)])
		off, err2 := parseHex(a[len(a)-1])
		if !ok || err1 != nil || err2 != nil {
			s.replyFileError(syscall.EINVAL)
			return
		}
		if !okf {
			s.replyFileError(syscall.EBADF)
			return
		}
		// Escaping may double the data; keep the reply within PacketSize.
		buf := make([]byte, min(count, (MaxPacket-32)/2))
		n, err := f.ReadAt(buf, int64(off))
		if n == 0 && err != nil && !isEOF(err) {
			s.replyFileError(err)
			return
		}
		s.replyFileResult(n, buf[:n])
	case "pwrite":
		a, ok := fileArgs(args, 3)
		f, okf := s.fileArg(a[0])
		off, err1 := parseHex(a[min(1, len(a)-1)])
		data, err2 := unescapeBinary(a[len(a)-1])
		if !ok || err1 != nil || err2 != nil {
			s.replyFileError(syscall.EINVAL)
			return
		}
		if !okf {
			s.replyFileError(syscall.EBADF)
			return
		}
		n, err := f.WriteAt(data, int64(off))
		if err != nil && n == 0 {
			s.replyFileError(err)
			return
		}
		s.replyFileResult(n, nil)
	case "close":
		fd, err := parseHexInt(args)
		f, ok := s.files.open[fd]
		if err != nil || !ok {
			s.replyFileError(syscall.EBADF)
			return
		}
		delete(s.files.open, fd)
		if err := f.Close(); err != nil {
			s.replyFileError(err)
			return
		}
		s.replyString("F0")
	case "fstat":
		f, ok := s.fileArg(args)
		if !ok {
			s.replyFileError(syscall.EBADF)
			return
		}
		st, err := f.Stat()
		if err != nil {
			s.replyFileError(err)
			return
		}
		s.replyFileResult(64, encodeFileioStat(st))
	case "unlink":
		path, err := decodeHex(args)
		if err != nil {
			s.replyFileError(syscall.EINVAL)
			return
		}
		if err := fs.Unlink(s.files.fsPID, string(path)); err != nil {
			s.replyFileError(err)
			return
		}
		s.replyString("F0")
	case "readlink":
		path, err := decodeHex(args)
		if err != nil {
			s.replyFileError(syscall.EINVAL)
			return
		}
		dest, err := fs.Readlink(s.files.fsPID, string(path))
		if err != nil {
			s.replyFileError(err)
			return
		}
		s.replyFileResult(len(dest), []byte(dest))
	default:
		s.reply(nil)
	}
}

func isEOF(err error) bool { return errors.Is(err, io.EOF) }

func (s *Session) fileArg(b []byte) (target.File, bool) {
	fd, err := parseHexInt(b)
	if err != nil {
		return nil, false
	}
	f, ok := s.files.open[fd]
	return f, ok
}

// closeFiles releases what the client left open.
func (s *Session) closeFiles() {
	for fd, f := range s.files.open {
		f.Close()
		delete(s.files.open, fd)
	}
}

// encodeFileioStat is gdb's struct fio_stat: big-endian, 64 bytes.
func encodeFileioStat(st target.FileStat) []byte {
	b := make([]byte, 0, 64)
	for _, v := range []uint32{st.Dev, st.Ino, st.Mode, st.Nlink, st.UID, st.GID, st.Rdev} {
		b = binary.BigEndian.AppendUint32(b, v)
	}
	for _, v := range []uint64{st.Size, st.Blksize, st.Blocks} {
		b = binary.BigEndian.AppendUint64(b, v)
	}
	for _, v := range []uint32{st.Atime, st.Mtime, st.Ctime} {
		b = binary.BigEndian.AppendUint32(b, v)
	}
	return b
}
