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
	written []pidFile
}

// pidFile is a pid file written, and the pid it was written with.
type pidFile struct {
	path string
	pid  int
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
	r.written = append(r.written, pidFile{path, pid})
	return nil
}

// removeAll removes every pid file written that still names what was
// written there: another ride started on the same directory meanwhile
// owns the ones it wrote.
func (r *runDir) removeAll() {
	for _, w := range r.written {
		_ = atomicfile.RemovePid(w.path, w.pid) // a pid file left behind names a process gone: harmless
	}
	r.written = nil
}
