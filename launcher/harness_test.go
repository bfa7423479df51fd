package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sigride/sigride/internal/proctest"
	"github.com/sigride/sigride/internal/vocab"
)

// binDir holds the three binaries, built once by TestMain.
var binDir string

// helperEnv makes the test binary act as a role instead of running tests
// (the os/exec trick): its value names the behaviour.
const helperEnv = "SIGRIDE_TEST_HELPER"

func TestMain(m *testing.M) {
	if h := os.Getenv(helperEnv); h != "" {
		os.Exit(helper(h))
	}
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	if err := proctest.Subreaper(); err != nil {
		fmt.Fprintln(os.Stderr, "subreaper:", err)
		return 1
	}
	dir, err := proctest.Build("..", "./launcher", "./driver", "./conductor")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	binDir = dir
	return m.Run()
}

// lineTimeout bounds every wait for a line: generous, since a wait that
// times out is a failure, not a synchronisation.
const lineTimeout = 10 * time.Second

// rideProc is one launcher under test and everything it printed.
type rideProc struct {
	t         *testing.T
	cmd       *exec.Cmd
	lines     chan string
	mu        sync.Mutex
	all       []string
	stderr    strings.Builder
	done      chan struct{}
	exitCode  int
	Driver    int
	Conductor int
}

// startRide starts bin/launcher with args and waits for its ready line.
func startRide(t *testing.T, env []string, args ...string) *rideProc {
	t.Helper()
	r := newRide(t, env, args...)
	r.ready()
	return r
}

// newRide starts bin/launcher with args, its stdout read line by line.
func newRide(t *testing.T, env []string, args ...string) *rideProc {
	t.Helper()
	return newRideTo(t, nil, env, args...)
}

// newRideTo is newRide with the launcher's stderr on stderr, or kept in
// the transcript when nil.
func newRideTo(t *testing.T, stderr *os.File, env []string, args ...string) *rideProc {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "launcher"), args...)
	cmd.Env = append(os.Environ(), env...)
	return followRide(t, cmd, stderr)
}

// followRide starts cmd, a launcher, its stdout read line by line, its
// stderr on stderr, or kept in the transcript when nil.
func followRide(t *testing.T, cmd *exec.Cmd, stderr *os.File) *rideProc {
	t.Helper()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	r := &rideProc{t: t, cmd: cmd, lines: make(chan string, 1024), done: make(chan struct{})}
	cmd.Stderr = &lockedWriter{mu: &r.mu, b: &r.stderr}
	if stderr != nil {
		cmd.Stderr = stderr
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r.follow(out)
	t.Cleanup(r.cleanup)
	return r
}

// follow reads lines from out, then waits for the launcher.
func (r *rideProc) follow(out io.Reader) {
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			line := strings.TrimRight(sc.Text(), "\r")
			r.mu.Lock()
			r.all = append(r.all, line)
			r.mu.Unlock()
			r.lines <- line
		}
		close(r.lines)
		err := r.cmd.Wait()
		r.exitCode = exitCode(err)
		close(r.done)
	}()
}

var readyRE = regexp.MustCompile(`ready driver=(\d+) conductor=(\d+)`)

func (r *rideProc) ready() {
	r.t.Helper()
	line := r.expect(`ready driver=`)
	m := readyRE.FindStringSubmatch(line)
	if m == nil {
		r.t.Fatalf("ready line %q does not name both pids", line)
	}
	r.Driver, _ = strconv.Atoi(m[1])
	r.Conductor, _ = strconv.Atoi(m[2])
}

// expect waits for the next line containing want and returns it; lines
// before it are skipped, and kept in all.
func (r *rideProc) expect(want string) string {
	r.t.Helper()
	timeout := time.After(lineTimeout)
	for {
		select {
		case line, ok := <-r.lines:
			if !ok {
				r.t.Fatalf("launcher ended before a line with %q\n%s", want, r.transcript())
			}
			if strings.Contains(line, want) {
				return line
			}
		case <-timeout:
			r.t.Fatalf("no line with %q within %v\n%s", want, lineTimeout, r.transcript())
		}
	}
}

// expectAll waits until a line containing each of wants has appeared, in
// any order: for lines from processes that race each other by design.
func (r *rideProc) expectAll(wants ...string) {
	r.t.Helper()
	left := append([]string(nil), wants...)
	timeout := time.After(lineTimeout)
	for len(left) > 0 {
		select {
		case line, ok := <-r.lines:
			if !ok {
				r.t.Fatalf("launcher ended before lines with %q\n%s", left, r.transcript())
			}
			for i, w := range left {
				if strings.Contains(line, w) {
					left = append(left[:i], left[i+1:]...)
					break
				}
			}
		case <-timeout:
			r.t.Fatalf("no lines with %q within %v\n%s", left, lineTimeout, r.transcript())
		}
	}
}

// wait waits for the launcher to exit and returns its exit code.
func (r *rideProc) wait() int {
	r.t.Helper()
	select {
	case <-r.done:
		return r.exitCode
	case <-time.After(lineTimeout):
		r.t.Fatalf("launcher still running after %v\n%s", lineTimeout, r.transcript())
		return -1
	}
}

// finished waits for the launcher to exit with code, failing the test
// otherwise, and returns all it wrote on stderr.
func (r *rideProc) finished(code int) string {
	r.t.Helper()
	if got := r.wait(); got != code {
		r.t.Fatalf("exit %d, want %d\n%s", got, code, r.transcript())
	}
	return r.errText()
}

// errText is what the launcher has written on stderr so far.
func (r *rideProc) errText() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stderr.String()
}

// output returns every line printed so far, once the launcher has ended.
func (r *rideProc) output() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.all...)
}

func (r *rideProc) transcript() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return "stdout:\n  " + strings.Join(r.all, "\n  ") + "\nstderr:\n  " + strings.ReplaceAll(r.stderr.String(), "\n", "\n  ")
}

// kill sends sig to pid, failing the test if it cannot.
func (r *rideProc) kill(pid int, sig syscall.Signal) {
	r.t.Helper()
	if err := syscall.Kill(pid, sig); err != nil {
		r.t.Fatalf("kill -SIG%s %d: %v", vocab.SignalName(sig), pid, err)
	}
}

// cleanup kills a launcher the test left running and checks that no role
// of this ride survives it.
func (r *rideProc) cleanup() {
	select {
	case <-r.done:
	default:
		r.cmd.Process.Kill()
		<-r.done
	}
	for _, pid := range []int{r.Driver, r.Conductor} {
		if pid != 0 && processAlive(pid) {
			r.t.Errorf("role pid %d still alive after the launcher ended", pid)
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// zombies lists the zombie children of ppid, from /proc.
func zombies(ppid int) []int {
	var z []int
	for _, p := range procs() {
		if p.ppid == ppid && p.state == 'Z' {
			z = append(z, p.pid)
		}
	}
	return z
}

type procStat struct {
	pid, ppid int
	state     byte
}

// procs reads pid, state and ppid of every process from /proc/*/stat.
func procs() []procStat {
	ents, _ := os.ReadDir("/proc")
	var ps []procStat
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if p, ok := readStat(pid); ok {
			ps = append(ps, p)
		}
	}
	return ps
}

func readStat(pid int) (procStat, bool) {
	ppid, state, ok := proctest.Stat(pid)
	return procStat{pid: pid, ppid: ppid, state: state}, ok
}

// processAlive reports whether pid exists and is not a zombie.
func processAlive(pid int) bool {
	p, ok := readStat(pid)
	return ok && p.state != 'Z'
}

func exitCode(err error) int { return proctest.ExitCode(err) }

type lockedWriter struct {
	mu *sync.Mutex
	b  *strings.Builder
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}
