// Command gostub is a GDB remote stub for Linux, a drop-in for gdbserver:
//
//	gostub [OPTIONS] COMM PROG [ARGS...]
//	gostub [OPTIONS] --attach COMM PID
//
// COMM is HOST:PORT, :PORT (loopback only) or - / stdio.
package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
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

COMM may be HOST:PORT to listen for a TCP connection (":PORT" listens on
the loopback interface only; "0.0.0.0:PORT" on every interface), or '-' or
'stdio' to use stdin/stdout of gostub.
PROG is the executable program.  ARGS are arguments passed to inferior.
PID is the process ID to attach to, when --attach is specified.

Operating modes:

  --attach              Attach to running process PID.
  --once                Exit after the first connection has closed.
  --help                Print this message and then exit.
  --version             Display version information and exit.

Other options:

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
  --log-format=text|json
                        Format of gostub's own log lines (default text).
`

type config struct {
	once, attach       bool
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
	if len(rest) == 0 {
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
	// Keep Ctrl-C typed at gostub's terminal from killing the server; the
	// inferior, in the same process group, still gets it.
	signal.Notify(make(chan os.Signal, 1), os.Interrupt)
	signal.Ignore(syscall.SIGPIPE)

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

	proc, err := startProcess(cfg, stdio)
	if err != nil {
		fmt.Fprintf(os.Stderr, "gostub: %v\nExiting\n", err)
		return 1
	}

	opts := rsp.Options{FS: linux.HostFS{}, SetDebug: func(on bool) {
		if on {
			log.SetLevel(log.DebugLevel)
		} else {
			log.SetLevel(log.WarnLevel)
		}
	}}
	if stdio {
		fmt.Fprintf(os.Stderr, "Remote debugging using stdio\n")
		conn := rsp.NewConn(os.Stdin, os.Stdout)
		conn.RemoteDebug.Store(cfg.remoteDebug)
		end, gone := serveOne(conn, proc, opts)
		return finish(cfg, proc, end, gone, true)
	}

	port := ln.Addr().(*net.TCPAddr).Port
	for {
		fmt.Fprintf(os.Stderr, "Listening on port %d\n", port)
		c, err := ln.Accept()
		if err != nil {
			fmt.Fprintf(os.Stderr, "gostub: accept: %v\n", err)
			proc.Kill()
			return 1
		}
		if ra, ok := c.RemoteAddr().(*net.TCPAddr); ok {
			fmt.Fprintf(os.Stderr, "Remote debugging from host %s, port %d\n", ra.IP, ra.Port)
		}
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetNoDelay(true)
		}
		conn := rsp.NewConn(c, c)
		conn.RemoteDebug.Store(cfg.remoteDebug)
		end, gone := serveOne(conn, proc, opts)
		c.Close()
		if end == rsp.EndDisconnected && !gone && !cfg.once {
			fmt.Fprintf(os.Stderr, "Remote side has terminated connection.  GDBserver will reopen the connection.\n")
			continue
		}
		return finish(cfg, proc, end, gone, cfg.once)
	}
}

// serveOne runs one client session; gone reports that the process no longer
// exists or is no longer ours.
func serveOne(conn *rsp.Conn, proc target.Process, opts rsp.Options) (rsp.End, bool) {
	s := rsp.NewSession(conn, proc, opts)
	end := s.Serve()
	if end == rsp.EndDisconnected && !s.ProcessGone() {
		// A client that left never leaves its breakpoints behind.
		if bp, ok := proc.(target.Breakpointer); ok {
			if err := bp.RemoveAllBreakpoints(); err != nil {
				log.WithError(err).Warn("removing breakpoints after disconnect")
			}
		}
	}
	return end, s.ProcessGone()
}

// finish applies gdbserver's rules for the end of the last session.
func finish(cfg *config, proc target.Process, end rsp.End, gone, last bool) int {
	pid := proc.PID()
	switch {
	case end == rsp.EndDetached:
		fmt.Fprintf(os.Stderr, "Detaching from process %d\n", pid)
		if !proc.Attached() {
			// Our own child: reap it when it ends, as gdbserver does.
			linux.WaitExit(pid)
		}
	case gone:
		// Exited, killed by the client, or detached: nothing left to do.
	case proc.Attached():
		fmt.Fprintf(os.Stderr, "Detaching process(es): %d\n", pid)
		if err := proc.Detach(); err != nil {
			log.WithError(err).Warn("detach")
		}
	default:
		fmt.Fprintf(os.Stderr, "Killing process(es): %d\n", pid)
		if err := proc.Kill(); err != nil {
			log.WithError(err).Warn("kill")
		}
	}
	return 0
}

func startProcess(cfg *config, stdio bool) (target.Process, error) {
	if cfg.attach {
		p, err := linux.Attach(cfg.pid)
		if err != nil {
			return nil, fmt.Errorf("Cannot attach to process %d: %w", cfg.pid, err)
		}
		fmt.Fprintf(os.Stderr, "Attached; pid = %d\n", p.PID())
		return p, nil
	}
	opts := linux.LaunchOptions{Path: cfg.prog[0], Args: cfg.prog[1:], DisableASLR: cfg.noASLR}
	if cfg.shell {
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
	fmt.Fprintf(os.Stderr, "Process %s created; pid = %d\n", cfg.prog[0], p.PID())
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
	case cfg.debug:
		log.SetLevel(log.DebugLevel)
	case cfg.remoteDebug:
		log.SetLevel(log.InfoLevel)
	default:
		log.SetLevel(log.WarnLevel)
	}
}
