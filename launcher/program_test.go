package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sigride/sigride/internal/proctest"
	"github.com/sigride/sigride/internal/ptrace"
	"github.com/sigride/sigride/internal/supervise"
	"github.com/sigride/sigride/internal/trace"
)

// homework builds and names the shipped reference programs: one program
// that forks, the parent the driver (scripts/homework).
func homework(t *testing.T) map[string][]string {
	t.Helper()
	progs := map[string][]string{"ride.py": {proctest.Python(t), "../scripts/homework/ride.py"}}
	for _, c := range []string{"ride.c", "ride-sigaction.c"} {
		bin := filepath.Join(t.TempDir(), strings.TrimSuffix(c, ".c"))
		if out, err := exec.Command("gcc", "-Wall", "-Werror", "-o", bin, "../scripts/homework/"+c).CombinedOutput(); err != nil {
			t.Fatalf("gcc %s: %v\n%s", c, err, out)
		}
		progs[c] = []string{bin}
	}
	return progs
}

// TestOwnProgram: a program of the user's as the ride (launcher -- CMD):
// its roles recognised by what they handle, the ready line naming them,
// and the keys pressed by a scenario reaching it as from a terminal; its
// lines, the conductor's exit first, the driver reaped by the launcher.
func TestOwnProgram(t *testing.T) {
	for name, cmd := range homework(t) {
		t.Run(name, func(t *testing.T) {
			args := append([]string{"--lang", "en", "--scenario", "../scripts/scenarios/keys.en.scenario", "--"}, cmd...)
			stdout, stderr, code := runLauncher(t, args...)
			if code != 0 {
				t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
			}
			m := regexp.MustCompile(`launcher\[\d+\]: ready driver=(\d+) conductor=(\d+)`).FindStringSubmatch(stdout)
			if m == nil {
				t.Fatalf("no ready line:\n%s", stdout)
			}
			for _, want := range []string{
				"\nThe old driver sets off\n",
				"\nWe have arrived, please get off\n",
				fmt.Sprintf("reaped driver pid=%s exit=0", m[1]),
			} {
				if !strings.Contains(stdout, want) {
					t.Errorf("stdout lacks %q:\n%s", want, stdout)
				}
			}
			if strings.Contains(stdout, "reaped conductor") {
				t.Errorf("the conductor is its parent's to reap, not the launcher's:\n%s", stdout)
			}
		})
	}
}

// TestOwnProgramStopped: SIGTERM to the launcher stops every process of
// the program, not only the one it started, and exits 143.
func TestOwnProgramStopped(t *testing.T) {
	r := startRide(t, nil, "--lang", "en", "--", proctest.Python(t), "../scripts/homework/ride.py")
	r.kill(r.cmd.Process.Pid, syscall.SIGTERM)
	r.expect(fmt.Sprintf("reaped driver pid=%d signal=TERM", r.Driver))
	if code := r.wait(); code != 143 {
		t.Fatalf("exit %d, want 143\n%s", code, r.transcript())
	}
	if processAlive(r.Conductor) {
		t.Errorf("the conductor %d outlived the ride", r.Conductor)
	}
}

// TestOwnProgramWrong: programs that are no ride say why, exit 1, and
// leave nothing behind. Not recognised in time: every process described,
// signal by signal, and what is missing.
func TestOwnProgramWrong(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"exits at once", []string{"--", "true"}, []string{
			"launcher: the program ended (exit=0) before its roles were recognised",
		}},
		{"handles nothing", []string{"--ready-timeout", "300ms", "--", "sleep", "10"}, []string{
			"launcher:   pid ", "/sleep 10: INT default, QUIT default, TSTP default, USR1 default, USR2 default",
			"launcher: the ride's roles not recognised after 300ms: no conductor (a process that handles SIGINT and SIGQUIT: caught or blocked); no driver (a process that handles SIGTSTP: caught or blocked)",
		}},
		{"one process, both roles", []string{"--ready-timeout", "300ms", "--", "sh", "-c", "trap : INT QUIT TSTP; sleep 10 & wait"}, []string{
			"handles both roles' keys (SIGINT and SIGQUIT, and SIGTSTP)",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := runLauncher(t, tc.args...)
			if code != 1 {
				t.Fatalf("exit %d, want 1\n%s\n%s", code, stdout, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
		})
	}
}

// TestOwnProgramUsage: -- with no command is a usage error (2); a command
// not in PATH cannot be started (1).
func TestOwnProgramUsage(t *testing.T) {
	if _, stderr, code := runLauncher(t, "--"); code != 2 || !strings.Contains(stderr, "-- takes a command") {
		t.Errorf("launcher --: exit %d, %q", code, stderr)
	}
	if _, stderr, code := runLauncher(t, "--", "no-such-program-here"); code != 1 || !strings.Contains(stderr, "start no-such-program-here") {
		t.Errorf("launcher -- no-such-program-here: exit %d, %q", code, stderr)
	}
	if _, stderr, code := runLauncher(t, "--driver", "x", "--", "true"); code != 2 || !strings.Contains(stderr, "not with -- CMD") {
		t.Errorf("launcher --driver x -- true: exit %d, %q", code, stderr)
	}
}

// TestOwnProgramForksOnStop: a program that ignores SIGTERM and goes on
// forking while the ride is stopped: past --grace every process is sent
// SIGKILL, again while any is left and each new one at once, so the
// launcher ends (exit 1: no roles) and leaves nothing behind.
func TestOwnProgramForksOnStop(t *testing.T) {
	const marker = "sleep 97.5" // no other process runs that
	// A chain: each process makes the next, 3 ms on, then sleeps.
	script := `trap "" TERM; sleep 0.003; sh -c "$0" "$0" & exec ` + marker
	endsAlone(t, exec.Command(filepath.Join(binDir, "launcher"), "--ready-timeout", "300ms", "--grace", "300ms", "--", "sh", "-c", script, script),
		30*time.Second, marker)
}

// endsAlone runs cmd, a launcher, and wants it to end within limit, exit
// 1, no process whose command line holds marker left running.
func endsAlone(t *testing.T, cmd *exec.Cmd, limit time.Duration, marker string) {
	t.Helper()
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if code := exitCode(err); code != 1 {
			t.Errorf("exit %d, want 1", code)
		}
	case <-time.After(limit):
		cmd.Process.Kill()
		<-done
		t.Fatalf("the launcher did not end within %v", limit)
	}
	for _, p := range procs() {
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p.pid)); err == nil && strings.Contains(strings.ReplaceAll(string(b), "\x00", " "), marker) {
			t.Errorf("pid %d (%s) outlived the ride", p.pid, marker)
		}
	}
}

// TestOwnProgramUnderShell: the roles need not be the process the
// launcher starts: under a shell that runs the program (and ignores the
// keys, which reach it too), they are found one level down (the
// conductor a grandchild), and keys.en.scenario holds as is.
func TestOwnProgramUnderShell(t *testing.T) {
	stdout, stderr, code := runLauncher(t, "--lang", "en", "--scenario", "../scripts/scenarios/keys.en.scenario",
		"--", "sh", "-c", `trap "" INT QUIT TSTP; "$0" ../scripts/homework/ride.py; exit $?`, proctest.Python(t))
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	// The shell is reaped by the launcher, as "program": its last step
	// held, the scenario stops what is still aboard.
	if !regexp.MustCompile(`reaped program pid=\d+ (exit=0|signal=TERM)`).MatchString(stdout) {
		t.Errorf("no reaped line for the shell the launcher started:\n%s", stdout)
	}
}

// TestOwnProgramOrphan: a common mistake, the parent as conductor
// (scripts/homework/mistakes/parent-conductor.py). It gets off first, as
// it should, and leaves its child, the driver, an orphan: re-parented to
// the launcher, a subreaper, which lets it get off in its turn and reaps
// it: both reaped lines are the launcher's, where a right program has the
// driver reap the conductor.
func TestOwnProgramOrphan(t *testing.T) {
	stdout, stderr, code := runLauncher(t, "--lang", "en", "--scenario", "../scripts/scenarios/keys.en.scenario",
		"--", proctest.Python(t), "../scripts/homework/mistakes/parent-conductor.py")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	m := regexp.MustCompile(`ready driver=(\d+) conductor=(\d+)`).FindStringSubmatch(stdout)
	if m == nil {
		t.Fatalf("no ready line:\n%s", stdout)
	}
	for _, want := range []string{
		fmt.Sprintf("reaped conductor pid=%s exit=0", m[2]),
		fmt.Sprintf("reaped driver pid=%s exit=0", m[1]),
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	if strings.Index(stdout, "reaped conductor") > strings.Index(stdout, "reaped driver") {
		t.Errorf("the driver reaped before the conductor:\n%s", stdout)
	}
}

// TestOwnProgramTrace: a program's ride in --trace: each process under
// its role, who forked whom, each key from a key with what each process
// did with it, each signal of the ride from its real sender, the lines
// where they were printed, the conductor reaped by the driver, the driver
// by the launcher; and the diagram drawn from it.
func TestOwnProgramTrace(t *testing.T) {
	for name, cmd := range homework(t) {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			tr, svg := filepath.Join(dir, "t.jsonl"), filepath.Join(dir, "d.svg")
			args := append([]string{"--lang", "en", "--scenario", "../scripts/scenarios/keys.en.scenario",
				"--trace", tr, "--diagram", svg, "--"}, cmd...)
			stdout, stderr, code := runLauncher(t, args...)
			if code != 0 {
				t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
			}
			events := readTrace(t, tr)
			m := regexp.MustCompile(`ready driver=(\d+) conductor=(\d+)`).FindStringSubmatch(stdout)
			if m == nil {
				t.Fatalf("no ready line:\n%s", stdout)
			}
			d, c := atoi(t, m[1]), atoi(t, m[2])
			var got []string
			for _, e := range events {
				if e.Pid != d && e.Pid != c || e.Event == trace.Exec || e.Signal == "SIGCHLD" {
					continue
				}
				s := e.Role + " " + e.Event + " " + e.Signal + e.Text
				switch {
				case e.Event == trace.Spawn && e.Parent == d:
					s += " by the driver"
				case e.Event == trace.Receive && e.Sender != "":
					s += " from a " + e.Sender + ": " + e.Fate
				case e.Event == trace.Receive && (e.From == c && e.Role == "driver" || e.From == d && e.Role == "conductor"):
					s += " from its peer: " + e.Fate
				case e.Event == trace.Send && (e.To == c || e.To == d):
					s += " to its peer"
				case (e.Event == trace.Exit || e.Event == trace.Reap) && e.Code != nil:
					s += fmt.Sprintf(" %d", *e.Code)
				}
				if e.Event == trace.Reap && e.By == d {
					s += " by the driver"
				}
				if e.Event == trace.Reap && e.Zombie == nil {
					s += " (no zombie time)"
				}
				got = append(got, s)
			}
			text := strings.Join(got, "\n")
			for _, w := range []string{
				"conductor spawn  by the driver",
				"conductor receive SIGINT from a key: ",
				"driver receive SIGINT from a key: ",
				"conductor send SIGUSR1 to its peer",
				"driver print The old driver sets off",
				"driver receive SIGTSTP from a key: ",
				"conductor receive SIGTSTP from a key: ",
				"driver send SIGUSR1 to its peer",
				"conductor print We have arrived, please get off",
				"conductor exit  0",
				"conductor reap  0 by the driver",
				"driver exit  0",
				"driver reap  0",
			} {
				if !strings.Contains(text, w) {
					t.Errorf("trace lacks %q:\n%s", w, text)
				}
			}
			if b, err := os.ReadFile(svg); err != nil || !strings.Contains(string(b), "SIGTSTP (^Z)") {
				t.Errorf("diagram: %v, no ^Z arrow", err)
			}
		})
	}
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestOwnProgramLeavesOrphan: a process the program made and never waited
// for (here a subshell the driver inherits from the shell that exec'd it,
// which exits 3 at once) stays a zombie while its
// parent lives, then is re-parented to the launcher, a subreaper, which
// reaps it and says so: reaped orphan pid=PID exit=3. The check names it
// in its report.
func TestOwnProgramLeavesOrphan(t *testing.T) {
	cmd := []string{"sh", "-c", `trap "" INT QUIT TSTP; (exit 3) & exec "$0" ../scripts/homework/ride.py`, proctest.Python(t)}
	stdout, stderr, code := runLauncher(t, append([]string{"--lang", "en", "--scenario", "../scripts/scenarios/keys.en.scenario", "--"}, cmd...)...)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	if !regexp.MustCompile(`launcher\[\d+\]: reaped orphan pid=\d+ exit=3\n`).MatchString(stdout) {
		t.Errorf("no reaped orphan line:\n%s", stdout)
	}
	got, stderr, code := checkHomework(t, "en", cmd...)
	want := report(t, "en", map[int]string{
		5: "another process of the program stayed a zombie until its parent, the driver, ended without waiting for it; left an orphan, it was reaped by the launcher",
	})
	if code != 1 || got != want {
		t.Errorf("exit %d, report:\n%s\nwant:\n%s\nstderr: %s", code, got, want, stderr)
	}
}

// TestOwnProgramUntraced: a child made with CLONE_UNTRACED escapes the
// tracer; once its parent is gone it is the launcher's, which cannot end
// while it runs (the tracer waits for every child). Stopping the ride
// stops it too, SIGKILL past --grace when it ignores SIGTERM: the launcher
// ends, and leaves it not running.
func TestOwnProgramUntraced(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "untraced")
	if out, err := exec.Command("gcc", "-Wall", "-Werror", "-o", bin, "testdata/untraced.c").CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	stdout, stderr, code := runLauncher(t, "--ready-timeout", "1s", "--grace", "300ms", "--", bin)
	if code != 1 {
		t.Errorf("exit %d, want 1\n%s\n%s", code, stdout, stderr)
	}
	m := regexp.MustCompile(`untraced (\d+)`).FindStringSubmatch(stdout)
	if m == nil {
		t.Fatalf("no pid of the untraced child:\n%s", stdout)
	}
	if !strings.Contains(stdout, "reaped orphan pid="+m[1]+" signal=KILL") {
		t.Errorf("the untraced child not stopped and reaped:\n%s", stdout)
	}
	if processAlive(atoi(t, m[1])) {
		t.Errorf("the untraced child %s outlived the ride", m[1])
	}
}

// TestLines: a program's writes into lines, per process and fd: a line
// waits for its newline; one longer than maxPartial comes out as it is;
// a write longer than the tracer reads brings its tail, and the line its
// unread middle cuts says so with "…".
func TestLines(t *testing.T) {
	x := func(n int) string { return strings.Repeat("x", n) }
	for _, tc := range []struct {
		name   string
		writes []ptrace.Event
		want   []string
	}{
		{"one line in two writes", []ptrace.Event{
			{Fd: 1, Data: []byte("The old "), Len: 8}, {Fd: 1, Data: []byte("driver\nnext"), Len: 11},
		}, []string{"The old driver"}},
		{"stdout and stderr apart", []ptrace.Event{
			{Fd: 1, Data: []byte("out "), Len: 4}, {Fd: 2, Data: []byte("err\n"), Len: 4}, {Fd: 1, Data: []byte("line\n"), Len: 5},
		}, []string{"err", "out line"}},
		{"other fds are no lines", []ptrace.Event{{Fd: 3, Data: []byte("no\n"), Len: 3}}, nil},
		{"a long write, read whole", []ptrace.Event{
			{Fd: 1, Data: []byte(x(4096)), Tail: []byte("xx\nThe old driver sets off\n"), Len: 4096 + 27},
		}, []string{x(4098), "The old driver sets off"}},
		{"a long write, its middle unread", []ptrace.Event{
			{Fd: 1, Data: []byte("a\n" + x(4094)), Tail: []byte(x(4090) + "\nlast\n"), Len: 20000},
		}, []string{"a", x(4094) + "…" + x(4090), "last"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pr := &proc{}
			var got []string
			for _, e := range tc.writes {
				got = append(got, pr.lines(e)...)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("lines %q, want %q", got, tc.want)
			}
		})
	}
}

// TestOwnProgramThreadMask: a mask is a thread's. The driver's worker
// thread blocks every signal, its main thread none: the process takes
// SIGINT and SIGQUIT (ignores them) and is no conductor. Its roles are
// recognised, each process once: driver and conductor.
func TestOwnProgramThreadMask(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "threadmask")
	if out, err := exec.Command("gcc", "-Wall", "-Werror", "-pthread", "-o", bin, "testdata/threadmask.c").CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	r := startRide(t, nil, "--grace", "300ms", "--", bin)
	if r.Driver == r.Conductor || r.Driver == 0 {
		t.Fatalf("roles driver=%d conductor=%d\n%s", r.Driver, r.Conductor, r.transcript())
	}
	if ppid, ok := readStat(r.Conductor); !ok || ppid.ppid != r.Driver {
		t.Errorf("the conductor %d is not the driver's child\n%s", r.Conductor, r.transcript())
	}
	r.kill(r.cmd.Process.Pid, syscall.SIGTERM)
	if code := r.wait(); code != 143 {
		t.Errorf("exit %d, want 143\n%s", code, r.transcript())
	}
}

// TestOwnProgramThreadWait: a thread in sigtimedwait takes what it waits
// for: a conductor whose worker sigwaits SIGINT and SIGQUIT (the main
// thread blocking everything) is one; one whose worker waits for SIGUSR2
// only, blocking nothing while its main thread blocks SIGINT and SIGQUIT,
// is not (a SIGINT would kill it), and no conductor is recognised.
func TestOwnProgramThreadWait(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "threadwait")
	if out, err := exec.Command("gcc", "-Wall", "-Werror", "-pthread", "-o", bin, "testdata/threadwait.c").CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	tr := filepath.Join(t.TempDir(), "t.jsonl")
	r := startRide(t, nil, "--grace", "300ms", "--trace", tr, "--", bin, "ok")
	r.kill(r.Conductor, syscall.SIGINT) // taken by its worker
	r.kill(r.cmd.Process.Pid, syscall.SIGTERM)
	if code := r.wait(); code != 143 {
		t.Errorf("ok: exit %d, want 143\n%s", code, r.transcript())
	}
	var took, killed bool
	for _, e := range readTrace(t, tr) {
		took = took || e.Pid == r.Conductor && e.Event == trace.Receive && e.Signal == "SIGINT" && e.Fate == trace.Sigwait
		killed = killed || e.Pid == r.Conductor && e.Event == trace.Exit && e.Signal == "SIGINT"
	}
	if !took || killed {
		t.Errorf("ok: the conductor's SIGINT taken by sigwait %v, killed it %v", took, killed)
	}
	stdout, stderr, code := runLauncher(t, "--ready-timeout", "1s", "--grace", "300ms", "--", bin, "bad")
	if code != 1 || !strings.Contains(stderr, "no conductor (a process that handles SIGINT and SIGQUIT") {
		t.Errorf("bad: exit %d\n%s\n%s", code, stdout, stderr)
	}
}

// TestOwnProgramManyChildren: a program that leaves more live children
// than the launcher may open descriptors (ulimit -n 256, 300 children):
// pidfds past half the limit are not kept (those processes are signalled
// by pid), the tracer still reads /proc, and the ride ends, exit 1, with
// nothing left behind.
func TestOwnProgramManyChildren(t *testing.T) {
	const marker = "sleep 97.25" // no other process runs that
	endsAlone(t, exec.Command("sh", "-c", `ulimit -n 256 && exec "$0" --ready-timeout 1s --grace 300ms -- sh -c 'for i in $(seq 300); do `+marker+` & done'`,
		filepath.Join(binDir, "launcher")), 60*time.Second, marker)
}

// TestPrune: a program that has made more than twice maxKept processes
// has those the launcher has nothing more to say of forgotten (ended,
// reaped by their parent in time, no role), and keeps the rest: the
// program, a process left an orphan, one still running.
func TestPrune(t *testing.T) {
	l := &launcher{pid: 1, conductor: &role{}, driver: &role{}}
	l.prog = &program{root: &supervise.Child{Pid: 2}, procs: map[int]*proc{}}
	root := l.prog.add(2, 1, "")
	root.ended, root.reapedBy = true, 1
	for pid := 10; pid < 10+2*maxKept; pid++ {
		pr := l.prog.add(pid, 2, "")
		pr.ended, pr.reapedBy, pr.exitT, pr.reapT = true, 2, 0, int64(time.Millisecond)
	}
	orphan := l.prog.add(5, 2, "")
	orphan.ended, orphan.reapedBy = true, 1 // reaped by the launcher
	l.prog.add(6, 2, "")                    // still running
	l.prune()
	if len(l.prog.order) != 3 || len(l.prog.procs) != 3 {
		t.Fatalf("kept %d (%d): %v", len(l.prog.order), len(l.prog.procs), l.prog.order)
	}
	for _, pid := range []int{2, 5, 6} {
		if l.prog.procs[pid] == nil {
			t.Errorf("pid %d forgotten", pid)
		}
	}
}
