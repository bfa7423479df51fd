package lineout

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Stall is how long a line may wait for an output nobody reads before it
// is dropped. After one is dropped, the next lines are tried without
// waiting until the reader catches up.
const Stall = time.Second

// Output writes lines, each in one write(2), to an output (stdout, stderr)
// that may stop being read or taking lines at all: a full pipe must not
// stop the program, a closed one kill it, nor a full disk end it. On a pipe
// it writes through a descriptor of its own, opened non-blocking on the
// same pipe (/proc/self/fd/N: a new open file description, so the flag is
// not forced on whoever shares the original), with a deadline per line.
// Elsewhere (a terminal, a file) it writes as the file does. A line that
// cannot go, for whatever reason, is dropped and counted.
type Output struct {
	mu      sync.Mutex
	f       *os.File
	own     bool // f is our non-blocking descriptor
	stuck   bool // the last line was dropped for want of a reader
	dropped int
	failed  error // the last error that was not a reader missing: ENOSPC, EIO ...
}

// New returns an Output for f (os.Stdout, os.Stderr).
func New(f *os.File) *Output {
	// The descriptor through SyscallConn: f.Fd would switch a non-blocking
	// output to blocking mode, for every process that shares it.
	fd := -1
	if rc, err := f.SyscallConn(); err == nil {
		_ = rc.Control(func(d uintptr) { fd = int(d) }) // fd stays -1 on error
	}
	var st unix.Stat_t
	if fd < 0 || unix.Fstat(fd, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFIFO {
		return &Output{f: f}
	}
	own, err := os.OpenFile(fmt.Sprintf("/proc/self/fd/%d", fd), os.O_WRONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		return &Output{f: f}
	}
	return &Output{f: own, own: true}
}

// Write writes one line. It never fails: a line that cannot be written,
// for want of a reader (a full or closed pipe) or for any other error
// (ENOSPC, EIO), is dropped, and Dropped counts it. A line that goes out
// is whole, but on a file that fails mid-write (a disk filling up), which
// may keep the part it took.
func (o *Output) Write(line []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	err := o.write(line)
	switch {
	case err == nil:
		o.stuck = false
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, unix.EAGAIN), errors.Is(err, unix.EPIPE):
		o.stuck = true
		o.dropped++
	default:
		o.failed = err
		o.dropped++
	}
	return len(line), nil
}

// write makes one attempt at line: at once, then, on a pipe that is full
// and was read until now, for up to Stall.
func (o *Output) write(line []byte) error {
	if !o.own {
		_, err := o.f.Write(line)
		return err
	}
	// One try without a deadline first: a pipe with room takes the line at
	// once, and the deadline (a timer set, then cleared) is paid only by a
	// line that has to wait. Not through a deadline already past after a
	// drop either: the poller fails such a write before it tries it, and
	// the reader that caught up would never be written to again.
	n, err := o.tryWrite(line)
	switch {
	case err == nil && n == len(line):
		return nil
	case err == nil: // a line over PIPE_BUF, in part: the rest may wait
		_, err = o.writeWithin(line[n:], Stall)
		return err
	case errors.Is(err, unix.EAGAIN) && !o.stuck:
		_, err = o.writeWithin(line, Stall)
		return err
	}
	return err
}

// Dropped is how many lines could not be written.
func (o *Output) Dropped() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.dropped
}

// Why says why lines were dropped, name being what the output is to the
// reader ("stdout"): "stdout is not read" when every one lacked a reader,
// else the last other error, "stdout: no space left on device".
func (o *Output) Why(name string) string {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.failed == nil {
		return name + " is not read"
	}
	var errno unix.Errno
	if errors.As(o.failed, &errno) {
		return name + ": " + errno.Error()
	}
	return name + ": " + o.failed.Error()
}

// writeWithin writes b, waiting at most wait for the pipe to take it.
func (o *Output) writeWithin(b []byte, wait time.Duration) (int, error) {
	o.f.SetWriteDeadline(time.Now().Add(wait))
	defer o.f.SetWriteDeadline(time.Time{})
	return o.f.Write(b)
}

// tryWrite makes one write(2) of b, without waiting.
func (o *Output) tryWrite(b []byte) (int, error) {
	rc, err := o.f.SyscallConn()
	if err != nil {
		return 0, err
	}
	var n int
	var werr error
	if err := rc.Write(func(fd uintptr) bool {
		n, werr = unix.Write(int(fd), b)
		return true // one try: EAGAIN is the answer, not a wait
	}); err != nil {
		return 0, err
	}
	if n < 0 {
		n = 0
	}
	return n, werr
}

// Close closes our own descriptor, if any (never the file given).
func (o *Output) Close() error {
	if o.own {
		return o.f.Close()
	}
	return nil
}
