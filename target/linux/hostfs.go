package linux

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/gostub/gostub/target"
)

// HostFS opens files for vFile requests. A process in another mount
// namespace is served through /proc/PID/root.
type HostFS struct{}

var _ target.HostFS = HostFS{}

func resolvePath(fsPID int, path string) string {
	if fsPID <= 0 {
		return path
	}
	ours, err1 := os.Readlink("/proc/self/ns/mnt")
	theirs, err2 := os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", fsPID))
	if err1 != nil || err2 != nil || ours == theirs {
		return path
	}
	return filepath.Join(fmt.Sprintf("/proc/%d/root", fsPID), path)
}

// OpenFile opens path with gdb fileio flags.
func (HostFS) OpenFile(fsPID int, path string, flags int, mode uint32) (target.File, error) {
	var f int
	switch {
	case flags&target.OpenRDWR != 0:
		f = os.O_RDWR
	case flags&target.OpenWrite != 0:
		f = os.O_WRONLY
	default:
		f = os.O_RDONLY
	}
	for gdbFlag, osFlag := range map[int]int{target.OpenAppend: os.O_APPEND, target.OpenCreate: os.O_CREATE,
		target.OpenTrunc: os.O_TRUNC, target.OpenExcl: os.O_EXCL} {
		if flags&gdbFlag != 0 {
			f |= osFlag
		}
	}
	file, err := os.OpenFile(resolvePath(fsPID, path), f|syscall.O_CLOEXEC, os.FileMode(mode&0o777))
	if err != nil {
		return nil, err
	}
	return hostFile{file}, nil
}

// Unlink removes a file.
func (HostFS) Unlink(fsPID int, path string) error {
	return syscall.Unlink(resolvePath(fsPID, path))
}

// Readlink reads a symbolic link.
func (HostFS) Readlink(fsPID int, path string) (string, error) {
	return os.Readlink(resolvePath(fsPID, path))
}

type hostFile struct{ *os.File }

func (f hostFile) Stat() (target.FileStat, error) {
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		return target.FileStat{}, err
	}
	return target.FileStat{
		Dev: uint32(st.Dev), Ino: uint32(st.Ino), Mode: st.Mode, Nlink: uint32(st.Nlink),
		UID: st.Uid, GID: st.Gid, Rdev: uint32(st.Rdev), Size: uint64(st.Size),
		Blksize: uint64(st.Blksize), Blocks: uint64(st.Blocks),
		Atime: uint32(st.Atim.Sec), Mtime: uint32(st.Mtim.Sec), Ctime: uint32(st.Ctim.Sec),
	}, nil
}
