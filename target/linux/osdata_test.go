package linux

import (
	"encoding/xml"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

type osdataDoc struct {
	Type  string `xml:"type,attr"`
	Items []struct {
		Columns []struct {
			Name  string `xml:"name,attr"`
			Value string `xml:",chardata"`
		} `xml:"column"`
	} `xml:"item"`
}

// parseOSData checks the document is well formed and of type typ, and gives
// its rows as column lists (names checked against cols when given).
func parseOSData(t *testing.T, annex, typ string, cols []string) [][]string {
	t.Helper()
	data, err := (&Process{}).OSData(annex)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(data), `<osdata type="`+typ+`">`+"\n") || !strings.HasSuffix(string(data), "</osdata>\n") {
		t.Fatalf("%s: bad framing: %.200q", annex, data)
	}
	var doc osdataDoc
	if err := xml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("%s: %v", annex, err)
	}
	var rows [][]string
	for _, it := range doc.Items {
		var names, vals []string
		for _, c := range it.Columns {
			names = append(names, c.Name)
			vals = append(vals, c.Value)
		}
		if cols != nil && strings.Join(names, "|") != strings.Join(cols, "|") {
			t.Fatalf("%s: columns %q, want %q", annex, names, cols)
		}
		rows = append(rows, vals)
	}
	return rows
}

func findRow(rows [][]string, match func([]string) bool) []string {
	for _, r := range rows {
		if match(r) {
			return r
		}
	}
	return nil
}

func TestOSDataTypes(t *testing.T) {
	for _, annex := range []string{"", "types"} {
		rows := parseOSData(t, annex, "types", []string{"Type", "Description", "Title"})
		var types []string
		for _, r := range rows {
			types = append(types, r[0])
		}
		want := "cpus files modules msg processes procgroups semaphores shm sockets threads"
		if strings.Join(types, " ") != want {
			t.Errorf("types %q", types)
		}
		if rows[4][1] != "Listing of all processes" || rows[4][2] != "Processes" {
			t.Errorf("processes row %q", rows[4])
		}
	}
	if d, err := (&Process{}).OSData("unknown_entry"); d != nil || err != nil {
		t.Errorf("unknown = %q, %v", d, err)
	}
}

func TestOSDataProcesses(t *testing.T) {
	pid := strconv.Itoa(os.Getpid())
	self, _ := os.Executable()
	rows := parseOSData(t, "processes", "processes", []string{"pid", "user", "command", "cores"})
	r := findRow(rows, func(r []string) bool { return r[0] == pid })
	if r == nil {
		t.Fatalf("no row for %s", pid)
	}
	cmdline, _ := os.ReadFile("/proc/self/cmdline")
	if r[2] != strings.ReplaceAll(string(cmdline), "\x00", " ") || !strings.HasSuffix(r[2], " ") {
		t.Errorf("command %q (exe %s)", r[2], self)
	}
	if r[1] == "" || r[3] == "" || strings.Trim(r[3], "0123456789,") != "" {
		t.Errorf("row %q", r)
	}

	rows = parseOSData(t, "procgroups", "process groups", []string{"pgid", "leader command", "pid", "command line"})
	r = findRow(rows, func(r []string) bool { return r[2] == pid })
	pgid, _ := unix.Getpgid(os.Getpid())
	if r == nil || r[0] != strconv.Itoa(pgid) || r[3] != strings.ReplaceAll(string(cmdline), "\x00", " ") {
		t.Errorf("procgroups row %q", r)
	}

	rows = parseOSData(t, "threads", "threads", []string{"pid", "command", "tid", "core"})
	comm, _ := os.ReadFile("/proc/self/comm")
	r = findRow(rows, func(r []string) bool { return r[0] == pid && r[2] == pid })
	if r == nil || r[1] != strings.TrimSpace(string(comm)) {
		t.Errorf("threads row %q, comm %q", r, comm)
	}
	if r != nil {
		if _, err := strconv.Atoi(r[3]); err != nil {
			t.Errorf("core %q", r[3])
		}
	}
}

func TestOSDataFiles(t *testing.T) {
	f, err := os.Open("/dev/null")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows := parseOSData(t, "files", "files", []string{"pid", "command", "file descriptor", "name"})
	fd := strconv.Itoa(int(f.Fd()))
	if findRow(rows, func(r []string) bool {
		return r[0] == strconv.Itoa(os.Getpid()) && r[2] == fd && r[3] == "/dev/null"
	}) == nil {
		t.Errorf("fd %s of /dev/null not listed", fd)
	}
}

func TestOSDataSockets(t *testing.T) {
	l, err := net.Listen("tcp4", "0.0.0.0:0")
	if err != nil {
		t.Skip(err)
	}
	defer l.Close()
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	rows := parseOSData(t, "sockets", "I sockets", []string{"local address", "local port", "remote address",
		"remote port", "state", "user", "family", "protocol"})
	r := findRow(rows, func(r []string) bool { return r[1] == port && r[6] == "INET" })
	want := []string{"0.0.0.0", port, "0.0.0.0", "0", "LISTEN"}
	if r == nil || strings.Join(r[:5], " ") != strings.Join(want, " ") || r[7] != "STREAM" {
		t.Errorf("socket row %q", r)
	}
}

func TestSockAddr(t *testing.T) {
	for _, c := range []struct {
		hex  string
		v6   bool
		want string
	}{
		{"0100007F", false, "127.0.0.1"},
		{"00000000", false, "0.0.0.0"},
		{"00000000000000000000000001000000", true, "::1"},
		{"00000000000000000000000000000000", true, "::"},
		{"0000000000000000FFFF00000100007F", true, "::ffff:127.0.0.1"},
		{"000080FE00000000FF03020200FFFE03", true, "fe80::202:3ff:3fe:ff00"},
	} {
		got, ok := sockAddr(c.hex, c.v6)
		if !ok || got != c.want {
			t.Errorf("%s = %q, want %q", c.hex, got, c.want)
		}
	}
}

func TestOSDataSysV(t *testing.T) {
	const key = 0x6f73d17a
	id, err := unix.SysvShmGet(key, 4096, unix.IPC_CREAT|unix.IPC_EXCL|0o666)
	if err != nil {
		t.Skip(err)
	}
	defer unix.SysvShmCtl(id, unix.IPC_RMID, nil)
	rows := parseOSData(t, "shm", "shared memory", nil)
	r := findRow(rows, func(r []string) bool { return r[0] == strconv.Itoa(key) })
	comm, _ := os.ReadFile("/proc/self/comm")
	if r == nil || len(r) != 14 || r[1] != strconv.Itoa(id) || r[2] != "666" || r[3] != "4096" ||
		r[4] != strings.TrimSpace(string(comm)) || r[11] != "" || !strings.HasSuffix(r[13], "\n") {
		t.Errorf("shm row %q", r)
	}

	semid, _, errno := unix.Syscall(unix.SYS_SEMGET, key, 1, unix.IPC_CREAT|0o666)
	if errno == 0 {
		defer unix.Syscall6(unix.SYS_SEMCTL, semid, 0, unix.IPC_RMID, 0, 0, 0)
		rows = parseOSData(t, "semaphores", "semaphores", nil)
		r = findRow(rows, func(r []string) bool { return r[0] == strconv.Itoa(key) })
		if r == nil || len(r) != 10 || r[1] != fmt.Sprint(semid) || r[2] != "666" || r[3] != "1" {
			t.Errorf("sem row %q", r)
		}
	}
	msqid, _, errno := unix.Syscall(unix.SYS_MSGGET, key, unix.IPC_CREAT|0o666, 0)
	if errno == 0 {
		defer unix.Syscall(unix.SYS_MSGCTL, msqid, unix.IPC_RMID, 0)
		rows = parseOSData(t, "msg", "message queues", nil)
		r = findRow(rows, func(r []string) bool { return r[0] == strconv.Itoa(key) })
		if r == nil || len(r) != 14 || r[1] != fmt.Sprint(msqid) || r[2] != "666" || r[5] != "0" { // lspid 0: no /proc/0, so the pid
			t.Errorf("msg row %q", r)
		}
	}
}

func TestOSDataCPUsAndModules(t *testing.T) {
	rows := parseOSData(t, "cpus", "cpus", nil)
	if _, err := os.Stat("/proc/cpuinfo"); err == nil && len(rows) == 0 {
		t.Error("no cpus")
	}
	for _, r := range rows {
		if !strings.HasSuffix(r[0], "\n") {
			t.Errorf("cpuinfo value kept without its newline: %q", r[0])
		}
	}
	parseOSData(t, "modules", "modules", nil) // often empty in containers
	if xmlEscape(`a'"&<>b`) != "a&apos;&quot;&amp;&lt;&gt;b" {
		t.Error("xmlEscape")
	}
}
