package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"

	"github.com/spf13/pflag"
	"golang.org/x/sys/unix"

	"github.com/sigride/sigride/internal/cli"
	"github.com/sigride/sigride/internal/ride"
	"github.com/sigride/sigride/internal/vocab"
)

// The driver's signals. SIGINT and SIGQUIT are the conductor's keys: the
// terminal sends them to the whole foreground group, the driver too, and the
// driver must let them pass.
var (
	handled = []os.Signal{syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGTSTP}
	ignored = []os.Signal{syscall.SIGINT, syscall.SIGQUIT}
)

// What the driver sends the conductor on SIGTSTP (^Z): we have arrived.
const arrived = syscall.SIGUSR1

const synopsis = `usage: driver [--lang LANG] [--report]

The ride's driver. Started by the launcher, which passes the control socket
as fd 3. SIGUSR1: set off; SIGUSR2: speed up; SIGTSTP (^Z): tell the
conductor we arrived (SIGUSR1), wait until it got off, then get off.`

func run(args []string, sigs <-chan os.Signal, stdout *os.File, stderr io.Writer) error {
	var cfg ride.Config
	fs := pflag.NewFlagSet(vocab.Driver, pflag.ContinueOnError)
	cfg.Flags(fs)
	if err := cli.Parse(fs, synopsis, args, stdout, stderr); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return cli.BadUsage(fs, synopsis, stderr, fmt.Errorf("unexpected argument %q", fs.Arg(0)))
	}
	if err := cfg.Check(); err != nil {
		return cli.BadUsage(fs, synopsis, stderr, err)
	}
	r, err := ride.Board(vocab.Driver, cfg, stdout)
	if err != nil {
		return err
	}
	defer r.Close()
	defer func() {
		if n := r.Dropped(); n > 0 {
			fmt.Fprintf(stderr, "%s: %s not written: stdout is not read\n", vocab.Driver, vocab.Count(n, "line"))
		}
	}()
	err = r.Loop(sigs, func(t int64, sig syscall.Signal) (bool, error) {
		switch sig {
		case syscall.SIGUSR1:
			return false, r.Print(t, sig, cfg.Msgs.SetOff)
		case syscall.SIGUSR2:
			return false, r.Print(t, sig, cfg.Msgs.SeatBelt)
		case syscall.SIGTSTP:
			return true, arrive(r, t, sig, stderr)
		}
		return false, nil
	})
	// The launcher learns the code this process exits with, as main maps it.
	r.ReportExit(cli.Code(err))
	return err
}

// arrive tells the conductor we have arrived and gets off once it has.
func arrive(r *ride.Role, t int64, sig syscall.Signal, stderr io.Writer) error {
	err := r.Forward(t, sig, arrived)
	switch {
	case errors.Is(err, unix.ESRCH):
		return nil // the conductor got off already
	case err != nil:
		fmt.Fprintf(stderr, "driver: %v\n", err)
	}
	select {
	case <-r.PeerExited():
		return nil
	case <-r.Gone():
		return errors.New("launcher gone while waiting for the conductor")
	}
}
