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
conductor we arrived (SIGUSR1), wait until it got off, then get off.`

func run(args []string, in *ride.Intake, stdout *os.File, stderr io.Writer) error {
	policy := cli.Policy{Synopsis: synopsis, Stdout: stdout, Stderr: stderr}
	return ride.Run(vocab.Driver, args, in, stdout, stderr, policy, func(r *ride.Role, s ride.Signal) (bool, error) {
		switch s.Sig {
		case syscall.SIGUSR1:
			return false, r.Print(s, r.Msgs.SetOff)
		case syscall.SIGUSR2:
			return false, r.Print(s, r.Msgs.SeatBelt)
		case syscall.SIGTSTP:
			return true, arrive(r, s, stderr)
		}
		return false, nil
	})
}

// arrive tells the conductor we have arrived and gets off once it has.
func arrive(r *ride.Role, s ride.Signal, stderr io.Writer) error {
	err := r.Forward(s, arrived)
	switch {
	case errors.Is(err, unix.ESRCH):
		return nil // the conductor got off already
	case err != nil:
		fmt.Fprintf(stderr, "driver: %v\n", err)
	}
	// A SIGUSR1 already pending at the conductor when ours comes is merged
	// with it by the kernel, which keeps the first sender's siginfo: if
	// that was a stranger's (kill -USR1 by hand), the conductor ignores it
	// and never sees ours. So it is sent again until the conductor is gone.
	again := time.NewTicker(resendArrived)
	defer again.Stop()
	for {
		select {
		case <-r.PeerExited():
			return nil
		case <-r.Gone():
			return errors.New("launcher gone while waiting for the conductor")
		case <-again.C:
			if err := r.Resend(arrived); err != nil && !errors.Is(err, unix.ESRCH) {
				fmt.Fprintf(stderr, "driver: %v\n", err)
			}
		}
	}
}

// resendArrived is how long the driver waits for the conductor to get off
// before it says again that we have arrived: far above the round trip (a
// conductor gets off within a millisecond), short enough not to be noticed.
const resendArrived = 100 * time.Millisecond
