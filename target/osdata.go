package target

// OSDataReader serves qXfer:osdata:read (gdb's `info os`). It describes the
// host rather than the debugged process, so it works without one.
//
// annex "" lists the types; an annex the target does not know yields
// (nil, nil), which the stub answers with an empty object like gdbserver.
// The result is a complete <osdata> document.
type OSDataReader interface {
	OSData(annex string) ([]byte, error)
}
