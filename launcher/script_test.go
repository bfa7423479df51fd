package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
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

// TestScriptsSayBuilding: scripts/serve and scripts/ride say "building…" on
// stderr when bin/ is missing or older than a source, so that a cold build
// does not look hung, and nothing when bin/ is up to date. They run in a
// copy of the checkout, whose bin/ they may build and rebuild.
func TestScriptsSayBuilding(t *testing.T) {
	list, err := exec.Command("git", "-C", "..", "ls-files", "-z", "--cached", "--others", "--exclude-standard").Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	root := t.TempDir()
	for _, name := range strings.Split(strings.TrimSuffix(string(list), "\x00"), "\x00") {
		fi, err := os.Stat(filepath.Join("..", name))
		if err != nil {
			continue // listed but deleted in the work tree
		}
		b, err := os.ReadFile(filepath.Join("..", name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(root, filepath.Dir(name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, name), b, fi.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
	}
	run := func(script string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, filepath.Join(root, "scripts", script), "--help")
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("scripts/%s --help: %v\n%s", script, err, stderr.String())
		}
		return stderr.String()
	}
	if got := run("serve"); !strings.Contains(got, "building…") {
		t.Errorf("first build: stderr %q lacks building…", got)
	}
	if got := run("serve"); strings.Contains(got, "building…") {
		t.Errorf("up to date: stderr %q says building…", got)
	}
	// A source newer than bin/: the next run builds again, and says so.
	future := time.Now().Add(time.Minute)
	if err := os.Chtimes(filepath.Join(root, "driver", "main.go"), future, future); err != nil {
		t.Fatal(err)
	}
	if got := run("ride"); !strings.Contains(got, "building…") {
		t.Errorf("after a change: stderr %q lacks building…", got)
	}
}
