package supervise

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/sigride/sigride/internal/vocab"
)

// Exit is how one child ended.
type Exit struct {
	Pid    int
	Status unix.WaitStatus
}

// String is "exit=N" or "signal=NAME", the form every report uses.
func (e Exit) String() string {
	if e.Status.Signaled() {
		return "signal=" + vocab.SignalName(e.Status.Signal())
	}
	return fmt.Sprintf("exit=%d", e.Status.ExitStatus())
}

// Success reports whether the child exited by itself with status 0.
func (e Exit) Success() bool { return e.Status.Exited() && e.Status.ExitStatus() == 0 }

// Reap collects, without blocking, every child that has ended: call it on
// each SIGCHLD (signals coalesce, so one SIGCHLD may stand for many exits).
// It must be the process's only waiter.
func Reap() ([]Exit, error) {
	var exits []Exit
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.ECHILD):
			return exits, nil
		case err != nil:
			return exits, fmt.Errorf("wait4: %w", err)
		case pid <= 0:
			return exits, nil
		}
		exits = append(exits, Exit{Pid: pid, Status: ws})
	}
}
