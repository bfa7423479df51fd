package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sigride/sigride/internal/ride"
	"github.com/sigride/sigride/internal/supervise"
	"github.com/sigride/sigride/internal/vocab"
)

// orphanDeadline is how soon the roles must be gone once the launcher is.
const orphanDeadline = time.Second

// openPidfds opens the roles' pidfds while the launcher still holds them
// unreaped, so the pids cannot have been recycled yet.
func openPidfds(t *testing.T, pids ...int) []int {
	t.Helper()
	var fds []int
	for _, pid := range pids {
		fd, err := unix.PidfdOpen(pid, 0)
		if err != nil {
			t.Fatalf("pidfd_open %d: %v", pid, err)
		}
		t.Cleanup(func() { unix.Close(fd) })
		fds = append(fds, fd)
	}
	return fds
}

// waitGone waits, up to the deadline, for every pidfd to report its process
// has exited, then calls reparented, which must return once the processes
// have been re-parented to this subreaper test process (their parent's exit
// has completed), reaps them and returns how each ended.
func waitGone(t *testing.T, deadline time.Duration, pids, fds []int, reparented func()) []unix.WaitStatus {
	t.Helper()
	end := time.Now().Add(deadline)
	for i, fd := range fds {
		left := time.Until(end)
		if left < 0 {
			left = 0
		}
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(pfd, int(left.Milliseconds()))
		for err == unix.EINTR {
			n, err = unix.Poll(pfd, int(time.Until(end).Milliseconds()))
		}
		if n != 1 {
			t.Errorf("pid %d still alive %v after its launcher died (%v)", pids[i], deadline, err)
			syscall.Kill(pids[i], syscall.SIGKILL)
		}
	}
	reparented()
	var statuses []unix.WaitStatus
	for _, pid := range pids {
		// Adopted by this subreaper; reap so no zombie is left behind.
		var ws unix.WaitStatus
		if _, err := unix.Wait4(pid, &ws, 0, nil); err != nil {
			t.Errorf("reap %d: %v", pid, err)
		}
		statuses = append(statuses, ws)
	}
	return statuses
}

// TestLauncherKilled: SIGKILL to the launcher, and both roles are gone
// within a second (parent-death signal, with the pipe-EOF backstop).
func TestLauncherKilled(t *testing.T) {
	r := startRide(t, nil)
	fds := openPidfds(t, r.Driver, r.Conductor)
	r.kill(r.cmd.Process.Pid, syscall.SIGKILL)
	pids := []int{r.Driver, r.Conductor}
	// The roles become zombies while the launcher is still exiting; they
	// are re-parented here only once its exit completes, i.e. it is reaped.
	launcherReaped := func() {
		if code := r.wait(); code != 128+int(syscall.SIGKILL) {
			t.Errorf("launcher exit %d", code)
		}
	}
	for i, ws := range waitGone(t, orphanDeadline, pids, fds, launcherReaped) {
		// SIGKILL is the parent-death signal; the backstop exits 1. Either
		// may come first: the kernel closes a dying process's files (the
		// control sockets: EOF) before it signals its children.
		byPdeathsig := ws.Signaled() && ws.Signal() == syscall.SIGKILL
		byBackstop := ws.Exited() && ws.ExitStatus() == 1
		if !byPdeathsig && !byBackstop {
			t.Errorf("pid %d ended %v, want SIGKILL (parent-death signal) or exit 1 (backstop)", pids[i], ws)
		}
	}
}

// TestBackstopEOF isolates the backstop: this test plays the launcher,
// starts both roles, and closes its ends of the control sockets without
// dying. The roles must notice the EOF and end on their own.
func TestBackstopEOF(t *testing.T) {
	var (
		children []*supervise.Child
		conns    []*ride.Conn
	)
	for _, role := range []string{vocab.Conductor, vocab.Driver} {
		conn, end, err := ride.NewPair()
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(binDir, role)
		c, err := supervise.Start(supervise.Spec{Name: role, Path: path, Args: []string{path},
			Files: []*os.File{nil, os.Stdout, os.Stderr, end}})
		end.Close()
		if err != nil {
			t.Fatal(err)
		}
		children = append(children, c)
		conns = append(conns, conn)
	}
	for i, c := range children {
		peer := children[1-i]
		if err := conns[i].Send(ride.Msg{Kind: ride.KindPeer, Role: peer.Name, Pid: peer.Pid}, peer.Pidfd()); err != nil {
			t.Fatal(err)
		}
		if m, _, err := conns[i].Recv(); err != nil || m.Kind != ride.KindReady {
			t.Fatalf("%s: %v %v", c.Name, m, err)
		}
	}
	for _, c := range conns {
		c.Close()
	}
	for _, c := range children {
		var ws unix.WaitStatus
		done := make(chan struct{})
		go func() { unix.Wait4(c.Pid, &ws, 0, nil); close(done) }()
		select {
		case <-done:
			if !ws.Exited() || ws.ExitStatus() != 1 {
				t.Errorf("%s ended %v, want exit 1", c.Name, ws)
			}
		case <-time.After(orphanDeadline):
			t.Errorf("%s still running %v after its control socket closed", c.Name, orphanDeadline)
			c.Signal(syscall.SIGKILL)
			<-done
		}
		c.Close()
	}
}

// TestOrphanStopped: what a role leaves running is adopted by the launcher
// (a subreaper), stopped and reaped before the launcher exits.
func TestOrphanStopped(t *testing.T) {
	self, _ := os.Executable()
	r := newRide(t, []string{helperEnv + "=leaver"}, "--driver", self)
	line := r.expect("left pid=")
	orphan, err := strconv.Atoi(line[strings.Index(line, "left pid=")+len("left pid="):])
	if err != nil {
		t.Fatal(err)
	}
	r.ready()
	r.kill(r.cmd.Process.Pid, syscall.SIGTERM)
	r.expectAll(fmt.Sprintf("reaped driver pid=%d signal=TERM", r.Driver),
		fmt.Sprintf("reaped conductor pid=%d signal=TERM", r.Conductor))
	r.expect(fmt.Sprintf("reaped orphan pid=%d signal=TERM", orphan))
	if code := r.wait(); code != 143 {
		t.Fatalf("exit %d, want 143\n%s", code, r.transcript())
	}
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", orphan)); err == nil {
		t.Errorf("orphan %d still exists", orphan)
	}
}
