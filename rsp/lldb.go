package rsp

import "github.com/gostub/gostub/target"

// LLDB's dialect. Everything here is used only when the client asked for it
// (QThreadSuffixSupported, QListThreadsInStopReply, ...), never guessed.

// lldbState holds what an LLDB client switched on.
type lldbState struct{}

// appendStopExtras adds what the client asked to find in stop replies
// beyond gdb's fields (LLDB's threads:/thread-pcs:).
func (s *Session) appendStopExtras(b []byte, ev target.StopEvent) []byte {
	return b
}
