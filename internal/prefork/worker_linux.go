package prefork

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"github.com/sigride/sigride/internal/supervise"
)

// The control socket's messages.
const (
	// readyMsg: a worker (or a successor master) accepts.
	readyMsg = "ready"
	// beatMsg: a ready worker is still alive, every heartbeatEvery of the
	// master's WorkerTimeout, a few per timeout so one late beat is no death.
	beatMsg = "beat"
	// maxMsg bounds a control message from a worker.
	maxMsg = 64
	// maxSettings bounds the master's first message to a worker, its
	// settings (a SOCK_SEQPACKET message is never split).
	maxSettings = 64 << 10
)

// settings is the master's first message to a worker, in JSON: how often
// to beat, and the worker's own configuration (Config.Settings). It is in
// the socket before the worker starts, so Join finds it at once. The
// configuration crosses exec whole, as the master has it: no flag is
// formatted back into argv and parsed again, so none can be forgotten on
// one side.
type settings struct {
	Heartbeat time.Duration   `json:"heartbeat"` // zero: none
	Worker    json.RawMessage `json:"worker,omitempty"`
}

// heartbeatEvery is how often a worker beats for a WorkerTimeout; zero:
// no heartbeat.
func heartbeatEvery(timeout time.Duration) time.Duration { return timeout / 4 }

// Worker is a worker's side of the pool.
type Worker struct {
	Listener net.Listener
	control  *supervise.Conn
	every    time.Duration // heartbeat period; zero: none
	gone     <-chan struct{}
	done     chan struct{} // closed by Close: the heartbeat ends
	closed   sync.Once
}

// Join takes the inherited listener and control socket, and the master's
// settings waiting on it; the worker's configuration (Config.Settings) is
// decoded into config, if not nil.
func Join(config any) (*Worker, error) {
	control, err := supervise.FromFD(inheritedFD(ControlName))
	if err != nil {
		return nil, fmt.Errorf("%w (workers are started by the master)", err)
	}
	buf := make([]byte, maxSettings)
	n, fds, err := control.Recv(buf)
	supervise.CloseFds(fds)
	var set settings
	if err == nil {
		err = json.Unmarshal(buf[:n], &set)
	}
	if err == nil && config != nil && len(set.Worker) > 0 {
		err = json.Unmarshal(set.Worker, config)
	}
	if err != nil {
		control.Close()
		return nil, fmt.Errorf("settings from the master: %w", err)
	}
	every := set.Heartbeat
	f := File(ListenerName)
	if f == nil {
		control.Close()
		return nil, fmt.Errorf("no %s inherited (%s=%q)", ListenerName, FilesEnv, os.Getenv(FilesEnv))
	}
	ln, err := net.FileListener(f)
	f.Close() // FileListener dup'ed it
	if err != nil {
		control.Close()
		return nil, fmt.Errorf("inherited listener: %w", err)
	}
	return &Worker{Listener: ln, control: control, every: every, done: make(chan struct{})}, nil
}

// Ready tells the master this worker accepts, starts watching for the
// master's end to close (Gone is closed then), and starts the heartbeat:
// every period, alive (nil: always) is asked whether the worker can still
// serve, and only then is a beat sent. A worker stopped (SIGSTOP) or wedged
// sends none, and the master kills it after its WorkerTimeout.
func (w *Worker) Ready(alive func() bool) error {
	if err := w.control.Send([]byte(readyMsg)); err != nil {
		return fmt.Errorf("tell the master ready: %w", err)
	}
	w.gone = w.control.Backstop()
	if w.every > 0 {
		go w.heartbeat(alive)
	}
	return nil
}

func (w *Worker) heartbeat(alive func() bool) {
	t := time.NewTicker(w.every)
	defer t.Stop()
	for {
		select {
		case <-w.done:
			return
		case <-t.C:
			if alive == nil || alive() {
				// An error is the master gone: Gone tells the worker.
				_ = w.control.Send([]byte(beatMsg))
			}
		}
	}
}

// Gone is closed when the master has gone away; nil before Ready.
func (w *Worker) Gone() <-chan struct{} { return w.gone }

// Close ends the heartbeat and releases the listener and the control
// socket.
func (w *Worker) Close() error {
	w.closed.Do(func() { close(w.done) })
	w.Listener.Close()
	return w.control.Close()
}

// UpgradeEnv marks a master started by its predecessor on SIGUSR2: it
// inherits the listening socket, a control socket to the predecessor and
// Config.Extra, named by FilesEnv as a worker's are.
const UpgradeEnv = "SIGRIDE_UPGRADE"

// Successor is a new master's side of an upgrade.
type Successor struct {
	Listener *os.File // the predecessor's listening socket
	control  *supervise.Conn
}

// TakeOver returns the inherited socket and control channel when this
// master was started by a predecessor, and nil when it was not; its extra
// files are File's. It clears UpgradeEnv, so this master's own children
// do not see it.
func TakeOver() (*Successor, error) {
	if os.Getenv(UpgradeEnv) == "" {
		return nil, nil
	}
	os.Unsetenv(UpgradeEnv)
	control, err := supervise.FromFD(inheritedFD(ControlName))
	if err != nil {
		return nil, fmt.Errorf("upgrade: %w", err)
	}
	ln := File(ListenerName)
	if ln == nil {
		control.Close()
		return nil, fmt.Errorf("upgrade: no %s inherited", ListenerName)
	}
	return &Successor{Listener: ln, control: control}, nil
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
