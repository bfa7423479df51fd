package ride

import (
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// ControlFD is where a role finds its control socket: the first fd after
// stdin, stdout and stderr, as the launcher passes it.
const ControlFD = 3

// Conn is one end of a control socket.
type Conn struct {
	f *os.File
}

// NewPair makes a control socketpair: the launcher's end, and the role's end
// to pass to the child as fd ControlFD (the caller closes its copy once the
// child has started). Both are close-on-exec in this process.
func NewPair() (*Conn, *os.File, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("control socketpair: %w", err)
	}
	// The launcher's end is non-blocking, so its reads go through Go's poller
	// and Close interrupts them; the child's end is made so by FromFD.
	if err := unix.SetNonblock(fds[0], true); err != nil {
		unix.Close(fds[0])
		unix.Close(fds[1])
		return nil, nil, fmt.Errorf("control socketpair: %w", err)
	}
	return &Conn{f: os.NewFile(uintptr(fds[0]), "control")}, os.NewFile(uintptr(fds[1]), "control-child"), nil
}

// FromFD wraps an inherited control socket, checking that it is one.
func FromFD(fd int) (*Conn, error) {
	typ, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
	if err != nil || typ != unix.SOCK_SEQPACKET {
		return nil, fmt.Errorf("no control socket on fd %d (start me through the launcher)", fd)
	}
	unix.CloseOnExec(fd)
	if err := unix.SetNonblock(fd, true); err != nil {
		return nil, fmt.Errorf("control socket on fd %d: %w", fd, err)
	}
	return &Conn{f: os.NewFile(uintptr(fd), "control")}, nil
}

// Send sends one message, with fds attached when given.
func (c *Conn) Send(m Msg, fds ...int) error {
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	raw, err := c.f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	werr := raw.Write(func(fd uintptr) bool {
		serr = unix.Sendmsg(int(fd), m.Marshal(), oob, nil, 0)
		return !errors.Is(serr, unix.EAGAIN)
	})
	if werr != nil {
		return fmt.Errorf("send %s: %w", m.Kind, werr)
	}
	if serr != nil {
		return fmt.Errorf("send %s: %w", m.Kind, serr)
	}
	return nil
}

// Recv receives one message and the fds attached to it (close-on-exec).
// It returns io.EOF when the other end has closed.
func (c *Conn) Recv() (Msg, []int, error) {
	buf := make([]byte, MaxMsg+1)
	oob := make([]byte, unix.CmsgSpace(4*4))
	raw, err := c.f.SyscallConn()
	if err != nil {
		return Msg{}, nil, err
	}
	var n, oobn int
	var rerr error
	err = raw.Read(func(fd uintptr) bool {
		n, oobn, _, _, rerr = unix.Recvmsg(int(fd), buf, oob, unix.MSG_CMSG_CLOEXEC)
		return !errors.Is(rerr, unix.EAGAIN)
	})
	if err == nil {
		err = rerr
	}
	if err != nil {
		return Msg{}, nil, fmt.Errorf("receive: %w", err)
	}
	fds, err := parseRights(oob[:oobn])
	if err != nil {
		return Msg{}, nil, err
	}
	if n == 0 && len(fds) == 0 {
		return Msg{}, nil, io.EOF
	}
	m, err := ParseMsg(buf[:n])
	if err != nil {
		closeAll(fds)
		return Msg{}, nil, err
	}
	return m, fds, nil
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
			closeAll(fds)
			return nil, fmt.Errorf("control message: %w", err)
		}
		fds = append(fds, got...)
	}
	return fds, nil
}

func closeAll(fds []int) {
	for _, fd := range fds {
		_ = unix.Close(fd)
	}
}

// Close closes this end; the other end then reads EOF.
func (c *Conn) Close() error { return c.f.Close() }
