package supervise

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/sigride/sigride/internal/vocab"
)

// Spec describes a child to start.
type Spec struct {
	Name  string     // how reports name it, e.g. "driver" or "worker 3"
	Path  string     // the executable
	Args  []string   // argv, argv[0] included
	Env   []string   // nil: the supervisor's environment
	Files []*os.File // become fds 0, 1, 2, 3, ... in the child; nil entries are closed
	// Dir is the working directory; empty: the supervisor's.
	Dir string
	// Outlive lets the child live on when the supervisor dies: no
	// parent-death signal. For a successor (a new master taking over), not
	// for workers.
	Outlive bool
	// Blocked are signals the child starts with blocked, from its first
	// instruction: one that arrives stays pending until the child takes
	// it (sigtimedwait), never its default action. A Go child keeps them
	// blocked in every thread it makes (the runtime starts each from the
	// mask the process started with), but for those its runtime will not
	// let be blocked (SIGINT, SIGQUIT, SIGTERM, SIGHUP ...: see
	// runtime.blockableSig).
	Blocked []syscall.Signal
}

// Child is a started process, held by pid and by pidfd until it is reaped.
type Child struct {
	Name  string
	Pid   int
	pidfd int
}

// Pidfd returns the child's pidfd. It stays valid until the child is reaped
// through a Group or Close is called.
func (c *Child) Pidfd() int { return c.pidfd }

// Signal sends sig to the child through its pidfd.
func (c *Child) Signal(sig syscall.Signal) error {
	if err := unix.PidfdSendSignal(c.pidfd, sig, nil, 0); err != nil {
		return fmt.Errorf("signal %s[%d] SIG%s: %w", c.Name, c.Pid, vocab.SignalName(sig), err)
	}
	return nil
}

// FromPidfd holds a process this one did not start (a peer whose pidfd
// was passed to it) as a Child: Signal, Pidfd and Close work as for one
// started; no Group reaps it, and Close releases fd.
func FromPidfd(name string, pid, fd int) *Child { return &Child{Name: name, Pid: pid, pidfd: fd} }

// Close releases the pidfd.
func (c *Child) Close() error {
	if c.pidfd < 0 {
		return nil
	}
	err := unix.Close(c.pidfd)
	c.pidfd = -1
	return err
}

// Start starts the child described by spec on the spawner thread. The child
// gets SIGKILL when the supervisor dies, unless spec.Outlive.
func Start(spec Spec) (*Child, error) {
	spawnerOnce.Do(func() { go spawner() })
	r := spawnRequest{spec: spec, done: make(chan spawnResult, 1)}
	spawnRequests <- r
	res := <-r.done
	if res.err != nil {
		// The path last: "start driver: no such file or directory (/x/driver)"
		// names what was tried without hiding which role failed to start.
		return nil, fmt.Errorf("start %s: %w (%s)", spec.Name, res.err, spec.Path)
	}
	return &Child{Name: spec.Name, Pid: res.pid, pidfd: res.pidfd}, nil
}

type spawnRequest struct {
	spec Spec
	done chan spawnResult
}

type spawnResult struct {
	pid, pidfd int
	err        error
}

var (
	spawnerOnce   sync.Once
	spawnRequests = make(chan spawnRequest)
)

// spawner forks every child from one locked thread that lives as long as the
// process: it never returns and never unlocks (see the package invariants).
// Being locked is also what lets a child's mask be set on it: the child
// starts with the signal mask of the thread that forked it (the runtime's
// BeforeFork saves that thread's mask and the child restores it before
// exec), and no other goroutine runs on this thread to see it changed.
func spawner() {
	runtime.LockOSThread()
	for r := range spawnRequests {
		r.done <- forkExec(r.spec)
	}
}

func forkExec(spec Spec) spawnResult {
	if spec.Path == "" || len(spec.Args) == 0 {
		return spawnResult{err: errors.New("no executable or argv")}
	}
	files := make([]uintptr, len(spec.Files))
	for i, f := range spec.Files {
		if f == nil {
			files[i] = ^uintptr(0) // closed in the child
			continue
		}
		fd, err := fdOf(f)
		if err != nil {
			return spawnResult{err: fmt.Errorf("file %d: %w", i, err)}
		}
		files[i] = fd
	}
	env := spec.Env
	if env == nil {
		env = os.Environ()
	}
	pidfd := -1
	attr := &syscall.ProcAttr{
		Dir:   spec.Dir,
		Env:   env,
		Files: files,
		Sys: &syscall.SysProcAttr{
			Pdeathsig: syscall.SIGKILL,
			PidFD:     &pidfd,
		},
	}
	if spec.Outlive {
		attr.Sys.Pdeathsig = 0
	}
	restore, err := blockOnThisThread(spec.Blocked)
	if err != nil {
		return spawnResult{err: err}
	}
	pid, err := syscall.ForkExec(spec.Path, spec.Args, attr)
	restore()
	runtime.KeepAlive(spec.Files)
	if err != nil {
		return spawnResult{err: err}
	}
	return spawnResult{pid: pid, pidfd: pidfd}
}

// blockOnThisThread blocks sigs on the calling (locked) thread and returns
// what puts its mask back. A signal sent to the supervisor meanwhile goes
// to another of its threads, which have their masks untouched.
func blockOnThisThread(sigs []syscall.Signal) (restore func(), err error) {
	if len(sigs) == 0 {
		return func() {}, nil
	}
	var set, old unix.Sigset_t
	for _, s := range sigs {
		if s < 1 || s > maxSignal {
			return nil, fmt.Errorf("block signal %d: out of range", s)
		}
		set.Val[(s-1)/64] |= 1 << ((uint(s) - 1) % 64)
	}
	if err := unix.PthreadSigmask(unix.SIG_BLOCK, &set, &old); err != nil {
		return nil, fmt.Errorf("block signals: %w", err)
	}
	return func() { _ = unix.PthreadSigmask(unix.SIG_SETMASK, &old, nil) }, nil // a valid mask cannot fail
}

// maxSignal is the highest signal number Linux has (_NSIG).
const maxSignal = 64

// fdOf is f's descriptor, its mode left as it is. f.Fd would switch a
// non-blocking file to blocking mode, and the mode belongs to the open file
// description every process holding it shares: a listening socket passed to
// a new worker would turn blocking under the workers already accepting on
// it, and one that entered accept(2) then would sit in the kernel, out of
// reach of its own Close, until a connection came (a draining worker, for
// good). The caller keeps f alive until the fork (runtime.KeepAlive).
func fdOf(f *os.File) (uintptr, error) {
	sc, err := f.SyscallConn()
	if err != nil {
		return 0, err
	}
	var fd uintptr
	if err := sc.Control(func(d uintptr) { fd = d }); err != nil {
		return 0, err
	}
	return fd, nil
}

// BecomeSubreaper makes the calling process a child subreaper: orphans among
// its descendants are re-parented to it, not to init, and Reap collects them.
func BecomeSubreaper() error {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("become child subreaper: %w", err)
	}
	return nil
}
