package linux

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"os/user"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// qXfer:osdata (gdb's `info os`): the host's processes, threads, files,
// sockets, SysV IPC objects, CPUs and kernel modules, read from /proc in the
// layout of gdb's nat/linux-osdata.cc, which gdbserver serves: the same
// types, <osdata type="..."> names, columns, column order, row order and
// value formatting. It needs no traced process.

// OSData implements target.OSDataReader. Unknown annexes give nil.
func (p *Process) OSData(annex string) ([]byte, error) {
	return OSData(annex), nil
}

type osdataType struct {
	name, title, desc string
	snap              func(*osdataWriter)
}

var osdataTypes []osdataType

func init() {
	// Initialized here: the "types" entry refers back to the table.
	osdataTypes = []osdataType{
		{"types", "Types", "Listing of info os types you can list", osdataTypesList},
		{"cpus", "CPUs", "Listing of all cpus/cores on the system", osdataCPUs},
		{"files", "File descriptors", "Listing of all file descriptors", osdataFiles},
		{"modules", "Kernel modules", "Listing of all loaded kernel modules", osdataModules},
		{"msg", "Message queues", "Listing of all message queues", osdataMsg},
		{"processes", "Processes", "Listing of all processes", osdataProcesses},
		{"procgroups", "Process groups", "Listing of all process groups", osdataProcGroups},
		{"semaphores", "Semaphores", "Listing of all semaphores", osdataSem},
		{"shm", "Shared-memory regions", "Listing of all shared-memory regions", osdataShm},
		{"sockets", "Sockets", "Listing of all internet-domain sockets", osdataSockets},
		{"threads", "Threads", "Listing of all threads", osdataThreads},
	}
}

// OSData builds the document for annex ("" is "types"); nil when unknown.
func OSData(annex string) []byte {
	if annex == "" {
		annex = "types"
	}
	for _, t := range osdataTypes {
		if t.name == annex {
			w := &osdataWriter{users: map[uint32]string{}, groups: map[uint32]string{}}
			t.snap(w)
			w.b.WriteString("</osdata>\n")
			return w.b.Bytes()
		}
	}
	return nil
}

// osdataWriter accumulates one document, caching name lookups.
type osdataWriter struct {
	b      bytes.Buffer
	users  map[uint32]string
	groups map[uint32]string
}

func (w *osdataWriter) begin(typ string) {
	fmt.Fprintf(&w.b, "<osdata type=\"%s\">\n", typ)
}

// item writes one row: alternating column names and (unescaped) values.
func (w *osdataWriter) item(kv ...string) {
	w.b.WriteString("<item>")
	for i := 0; i+1 < len(kv); i += 2 {
		w.column(kv[i], kv[i+1])
	}
	w.b.WriteString("</item>")
}

func (w *osdataWriter) column(name, value string) {
	fmt.Fprintf(&w.b, "<column name=\"%s\">%s</column>", xmlEscape(name), xmlEscape(value))
}

// xmlEscape escapes like gdb's xml_escape_text.
func xmlEscape(s string) string {
	if !strings.ContainsAny(s, `'"&<>`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\'':
			b.WriteString("&apos;")
		case '"':
			b.WriteString("&quot;")
		case '&':
			b.WriteString("&amp;")
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// utNameMax is UT_NAMESIZE less the terminator: gdb's user/group buffers.
const utNameMax = 31

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func (w *osdataWriter) user(uid uint32) string {
	if u, ok := w.users[uid]; ok {
		return u
	}
	name := ""
	if u, err := user.LookupId(strconv.FormatUint(uint64(uid), 10)); err == nil {
		name = clip(u.Username, utNameMax)
	}
	w.users[uid] = name
	return name
}

func (w *osdataWriter) group(gid uint32) string {
	if g, ok := w.groups[gid]; ok {
		return g
	}
	name := ""
	if g, err := user.LookupGroupId(strconv.FormatUint(uint64(gid), 10)); err == nil {
		name = clip(g.Name, utNameMax)
	}
	w.groups[gid] = name
	return name
}

// procEntries lists /proc's numeric entries (starting with a digit, at most
// max characters) in directory order, as readdir gives them.
func procEntries(dir string, max int) []string {
	f, err := os.Open(dir)
	if err != nil {
		return nil
	}
	defer f.Close()
	names, _ := f.Readdirnames(-1)
	var out []string
	for _, n := range names {
		if n != "" && n[0] >= '0' && n[0] <= '9' && len(n) <= max {
			out = append(out, n)
		}
	}
	return out
}

// atoll parses a leading decimal number like sscanf %lld / atoi (0 if none).
func atoll(s string) int64 {
	s = strings.TrimLeft(s, " \t\n")
	i := 0
	if i < len(s) && (s[i] == '-' || s[i] == '+') {
		i++
	}
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	v, _ := strconv.ParseInt(s[:i], 10, 64)
	return v
}

// commandOf is gdb's command_from_pid: the comm from /proc/PID/stat (the
// second word, at most 17 characters, less its first and last), or the pid
// when the file cannot be opened. maxlen is the C buffer size.
func commandOf(pid int64, maxlen int) string {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return clip(strconv.FormatInt(pid, 10), maxlen-1)
	}
	f := strings.Fields(string(data))
	if len(f) < 2 {
		return ""
	}
	if v, err := strconv.ParseInt(f[0], 10, 64); err != nil || v != pid {
		return ""
	}
	cmd := clip(f[1], 17)
	if len(cmd) < 2 {
		return ""
	}
	return clip(cmd[1:len(cmd)-1], maxlen-1)
}

// commandLineOf is gdb's commandline_from_pid: /proc/PID/cmdline with NULs
// turned to spaces, "[comm]" when empty, "" when unreadable.
func commandLineOf(pid int64) string {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return ""
	}
	if len(data) == 0 {
		return "[" + commandOf(pid, 31) + "]"
	}
	return string(bytes.ReplaceAll(data, []byte{0}, []byte{' '}))
}

// coreOfThread is linux_common_core_of_thread: field 39 of the task's stat.
func coreOfThread(pid, tid int64) int {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/stat", pid, tid))
	if err != nil {
		return -1
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return -1
	}
	f := strings.FieldsFunc(s[i+1:], func(r rune) bool { return r == ' ' })
	if len(f) <= 36 {
		return -1
	}
	v, err := strconv.Atoi(strings.TrimSpace(f[36]))
	if err != nil {
		return -1
	}
	return v
}

// onlineCPUs is sysconf(_SC_NPROCESSORS_ONLN).
func onlineCPUs() int {
	data, err := os.ReadFile("/sys/devices/system/cpu/online")
	if err != nil {
		return runtime.NumCPU()
	}
	n := 0
	for _, r := range strings.Split(strings.TrimSpace(string(data)), ",") {
		lo, hi, isRange := strings.Cut(r, "-")
		a, err1 := strconv.Atoi(lo)
		b := a
		var err2 error
		if isRange {
			b, err2 = strconv.Atoi(hi)
		}
		if err1 != nil || err2 != nil || b < a {
			return runtime.NumCPU()
		}
		n += b - a + 1
	}
	return n
}

const maxPIDLen = 20 // MAX_PID_T_STRLEN

func osdataTypesList(w *osdataWriter) {
	w.begin("types")
	for _, t := range osdataTypes[1:] {
		w.item("Type", t.name, "Description", t.desc, "Title", t.title)
	}
}

func osdataProcesses(w *osdataWriter) {
	w.begin("processes")
	numCores := onlineCPUs()
	for _, name := range procEntries("/proc", maxPIDLen) {
		pid := atoll(name)
		cmdline := commandLineOf(pid)
		owner := "?"
		var st unix.Stat_t
		if unix.Stat(fmt.Sprintf("/proc/%d", pid), &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR {
			owner = w.user(st.Uid)
		}
		cores := make([]int, numCores)
		tasks := 0
		for _, tn := range procEntries(fmt.Sprintf("/proc/%d/task", pid), maxPIDLen) {
			c := coreOfThread(pid, atoll(tn))
			if c >= 0 && c < numCores {
				cores[c]++
				tasks++
			}
		}
		var cs strings.Builder
		for i := 0; i < numCores && tasks > 0; i++ {
			if cores[i] != 0 {
				cs.WriteString(strconv.Itoa(i))
				tasks -= cores[i]
				if tasks > 0 {
					cs.WriteByte(',')
				}
			}
		}
		w.item("pid", strconv.FormatInt(pid, 10), "user", owner, "command", cmdline, "cores", cs.String())
	}
}

func osdataProcGroups(w *osdataWriter) {
	w.begin("process groups")
	type pg struct{ pid, pgid int64 }
	var list []pg
	for _, name := range procEntries("/proc", maxPIDLen) {
		pid := atoll(name)
		if pgid, err := unix.Getpgid(int(pid)); err == nil && pgid > 0 {
			list = append(list, pg{pid, int64(pgid)})
		}
	}
	sort.Slice(list, func(i, j int) bool {
		a, b := list[i], list[j]
		if a.pgid != b.pgid {
			return a.pgid < b.pgid
		}
		if al, bl := a.pid == a.pgid, b.pid == b.pgid; al != bl {
			return al // the leader first
		}
		return a.pid < b.pid
	})
	for _, e := range list {
		w.item("pgid", strconv.FormatInt(e.pgid, 10), "leader command", commandOf(e.pgid, 32),
			"pid", strconv.FormatInt(e.pid, 10), "command line", commandLineOf(e.pid))
	}
}

// procDirs lists the pids of /proc whose entries are directories (threads
// and files limit names to 10 characters).
func procDirs() []string {
	var out []string
	for _, name := range procEntries("/proc", 10) {
		var st unix.Stat_t
		if unix.Stat("/proc/"+name, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR {
			out = append(out, name)
		}
	}
	return out
}

func osdataThreads(w *osdataWriter) {
	w.begin("threads")
	for _, name := range procDirs() {
		pid := atoll(name)
		cmd := commandOf(pid, 32)
		for _, tn := range procEntries("/proc/"+name+"/task", 10) {
			tid := atoll(tn)
			w.item("pid", strconv.FormatInt(pid, 10), "command", cmd,
				"tid", strconv.FormatInt(tid, 10), "core", strconv.Itoa(coreOfThread(pid, tid)))
		}
	}
}

func osdataFiles(w *osdataWriter) {
	w.begin("files")
	for _, name := range procDirs() {
		cmd := commandOf(atoll(name), 32)
		dir := "/proc/" + name + "/fd"
		for _, fd := range procEntries(dir, 1<<30) {
			target, err := os.Readlink(dir + "/" + fd)
			if err != nil {
				target = fd
			} else {
				target = clip(target, 999)
			}
			w.item("pid", name, "command", cmd, "file descriptor", fd, "name", target)
		}
	}
}

// socketState is format_socket_state.
func socketState(st uint64) string {
	states := []string{"", "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2",
		"TIME_WAIT", "CLOSE", "CLOSE_WAIT", "LAST_ACK", "LISTEN", "CLOSING"}
	if st >= 1 && st < uint64(len(states)) {
		return states[st]
	}
	return "(unknown)"
}

// sockAddr decodes /proc/net's hex address (32-bit words in host order) and
// formats it like getnameinfo(NI_NUMERICHOST).
func sockAddr(hex string, v6 bool) (string, bool) {
	words := 1
	if v6 {
		words = 4
	}
	if len(hex) != 8*words {
		return "", false
	}
	var raw [16]byte
	for i := 0; i < words; i++ {
		v, err := strconv.ParseUint(hex[8*i:8*i+8], 16, 32)
		if err != nil {
			return "", false
		}
		binary.NativeEndian.PutUint32(raw[4*i:], uint32(v))
	}
	if !v6 {
		return netip.AddrFrom4([4]byte(raw[:4])).String(), true
	}
	a := netip.AddrFrom16(raw)
	var zero [12]byte
	v4 := netip.AddrFrom4([4]byte(raw[12:])).String()
	switch {
	case bytes.Equal(raw[:10], zero[:10]) && raw[10] == 0xff && raw[11] == 0xff:
		return "::ffff:" + v4, true // glibc's inet_ntop shows the embedded IPv4
	case bytes.Equal(raw[:12], zero[:]) && (raw[12] != 0 || raw[13] != 0):
		return "::" + v4, true
	}
	return a.String(), true
}

func (w *osdataWriter) sockets(path string, v6, tcp bool) {
	data, err := os.ReadFile(path)
	if err != nil {
		return
	}
	family, proto := "INET", "DGRAM"
	if v6 {
		family = "INET6"
	}
	if tcp {
		proto = "STREAM"
	}
	for _, line := range strings.Split(string(data), "\n") {
		// sl: local rem st tx:rx tr:when retrnsmt uid ...
		f := strings.Fields(line)
		if len(f) < 8 || !strings.HasSuffix(f[0], ":") {
			continue
		}
		if _, err := strconv.Atoi(strings.TrimSuffix(f[0], ":")); err != nil {
			continue
		}
		la, lp, ok1 := strings.Cut(f[1], ":")
		ra, rp, ok2 := strings.Cut(f[2], ":")
		if !ok1 || !ok2 {
			continue
		}
		lport, err1 := strconv.ParseUint(lp, 16, 16)
		rport, err2 := strconv.ParseUint(rp, 16, 16)
		state, err3 := strconv.ParseUint(f[3], 16, 32)
		uid, err4 := strconv.ParseUint(f[7], 10, 32)
		if err1 != nil || err2 != nil || err3 != nil || err4 != nil {
			continue
		}
		local, ok1 := sockAddr(la, v6)
		remote, ok2 := sockAddr(ra, v6)
		if !ok1 || !ok2 {
			continue
		}
		w.item("local address", local, "local port", strconv.FormatUint(lport, 10),
			"remote address", remote, "remote port", strconv.FormatUint(rport, 10),
			"state", socketState(state), "user", w.user(uint32(uid)),
			"family", family, "protocol", proto)
	}
}

func osdataSockets(w *osdataWriter) {
	w.begin("I sockets")
	w.sockets("/proc/net/tcp", false, true)
	w.sockets("/proc/net/udp", false, false)
	w.sockets("/proc/net/tcp6", true, true)
	w.sockets("/proc/net/udp6", true, false)
}

// ctimeOf is time_from_time_t: ctime_r's text (with its newline), "" for 0.
func ctimeOf(sec int64) string {
	if sec == 0 {
		return ""
	}
	return time.Unix(sec, 0).Local().Format("Mon Jan _2 15:04:05 2006\n")
}

// sysvipc reads a /proc/sysvipc file: rows of at least n integer fields
// (the header row does not parse). octal is the index of the permissions.
func sysvipc(path string, n int) [][]int64 {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var rows [][]int64
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < n {
			continue
		}
		row := make([]int64, n)
		ok := true
		for i := 0; i < n && ok; i++ {
			base := 10
			if i == 2 {
				base = 8 // perms
			}
			v, err := strconv.ParseInt(f[i], base, 64)
			row[i], ok = v, err == nil
		}
		if ok {
			rows = append(rows, row)
		}
	}
	return rows
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }

func int32s(v int64) string { return strconv.FormatInt(int64(int32(v)), 10) }

func uint32s(v int64) string { return strconv.FormatUint(uint64(uint32(v)), 10) }

func octal(v int64) string { return strconv.FormatUint(uint64(uint32(v)), 8) }

func osdataShm(w *osdataWriter) {
	w.begin("shared memory")
	// key shmid perms size cpid lpid nattch uid gid cuid cgid atime dtime ctime
	for _, r := range sysvipc("/proc/sysvipc/shm", 14) {
		w.item("key", int32s(r[0]), "shmid", int32s(r[1]), "permissions", octal(r[2]),
			"size", int32s(r[3]), "creator command", commandOf(r[4], 32),
			"last op. command", commandOf(r[5], 32), "num attached", int32s(r[6]),
			"user", w.user(uint32(r[7])), "group", w.group(uint32(r[8])),
			"creator user", w.user(uint32(r[9])), "creator group", w.group(uint32(r[10])),
			"last shmat() time", ctimeOf(r[11]), "last shmdt() time", ctimeOf(r[12]),
			"last shmctl() time", ctimeOf(r[13]))
	}
}

func osdataSem(w *osdataWriter) {
	w.begin("semaphores")
	// key semid perms nsems uid gid cuid cgid otime ctime
	for _, r := range sysvipc("/proc/sysvipc/sem", 10) {
		w.item("key", int32s(r[0]), "semid", int32s(r[1]), "permissions", octal(r[2]),
			"num semaphores", uint32s(r[3]),
			"user", w.user(uint32(r[4])), "group", w.group(uint32(r[5])),
			"creator user", w.user(uint32(r[6])), "creator group", w.group(uint32(r[7])),
			"last semop() time", ctimeOf(r[8]), "last semctl() time", ctimeOf(r[9]))
	}
}

func osdataMsg(w *osdataWriter) {
	w.begin("message queues")
	// key msqid perms cbytes qnum lspid lrpid uid gid cuid cgid stime rtime ctime
	for _, r := range sysvipc("/proc/sysvipc/msg", 14) {
		w.item("key", int32s(r[0]), "msqid", int32s(r[1]), "permissions", octal(r[2]),
			"num used bytes", uint32s(r[3]), "num messages", uint32s(r[4]),
			"last msgsnd() command", commandOf(r[5], 32), "last msgrcv() command", commandOf(r[6], 32),
			"user", w.user(uint32(r[7])), "group", w.group(uint32(r[8])),
			"creator user", w.user(uint32(r[9])), "creator group", w.group(uint32(r[10])),
			"last msgsnd() time", ctimeOf(r[11]), "last msgrcv() time", ctimeOf(r[12]),
			"last msgctl() time", ctimeOf(r[13]))
	}
}

// strtok splits s at any of seps, dropping empty pieces, as strtok_r does.
func strtok(s, seps string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return strings.ContainsRune(seps, r) })
}

func osdataCPUs(w *osdataWriter) {
	w.begin("cpus")
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return
	}
	first := true
	for _, line := range strings.SplitAfter(string(data), "\n") {
		tok := strtok(line, ":")
		if len(tok) < 2 {
			continue
		}
		key, _, _ := strings.Cut(tok[0], "\t")
		value, _, _ := strings.Cut(tok[1], "\t")
		if key == "processor" {
			if first {
				w.b.WriteString("<item>")
			} else {
				w.b.WriteString("</item><item>")
			}
			first = false
		}
		w.column(key, value)
	}
	if !first {
		w.b.WriteString("</item>")
	}
}

func osdataModules(w *osdataWriter) {
	w.begin("modules")
	data, err := os.ReadFile("/proc/modules")
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(data), "\n") {
		// name size uses deps status address [taints]
		f := strtok(line, " ")
		if len(f) < 6 {
			continue
		}
		size, err1 := strconv.ParseUint(f[1], 10, 32)
		uses, err2 := strconv.ParseInt(f[2], 10, 32)
		addr, err3 := strconv.ParseUint(strings.TrimPrefix(strings.TrimPrefix(f[5], "0x"), "0X"), 16, 64)
		if err1 != nil || err2 != nil || err3 != nil {
			continue
		}
		w.item("name", f[0], "size", strconv.FormatUint(size, 10), "num uses", strconv.FormatInt(uses, 10),
			"dependencies", f[3], "status", f[4], "address", strconv.FormatUint(addr, 16))
	}
}
