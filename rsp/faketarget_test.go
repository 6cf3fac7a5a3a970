package rsp

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	log "github.com/sirupsen/logrus"

	"github.com/gostub/gostub/target"
)

// The session logs at Warn/Info in a few error paths; keep test output quiet
// unless asked (GOSTUB_TEST_LOG=1).
func init() {
	if os.Getenv("GOSTUB_TEST_LOG") == "" {
		log.SetLevel(log.PanicLevel)
	}
}

// ---------------------------------------------------------------------------
// Fake target

// fakeRegSizes is the 'g' layout of the fake: 5 registers, 44 bytes.
var fakeRegSizes = []int{8, 8, 8, 4, 16}

const (
	fakePID     = 0x4d2 // 1234
	fakeMemBase = 0x1000
	fakeMemSize = 0x100
	sigINT      = 2
	sigTRAP     = 5
	sigKILL     = 9
	sigUSR1     = 10
)

// fakeXML is a target description long enough to need several qXfer chunks,
// with the bytes the framing reserves so escaping is exercised.
var fakeXML = func() []byte {
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0"?><target version="1.0"><architecture>fake</architecture>`)
	for i := 0; i < 40; i++ {
		fmt.Fprintf(&b, `<reg name="r%d" bitsize="64" type="int"/><!-- #$}* -->`, i)
	}
	b.WriteString(`</target>`)
	return b.Bytes()
}()

type resumeResult struct {
	ev  target.StopEvent
	err error
}

// fakeProc implements only the mandatory target.Process.
type fakeProc struct {
	mu       sync.Mutex
	pid      int
	attached bool
	threads  []target.ThreadID
	regs     map[target.ThreadID][]byte
	avail    []bool // nil: every register known
	memBase  uint64
	mem      []byte
	initial  target.StopEvent

	// queue holds the results of the next Resume calls. When it is empty,
	// Resume blocks until Interrupt if block is set, and otherwise reports
	// a plain SIGTRAP at the first resumed thread.
	queue   []resumeResult
	block   bool
	resumes [][]target.Action
	// onInterrupt, when set, is what a blocked Resume returns on Interrupt
	// (instead of a SIGINT stop).
	onInterrupt *target.StopEvent
	// trackStop makes InitialStop answer the last stop Resume reported.
	trackStop bool

	interruptc    chan struct{} // buffered 1: a pending interrupt
	interrupts    atomic.Int32
	resumeBlocked chan struct{} // buffered: Resume is waiting for Interrupt

	detached, killed bool
}

func newFakeProc() *fakeProc {
	p := &fakeProc{
		pid:           fakePID,
		threads:       []target.ThreadID{{PID: fakePID, TID: fakePID}, {PID: fakePID, TID: fakePID + 1}, {PID: fakePID, TID: fakePID + 2}},
		regs:          map[target.ThreadID][]byte{},
		memBase:       fakeMemBase,
		mem:           make([]byte, fakeMemSize),
		interruptc:    make(chan struct{}, 1),
		resumeBlocked: make(chan struct{}, 16),
	}
	for i, t := range p.threads {
		block := make([]byte, p.RegistersSize())
		for k := range block {
			block[k] = byte(i*0x40 + k)
		}
		p.regs[t] = block
	}
	for i := range p.mem {
		p.mem[i] = byte(i)
	}
	p.initial = target.StopEvent{Kind: target.StopSignalled, Thread: p.threads[0], Signal: sigTRAP, Core: -1}
	return p
}

func (p *fakeProc) PID() int       { return p.pid }
func (p *fakeProc) Attached() bool { return p.attached }

func (p *fakeProc) Threads() []target.ThreadID {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]target.ThreadID(nil), p.threads...)
}

func (p *fakeProc) TargetXML() []byte    { return fakeXML }
func (p *fakeProc) RegisterSizes() []int { return fakeRegSizes }
func (p *fakeProc) RegistersSize() int   { return sum(fakeRegSizes) }
func (p *fakeProc) InitialStop() target.StopEvent {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.initial
}

func sum(v []int) int {
	n := 0
	for _, x := range v {
		n += x
	}
	return n
}

func (p *fakeProc) ReadRegisters(t target.ThreadID) ([]byte, []bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	b, ok := p.regs[t]
	if !ok {
		return nil, nil, target.ErrNoThread
	}
	return append([]byte(nil), b...), p.avail, nil
}

func (p *fakeProc) WriteRegisters(t target.ThreadID, block []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.regs[t]; !ok {
		return target.ErrNoThread
	}
	if len(block) != p.RegistersSize() {
		return errors.New("fake: wrong register block size")
	}
	p.regs[t] = append([]byte(nil), block...)
	return nil
}

func regOffset(regnum int) (int, int, bool) {
	if regnum < 0 || regnum >= len(fakeRegSizes) {
		return 0, 0, false
	}
	return sum(fakeRegSizes[:regnum]), fakeRegSizes[regnum], true
}

func (p *fakeProc) ReadRegister(t target.ThreadID, regnum int) ([]byte, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	b, ok := p.regs[t]
	if !ok {
		return nil, target.ErrNoThread
	}
	off, size, ok := regOffset(regnum)
	if !ok {
		return nil, fmt.Errorf("fake: no register %d", regnum)
	}
	return append([]byte(nil), b[off:off+size]...), nil
}

func (p *fakeProc) WriteRegister(t target.ThreadID, regnum int, value []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	b, ok := p.regs[t]
	if !ok {
		return target.ErrNoThread
	}
	off, size, ok := regOffset(regnum)
	if !ok || len(value) != size {
		return fmt.Errorf("fake: bad register %d", regnum)
	}
	copy(b[off:], value)
	return nil
}

// span checks that [addr, addr+n) lies inside memory.
func (p *fakeProc) span(addr uint64, n int) (int, bool) {
	if addr < p.memBase {
		return 0, false
	}
	off := addr - p.memBase
	if off > uint64(len(p.mem)) || uint64(n) > uint64(len(p.mem))-off {
		return 0, false
	}
	return int(off), true
}

func (p *fakeProc) ReadMemory(addr uint64, buf []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	off, ok := p.span(addr, len(buf))
	if !ok {
		return syscall.EIO
	}
	copy(buf, p.mem[off:])
	return nil
}

func (p *fakeProc) WriteMemory(addr uint64, data []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	off, ok := p.span(addr, len(data))
	if !ok {
		return syscall.EIO
	}
	copy(p.mem[off:], data)
	return nil
}

func (p *fakeProc) memory(addr uint64, n int) []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	off, ok := p.span(addr, n)
	if !ok {
		panic("fake: memory out of range")
	}
	return append([]byte(nil), p.mem[off:off+n]...)
}

// push queues the result of a later Resume.
func (p *fakeProc) push(ev target.StopEvent) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.queue = append(p.queue, resumeResult{ev: ev})
}

func (p *fakeProc) pushErr(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.queue = append(p.queue, resumeResult{err: err})
}

func (p *fakeProc) Resume(actions []target.Action) (target.StopEvent, error) {
	p.mu.Lock()
	p.resumes = append(p.resumes, append([]target.Action(nil), actions...))
	if len(p.queue) > 0 {
		r := p.queue[0]
		p.queue = p.queue[1:]
		if p.trackStop && r.err == nil {
			p.initial = r.ev
		}
		p.mu.Unlock()
		return r.ev, r.err
	}
	block := p.block
	p.mu.Unlock()
	t := p.threads[0]
	if len(actions) > 0 {
		t = actions[0].Thread
	}
	if !block {
		return target.StopEvent{Kind: target.StopSignalled, Thread: t, Signal: sigTRAP, Core: -1}, nil
	}
	p.resumeBlocked <- struct{}{}
	<-p.interruptc
	if p.onInterrupt != nil {
		return *p.onInterrupt, nil
	}
	return target.StopEvent{Kind: target.StopSignalled, Thread: t, Signal: sigINT, Core: 1}, nil
}

func (p *fakeProc) Interrupt() {
	p.interrupts.Add(1)
	select {
	case p.interruptc <- struct{}{}:
	default:
	}
}

func (p *fakeProc) lastResume() []target.Action {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.resumes) == 0 {
		return nil
	}
	return p.resumes[len(p.resumes)-1]
}

func (p *fakeProc) resumeCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.resumes)
}

func (p *fakeProc) Detach() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.detached = true
	return nil
}

func (p *fakeProc) Kill() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.killed = true
	return nil
}

var _ target.Process = (*fakeProc)(nil)

type bpKey struct {
	kind target.BreakpointKind
	addr uint64
	size int
}

// bpProc adds target.Breakpointer: software breakpoints always, hardware
// breakpoints and watchpoints when hw is set.
type bpProc struct {
	*fakeProc
	hw  bool
	bps map[bpKey]int
}

func newBPProc() *bpProc { return &bpProc{fakeProc: newFakeProc(), bps: map[bpKey]int{}} }

func (p *bpProc) SupportsBreakpoint(kind target.BreakpointKind) bool {
	return kind == target.BreakSoftware || p.hw
}

func (p *bpProc) InsertBreakpoint(kind target.BreakpointKind, addr uint64, size int) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.span(addr, 1); !ok {
		return syscall.EIO
	}
	p.bps[bpKey{kind, addr, size}]++
	return nil
}

func (p *bpProc) RemoveBreakpoint(kind target.BreakpointKind, addr uint64, size int) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	k := bpKey{kind, addr, size}
	if p.bps[k] == 0 {
		return target.ErrNotInserted
	}
	if p.bps[k]--; p.bps[k] == 0 {
		delete(p.bps, k)
	}
	return nil
}

func (p *bpProc) RemoveAllBreakpoints() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	clear(p.bps)
	return nil
}

var _ target.Breakpointer = (*bpProc)(nil)

// fullProc implements every optional interface.
type fullProc struct {
	*bpProc
	passed  map[int]bool
	siginfo []byte
}

func newFullProc() *fullProc {
	p := &fullProc{bpProc: newBPProc(), siginfo: make([]byte, 128)}
	p.hw = true
	for i := range p.siginfo {
		p.siginfo[i] = byte(i)
	}
	return p
}

var fakeAuxv = []byte{6, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}

func (p *fullProc) Auxv() ([]byte, error)            { return fakeAuxv, nil }
func (p *fullProc) ExecFile() (string, error)        { return "/bin/fake prog", nil }
func (p *fullProc) SupportsRangeStep() bool          { return true }
func (p *fullProc) ThreadCore(t target.ThreadID) int { return t.TID - fakePID }
func (p *fullProc) ThreadName(t target.ThreadID) string {
	return fmt.Sprintf("w<%d>&", t.TID-fakePID)
}
func (p *fullProc) SetPassSignals(sigs map[int]bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.passed = sigs
}

func (p *fullProc) Siginfo(t target.ThreadID) ([]byte, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]byte(nil), p.siginfo...), nil
}

func (p *fullProc) SetSiginfo(t target.ThreadID, data []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(data) != len(p.siginfo) {
		return errors.New("fake: siginfo size")
	}
	copy(p.siginfo, data)
	return nil
}

var (
	_ target.SiginfoAccessor = (*fullProc)(nil)
	_ target.AuxvReader      = (*fullProc)(nil)
	_ target.ExecFiler       = (*fullProc)(nil)
	_ target.SignalFilter    = (*fullProc)(nil)
	_ target.ThreadInfoer    = (*fullProc)(nil)
	_ target.RangeStepper    = (*fullProc)(nil)
	_ target.Breakpointer    = (*fullProc)(nil)
)

// ---------------------------------------------------------------------------
// Fake host file system

type fakeFS struct {
	mu     sync.Mutex
	files  map[string][]byte
	links  map[string]string
	opened []string
	fsPIDs []int
}

func newFakeFS() *fakeFS {
	return &fakeFS{
		files: map[string][]byte{"/bin/prog": []byte("\x7fELF#$}*" + strings.Repeat("z", 100))},
		links: map[string]string{"/proc/1/exe": "/bin/prog"},
	}
}

func (fs *fakeFS) OpenFile(fsPID int, path string, flags int, mode uint32) (target.File, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.fsPIDs = append(fs.fsPIDs, fsPID)
	data, ok := fs.files[path]
	if !ok {
		return nil, syscall.ENOENT
	}
	fs.opened = append(fs.opened, path)
	return &fakeFile{data: data}, nil
}

func (fs *fakeFS) Unlink(fsPID int, path string) error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if _, ok := fs.files[path]; !ok {
		return syscall.ENOENT
	}
	delete(fs.files, path)
	return nil
}

func (fs *fakeFS) Readlink(fsPID int, path string) (string, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	d, ok := fs.links[path]
	if !ok {
		return "", syscall.ENOENT
	}
	return d, nil
}

type fakeFile struct {
	data   []byte
	closed bool
}

func (f *fakeFile) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(f.data)) {
		return 0, io.EOF
	}
	n := copy(p, f.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *fakeFile) WriteAt(p []byte, off int64) (int, error) { return 0, syscall.EROFS }

func (f *fakeFile) Close() error {
	if f.closed {
		return syscall.EBADF
	}
	f.closed = true
	return nil
}

var fakeStat = target.FileStat{
	Dev: 0x801, Ino: 0x1234567, Mode: 0o100755, Nlink: 1, UID: 1000, GID: 100, Rdev: 0,
	Size: 0x1_0000_0001, Blksize: 4096, Blocks: 9, Atime: 0x11223344, Mtime: 0x55667788, Ctime: 0x99aabbcc,
}

func (f *fakeFile) Stat() (target.FileStat, error) {
	st := fakeStat
	return st, nil
}

// ---------------------------------------------------------------------------
// Client side: framing helpers

func checksum(b []byte) byte {
	var s byte
	for _, c := range b {
		s += c
	}
	return s
}

// frame builds "$body#cs" without run-length encoding, as gdb sends.
func frame(body string) []byte {
	return fmt.Appendf(nil, "$%s#%02x", body, checksum([]byte(body)))
}

// parseFrames splits a server's output into acks and frames; frame bodies
// are checked (checksum, no '$' or '#') and run-length expanded.
type item struct {
	ack     byte   // '+' or '-', or 0 for a frame
	payload []byte // expanded body
	raw     []byte // body as sent
	notif   bool   // a notification (%NAME:DATA) rather than a packet
}

func readItem(r *bufio.Reader) (item, error) {
	b, err := r.ReadByte()
	if err != nil {
		return item{}, err
	}
	switch b {
	case '+', '-':
		return item{ack: b}, nil
	case '$', '%':
	default:
		return item{}, fmt.Errorf("junk byte %q from server", b)
	}
	raw, err := r.ReadBytes('#')
	if err != nil {
		return item{}, fmt.Errorf("truncated frame: %w", err)
	}
	raw = raw[:len(raw)-1]
	if bytes.IndexByte(raw, '$') >= 0 {
		return item{}, fmt.Errorf("'$' inside frame body %q", raw)
	}
	var cs [2]byte
	if _, err := io.ReadFull(r, cs[:]); err != nil {
		return item{}, fmt.Errorf("truncated checksum: %w", err)
	}
	want := fmt.Sprintf("%02x", checksum(raw))
	if string(cs[:]) != want {
		return item{}, fmt.Errorf("frame %q: checksum %q, want %q", raw, cs[:], want)
	}
	payload, err := expandRLE(raw)
	if err != nil {
		return item{}, fmt.Errorf("frame %q: %w", raw, err)
	}
	return item{payload: payload, raw: raw, notif: b == '%'}, nil
}

// splitOutput parses everything a server wrote into items.
func splitOutput(b []byte) ([]item, error) {
	r := bufio.NewReader(bytes.NewReader(b))
	var out []item
	for {
		it, err := readItem(r)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, it)
	}
}

// ---------------------------------------------------------------------------
// Client over a pipe, and a session harness

const waitTimeout = 5 * time.Second

type testClient struct {
	t     testing.TB
	conn  net.Conn
	items chan item
	rerr  chan error // the reader's final error
	noAck bool
}

func newTestClient(t testing.TB, conn net.Conn) *testClient {
	c := &testClient{t: t, conn: conn, items: make(chan item, 1024), rerr: make(chan error, 1)}
	go func() {
		r := bufio.NewReader(conn)
		for {
			it, err := readItem(r)
			if err != nil {
				c.rerr <- err
				close(c.items)
				return
			}
			c.items <- it
		}
	}()
	return c
}

func (c *testClient) write(b []byte) {
	c.t.Helper()
	c.conn.SetWriteDeadline(time.Now().Add(waitTimeout))
	if _, err := c.conn.Write(b); err != nil {
		c.t.Fatalf("client write %q: %v", b, err)
	}
}

func (c *testClient) send(body string) { c.t.Helper(); c.write(frame(body)) }

func (c *testClient) next() item {
	c.t.Helper()
	select {
	case it, ok := <-c.items:
		if !ok {
			c.t.Fatalf("connection closed: %v", <-c.rerr)
		}
		return it
	case <-time.After(waitTimeout):
		c.t.Fatalf("timed out waiting for the server")
	}
	panic("unreachable")
}

func (c *testClient) expectAck(want byte) {
	c.t.Helper()
	it := c.next()
	if it.ack != want {
		c.t.Fatalf("got %s, want ack %q", it, want)
	}
}

// recv reads one reply frame and acknowledges it as gdb does.
func (c *testClient) recv() string {
	c.t.Helper()
	it := c.next()
	if it.ack != 0 {
		c.t.Fatalf("got ack %q, want a frame", it.ack)
	}
	if !c.noAck {
		c.write([]byte{'+'})
	}
	return string(it.payload)
}

// cmd sends one packet and returns the reply.
func (c *testClient) cmd(body string) string {
	c.t.Helper()
	c.send(body)
	if !c.noAck {
		c.expectAck('+')
	}
	return c.recv()
}

// noMore checks nothing else arrives from the server for a moment.
func (c *testClient) noMore() {
	c.t.Helper()
	select {
	case it, ok := <-c.items:
		if ok {
			c.t.Fatalf("unexpected %s from server", it)
		}
	case <-time.After(20 * time.Millisecond):
	}
}

func (it item) String() string {
	if it.ack != 0 {
		return fmt.Sprintf("ack %q", it.ack)
	}
	if it.notif {
		return fmt.Sprintf("notification %q", it.payload)
	}
	return fmt.Sprintf("frame %q", it.payload)
}

type harness struct {
	t     *testing.T
	sess  *Session
	sconn *Conn
	c     *testClient
	done  chan End
	cli   net.Conn
	srv   net.Conn
}

// startSession serves proc over a pipe; the returned client talks to it.
func startSession(t *testing.T, proc target.Process, opts Options) *harness {
	t.Helper()
	cli, srv := net.Pipe()
	h := &harness{t: t, cli: cli, srv: srv, done: make(chan End, 1)}
	h.sconn = NewConn(srv, srv)
	h.sess = NewSession(h.sconn, proc, opts)
	h.c = newTestClient(t, cli)
	go func() { h.done <- h.sess.Serve() }()
	t.Cleanup(func() {
		cli.Close()
		srv.Close()
		select {
		case <-h.done:
		case <-time.After(waitTimeout):
			t.Errorf("Serve did not return after the client closed")
		}
	})
	return h
}

// wait returns how Serve ended.
func (h *harness) wait() End {
	h.t.Helper()
	select {
	case e := <-h.done:
		h.done <- e // for Cleanup
		return e
	case <-time.After(waitTimeout):
		h.t.Fatalf("Serve did not return")
	}
	panic("unreachable")
}

// direct is a session driven without Serve: packets go straight to handle
// and replies land in out. Resume must not block (fakeProc.block unset).
type direct struct {
	sess *Session
	out  *bytes.Buffer
}

func newDirect(proc target.Process, opts Options) *direct {
	out := &bytes.Buffer{}
	conn := NewConn(bytes.NewReader(nil), out)
	return &direct{sess: NewSession(conn, proc, opts), out: out}
}

// do dispatches one packet and returns the reply payloads it produced.
func (d *direct) do(body string) ([]string, error) {
	return d.doBytes([]byte(body))
}

func (d *direct) doBytes(body []byte) (replies []string, err error) {
	d.out.Reset()
	func() {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("panic handling %q: %v", body, r)
			}
		}()
		d.sess.handle(Packet{Data: body})
	}()
	if err != nil {
		return nil, err
	}
	items, perr := splitOutput(d.out.Bytes())
	if perr != nil {
		return nil, perr
	}
	for _, it := range items {
		if it.ack != 0 {
			return nil, fmt.Errorf("ack %q written by handle", it.ack)
		}
		if it.notif {
			replies = append(replies, "%"+string(it.payload))
			continue
		}
		replies = append(replies, string(it.payload))
	}
	return replies, nil
}

// one dispatches a packet that must produce exactly one reply.
func (d *direct) one(t testing.TB, body string) string {
	t.Helper()
	r, err := d.do(body)
	if err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	if len(r) != 1 {
		t.Fatalf("%s: %d replies %q, want 1", body, len(r), r)
	}
	return r[0]
}
