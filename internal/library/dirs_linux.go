package library

import (
	"errors"
	"io/fs"
	"strings"

	"golang.org/x/sys/unix"
)

// mkdirs makes the directories of dir (a checked name's directory) that
// are missing, beneath the root, and returns those it made, shallowest
// first: only those are an upload's to remove if it fails. One that
// exists already (made by anyone, even a moment ago) is not its own.
func (l *Library) mkdirs(dir string) ([]string, error) {
	var made []string
	for i := 0; i <= len(dir); i++ {
		if i < len(dir) && dir[i] != '/' {
			continue
		}
		p := dir[:i]
		err := l.root.Mkdir(p, 0o755)
		switch {
		case err == nil:
			made = append(made, p)
		case errors.Is(err, fs.ErrExist):
			// A directory, or not: then the next Mkdir, or the temp
			// file's open, fails with ENOTDIR.
		default:
			l.removeDirs(made)
			return nil, err
		}
	}
	return made, nil
}

// removeDirs removes the directories of made that are empty, deepest first.
// rmdir(2) (unlinkat AT_REMOVEDIR beside the opened parent) removes only
// an empty directory: one that another upload filled meanwhile stays, and
// so do its parents; whatever took a name's place is never removed.
func (l *Library) removeDirs(made []string) {
	for i := len(made) - 1; i >= 0; i-- {
		p := made[i]
		parent, base := ".", p
		if j := strings.LastIndexByte(p, '/'); j >= 0 {
			parent, base = p[:j], p[j+1:]
		}
		// Each tried, whatever the deeper one did: one not empty keeps its
		// parents (not empty either), one removed behind our back may
		// have left its parent empty.
		if d, err := l.root.OpenFile(parent, dirFlags, 0); err == nil {
			unix.Unlinkat(int(d.Fd()), base, unix.AT_REMOVEDIR)
			d.Close()
		}
	}
}
