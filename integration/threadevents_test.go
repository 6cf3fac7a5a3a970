package integration

import (
	"fmt"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"
)

// readItem reads the next packet ('$') or notification ('%') and returns its
// payload (run-length expanded); packets are acked in ack mode.
func (c *rspConn) readItem(timeout time.Duration) (payload string, notif bool, err error) {
	_ = c.conn.SetReadDeadline(time.Now().Add(timeout))
	for {
		b, err := c.r.ReadByte()
		if err != nil {
			return "", false, err
		}
		if b == '$' || b == '%' {
			notif = b == '%'
			break
		}
		if b == '+' {
			continue
		}
		return "", false, fmt.Errorf("unexpected byte %q before a packet", b)
	}
	body, err := c.r.ReadString('#')
	if err != nil {
		return "", false, err
	}
	body = body[:len(body)-1]
	var cs [2]byte
	if _, err := io.ReadFull(c.r, cs[:]); err != nil {
		return "", false, err
	}
	if want := rspChecksum(body); !strings.EqualFold(string(cs[:]), want) {
		return "", false, fmt.Errorf("bad checksum %q on %s (want %s)", cs, abbrev(body), want)
	}
	if c.Ack && !notif {
		c.WriteRaw("+")
	}
	payload, err = rspExpandRLE(body)
	return payload, notif, err
}

// nsClient drives a non-stop session the way gdb does: a %Stop notification
// is drained with vStopped, and each stop is handed to the test in order.
type nsClient struct {
	*rspConn
	stops []string // stops received, not yet handed out
	// pendingNotif: a %Stop came; its queue is to be drained.
	pendingNotif bool
}

// request sends a packet and returns its reply; a notification met on the
// way is noted (gdb does the same).
func (n *nsClient) request(payload string) string {
	n.t.Helper()
	n.Send(payload)
	for {
		p, notif, err := n.readItem(n.Timeout)
		if err != nil {
			n.t.Fatalf("%s: reply to %s: %v", n.kind, abbrev(payload), err)
		}
		if notif {
			n.noteNotification(p)
			continue
		}
		return p
	}
}

func (n *nsClient) noteNotification(p string) {
	n.t.Helper()
	stop, ok := strings.CutPrefix(p, "Stop:")
	if !ok {
		n.t.Fatalf("%s: unknown notification %q", n.kind, abbrev(p))
	}
	n.stops = append(n.stops, stop)
	n.pendingNotif = true
}

// drain takes the rest of the stop queue with vStopped.
func (n *nsClient) drain() {
	n.t.Helper()
	for n.pendingNotif {
		n.pendingNotif = false
		for {
			r := n.request("vStopped")
			if r == "OK" {
				break
			}
			n.stops = append(n.stops, r)
		}
	}
}

// next returns the next stop, waiting for a notification if none is queued.
func (n *nsClient) next(timeout time.Duration) string {
	n.t.Helper()
	deadline := time.Now().Add(timeout)
	// A notification met in a reply heads a queue that waits for vStopped.
	n.drain()
	for len(n.stops) == 0 {
		p, notif, err := n.readItem(time.Until(deadline))
		if err != nil {
			n.t.Fatalf("%s: waiting for a stop: %v", n.kind, err)
		}
		if !notif {
			n.t.Fatalf("%s: packet %q where a notification was due", n.kind, abbrev(p))
		}
		n.noteNotification(p)
		n.drain()
	}
	s := n.stops[0]
	n.stops = n.stops[1:]
	return s
}

var stopThreadRE = regexp.MustCompile(`thread:(p[0-9a-f]+\.[0-9a-f]+);`)

// TestRSPThreadEvents turns thread events on (QThreadEvents:1, as gdb does
// while it stops every thread) in non-stop mode and runs a program whose
// four workers start and end: each new thread reports "T05create:" and
// waits to be resumed, each end is a "w" stop, then the process exits.
func TestRSPThreadEvents(t *testing.T) {
	prog := compile(t, "threads.c", "-pthread")
	forEachStub(t, func(t *testing.T, kind StubKind) string {
		s := StartStub(t, kind, prog, "2")
		n := &nsClient{rspConn: dialRSP(t, s)}
		n.Timeout = 10 * time.Second
		sup := n.request(gdbQSupported)
		if !strings.Contains(";"+sup+";", ";QThreadEvents+;") {
			t.Fatalf("%s does not announce QThreadEvents+: %q", kind, abbrev(sup))
		}
		if r := n.request("QStartNoAckMode"); r != "OK" {
			t.Fatalf("QStartNoAckMode -> %q", r)
		}
		n.Ack = false
		for _, p := range []string{"QNonStop:1", "QThreadEvents:1"} {
			if r := n.request(p); r != "OK" {
				t.Fatalf("%s -> %q", p, r)
			}
		}
		if r := n.request("QThreadEvents:x"); !strings.HasPrefix(r, "E") {
			t.Errorf("QThreadEvents:x -> %q, want an error", r)
		}
		first := n.request("?")
		if !strings.HasPrefix(first, "T") {
			t.Fatalf("? -> %q", first)
		}
		n.pendingNotif = true // '?' starts a queue of its own
		n.drain()
		n.stops = nil
		if r := n.request("vCont;c"); r != "OK" {
			t.Fatalf("vCont;c -> %q", r)
		}
		var created, exited []string
		var end string
		for end == "" {
			stop := n.next(20 * time.Second)
			switch {
			case strings.HasPrefix(stop, "T05create:;"):
				m := stopThreadRE.FindStringSubmatch(stop)
				if m == nil {
					t.Fatalf("creation without a thread: %q", stop)
				}
				created = append(created, m[1])
				n.drain()
				if r := n.request("vCont;c:" + m[1]); r != "OK" {
					t.Fatalf("vCont;c:%s -> %q", m[1], r)
				}
			case strings.HasPrefix(stop, "w"):
				code, id, ok := strings.Cut(stop[1:], ";")
				if !ok || code != "0" {
					t.Errorf("thread exit %q, want w0;<thread>", stop)
				}
				exited = append(exited, id)
			case strings.HasPrefix(stop, "W"):
				end = stop
			default:
				t.Fatalf("unexpected stop %q", abbrev(stop))
			}
		}
		if len(created) != 4 {
			t.Errorf("%d threads created %v, want 4", len(created), created)
		}
		// A thread pthread_join has returned for may still be on its way
		// out when the process ends, and its exit then comes with the
		// process's (gdbserver too reports 3 exits for 4 threads now and
		// then): every exit must be of a created thread, and most come.
		isCreated := map[string]bool{}
		for _, id := range created {
			isCreated[id] = true
		}
		for _, id := range exited {
			if !isCreated[id] {
				t.Errorf("exit of thread %s, never reported created (created %v)", id, created)
			}
		}
		if len(exited) < len(created)-1 {
			t.Errorf("threads created %v but exited %v", created, exited)
		}
		code, _, _ := strings.Cut(end[1:], ";")
		if strings.TrimLeft(code, "0") != "" {
			t.Errorf("process end %q, want exit code 0", end)
		}
		// What both stubs must agree on: four creations and the end.
		return fmt.Sprintf("created %d\nexit code %q\n", len(created), strings.TrimLeft(code, "0"))
	})
}

// TestRSPThreadEventsAllStop: thread events in all-stop mode are plain stop
// replies to vCont; every thread stops at each, and the next vCont;c runs
// them all again. gostub only: gdb asks for thread events only in non-stop
// mode, and gdbserver 13 crashes (SIGSEGV) on this in all-stop.
func TestRSPThreadEventsAllStop(t *testing.T) {
	prog := compile(t, "threads.c", "-pthread")
	forStubs(t, []StubKind{KindGostub}, func(t *testing.T, kind StubKind) string {
		s := StartStub(t, kind, prog, "2")
		c := dialRSP(t, s)
		c.Timeout = 20 * time.Second
		c.Handshake(true)
		if r := c.Request("QThreadEvents:1"); r != "OK" {
			t.Fatalf("QThreadEvents:1 -> %q", r)
		}
		var created, exited int
		for i := 0; i < 50; i++ {
			stop := c.Request("vCont;c")
			switch {
			case strings.HasPrefix(stop, "T05create:;"):
				created++
			case strings.HasPrefix(stop, "w"):
				exited++
			case strings.HasPrefix(stop, "W"):
				if created != 4 || exited != 4 {
					t.Errorf("%d creations and %d exits before %q, want 4 and 4", created, exited, stop)
				}
				return ""
			default:
				t.Fatalf("unexpected stop %q", abbrev(stop))
			}
		}
		t.Fatalf("no exit after 50 stops")
		return ""
	})
}
