package prefork

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// heldPid waits for the next held worker (or successor) and returns its pid.
func (p *testPool) heldPid(prefix string, n int) int {
	p.t.Helper()
	got := p.wait(p.out, regexp.MustCompile(`^`+prefix+` \d+$`), n)
	pid, _ := strconv.Atoi(strings.TrimPrefix(got[n-1], prefix+" "))
	return pid
}

// TestReadyTimeout: a new worker that hangs before it says ready is killed
// after ReadyTimeout and counted as dying young, and the SIGHUP roll that
// started it completes with its replacement.
func TestReadyTimeout(t *testing.T) {
	p := runPool(t, 1, func(c *Config) { c.ReadyTimeout = 300 * time.Millisecond })
	p.wait(p.log, regexp.MustCompile(`^announced 1$`), 1)
	os.WriteFile(p.hold, nil, 0o644)
	p.sigs <- syscall.SIGHUP
	// The pool's own line, not the worker's "held PID": a worker slow to
	// start on a loaded machine may be killed before it says anything.
	// Its number too: on a loaded machine (make test's race-built helpers
	// beside the launcher's tests) a first worker can be late as well, and
	// replaced, before the SIGHUP.
	p.wait(p.log, regexp.MustCompile(`^worker \d+ pid=\d+ not ready after 300ms: killed$`), 1)
	os.Remove(p.hold)
	p.wait(p.log, regexp.MustCompile(`^workers die young \(\d+ in a row\)`), 1)
	p.wait(p.log, regexp.MustCompile(`^SIGHUP: every worker replaced$`), 1)
	p.wait(p.log, regexp.MustCompile(`^worker \d+ pid=\d+ exited exit=0$`), 1)
}

// TestAnnounceAtSizeWanted: the pool announces once as many workers are
// ready as it wants now: a SIGTTOU before the first size was reached lowers
// what it waits for.
func TestAnnounceAtSizeWanted(t *testing.T) {
	p := runPool(t, 2, func(c *Config) {
		c.ReadyTimeout = 500 * time.Millisecond
		os.WriteFile(os.Getenv(holdEnv), nil, 0o644) // both first workers hang
	})
	p.heldPid("held", 2)
	os.Remove(p.hold)
	p.sigs <- syscall.SIGTTOU
	p.wait(p.log, regexp.MustCompile(`^SIGTTOU: 1 worker$`), 1)
	p.wait(p.log, regexp.MustCompile(`^announced 1$`), 1)
	if n := len(p.log.Matching(regexp.MustCompile(`^announced`))); n != 1 {
		t.Errorf("announced %d times; log:\n%s", n, p.log)
	}
}

// TestRetireGrace: a worker retired by SIGHUP that does not leave within
// Grace is killed.
func TestRetireGrace(t *testing.T) {
	p := runPool(t, 1, func(c *Config) {
		c.Grace = 300 * time.Millisecond
		os.WriteFile(os.Getenv(stubbornEnv), nil, 0o644)
	})
	p.wait(p.log, regexp.MustCompile(`^announced 1$`), 1)
	os.Remove(p.stubborn)
	p.sigs <- syscall.SIGHUP
	p.wait(p.log, regexp.MustCompile(`^retiring worker 1 `), 1)
	p.wait(p.log, regexp.MustCompile(`^grace over: killed 1 worker$`), 1)
	p.wait(p.log, regexp.MustCompile(`^worker 1 pid=\d+ exited signal=KILL$`), 1)
}

// TestQuitHasNoDeadline: SIGQUIT waits for a worker however long it takes
// (the grace is SIGTERM's): the stubborn worker is still there well past
// the grace, and SIGTERM then gives it the grace and kills it.
func TestQuitHasNoDeadline(t *testing.T) {
	p := runPool(t, 1, func(c *Config) {
		c.Grace = 200 * time.Millisecond
		os.WriteFile(os.Getenv(stubbornEnv), nil, 0o644)
	})
	p.wait(p.log, regexp.MustCompile(`^announced 1$`), 1)
	p.sigs <- syscall.SIGQUIT
	p.wait(p.log, regexp.MustCompile(`^SIGQUIT: stopping`), 1)
	// Give SIGQUIT five graces to kill, wrongly: a timer, not a sync.
	select {
	case err := <-p.done:
		t.Fatalf("the pool stopped under SIGQUIT with a stubborn worker: %v; log:\n%s", err, p.log)
	case <-time.After(time.Second):
	}
	if got := p.log.Matching(regexp.MustCompile(`killed`)); len(got) > 0 {
		t.Fatalf("SIGQUIT killed: %v", got)
	}
	p.sigs <- syscall.SIGTERM
	p.wait(p.log, regexp.MustCompile(`^grace over: killed 1 worker$`), 1)
	if err := <-p.done; err != nil {
		t.Fatal(err)
	}
	p.done <- nil // for the cleanup's wait
}

// TestNoHeartbeat: a worker that stops beating (SIGSTOP) is killed after
// WorkerTimeout and replaced; the others, beating, are left alone.
func TestNoHeartbeat(t *testing.T) {
	p := runPool(t, 2, func(c *Config) { c.WorkerTimeout = 400 * time.Millisecond })
	ready := p.wait(p.log, regexp.MustCompile(`^worker \d+ pid=\d+ ready `), 2)
	pid := regexp.MustCompile(`pid=(\d+)`).FindStringSubmatch(ready[0])[1]
	n, _ := strconv.Atoi(pid)
	syscall.Kill(n, syscall.SIGSTOP)
	p.wait(p.log, regexp.MustCompile(`^worker `+pid+`: no heartbeat for 400ms, killed$`), 1)
	p.wait(p.log, regexp.MustCompile(`^worker \d+ pid=`+pid+` exited signal=KILL$`), 1)
	p.wait(p.log, regexp.MustCompile(`^worker 3 pid=\d+ ready `), 1)
	// Five timeouts more: the live workers beat, none is killed.
	time.Sleep(5 * 400 * time.Millisecond) // the quiet that is asserted
	if got := p.log.Matching(regexp.MustCompile(`no heartbeat`)); len(got) != 1 {
		t.Errorf("killed for no heartbeat: %v", got)
	}
}

// TestSuccessorReadyTimeout: a successor master (SIGUSR2) that never
// serves is killed after ReadyTimeout, and this master serves on.
func TestSuccessorReadyTimeout(t *testing.T) {
	self, _ := os.Executable()
	p := runPool(t, 1, func(c *Config) {
		c.ReadyTimeout = 300 * time.Millisecond
		c.MasterArgs = []string{self}
	})
	p.wait(p.log, regexp.MustCompile(`^announced 1$`), 1)
	p.sigs <- syscall.SIGUSR2
	// The pid from the pool's log: a successor slow to start may be killed
	// before it says "successor PID".
	started := p.wait(p.log, regexp.MustCompile(`^SIGUSR2: new master pid=\d+ starting`), 1)
	succ, _ := strconv.Atoi(regexp.MustCompile(`pid=(\d+)`).FindStringSubmatch(started[0])[1])
	p.wait(p.log, regexp.MustCompile(fmt.Sprintf(`^new master pid=%d not serving after 300ms: killed$`, succ)), 1)
	p.wait(p.log, regexp.MustCompile(fmt.Sprintf(`^new master pid=%d exited signal=KILL before serving: upgrade failed, serving on$`, succ)), 1)
	if got := live(t); len(got) != 1 {
		t.Errorf("children %v, want the one worker", got)
	}
}

// TestStartFailureBacksOff: with the worker binary gone from disk, a
// worker that dies is not restarted in a tight loop (each failed start used
// to be a child reaped at once, thousands a second): the failed starts back
// off like workers that die young.
func TestStartFailureBacksOff(t *testing.T) {
	self, _ := os.Executable()
	bin := filepath.Join(t.TempDir(), "worker")
	b, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	p := runPool(t, 1, func(c *Config) { c.Path, c.Args = bin, []string{bin} })
	ready := p.wait(p.log, regexp.MustCompile(`^worker 1 pid=\d+ ready `), 1)
	os.Remove(bin)
	pid, _ := strconv.Atoi(regexp.MustCompile(`pid=(\d+)`).FindStringSubmatch(ready[0])[1])
	syscall.Kill(pid, syscall.SIGKILL)
	p.wait(p.log, regexp.MustCompile(`^workers die young \(3 in a row\): next one in 400ms$`), 1)
	if got := p.log.Matching(regexp.MustCompile(`^start worker: `)); len(got) > 4 {
		t.Errorf("%d failed starts by the third back-off: %v", len(got), got[:5])
	}
}

// TestUpgradeRefusedBeforeServing: a master that does not serve yet (its
// workers are not ready) refuses SIGUSR2: had it handed over before it
// served, it would never tell its own predecessor, and two masters would
// serve on one socket.
func TestUpgradeRefusedBeforeServing(t *testing.T) {
	self, _ := os.Executable()
	p := runPool(t, 1, func(c *Config) {
		c.MasterArgs = []string{self}
		os.WriteFile(os.Getenv(holdEnv), nil, 0o644) // the first worker hangs
	})
	p.heldPid("held", 1)
	p.sigs <- syscall.SIGUSR2
	p.wait(p.log, regexp.MustCompile(`^SIGUSR2: not serving yet, no upgrade$`), 1)
	if got := p.log.Matching(regexp.MustCompile(`new master`)); len(got) > 0 {
		t.Errorf("an upgrade began: %v", got)
	}
}

// TestStopStopsSuccessor: SIGTERM to a master whose successor (SIGUSR2)
// does not serve yet stops the successor too, and the master returns only
// once it is reaped: the operator's stop ends the upgrade; no successor
// comes up to serve after its predecessor is gone.
func TestStopStopsSuccessor(t *testing.T) {
	self, _ := os.Executable()
	p := runPool(t, 1, func(c *Config) { c.MasterArgs = []string{self} })
	p.wait(p.log, regexp.MustCompile(`^announced 1$`), 1)
	p.sigs <- syscall.SIGUSR2
	succ := p.heldPid("successor", 1)
	p.sigs <- syscall.SIGTERM
	p.wait(p.log, regexp.MustCompile(fmt.Sprintf(`^new master pid=%d not serving yet: stopping it too$`, succ)), 1)
	select {
	case err := <-p.done:
		if err != nil {
			t.Fatal(err)
		}
		p.done <- nil // for the cleanup's wait
	case <-time.After(10 * time.Second):
		t.Fatalf("the pool did not stop; log:\n%s", p.log)
	}
	if got := p.log.Matching(regexp.MustCompile(fmt.Sprintf(`^new master pid=%d exited signal=TERM before serving: upgrade stopped$`, succ))); len(got) != 1 {
		t.Errorf("the successor's end: %v; log:\n%s", got, p.log)
	}
}
