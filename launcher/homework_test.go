package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/sigride/sigride/internal/proctest"
	"github.com/sigride/sigride/internal/scenario"
)

// checkHomework runs scripts/check-homework on cmd and returns its
// report, its stderr and its exit code; the report and the diagram are
// written in a folder of the test's, and the diagram must be there.
func checkHomework(t *testing.T, lang string, cmd ...string) (string, string, int) {
	t.Helper()
	return checkHomeworkIn(t, t.TempDir(), nil, lang, cmd...)
}

// checkHomeworkIn is checkHomework with its folder, and more environment.
func checkHomeworkIn(t *testing.T, out string, env []string, lang string, cmd ...string) (string, string, int) {
	t.Helper()
	c := exec.Command("../scripts/check-homework", append([]string{"--lang", lang, "--out", out}, cmd...)...)
	c.Env = append(append(c.Environ(), "SIGRIDE_BIN="+binDir), env...)
	var stdout, stderr strings.Builder
	c.Stdout, c.Stderr = &stdout, &stderr
	code := exitCode(c.Run())
	if code <= 1 {
		saved, err := os.ReadFile(filepath.Join(out, "homework.report"))
		if err != nil || string(saved) != stdout.String() {
			t.Errorf("homework.report %q (%v), printed %q", saved, err, stdout.String())
		}
		// A launcher ended by a signal draws nothing.
		killed := strings.Contains(stdout.String(), ": the launcher was ended by signal") ||
			strings.Contains(stdout.String(), ": the ride took longer than")
		if svg, err := os.ReadFile(filepath.Join(out, "homework.svg")); !killed && (err != nil || !strings.HasPrefix(string(svg), "<svg")) {
			t.Errorf("no diagram beside the report: %v", err)
		}
	}
	return stdout.String(), stderr.String(), code
}

// requirements are the check texts of homework.LANG.scenario, in order.
func requirements(t *testing.T, lang string) []string {
	t.Helper()
	steps, err := readScenario("../scripts/scenarios/homework." + lang + ".scenario")
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	for _, s := range steps {
		if s.Kind == scenario.Check {
			texts = append(texts, s.Text)
		}
	}
	return texts
}

// report is the report of a program that passes every requirement but
// those in failed, which fail with their reason.
func report(t *testing.T, lang string, failed map[int]string) string {
	var b strings.Builder
	for i, text := range requirements(t, lang) {
		if why, ok := failed[i]; ok {
			fmt.Fprintf(&b, "FAIL %s: %s\n", text, why)
		} else {
			fmt.Fprintf(&b, "PASS %s\n", text)
		}
	}
	return b.String()
}

// zh is the reference program in Python with the exercise's lines in
// Chinese, for homework.zh.scenario.
func zh(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../scripts/homework/ride.py")
	if err != nil {
		t.Fatal(err)
	}
	src := strings.NewReplacer(
		`"The old driver sets off"`, `"老司机开车了"`,
		`"Fasten your seat belts, we are going a bit fast"`, `"系好安全带，车速有点快"`,
		`"We have arrived, please get off"`, `"到站了，请下车"`,
	).Replace(string(b))
	if !strings.Contains(src, "老司机开车了") || !strings.Contains(src, "系好安全带") || !strings.Contains(src, "到站了") {
		t.Fatal("ride.py's lines are not where the test looks for them")
	}
	p := filepath.Join(t.TempDir(), "ride-zh.py")
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestCheckHomework: the reference programs pass every requirement, in
// both languages, exit 0, with the report saved and the diagram beside
// it.
func TestCheckHomework(t *testing.T) {
	progs := homework(t)
	progs["ride.py, zh"] = []string{proctest.Python(t), zh(t)}
	for name, cmd := range progs {
		t.Run(name, func(t *testing.T) {
			lang := "en"
			if strings.HasSuffix(name, "zh") {
				lang = "zh"
			}
			got, stderr, code := checkHomework(t, lang, cmd...)
			if want := report(t, lang, nil); code != 0 || got != want {
				t.Errorf("exit %d, report:\n%s\nwant:\n%s\nstderr: %s", code, got, want, stderr)
			}
		})
	}
}

// TestCheckHomeworkUsage: no command or a language it does not know is a
// usage error (2); a command that cannot be run is no report (1).
func TestCheckHomeworkUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{nil, 2, "check-homework: which program? give its command"},
		{[]string{"--lang", "fr", "true"}, 2, "check-homework: --lang fr: want zh or en"},
		{[]string{"--bogus", "true"}, 2, "check-homework: unknown flag --bogus"},
		{[]string{"no-such-program-here"}, 1, "launcher: start no-such-program-here"},
	} {
		c := exec.Command("../scripts/check-homework", append([]string{"--out", t.TempDir()}, tc.args...)...)
		c.Env = append(c.Environ(), "SIGRIDE_BIN="+binDir)
		out, err := c.CombinedOutput()
		if code := exitCode(err); code != tc.code || !strings.Contains(string(out), tc.want) {
			t.Errorf("check-homework %q: exit %d, %q; want %d, %q", tc.args, code, out, tc.code, tc.want)
		}
	}
}

// TestCheckHomeworkMistakes: each program under scripts/homework/mistakes,
// as students write them, gets its exact report and exit 1.
func TestCheckHomeworkMistakes(t *testing.T) {
	for _, tc := range []struct {
		file   string
		failed map[int]string // requirement (0-based) -> what happened
	}{
		{"parent-conductor.py", map[int]string{
			5: "the driver was left an orphan: its parent, the conductor, ended without waiting for it, and the launcher reaped it",
		}},
		{"never-waits.py", map[int]string{
			5: "the conductor stayed a zombie until its parent, the driver, ended without waiting for it; left an orphan, it was reaped by the launcher",
		}},
		{"driver-killed.py", map[int]string{
			0: "the driver printed nothing; it was killed by SIGINT, which it had no handler for",
			1: "the driver printed nothing; it was killed by SIGINT, which it had no handler for",
			2: "the conductor printed nothing; it was ended by the launcher (SIGTERM), which stopped the ride: driver ended on its own (signal=INT)",
			3: "the driver got off first (it was killed by SIGINT, which it had no handler for), with the conductor still aboard",
			4: "^C (SIGINT) killed the driver: a key reaches every process of the terminal, so the driver must ignore SIGINT or handle it",
			5: "the launcher stopped the ride (driver ended on its own (signal=INT)) before the conductor got off",
			6: "it was killed by SIGINT, which it had no handler for",
		}},
		{"conductor-stopped.py", map[int]string{
			2: "the conductor printed nothing; it was stopped by SIGTSTP",
			3: "the launcher stopped the ride (conductor stopped by SIGTSTP) before either got off",
			4: "^Z (SIGTSTP) stopped the conductor: a key reaches every process of the terminal, so the conductor must ignore SIGTSTP or handle it",
			5: "the launcher stopped the ride (conductor stopped by SIGTSTP) before the conductor got off",
			6: "it was ended by the launcher (SIGTERM), which stopped the ride: conductor stopped by SIGTSTP",
		}},
		{"driver-first.py", map[int]string{
			2: "the conductor printed nothing; it was ended by the launcher (SIGTERM), which stopped the ride: driver got off with the conductor still aboard",
			3: "the driver got off first, with the conductor still aboard",
			5: "the launcher stopped the ride (driver got off with the conductor still aboard) before the conductor got off",
		}},
		{"late-handler.py", map[int]string{
			0: "the driver printed nothing; it was killed by SIGUSR1, which it had no handler for",
			1: "the driver printed nothing; it was killed by SIGUSR1, which it had no handler for",
			2: "the conductor printed nothing; it was ended by the launcher (SIGTERM), which stopped the ride: driver ended on its own (signal=USR1)",
			3: "the driver got off first (it was killed by SIGUSR1, which it had no handler for), with the conductor still aboard",
			5: "the launcher stopped the ride (driver ended on its own (signal=USR1)) before the conductor got off",
			6: "it was killed by SIGUSR1, which it had no handler for",
		}},
		{"exits-at-once.py", func() map[int]string {
			m := map[int]string{}
			for i := range 7 {
				m[i] = "the program ended (exit=0) before its roles were recognised"
			}
			return m
		}()},
	} {
		t.Run(tc.file, func(t *testing.T) {
			got, stderr, code := checkHomework(t, "en", proctest.Python(t), "../scripts/homework/mistakes/"+tc.file)
			if want := report(t, "en", tc.failed); code != 1 || got != want {
				t.Errorf("exit %d, report:\n%s\nwant:\n%s\nstderr: %s", code, got, want, stderr)
			}
		})
	}
}

// TestCheckHomeworkHostile: programs no student means to write, and a
// folder with traps in it. A process left running once the ride is over
// fails the reaping requirement; a program that kills its whole process
// group, the launcher with it, fails every requirement, saying so; roles
// never recognised give a report with no pid in it; a report or diagram
// name that is a symlink is refused, its target untouched.
func TestCheckHomeworkHostile(t *testing.T) {
	py := proctest.Python(t)
	t.Run("left running", func(t *testing.T) {
		got, stderr, code := checkHomework(t, "en", "sh", "-c", `trap "" INT QUIT TSTP; (sleep 60) & exec "$0" ../scripts/homework/ride.py`, py)
		want := report(t, "en", map[int]string{
			5: "another process of the program was still running when the ride was over: its parent, the driver, did not wait for it; the launcher stopped it",
		})
		if code != 1 || got != want {
			t.Errorf("exit %d, report:\n%s\nwant:\n%s\nstderr: %s", code, got, want, stderr)
		}
	})
	allFail := func(why string) string {
		failed := map[int]string{}
		for i := range requirements(t, "en") {
			failed[i] = why
		}
		return report(t, "en", failed)
	}
	t.Run("kills its group", func(t *testing.T) {
		got, stderr, code := checkHomework(t, "en", "sh", "-c", "kill -KILL 0")
		want := allFail("the launcher was ended by signal 9 (KILL): the program signalled its process group, or its parent")
		if code != 1 || got != want {
			t.Errorf("exit %d, report:\n%s\nwant:\n%s\nstderr: %s", code, got, want, stderr)
		}
	})
	t.Run("forges its report", func(t *testing.T) {
		// It writes an all-PASS report where the launcher would, then
		// kills the launcher, its parent, before it writes its own.
		out := t.TempDir()
		forged := filepath.Join(out, "homework.report")
		got, stderr, code := checkHomeworkIn(t, out, nil, "en", "sh", "-c", `printf 'PASS all\n' >"$0"; kill -KILL $PPID`, forged)
		want := allFail("the launcher was ended by signal 9 (KILL): the program signalled its process group, or its parent")
		if code != 1 || got != want {
			t.Errorf("exit %d, report:\n%s\nwant:\n%s\nstderr: %s", code, got, want, stderr)
		}
	})
	t.Run("stops the launcher", func(t *testing.T) {
		got, stderr, code := checkHomeworkIn(t, t.TempDir(), []string{"CHECK_HOMEWORK_LIMIT=2"}, "en", "sh", "-c", "kill -STOP $PPID; sleep 60")
		want := allFail("the ride took longer than 2s: the launcher was stopped (a program that stops or holds it, or never ends)")
		if code != 1 || got != want {
			t.Errorf("exit %d, report:\n%s\nwant:\n%s\nstderr: %s", code, got, want, stderr)
		}
	})
	t.Run("both roles in one", func(t *testing.T) {
		got, _, code := checkHomework(t, "en", "sh", "-c", "trap : INT QUIT TSTP; sleep 10 & wait")
		if code != 1 || strings.Count(got, "FAIL ") != 7 || regexp.MustCompile(`\d{3,}`).MatchString(got) ||
			!strings.Contains(got, ": the ride's roles not recognised after 5s: a process handles both roles' keys") {
			t.Errorf("exit %d, report with a pid, or not the reason:\n%s", code, got)
		}
	})
	t.Run("symlink planted", func(t *testing.T) {
		dir := t.TempDir()
		victim := filepath.Join(dir, "victim")
		os.WriteFile(victim, []byte("mine\n"), 0o644)
		out := filepath.Join(dir, "out")
		os.Mkdir(out, 0o755)
		os.Symlink(victim, filepath.Join(out, "homework.svg"))
		c := exec.Command("../scripts/check-homework", "--out", out, py, "../scripts/homework/ride.py")
		c.Env = append(c.Environ(), "SIGRIDE_BIN="+binDir)
		b, err := c.CombinedOutput()
		if code := exitCode(err); code != 1 || !strings.Contains(string(b), "homework.svg is not a plain file: refusing to replace it") {
			t.Errorf("exit %d: %s", code, b)
		}
		if got, _ := os.ReadFile(victim); string(got) != "mine\n" {
			t.Errorf("the symlink's target was written: %q", got)
		}
	})
}
