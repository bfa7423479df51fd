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
)

// The driver's signals. SIGINT and SIGQUIT are the conductor's keys: the
// terminal sends them to the whole foreground group, the driver too, and the
// driver must let them pass.
var (
	handled = []os.Signal{syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGTSTP}
	ignored = []os.Signal{syscall.SIGINT, syscall.SIGQUIT}
)

const synopsis = `usage: driver [--lang LANG] [--report]

The ride's driver. Started by the launcher, which passes the control socket
as fd 3. SIGUSR1: set off; SIGUSR2: speed up; SIGTSTP (^Z): tell the
conductor we arrived (SIGUSR1), wait until it got off, then get off.`

type config struct {
	lang   string
	report bool
}

func parseFlags(args []string, stdout, stderr io.Writer) (config, error) {
	var cfg config
	fs := pflag.NewFlagSet("driver", pflag.ContinueOnError)
	fs.StringVar(&cfg.lang, "lang", ride.DefaultLang, "language of the lines: zh or en")
	fs.BoolVar(&cfg.report, "report", false, "report events (receive, send, print) to the launcher")
	if err := cli.Parse(fs, synopsis, args, stdout, stderr); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, cli.BadUsage(fs, synopsis, stderr, fmt.Errorf("unexpected argument %q", fs.Arg(0)))
	}
	if _, err := ride.MessagesFor(cfg.lang); err != nil {
		return cfg, cli.BadUsage(fs, synopsis, stderr, fmt.Errorf("--lang: %w", err))
	}
	return cfg, nil
}

func run(args []string, sigs <-chan os.Signal, stdout *os.File, stderr io.Writer) error {
	cfg, err := parseFlags(args, stdout, stderr)
	if err != nil {
		return err
	}
	msgs, _ := ride.MessagesFor(cfg.lang) // checked by parseFlags
	r, err := ride.Join(ride.Driver, stdout, cfg.report)
	if err != nil {
		return err
	}
	defer r.Close()
	if err := r.Ready(); err != nil {
		return err
	}
	for {
		select {
		case <-r.Gone():
			return errors.New("launcher gone: getting off")
		case sig := <-sigs:
			t := ride.Now()
			switch sig {
			case syscall.SIGUSR1:
				if err := r.Print(t, sig, msgs.SetOff); err != nil {
					return err
				}
			case syscall.SIGUSR2:
				if err := r.Print(t, sig, msgs.SeatBelt); err != nil {
					return err
				}
			case syscall.SIGTSTP:
				return arrive(r, t, sig, stderr)
			}
		}
	}
}

// arrive tells the conductor we have arrived and gets off once it has.
func arrive(r *ride.Role, t int64, sig os.Signal, stderr io.Writer) error {
	err := r.Forward(t, sig, syscall.SIGUSR1)
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
