package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sigride/sigride/internal/cli"
	"github.com/sigride/sigride/internal/ride"
	"github.com/sigride/sigride/internal/vocab"
)

// The driver's signals. SIGINT and SIGQUIT are the conductor's keys: the
// terminal sends them to the whole foreground group, the driver too, and the
// driver must let them pass.
var (
	handled = []syscall.Signal{syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGTSTP}
	ignored = []os.Signal{syscall.SIGINT, syscall.SIGQUIT}
)

// What the driver sends the conductor on SIGTSTP (^Z): we have arrived.
const arrived = syscall.SIGUSR1

const synopsis = `usage: driver [--lang LANG] [--report]

The ride's driver. Started by the launcher, which passes the control socket
as fd 3. SIGUSR1: set off; SIGUSR2: speed up; SIGTSTP (^Z): tell the
conductor we arrived (SIGUSR1), wait until it got off, then get off; while
it waits, SIGUSR1 and SIGUSR2 still have their lines.`

func run(args []string, in *ride.Intake, stdout *os.File, stderr io.Writer) error {
	policy := cli.Policy{Synopsis: synopsis, Stdout: stdout, Stderr: stderr}
	return ride.Run(vocab.Driver, args, in, stdout, stderr, policy, func(r *ride.Role, s ride.Signal) (bool, error) {
		if s.Sig == syscall.SIGTSTP {
			return true, arrive(r, in, s, stderr)
		}
		return false, answer(r, s)
	})
}

// answer is the driver's answer to a signal its peer sends, from anyone:
// a line each.
func answer(r *ride.Role, s ride.Signal) error {
	switch s.Sig {
	case syscall.SIGUSR1:
		return r.Print(s, r.Msgs.SetOff)
	case syscall.SIGUSR2:
		return r.Print(s, r.Msgs.SeatBelt)
	}
	return nil
}

// arrive tells the conductor we have arrived and gets off once it has.
// Until then it still answers SIGUSR1 and SIGUSR2 (a ^C just before the
// ^Z has its line), and a second SIGTSTP is taken and disregarded; those
// still pending when the conductor has gone are answered before it
// returns.
func arrive(r *ride.Role, in *ride.Intake, s ride.Signal, stderr io.Writer) error {
	// ESRCH: the conductor got off already, and the wait ends at once.
	if err := r.Forward(s, arrived); err != nil && !errors.Is(err, unix.ESRCH) {
		fmt.Fprintf(stderr, "driver: %v\n", err)
	}
	// A SIGUSR1 already pending at the conductor when ours comes is merged
	// with it by the kernel, which keeps the first sender's siginfo: if
	// that was a stranger's (kill -USR1 by hand), the conductor ignores it
	// and never sees ours. So it is sent again until the conductor is gone.
	resend := func() {
		if err := r.Resend(arrived); err != nil && !errors.Is(err, unix.ESRCH) {
			fmt.Fprintf(stderr, "driver: %v\n", err)
		}
	}
	err := r.Await(in, r.PeerExited(), resendArrived, resend, func(s ride.Signal) error {
		if s.Sig == syscall.SIGTSTP {
			r.Disregard(s) // we are arriving already
			return nil
		}
		return answer(r, s)
	})
	if errors.Is(err, ride.ErrLauncherGone) {
		return errors.New("launcher gone while waiting for the conductor")
	}
	return err
}

// resendArrived is how long the driver waits for the conductor to get off
// before it says again that we have arrived: far above the round trip (a
// conductor gets off within a millisecond), short enough not to be noticed.
const resendArrived = 100 * time.Millisecond
