package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/pflag"

	"github.com/sigride/sigride/internal/cli"
	"github.com/sigride/sigride/internal/ride"
)

const synopsis = `usage: launcher [flags]

Starts the ride: a driver and a conductor, each its own process, in this
terminal's foreground group. Press ^C (SIGINT) to set off, ^\ (SIGQUIT) to
speed up, ^Z (SIGTSTP) to arrive. The launcher ignores those keys; SIGTERM or
SIGHUP to it stops the ride (exit 128+signal).`

// Defaults of the launcher's flags.
const (
	defaultGrace        = 2 * time.Second // SIGTERM to SIGKILL when stopping a role
	defaultReadyTimeout = 5 * time.Second // spawn to "ready" of both roles
)

type config struct {
	lang         string
	runDir       string
	grace        time.Duration
	readyTimeout time.Duration
	driver       string
	conductor    string
	verbose      bool
}

func parseFlags(args []string, stdout, stderr io.Writer) (config, error) {
	var cfg config
	fs := pflag.NewFlagSet("launcher", pflag.ContinueOnError)
	fs.StringVar(&cfg.lang, "lang", ride.DefaultLang, "language of the roles' lines: zh or en")
	fs.StringVar(&cfg.runDir, "run-dir", "", "write launcher.pid, driver.pid and conductor.pid here once ready (removed at the end)")
	fs.DurationVar(&cfg.grace, "grace", defaultGrace, "time a role gets to end after SIGTERM before SIGKILL")
	fs.DurationVar(&cfg.readyTimeout, "ready-timeout", defaultReadyTimeout, "time both roles get to say they are ready")
	fs.StringVar(&cfg.driver, "driver", "", "the driver executable (default: driver beside the launcher)")
	fs.StringVar(&cfg.conductor, "conductor", "", "the conductor executable (default: conductor beside the launcher)")
	fs.BoolVarP(&cfg.verbose, "verbose", "v", false, "log every event the roles report on stderr")
	if err := cli.Parse(fs, synopsis, args, stdout, stderr); err != nil {
		return cfg, err
	}
	fail := func(err error) (config, error) { return cfg, cli.BadUsage(fs, synopsis, stderr, err) }
	if fs.NArg() > 0 {
		return fail(fmt.Errorf("unexpected argument %q", fs.Arg(0)))
	}
	if _, err := ride.MessagesFor(cfg.lang); err != nil {
		return fail(fmt.Errorf("--lang: %w", err))
	}
	if cfg.grace <= 0 || cfg.readyTimeout <= 0 {
		return fail(fmt.Errorf("--grace and --ready-timeout must be positive"))
	}
	for _, p := range []*string{&cfg.driver, &cfg.conductor} {
		if *p != "" {
			continue
		}
		self, err := os.Executable()
		if err != nil {
			return cfg, fmt.Errorf("find my own executable: %w", err)
		}
		name := map[*string]string{&cfg.driver: ride.Driver, &cfg.conductor: ride.Conductor}[p]
		*p = filepath.Join(filepath.Dir(self), name)
	}
	return cfg, nil
}
