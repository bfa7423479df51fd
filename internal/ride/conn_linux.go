package ride

import (
	"fmt"
	"os"
	"time"

	"github.com/sigride/sigride/internal/supervise"
)

// ControlFD is where a role finds its control socket: the first fd after
// stdin, stdout and stderr, as the launcher passes it.
const ControlFD = 3

// Conn is one end of a ride's control socket: supervise's, carrying Msgs.
type Conn struct {
	c *supervise.Conn
}

// NewPair makes a control socketpair: the launcher's end, and the role's
// end to pass to the child as fd ControlFD (close it once the child runs).
func NewPair() (*Conn, *os.File, error) {
	c, child, err := supervise.NewPair()
	if err != nil {
		return nil, nil, err
	}
	return &Conn{c: c}, child, nil
}

// FromFD wraps an inherited control socket.
func FromFD(fd int) (*Conn, error) {
	c, err := supervise.FromFD(fd)
	if err != nil {
		return nil, fmt.Errorf("%w (start me through the launcher)", err)
	}
	return &Conn{c: c}, nil
}

// Send sends one message, with fds attached when given.
func (c *Conn) Send(m Msg, fds ...int) error {
	if err := c.c.Send(m.Marshal(), fds...); err != nil {
		return fmt.Errorf("send %s: %w", m.Kind, err)
	}
	return nil
}

// SendWithin is Send that waits at most d for room in the socket: see
// supervise.Conn.SendWithin.
func (c *Conn) SendWithin(d time.Duration, m Msg, fds ...int) error {
	if err := c.c.SendWithin(d, m.Marshal(), fds...); err != nil {
		return fmt.Errorf("send %s: %w", m.Kind, err)
	}
	return nil
}

// Recv receives one message and the fds attached to it (close-on-exec).
// It returns io.EOF when the other end has closed.
func (c *Conn) Recv() (Msg, []int, error) {
	buf := make([]byte, MaxMsg+1)
	n, fds, err := c.c.Recv(buf)
	if err != nil {
		return Msg{}, nil, err
	}
	m, err := ParseMsg(buf[:n])
	if err != nil {
		supervise.CloseFds(fds)
		return Msg{}, nil, err
	}
	return m, fds, nil
}

// Backstop: see supervise.Conn.Backstop. In a role, the launcher gone.
func (c *Conn) Backstop() <-chan struct{} { return c.c.Backstop() }

// Watch hands each message from the other end to deliver, in a goroutine,
// then the error that ended it (io.EOF: the other end closed): see
// supervise.Conn.Watch. A malformed message is delivered as its error.
func (c *Conn) Watch(deliver func(m Msg, err error)) {
	c.c.Watch(MaxMsg+1, func(b []byte, err error) {
		if err != nil {
			deliver(Msg{}, err)
			return
		}
		deliver(ParseMsg(b))
	})
}

// Close closes this end; the other end then reads EOF.
func (c *Conn) Close() error { return c.c.Close() }
