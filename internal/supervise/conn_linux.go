package supervise

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// Conn is one end of a control socket between a supervisor and a child: an
// AF_UNIX SOCK_SEQPACKET socketpair, so every message is one packet, never
// split or merged, and file descriptors can travel with it (SCM_RIGHTS).
// The child's end reaching EOF means the supervisor is gone: the backstop
// to the parent-death signal.
type Conn struct {
	f *os.File
}

// NewPair makes a control socketpair: the supervisor's end, and the child's
// end to pass in Spec.Files (close it once the child has started). Both
// are close-on-exec in this process, so no other child inherits them.
func NewPair() (*Conn, *os.File, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("control socketpair: %w", err)
	}
	// The supervisor's end is non-blocking, so its reads go through Go's
	// poller and Close interrupts them; the child's end is made so by FromFD.
	if err := unix.SetNonblock(fds[0], true); err != nil {
		unix.Close(fds[0])
		unix.Close(fds[1])
		return nil, nil, fmt.Errorf("control socketpair: %w", err)
	}
	return &Conn{f: os.NewFile(uintptr(fds[0]), "control")}, os.NewFile(uintptr(fds[1]), "control-child"), nil
}

// FromFD wraps an inherited control socket in a child, checking that it is
// one, and makes it close-on-exec.
func FromFD(fd int) (*Conn, error) {
	typ, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
	if err != nil || typ != unix.SOCK_SEQPACKET {
		return nil, fmt.Errorf("no control socket on fd %d", fd)
	}
	unix.CloseOnExec(fd)
	if err := unix.SetNonblock(fd, true); err != nil {
		return nil, fmt.Errorf("control socket on fd %d: %w", fd, err)
	}
	return &Conn{f: os.NewFile(uintptr(fd), "control")}, nil
}

// Send sends one packet, with fds attached when given.
func (c *Conn) Send(msg []byte, fds ...int) error { return c.send(msg, fds, true) }

// SendWithin is Send that waits at most d for room in the socket, and
// reports an error wrapping os.ErrDeadlineExceeded if none came. A packet
// there is room for costs one sendmsg(2), no deadline set.
func (c *Conn) SendWithin(d time.Duration, msg []byte, fds ...int) error {
	if err := c.send(msg, fds, false); !errors.Is(err, unix.EAGAIN) {
		return err
	}
	if d <= 0 {
		return fmt.Errorf("send: %w", os.ErrDeadlineExceeded) // no room, and no wait asked
	}
	if err := c.f.SetWriteDeadline(time.Now().Add(d)); err != nil {
		return err
	}
	defer c.f.SetWriteDeadline(time.Time{})
	return c.send(msg, fds, true)
}

// send sends one packet; on a full socket it waits for room (the socket
// is non-blocking: the poller waits, up to a deadline if one is set), or
// returns EAGAIN when wait is false.
func (c *Conn) send(msg []byte, fds []int, wait bool) error {
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	raw, err := c.f.SyscallConn()
	if err != nil {
		return err
	}
	flags := 0
	if !wait {
		flags = unix.MSG_DONTWAIT // a try, whatever mode the socket is in
	}
	var serr error
	if err := raw.Write(func(fd uintptr) bool {
		serr = unix.Sendmsg(int(fd), msg, oob, nil, flags)
		return !wait || !errors.Is(serr, unix.EAGAIN)
	}); err != nil {
		return err
	}
	return serr
}

// Recv receives one packet into buf (a longer one is cut, and reported as
// such) and the fds attached to it, close-on-exec. It returns io.EOF when
// the other end has closed.
func (c *Conn) Recv(buf []byte) (int, []int, error) {
	oob := make([]byte, unix.CmsgSpace(4*4))
	raw, err := c.f.SyscallConn()
	if err != nil {
		return 0, nil, err
	}
	var n, oobn, flags int
	var rerr error
	err = raw.Read(func(fd uintptr) bool {
		n, oobn, flags, _, rerr = unix.Recvmsg(int(fd), buf, oob, unix.MSG_CMSG_CLOEXEC)
		return !errors.Is(rerr, unix.EAGAIN)
	})
	if err == nil {
		err = rerr
	}
	if err != nil {
		return 0, nil, err
	}
	fds, err := parseRights(oob[:oobn])
	switch {
	case err != nil:
		return 0, nil, err
	case n == 0 && len(fds) == 0:
		return 0, nil, io.EOF
	case flags&unix.MSG_TRUNC != 0:
		CloseFds(fds)
		return 0, nil, fmt.Errorf("%w: longer than %d bytes", errTruncated, len(buf))
	}
	return n, fds, nil
}

func parseRights(oob []byte) ([]int, error) {
	if len(oob) == 0 {
		return nil, nil
	}
	cmsgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, fmt.Errorf("control message: %w", err)
	}
	var fds []int
	for _, cm := range cmsgs {
		got, err := unix.ParseUnixRights(&cm)
		if err != nil {
			CloseFds(fds)
			return nil, fmt.Errorf("control message: %w", err)
		}
		fds = append(fds, got...)
	}
	return fds, nil
}

// CloseFds closes fds received and not wanted.
func CloseFds(fds []int) {
	for _, fd := range fds {
		_ = unix.Close(fd)
	}
}

// Backstop reads, in a goroutine, what the other end sends until it closes,
// dropping it, and closes the returned channel then: in a child, the
// supervisor is gone, however it went. Call it once the handshake is done,
// and read nothing else from c after.
func (c *Conn) Backstop() <-chan struct{} {
	gone := make(chan struct{})
	go func() {
		defer close(gone)
		buf := make([]byte, 64)
		for {
			_, fds, err := c.Recv(buf)
			CloseFds(fds)
			if err != nil && !isTruncated(err) {
				return // io.EOF, or an error as final
			}
		}
	}()
	return gone
}

// Watch reads, in a goroutine, each packet from the other end (at most max
// bytes) and hands it to deliver, fds closed; then the error that ended it
// (io.EOF: the other end closed). A supervisor watches each child's end
// this way and turns what deliver gets into events of its loop.
func (c *Conn) Watch(max int, deliver func(msg []byte, err error)) {
	go func() {
		buf := make([]byte, max)
		for {
			n, fds, err := c.Recv(buf)
			CloseFds(fds)
			if err != nil && !isTruncated(err) {
				deliver(nil, err)
				return
			}
			if err == nil {
				deliver(append([]byte(nil), buf[:n]...), nil)
			}
		}
	}()
}

// errTruncated is a packet longer than the buffer: dropped, not final.
var errTruncated = errors.New("control message truncated")

func isTruncated(err error) bool { return errors.Is(err, errTruncated) }

// Close closes this end; the other end then reads EOF.
func (c *Conn) Close() error { return c.f.Close() }
