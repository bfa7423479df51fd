package main

import (
	"fmt"
	"io"
	"os"
	"syscall"

	"github.com/sigride/sigride/internal/cli"
	"github.com/sigride/sigride/internal/lineout"
	"github.com/sigride/sigride/internal/ride"
	"github.com/sigride/sigride/internal/vocab"
)

// The conductor's signals. SIGTSTP is the driver's key: the terminal sends
// ^Z to the whole foreground group, and the conductor must not stop on it.
var (
	handled = []syscall.Signal{syscall.SIGINT, syscall.SIGQUIT, syscall.SIGUSR1}
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
SIGQUIT (^\): tell it to speed up (SIGUSR2); SIGUSR1 from the driver:
announce the arrival and get off (from anyone else: ignored).`

func run(args []string, in *ride.Intake, stdout *os.File, stderr io.Writer) error {
	policy := cli.Policy{Synopsis: synopsis, Stdout: stdout, Stderr: stderr}
	// Its words on stderr go through lineout: a stderr nobody reads must
	// not hold the main thread, which takes the keys, in a write (a flood
	// of kill -USR1 by hand would have it say as many lines).
	warn := lineout.NewLogger(stderr, vocab.Conductor+": ")
	defer warn.Close()
	return ride.Run(vocab.Conductor, args, in, stdout, stderr, policy, func(r *ride.Role, s ride.Signal) (bool, error) {
		switch s.Sig {
		case syscall.SIGINT:
			forward(r, s, setOff, warn)
		case syscall.SIGQUIT:
			forward(r, s, speedUp, warn)
		case syscall.SIGUSR1:
			if !r.FromPeer(s) {
				// Only the driver says we have arrived: a SIGUSR1 from
				// anyone else (kill by hand) would leave the driver
				// riding alone, with no conductor for ^C and ^\.
				r.Disregard(s)
				from := "an unknown sender" // a parent pid namespace, or a forged pid out of range
				if pid := r.Stranger(s); pid != 0 {
					from = fmt.Sprintf("pid %d", pid)
				}
				warn.Logf("SIGUSR1 from %s ignored: only the driver (^Z) says we have arrived", from)
				return false, nil
			}
			return true, r.Print(s, r.Msgs.Arrived)
		}
		return false, nil
	})
}

// forward passes a key on to the driver. A driver that is gone is worth a
// word on stderr, not the end of the ride: the launcher decides that.
func forward(r *ride.Role, s ride.Signal, out syscall.Signal, warn *lineout.Logger) {
	if err := r.Forward(s, out); err != nil {
		warn.Logf("%v", err)
	}
}
