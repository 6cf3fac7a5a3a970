package rsp

import (
	"bytes"
	"errors"
	"strconv"

	"github.com/gostub/gostub/target"
)

// Selector is a thread-id as the protocol writes it: pid and tid, where -1
// means all and 0 means any. Without multiprocess the pid is 0 (any).
type Selector struct {
	PID, TID int
}

var errBadThreadID = errors.New("invalid thread-id")

// parseSelector parses "p<pid>.<tid>", "p<pid>", "<tid>", "-1" or "0".
func parseSelector(s []byte) (Selector, error) {
	if len(s) == 0 {
		return Selector{}, errBadThreadID
	}
	if s[0] != 'p' {
		v, err := parseIDPart(s)
		return Selector{PID: 0, TID: v}, err
	}
	s = s[1:]
	pidPart, tidPart, hasTID := bytes.Cut(s, []byte{'.'})
	pid, err := parseIDPart(pidPart)
	if err != nil {
		return Selector{}, err
	}
	if !hasTID {
		return Selector{PID: pid, TID: -1}, nil
	}
	tid, err := parseIDPart(tidPart)
	if err != nil {
		return Selector{}, err
	}
	return Selector{PID: pid, TID: tid}, nil
}

func parseIDPart(s []byte) (int, error) {
	if string(s) == "-1" {
		return -1, nil
	}
	v, err := parseHex(s)
	if err != nil || v > 1<<31 {
		return 0, errBadThreadID
	}
	return int(v), nil
}

// Matches reports whether the selector names thread t.
func (s Selector) Matches(t target.ThreadID) bool {
	return (s.PID <= 0 || s.PID == t.PID) && (s.TID <= 0 || s.TID == t.TID)
}

// appendThreadID writes t as the client expects it.
func appendThreadID(dst []byte, t target.ThreadID, multiprocess bool) []byte {
	if multiprocess {
		dst = append(dst, 'p')
		dst = strconv.AppendInt(dst, int64(t.PID), 16)
		dst = append(dst, '.')
	}
	return strconv.AppendInt(dst, int64(t.TID), 16)
}
