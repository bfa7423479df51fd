package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/sigride/sigride/internal/atomicfile"
)

// runDir holds the pid files a shell uses to drive a ride with kill.
// launcher.pid is written last: once it is there, all three are.
type runDir struct {
	dir     string
	written []string
}

// write writes DIR/NAME.pid atomically, so a reader never sees a partial pid.
func (r *runDir) write(name string, pid int) error {
	if err := os.MkdirAll(r.dir, 0o755); err != nil {
		return fmt.Errorf("run dir: %w", err)
	}
	path := filepath.Join(r.dir, name+".pid")
	if err := atomicfile.WritePid(path, pid); err != nil {
		return err
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
