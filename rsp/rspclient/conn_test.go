package rspclient

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

// step is one action of a scripted server: read exactly `read` from the
// client, or write `write` to it.
type step struct {
	read, write string
}

func rd(s string) step { return step{read: s} }
func wr(s string) step { return step{write: s} }

// scripted runs script on the server end of a pipe and returns the client
// Conn and a channel that yields the first script error (or nil) when the
// script is done.
func scripted(t *testing.T, script []step) (*Conn, <-chan error) {
	t.Helper()
	cli, srv := net.Pipe()
	done := make(chan error, 1)
	go func() {
		defer srv.Close()
		for i, s := range script {
			srv.SetDeadline(time.Now().Add(5 * time.Second))
			if s.write != "" {
				if _, err := srv.Write([]byte(s.write)); err != nil {
					done <- fmt.Errorf("step %d: write: %v", i, err)
					return
				}
				continue
			}
			buf := make([]byte, len(s.read))
			if _, err := io.ReadFull(srv, buf); err != nil {
				done <- fmt.Errorf("step %d: read %q: %v", i, s.read, err)
				return
			}
			if string(buf) != s.read {
				done <- fmt.Errorf("step %d: client sent %q, want %q", i, buf, s.read)
				return
			}
		}
		done <- nil
	}()
	c := New(cli)
	c.Timeout = 5 * time.Second
	t.Cleanup(func() { c.Close() })
	return c, done
}

func TestConnScripted(t *testing.T) {
	for _, tc := range []struct {
		name    string
		noAck   bool
		script  []step
		do      func(c *Conn) (string, error)
		want    string
		wantErr error
	}{
		{
			name:   "exchange with acks",
			script: []step{rd("$qC#b4"), wr("+"), wr("$QCp1.1#" + sumHex("QCp1.1")), rd("+")},
			do:     func(c *Conn) (string, error) { return c.Exchange("qC") },
			want:   "QCp1.1",
		},
		{
			name:   "retransmit on nak",
			script: []step{rd("$qC#b4"), wr("-"), rd("$qC#b4"), wr("-"), rd("$qC#b4"), wr("+")},
			do:     func(c *Conn) (string, error) { return "", c.Send("qC") },
		},
		{
			name: "give up after naks",
			script: []step{
				rd("$?#3f"), wr("-"), rd("$?#3f"), wr("-"), rd("$?#3f"), wr("-"),
				rd("$?#3f"), wr("-"), rd("$?#3f"), wr("-"), rd("$?#3f"), wr("-"),
			},
			do:      func(c *Conn) (string, error) { return "", c.Send("?") },
			wantErr: ErrNak,
		},
		{
			name:    "junk instead of ack",
			script:  []step{rd("$?#3f"), wr("x")},
			do:      func(c *Conn) (string, error) { return "", c.Send("?") },
			wantErr: ErrUnexpected,
		},
		{
			name:   "bad checksum is naked and resent",
			script: []step{wr("$OK#00"), rd("-"), wr("$OK#9a"), rd("+")},
			do:     func(c *Conn) (string, error) { return c.Recv() },
			want:   "OK",
		},
		{
			name:    "bad checksum without acks",
			noAck:   true,
			script:  []step{wr("$OK#00")},
			do:      func(c *Conn) (string, error) { return c.Recv() },
			wantErr: ErrChecksum,
		},
		{
			name:   "upper case checksum digits",
			script: []step{wr("$QCp1.1#" + strings.ToUpper(sumHex("QCp1.1"))), rd("+")},
			do:     func(c *Conn) (string, error) { return c.Recv() },
			want:   "QCp1.1",
		},
		{
			name:    "checksum not hex",
			noAck:   true,
			script:  []step{wr("$OK#zz")},
			do:      func(c *Conn) (string, error) { return c.Recv() },
			wantErr: ErrBadChecksumDigits,
		},
		{
			name:   "run-length encoded reply",
			noAck:  true,
			script: []step{rd("$g#67"), wr("$0* 1*!#" + sumHex("0* 1*!"))},
			do:     func(c *Conn) (string, error) { return c.Exchange("g") },
			want:   "000011111",
		},
		{
			name:   "repeat count that is a hash",
			noAck:  true,
			script: []step{wr("$x*##" + sumHex("x*#"))},
			do:     func(c *Conn) (string, error) { return c.Recv() },
			want:   "xxxxxxx",
		},
		{
			name:   "stray plus before reply",
			noAck:  true,
			script: []step{rd("$?#3f"), wr("++$S05#b8")},
			do:     func(c *Conn) (string, error) { return c.Exchange("?") },
			want:   "S05",
		},
		{
			name:   "dollar restarts a frame",
			noAck:  true,
			script: []step{wr("$O$OK#9a")},
			do:     func(c *Conn) (string, error) { return c.Recv() },
			want:   "OK",
		},
		{
			name:    "junk outside a packet",
			noAck:   true,
			script:  []step{wr("x$OK#9a")},
			do:      func(c *Conn) (string, error) { return c.Recv() },
			wantErr: ErrUnexpected,
		},
		{
			name:    "eof inside a packet",
			noAck:   true,
			script:  []step{wr("$OK")},
			do:      func(c *Conn) (string, error) { return c.Recv() },
			wantErr: io.ErrUnexpectedEOF,
		},
		{
			name:    "bad run-length",
			noAck:   true,
			script:  []step{wr("$*!#" + sumHex("*!"))},
			do:      func(c *Conn) (string, error) { return c.Recv() },
			wantErr: ErrBadRLE,
		},
		{
			name:   "no acks after QStartNoAckMode",
			script: []step{rd("$QStartNoAckMode#b0"), wr("+"), wr("$OK#9a"), rd("+"), rd("$?#3f"), wr("$S05#b8")},
			do: func(c *Conn) (string, error) {
				if err := c.StartNoAck(); err != nil {
					return "", err
				}
				return c.Exchange("?")
			},
			want: "S05",
		},
		{
			name:   "QStartNoAckMode refused",
			script: []step{rd("$QStartNoAckMode#b0"), wr("+"), wr("$#00"), rd("+"), rd("$?#3f"), wr("+")},
			do: func(c *Conn) (string, error) {
				if err := c.StartNoAck(); err == nil {
					return "", errors.New("StartNoAck succeeded on an empty reply")
				}
				if c.NoAck() {
					return "", errors.New("acks off after refusal")
				}
				return "", c.Send("?")
			},
		},
		{
			name:   "notification is queued, not acked",
			script: []step{rd("$vCont;c#a8"), wr("+"), wr("%Stop:T05#" + sumHex("Stop:T05")), wr("$OK#9a"), rd("+")},
			do: func(c *Conn) (string, error) {
				r, err := c.Exchange("vCont;c")
				if err != nil {
					return "", err
				}
				n := c.Notifications()
				return r + "|" + strings.Join(n, ","), nil
			},
			want: "OK|Stop:T05",
		},
		{
			name:   "binary payload is escaped",
			noAck:  true,
			script: []step{rd("$X10,4:}\x03}\x04}]}\x0a#" + sumHex("X10,4:}\x03}\x04}]}\x0a")), wr("$OK#9a")},
			do: func(c *Conn) (string, error) {
				return "", c.WriteMemory(0x10, []byte("#$}*"))
			},
		},
		{
			name:   "read memory",
			noAck:  true,
			script: []step{rd("$m401000,4#" + sumHex("m401000,4")), wr("$554889e5#" + sumHex("554889e5"))},
			do: func(c *Conn) (string, error) {
				b, err := c.ReadMemory(0x401000, 4)
				return string(b), err
			},
			want: "\x55\x48\x89\xe5",
		},
		{
			name:    "read memory error reply",
			noAck:   true,
			script:  []step{rd("$m0,1#" + sumHex("m0,1")), wr("$E01#a6")},
			do:      func(c *Conn) (string, error) { _, err := c.ReadMemory(0, 1); return "", err },
			wantErr: &ReplyError{},
		},
		{
			name:   "raw bytes and raw reads",
			script: []step{rd("$m0,1#00"), wr("-"), rd("\x03")},
			do: func(c *Conn) (string, error) {
				if err := c.SendRaw([]byte("$m0,1#00")); err != nil {
					return "", err
				}
				b, err := c.ReadRawByte()
				if err != nil {
					return "", err
				}
				return string(b), c.Interrupt()
			},
			want: "-",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, done := scripted(t, tc.script)
			c.SetNoAck(tc.noAck)
			got, err := tc.do(c)
			if tc.wantErr != nil {
				var re *ReplyError
				if _, ok := tc.wantErr.(*ReplyError); ok {
					if !errors.As(err, &re) {
						t.Fatalf("error = %v, want a *ReplyError", err)
					}
				} else if !errors.Is(err, tc.wantErr) {
					t.Fatalf("error = %v, want %v", err, tc.wantErr)
				}
			} else if err != nil {
				t.Fatalf("error: %v", err)
			}
			if got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
			if tc.wantErr == nil {
				if err := <-done; err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func sumHex(payload string) string {
	f := Frame([]byte(payload))
	return string(f[len(f)-2:])
}

func TestTimeout(t *testing.T) {
	cli, srv := net.Pipe()
	defer srv.Close()
	c := New(cli)
	defer c.Close()
	c.Timeout = 30 * time.Millisecond
	c.SetNoAck(true)
	go io.Copy(io.Discard, srv)
	_, err := c.Exchange("?")
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Exchange with a silent server: %v, want deadline exceeded", err)
	}
}

// TestInterruptWhileWaiting sends 0x03 from another goroutine while Recv
// waits, as a client interrupting a running inferior does.
func TestInterruptWhileWaiting(t *testing.T) {
	c, done := scripted(t, []step{rd("$vCont;c#a8"), rd("\x03"), wr("$T02thread:p1.1;#" + sumHex("T02thread:p1.1;"))})
	c.SetNoAck(true)
	if err := c.Send("vCont;c"); err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(10 * time.Millisecond)
		c.Interrupt()
	}()
	r, err := c.Recv()
	if err != nil || r != "T02thread:p1.1;" {
		t.Fatalf("Recv = %q, %v", r, err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestDialRetries(t *testing.T) {
	// Reserve a port, free it, and start listening on it only after Dial
	// has begun retrying.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	go func() {
		time.Sleep(100 * time.Millisecond)
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return
		}
		defer l.Close()
		nc, err := l.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		buf := make([]byte, 5)
		io.ReadFull(nc, buf) // "$?#3f"
		nc.Write([]byte("+$S05#b8"))
		io.ReadFull(nc, buf[:1])
	}()
	c, err := Dial(addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if r, err := c.Exchange("?"); err != nil || r != "S05" {
		t.Fatalf("Exchange = %q, %v", r, err)
	}
}

func TestDialGivesUp(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	start := time.Now()
	if _, err := Dial(addr, 100*time.Millisecond); err == nil {
		t.Fatal("Dial to a closed port succeeded")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Dial took %v", d)
	}
}
