package atomicfile

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Kind is how a path is written, decided by what is there now.
type Kind int

// The kinds of target.
const (
	// Replace: a new name or a regular file (or a symlink to one): the bytes
	// go to a file beside the real path, renamed over it once complete.
	Replace Kind = iota
	// Into: a FIFO, a character device, or a descriptor alias such as
	// /dev/stdout: something that exists and is not ours to replace. The
	// bytes are written into it, in order, with nothing to roll back.
	Into
	// Stdout: the name "-".
	Stdout
)

// Target is where a path's bytes go.
type Target struct {
	Kind Kind
	// Path is, for Replace, the real path to rename over (every symlink
	// resolved, so the link stays and its target is replaced); for Into,
	// the path as given, to open; for Stdout, "-".
	Path string
}

// maxLinks bounds a symlink chain, as the kernel's ELOOP does.
const maxLinks = 40

// Resolve decides, from what is at path now, how it may be written: "-" is
// stdout; a new name or a regular file is replaced; a FIFO, a character
// device or a descriptor alias (/dev/stdout, /proc/self/fd/N) is written
// into; anything else (a directory, a socket, a block device, a dangling
// or looping symlink) is refused with an error saying what it is.
func Resolve(path string) (Target, error) {
	if path == "-" {
		return Target{Kind: Stdout, Path: "-"}, nil
	}
	if path == "" {
		return Target{}, errors.New("an empty path")
	}
	li, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return Target{Kind: Replace, Path: path}, nil
	}
	if err != nil {
		return Target{}, err
	}
	fi := li
	if li.Mode()&os.ModeSymlink != 0 {
		if fi, err = os.Stat(path); errors.Is(err, os.ErrNotExist) {
			return Target{}, fmt.Errorf("%s is a dangling symlink", path)
		} else if err != nil {
			return Target{}, err
		}
	}
	switch m := fi.Mode(); {
	case m.IsRegular() && li.Mode()&os.ModeSymlink == 0:
		return Target{Kind: Replace, Path: path}, nil
	case m.IsRegular():
		alias, err := descriptorAlias(path)
		if err != nil {
			return Target{}, err
		}
		if alias {
			return Target{Kind: Into, Path: path}, nil
		}
		real, err := filepath.EvalSymlinks(path)
		if err != nil {
			return Target{}, err
		}
		return Target{Kind: Replace, Path: real}, nil
	case m&os.ModeNamedPipe != 0, m&os.ModeCharDevice != 0:
		return Target{Kind: Into, Path: path}, nil
	default:
		return Target{}, fmt.Errorf("%s is %s: refused", path, describe(m))
	}
}

// describe names a file's type for an error.
func describe(m os.FileMode) string {
	switch {
	case m.IsRegular():
		return "a regular file"
	case m&os.ModeSymlink != 0:
		return "a symlink"
	case m.IsDir():
		return "a directory"
	case m&os.ModeNamedPipe != 0:
		return "a FIFO"
	case m&os.ModeSocket != 0:
		return "a socket"
	case m&os.ModeCharDevice != 0:
		return "a character device"
	case m&os.ModeDevice != 0:
		return "a block device"
	}
	return "not a regular file"
}

// descriptorAlias reports whether path's symlink chain passes through
// /proc or /dev/fd: a name for a descriptor already open (/dev/stdout ->
// /proc/self/fd/1 -> the file the shell opened). Its file is the
// descriptor's, not a name's: replacing the name would bypass the
// descriptor (a `>> log` redirection would lose what it held).
func descriptorAlias(path string) (bool, error) {
	p := path
	for range maxLinks {
		if strings.HasPrefix(p, "/proc/") || strings.HasPrefix(p, "/dev/fd/") {
			return true, nil
		}
		li, err := os.Lstat(p)
		if err != nil {
			return false, err
		}
		if li.Mode()&os.ModeSymlink == 0 {
			return false, nil
		}
		to, err := os.Readlink(p)
		if err != nil {
			return false, err
		}
		if !filepath.IsAbs(to) {
			to = filepath.Join(filepath.Dir(p), to)
		}
		p = to
	}
	return false, fmt.Errorf("%s: too many levels of symlinks", path)
}

// OpenInto opens an Into target for writing into it: never created,
// truncated or replaced. Appending is what a descriptor alias of a
// redirected stdout wants (the shell placed its offset), and a FIFO or a
// device has no offset. O_NONBLOCK makes a FIFO with no reader an error
// (ENXIO) rather than an open that waits for ever, and leaves the file in
// Go's poller, so SetWriteDeadline bounds each write; O_NOCTTY keeps a
// terminal from becoming the process's controlling one.
func OpenInto(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|unix.O_NONBLOCK|unix.O_NOCTTY, 0)
	if errors.Is(err, unix.ENXIO) {
		return nil, fmt.Errorf("open %s: a FIFO with no reader", path)
	}
	if err != nil {
		return nil, err
	}
	return f, nil
}

// OpenRegular opens path with flag (O_CREATE allowed, O_TRUNC not: it is
// done once the file is known to be regular) without following a final
// symlink, and refuses anything but a regular file: a name like a
// download's PATH.part, which is ours, must not lead elsewhere.
func OpenRegular(path string, flag int, trunc bool) (*os.File, error) {
	f, err := os.OpenFile(path, flag|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0o644)
	if errors.Is(err, unix.ELOOP) {
		return nil, fmt.Errorf("open %s: a symlink, refused", path)
	}
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = fmt.Errorf("open %s: %s, not a regular file: refused", path, describe(fi.Mode()))
	}
	if err == nil && trunc {
		err = f.Truncate(0)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// Rename moves from over t.Path, a Replace target, once more checking that
// what is there is still absent or a regular file: a FIFO or a device put
// there since Resolve is refused, not replaced.
func (t Target) Rename(from string) error {
	if t.Kind != Replace {
		return fmt.Errorf("rename over %s: not a file to replace", t.Path)
	}
	fi, err := os.Lstat(t.Path)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return err
	case !fi.Mode().IsRegular():
		return fmt.Errorf("rename over %s: it is now %s, not a regular file: refused", t.Path, describe(fi.Mode()))
	}
	return os.Rename(from, t.Path)
}

// Write writes path by the rule Resolve decides: a new name or a regular
// file through a temp file beside it, renamed into place once write has
// returned without error; a FIFO, a device or a descriptor alias written
// into; "-" to stdout.
func Write(path string, write func(io.Writer) error) error {
	t, err := Resolve(path)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	switch t.Kind {
	case Stdout:
		if err := writeBuffered(os.Stdout, write); err != nil {
			return fmt.Errorf("write stdout: %w", err)
		}
		return nil
	case Into:
		f, err := OpenInto(t.Path)
		if err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
		err = writeBuffered(IntoWriter(f, t.Path, Stall), write)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
		return nil
	}
	return replace(t, write)
}

// Stall is how long Write waits on a FIFO or a device that takes no byte:
// a reader that stops reading must not hold the writer for ever.
const Stall = 30 * time.Second

// StallError is an Into target that took no byte for D.
type StallError struct {
	Path string
	D    time.Duration
}

func (e *StallError) Error() string { return fmt.Sprintf("no byte taken into %s for %v", e.Path, e.D) }

// Unwrap makes a stall a deadline exceeded.
func (e *StallError) Unwrap() error { return os.ErrDeadlineExceeded }

// IntoWriter writes into f, an Into target at path opened by OpenInto (so
// in Go's poller): each write fails with a *StallError once no byte has
// moved for d; a partial write renews it. A device that cannot poll (a
// /dev/null) never blocks, and takes no deadline.
func IntoWriter(f *os.File, path string, d time.Duration) io.Writer {
	return intoWriter{f: f, path: path, d: d}
}

type intoWriter struct {
	f    *os.File
	path string
	d    time.Duration
}

func (w intoWriter) Write(p []byte) (int, error) {
	done := 0
	for {
		w.f.SetWriteDeadline(time.Now().Add(w.d))
		n, err := w.f.Write(p[done:])
		done += n
		if errors.Is(err, os.ErrDeadlineExceeded) {
			if n > 0 {
				continue
			}
			return done, &StallError{Path: w.path, D: w.d}
		}
		return done, err
	}
}

func writeBuffered(w io.Writer, write func(io.Writer) error) error {
	bw := bufio.NewWriter(w)
	if err := write(bw); err != nil {
		return err
	}
	return bw.Flush()
}

// replace writes t.Path through a temp file beside it.
func replace(t Target, write func(io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(t.Path), "."+filepath.Base(t.Path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", t.Path, err)
	}
	err = writeBuffered(tmp, write)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err == nil {
		err = t.Rename(tmp.Name())
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %w", t.Path, err)
	}
	return nil
}

// WritePid writes pid and a newline to path, through a temp file renamed
// into place. A pid file is read by whoever signals the pid, often as
// root: it must be a file of its own, so anything at path that is not a
// regular file (a symlink, a FIFO, a device, a directory) is refused, and
// "-" too.
func WritePid(path string, pid int) error {
	t, err := pidTarget(path)
	if err != nil {
		return err
	}
	return replace(t, func(w io.Writer) error {
		_, err := io.WriteString(w, strconv.Itoa(pid)+"\n")
		return err
	})
}

// CheckPid finds, without writing it, what would keep WritePid from
// writing path: something there that is not a regular file, a missing
// directory, a path under a regular file, a directory it may not write.
// A server checks its pid file so at start-up, before it starts anything.
func CheckPid(path string) error {
	t, err := pidTarget(path)
	if err != nil {
		return err
	}
	probe, err := os.CreateTemp(filepath.Dir(t.Path), "."+filepath.Base(t.Path)+".*")
	if err != nil {
		return fmt.Errorf("pid file %s: %w", path, err)
	}
	probe.Close()
	return os.Remove(probe.Name())
}

// RemovePid removes the pid file at path if it still names pid: once
// another process has written its own there (a new master after SIGUSR2,
// a second launcher on the same run directory), it is theirs, and stays.
// A pid file already gone is no error.
func RemovePid(path string, pid int) error {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("pid file %s: %w", path, err)
	}
	if strings.TrimSpace(string(b)) != strconv.Itoa(pid) {
		return nil
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("pid file %s: %w", path, err)
	}
	return nil
}

// pidTarget is path as a pid file: a new name or a regular file, never
// through a symlink.
func pidTarget(path string) (Target, error) {
	if path == "-" {
		return Target{}, errors.New("pid file -: a pid file must be a file, not stdout")
	}
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return Target{}, fmt.Errorf("pid file %s: %w", path, err)
	case !fi.Mode().IsRegular():
		return Target{}, fmt.Errorf("pid file %s: exists and is %s, not a regular file: refused", path, describe(fi.Mode()))
	}
	return Target{Kind: Replace, Path: path}, nil
}
