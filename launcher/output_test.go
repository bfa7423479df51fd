package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/sigride/sigride/internal/proctest"
	"github.com/sigride/sigride/internal/trace"
)

// TestOutputsNeverReplaced: --trace, --diagram and "diagram -o" follow
// atomicfile's rule: a device is written into, not replaced by a file; a
// FIFO with no reader is a clear error, not a wait; a pid file planted as
// a symlink is refused and its target left whole.
func TestOutputsNeverReplaced(t *testing.T) {
	dir := t.TempDir()
	const ride = "../scripts/scenarios/plain-ride.zh.scenario"
	tr := filepath.Join(dir, "t.jsonl")
	devSVG := proctest.NullDevice(t, filepath.Join(dir, "d.svg"))
	if _, stderr, code := runLauncher(t, "--scenario", ride, "--trace", tr, "--diagram", devSVG); code != 0 {
		t.Fatalf("--diagram into a device: exit %d: %s", code, stderr)
	}
	proctest.IsType(t, devSVG, os.ModeDevice|os.ModeCharDevice)

	devTrace := proctest.NullDevice(t, filepath.Join(dir, "trace"))
	if _, stderr, code := runLauncher(t, "--scenario", ride, "--trace", devTrace); code != 0 {
		t.Fatalf("--trace into a device: exit %d: %s", code, stderr)
	}
	proctest.IsType(t, devTrace, os.ModeDevice|os.ModeCharDevice)

	if _, stderr, code := runLauncher(t, "diagram", tr, "-o", devSVG); code != 0 {
		t.Fatalf("diagram -o a device: exit %d: %s", code, stderr)
	}
	proctest.IsType(t, devSVG, os.ModeDevice|os.ModeCharDevice)

	fifo := filepath.Join(dir, "f.svg")
	unix.Mkfifo(fifo, 0o644)
	_, stderr, code := runLauncher(t, "diagram", tr, "-o", fifo)
	if code != 1 || !strings.Contains(stderr, "a FIFO with no reader") {
		t.Errorf("diagram -o a FIFO with no reader: exit %d %q", code, stderr)
	}
	proctest.IsType(t, fifo, os.ModeNamedPipe)

	if ents, _ := os.ReadDir(dir); len(ents) != 4 {
		t.Errorf("left: %v", ents)
	}
}

// TestRunDirPidSymlink: a pid file planted in --run-dir as a symlink is
// refused, the ride does not start, and the symlink's target stays whole.
func TestRunDirPidSymlink(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(dir, "victim")
	os.WriteFile(victim, []byte("keep me\n"), 0o644)
	run := filepath.Join(dir, "run")
	os.Mkdir(run, 0o755)
	for _, name := range []string{"launcher.pid", "driver.pid", "conductor.pid"} {
		os.Symlink(victim, filepath.Join(run, name))
	}
	_, stderr, code := runLauncher(t, "--scenario", "../scripts/scenarios/plain-ride.zh.scenario", "--run-dir", run)
	if code == 0 || !strings.Contains(stderr, "not a regular file: refused") {
		t.Errorf("exit %d %q, want a refusal", code, stderr)
	}
	if b, _ := os.ReadFile(victim); string(b) != "keep me\n" {
		t.Errorf("the planted symlink's target now holds %q", b)
	}
}

// TestBounds: what a program's output can make the launcher keep is
// bounded: the trace's events (maxEvents, the rest counted), and each
// role's lines a scenario looks through (maxLines, the oldest forgotten,
// the cursor kept on the same line).
func TestBounds(t *testing.T) {
	r := &recorder{}
	for range maxEvents + 10 {
		r.add(0, 1, "driver", trace.Print).Text = "spam"
	}
	if len(r.events) != maxEvents || r.dropped != 10 {
		t.Errorf("%d events kept, %d dropped; want %d, 10", len(r.events), r.dropped, maxEvents)
	}
	run := &runner{in: newInbox(), lines: map[string][]string{}, cursor: map[string]int{}}
	for i := range 2 * maxLines {
		run.in.push(observation{role: "driver", text: fmt.Sprint(i)})
	}
	run.absorb()
	run.cursor["driver"] = 15000 // an expect matched the line before
	run.in.push(observation{role: "driver", text: "one more"})
	run.absorb()
	lines := run.lines["driver"]
	if len(lines) != maxLines {
		t.Errorf("%d lines kept, want %d", len(lines), maxLines)
	}
	if c := run.cursor["driver"]; c < 0 || c >= len(lines) || lines[c] != "15000" {
		t.Errorf("the cursor moved off its line")
	}
}
