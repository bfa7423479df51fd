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

// errStalled is a line that found no room within Stall, or none at once
// after a line was dropped.
var errStalled = errors.New("output not read")

// How an Output reaches its output, by what the output is.
type mode int

const (
	// A regular file, /dev/null, /dev/full, any device but a terminal:
	// nothing there waits for a reader, a write(2) ends by itself.
	direct mode = iota
	// A pipe or a terminal: through a descriptor of our own, opened
	// non-blocking on the same pipe or terminal (/proc/self/fd/N: a new
	// open file description, so the flag is never forced on whoever
	// shares the original), each line waited for with poll(2).
	nonblocking
	// A socket: send(2) with MSG_DONTWAIT on the descriptor itself, the
	// flag a property of the call, not of the descriptor.
	socket
	// A pipe or a terminal we could not open again (not ours to open:
	// another user's pipe; no /proc; a FIFO with no reader): the write
	// blocks, so a goroutine of the Output makes it, and the caller waits
	// for it at most Stall.
	guarded
)

// Output writes lines, each in one write(2), to an output (stdout, stderr)
// that may stop being read or taking lines at all: a full pipe or a
// stopped terminal (^S) must not stop the program, a closed pipe kill it,
// nor a full disk end it. A line that cannot go, for whatever reason, is
// dropped and counted. Writes are system calls of its own, never
// os.File's: a write to a closed pipe on fd 1 or 2 through os.File
// raises SIGPIPE, which kills.
type Output struct {
	mu      sync.Mutex
	f       *os.File // the output as given: kept, so that its descriptor stays open
	fd      int      // where lines go
	mode    mode
	own     bool // fd was opened here: Close closes it
	stuck   bool // the last line was dropped for want of a reader
	dropped int
	failed  error // the last error that was not a reader missing: ENOSPC, EIO ...

	// guarded: the writer goroutine takes lines on lines and answers on
	// done; busy while a line it took has not been answered.
	lines chan []byte
	done  chan error
	busy  bool
}

// New returns an Output for f (os.Stdout, os.Stderr).
func New(f *os.File) *Output {
	o := &Output{f: f, fd: -1}
	// The descriptor through SyscallConn: f.Fd would switch a non-blocking
	// output to blocking mode, for every process that shares it.
	if rc, err := f.SyscallConn(); err == nil {
		_ = rc.Control(func(d uintptr) { o.fd = int(d) }) // fd stays -1 on error
	}
	var st unix.Stat_t
	if o.fd < 0 || unix.Fstat(o.fd, &st) != nil {
		return o // writes fail, counted, with the reason
	}
	if fl, err := unix.FcntlInt(uintptr(o.fd), unix.F_GETFL, 0); err != nil || fl&unix.O_ACCMODE == unix.O_RDONLY {
		return o // not open for writing: every write fails (EBADF), counted
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFSOCK:
		o.mode = socket
	case unix.S_IFIFO:
		o.reopen(&st)
	case unix.S_IFCHR:
		if _, err := unix.IoctlGetTermios(o.fd, unix.TCGETS); err != nil {
			break // no terminal: a device, written as it is
		}
		if _, err := unix.IoctlGetInt(o.fd, unix.TIOCGPTN); err == nil {
			// A pty's master: opened again it would be a new terminal,
			// not this one (same device, same inode: same cannot tell).
			o.guard()
			break
		}
		o.reopen(&st)
	}
	return o
}

// reopen opens o's pipe or terminal (st) again, non-blocking; where it
// cannot, lines go through a goroutine of o's own.
func (o *Output) reopen(st *unix.Stat_t) {
	// O_NOCTTY: opening a terminal must never make it the process's
	// controlling terminal.
	fd, err := unix.Open(fmt.Sprintf("/proc/self/fd/%d", o.fd), unix.O_WRONLY|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err == nil && same(fd, st) {
		o.fd, o.mode, o.own = fd, nonblocking, true
		return
	}
	if err == nil {
		unix.Close(fd)
	}
	o.guard()
}

// same says fd is the file st describes: /proc/self/fd/N opens the file
// the descriptor names, which may not be where its writes go.
func same(fd int, st *unix.Stat_t) bool {
	var now unix.Stat_t
	return unix.Fstat(fd, &now) == nil && now.Dev == st.Dev && now.Ino == st.Ino && now.Rdev == st.Rdev
}

// guard makes o write through a goroutine of its own.
func (o *Output) guard() {
	o.mode = guarded
	o.lines = make(chan []byte, 1)
	o.done = make(chan error, 1)
	go o.writer(o.fd)
}

// writer writes the lines it is given, each whole or until an error, and
// answers each; it may block for as long as the output is not read. A
// descriptor someone made non-blocking is waited on with poll(2): a slow
// reader must cost the line no more than a blocking write would.
func (o *Output) writer(fd int) {
	for line := range o.lines {
		o.done <- writeAll(fd, line, true)
	}
}

// writeAll writes b whole, with as many write(2) as it takes. On a
// descriptor someone made non-blocking, wait says whether to wait for
// room (poll) or to give up, EAGAIN.
func writeAll(fd int, b []byte, wait bool) error {
	for len(b) > 0 {
		n, err := unix.Write(fd, b)
		if n > 0 {
			b = b[n:]
		}
		switch {
		case err == unix.EAGAIN && wait:
			fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
			if _, err := unix.Poll(fds, -1); err != nil && err != unix.EINTR {
				return fmt.Errorf("poll: %w", err)
			}
		case err == unix.EINTR:
		case err != nil:
			return err
		case n == 0:
			return unix.EIO
		}
	}
	return nil
}

// Write writes one line. It never fails: a line that cannot be written,
// for want of a reader (a full or closed pipe, a stopped terminal) or for
// any other error (ENOSPC, EIO), is dropped, and Dropped counts it. A line
// that goes out is whole, but on a file that fails mid-write (a disk
// filling up), which may keep the part it took.
func (o *Output) Write(line []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	err := o.write(line)
	switch {
	case err == nil:
		o.stuck = false
	case errors.Is(err, errStalled), errors.Is(err, unix.EAGAIN), errors.Is(err, unix.EPIPE):
		o.stuck = true
		o.dropped++
	default:
		o.failed = err
		o.dropped++
	}
	return len(line), nil
}

func (o *Output) write(line []byte) error {
	switch o.mode {
	case nonblocking, socket:
		n, err := o.try(line)
		switch {
		case err == nil && n == len(line):
			return nil
		case err != nil && !errors.Is(err, unix.EAGAIN):
			return err
		case n == 0 && o.stuck:
			return errStalled // dropped at once until the reader catches up
		}
		return o.finish(line[n:], time.Now().Add(Stall))
	case guarded:
		return o.hand(line)
	}
	return writeAll(o.fd, line, false) // nothing there waits for a reader: never wait
}

// try writes b without waiting, as much of it as there is room for.
func (o *Output) try(b []byte) (int, error) {
	for {
		var n int
		var err error
		if o.mode == socket {
			// MSG_NOSIGNAL: a peer gone is EPIPE, never SIGPIPE.
			n, err = unix.SendmsgN(o.fd, b, nil, nil, unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL)
		} else {
			n, err = unix.Write(o.fd, b)
		}
		if n < 0 {
			n = 0
		}
		if err != unix.EINTR {
			return n, err
		}
	}
}

// finish writes the rest of a line as room comes, until deadline.
func (o *Output) finish(rest []byte, deadline time.Time) error {
	for len(rest) > 0 {
		wait := time.Until(deadline)
		if wait <= 0 {
			return errStalled
		}
		fds := []unix.PollFd{{Fd: int32(o.fd), Events: unix.POLLOUT}}
		ms := int(wait.Milliseconds()) + 1
		if _, err := unix.Poll(fds, ms); err != nil && err != unix.EINTR {
			return fmt.Errorf("poll: %w", err)
		}
		n, err := o.try(rest)
		if err != nil && !errors.Is(err, unix.EAGAIN) {
			return err
		}
		rest = rest[n:]
	}
	return nil
}

// hand gives a line to the writer goroutine and waits for it at most
// Stall; while a line it took is still not written, the next are dropped.
func (o *Output) hand(line []byte) error {
	if o.settle(); o.busy {
		return errStalled
	}
	o.lines <- append([]byte(nil), line...) // the caller may reuse line
	t := time.NewTimer(Stall)
	defer t.Stop()
	select {
	case err := <-o.done:
		return err
	case <-t.C:
		o.busy = true
		return errStalled
	}
}

// settle takes the writer goroutine's answer on a line that stalled, if
// it has come: a line that went at last is no longer counted dropped.
// Call it with o.mu held.
func (o *Output) settle() {
	if !o.busy {
		return
	}
	select {
	case err := <-o.done:
		o.busy = false
		switch {
		case err == nil:
			o.dropped-- // counted when it stalled
		case !errors.Is(err, unix.EPIPE):
			o.failed = err
		}
	default:
	}
}

// Dropped is the number of lines not written so far.
func (o *Output) Dropped() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.settle()
	return o.dropped
}

// Why says why lines were dropped, for a report: "stdout is not read",
// or the last error, "stdout: no space left on device".
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

// Close closes the descriptor the Output opened, if it opened one, and
// ends its writer goroutine unless a write holds it.
func (o *Output) Close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.settle()
	var err error
	switch {
	case o.own:
		err = unix.Close(o.fd)
	case o.mode == guarded && !o.busy:
		close(o.lines)
	}
	// A line after Close fails (EBADF), counted.
	o.fd, o.mode, o.own = -1, direct, false
	return err
}
