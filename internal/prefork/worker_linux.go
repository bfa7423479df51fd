package prefork

import (
	"fmt"
	"net"
	"os"

	"github.com/sigride/sigride/internal/supervise"
)

// The fds a worker inherits, after stdin, stdout and stderr.
const (
	ListenerFD = 3 // the shared listening socket
	ControlFD  = 4 // the control socket to the master
	ExtraFD    = 5 // the first of Config.Extra
)

// Extra returns the i-th of the extra sockets a worker or a successor
// master inherited (Config.Extra); the caller knows how many there are.
func Extra(i int) *os.File { return os.NewFile(uintptr(ExtraFD+i), fmt.Sprintf("extra %d", i)) }

// readyMsg is what a worker says once it accepts.
const readyMsg = "ready"

// Worker is a worker's side of the pool.
type Worker struct {
	Listener net.Listener
	control  *supervise.Conn
	gone     chan struct{}
}

// Join takes the inherited listener and control socket.
func Join() (*Worker, error) {
	control, err := supervise.FromFD(ControlFD)
	if err != nil {
		return nil, fmt.Errorf("%w (workers are started by the master)", err)
	}
	f := os.NewFile(ListenerFD, "listener")
	ln, err := net.FileListener(f)
	f.Close() // FileListener dup'ed it
	if err != nil {
		control.Close()
		return nil, fmt.Errorf("inherited listener: %w", err)
	}
	return &Worker{Listener: ln, control: control, gone: make(chan struct{})}, nil
}

// Ready tells the master this worker accepts, and starts watching for the
// master's end to close: Gone is closed then.
func (w *Worker) Ready() error {
	if err := w.control.Send([]byte(readyMsg)); err != nil {
		return fmt.Errorf("tell the master ready: %w", err)
	}
	go func() {
		defer close(w.gone)
		buf := make([]byte, 64)
		for {
			if _, fds, err := w.control.Recv(buf); err != nil {
				return // io.EOF: the master is gone
			} else {
				supervise.CloseFds(fds)
			}
		}
	}()
	return nil
}

// Gone is closed when the master has gone away.
func (w *Worker) Gone() <-chan struct{} { return w.gone }

// Close releases the listener and the control socket.
func (w *Worker) Close() error {
	w.Listener.Close()
	return w.control.Close()
}

// UpgradeEnv marks a master started by its predecessor on SIGUSR2: it
// inherits the listening socket at ListenerFD and a control socket to the
// predecessor at ControlFD.
const UpgradeEnv = "SIGRIDE_UPGRADE"

// Successor is a new master's side of an upgrade.
type Successor struct {
	Listener *os.File // the predecessor's listening socket
	control  *supervise.Conn
}

// TakeOver returns the inherited socket and control channel when this
// master was started by a predecessor, and nil when it was not. It clears
// UpgradeEnv, so this master's own children do not see it.
func TakeOver() (*Successor, error) {
	if os.Getenv(UpgradeEnv) == "" {
		return nil, nil
	}
	os.Unsetenv(UpgradeEnv)
	control, err := supervise.FromFD(ControlFD)
	if err != nil {
		return nil, fmt.Errorf("upgrade: %w", err)
	}
	return &Successor{Listener: os.NewFile(ListenerFD, "listener"), control: control}, nil
}

// Serving tells the predecessor that this master's workers accept: it then
// drains and exits.
func (s *Successor) Serving() error {
	defer s.control.Close()
	if err := s.control.Send([]byte(readyMsg)); err != nil {
		return fmt.Errorf("tell the old master: %w", err)
	}
	return nil
}
