package library

import (
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// maxLinks bounds the symlinks followed at a name's last component, as
// os.Root bounds those on its way there.
const maxLinks = 8

// procFD is where an O_PATH descriptor is opened again for reading: the
// open follows the descriptor to its inode, not a name, so what is opened
// is what was checked.
const procFD = "/proc/self/fd/"

// openRegular opens name beneath the root for reading if it leads to a
// regular file, and opens nothing else: a FIFO's open waits for a writer,
// a socket's fails, and a device's acts on the device. The last component
// is first opened O_PATH (which opens no file, only holds the inode), its
// type read with fstat, and only a regular file is opened for reading,
// through procFD. A symlink at the end is followed here, one hop at a time
// and each hop beneath the root, so that it gets the same check.
func (l *Library) openRegular(name string) (*os.File, error) {
	cur := name
	for range maxLinks + 1 {
		p, err := l.root.OpenFile(cur, unix.O_PATH, 0)
		if err != nil {
			return nil, resolveErr(name, err)
		}
		var f *os.File
		var link string
		cerr := control(p, func(fd int) { f, link, err = reopenRegular(fd, l.root.Name()+"/"+name) })
		p.Close()
		switch {
		case cerr != nil:
			return nil, fmt.Errorf("%s: %w", name, cerr)
		case err != nil:
			return nil, fmt.Errorf("%s: %w", name, err)
		case f != nil:
			return f, nil
		case strings.HasPrefix(link, "/"):
			return nil, &NameError{Name: name, Reason: "leads out of the library"}
		}
		// Spliced in raw, not cleaned: os.Root resolves the ".." of a
		// link's target against the directories it went through, as it
		// does for a link on the way.
		if i := strings.LastIndexByte(cur, '/'); i >= 0 {
			cur = cur[:i+1] + link
		} else {
			cur = link
		}
	}
	return nil, fmt.Errorf("%s: more than %d symlinks: %w", name, maxLinks, ErrNotAFile)
}

// reopenRegular opens the O_PATH descriptor pfd for reading if it is a
// regular file, or returns its target if it is a symlink; anything else is
// ErrNotAFile. O_NONBLOCK: an open that would wait on a file lease fails
// instead.
func reopenRegular(pfd int, name string) (*os.File, string, error) {
	var st unix.Stat_t
	if err := unix.Fstat(pfd, &st); err != nil {
		return nil, "", err
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		fd, err := unix.Open(procFD+strconv.Itoa(pfd), unix.O_RDONLY|unix.O_NOCTTY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, "", fmt.Errorf("open: %w", err)
		}
		// Opened: reads of a regular file do not block, and a blocking
		// descriptor keeps os.File off the poller.
		if err := unix.SetNonblock(fd, false); err != nil {
			unix.Close(fd)
			return nil, "", fmt.Errorf("open: %w", err)
		}
		return os.NewFile(uintptr(fd), name), "", nil
	case unix.S_IFLNK:
		buf := make([]byte, unix.PathMax)
		n, err := unix.Readlinkat(pfd, "", buf)
		if err != nil {
			return nil, "", fmt.Errorf("readlink: %w", err)
		}
		return nil, string(buf[:n]), nil
	}
	return nil, "", ErrNotAFile
}

// control runs fn with f's descriptor, without os.File.Fd's side effect
// (it switches the descriptor to blocking mode).
func control(f *os.File, fn func(fd int)) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	return rc.Control(func(fd uintptr) { fn(int(fd)) })
}

// fstat is f's fstat, by way of control.
func fstat(f *os.File) (*unix.Stat_t, error) {
	var st unix.Stat_t
	var err error
	if cerr := control(f, func(fd int) { err = unix.Fstat(fd, &st) }); cerr != nil {
		return nil, cerr
	}
	return &st, err
}

// walkFS is the root as an fs.FS for fs.WalkDir whose directory reads
// cannot block: a directory is opened O_DIRECTORY, so a name that turned
// into a FIFO or a device after it was listed fails at once, unopened,
// instead of waiting for a writer or acting on the device.
type walkFS struct{ root *os.Root }

const dirFlags = os.O_RDONLY | unix.O_DIRECTORY | unix.O_NONBLOCK | unix.O_NOCTTY

func (w walkFS) Open(name string) (fs.File, error) {
	return w.root.OpenFile(name, dirFlags, 0)
}

func (w walkFS) ReadDir(name string) ([]fs.DirEntry, error) {
	f, err := w.root.OpenFile(name, dirFlags, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ents, err := f.ReadDir(-1)
	slices.SortFunc(ents, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return ents, err
}

// regularAt is the size and mtime of name in the open directory dir, if
// it is a regular file (a symlink is not followed).
func regularAt(dir *os.File, name string) (int64, time.Time, bool) {
	var st unix.Stat_t
	var err error
	if cerr := control(dir, func(fd int) { err = unix.Fstatat(fd, name, &st, unix.AT_SYMLINK_NOFOLLOW) }); cerr != nil || err != nil {
		return 0, time.Time{}, false
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return 0, time.Time{}, false
	}
	return st.Size, time.Unix(st.Mtim.Unix()), true
}
