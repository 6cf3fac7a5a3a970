package rsp

import (
	"github.com/gostub/gostub/target"
)

// Thread events (QThreadEvents:1): the stub reports each new thread as a
// stop of that thread ("T05create:;...thread:NEW;") and each thread exit
// as "w<status>;<thread>". gdb turns them on while it stops every thread
// (infrun's stop_all_threads), so that a thread that appears or ends
// meanwhile does not leave it waiting for a stop that never comes.

func init() {
	register(route{"QThreadEvents:", (*Session).setThreadEvents})
}

func (s *Session) setThreadEvents(pkt []byte) {
	var on bool
	switch mode := string(pkt[len("QThreadEvents:"):]); mode {
	case "0":
	case "1":
		on = true
	default:
		// gdbserver's words for it.
		s.replyString("E.Unknown thread-events mode requested: " + mode)
		return
	}
	if _, ok := s.caps().(target.ThreadEventReporter); !ok {
		s.reply(nil)
		return
	}
	s.threadEvents = on
	for _, p := range s.procs {
		applyThreadEvents(p, on)
	}
	s.replyString("OK")
}

// applyThreadEvents brings a process into the session's choice.
func applyThreadEvents(p target.Process, on bool) {
	if r, ok := p.(target.ThreadEventReporter); ok {
		r.SetThreadEvents(on)
	}
}

// appendThreadExit formats a thread exit: w<status>;<thread-id>.
func (s *Session) appendThreadExit(b []byte, ev target.StopEvent) []byte {
	b = append(b, 'w')
	b = appendHexInt(b, uint64(ev.ExitCode))
	b = append(b, ';')
	return appendThreadID(b, ev.Thread, s.client.multiprocess)
}
