package main

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sigride/sigride/internal/ride"
	"github.com/sigride/sigride/internal/trace"
)

// runLauncher runs bin/launcher to its end and returns stdout, stderr and
// the exit code.
func runLauncher(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "launcher"), args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	code := exitCode(cmd.Run())
	return stdout.String(), stderr.String(), code
}

// langOf is the language a shipped scenario is written in: NAME.LANG.scenario.
func langOf(path string) string {
	name := strings.TrimSuffix(filepath.Base(path), ".scenario")
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		return name[i+1:]
	}
	return "zh"
}

// TestShippedScenarios runs every scenario in scripts/scenarios: each must
// hold.
func TestShippedScenarios(t *testing.T) {
	files, _ := filepath.Glob("../scripts/scenarios/*.scenario")
	if len(files) < 5 {
		t.Fatalf("only %d shipped scenarios", len(files))
	}
	for _, f := range files {
		if strings.HasPrefix(filepath.Base(f), "homework.") {
			continue // a program's: TestCheckHomework runs them
		}
		t.Run(filepath.Base(f), func(t *testing.T) {
			stdout, stderr, code := runLauncher(t, "--lang", langOf(f), "--scenario", f)
			if code != 0 {
				t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
			}
			if !strings.Contains(stdout, "step "+f+":") || strings.Contains(stdout, "FAILED") {
				t.Errorf("steps not reported as held:\n%s", stdout)
			}
		})
	}
}

// TestScenarioFails: the first step that does not hold ends the run with
// exit 1 and FILE:LINE: what was expected, what happened; the ride is
// stopped and reaped.
func TestScenarioFails(t *testing.T) {
	stdout, stderr, code := runLauncher(t, "--scenario", "testdata/fails.scenario")
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s\n%s", code, stdout, stderr)
	}
	want := `testdata/fails.scenario:4: expected driver "a line nobody prints" within 300ms; the driver printed nothing` + "\n"
	if stderr != want {
		t.Errorf("stderr %q\nwant   %q", stderr, want)
	}
	for _, w := range []string{"step testdata/fails.scenario:4 expect driver", "FAILED after", "reaped driver", "reaped conductor"} {
		if !strings.Contains(stdout, w) {
			t.Errorf("stdout lacks %q:\n%s", w, stdout)
		}
	}
	if strings.Contains(stdout, "fails.scenario:5") {
		t.Error("a step after the failure ran")
	}
}

// TestScenarioUnreadable: a file that cannot be read or parsed exits 2 with
// FILE:LINE: the problem, and no ride starts.
func TestScenarioUnreadable(t *testing.T) {
	for _, tc := range []struct{ file, want string }{
		{"testdata/bad.scenario", `testdata/bad.scenario:3: unknown step "fly" (want send, press, kill, sleep, expect or check)` + "\n"},
		{"testdata/missing.scenario", "testdata/missing.scenario: no such file or directory\n"},
	} {
		stdout, stderr, code := runLauncher(t, "--scenario", tc.file)
		if code != 2 || stderr != tc.want || stdout != "" {
			t.Errorf("%s: exit %d, stderr %q, stdout %q; want 2, %q, nothing", tc.file, code, stderr, stdout, tc.want)
		}
	}
}

// readTrace reads a trace file, failing the test on any schema error.
func readTrace(t *testing.T, path string) []trace.Event {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	events, err := trace.Read(f)
	if err != nil {
		t.Fatalf("trace: %v", err)
	}
	return events
}

// TestTrace checks a plain ride's trace: the schema (Read is strict), time
// order, and the events a plain ride must have, naming the right pids.
func TestTrace(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ride.jsonl")
	stdout, stderr, code := runLauncher(t, "--scenario", "../scripts/scenarios/plain-ride.zh.scenario", "--trace", path)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	events := readTrace(t, path)
	pids := map[string]int{}
	count := map[string]int{}
	for i, e := range events {
		if i > 0 && e.T < events[i-1].T {
			t.Errorf("event %d at %v after one at %v", i, e.T, events[i-1].T)
		}
		if old, ok := pids[e.Role]; ok && old != e.Pid {
			t.Errorf("%s has pids %d and %d", e.Role, old, e.Pid)
		}
		pids[e.Role] = e.Pid
		key := e.Role + " " + e.Event + " " + e.Signal + e.Text
		if e.Code != nil {
			key += fmt.Sprintf(" code=%d", *e.Code)
		}
		count[key]++
	}
	if events[0].Event != trace.Spawn || events[0].Role != "launcher" || events[0].T != 0 {
		t.Errorf("first event %+v, want the launcher's spawn at 0", events[0])
	}
	for _, want := range []string{
		"launcher spawn ", "conductor spawn ", "driver spawn ", "conductor ready ", "driver ready ",
		"launcher send SIGINT", "conductor receive SIGINT", "conductor send SIGUSR1", "driver receive SIGUSR1",
		"driver print 老司机开车了", "launcher send SIGQUIT", "conductor send SIGUSR2", "driver print 系好安全带，车速有点快",
		"launcher send SIGTSTP", "driver send SIGUSR1", "conductor receive SIGUSR1", "conductor print 到站了，请下车",
		"conductor exit  code=0", "driver exit  code=0", "conductor reap  code=0", "driver reap  code=0",
	} {
		if count[want] != 1 {
			t.Errorf("%d events %q, want 1", count[want], want)
		}
	}
	for _, e := range events {
		if e.Event == trace.Send && e.Signal == "SIGINT" && e.To != pids["conductor"] {
			t.Errorf("SIGINT sent to %d, the conductor is %d", e.To, pids["conductor"])
		}
	}
}

// TestBurstCounts: 100 SIGINTs sent back to back arrive between 1 and 100
// times; every arrival sends one SIGUSR1; every SIGUSR1 the driver gets
// prints one line. The trace proves it, run after run.
func TestBurstCounts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "burst.jsonl")
	stdout, stderr, code := runLauncher(t, "--scenario", "../scripts/scenarios/burst.zh.scenario", "--trace", path)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	n := map[string]int{}
	for _, e := range readTrace(t, path) {
		n[e.Role+" "+e.Event+" "+e.Signal+e.Text]++
	}
	sent, got := n["launcher send SIGINT"], n["conductor receive SIGINT"]
	if sent != 100 || got < 1 || got > 100 {
		t.Errorf("SIGINT: sent %d, received %d; want 100 and 1..100", sent, got)
	}
	if n["conductor send SIGUSR1"] != got {
		t.Errorf("conductor sent %d SIGUSR1 for %d SIGINTs", n["conductor send SIGUSR1"], got)
	}
	if r := n["driver receive SIGUSR1"]; r < 1 || r > got || n["driver print 老司机开车了"] != r {
		t.Errorf("driver: %d SIGUSR1 received of %d, %d lines", r, got, n["driver print 老司机开车了"])
	}
	if !strings.Contains(stdout, fmt.Sprintf("SIGINT to conductor[%d]: sent 100, received %d", pidOf(stdout, "conductor"), got)) {
		t.Errorf("summary does not count the burst:\n%s", stdout)
	}
}

// pidOf finds a role's pid in the launcher's ready line.
func pidOf(stdout, role string) int {
	m := readyRE.FindStringSubmatch(stdout)
	if m == nil {
		return 0
	}
	var pid int
	fmt.Sscan(map[string]string{"driver": m[1], "conductor": m[2]}[role], &pid)
	return pid
}

// TestDiagrams: --diagram writes SVG or Mermaid; "launcher diagram" renders
// the saved trace to the same bytes; the SVG parses as XML and names every
// role and signal.
func TestDiagrams(t *testing.T) {
	dir := t.TempDir()
	tr, svg, mmd := filepath.Join(dir, "t.jsonl"), filepath.Join(dir, "d.svg"), filepath.Join(dir, "d.mmd")
	if _, stderr, code := runLauncher(t, "--scenario", "../scripts/scenarios/plain-ride.zh.scenario",
		"--trace", tr, "--diagram", svg); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	again := filepath.Join(dir, "again.svg")
	if _, stderr, code := runLauncher(t, "diagram", tr, "-o", again); code != 0 {
		t.Fatalf("diagram: exit %d: %s", code, stderr)
	}
	if _, stderr, code := runLauncher(t, "diagram", tr, "-o", mmd); code != 0 {
		t.Fatalf("diagram: exit %d: %s", code, stderr)
	}
	a, _ := os.ReadFile(svg)
	b, _ := os.ReadFile(again)
	if !bytes.Equal(a, b) {
		t.Error("launcher diagram renders the saved trace differently from --diagram")
	}
	var texts []string
	dec := xml.NewDecoder(bytes.NewReader(a))
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not XML: %v", err)
		}
		if cd, ok := tok.(xml.CharData); ok {
			texts = append(texts, string(cd))
		}
	}
	all := strings.Join(texts, "\n")
	for _, w := range []string{"launcher", "conductor", "driver", "SIGINT", "SIGQUIT", "SIGTSTP", "SIGUSR1", "SIGUSR2", "老司机开车了"} {
		if !strings.Contains(all, w) {
			t.Errorf("SVG lacks %q", w)
		}
	}
	m, _ := os.ReadFile(mmd)
	if !strings.HasPrefix(string(m), "sequenceDiagram\n") || !strings.Contains(string(m), ": SIGUSR2 (") {
		t.Errorf("Mermaid:\n%s", m)
	}
}

// TestDiagramUsage: bad diagram command lines exit 2, a bad trace exits 1,
// and nothing is written.
func TestDiagramUsage(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.jsonl")
	os.WriteFile(bad, []byte(`{"t":0,"pid":1,"role":"x","event":"dance"}`+"\n"), 0o644)
	out := filepath.Join(dir, "out.svg")
	for _, tc := range []struct {
		args   []string
		code   int
		stderr string
	}{
		{[]string{"--diagram", "x.png"}, 2, "--diagram x.png: the name must end in .svg or .mmd"},
		{[]string{"diagram"}, 2, "want one trace file, got 0 arguments"},
		{[]string{"diagram", bad}, 2, "-o FILE is required"},
		{[]string{"diagram", bad, "-o", "x.pdf"}, 2, "the name must end in .svg or .mmd"},
		{[]string{"diagram", bad, "-o", out}, 1, `line 1: unknown event "dance"`},
		{[]string{"diagram", filepath.Join(dir, "none.jsonl"), "-o", out}, 1, "no such file"},
	} {
		_, stderr, code := runLauncher(t, tc.args...)
		if code != tc.code || !strings.Contains(stderr, tc.stderr) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", tc.args, code, stderr, tc.code, tc.stderr)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("files left: %v", ents)
	}
}

// TestTraceInTerminal: the trace works in a terminal, with no scenario:
// the keys arrive from outside (no send event before them).
func TestTraceInTerminal(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tty.jsonl")
	r, tty := startInTerminal(t, "--trace", path, "--lang", "en")
	tty.Write([]byte("\x03"))
	r.expect("sets off")
	tty.Write([]byte("\x1a"))
	r.expect("reaped driver")
	if code := r.wait(); code != 0 {
		t.Fatalf("exit %d\n%s", code, r.transcript())
	}
	n := map[string]int{}
	for _, e := range readTrace(t, path) {
		n[e.Role+" "+e.Event+" "+e.Signal]++
	}
	if n["conductor receive SIGINT"] != 1 || n["launcher send SIGINT"] != 0 || n["driver receive SIGTSTP"] != 1 {
		t.Errorf("trace of a terminal ride: %v", n)
	}
}

// TestTraceCausal: in a scenario every signal comes from a process of the
// ride, so every receive must have a send of that signal to that process at
// or before it. Stamps taken in different processes must agree for that.
func TestTraceCausal(t *testing.T) {
	for i := 0; i < 10; i++ {
		path := filepath.Join(t.TempDir(), "ride.jsonl")
		if _, stderr, code := runLauncher(t, "--scenario", "../scripts/scenarios/rush-hour.zh.scenario", "--trace", path); code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		events := readTrace(t, path)
		for j, e := range events {
			if e.Event != trace.Receive {
				continue
			}
			found := false
			for _, s := range events[:j] {
				if s.Event == trace.Send && s.Signal == e.Signal && s.To == e.Pid {
					found = true
				}
			}
			if !found {
				t.Fatalf("run %d: %s receives %s at %.6fs with no send before it", i, e.Role, e.Signal, e.T)
			}
		}
	}
}

// TestSummarySingular: a line printed once is counted "1 time" in the
// summary, not "1 times".
func TestSummarySingular(t *testing.T) {
	stdout, stderr, code := runLauncher(t, "--lang", "en", "--scenario", "../scripts/scenarios/plain-ride.en.scenario")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	if want := `summary: driver printed "The old driver sets off" 1 time` + "\n"; !strings.Contains(stdout, want) {
		t.Errorf("summary lacks %q:\n%s", want, stdout)
	}
}

// TestSummaryLauncherSignalled: a signal a scenario sends the launcher is
// one the launcher receives itself, and the summary counts it so.
func TestSummaryLauncherSignalled(t *testing.T) {
	stdout, stderr, code := runLauncher(t, "--scenario", "testdata/stop-launcher.scenario")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	_, pid, _, err := ride.ParseLine(strings.SplitN(stdout, "\n", 2)[0])
	if err != nil {
		t.Fatalf("first line: %v\n%s", err, stdout)
	}
	if want := fmt.Sprintf("launcher[%d]: summary: SIGTERM to launcher[%d]: sent 1, received 1\n", pid, pid); !strings.Contains(stdout, want) {
		t.Errorf("summary lacks %q:\n%s", want, stdout)
	}
}

// TestPressOwnGroup: press sends a key to the ride's whole process group,
// as a terminal does, and to nothing else. Started in this test's group,
// the launcher makes one of its own first: this process, which would die
// of the ^C or stop on the ^Z, hears none of the keys.
func TestPressOwnGroup(t *testing.T) {
	keys := make(chan os.Signal, 8)
	signal.Notify(keys, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGTSTP)
	defer signal.Stop(keys)
	stdout, stderr, code := runLauncher(t, "--lang", "en", "--scenario", "../scripts/scenarios/keys.en.scenario")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	// The keys were sent long before the launcher ended; os/signal hands
	// one on within microseconds: a bounded look for what must not come.
	select {
	case s := <-keys:
		t.Errorf("the test's own process got %v", s)
	case <-time.After(200 * time.Millisecond):
	}
}
