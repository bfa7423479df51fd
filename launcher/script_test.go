package main

import (
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// TestKillRideScript runs scripts/kill-ride, the documented way to drive a
// ride from a shell, and checks what it shows.
func TestKillRideScript(t *testing.T) {
	cmd := exec.Command("../scripts/kill-ride", "--lang", "en")
	cmd.Env = append(cmd.Environ(), "SIGRIDE_BIN="+binDir)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if code := exitCode(err); code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, stderr.String())
	}
	// The lines in order, each role's pid consistent with the ready line.
	want := regexp.MustCompile(`(?s)ready driver=(\d+) conductor=(\d+).*` +
		`\+ kill -INT (\d+)\ndriver\[(\d+)\]: The old driver sets off\n` +
		`\+ kill -QUIT \d+\ndriver\[\d+\]: Fasten your seat belts.*\n` +
		`\+ kill -TSTP \d+\nconductor\[\d+\]: We have arrived, please get off\n` +
		`.*reaped conductor pid=\d+ exit=0\n.*reaped driver pid=\d+ exit=0\n$`)
	m := want.FindStringSubmatch(string(out))
	if m == nil {
		t.Fatalf("output not as documented:\n%s", out)
	}
	if m[2] != m[3] || m[1] != m[4] {
		t.Errorf("pids in the kill lines do not match the ready line:\n%s", out)
	}
}

// TestKillRideScriptExitCode: a launcher that ends before its ready line
// (here on a bad flag) gives the script its exit code, as documented, and
// its usage is what the user sees.
func TestKillRideScriptExitCode(t *testing.T) {
	cmd := exec.Command("../scripts/kill-ride", "--bogus")
	cmd.Env = append(cmd.Environ(), "SIGRIDE_BIN="+binDir)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if code := exitCode(err); code != 2 {
		t.Errorf("exit %d, want the launcher's 2\n%s\n%s", code, out, stderr.String())
	}
	if !strings.Contains(stderr.String(), "unknown flag: --bogus") || strings.Contains(stderr.String(), "kill-ride: no line") {
		t.Errorf("stderr is not the launcher's usage alone:\n%s", stderr.String())
	}
}
