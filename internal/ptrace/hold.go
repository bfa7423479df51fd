package ptrace

import (
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// Shell is the shell a held program starts in: POSIX, on every Linux.
const Shell = "/bin/sh"

// HoldArgs is the argv (for Shell) of cmd started held on fd, one end of
// a Hold: the shell says a line there once it runs (its own exec done),
// reads a line back, then execs cmd with fd closed, keeping its pid. If
// fd reaches EOF instead (the supervisor gone), it exits 127 and cmd
// never runs.
func HoldArgs(fd int, cmd []string) []string {
	script := fmt.Sprintf(`echo >&%d && read -r _ <&%d || exit 127; exec "$@" %d<&-`, fd, fd, fd)
	return append([]string{Shell, "-c", script, "sigride-held"}, cmd...)
}

// Hold is the socket a program is held on: Child is the end to pass it
// (as the fd of HoldArgs). Once Held returns, the shell runs, past its
// own exec: seize it then, and the first exec the Tracer sees is the
// program's. Release lets it go.
type Hold struct {
	mine, theirs *os.File
}

// NewHold makes a Hold. Both ends block, which a Go pipe's do not (Go
// makes them non-blocking for its poller, and the flag is the file's: the
// shell's read would fail at once, EAGAIN).
func NewHold() (*Hold, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("hold: %w", err)
	}
	return &Hold{mine: os.NewFile(uintptr(fds[0]), "hold"), theirs: os.NewFile(uintptr(fds[1]), "held")}, nil
}

// Child is the end the held shell gets. Close it once the shell is
// started.
func (h *Hold) Child() *os.File { return h.theirs }

// Held waits at most timeout for the shell's line.
func (h *Hold) Held(timeout time.Duration) error {
	fd := int(h.mine.Fd())
	deadline := time.Now().Add(timeout)
	for {
		wait := time.Until(deadline)
		if wait <= 0 {
			return errors.New("hold: the shell did not start in time")
		}
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, int(wait.Milliseconds())+1)
		if err == unix.EINTR || n == 0 {
			continue
		}
		if err != nil {
			return fmt.Errorf("hold: %w", err)
		}
		var b [1]byte
		switch n, err := unix.Read(fd, b[:]); {
		case err == unix.EINTR:
			continue
		case err != nil:
			return fmt.Errorf("hold: %w", err)
		case n == 0:
			return errors.New("hold: the shell ended before it was held")
		}
		return nil
	}
}

// Release lets the program go, and closes the Hold.
func (h *Hold) Release() error {
	_, err := h.mine.Write([]byte("\n"))
	h.Close()
	if err != nil {
		return fmt.Errorf("hold: release: %w", err)
	}
	return nil
}

// Close closes both ends: a shell still held exits 127.
func (h *Hold) Close() {
	_ = h.mine.Close()   // a socket's close cannot fail in a way worth saying
	_ = h.theirs.Close() // closed already once the shell was started: EBADF-free, os.File guards it
}
