package main

import (
	"fmt"
	"io"
	"os"
	"syscall"

	"github.com/sigride/sigride/internal/cli"
	"github.com/sigride/sigride/internal/ride"
	"github.com/sigride/sigride/internal/vocab"
)

// The conductor's signals. SIGTSTP is the driver's key: the terminal sends
// ^Z to the whole foreground group, and the conductor must not stop on it.
var (
	handled = []os.Signal{syscall.SIGINT, syscall.SIGQUIT, syscall.SIGUSR1}
	ignored = []os.Signal{syscall.SIGTSTP}
)

// What the conductor sends the driver for each key.
const (
	setOff  = syscall.SIGUSR1 // on SIGINT (^C)
	speedUp = syscall.SIGUSR2 // on SIGQUIT (^\)
)

const synopsis = `usage: conductor [--lang LANG] [--report]

The ride's conductor. Started by the launcher, which passes the control
socket as fd 3. SIGINT (^C): tell the driver to set off (SIGUSR1);
SIGQUIT (^\): tell it to speed up (SIGUSR2); SIGUSR1 (from the driver):
announce the arrival and get off.`

func run(args []string, sigs <-chan os.Signal, stdout *os.File, stderr io.Writer) error {
	policy := cli.Policy{Synopsis: synopsis, Stdout: stdout, Stderr: stderr}
	return ride.Run(vocab.Conductor, args, sigs, stdout, stderr, policy, func(r *ride.Role, t int64, sig syscall.Signal) (bool, error) {
		switch sig {
		case syscall.SIGINT:
			forward(r, t, sig, setOff, stderr)
		case syscall.SIGQUIT:
			forward(r, t, sig, speedUp, stderr)
		case syscall.SIGUSR1:
			return true, r.Print(t, sig, r.Msgs.Arrived)
		}
		return false, nil
	})
}

// forward passes a key on to the driver. A driver that is gone is worth a
// word on stderr, not the end of the ride: the launcher decides that.
func forward(r *ride.Role, t int64, sig, out syscall.Signal, stderr io.Writer) {
	if err := r.Forward(t, sig, out); err != nil {
		fmt.Fprintf(stderr, "conductor: %v\n", err)
	}
}
