package ride

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/pflag"

	"github.com/sigride/sigride/internal/cli"
	"github.com/sigride/sigride/internal/lineout"
)

// Config is what both roles take on their command line; the launcher
// passes it.
type Config struct {
	Lang   string // the language of the lines
	Report bool   // report events to the launcher
}

// ParseFlags parses a role's command line into a Config. Errors are
// reported as cli.Parse and cli.BadUsage report them.
func ParseFlags(role, synopsis string, args []string, stdout, stderr io.Writer) (Config, error) {
	var cfg Config
	fs := pflag.NewFlagSet(role, pflag.ContinueOnError)
	fs.StringVar(&cfg.Lang, "lang", DefaultLang, "language of the lines: zh or en")
	fs.BoolVar(&cfg.Report, "report", false, "report events (receive, send, print) to the launcher")
	if err := cli.Parse(fs, synopsis, args, stdout, stderr); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, cli.BadUsage(fs, synopsis, stderr, fmt.Errorf("unexpected argument %q", fs.Arg(0)))
	}
	if _, err := MessagesFor(cfg.Lang); err != nil {
		return cfg, cli.BadUsage(fs, synopsis, stderr, fmt.Errorf("--lang: %w", err))
	}
	return cfg, nil
}

// Board joins the ride as role and says ready: call it once the signal
// handlers are installed. It returns the role and its messages.
func Board(role string, cfg Config, out *os.File) (*Role, Messages, error) {
	msgs, err := MessagesFor(cfg.Lang)
	if err != nil {
		return nil, Messages{}, err
	}
	r, err := Join(role, lineout.New(out), cfg.Report)
	if err != nil {
		return nil, Messages{}, err
	}
	if err := r.Ready(); err != nil {
		r.Close()
		return nil, Messages{}, err
	}
	return r, msgs, nil
}
