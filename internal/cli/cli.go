package cli

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/pflag"
)

// Exit codes shared by every binary.
const (
	ExitOK      = 0 // the job was done
	ExitFailure = 1 // the job failed; the reason was printed on stderr
	ExitUsage   = 2 // the command line was wrong; usage was printed on stderr
)

// ErrHelp is returned by Parse when --help was asked for and the usage printed.
var ErrHelp = pflag.ErrHelp

// UsageError is a command line that cannot be run. Its message and the
// usage have already been printed on stderr when it is returned.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// ExitError ends a run with a given exit code. Err, when set, is what went
// wrong; a nil Err means the code says it all (e.g. 143 after SIGTERM).
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return e.Err.Error()
}
func (e *ExitError) Unwrap() error { return e.Err }

// Parse parses args into fs. The synopsis heads the usage text, above the
// flag defaults. On --help it prints the usage to stdout and returns ErrHelp;
// on a bad flag it returns BadUsage's error.
func Parse(fs *pflag.FlagSet, synopsis string, args []string, stdout, stderr io.Writer) error {
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	err := fs.Parse(args)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, pflag.ErrHelp):
		printUsage(stdout, fs, synopsis)
		return ErrHelp
	default:
		return BadUsage(fs, synopsis, stderr, err)
	}
}

// BadUsage prints err and the usage to stderr and returns a *UsageError for
// run to return: a command line found wrong after Parse, too.
func BadUsage(fs *pflag.FlagSet, synopsis string, stderr io.Writer, err error) error {
	fmt.Fprintf(stderr, "%s: %v\n", fs.Name(), err)
	printUsage(stderr, fs, synopsis)
	return &UsageError{Err: err}
}

// Policy is Parse, BadUsage and Code for one command, as a value: for a
// library that applies a binary's policy without importing this package
// (ride.Policy).
type Policy struct {
	Synopsis       string
	Stdout, Stderr io.Writer
}

// Parse is Parse with p's synopsis and outputs.
func (p Policy) Parse(fs *pflag.FlagSet, args []string) error {
	return Parse(fs, p.Synopsis, args, p.Stdout, p.Stderr)
}

// BadUsage is BadUsage with p's synopsis and stderr.
func (p Policy) BadUsage(fs *pflag.FlagSet, err error) error {
	return BadUsage(fs, p.Synopsis, p.Stderr, err)
}

// Code is Code.
func (Policy) Code(err error) int { return Code(err) }

func printUsage(w io.Writer, fs *pflag.FlagSet, synopsis string) {
	fmt.Fprintf(w, "%s\n\nFlags:\n%s", synopsis, fs.FlagUsages())
}

// Code maps the error run returned to the process exit code.
func Code(err error) int {
	var ee *ExitError
	var ue *UsageError
	switch {
	case err == nil, errors.Is(err, ErrHelp):
		return ExitOK
	case errors.As(err, &ee):
		return ee.Code
	case errors.As(err, &ue):
		return ExitUsage
	default:
		return ExitFailure
	}
}

// Report prints err as one line on stderr, prefixed with the program name,
// unless it has been printed already or says nothing more than its code.
func Report(prog string, err error, stderr io.Writer) {
	var ee *ExitError
	var ue *UsageError
	switch {
	case err == nil, errors.Is(err, ErrHelp), errors.As(err, &ue):
		return
	case errors.As(err, &ee) && ee.Err == nil && err == error(ee):
		return // a bare code says it all; a wrapper adds context, printed below
	}
	fmt.Fprintf(stderr, "%s: %v\n", prog, err)
}

// Main runs a binary's run function and returns the exit code for os.Exit;
// an error run returned is reported on stderr.
func Main(prog string, stderr io.Writer, run func(args []string) error) int {
	err := run(os.Args[1:])
	Report(prog, err, stderr)
	return Code(err)
}
