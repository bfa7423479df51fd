package tftp

import (
	"errors"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// tidConn is a transfer's socket: UDP, bound to the listener's address,
// connected to the client, in blocking mode. A transfer is lock-step (a
// block, then its ACK): a thread blocked in recv(2) is woken by the
// kernel directly, where Go's poller (park, epoll, wake) added about
// 30 us to every round trip, a fifth of a 64 KiB block's on loopback.
// It costs a thread per transfer under way.
type tidConn struct {
	fd       int
	timeout  time.Duration // SO_RCVTIMEO as set
	deadline time.Time
}

// dialTID opens a socket on laddr (port 0: any) connected to raddr.
func dialTID(laddr, raddr *net.UDPAddr) (*tidConn, error) {
	family, la, ra := unix.AF_INET, sockaddr(laddr), sockaddr(raddr)
	if laddr.IP.To4() == nil || raddr.IP.To4() == nil {
		family, la, ra = unix.AF_INET6, sockaddr6(laddr), sockaddr6(raddr)
	}
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	if err := unix.Bind(fd, la); err != nil {
		unix.Close(fd)
		return nil, os.NewSyscallError("bind", err)
	}
	if err := unix.Connect(fd, ra); err != nil {
		unix.Close(fd)
		return nil, os.NewSyscallError("connect", err)
	}
	return &tidConn{fd: fd}, nil
}

func sockaddr(a *net.UDPAddr) unix.Sockaddr {
	sa := &unix.SockaddrInet4{Port: a.Port}
	copy(sa.Addr[:], a.IP.To4())
	if a.IP == nil {
		sa.Addr = [4]byte{}
	}
	return sa
}

func sockaddr6(a *net.UDPAddr) unix.Sockaddr {
	sa := &unix.SockaddrInet6{Port: a.Port}
	copy(sa.Addr[:], a.IP.To16())
	if a.Zone != "" {
		if ifi, err := net.InterfaceByName(a.Zone); err == nil {
			sa.ZoneId = uint32(ifi.Index)
		}
	}
	return sa
}

// LocalPort is the transfer's port, its TID.
func (c *tidConn) LocalPort() int {
	sa, err := unix.Getsockname(c.fd)
	if err != nil {
		return 0
	}
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return sa.Port
	case *unix.SockaddrInet6:
		return sa.Port
	}
	return 0
}

// SetReadDeadline sets when Read gives up. recv waits at most the time
// left when the deadline was set (SO_RCVTIMEO, changed only when that
// differs): a packet arriving before the deadline but not the one wanted
// can make the whole wait up to twice as long, never unbounded.
func (c *tidConn) SetReadDeadline(t time.Time) error {
	c.deadline = t
	left := max(time.Until(t), time.Millisecond)
	if left.Round(10*time.Millisecond) == c.timeout.Round(10*time.Millisecond) {
		return nil
	}
	c.timeout = left
	tv := unix.NsecToTimeval(left.Nanoseconds())
	return unix.SetsockoptTimeval(c.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
}

func (c *tidConn) Read(b []byte) (int, error) {
	if !c.deadline.IsZero() && !time.Now().Before(c.deadline) {
		return 0, os.ErrDeadlineExceeded
	}
	for {
		n, err := unix.Read(c.fd, b)
		switch {
		case err == nil:
			return n, nil
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			return 0, os.ErrDeadlineExceeded
		case err == unix.EBADF:
			return 0, net.ErrClosed
		}
		return 0, os.NewSyscallError("recv", err)
	}
}

func (c *tidConn) Write(b []byte) (int, error) {
	for {
		n, err := unix.Write(c.fd, b)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return 0, os.NewSyscallError("send", err)
		}
		return n, nil
	}
}

func (c *tidConn) Close() error { return unix.Close(c.fd) }

// isRefused tells an ICMP port unreachable reported on the socket.
func isRefused(err error) bool { return errors.Is(err, unix.ECONNREFUSED) }

// receiveBuffer is the receive buffer a window is sized for: this host's
// net.core.rmem_default, but no more than Linux's default, which a client
// elsewhere most likely keeps.
var receiveBuffer = sync.OnceValue(func() int {
	b, err := os.ReadFile("/proc/sys/net/core/rmem_default")
	if err != nil {
		return DefaultReceiveBuffer
	}
	v, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || v <= 0 {
		return DefaultReceiveBuffer
	}
	return min(v, DefaultReceiveBuffer)
})
