// Command gostub is a GDB remote stub for Linux, a drop-in for gdbserver:
//
//	gostub [OPTIONS] COMM PROG [ARGS...]
//	gostub [OPTIONS] --attach COMM PID
//	gostub [OPTIONS] --multi COMM
//
// COMM is HOST:PORT, :PORT (loopback only) or - / stdio.
package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"

	log "github.com/sirupsen/logrus"

	"github.com/gostub/gostub/rsp"
	"github.com/gostub/gostub/target"
	"github.com/gostub/gostub/target/linux"
)

const version = "0.1.0"

const usage = `Usage:	gostub [OPTIONS] COMM PROG [ARGS ...]
	gostub [OPTIONS] --attach COMM PID
	gostub [OPTIONS] --multi COMM

COMM may be HOST:PORT to listen for a TCP connection (":PORT" listens on
the loopback interface only; "0.0.0.0:PORT" on every interface), or '-' or
'stdio' to use stdin/stdout of gostub.
PROG is the executable program.  ARGS are arguments passed to inferior.
PID is the process ID to attach to, when --attach is specified.

Operating modes:

  --attach              Attach to running process PID.
  --multi               Start server without a specific program, and
                        only quit when explicitly commanded.
  --once                Exit after the first connection has closed.
  --help                Print this message and then exit.
  --version             Display version information and exit.

Other options:

  --wrapper WRAPPER --  Run WRAPPER to start new programs.
  --disable-randomization
                        Run PROG with address space randomization disabled. (default)
  --no-disable-randomization
                        Don't disable address space randomization when
                        starting PROG.
  --startup-with-shell  Start PROG using a shell. (default)
  --no-startup-with-shell
                        Exec PROG directly instead of using a shell.

Debug options:

  --debug               Enable general debugging output.
  --remote-debug        Enable remote protocol debugging output.
  --disable-packet=OPT1[,OPT2,...]
                        Disable support for RSP packets or features.
                          Options: vCont, T, Tthread, qC, qfThreadInfo and
                          threads (disable all threading packets).
  --log-format=text|json
                        Format of gostub's own log lines (default text).
`

type config struct {
	once, attach       bool
	multi              bool
	wrapper            []string
	disabled           map[string]bool
	debug, remoteDebug bool
	logFormat          string
	noASLR, shell      bool
	comm               string
	prog               []string
	pid                int
}

func parseArgs(args []string) (*config, error) {
	c := &config{noASLR: true, shell: true, logFormat: "text"}
	i := 0
	for ; i < len(args) && strings.HasPrefix(args[i], "--"); i++ {
		a := args[i]
		switch {
		case a == "--once":
			c.once = true
		case a == "--attach":
			c.attach = true
		case a == "--multi":
			c.multi = true
		case a == "--wrapper":
			j := i + 1
			for j < len(args) && args[j] != "--" {
				j++
			}
			if j == len(args) || j == i+1 {
				return nil, errors.New("--wrapper needs a command ending with --")
			}
			c.wrapper = args[i+1 : j]
			i = j
		case strings.HasPrefix(a, "--disable-packet="):
			if c.disabled == nil {
				c.disabled = map[string]bool{}
			}
			for _, name := range strings.Split(strings.TrimPrefix(a, "--disable-packet="), ",") {
				switch name {
				case "vCont", "T", "Tthread", "qC", "qfThreadInfo":
					c.disabled[name] = true
				case "threads":
					for _, n := range []string{"vCont", "T", "Tthread", "qC", "qfThreadInfo"} {
						c.disabled[n] = true
					}
				default:
					return nil, fmt.Errorf("don't know how to disable %q", name)
				}
			}
		case a == "--debug":
			c.debug = true
		case a == "--remote-debug":
			c.remoteDebug = true
		case a == "--disable-randomization":
			c.noASLR = true
		case a == "--no-disable-randomization":
			c.noASLR = false
		case a == "--startup-with-shell":
			c.shell = true
		case a == "--no-startup-with-shell":
			c.shell = false
		case strings.HasPrefix(a, "--log-format="):
			c.logFormat = strings.TrimPrefix(a, "--log-format=")
			if c.logFormat != "text" && c.logFormat != "json" {
				return nil, fmt.Errorf("unknown log format %q (want text or json)", c.logFormat)
			}
		case strings.HasPrefix(a, "--debug-format="), a == "--event-loop-debug":
			// gdbserver's finer debug switches: accepted, folded into --debug.
		case a == "--":
			i++
			goto comm
		default:
			return nil, fmt.Errorf("unknown argument: %s", a)
		}
	}
comm:
	if i >= len(args) {
		return nil, errors.New("no COMM given")
	}
	c.comm = args[i]
	rest := args[i+1:]
	if len(rest) > 0 && rest[0] == "--attach" {
		c.attach = true
		rest = rest[1:]
	}
	if c.attach {
		if len(rest) != 1 {
			return nil, errors.New("--attach needs exactly one PID")
		}
		pid, err := strconv.Atoi(rest[0])
		if err != nil || pid <= 0 {
			return nil, fmt.Errorf("bad PID %q", rest[0])
		}
		c.pid = pid
		return c, nil
	}
	if len(rest) == 0 && !c.multi {
		return nil, errors.New("no program given")
	}
	c.prog = rest
	return c, nil
}

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	for _, a := range args {
		switch a {
		case "--help":
			fmt.Print(usage)
			return 0
		case "--version":
			fmt.Printf("gostub %s\n", version)
			return 0
		}
	}
	cfg, err := parseArgs(args)
	if err != nil {
		fmt.Fprintf(os.Stderr, "gostub: %v\n\n%s", err, usage)
		return 1
	}
	setupLogging(cfg)
	// This goroutine serves every session and is the tracer of every
	// process: ptrace work is a plain call, never a hop to another thread.
	linux.RunOnCallingThread()
	if path := os.Getenv("GOSTUB_CPUPROFILE"); path != "" {
		// For performance work: a CPU profile of the whole run.
		if f, err := os.Create(path); err == nil {
			pprof.StartCPUProfile(f)
			defer pprof.StopCPUProfile()
		}
	}
	// Keep Ctrl-C typed at gostub's terminal from killing the server; the
	// inferior, in the same process group, still gets it.
	signal.Notify(make(chan os.Signal, 1), os.Interrupt)
	// A client gone mid-write must not kill the server. Not Ignore: an
	// ignored signal stays ignored in the program we start (exec keeps
	// SIG_IGN), and gdb.base/signals-state-child.exp checks it does not.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)

	stdio := cfg.comm == "-" || cfg.comm == "stdio"
	var ln net.Listener
	if !stdio {
		// Listen before starting the program so a bad address costs nothing.
		addr, err := listenAddress(cfg.comm)
		if err != nil {
			fmt.Fprintf(os.Stderr, "gostub: %v\n", err)
			return 1
		}
		if ln, err = net.Listen("tcp", addr); err != nil {
			// Tools (gdb's testsuite among them) look for gdbserver's words.
			msg := err.Error()
			if errors.Is(err, syscall.EADDRINUSE) {
				msg = "Address already in use"
			}
			fmt.Fprintf(os.Stderr, "Can't bind address: %s.\nExiting\n", msg)
			return 1
		}
		defer ln.Close()
	}

	settings := &rsp.LaunchRequest{Argv: cfg.prog, Shell: cfg.shell, DisableASLR: cfg.noASLR}
	launch := func(req rsp.LaunchRequest) (target.Process, error) { return launchProcess(cfg, req, stdio) }
	var procs []target.Process
	switch {
	case cfg.attach:
		p, err := linux.Attach(cfg.pid)
		if err != nil {
			fmt.Fprintf(os.Stderr, "Cannot attach to process %d: %v\nExiting\n", cfg.pid, err)
			return 1
		}
		fmt.Fprintf(os.Stderr, "Attached; pid = %d\n", p.PID())
		procs = []target.Process{p}
	case len(cfg.prog) > 0:
		p, err := launch(*settings)
		if err != nil {
			fmt.Fprintf(os.Stderr, "%v\nExiting\n", err)
			return 1
		}
		procs = []target.Process{p}
	}

	opts := rsp.Options{
		FS:        linux.HostFS{},
		Prototype: (*linux.Process)(nil),
		Launch:    launch,
		Attach: func(pid int) (target.Process, error) {
			p, err := linux.Attach(pid)
			if err != nil {
				return nil, fmt.Errorf("cannot attach to process %d: %w", pid, err)
			}
			fmt.Fprintf(os.Stderr, "Attached; pid = %d\n", p.PID())
			return p, nil
		},
		Settings: settings,
		Disabled: cfg.disabled,
		SetDebug: func(on bool) {
			if on {
				log.SetLevel(log.DebugLevel)
			} else {
				log.SetLevel(log.WarnLevel)
			}
		},
	}
	if stdio {
		fmt.Fprintf(os.Stderr, "Remote debugging using stdio\n")
		conn := rsp.NewConn(os.Stdin, os.Stdout)
		if l, err := newFDLink(nil, 0, 1); err == nil {
			conn = rsp.NewConn(l, l)
			defer l.close()
		}
		conn.RemoteDebug.Store(cfg.remoteDebug)
		end, pid, procs := serveOne(conn, procs, opts)
		return finish(procs, end, pid)
	}

	port := ln.Addr().(*net.TCPAddr).Port
	for {
		fmt.Fprintf(os.Stderr, "Listening on port %d\n", port)
		c, err := ln.Accept()
		if err != nil {
			fmt.Fprintf(os.Stderr, "gostub: accept: %v\n", err)
			return finish(procs, rsp.EndServerExit, 0)
		}
		if ra, ok := c.RemoteAddr().(*net.TCPAddr); ok {
			fmt.Fprintf(os.Stderr, "Remote debugging from host %s, port %d\n", ra.IP, ra.Port)
		}
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetNoDelay(true)
		}
		conn := rsp.NewConn(c, c)
		link, err := newFDLink(c, -1, -1)
		if err == nil {
			conn = rsp.NewConn(link, link)
		} else {
			log.WithError(err).Debug("serving through the net package")
		}
		conn.RemoteDebug.Store(cfg.remoteDebug)
		var end rsp.End
		var pid int
		end, pid, procs = serveOne(conn, procs, opts)
		if link != nil {
			link.close() // the link took the socket over and closed c
		} else {
			c.Close()
		}
		if end == rsp.EndDisconnected && !cfg.once && (len(procs) > 0 || cfg.multi) {
			fmt.Fprintf(os.Stderr, "Remote side has terminated connection.  GDBserver will reopen the connection.\n")
			continue
		}
		return finish(procs, end, pid)
	}
}

// serveOne runs one client session. It returns how the session ended, the
// pid the session started with, and the processes left afterwards.
func serveOne(conn *rsp.Conn, procs []target.Process, opts rsp.Options) (rsp.End, int, []target.Process) {
	pid := 0
	var cur target.Process
	if len(procs) > 0 {
		cur, pid = procs[0], procs[0].PID()
	}
	s := rsp.NewSession(conn, cur, opts)
	for _, p := range procs[min(1, len(procs)):] {
		s.Keep(p)
	}
	end := s.Serve()
	procs = s.Processes()
	for _, p := range procs {
		// A client that left never leaves its breakpoints behind.
		if bp, ok := p.(target.Breakpointer); ok {
			if err := bp.RemoveAllBreakpoints(); err != nil {
				log.WithError(err).Warn("removing breakpoints after the session")
			}
		}
	}
	return end, pid, procs
}

// finish applies gdbserver's rules when the server stops serving: a process
// we launched is killed, one we attached to is detached and runs on.
func finish(procs []target.Process, end rsp.End, pid int) int {
	// As gdbserver's exit handler, whatever ends the server: a program we
	// detached is not hung up with us when we leave the terminal's session.
	linux.TakeTerminalBack()
	if end == rsp.EndDetached && len(procs) == 0 && pid > 0 {
		fmt.Fprintf(os.Stderr, "Detaching from process %d\n", pid)
		// Our own child runs on: reap it when it ends, as gdbserver does.
		linux.WaitExit(pid)
		return 0
	}
	for _, proc := range procs {
		if proc.Attached() {
			fmt.Fprintf(os.Stderr, "Detaching process(es): %d\n", proc.PID())
			if err := proc.Detach(); err != nil {
				log.WithError(err).Warn("detach")
			}
			continue
		}
		fmt.Fprintf(os.Stderr, "Killing process(es): %d\n", proc.PID())
		if err := proc.Kill(); err != nil {
			log.WithError(err).Warn("kill")
		}
	}
	return 0
}

// launchProcess starts a program for the command line or for vRun.
func launchProcess(cfg *config, req rsp.LaunchRequest, stdio bool) (target.Process, error) {
	if len(req.Argv) == 0 {
		return nil, errors.New("no program to run")
	}
	opts := linux.LaunchOptions{Path: req.Argv[0], Args: req.Argv[1:], Env: req.Env, Dir: req.Dir,
		DisableASLR: req.DisableASLR, Wrapper: cfg.wrapper}
	if req.Shell {
		opts.Shell = os.Getenv("SHELL")
		if opts.Shell == "" {
			opts.Shell = "/bin/sh"
		}
	}
	if stdio {
		// The protocol owns stdin and stdout; the program gets /dev/null and
		// writes to our stderr.
		null, err := os.Open(os.DevNull)
		if err != nil {
			return nil, err
		}
		opts.Files = []*os.File{null, os.Stderr, os.Stderr}
	}
	p, err := linux.Launch(opts)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(os.Stderr, "Process %s created; pid = %d\n", req.Argv[0], p.PID())
	return p, nil
}

// listenAddress turns COMM into a listen address. ":PORT" means loopback.
func listenAddress(comm string) (string, error) {
	for _, p := range []string{"tcp:", "tcp4:", "tcp6:"} {
		comm = strings.TrimPrefix(comm, p)
	}
	i := strings.LastIndexByte(comm, ':')
	if i < 0 {
		return "", fmt.Errorf("%q is not HOST:PORT (serial devices are not supported)", comm)
	}
	host, port := comm[:i], comm[i+1:]
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return "", fmt.Errorf("bad port in %q", comm)
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if host == "" {
		log.Info("listening on the loopback interface only; give 0.0.0.0:PORT to listen on every interface")
		fmt.Fprintf(os.Stderr, "Listening on loopback only (127.0.0.1); use 0.0.0.0:%s for all interfaces\n", port)
		host = "127.0.0.1"
	}
	if strings.ContainsAny(host, ":") {
		if net.ParseIP(host) == nil {
			return "", fmt.Errorf("bad host in %q", comm)
		}
	}
	return net.JoinHostPort(host, port), nil
}

func setupLogging(cfg *config) {
	log.SetOutput(os.Stderr)
	if cfg.logFormat == "json" {
		log.SetFormatter(&log.JSONFormatter{})
	} else {
		log.SetFormatter(&log.TextFormatter{DisableTimestamp: false, FullTimestamp: true})
	}
	switch {
	case os.Getenv("GOSTUB_TRACE") != "":
		// Every ptrace stop and resume, for chasing races.
		log.SetLevel(log.TraceLevel)
	case cfg.debug:
		log.SetLevel(log.DebugLevel)
	case cfg.remoteDebug:
		log.SetLevel(log.InfoLevel)
	default:
		log.SetLevel(log.WarnLevel)
	}
}
