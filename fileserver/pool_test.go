package main

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sigride/sigride/internal/proctest"
	"github.com/sigride/sigride/internal/wire"
)

// TestPidfileStartupError: a pidfile that cannot be written (a missing
// directory, a path under a regular file, a FIFO there) is a start-up
// error: exit 1 with one line, no worker started, nothing replaced.
func TestPidfileStartupError(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	os.WriteFile(file, nil, 0o644)
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, path, want string }{
		{"missing directory", filepath.Join(dir, "none", "fs.pid"), "no such file or directory"},
		{"under a regular file", filepath.Join(file, "fs.pid"), "not a directory"},
		{"a fifo", fifo, "not a regular file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(bin, "serve", "--root", filepath.Join(dir, "library"), "--listen", "127.0.0.1:0",
				"--workers", "2", "--pidfile", tc.path)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			var err error
			select {
			case err = <-done:
			case <-time.After(10 * time.Second):
				cmd.Process.Kill()
				<-done
				t.Fatalf("still running 10s after start with pidfile %s:\n%s%s", tc.path, stdout.String(), stderr.String())
			}
			lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
			if code := exitCode(err); code != 1 || len(lines) != 1 || !strings.Contains(lines[0], tc.want) {
				t.Errorf("exit %d, stderr %q; want 1 and one line with %q", code, stderr.String(), tc.want)
			}
			if strings.Contains(stdout.String(), "listening") {
				t.Errorf("said it listens: %s", stdout.String())
			}
			if fi, err := os.Lstat(fifo); err != nil || fi.Mode().Type() != os.ModeNamedPipe {
				t.Errorf("the fifo was replaced: %v %v", fi.Mode(), err)
			}
		})
	}
}

// TestPidfileOnlyOurs: a master removes the pidfile on its way out only if
// it still names it (after SIGUSR2 and a quick SIGTERM, it names the new
// master who serves).
func TestPidfileOnlyOurs(t *testing.T) {
	pidfile := filepath.Join(t.TempDir(), "fs.pid")
	s := startServer(t, "--workers", "1", "--pidfile", pidfile)
	if err := os.WriteFile(pidfile, []byte("4194000\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	<-s.done
	if b, err := os.ReadFile(pidfile); err != nil || string(b) != "4194000\n" {
		t.Errorf("pidfile naming another master: %q, %v after this one stopped", b, err)
	}
}

// TestNoHeartbeatKilled: a worker stopped (SIGSTOP) sends no heartbeat: the
// master kills it after --worker-timeout, says so in the words, and
// replaces it. A worker busy with a transfer that does not move, at
// --max-conns, beats on and is left alone.
func TestNoHeartbeatKilled(t *testing.T) {
	s := startServer(t, "--workers", "2", "--worker-timeout", "1s", "--max-conns", "1")
	ready := s.waitLog(regexp.MustCompile(`worker \d+ pid=\d+ ready`), 2)
	pids := make([]string, 2)
	for i, l := range ready {
		pids[i] = regexp.MustCompile(`pid=(\d+)`).FindStringSubmatch(l)[1]
	}
	stopped, _ := strconv.Atoi(pids[0])
	syscall.Kill(stopped, syscall.SIGSTOP)
	s.waitLog(regexp.MustCompile(`: worker `+pids[0]+`: no heartbeat for 1s, killed$`), 1)
	s.waitLog(regexp.MustCompile(`worker \d+ pid=`+pids[0]+` exited signal=KILL$`), 1)
	s.waitLog(regexp.MustCompile(`worker 3 pid=\d+ ready`), 1)

	// Busy: both workers hold a GET whose reader never reads, at their one
	// connection each, for three timeouts.
	src := randomFile(t, t.TempDir(), 32<<20)
	if _, stderr, code := s.client("put", src, "--as", "big.bin"); code != 0 {
		t.Fatal(stderr)
	}
	// Which worker accepts is the kernel's choice: a GET that lands on
	// the worker already held is told busy; try again until both hold one.
	for held, tries := 0, 0; held < 2; tries++ {
		if tries == 100 {
			t.Fatalf("only %d workers held after %d tries", held, tries)
		}
		c, err := net.Dial("tcp", s.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.(*net.TCPConn).SetReadBuffer(4096)
		c.Write(wire.AppendRequest(nil, wire.Request{Op: wire.OpGet, Name: "big.bin"}))
		resp, err := wire.ReadResponse(bufio.NewReader(c))
		switch {
		case err == nil && resp.Status == wire.StatusOK:
			held++
		case err == nil && resp.Status == wire.ErrBusy:
		default:
			t.Fatalf("GET: %+v %v", resp, err)
		}
	}
	time.Sleep(3 * time.Second) // the quiet that is asserted: no kill
	if got := s.log.Matching(regexp.MustCompile(`no heartbeat`)); len(got) != 1 {
		t.Errorf("killed for no heartbeat: %v", got)
	}
}

// TestTTOUToZero: SIGTTOU can take the pool to no worker at all, as
// unicorn's can; the master stays, and SIGTTIN brings one back. The log
// counts one worker in the singular.
func TestTTOUToZero(t *testing.T) {
	s := startServer(t, "--workers", "1")
	s.cmd.Process.Signal(syscall.SIGTTOU)
	s.waitLog(regexp.MustCompile(`SIGTTOU: 0 workers$`), 1)
	s.waitLog(regexp.MustCompile(`worker 1 pid=\d+ exited exit=0$`), 1)
	s.cmd.Process.Signal(syscall.SIGTTIN)
	s.waitLog(regexp.MustCompile(`SIGTTIN: 1 worker$`), 1)
	s.waitLog(regexp.MustCompile(`worker 2 pid=\d+ ready`), 1)
	if _, stderr, code := s.client("ls"); code != 0 {
		t.Errorf("ls after SIGTTIN: %d %s", code, stderr)
	}
	if _, state, ok := proctest.Stat(s.cmd.Process.Pid); !ok || state == 'Z' {
		t.Error("master gone")
	}
}

// TestWorkerIgnoresMasterSignals: the master's signals sent to a worker
// (as a hangup or kill -HUP -PGID sends them to the whole group) neither
// kill nor stop it; it drains on SIGQUIT after them as ever. (SIGHUP used
// to kill every worker by its default action.)
func TestWorkerIgnoresMasterSignals(t *testing.T) {
	s := startServer(t, "--workers", "1")
	ready := s.waitLog(regexp.MustCompile(`worker 1 pid=\d+ ready`), 1)
	pid, _ := strconv.Atoi(regexp.MustCompile(`pid=(\d+)`).FindStringSubmatch(ready[0])[1])
	for _, sig := range []syscall.Signal{syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGTTIN, syscall.SIGTTOU, syscall.SIGQUIT} {
		// Pending together, they are delivered lowest number first: SIGHUP
		// (1) before SIGQUIT (3), the others after it, before the exit.
		syscall.Kill(pid, sig)
	}
	got := s.waitLog(regexp.MustCompile(`worker 1 pid=\d+ exited `), 1)
	if !strings.HasSuffix(got[0], "exited exit=0") {
		t.Errorf("worker after the master's signals and SIGQUIT: %s", got[0])
	}
}

// TestMasterStoppedKeepsWorkers: a master stopped (SIGSTOP) for longer
// than --worker-timeout does not take its own stop for its workers'
// silence: once it resumes, it kills none of them, and a worker that is
// silent for real is still killed after that.
func TestMasterStoppedKeepsWorkers(t *testing.T) {
	s := startServer(t, "--workers", "2", "--worker-timeout", "1s")
	s.waitLog(regexp.MustCompile(`worker \d+ pid=\d+ ready`), 2)
	master := s.cmd.Process.Pid
	syscall.Kill(master, syscall.SIGSTOP)
	time.Sleep(3 * time.Second) // the master's stop is the thing tested
	syscall.Kill(master, syscall.SIGCONT)
	syscall.Kill(master, syscall.SIGTTIN) // a line that says it runs again
	s.waitLog(regexp.MustCompile(`SIGTTIN: 3 workers$`), 1)
	s.waitLog(regexp.MustCompile(`worker 3 pid=\d+ ready`), 1)
	time.Sleep(2 * time.Second) // two timeouts, watched: the beats renew them
	if got := s.log.Matching(regexp.MustCompile(`no heartbeat|exited`)); len(got) > 0 {
		t.Errorf("after the master's stop: %v", got)
	}
}

// TestUnreadStderr: a stderr nobody reads (a full pipe) costs the server
// its log lines, not its service: requests that each log a line are all
// answered, SIGTERM stops it within --grace, and once the pipe is read
// again the next line says how many were dropped.
func TestUnreadStderr(t *testing.T) {
	errR, errW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer errR.Close()
	cmd := exec.Command(bin, "serve", "--root", filepath.Join(t.TempDir(), "library"), "--listen", "127.0.0.1:0",
		"--workers", "1", "--grace", "2s")
	cmd.Stderr = errW
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	errW.Close()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() {
		cmd.Process.Kill()
		<-done
	}()
	// The log is read up to the announcement, then not at all.
	addr := ""
	lines := bufio.NewScanner(errR)
	for addr == "" && lines.Scan() {
		if m := listeningRE.FindStringSubmatch(lines.Text()); m != nil {
			addr = m[1]
		}
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	br := bufio.NewReader(c)
	// Each refused name logs a line of about 120 bytes: 3,000 of them
	// are several times what a pipe holds.
	long := strings.Repeat("x", 60)
	for i := range 3000 {
		c.Write(wire.AppendRequest(nil, wire.Request{Op: wire.OpGet, Name: fmt.Sprintf("../%s-%d", long, i)}))
		if resp, err := wire.ReadResponse(br); err != nil || resp.Status != wire.ErrBadName {
			t.Fatalf("request %d: %+v, %v", i, resp, err)
		}
	}
	// Read the pipe again: a line to come says how many were dropped
	// (each request below logs one, once the pipe has room again).
	logged := proctest.NewLines()
	go logged.Follow(errR)
	dropped := regexp.MustCompile(`^fileserver worker\[\d+\]: \d+ lines dropped: the output is not read$`)
	for i := 0; len(logged.Matching(dropped)) == 0; i++ {
		c.Write(wire.AppendRequest(nil, wire.Request{Op: wire.OpGet, Name: fmt.Sprintf("../again-%d", i)}))
		if _, err := wire.ReadResponse(br); err != nil {
			t.Fatalf("request after the pipe is read: %v", err)
		}
		select {
		case <-logged.Changed():
		case <-time.After(10 * time.Second):
			t.Fatalf("no line says what was dropped:\n%s", logged)
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		if code := exitCode(err); code != 0 {
			t.Errorf("exit %d after SIGTERM", code)
		}
		done <- err
	case <-time.After(10 * time.Second):
		t.Fatal("still running 10s after SIGTERM with a stderr nobody reads")
	}
}
