package rsp

import (
	"bytes"
	"fmt"
	"os"
	"strings"

	log "github.com/sirupsen/logrus"

	"github.com/gostub/gostub/target"
)

// Extended-remote: `!`, vRun, R, vAttach and the settings vRun uses.

func (s *Session) extendedMode(_ []byte) {
	s.extended = true
	s.replyString("OK")
}

func (s *Session) settings() *LaunchRequest {
	if s.opts.Settings == nil {
		s.opts.Settings = &LaunchRequest{Shell: true, DisableASLR: true}
	}
	return s.opts.Settings
}

// vRun;PROG;ARG... (hex). An empty PROG reruns the last program.
func (s *Session) vRun(pkt []byte) {
	if s.opts.Launch == nil {
		s.reply(nil)
		return
	}
	var argv []string
	for i, part := range bytes.Split(pkt[len("vRun;"):], []byte{';'}) {
		arg, err := decodeHex(part)
		if err != nil {
			s.replyString("E01")
			return
		}
		if i == 0 && len(arg) == 0 {
			if prev := s.settings().Argv; len(prev) > 0 {
				arg = []byte(prev[0])
			}
		}
		argv = append(argv, string(arg))
	}
	if len(argv) == 0 || argv[0] == "" {
		s.replyString("E01")
		return
	}
	s.settings().Argv = argv
	s.run()
}

// run starts the program of the settings as one more process: gdb runs
// several inferiors over one connection (add-inferior, run in each), and
// the others live on, as with gdbserver. A client without multiprocess
// cannot tell processes apart, so for it the new one replaces the old
// ones (gdbserver refuses the vRun; gdb kills first anyway).
func (s *Session) run() {
	if !s.client.multiprocess {
		s.killAll()
	}
	req := *s.settings()
	p, err := s.opts.Launch(req)
	if err != nil {
		log.WithError(err).Warn("run")
		s.replyError(err)
		return
	}
	s.setProcess(p)
	s.reply(s.stopReply(s.last))
}

// replyError sends an error with its text when the client can take it.
func (s *Session) replyError(err error) {
	s.reply(append([]byte("E."), strings.ReplaceAll(err.Error(), "\n", " ")...))
}

// R restarts the last program; it has no reply.
func (s *Session) restart(_ []byte) {
	if !s.extended {
		s.reply(nil)
		return
	}
	if s.opts.Launch == nil || len(s.settings().Argv) == 0 {
		return
	}
	s.killAll()
	p, err := s.opts.Launch(*s.settings())
	if err != nil {
		log.WithError(err).Warn("restart")
		return
	}
	s.setProcess(p)
}

func (s *Session) vAttach(pkt []byte) {
	if s.opts.Attach == nil {
		s.reply(nil)
		return
	}
	pid, err := parseHexInt(pkt[len("vAttach;"):])
	if err != nil || pid <= 0 {
		s.replyString("E01")
		return
	}
	if s.proc != nil && s.proc.PID() == pid {
		s.replyError(fmt.Errorf("already attached to process %d", pid))
		return
	}
	p, err := s.opts.Attach(pid)
	if err != nil {
		s.replyError(err)
		return
	}
	s.setProcess(p)
	if s.ns.on {
		// In non-stop mode gdb asks for the stop itself with vCont;t.
		s.replyString("OK")
		return
	}
	s.reply(s.stopReply(s.last))
}

func (s *Session) setEnv(pkt []byte) {
	kv, err := decodeHex(pkt[len("QEnvironmentHexEncoded:"):])
	name, _, ok := strings.Cut(string(kv), "=")
	if err != nil || !ok || name == "" {
		s.replyString("E01")
		return
	}
	st := s.settings()
	st.Env = append(withoutVar(st.environ(), name), string(kv))
	s.replyString("OK")
}

func (s *Session) unsetEnv(pkt []byte) {
	name, err := decodeHex(pkt[len("QEnvironmentUnset:"):])
	if err != nil || len(name) == 0 {
		s.replyString("E01")
		return
	}
	st := s.settings()
	st.Env = withoutVar(st.environ(), string(name))
	s.replyString("OK")
}

func (s *Session) resetEnv(_ []byte) {
	s.settings().Env = nil
	s.replyString("OK")
}

// environ is the environment a program gets: ours unless changed.
func (r *LaunchRequest) environ() []string {
	if r.Env == nil {
		return os.Environ()
	}
	return r.Env
}

func withoutVar(env []string, name string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		if n, _, _ := strings.Cut(kv, "="); n != name {
			out = append(out, kv)
		}
	}
	return out
}

func (s *Session) setWorkingDir(pkt []byte) {
	dir, err := decodeHex(pkt[len("QSetWorkingDir:"):])
	if err != nil {
		s.replyString("E01")
		return
	}
	s.settings().Dir = string(dir)
	s.replyString("OK")
}

func (s *Session) setStartupWithShell(pkt []byte) {
	switch string(pkt[len("QStartupWithShell:"):]) {
	case "0":
		s.settings().Shell = false
	case "1":
		s.settings().Shell = true
	default:
		s.replyString("E01")
		return
	}
	s.replyString("OK")
}

func (s *Session) setDisableRandomization(pkt []byte) {
	switch string(pkt[len("QDisableRandomization:"):]) {
	case "0":
		s.settings().DisableASLR = false
	case "1":
		s.settings().DisableASLR = true
	default:
		s.replyString("E01")
		return
	}
	s.replyString("OK")
}

var _ = target.ErrNoProcess

// killAll ends every process before a restart (R) or a run for a client
// that knows one process only.
func (s *Session) killAll() {
	for _, p := range s.Processes() {
		if err := p.Kill(); err != nil {
			log.WithError(err).Warn("kill before run")
		}
		s.drop(p)
	}
}
