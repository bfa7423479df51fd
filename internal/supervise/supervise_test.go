package supervise

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// helperEnv makes the test binary act as a child that behaves a certain way
// (the os/exec trick).
const helperEnv = "SUPERVISE_TEST_HELPER"

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "":
	case "leave": // starts a sleeper without a parent-death signal, prints its pid, exits
		self, _ := os.Executable()
		cmd := exec.Command(self)
		cmd.Env = append(os.Environ(), helperEnv+"=sleep")
		if err := cmd.Start(); err != nil {
			os.Exit(1)
		}
		fmt.Println(cmd.Process.Pid)
		os.Exit(0)
	case "exit3":
		os.Exit(3)
	case "sleep":
		time.Sleep(time.Hour)
		os.Exit(0)
	case "masks": // makes threads, prints each one's blocked signals, waits
		threadMasks()
		time.Sleep(time.Hour)
		os.Exit(0)
	case "stubborn": // ignores SIGTERM; says so on stdout once it does
		signal.Ignore(syscall.SIGTERM)
		fmt.Println("ignoring")
		time.Sleep(time.Hour)
		os.Exit(0)
	default:
		os.Exit(100)
	}
	if err := BecomeSubreaper(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

func helper(t *testing.T, name string, stdout *os.File) *Child {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	c, err := Start(Spec{Name: name, Path: self, Args: []string{self},
		Env: append(os.Environ(), helperEnv+"="+name), Files: []*os.File{nil, stdout, os.Stderr}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// waitExit reaps the child with pid, blocking, and returns how it ended.
func waitExit(t *testing.T, pid int) Exit {
	t.Helper()
	var ws unix.WaitStatus
	for {
		_, err := unix.Wait4(pid, &ws, 0, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			t.Fatalf("wait4 %d: %v", pid, err)
		}
		return Exit{Pid: pid, Status: ws}
	}
}

// exited reports whether the process behind pidfd has exited within d.
func exited(pidfd int, d time.Duration) bool {
	fds := []unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}
	end := time.Now().Add(d)
	for {
		n, err := unix.Poll(fds, int(time.Until(end).Milliseconds()))
		if err == unix.EINTR {
			continue
		}
		return n == 1
	}
}

func TestExitString(t *testing.T) {
	c := helper(t, "exit3", nil)
	if e := waitExit(t, c.Pid); e.String() != "exit=3" || e.Success() {
		t.Errorf("got %s, success %v", e, e.Success())
	}
	c.Close()
	c = helper(t, "sleep", nil)
	if err := c.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if e := waitExit(t, c.Pid); e.String() != "signal=KILL" {
		t.Errorf("got %s", e)
	}
	c.Close()
}

// TestSpawnerThread: a child started from a goroutine locked to a thread
// that then exits must survive. Forked on that thread, it would get its
// parent-death signal the moment the thread exits; a control child forked
// there directly shows that the thread's exit does send it.
func TestSpawnerThread(t *testing.T) {
	self, _ := os.Executable()
	env := append(os.Environ(), helperEnv+"=sleep")
	var ours *Child
	control := -1
	onDyingThread(func() {
		var err error
		ours, err = Start(Spec{Name: "ours", Path: self, Args: []string{self},
			Env: env, Files: []*os.File{nil, nil, os.Stderr}})
		if err != nil {
			t.Error(err)
		}
		if _, err := syscall.ForkExec(self, []string{self}, &syscall.ProcAttr{Env: env,
			Sys: &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, PidFD: &control}}); err != nil {
			t.Error(err)
		}
	})
	if ours != nil {
		t.Cleanup(func() { ours.Signal(syscall.SIGKILL); waitExit(t, ours.Pid); ours.Close() })
	}
	if control >= 0 {
		pid, err := pidOfPidfd(control)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { unix.PidfdSendSignal(control, syscall.SIGKILL, nil, 0); waitExit(t, pid); unix.Close(control) })
	}
	if t.Failed() {
		t.FailNow()
	}
	if !exited(control, 5*time.Second) {
		t.Fatal("control child survived its forking thread: the test proves nothing")
	}
	if exited(ours.Pidfd(), 100*time.Millisecond) {
		t.Fatal("child started by Start died with the caller's thread")
	}
}

// onDyingThread runs f on a goroutine locked to a thread that exits when f
// returns. Go never lets the main thread exit (it parks it instead), so a
// goroutine that lands there keeps it busy, and another one is tried.
func onDyingThread(f func()) {
	release := make(chan struct{})
	defer close(release)
	for {
		ran := make(chan bool)
		go func() {
			runtime.LockOSThread()
			if unix.Gettid() == unix.Getpid() { // the main thread
				ran <- false
				<-release
				runtime.UnlockOSThread()
				return
			}
			f()
			ran <- true
			// Returns still locked: the runtime ends this thread.
		}()
		if <-ran {
			return
		}
	}
}

// pidOfPidfd reads the pid behind a pidfd from /proc/self/fdinfo.
func pidOfPidfd(fd int) (int, error) {
	b, err := os.ReadFile("/proc/self/fdinfo/" + strconv.Itoa(fd))
	if err != nil {
		return 0, err
	}
	var pid int
	for _, line := range strings.Split(string(b), "\n") {
		if n, _ := fmt.Sscanf(line, "Pid:\t%d", &pid); n == 1 {
			return pid, nil
		}
	}
	return 0, fmt.Errorf("no Pid in fdinfo")
}

// readLine reads one line from r, the helper's handshake.
func readLine(t *testing.T, r *os.File) string {
	t.Helper()
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil {
		t.Fatalf("helper said nothing: %v", err)
	}
	return strings.TrimSpace(line)
}

// TestBlocked: a child started with Spec.Blocked has those signals blocked
// in every thread, the ones its Go runtime makes after main too, but for
// those the runtime unblocks (SIGINT); one sent to it stays pending, never
// its default action; and the supervisor's own threads keep their masks.
func TestBlocked(t *testing.T) {
	self, _ := os.Executable()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	held := []syscall.Signal{syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGTSTP}
	c, err := Start(Spec{Name: "masks", Path: self, Args: []string{self},
		Env: append(os.Environ(), helperEnv+"=masks"), Files: []*os.File{nil, pw, os.Stderr},
		Blocked: append(held, syscall.SIGINT)})
	pw.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Signal(syscall.SIGKILL); waitExit(t, c.Pid); c.Close() })
	masks := strings.Fields(readLine(t, pr))
	if len(masks) < 2 {
		t.Fatalf("the child has %d threads, want several", len(masks))
	}
	for _, m := range masks {
		set, err := strconv.ParseUint(m, 16, 64)
		if err != nil {
			t.Fatalf("mask %q: %v", m, err)
		}
		for _, s := range held {
			if set&bit(s) == 0 {
				t.Errorf("a thread's mask %s lacks SIG%d", m, s)
			}
		}
		if set&bit(syscall.SIGINT) != 0 {
			t.Errorf("a thread's mask %s has SIGINT: the runtime should unblock it", m)
		}
	}
	if err := c.Signal(syscall.SIGTSTP); err != nil {
		t.Fatal(err)
	}
	// A blocked signal is queued by the time kill returns.
	if pend := statusField(t, fmt.Sprintf("/proc/%d/status", c.Pid), "ShdPnd"); pend&bit(syscall.SIGTSTP) == 0 {
		t.Errorf("SIGTSTP not pending: ShdPnd %x", pend)
	}
	if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", c.Pid)); strings.Contains(string(b), "State:\tT") {
		t.Error("the child stopped on SIGTSTP")
	}
	ents, _ := os.ReadDir("/proc/self/task")
	for _, e := range ents {
		if blk := statusField(t, "/proc/self/task/"+e.Name()+"/status", "SigBlk"); blk&bit(syscall.SIGUSR1) != 0 {
			t.Errorf("supervisor thread %s left with SIGUSR1 blocked", e.Name())
		}
	}
}

// threadMasks starts threads, then prints the blocked set of each of the
// process's threads on one line, in hex. A thread the runtime is making or
// ending blocks every signal it can for a moment, SIGSEGV too, which it
// never blocks otherwise: the snapshot is taken again until there is none.
func threadMasks() {
	for range 3 {
		go func() {
			runtime.LockOSThread() // a new thread for each goroutine blocked here
			select {}
		}()
	}
	var masks []string
	transient := func(m string) bool {
		n, _ := strconv.ParseUint(m, 16, 64)
		return n&bit(syscall.SIGSEGV) != 0
	}
	for len(masks) < 4 || slices.ContainsFunc(masks, transient) {
		masks = masks[:0]
		ents, _ := os.ReadDir("/proc/self/task")
		for _, e := range ents {
			b, _ := os.ReadFile("/proc/self/task/" + e.Name() + "/status")
			for _, line := range strings.Split(string(b), "\n") {
				if v, ok := strings.CutPrefix(line, "SigBlk:\t"); ok {
					masks = append(masks, v)
				}
			}
		}
		runtime.Gosched() // until the locked goroutines have their threads
	}
	fmt.Println(strings.Join(masks, " "))
}

// statusField reads a hex field (SigBlk, ShdPnd) of a /proc status file.
func statusField(t *testing.T, path, name string) uint64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+":\t"); ok {
			n, err := strconv.ParseUint(v, 16, 64)
			if err != nil {
				t.Fatalf("%s %s: %v", path, name, err)
			}
			return n
		}
	}
	t.Fatalf("%s has no %s", path, name)
	return 0
}

func bit(s syscall.Signal) uint64 { return 1 << (uint(s) - 1) }

// TestGroupStop: SIGTERM to all, SIGKILL after grace only to what ignored it.
func TestGroupStop(t *testing.T) {
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	g := NewGroup()
	soft := helper(t, "sleep", nil)
	hard := helper(t, "stubborn", pw)
	pw.Close()
	g.Add(soft)
	g.Add(hard)
	if got := readLine(t, pr); got != "ignoring" {
		t.Fatalf("stubborn helper said %q", got)
	}
	g.Stop(syscall.SIGTERM, 300*time.Millisecond)
	if !g.Stopping() {
		t.Error("not stopping after Stop")
	}
	if e := waitExit(t, soft.Pid); e.String() != "signal=TERM" {
		t.Errorf("soft child: %s", e)
	}
	if c, ok := g.Reaped(Exit{Pid: soft.Pid}); !ok || c != soft {
		t.Error("Reaped did not return the soft child")
	}
	if exited(hard.Pidfd(), 0) {
		t.Fatal("stubborn child gone before the grace period ended")
	}
	<-g.Deadline()
	due := g.Expired() // kills what is overdue in Stopping
	if len(due) != 1 || due[0].Child != hard || due[0].Phase != Stopping {
		t.Errorf("Expired = %+v, want the stubborn child, stopping", due)
	}
	if e := waitExit(t, hard.Pid); e.String() != "signal=KILL" {
		t.Errorf("stubborn child: %s", e)
	}
	g.Reaped(Exit{Pid: hard.Pid})
	if g.Len() != 0 || g.Deadline() != nil {
		t.Errorf("group still holds %d, deadline armed: %v", g.Len(), g.Deadline() != nil)
	}
}

// TestDeadlines: each child's deadline fires in its turn, Expired reports
// only those past, a new Arm replaces the old one, Disarm and Reaped drop
// it, and a Stop with no grace (SIGQUIT's) arms nothing.
func TestDeadlines(t *testing.T) {
	g := NewGroup()
	a, b, c := helper(t, "sleep", nil), helper(t, "sleep", nil), helper(t, "sleep", nil)
	for _, ch := range []*Child{a, b, c} {
		g.Add(ch)
	}
	defer func() {
		g.Kill()
		for _, ch := range []*Child{a, b, c} {
			waitExit(t, ch.Pid)
			g.Reaped(Exit{Pid: ch.Pid})
		}
	}()
	if g.Deadline() != nil {
		t.Fatal("a deadline with none armed")
	}
	start := time.Now()
	g.Arm(a.Pid, Starting, 100*time.Millisecond)
	g.Arm(b.Pid, Running, time.Hour)
	g.Arm(b.Pid, Running, 200*time.Millisecond) // replaces the hour
	g.Arm(c.Pid, Starting, 50*time.Millisecond)
	g.Disarm(c.Pid)
	var got []string
	for len(got) < 2 {
		select {
		case <-g.Deadline():
		case <-time.After(5 * time.Second):
			t.Fatalf("deadlines did not fire; got %v", got)
		}
		for _, o := range g.Expired() {
			got = append(got, fmt.Sprintf("%d %s %v", o.Child.Pid, o.Phase, o.After))
			if o.Phase == Starting && time.Since(start) < 100*time.Millisecond {
				t.Errorf("%d expired early", o.Child.Pid)
			}
		}
	}
	want := []string{fmt.Sprintf("%d starting 100ms", a.Pid), fmt.Sprintf("%d running 200ms", b.Pid)}
	if !slices.Equal(got, want) {
		t.Errorf("expired %v, want %v", got, want)
	}
	if g.Deadline() != nil {
		t.Error("a deadline left armed")
	}
	g.Stop(syscall.SIGCONT, 0) // harmless: the helpers sleep on
	if g.Deadline() != nil {
		t.Error("Stop without grace armed a deadline")
	}
	g.Retire(a, syscall.SIGCONT, time.Hour)
	g.Retire(a, syscall.SIGCONT, 0) // no grace: keeps the hour
	if p, ok := g.Phase(a.Pid); !ok || p != Stopping {
		t.Errorf("a: phase %v %v, want stopping", p, ok)
	}
}

// TestReap: the one waiter collects every ended child, and nothing when none.
func TestReap(t *testing.T) {
	a, b := helper(t, "exit3", nil), helper(t, "exit3", nil)
	defer a.Close()
	defer b.Close()
	exited(a.Pidfd(), 5*time.Second)
	exited(b.Pidfd(), 5*time.Second)
	exits, err := Reap()
	if err != nil {
		t.Fatal(err)
	}
	got := map[int]string{}
	for _, e := range exits {
		got[e.Pid] = e.String()
	}
	if got[a.Pid] != "exit=3" || got[b.Pid] != "exit=3" || len(got) != 2 {
		t.Errorf("Reap = %v, want %d and %d with exit=3", got, a.Pid, b.Pid)
	}
	if exits, err := Reap(); len(exits) != 0 || err != nil {
		t.Errorf("second Reap = %v, %v", exits, err)
	}
}

// TestAdoptOrphans: a grandchild left running by a child that exited is
// re-parented to this subreaper, and AdoptOrphans takes it into the group.
func TestAdoptOrphans(t *testing.T) {
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	c := helper(t, "leave", pw)
	pw.Close()
	orphan, err := strconv.Atoi(readLine(t, pr))
	if err != nil {
		t.Fatal(err)
	}
	waitExit(t, c.Pid) // its exit is complete: the orphan is ours now
	c.Close()
	g := NewGroup()
	n, err := g.AdoptOrphans("orphan")
	if err != nil || n != 1 {
		t.Fatalf("adopted %d, %v; want 1", n, err)
	}
	got, ok := g.Get(orphan)
	if !ok || got.Name != "orphan" {
		t.Fatalf("orphan %d not in the group", orphan)
	}
	if n, _ := g.AdoptOrphans("orphan"); n != 0 {
		t.Errorf("adopted %d again", n)
	}
	g.Stop(syscall.SIGTERM, time.Second)
	if e := waitExit(t, orphan); e.String() != "signal=TERM" {
		t.Errorf("orphan: %s", e)
	}
	g.Reaped(Exit{Pid: orphan})
}

// TestStartKeepsSocketsNonblocking: a socket passed to a child stays in
// non-blocking mode. Its mode belongs to the open file description that
// every process holding it shares: os.File.Fd would switch it to blocking,
// and a process sharing it (another worker on the same listening socket)
// that entered accept(2) or recv(2) meanwhile would sit in the kernel,
// where closing the socket cannot wake it.
func TestStartKeepsSocketsNonblocking(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	nonblocking := func() bool {
		sc, _ := f.SyscallConn()
		var flags int
		sc.Control(func(fd uintptr) { flags, _ = unix.FcntlInt(fd, unix.F_GETFL, 0) })
		return flags&unix.O_NONBLOCK != 0
	}
	if !nonblocking() {
		t.Fatal("the listener's file is blocking before any child")
	}
	self, _ := os.Executable()
	c, err := Start(Spec{Name: "sleep", Path: self, Args: []string{self},
		Env: append(os.Environ(), helperEnv+"=sleep"), Files: []*os.File{nil, nil, os.Stderr, f}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { c.Signal(syscall.SIGKILL); waitExit(t, c.Pid); c.Close() }()
	if !nonblocking() {
		t.Error("starting a child switched the shared socket to blocking mode")
	}
}

// TestDeadlinesAfterStall: a supervisor that comes to a Starting or
// Running deadline well past it (it was stopped itself) renews it rather
// than report the child overdue; a Stopping deadline is kept.
func TestDeadlinesAfterStall(t *testing.T) {
	g := NewGroup()
	a, b := helper(t, "sleep", nil), helper(t, "sleep", nil)
	g.Add(a)
	g.Add(b)
	defer func() {
		g.Kill()
		for _, ch := range []*Child{a, b} {
			waitExit(t, ch.Pid)
			g.Reaped(Exit{Pid: ch.Pid})
		}
	}()
	g.Arm(a.Pid, Running, 200*time.Millisecond)
	g.Retire(b, syscall.SIGCONT, 200*time.Millisecond) // harmless: it sleeps on
	time.Sleep(time.Second)                            // the supervisor stalled: the loop did not run
	due := g.Expired()
	if len(due) != 1 || due[0].Child != b || due[0].Phase != Stopping {
		t.Fatalf("after a stall, Expired = %+v; want only b, stopping", due)
	}
	if p, ok := g.Phase(a.Pid); !ok || p != Running {
		t.Fatalf("a's deadline: %v %v, want renewed, running", p, ok)
	}
	select {
	case <-g.Deadline():
	case <-time.After(5 * time.Second):
		t.Fatal("the renewed deadline did not fire")
	}
	if due := g.Expired(); len(due) != 1 || due[0].Child != a {
		t.Errorf("Expired = %+v, want a once its renewed deadline passed, watched", due)
	}
}

// TestStartNamesPath: a child that cannot be started is reported with the
// path that was tried, and the cause stays testable with errors.Is.
func TestStartNamesPath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "no-such-conductor")
	_, err := Start(Spec{Name: "conductor", Path: path, Args: []string{path}})
	if err == nil {
		t.Fatal("started a missing executable")
	}
	if want := "start conductor: no such file or directory (" + path + ")"; err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	if !errors.Is(err, unix.ENOENT) {
		t.Errorf("error %v is not ENOENT", err)
	}
}

// TestFromPidfd: a process held by a pidfd passed from elsewhere (a
// role's peer) is signalled as a child is, and once gone its Signal says
// who, and wraps ESRCH.
func TestFromPidfd(t *testing.T) {
	c := helper(t, "sleep", nil)
	defer c.Close()
	fd, err := unix.PidfdOpen(c.Pid, 0)
	if err != nil {
		t.Fatal(err)
	}
	peer := FromPidfd("peer", c.Pid, fd)
	defer peer.Close()
	if err := peer.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if e := waitExit(t, c.Pid); e.String() != "signal=TERM" {
		t.Errorf("peer: %s", e)
	}
	err = peer.Signal(syscall.SIGTERM)
	if !errors.Is(err, unix.ESRCH) || !strings.Contains(err.Error(), fmt.Sprintf("signal peer[%d] SIGTERM", c.Pid)) {
		t.Errorf("signal to a peer gone: %v", err)
	}
}
