package ride

import (
	"fmt"

	"github.com/spf13/pflag"
)

// Config is what both roles take on their command line; the launcher
// passes it.
type Config struct {
	Msgs   Messages // the lines, in the language --lang names
	Report bool     // report events to the launcher
}

// Policy is what a role's binary decides and the runtime applies: how its
// command line is parsed and a bad one reported, and which exit code an
// error means. The binaries pass cli.Policy: the runtime imports nothing
// of cli.
type Policy interface {
	Parse(fs *pflag.FlagSet, args []string) error
	BadUsage(fs *pflag.FlagSet, err error) error
	Code(err error) int
}

// ParseFlags parses a role's command line as p says: --lang and --report,
// and no argument. It looks up the messages of the language, the one time
// the process does.
func ParseFlags(role string, args []string, p Policy) (Config, error) {
	var cfg Config
	var lang string
	fs := pflag.NewFlagSet(role, pflag.ContinueOnError)
	fs.StringVar(&lang, "lang", DefaultLang, "language of the lines: zh or en")
	fs.BoolVar(&cfg.Report, "report", false, "report events (receive, send, print) to the launcher")
	if err := p.Parse(fs, args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, p.BadUsage(fs, fmt.Errorf("unexpected argument %q", fs.Arg(0)))
	}
	msgs, err := MessagesFor(lang)
	if err != nil {
		return cfg, p.BadUsage(fs, fmt.Errorf("--lang: %w", err))
	}
	cfg.Msgs = msgs
	return cfg, nil
}
