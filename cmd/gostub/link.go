package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// fdLink is the byte stream to the client, used with blocking system calls
// on the serving thread, as gdbserver does: a packet wakes that thread
// directly, with no goroutine to schedule in between. While the program
// runs, Watch polls the link from another goroutine for Ctrl-C.
type fdLink struct {
	rfd, wfd int

	mu      sync.Mutex
	pending []byte // read by the watcher, not yet by the session
	eof     bool

	cancelR, cancelW int // wakes the watcher when the program stops

	spin  bool // poll a socket briefly before sleeping in read
	owned bool // rfd (== wfd) is ours to close
}

// readSpin is how long Read polls a socket before it blocks. gdb sends its
// next packet within microseconds of a reply (z, s, Z around a breakpoint;
// m after a stop), and a thread that is still running picks it up without
// the wake-up of one asleep.
const readSpin = 100 * time.Microsecond

// newFDLink takes over the descriptors of conn (or stdin/stdout) in
// blocking mode. A TCP connection's socket moves to a descriptor of the
// link's own, and conn is closed: left in Go's network poller, every packet
// that arrives would also wake a runtime thread waiting in epoll, on the
// CPU the program wants.
func newFDLink(conn net.Conn, rfd, wfd int) (*fdLink, error) {
	var tc *net.TCPConn
	if conn != nil {
		var ok bool
		if tc, ok = conn.(*net.TCPConn); !ok {
			return nil, errors.New("not a TCP connection")
		}
		raw, err := tc.SyscallConn()
		if err != nil {
			return nil, err
		}
		var derr error
		if err := raw.Control(func(fd uintptr) {
			rfd, derr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0)
		}); err != nil {
			return nil, err
		}
		if derr != nil {
			return nil, fmt.Errorf("link: %w", derr)
		}
		wfd = rfd
	}
	l, err := linkFDs(rfd, wfd, tc != nil)
	if err != nil {
		if tc != nil {
			unix.Close(rfd)
		}
		return nil, err
	}
	if tc != nil {
		l.owned = true
		tc.Close()
	}
	return l, nil
}

// linkFDs makes the link of rfd and wfd, in blocking mode.
func linkFDs(rfd, wfd int, socket bool) (*fdLink, error) {
	for _, fd := range []int{rfd, wfd} {
		if err := unix.SetNonblock(fd, false); err != nil {
			return nil, fmt.Errorf("link: %w", err)
		}
	}
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		return nil, fmt.Errorf("link: %w", err)
	}
	// One CPU: polling would only hold back the client.
	return &fdLink{rfd: rfd, wfd: wfd, cancelR: p[0], cancelW: p[1], spin: socket && runtime.NumCPU() > 1}, nil
}

func (l *fdLink) Read(b []byte) (int, error) {
	l.mu.Lock()
	if len(l.pending) > 0 {
		n := copy(b, l.pending)
		l.pending = l.pending[n:]
		l.mu.Unlock()
		return n, nil
	}
	eof := l.eof
	l.mu.Unlock()
	if eof {
		return 0, io.EOF
	}
	if l.spin {
		var deadline time.Time
		for i := 0; ; i++ {
			n, err := recvNoWait(l.rfd, b)
			if err == nil && n == 0 {
				return 0, io.EOF
			}
			if err == nil {
				return n, nil
			}
			if err != unix.EAGAIN && err != unix.EINTR {
				return 0, err
			}
			schedYield() // the client may be queued on this CPU
			if i%8 == 0 {
				now := time.Now()
				if deadline.IsZero() {
					deadline = now.Add(readSpin)
				} else if now.After(deadline) {
					break
				}
			}
		}
	}
	for {
		n, err := unix.Read(l.rfd, b)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			return 0, err
		case n == 0:
			return 0, io.EOF
		}
		return n, nil
	}
}

func (l *fdLink) Write(b []byte) (int, error) {
	done := 0
	for done < len(b) {
		n, err := unix.Write(l.wfd, b[done:])
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return done, err
		}
		done += n
	}
	return done, nil
}

// Watch polls the link while the program runs; Ctrl-C or the client's
// going away calls interrupt. What it reads stays for the session. The
// session calls it only once the program has run for a while (the target
// says when it is about to sleep): most resumes, a step or a breakpoint
// in a loop, end sooner and pay for no goroutine, poll and hand-back.
func (l *fdLink) Watch(interrupt func()) (stop func()) {
	done := make(chan struct{})
	go l.watch(interrupt, done)
	return func() {
		unix.Write(l.cancelW, []byte{0})
		<-done
	}
}

func (l *fdLink) watch(interrupt func(), done chan struct{}) {
	{
		defer close(done)
		buf := make([]byte, 4096)
		for {
			fds := []unix.PollFd{{Fd: int32(l.rfd), Events: unix.POLLIN}, {Fd: int32(l.cancelR), Events: unix.POLLIN}}
			if _, err := unix.Poll(fds, -1); err != nil {
				if errors.Is(err, unix.EINTR) {
					continue
				}
				return
			}
			if fds[1].Revents != 0 {
				var drain [16]byte
				unix.Read(l.cancelR, drain[:])
				return
			}
			n, err := unix.Read(l.rfd, buf)
			if errors.Is(err, unix.EINTR) || errors.Is(err, unix.EAGAIN) {
				continue
			}
			l.mu.Lock()
			if n <= 0 {
				l.eof = true
			} else {
				l.pending = append(l.pending, buf[:n]...)
			}
			l.mu.Unlock()
			if n <= 0 {
				interrupt()
				return
			}
			for _, c := range buf[:n] {
				if c == 0x03 {
					interrupt()
					break
				}
			}
		}
	}
}

func (l *fdLink) close() {
	unix.Close(l.cancelR)
	unix.Close(l.cancelW)
	if l.owned {
		unix.Close(l.rfd)
	}
}

// recvNoWait is recv(fd, b, MSG_DONTWAIT). Not unix.Recvfrom, which
// allocates a source address per call: polled thousands of times a second,
// that kept the garbage collector busy.
func recvNoWait(fd int, b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	n, _, e := unix.RawSyscall6(unix.SYS_RECVFROM, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), unix.MSG_DONTWAIT, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// schedYield gives the CPU to another runnable task, if any; it never
// blocks, so it needs none of Go's system-call bookkeeping.
func schedYield() { unix.RawSyscall(unix.SYS_SCHED_YIELD, 0, 0, 0) }
