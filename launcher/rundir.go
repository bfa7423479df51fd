package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// runDir holds the pid files a shell uses to drive a ride with kill.
// launcher.pid is written last: once it is there, all three are.
type runDir struct {
	dir     string
	written []string
}

// write writes DIR/NAME.pid atomically: a temp file renamed into place, so a
// reader never sees a partial pid.
func (r *runDir) write(name string, pid int) error {
	if err := os.MkdirAll(r.dir, 0o755); err != nil {
		return fmt.Errorf("run dir: %w", err)
	}
	path := filepath.Join(r.dir, name+".pid")
	tmp, err := os.CreateTemp(r.dir, "."+name+".pid.*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	_, werr := tmp.WriteString(strconv.Itoa(pid) + "\n")
	cerr := tmp.Close()
	if err := firstErr(werr, cerr, os.Chmod(tmp.Name(), 0o644), os.Rename(tmp.Name(), path)); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	r.written = append(r.written, path)
	return nil
}

// removeAll removes every pid file written.
func (r *runDir) removeAll() {
	for _, p := range r.written {
		os.Remove(p)
	}
	r.written = nil
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
