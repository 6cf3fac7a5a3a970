package rsp

import (
	"strings"
)

// monitorHelp follows gdbserver's wording; tools match on it.
const monitorHelp = `The following monitor commands are supported:
  set debug <0|1>
    Enable general debugging messages
  set remote-debug <0|1>
    Enable remote protocol debugging messages
  set debug-format option1[,option2,...]
    Add additional information to debugging messages
    Options: all, none, timestamp
  exit
    Quit GDBserver
`

// qRcmd runs a monitor command. Output goes out as O packets, then OK, or
// E01 for a command we do not know (gdb says "Protocol error with Rcmd").
func (s *Session) qRcmd(pkt []byte) {
	raw, err := decodeHex(pkt[len("qRcmd,"):])
	if err != nil {
		s.replyString("E01")
		return
	}
	out := func(text string) { s.reply(appendHex([]byte{'O'}, []byte(text))) }
	fields := strings.Fields(string(raw))
	onOff := func(v string) (bool, bool) {
		switch v {
		case "1", "on":
			return true, true
		case "0", "off":
			return false, true
		}
		return false, false
	}
	switch {
	case len(fields) == 1 && fields[0] == "help":
		out(monitorHelp)
	case len(fields) == 1 && fields[0] == "exit":
		s.replyString("OK")
		s.finish(EndServerExit)
		return
	case len(fields) == 3 && fields[0] == "set" && fields[1] == "debug":
		on, ok := onOff(fields[2])
		if !ok {
			out("Unknown value: " + fields[2] + "\n")
			break
		}
		if s.opts.SetDebug != nil {
			s.opts.SetDebug(on)
		}
		out(map[bool]string{true: "Debug output enabled.\n", false: "Debug output disabled.\n"}[on])
	case len(fields) == 3 && fields[0] == "set" && fields[1] == "remote-debug":
		on, ok := onOff(fields[2])
		if !ok {
			out("Unknown value: " + fields[2] + "\n")
			break
		}
		s.conn.RemoteDebug.Store(on)
		if s.opts.SetRemoteDebug != nil {
			s.opts.SetRemoteDebug(on)
		}
		out(map[bool]string{true: "Protocol debug output enabled.\n", false: "Protocol debug output disabled.\n"}[on])
	case len(fields) == 3 && fields[0] == "set" && fields[1] == "debug-format":
		switch fields[2] {
		case "all", "timestamp":
			out("All extra debug format options enabled.\n")
		case "none":
			out("All extra debug format options disabled.\n")
		default:
			out("Unknown debug-format argument: \"" + fields[2] + "\"\n")
		}
	default:
		out("Unknown monitor command.\n\n")
		s.replyString("E01")
		return
	}
	s.replyString("OK")
}
