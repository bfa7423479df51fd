package ride

import (
	"fmt"
	"os"

	"github.com/spf13/pflag"

	"github.com/sigride/sigride/internal/lineout"
)

// Config is what both roles take on their command line; the launcher
// passes it.
type Config struct {
	Lang   string   // the language of the lines
	Report bool     // report events to the launcher
	Msgs   Messages // Lang's lines, looked up by Check: once a process
}

// Flags defines a role's flags on fs, into cfg. The role's main parses
// them and reports a bad command line: how is its policy, not the
// runtime's.
func (cfg *Config) Flags(fs *pflag.FlagSet) {
	fs.StringVar(&cfg.Lang, "lang", DefaultLang, "language of the lines: zh or en")
	fs.BoolVar(&cfg.Report, "report", false, "report events (receive, send, print) to the launcher")
}

// Check reports a Config the flags parsed but no role can run with, and
// looks up the messages of its language.
func (cfg *Config) Check() error {
	msgs, err := MessagesFor(cfg.Lang)
	if err != nil {
		return fmt.Errorf("--lang: %w", err)
	}
	cfg.Msgs = msgs
	return nil
}

// Board joins the ride as role and says ready: call it once the signal
// handlers are installed. It looks nothing up: the role's messages are
// the Config's, which Check found.
func Board(role string, cfg Config, out *os.File) (*Role, error) {
	r, err := Join(role, lineout.New(out), cfg.Report)
	if err != nil {
		return nil, err
	}
	if err := r.Ready(); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}
