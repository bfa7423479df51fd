package main

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestUsage: bad command lines exit 2 with the usage on stderr; --help exits
// 0 with the usage on stdout; a role started by hand says why it cannot run.
func TestUsage(t *testing.T) {
	for _, tc := range []struct {
		bin      string
		args     []string
		code     int
		stdout   string // a substring of stdout, "" for none expected
		stderr   string // a substring of stderr
		noStdout bool
	}{
		{"launcher", []string{"--help"}, 0, "usage: launcher", "", false},
		{"launcher", []string{"-h"}, 0, "--run-dir", "", false},
		{"launcher", []string{"--bogus"}, 2, "", "unknown flag: --bogus", true},
		{"launcher", []string{"extra"}, 2, "", `unexpected argument "extra"`, true},
		{"launcher", []string{"--lang", "fr"}, 2, "", `unknown language "fr"`, true},
		{"launcher", []string{"--grace", "soon"}, 2, "", "invalid argument", true},
		{"launcher", []string{"--grace", "0s"}, 2, "", "must be positive", true},
		{"driver", []string{"--help"}, 0, "usage: driver", "", false},
		{"driver", []string{"--nope"}, 2, "", "usage: driver", true},
		{"driver", []string{"--lang", "xx"}, 2, "", `unknown language "xx"`, true},
		{"driver", nil, 1, "", "no control socket on fd 3", true},
		{"conductor", []string{"--help"}, 0, "usage: conductor", "", false},
		{"conductor", []string{"a", "b"}, 2, "", `unexpected argument "a"`, true},
		{"conductor", nil, 1, "", "start me through the launcher", true},
	} {
		t.Run(tc.bin+" "+strings.Join(tc.args, " "), func(t *testing.T) {
			cmd := exec.Command(filepath.Join(binDir, tc.bin), tc.args...)
			var stdout, stderr strings.Builder
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			code := exitCode(cmd.Run())
			if code != tc.code {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, stdout.String(), stderr.String())
			}
			if !strings.Contains(stdout.String(), tc.stdout) {
				t.Errorf("stdout %q lacks %q", stdout.String(), tc.stdout)
			}
			if !strings.Contains(stderr.String(), tc.stderr) {
				t.Errorf("stderr %q lacks %q", stderr.String(), tc.stderr)
			}
			if tc.noStdout && stdout.Len() > 0 {
				t.Errorf("stdout not empty on a usage error: %q", stdout.String())
			}
			if tc.code == 2 && !strings.Contains(stderr.String(), "usage: "+tc.bin) {
				t.Errorf("usage error without the usage: %q", stderr.String())
			}
		})
	}
}
