package peerio

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// pipeSize is the capacity asked of the pipe an upload is spliced
// through, as Go's own splice asks: one splice can carry 1 MiB. The kernel
// may grant less (fs.pipe-max-size, pipe-user-pages-soft); what it grants
// is used.
const pipeSize = 1 << 20

// maxSendfile bounds one sendfile(2)'s count below the kernel's own cap
// (0x7ffff000); a non-blocking call moves only what the socket takes.
const maxSendfile = 1 << 30

// maxIovec is IOV_MAX: writev(2) refuses more buffers in one call.
const maxIovec = 1024

// SilenceError is a peer that let Idle pass without a byte moving.
type SilenceError struct {
	Op   string // "read" or "write"
	Idle time.Duration
}

func (e *SilenceError) Error() string { return fmt.Sprintf("no byte moved for %v", e.Idle) }

// Unwrap makes a silence a deadline exceeded, as a net.Conn's timeout is.
func (e *SilenceError) Unwrap() error { return os.ErrDeadlineExceeded }

// Conn is a TCP connection whose reads and writes wait on the peer at
// most Idle after the last byte moved. One goroutine at a time uses it;
// it keeps no lock.
type Conn struct {
	nc      net.Conn
	rc      syscall.RawConn
	idle    time.Duration
	fixed   bool          // reads keep the caller's deadline
	silence *SilenceError // the first silence, for the caller to report
	reset   bool          // a write silence: Close resets
}

// New wraps nc, which must be a socket (a *net.TCPConn), with a progress
// deadline of idle.
func New(nc net.Conn, idle time.Duration) (*Conn, error) {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return nil, fmt.Errorf("peerio: a %T has no descriptor", nc)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("peerio: %w", err)
	}
	return &Conn{nc: nc, rc: rc, idle: idle}, nil
}

// RemoteAddr is the peer's address.
func (c *Conn) RemoteAddr() net.Addr { return c.nc.RemoteAddr() }

// Silence is the first silence an operation failed with, or nil.
func (c *Conn) Silence() *SilenceError { return c.silence }

// Close closes the connection. After a write silence it resets it
// (SO_LINGER 0): the peer reads nothing, and the kernel would otherwise
// keep the unsent bytes, and retry them, long after the descriptor is gone.
func (c *Conn) Close() error {
	if tc, ok := c.nc.(*net.TCPConn); ok && c.reset {
		tc.SetLinger(0)
	}
	return c.nc.Close()
}

// SetReadDeadline fixes the deadline of the reads that follow, in place of
// the progress deadline, until it is called with the zero time. A deadline
// set on the net.Conn meanwhile (to wake the reader) then holds too.
func (c *Conn) SetReadDeadline(t time.Time) error {
	c.fixed = !t.IsZero()
	return c.nc.SetReadDeadline(t)
}

// Read reads what the peer has sent, waiting at most Idle for a byte (or
// until the fixed deadline, if one is set).
func (c *Conn) Read(b []byte) (int, error) {
	if c.fixed {
		return c.nc.Read(b)
	}
	if len(b) == 0 {
		return 0, nil
	}
	n := 0
	err := c.await(false, func(fd int) (int, bool, error) {
		m, err := unix.Read(fd, b)
		if err != nil {
			return 0, false, err
		}
		n = m
		return m, true, nil
	})
	if err == nil && n == 0 {
		return 0, io.EOF
	}
	return n, err
}

// Write writes all of b: see Writev.
func (c *Conn) Write(b []byte) (int, error) {
	n, err := c.Writev([][]byte{b})
	return int(n), err
}

// Writev writes all of bufs, in order, by writev(2); every partial write
// renews the deadline. bufs itself is left as it was.
func (c *Conn) Writev(bufs [][]byte) (int64, error) {
	var left, total int64
	for _, b := range bufs {
		left += int64(len(b))
	}
	if left == 0 {
		return 0, nil
	}
	bufs = append([][]byte(nil), bufs...) // consumed below
	err := c.await(true, func(fd int) (int, bool, error) {
		n, err := unix.Writev(fd, bufs[:min(len(bufs), maxIovec)])
		switch {
		case err != nil:
			return 0, false, err
		case n == 0:
			return 0, false, io.ErrShortWrite
		}
		total += int64(n)
		left -= int64(n)
		for m := n; m > 0 || (len(bufs) > 0 && len(bufs[0]) == 0); {
			k := min(m, len(bufs[0]))
			bufs[0] = bufs[0][k:]
			m -= k
			if len(bufs[0]) == 0 {
				bufs = bufs[1:]
			}
		}
		return n, left == 0, nil
	})
	return total, err
}

// SendFile sends n bytes of f from offset off by sendfile(2), in as many
// calls as the socket needs, each under the progress deadline. f's own
// offset is neither used nor moved.
func (c *Conn) SendFile(f *os.File, off, n int64) (int64, error) {
	if n <= 0 {
		return 0, nil
	}
	frc, err := f.SyscallConn()
	if err != nil {
		return 0, fmt.Errorf("sendfile %s: %w", f.Name(), err)
	}
	var sent int64
	var serr error
	err = frc.Control(func(ffd uintptr) {
		serr = c.await(true, func(fd int) (int, bool, error) {
			m, err := unix.Sendfile(fd, int(ffd), &off, int(min(n-sent, maxSendfile)))
			switch {
			case err != nil:
				return 0, false, err
			case m == 0: // the file is shorter than it was
				return 0, false, fmt.Errorf("sendfile %s at %d: %w", f.Name(), off, io.ErrUnexpectedEOF)
			}
			sent += int64(m)
			return m, sent == n, nil
		})
	})
	if err != nil {
		return sent, fmt.Errorf("sendfile %s: %w", f.Name(), err)
	}
	return sent, serr
}

// ReceiveFile moves n bytes from the peer into f at f's offset, which it
// advances: splice(2) from the socket into a pipe, under the progress
// deadline, then from the pipe into f. It returns how many bytes it took
// from the peer: all of them are in f unless the error is f's (what was
// still in the pipe then is lost, but counted, so that a caller can
// tell how much of the peer's stream is left). A peer that closes early
// is io.ErrUnexpectedEOF; an error writing f is returned wrapped, so that
// errors.Is still tells ENOSPC.
func (c *Conn) ReceiveFile(f *os.File, n int64) (int64, error) {
	if n <= 0 {
		return 0, nil
	}
	frc, err := f.SyscallConn()
	if err != nil {
		return 0, fmt.Errorf("splice into %s: %w", f.Name(), err)
	}
	// The pipe blocks: the socket side of a splice is made non-blocking by
	// SPLICE_F_NONBLOCK and the socket's own O_NONBLOCK, and the file side
	// only ever reads what the pipe already holds.
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		return 0, fmt.Errorf("pipe: %w", err)
	}
	defer unix.Close(p[0])
	defer unix.Close(p[1])
	size, err := unix.FcntlInt(uintptr(p[1]), unix.F_SETPIPE_SZ, pipeSize)
	if err != nil {
		if size, err = unix.FcntlInt(uintptr(p[1]), unix.F_GETPIPE_SZ, 0); err != nil {
			return 0, fmt.Errorf("pipe size: %w", err)
		}
	}
	var taken int64
	var rerr error
	err = frc.Control(func(ffd uintptr) {
		for taken < n && rerr == nil {
			inPipe := 0
			rerr = c.await(false, func(fd int) (int, bool, error) {
				m, err := unix.Splice(fd, nil, p[1], nil, int(min(n-taken, int64(size))), unix.SPLICE_F_MOVE|unix.SPLICE_F_NONBLOCK)
				switch {
				case err != nil:
					return 0, false, err
				case m == 0: // the peer closed
					return 0, false, io.ErrUnexpectedEOF
				}
				inPipe = int(m)
				taken += m
				return inPipe, true, nil
			})
			for rerr == nil && inPipe > 0 {
				m, err := unix.Splice(p[0], nil, int(ffd), nil, inPipe, unix.SPLICE_F_MOVE)
				switch {
				case errors.Is(err, unix.EINTR):
					continue
				case err != nil:
					rerr = fmt.Errorf("write %s: %w", f.Name(), err)
				case m == 0:
					rerr = fmt.Errorf("write %s: %w", f.Name(), io.ErrShortWrite)
				default:
					inPipe -= int(m)
				}
			}
		}
	})
	if err != nil {
		return taken, fmt.Errorf("splice into %s: %w", f.Name(), err)
	}
	return taken, rerr
}

// await calls move on the socket's descriptor until it reports done. Each
// time the socket is not ready (EAGAIN) it waits for it, with the deadline
// armed at Idle after the last byte moved (or the start of await, if none
// has yet), and disarmed once done. move returns the bytes it moved,
// whether it is done, and its error.
func (c *Conn) await(write bool, move func(fd int) (int, bool, error)) error {
	op, run, setDeadline := "read", c.rc.Read, c.nc.SetReadDeadline
	if write {
		op, run, setDeadline = "write", c.rc.Write, c.nc.SetWriteDeadline
	}
	last := time.Now()
	moved, armed := false, false
	var merr error
	err := run(func(fd uintptr) bool {
		for {
			n, done, err := move(int(fd))
			if n > 0 {
				moved = true
			}
			switch {
			case errors.Is(err, unix.EINTR):
			case errors.Is(err, unix.EAGAIN):
				if moved || !armed {
					if moved {
						last = time.Now() // the bytes just moved
					}
					setDeadline(last.Add(c.idle))
					moved, armed = false, true
				}
				return false // wait for the socket, or the deadline
			case err != nil:
				merr = fmt.Errorf("%s: %w", op, err)
				return true
			case done:
				return true
			}
		}
	})
	if armed {
		setDeadline(time.Time{})
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		s := &SilenceError{Op: op, Idle: c.idle}
		if c.silence == nil {
			c.silence = s
		}
		c.reset = c.reset || write
		return s
	}
	if err != nil {
		return err
	}
	return merr
}
