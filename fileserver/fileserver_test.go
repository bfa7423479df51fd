package main

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sigride/sigride/internal/library"
	"github.com/sigride/sigride/internal/proctest"
	"github.com/sigride/sigride/internal/wire"
)

// bin is the fileserver binary, built once by TestMain.
var bin string

func TestMain(m *testing.M) {
	// Tests orphan workers on purpose (SIGKILL to the master): as a
	// subreaper this process reaps them.
	if err := proctest.Subreaper(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	dir, err := proctest.Build(".", ".")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "fileserver")
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// serverProc is a running "fileserver serve" and its log.
type serverProc struct {
	t    *testing.T
	cmd  *exec.Cmd
	addr string
	tftp string // the TFTP address, with --tftp
	root string
	mu   sync.Mutex // guards tftp
	log  *proctest.Lines
	done chan struct{}
	code int
}

var (
	listeningRE = regexp.MustCompile(`listening on (\S+) with`)
	tftpOnRE    = regexp.MustCompile(`tftp on udp (\S+)$`)
)

// startServer starts a server on a free port of 127.0.0.1 and waits for it
// to say it listens.
func startServer(t *testing.T, args ...string) *serverProc {
	t.Helper()
	root := filepath.Join(t.TempDir(), "library")
	cmd := exec.Command(bin, append([]string{"serve", "--root", root, "--listen", "127.0.0.1:0"}, args...)...)
	// A plain pipe, not StderrPipe: the process's exit must be seen on its
	// own, for its pipe may outlive it (a successor master inherits it).
	// The whole log is on stderr, the announcements too.
	errR, errW, _ := os.Pipe()
	cmd.Stderr = errW
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	errW.Close()
	t.Cleanup(func() { errR.Close() })
	s := &serverProc{t: t, cmd: cmd, root: root, log: proctest.NewLines(), done: make(chan struct{})}
	go s.log.Follow(errR)
	ready := make(chan string, 1)
	go func() {
		got, err := s.log.Wait(listeningRE, 1, 10*time.Second)
		if err != nil {
			return
		}
		// The TFTP line comes before the listening line; a successor
		// says it again.
		if tl := s.log.Matching(tftpOnRE); len(tl) > 0 {
			s.mu.Lock()
			s.tftp = tftpOnRE.FindStringSubmatch(tl[0])[1]
			s.mu.Unlock()
		}
		ready <- listeningRE.FindStringSubmatch(got[0])[1]
	}()
	go func() {
		s.code = exitCode(cmd.Wait())
		close(s.done)
	}()
	t.Cleanup(s.stop)
	select {
	case s.addr = <-ready:
	case <-s.done:
		t.Fatalf("server exited %d before listening:\n%s", s.code, s.logText())
	case <-time.After(10 * time.Second):
		t.Fatalf("server not listening after 10s:\n%s", s.logText())
	}
	return s
}

func (s *serverProc) logText() string { return s.log.String() }

// waitLog waits until the log has n lines matching re, and returns them.
func (s *serverProc) waitLog(re *regexp.Regexp, n int) []string {
	s.t.Helper()
	got, err := s.log.Wait(re, n, 10*time.Second)
	if err != nil {
		s.t.Fatal(err)
	}
	return got
}

func (s *serverProc) stop() {
	select {
	case <-s.done:
	default:
		s.cmd.Process.Signal(syscall.SIGKILL)
		<-s.done
	}
}

// client runs a client command against s.
func (s *serverProc) client(args ...string) (string, string, int) {
	cmd := exec.Command(bin, append(args, "--addr", s.addr)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	code := exitCode(cmd.Run())
	return stdout.String(), stderr.String(), code
}

func exitCode(err error) int { return proctest.ExitCode(err) }

// randomFile writes size random bytes to a file in dir. Big files go
// through a small buffer: under the race detector a heap of hundreds of
// MB costs seconds in shadow memory.
func randomFile(t *testing.T, dir string, size int) string {
	t.Helper()
	p := filepath.Join(dir, fmt.Sprintf("src-%d.bin", size))
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := io.CopyBuffer(f, io.LimitReader(rand.Reader, int64(size)), make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	return p
}

// sameFile fails the test unless files a and b hold the same bytes.
func sameFile(t *testing.T, a, b string) {
	t.Helper()
	fa, err1 := os.Open(a)
	fb, err2 := os.Open(b)
	if err1 != nil || err2 != nil {
		t.Fatalf("compare %s and %s: %v %v", a, b, err1, err2)
	}
	defer fa.Close()
	defer fb.Close()
	x, y := make([]byte, 1<<20), make([]byte, 1<<20)
	for off := 0; ; {
		n, err1 := io.ReadFull(fa, x)
		m, err2 := io.ReadFull(fb, y)
		if n != m || !bytes.Equal(x[:n], y[:m]) {
			t.Fatalf("%s and %s differ within bytes %d..%d", a, b, off, off+max(n, m))
		}
		off += n
		if err1 != nil || err2 != nil {
			if err1 != err2 || (err1 != io.EOF && err1 != io.ErrUnexpectedEOF) {
				t.Fatalf("compare %s and %s at %d: %v %v", a, b, off, err1, err2)
			}
			return
		}
	}
}

// TestRoundTrips: empty, small, binary and large files up and down, every
// byte compared, and listed with their sizes.
func TestRoundTrips(t *testing.T) {
	s := startServer(t, "--workers", "2")
	dir := t.TempDir()
	// Empty, small (served from memory, to its last byte and one past it),
	// and large: hundreds of MB, by sendfile and splice.
	sizes := []int{0, 6, library.SmallMax, library.SmallMax + 1, 1 << 20, 300 << 20}
	for _, size := range sizes {
		src := randomFile(t, dir, size)
		name := fmt.Sprintf("d/f%d.bin", size)
		if _, stderr, code := s.client("put", src, "--as", name); code != 0 {
			t.Fatalf("put %d bytes: exit %d: %s", size, code, stderr)
		}
		sameFile(t, src, filepath.Join(s.root, name))
		dst := filepath.Join(dir, fmt.Sprintf("got-%d", size))
		if _, stderr, code := s.client("get", name, "-o", dst); code != 0 {
			t.Fatalf("get %d bytes: exit %d: %s", size, code, stderr)
		}
		sameFile(t, src, dst)
		if _, err := os.Stat(dst + ".part"); err == nil {
			t.Errorf("%s.part left behind", dst)
		}
	}
	stdout, _, code := s.client("ls")
	if code != 0 {
		t.Fatalf("ls: exit %d", code)
	}
	for _, size := range sizes {
		if !strings.Contains(stdout, fmt.Sprintf("d/f%d.bin\t%d\t", size, size)) {
			t.Errorf("ls lacks d/f%d.bin:\n%s", size, stdout)
		}
	}
	if stdout, _, _ := s.client("ls", "--json"); !strings.Contains(stdout, `"name": "d/f6.bin"`) {
		t.Errorf("ls --json:\n%s", stdout)
	}
}

// TestBadNames: every name that could leave the root is refused, with exit
// 1 and one line, and the attempt is logged.
func TestBadNames(t *testing.T) {
	s := startServer(t, "--workers", "1")
	os.Symlink("/etc", filepath.Join(s.root, "etc"))
	src := randomFile(t, t.TempDir(), 10)
	for _, name := range []string{"../x", "/etc/passwd", "a/../../x", "etc/passwd", "a\x1bb", "a\nb", strings.Repeat("n", 300)} {
		for _, op := range []string{"get", "put"} {
			args := []string{"get", name, "-o", filepath.Join(t.TempDir(), "x")}
			if op == "put" {
				args = []string{"put", src, "--as", name}
			}
			_, stderr, code := s.client(args...)
			if code != 1 || !strings.Contains(stderr, "bad name") || strings.Count(stderr, "\n") != 1 {
				t.Errorf("%s %q: exit %d, stderr %q", op, name, code, stderr)
			}
		}
	}
	s.waitLog(regexp.MustCompile(`refused`), 14)
	if ents, _ := os.ReadDir(s.root); len(ents) != 1 {
		t.Errorf("library holds %v", ents)
	}
}

// TestNotFoundAndLimits: a missing file, an oversize upload: exit 1, one
// line, nothing written.
func TestNotFoundAndLimits(t *testing.T) {
	s := startServer(t, "--workers", "1", "--max-upload", "1KiB")
	dst := filepath.Join(t.TempDir(), "x")
	if _, stderr, code := s.client("get", "missing", "-o", dst); code != 1 || !strings.Contains(stderr, "not found") {
		t.Errorf("get missing: exit %d %q", code, stderr)
	}
	if _, err := os.Stat(dst + ".part"); err == nil {
		t.Error("a .part left for a missing file")
	}
	big := randomFile(t, t.TempDir(), 2048)
	if _, stderr, code := s.client("put", big, "--as", "big"); code != 1 || !strings.Contains(stderr, "too large") {
		t.Errorf("put 2KiB over 1KiB: exit %d %q", code, stderr)
	}
	if ents, _ := os.ReadDir(s.root); len(ents) != 0 {
		t.Errorf("library holds %v", ents)
	}
}

// TestContinue: a download resumed from a .part holding the first half.
func TestContinue(t *testing.T) {
	s := startServer(t, "--workers", "1")
	dir := t.TempDir()
	src := randomFile(t, dir, 3<<20)
	if _, stderr, code := s.client("put", src, "--as", "r.bin"); code != 0 {
		t.Fatal(stderr)
	}
	data, _ := os.ReadFile(src)
	dst := filepath.Join(dir, "r.bin")
	os.WriteFile(dst+".part", data[:1<<20], 0o644)
	if _, stderr, code := s.client("get", "r.bin", "-o", dst, "--continue"); code != 0 {
		t.Fatalf("get --continue: exit %d %s", code, stderr)
	}
	sameFile(t, src, dst)
	// A .part that lies about the file is caught by the whole file's sum.
	os.WriteFile(dst+"2.part", bytes.Repeat([]byte("x"), 1<<20), 0o644)
	if _, stderr, code := s.client("get", "r.bin", "-o", dst+"2", "--continue"); code != 1 || !strings.Contains(stderr, "checksum mismatch") {
		t.Errorf("corrupt .part: exit %d %q", code, stderr)
	}
	if _, err := os.Stat(dst + "2"); err == nil {
		t.Error("a corrupt download became visible")
	}
}

var readyRE = regexp.MustCompile(`worker (\d+) pid=(\d+) ready`)

func workerPids(lines []string) []int {
	var pids []int
	for _, l := range lines {
		if m := readyRE.FindStringSubmatch(l); m != nil {
			pid, _ := strconv.Atoi(m[2])
			pids = append(pids, pid)
		}
	}
	return pids
}

// TestWorkerKilledIsReplaced: kill -9 of a worker, and a new one is ready
// within a second; the others go on serving.
func TestWorkerKilledIsReplaced(t *testing.T) {
	s := startServer(t, "--workers", "2")
	pids := workerPids(s.waitLog(readyRE, 2))
	killed := time.Now()
	syscall.Kill(pids[0], syscall.SIGKILL)
	s.waitLog(regexp.MustCompile(fmt.Sprintf(`pid=%d exited signal=KILL`, pids[0])), 1)
	s.waitLog(readyRE, 3)
	if d := time.Since(killed); d > time.Second {
		t.Errorf("replacement ready after %v, want within 1s", d)
	}
	if _, stderr, code := s.client("ls"); code != 0 {
		t.Errorf("ls after the kill: %s", stderr)
	}
}

// TestCrashLoopBackoff: workers that die young are replaced after a wait
// that doubles (100 ms, 200 ms, 400 ms ...), not in a tight loop; once they
// can start again, the pool serves. Here they die because the library
// cannot be opened: its directory has been swapped for a file.
func TestCrashLoopBackoff(t *testing.T) {
	s := startServer(t, "--workers", "1")
	pids := workerPids(s.waitLog(readyRE, 1))
	aside := s.root + ".aside"
	if err := os.Rename(s.root, aside); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.root, []byte("not a directory"), 0o644); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	syscall.Kill(pids[0], syscall.SIGKILL)
	youngRE := regexp.MustCompile(`workers die young \((\d+) in a row\): next one in (\S+)$`)
	lines := s.waitLog(youngRE, 4)
	// The fourth young death comes after the first three waits at least.
	if d := time.Since(killed); d < 700*time.Millisecond {
		t.Errorf("four young deaths %v after the kill: the waits were not kept", d)
	}
	var waits []time.Duration
	for i, l := range lines[:4] {
		m := youngRE.FindStringSubmatch(l)
		d, _ := time.ParseDuration(m[2])
		if m[1] != strconv.Itoa(i+1) {
			t.Errorf("line %d: %q, want %d in a row", i, l, i+1)
		}
		waits = append(waits, d)
	}
	want := []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond}
	if !slices.Equal(waits, want) {
		t.Errorf("back-off %v, want %v", waits, want)
	}
	// The library back: the next worker starts and serves.
	os.Remove(s.root)
	if err := os.Rename(aside, s.root); err != nil {
		t.Fatal(err)
	}
	s.waitLog(readyRE, 2)
	if _, stderr, code := s.client("ls"); code != 0 {
		t.Errorf("ls after the crash loop: %s", stderr)
	}
}

// TestTTINTTOU: one worker more, one fewer.
func TestTTINTTOU(t *testing.T) {
	s := startServer(t, "--workers", "1")
	s.waitLog(readyRE, 1)
	s.cmd.Process.Signal(syscall.SIGTTIN)
	pids := workerPids(s.waitLog(readyRE, 2))
	s.cmd.Process.Signal(syscall.SIGTTOU)
	s.waitLog(regexp.MustCompile(fmt.Sprintf(`worker 2 pid=%d exited exit=0`, pids[1])), 1)
	if _, stderr, code := s.client("ls"); code != 0 {
		t.Errorf("ls with one worker: %s", stderr)
	}
	if strings.Contains(s.logText(), "worker 3") {
		t.Errorf("a retired worker was replaced:\n%s", s.logText())
	}
}

// TestTTINWhileStopping: a master that is stopping (here SIGQUIT, held
// open by an upload in flight; in the soak, an old master draining after
// SIGUSR2) starts no worker on SIGTTIN: one would get no stop signal and
// keep the master from ever exiting.
func TestTTINWhileStopping(t *testing.T) {
	s := startServer(t, "--workers", "1")
	s.waitLog(readyRE, 1)
	body := []byte("held open across the stop")
	c, resp := rawRequest(t, s.addr, wire.Request{Op: wire.OpPut, Name: "held.txt", Arg: uint64(len(body))})
	if resp.Status != wire.StatusContinue {
		t.Fatalf("PUT answered %v", resp.Status)
	}
	c.Write(body[:4]) // the upload is under way: the worker must finish it
	s.cmd.Process.Signal(syscall.SIGQUIT)
	s.waitLog(regexp.MustCompile(`SIGQUIT: stopping`), 1)
	s.cmd.Process.Signal(syscall.SIGTTIN)
	s.waitLog(regexp.MustCompile(`SIGTTIN: stopping, no worker added or retired`), 1)
	sum := sha256.Sum256(body)
	c.Write(append(body[4:], sum[:]...))
	if resp, err := wire.ReadResponse(c); err != nil || resp.Status != wire.StatusOK {
		t.Fatalf("the upload in flight: %v %v", resp.Status, err)
	}
	c.Close()
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		t.Fatalf("master still running:\n%s", s.logText())
	}
	if s.code != 0 || strings.Contains(s.logText(), "worker 2") {
		t.Errorf("exit %d; want 0 and no worker started:\n%s", s.code, s.logText())
	}
}

// TestStop: SIGTERM and SIGQUIT stop the pool, exit 0, the pidfile gone.
func TestStop(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT} {
		t.Run(sig.String(), func(t *testing.T) {
			pidfile := filepath.Join(t.TempDir(), "fs.pid")
			s := startServer(t, "--workers", "2", "--pidfile", pidfile)
			b, err := os.ReadFile(pidfile)
			if pid, _ := strconv.Atoi(strings.TrimSpace(string(b))); err != nil || pid != s.cmd.Process.Pid {
				t.Fatalf("pidfile %q, %v", b, err)
			}
			s.cmd.Process.Signal(sig)
			select {
			case <-s.done:
			case <-time.After(10 * time.Second):
				t.Fatal("still running")
			}
			if s.code != 0 {
				t.Errorf("exit %d\n%s", s.code, s.logText())
			}
			if _, err := os.Stat(pidfile); err == nil {
				t.Error("pidfile left behind")
			}
		})
	}
}

// TestMasterKilled: the workers never outlive their master by more than a
// second.
func TestMasterKilled(t *testing.T) {
	s := startServer(t, "--workers", "2")
	pids := workerPids(s.waitLog(readyRE, 2))
	var fds []int
	for _, pid := range pids {
		fd, err := unix.PidfdOpen(pid, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(fd)
		fds = append(fds, fd)
	}
	s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.done
	end := time.Now().Add(time.Second)
	for i, fd := range fds {
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, _ := unix.Poll(pfd, int(max(time.Until(end), 0).Milliseconds()))
		if n != 1 {
			t.Errorf("worker %d still alive a second after its master died", pids[i])
			syscall.Kill(pids[i], syscall.SIGKILL)
		}
		var ws unix.WaitStatus
		unix.Wait4(pids[i], &ws, 0, nil) // re-parented here: reap
	}
}

// TestUsage: exit 2 for bad command lines, 0 for --help.
func TestUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{nil, 2, "usage: fileserver COMMAND"},
		{[]string{"fly"}, 2, `unknown command "fly"`},
		{[]string{"serve", "--workers", "x"}, 2, "invalid argument"},
		{[]string{"serve", "--max-upload", "lots"}, 2, "bad size"},
		{[]string{"serve", "--workers", "0"}, 2, "must be positive"},
		{[]string{"serve", "--grace", "0s"}, 2, "must be positive"},
		{[]string{"serve", "extra"}, 2, `unexpected argument "extra"`},
		{[]string{"serve", "--listen", "127.0.0.1:99999"}, 1, "listen: "},
		{[]string{"bench", "--op", "dance"}, 2, "want get, put or ls"},
		{[]string{"bench", "--requests", "10"}, 2, "--requests 10 is fewer than --clients 16"},
		{[]string{"bench", "--clients", "0"}, 2, "--clients 0: want at least one"},
		{[]string{"put", "/nonexistent/file"}, 1, "/nonexistent/file"},
		{[]string{"get"}, 2, "want one argument, got 0"},
		{[]string{"put", "a", "b"}, 2, "want one argument, got 2"},
		{[]string{"ls", "x"}, 2, `unexpected argument "x"`},
		{[]string{"ls", "--bogus"}, 2, "unknown flag"},
		{[]string{"get", "--help"}, 0, "usage: fileserver get"},
		{[]string{"get", "x", "--addr", "127.0.0.1:1"}, 1, "connect to 127.0.0.1:1"},
	} {
		cmd := exec.Command(bin, tc.args...)
		cmd.Dir = t.TempDir()
		out, _ := cmd.CombinedOutput()
		code := cmd.ProcessState.ExitCode()
		if code != tc.code || !strings.Contains(string(out), tc.want) {
			t.Errorf("%v: exit %d, output %q; want %d and %q", tc.args, code, out, tc.code, tc.want)
		}
	}
}

// TestHUPRollingRestart: SIGHUP replaces every worker while clients keep
// downloading, by TCP and by TFTP: zero failures, every old worker gone (exit 0), as many new
// ones ready.
func TestHUPRollingRestart(t *testing.T) {
	s := startServer(t, "--workers", "2", "--tftp", "127.0.0.1:0")
	src := randomFile(t, t.TempDir(), 64<<10)
	if _, stderr, code := s.client("put", src, "--as", "f.bin"); code != 0 {
		t.Fatal(stderr)
	}
	old := workerPids(s.waitLog(readyRE, 2))
	load := startLoad(t, s.addr, "f.bin")
	load.addTFTP(s.tftp, "f.bin") // TFTP through the restart too
	load.waitMore(20)
	s.cmd.Process.Signal(syscall.SIGHUP)
	s.waitLog(regexp.MustCompile(`every worker replaced`), 1)
	for _, pid := range old {
		s.waitLog(regexp.MustCompile(fmt.Sprintf(`pid=%d exited exit=0`, pid)), 1)
	}
	load.finish("the restart")
	if n := len(workerPids(s.waitLog(readyRE, 4))); n != 4 {
		t.Errorf("%d workers ready in all, want 2 old and 2 new", n)
	}
}

// TestBench: the load generator runs each op and reports what it did.
func TestBench(t *testing.T) {
	s := startServer(t, "--workers", "2")
	for _, op := range []string{"get", "put", "ls"} {
		stdout, stderr, code := s.client("bench", "--op", op, "--clients", "8", "--requests", "200", "--size", "8KiB")
		if code != 0 {
			t.Fatalf("bench %s: exit %d %s", op, code, stderr)
		}
		for _, want := range []string{"op " + op + ", 8192 bytes, 8 clients, 200 requests in", "\nops/s\t", "\np99\t", "\nfailed\t0\n"} {
			if !strings.Contains(stdout, want) {
				t.Errorf("bench %s lacks %q:\n%s", op, want, stdout)
			}
		}
	}
	if _, err := os.Stat(filepath.Join(s.root, "bench/get-8192.bin")); err != nil {
		t.Errorf("the file to get: %v", err)
	}
	if _, stderr, code := s.client("bench", "--op", "dance"); code != 2 || !strings.Contains(stderr, `--op "dance"`) {
		t.Errorf("bad op: exit %d %q", code, stderr)
	}
}

// TestUSR2Upgrade: the binary on disk is replaced, SIGUSR2 starts a new
// master from it; the pidfile names the new master once it serves; the old
// one drains and exits 0; client loops running throughout see no failure.
func TestUSR2Upgrade(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "fileserver")
	copyExe := func() {
		b, err := os.ReadFile(bin)
		if err != nil {
			t.Fatal(err)
		}
		// A new file renamed over the old, as an install does.
		if err := os.WriteFile(exe+".new", b, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(exe+".new", exe); err != nil {
			t.Fatal(err)
		}
	}
	copyExe()
	pidfile := filepath.Join(dir, "fs.pid")
	saved := bin
	bin = exe
	s := startServer(t, "--workers", "2", "--pidfile", pidfile, "--tftp", "127.0.0.1:0")
	bin = saved
	oldPid := s.cmd.Process.Pid
	src := randomFile(t, dir, 64<<10)
	if _, stderr, code := s.client("put", src, "--as", "f.bin"); code != 0 {
		t.Fatal(stderr)
	}
	load := startLoad(t, s.addr, "f.bin")
	load.addTFTP(s.tftp, "f.bin")
	load.waitMore(20)
	copyExe() // the new binary on disk
	s.cmd.Process.Signal(syscall.SIGUSR2)
	select {
	case <-s.done:
	case <-time.After(20 * time.Second):
		t.Fatalf("old master still running:\n%s", s.logText())
	}
	if s.code != 0 {
		t.Errorf("old master exit %d", s.code)
	}
	b, err := os.ReadFile(pidfile)
	newPid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || newPid == oldPid || newPid == 0 {
		t.Fatalf("pidfile %q after the upgrade (old master %d): %v\n%s", b, oldPid, err, s.logText())
	}
	// The new master says where it is: a terminal's ^C no longer reaches it.
	s.waitLog(regexp.MustCompile(fmt.Sprintf(`^fileserver\[%d\]: new master %d serving; pidfile %s$`, newPid, newPid, regexp.QuoteMeta(pidfile))), 1)
	load.finish("the upgrade")
	// The TFTP socket was handed over too: the new master's workers serve it.
	needClients(t)
	got := filepath.Join(dir, "by-tftp")
	if out, code := runTool(t, dir, "curl", "-sS", "-o", got, "tftp://"+s.tftp+"/f.bin"); code != 0 {
		t.Errorf("tftp after the upgrade: exit %d %s", code, out)
	} else {
		sameFile(t, src, got)
	}
	// The new master was re-parented to this subreaper: stop and reap it.
	syscall.Kill(newPid, syscall.SIGTERM)
	var ws unix.WaitStatus
	if _, err := unix.Wait4(newPid, &ws, 0, nil); err != nil || ws.ExitStatus() != 0 {
		t.Errorf("new master: %v, %v\n%s", ws, err, s.logText())
	}
	if _, err := os.Stat(pidfile); err == nil {
		t.Error("pidfile left after the new master stopped")
	}
}

// load is four client loops downloading one file over and over, through
// whatever the server goes through meanwhile.
type load struct {
	t            *testing.T
	stop         chan struct{}
	once         sync.Once
	wg           sync.WaitGroup
	done, failed atomic.Int64
}

// startLoad starts the loops and returns once they have done 20 requests.
func startLoad(t *testing.T, addr, name string) *load {
	l := &load{t: t, stop: make(chan struct{})}
	t.Cleanup(l.halt) // a failure must not leave the loops running
	for i := 0; i < 4; i++ {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			dst := filepath.Join(t.TempDir(), "got")
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				if err := runGet([]string{name, "-o", dst, "--addr", addr}, io.Discard, io.Discard); err != nil {
					l.failed.Add(1)
					t.Errorf("get: %v", err)
				}
				l.done.Add(1)
			}
		}()
	}
	l.waitMore(20)
	return l
}

// addTFTP adds a loop downloading name by TFTP with curl (tftpAddr: the
// server's --tftp), one process per download.
func (l *load) addTFTP(tftpAddr, name string) {
	needClients(l.t)
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		dst := filepath.Join(l.t.TempDir(), "got-tftp")
		for {
			select {
			case <-l.stop:
				return
			default:
			}
			if out, err := exec.Command("curl", "-sS", "-o", dst, "tftp://"+tftpAddr+"/"+name).CombinedOutput(); err != nil {
				l.failed.Add(1)
				l.t.Errorf("tftp get: %v %s", err, out)
			}
			l.done.Add(1)
		}
	}()
}

// waitMore waits until the loops have done n more requests.
func (l *load) waitMore(n int64) {
	for target := l.done.Load() + n; l.done.Load() < target; {
		time.Sleep(time.Millisecond) // polling a counter the loops advance
	}
}

func (l *load) halt() {
	l.once.Do(func() { close(l.stop) })
	l.wg.Wait()
}

// finish lets the loops do 20 more requests (the server still serves),
// stops them, and fails the test if any request failed during what.
func (l *load) finish(what string) {
	l.t.Helper()
	l.waitMore(20)
	l.halt()
	if n := l.failed.Load(); n != 0 {
		l.t.Errorf("%d of %d requests failed during %s", n, l.done.Load(), what)
	}
}
