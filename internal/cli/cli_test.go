package cli

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

func TestParseAndCode(t *testing.T) {
	for _, tc := range []struct {
		args           []string
		code           int
		stdout, stderr string
	}{
		{nil, 0, "", ""},
		{[]string{"--n", "3"}, 0, "", ""},
		{[]string{"--help"}, 0, "usage: x\n\nFlags:\n", ""},
		{[]string{"--nope"}, 2, "", "x: unknown flag: --nope\nusage: x"},
		{[]string{"--n", "many"}, 2, "", `invalid argument "many"`},
	} {
		fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
		fs.Int("n", 1, "a number")
		var stdout, stderr strings.Builder
		err := Parse(fs, "usage: x", tc.args, &stdout, &stderr)
		if got := Code(err); got != tc.code {
			t.Errorf("%v: code %d, want %d (%v)", tc.args, got, tc.code, err)
		}
		if !strings.Contains(stdout.String(), tc.stdout) || (tc.stdout == "" && stdout.Len() > 0) {
			t.Errorf("%v: stdout %q, want %q", tc.args, stdout.String(), tc.stdout)
		}
		if !strings.Contains(stderr.String(), tc.stderr) || (tc.stderr == "" && stderr.Len() > 0) {
			t.Errorf("%v: stderr %q, want %q", tc.args, stderr.String(), tc.stderr)
		}
		// A usage error is printed once, by Parse; Report adds nothing.
		var again strings.Builder
		Report("x", err, &again)
		if again.Len() > 0 {
			t.Errorf("%v: reported twice: %q", tc.args, again.String())
		}
	}
}

func TestCodeAndReport(t *testing.T) {
	for _, tc := range []struct {
		err    error
		code   int
		report string
	}{
		{nil, 0, ""},
		{errors.New("boom"), 1, "x: boom\n"},
		{fmt.Errorf("wrapped: %w", &ExitError{Code: 143}), 143, "x: wrapped: exit status 143\n"},
		{&ExitError{Code: 143}, 143, ""},
		{&ExitError{Code: 129, Err: errors.New("ride stopped by SIGHUP")}, 129, "x: ride stopped by SIGHUP\n"},
	} {
		if got := Code(tc.err); got != tc.code {
			t.Errorf("Code(%v) = %d, want %d", tc.err, got, tc.code)
		}
		var b strings.Builder
		Report("x", tc.err, &b)
		if b.String() != tc.report {
			t.Errorf("Report(%v) = %q, want %q", tc.err, b.String(), tc.report)
		}
	}
}

// TestPolicy: a Policy parses, reports and maps codes as the functions it
// stands for, with its synopsis and outputs.
func TestPolicy(t *testing.T) {
	var stdout, stderr strings.Builder
	p := Policy{Synopsis: "usage: x", Stdout: &stdout, Stderr: &stderr}
	fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
	if err := p.Parse(fs, []string{"--help"}); p.Code(err) != ExitOK || !strings.HasPrefix(stdout.String(), "usage: x\n") {
		t.Errorf("--help: %v, stdout %q", err, stdout.String())
	}
	if err := p.BadUsage(fs, errors.New("boom")); p.Code(err) != ExitUsage || !strings.HasPrefix(stderr.String(), "x: boom\nusage: x\n") {
		t.Errorf("BadUsage: %v, stderr %q", err, stderr.String())
	}
}
