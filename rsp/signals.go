package rsp

// gdb numbers signals its own way (include/gdb/signals.def); the wire always
// uses that numbering. These tables map Linux x86-64 numbers to it.

const gdbSignalUnknown = 143

// linuxToGDB is indexed by the Linux signal number (1-31).
var linuxToGDB = [32]int{
	1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 6, // HUP INT QUIT ILL TRAP ABRT
	7:  10, // BUS
	8:  8,  // FPE
	9:  9,  // KILL
	10: 30, // USR1
	11: 11, // SEGV
	12: 31, // USR2
	13: 13, // PIPE
	14: 14, // ALRM
	15: 15, // TERM
	16: gdbSignalUnknown,
	17: 20, // CHLD
	18: 19, // CONT
	19: 17, // STOP
	20: 18, // TSTP
	21: 21, // TTIN
	22: 22, // TTOU
	23: 16, // URG
	24: 24, // XCPU
	25: 25, // XFSZ
	26: 26, // VTALRM
	27: 27, // PROF
	28: 28, // WINCH
	29: 23, // IO
	30: 32, // PWR
	31: 12, // SYS
}

// GDBSignal converts a Linux signal number to gdb's numbering.
func GDBSignal(linux int) int {
	switch {
	case linux == 0:
		return 0
	case linux > 0 && linux < 32:
		return linuxToGDB[linux]
	case linux == 32:
		return 77
	case linux == 33:
		return 45
	case linux >= 34 && linux <= 63:
		return 46 + linux - 34
	case linux == 64:
		return 78
	}
	return gdbSignalUnknown
}

// LinuxSignal converts gdb's numbering to Linux; ok is false for a signal
// Linux does not have.
func LinuxSignal(gdb int) (sig int, ok bool) {
	switch {
	case gdb == 0:
		return 0, true
	case gdb == 77:
		return 32, true
	case gdb == 45:
		return 33, true
	case gdb >= 46 && gdb <= 75:
		return 34 + gdb - 46, true
	case gdb == 78:
		return 64, true
	}
	for l := 1; l < 32; l++ {
		if linuxToGDB[l] == gdb && gdb != gdbSignalUnknown {
			return l, true
		}
	}
	return 0, false
}
