package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/gostub/gostub/dwarf"
)

// modulePath is the module whose cmd/gostub is built when -gostub is empty.
const modulePath = "github.com/gostub/gostub"

// program is a compiled benchmark inferior.
type program struct {
	name string
	path string
	obj  *dwarf.Object // its symbols and debug info
}

// sym returns the address of a function (its entry) or of a global
// variable, or an error naming the program.
func (p *program) sym(name string) (uint64, error) {
	if entry, _, err := p.obj.FunctionEntry(name); err == nil && entry != 0 {
		return entry, nil
	}
	if addr, _, err := p.obj.Global(name); err == nil && addr != 0 {
		return addr, nil
	}
	return 0, fmt.Errorf("%s: no symbol %s", p.path, name)
}

// cflags are the compiler flags of every benchmark program: non-PIE so the
// symbol addresses from the file are the run-time addresses.
var cflags = []string{"-g", "-O0", "-no-pie"}

// findUp walks up from dir until rel exists below it and returns that
// directory.
func findUp(dir, rel string) (string, error) {
	for d := dir; ; {
		if _, err := os.Stat(filepath.Join(d, rel)); err == nil {
			return d, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", fmt.Errorf("no %s in %s or any parent", rel, dir)
		}
		d = parent
	}
}

// moduleRoot returns the root of the gostub module, found from the working
// directory.
func moduleRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	d := wd
	for {
		root, err := findUp(d, "go.mod")
		if err != nil {
			return "", fmt.Errorf("cannot find the %s module above %s", modulePath, wd)
		}
		data, err := os.ReadFile(filepath.Join(root, "go.mod"))
		if err == nil && bytes.Contains(data, []byte("module "+modulePath+"\n")) {
			return root, nil
		}
		d = filepath.Dir(root)
		if d == root {
			return "", fmt.Errorf("cannot find the %s module above %s", modulePath, wd)
		}
	}
}

// sourceDir returns dir if set, or testdata/bench of the module.
func sourceDir(dir string) (string, error) {
	if dir != "" {
		return dir, nil
	}
	root, err := moduleRoot()
	if err != nil {
		return "", fmt.Errorf("%v (pass -src)", err)
	}
	return filepath.Join(root, "testdata", "bench"), nil
}

// buildProgram compiles srcDir/name.c with gcc into a cache directory under
// os.TempDir() keyed by the hash of the source and flags, so repeated runs
// reuse the binary, and opens it with package dwarf for its addresses.
func buildProgram(srcDir, name string) (*program, error) {
	src := filepath.Join(srcDir, name+".c")
	code, err := os.ReadFile(src)
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	h.Write(code)
	h.Write([]byte(strings.Join(cflags, " ")))
	dir := filepath.Join(os.TempDir(), "rspbench-"+hex.EncodeToString(h.Sum(nil))[:16])
	bin := filepath.Join(dir, name)
	if _, err := os.Stat(bin); err != nil {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		tmp, err := os.CreateTemp(dir, name+".tmp*")
		if err != nil {
			return nil, err
		}
		tmp.Close()
		args := append(append([]string{}, cflags...), "-o", tmp.Name(), src)
		if out, err := exec.Command("gcc", args...).CombinedOutput(); err != nil {
			os.Remove(tmp.Name())
			return nil, fmt.Errorf("gcc %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		if err := os.Rename(tmp.Name(), bin); err != nil {
			return nil, err
		}
	}
	obj, err := dwarf.Open(bin)
	if err != nil {
		return nil, err
	}
	return &program{name: name, path: bin, obj: obj}, nil
}

// buildGostub builds the module's cmd/gostub into dir and returns the
// binary's path.
func buildGostub(dir string) (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", fmt.Errorf("%v (pass -gostub)", err)
	}
	if _, err := os.Stat(filepath.Join(root, "cmd", "gostub")); err != nil {
		return "", fmt.Errorf("no cmd/gostub in %s", root)
	}
	out := filepath.Join(dir, "gostub")
	cmd := exec.Command("go", "build", "-o", out, "./cmd/gostub")
	cmd.Dir = root
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/gostub: %v\n%s", err, bytes.TrimSpace(msg))
	}
	return out, nil
}

// checkExecutable reports a clear error for a missing stub binary.
func checkExecutable(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if st.IsDir() || st.Mode()&0o111 == 0 {
		return errors.New(path + " is not an executable file")
	}
	return nil
}
