package ride

import (
	"io"
	"testing"

	"github.com/spf13/pflag"

	"github.com/sigride/sigride/internal/vocab"
)

// stubPolicy parses plainly and keeps what a binary would report.
type stubPolicy struct {
	bad     string // the error BadUsage was given
	setName string // the flag set it was given
}

func (p *stubPolicy) Parse(fs *pflag.FlagSet, args []string) error {
	fs.SetOutput(io.Discard)
	return fs.Parse(args)
}

func (p *stubPolicy) BadUsage(fs *pflag.FlagSet, err error) error {
	p.bad, p.setName = err.Error(), fs.Name()
	return err
}

func (p *stubPolicy) Code(err error) int {
	if err != nil {
		return 1
	}
	return 0
}

func TestParseFlags(t *testing.T) {
	zh, _ := MessagesFor("zh")
	en, _ := MessagesFor("en")
	for _, tc := range []struct {
		args []string
		want Config
		bad  string // what BadUsage reports; "" for none
		err  bool
	}{
		{nil, Config{Msgs: zh}, "", false},
		{[]string{"--lang", "en", "--report"}, Config{Msgs: en, Report: true}, "", false},
		{[]string{"--lang", "fr"}, Config{}, `--lang: unknown language "fr" (have en, zh)`, true},
		{[]string{"extra"}, Config{}, `unexpected argument "extra"`, true},
		{[]string{"--nope"}, Config{}, "", true}, // the policy's Parse reports it
	} {
		p := &stubPolicy{}
		cfg, err := ParseFlags(vocab.Driver, tc.args, p)
		if (err != nil) != tc.err || p.bad != tc.bad {
			t.Errorf("%q: error %v, reported %q; want error %v, reported %q", tc.args, err, p.bad, tc.err, tc.bad)
		}
		if tc.bad != "" && p.setName != vocab.Driver {
			t.Errorf("%q: reported for flag set %q, want the role's name", tc.args, p.setName)
		}
		if err == nil && cfg != tc.want {
			t.Errorf("%q: %+v, want %+v", tc.args, cfg, tc.want)
		}
	}
}
