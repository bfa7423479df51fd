package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"time"

	"github.com/spf13/pflag"

	"github.com/sigride/sigride/internal/cli"
	"github.com/sigride/sigride/internal/ride"
	"github.com/sigride/sigride/internal/scenario"
	"github.com/sigride/sigride/internal/vocab"
)

// readScenario reads and parses a scenario file; its errors name FILE or
// FILE:LINE.
func readScenario(path string) ([]scenario.Step, error) {
	f, err := os.Open(path)
	if err != nil {
		msg := err.Error()
		if pe := (*fs.PathError)(nil); errors.As(err, &pe) {
			msg = pe.Err.Error() // the path is already the error's FILE
		}
		return nil, &scenario.Error{File: path, Msg: msg}
	}
	defer f.Close()
	return scenario.Parse(path, f)
}

const synopsis = `usage: launcher [flags] [-- CMD [ARGS...]]
       launcher diagram TRACE -o FILE.svg|FILE.mmd

Starts the ride: a driver and a conductor, each its own process, in this
terminal's foreground group. Press ^C (SIGINT) to set off, ^\ (SIGQUIT) to
speed up, ^Z (SIGTSTP) to arrive. The launcher ignores those keys; SIGTERM or
SIGHUP to it stops the ride (exit 128+signal).

With --scenario FILE it runs the file's steps instead of waiting for keys and
exits 0 if every step held, 1 at the first that did not, 2 if FILE cannot be
read or parsed. "launcher diagram" renders a saved trace.

With -- CMD it runs CMD (found in PATH), a program of yours, as the ride:
its processes are watched (ptrace), the conductor is the one that handles
SIGINT and SIGQUIT, the driver the one that handles SIGTSTP.`

// Defaults of the launcher's flags.
const (
	defaultGrace        = 2 * time.Second // SIGTERM to SIGKILL when stopping a role
	defaultReadyTimeout = 5 * time.Second // spawn to "ready" of both roles
)

type config struct {
	lang         string
	msgs         ride.Messages // lang's, looked up by parseFlags: once a process
	runDir       string
	grace        time.Duration
	readyTimeout time.Duration
	driver       string
	conductor    string
	verbose      bool
	scenario     string // a scenario file to run
	trace        string // write the trace here, JSON Lines
	diagram      string // write a sequence diagram here: .svg or .mmd
	checkReport  string // write the requirements' PASS and FAIL lines here
	steps        []scenario.Step
	program      []string // -- CMD ARGS...: a program of the user's as the ride
}

// recording reports whether the launcher keeps the ride's events: for a
// trace, a diagram, or a scenario (which expects lines and counts).
func (c config) recording() bool { return c.scenario != "" || c.trace != "" || c.diagram != "" }

// reporting reports whether the roles must report their events to the
// launcher: when it records them or logs them (-v).
func (c config) reporting() bool { return c.verbose || c.recording() }

func parseFlags(args []string, stdout, stderr io.Writer) (config, error) {
	var cfg config
	fs := pflag.NewFlagSet("launcher", pflag.ContinueOnError)
	fs.StringVar(&cfg.lang, "lang", ride.DefaultLang, "language of the roles' lines: zh or en")
	fs.StringVar(&cfg.runDir, "run-dir", "", "write launcher.pid, driver.pid and conductor.pid here once ready (removed at the end)")
	fs.DurationVar(&cfg.grace, "grace", defaultGrace, "time a role gets to end after SIGTERM before SIGKILL")
	fs.DurationVar(&cfg.readyTimeout, "ready-timeout", defaultReadyTimeout, "time both roles get to say they are ready")
	fs.StringVar(&cfg.driver, "driver", "", "the driver executable (default: driver beside the launcher)")
	fs.StringVar(&cfg.conductor, "conductor", "", "the conductor executable (default: conductor beside the launcher)")
	fs.BoolVarP(&cfg.verbose, "verbose", "v", false, "log every event the roles report on stderr, timed in milliseconds since the start")
	fs.StringVar(&cfg.scenario, "scenario", "", "run the steps of this scenario file (see docs/scenarios.md)")
	fs.StringVar(&cfg.trace, "trace", "", "write every event here at the end, as JSON Lines")
	fs.StringVar(&cfg.diagram, "diagram", "", "write a sequence diagram of the ride here at the end: FILE.svg or FILE.mmd")
	fs.StringVar(&cfg.checkReport, "check-report", "", "with a scenario of check steps: write one line per requirement here, PASS or FAIL and why")
	if err := cli.Parse(fs, synopsis, args, stdout, stderr); err != nil {
		return cfg, err
	}
	fail := func(err error) (config, error) { return cfg, cli.BadUsage(fs, synopsis, stderr, err) }
	switch dash := fs.ArgsLenAtDash(); {
	case dash > 0 || (dash < 0 && fs.NArg() > 0):
		return fail(fmt.Errorf("unexpected argument %q (a program of yours goes after --)", fs.Arg(0)))
	case dash == 0 && fs.NArg() == 0:
		return fail(errors.New("-- takes a command: -- CMD [ARGS...]"))
	case dash == 0:
		if cfg.driver != "" || cfg.conductor != "" {
			return fail(errors.New("--driver and --conductor are our own roles: not with -- CMD"))
		}
		cfg.program = fs.Args()
	}
	msgs, err := ride.MessagesFor(cfg.lang)
	if err != nil {
		return fail(fmt.Errorf("--lang: %w", err))
	}
	cfg.msgs = msgs
	if cfg.grace <= 0 || cfg.readyTimeout <= 0 {
		return fail(fmt.Errorf("--grace and --ready-timeout must be positive"))
	}
	if cfg.diagram != "" && diagramFormat(cfg.diagram) == "" {
		return fail(fmt.Errorf("--diagram %s: the name must end in .svg or .mmd", cfg.diagram))
	}
	if cfg.scenario != "" {
		steps, err := readScenario(cfg.scenario)
		if err != nil {
			// FILE:LINE: the problem, exit 2: the scenario is the input.
			fmt.Fprintln(stderr, err)
			return cfg, &cli.UsageError{Err: err}
		}
		cfg.steps = steps
	}
	if cfg.checkReport != "" && !slices.ContainsFunc(cfg.steps, func(s scenario.Step) bool { return s.Kind == scenario.Check }) {
		return fail(errors.New("--check-report needs a --scenario with check steps"))
	}
	if cfg.program != nil {
		path, err := exec.LookPath(cfg.program[0])
		if err != nil {
			return cfg, fmt.Errorf("start %s: %w", cfg.program[0], err)
		}
		cfg.program[0] = path
		return cfg, nil
	}
	if cfg.driver == "" || cfg.conductor == "" {
		self, err := os.Executable()
		if err != nil {
			return cfg, fmt.Errorf("find my own executable: %w", err)
		}
		beside := func(path *string, name string) {
			if *path == "" {
				*path = filepath.Join(filepath.Dir(self), name)
			}
		}
		beside(&cfg.driver, vocab.Driver)
		beside(&cfg.conductor, vocab.Conductor)
	}
	return cfg, nil
}
