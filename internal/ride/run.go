package ride

import (
	"fmt"
	"io"
	"os"

	"github.com/sigride/sigride/internal/lineout"
	"github.com/sigride/sigride/internal/vocab"
)

// Board joins the ride as role and says ready: call it once the signal
// handlers are installed. It looks nothing up: the role speaks the
// Config's messages (Role.Msgs), which ParseFlags found.
func Board(role string, cfg Config, out *os.File) (*Role, error) {
	r, err := Join(role, lineout.New(out), cfg.Report)
	if err != nil {
		return nil, err
	}
	r.Msgs = cfg.Msgs
	if err := r.Ready(); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

// Handler is a role's answer to a signal it took: see Role.Loop.
type Handler func(r *Role, s Signal) (done bool, err error)

// Run is a role's life once its intake is made (NewIntake): its
// command line (ParseFlags), boarding (Board), each signal handed to
// handle until it is done (Loop), then the code the process will exit
// with told to the launcher, and the lines stdout lost counted on stderr.
// What is the binary's to decide comes in p.
func Run(role string, args []string, in *Intake, stdout *os.File, stderr io.Writer, p Policy, handle Handler) error {
	cfg, err := ParseFlags(role, args, p)
	if err != nil {
		return err
	}
	r, err := Board(role, cfg, stdout)
	if err != nil {
		return err
	}
	defer r.Close()
	defer func() {
		if n, why := r.Dropped(); n > 0 {
			fmt.Fprintf(stderr, "%s: %s not written: %s\n", role, vocab.Count(n, "line"), why)
		}
		if n := r.Unreported(); n > 0 {
			fmt.Fprintf(stderr, "%s: %s not reported: the launcher did not take them\n", role, vocab.Count(n, "event"))
		}
	}()
	err = r.Loop(in, func(s Signal) (bool, error) { return handle(r, s) })
	// The launcher learns the code this process exits with, as its main
	// maps it.
	r.ReportExit(p.Code(err))
	return err
}
