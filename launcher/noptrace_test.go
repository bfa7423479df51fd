package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/sigride/sigride/internal/proctest"
)

// refusedLine is what the launcher says where ptrace is refused.
const refusedLine = "launcher: ptrace refused (operation not permitted): running without it: roles recognised from /proc, no send, receive or print events\n"

// auditArch is the AUDIT_ARCH of this machine's system calls, as a
// seccomp filter sees them; 0 where the tests do not know it.
var auditArch = map[string]uint32{"amd64": unix.AUDIT_ARCH_X86_64, "arm64": unix.AUDIT_ARCH_AARCH64}[runtime.GOARCH]

// noPtrace execs argv where ptrace(2) fails with EPERM, as under a
// container's seccomp profile that denies it (Docker's default did,
// before Linux 4.8): a filter installed on this thread, which then
// execs, so that the launcher runs under it, and every process it starts.
func noPtrace(argv []string) int {
	runtime.LockOSThread() // for good: the filter is this thread's
	if err := refusePtrace(); err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 1
	}
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, helperEnv+"=") })
	err := syscall.Exec(argv[0], argv, env)
	fmt.Fprintln(os.Stderr, "helper: exec:", err)
	return 1
}

// refusePtrace installs a seccomp filter on the calling thread: ptrace
// fails with EPERM, every other call of the machine's architecture is
// allowed (another's too: the launcher makes none).
func refusePtrace() error {
	if auditArch == 0 {
		return fmt.Errorf("no seccomp filter for %s", runtime.GOARCH)
	}
	filter := []unix.SockFilter{
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: 4}, // seccomp_data.arch
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, K: auditArch, Jt: 0, Jf: 3},
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: 0}, // seccomp_data.nr
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, K: unix.SYS_PTRACE, Jt: 0, Jf: 1},
		{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)},
		{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ALLOW},
	}
	prog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	// Without privileges, a filter needs no_new_privs (and so would the
	// launcher's exec, were it setuid).
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("no_new_privs: %w", err)
	}
	if err := unix.Prctl(unix.PR_SET_SECCOMP, unix.SECCOMP_MODE_FILTER, uintptr(unsafe.Pointer(&prog)), 0, 0); err != nil {
		return fmt.Errorf("seccomp: %w", err)
	}
	return nil
}

// noPtraceLauncher is bin/launcher with args, started where ptrace is
// refused (the test binary as the "noptrace" helper, which execs it).
func noPtraceLauncher(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	if auditArch == 0 {
		t.Skipf("no seccomp filter for %s", runtime.GOARCH)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self, append([]string{filepath.Join(binDir, "launcher")}, args...)...)
	cmd.Env = append(os.Environ(), helperEnv+"=noptrace")
	return cmd
}

// TestNoPtrace: where ptrace is refused (a seccomp filter, as a
// container may have), launcher -- CMD says so and runs without it: the
// homework's roles recognised from /proc (the driver the parent, the
// conductor its child; ride.c's too, which takes its signals with
// sigwaitinfo), the keys pressed by a scenario reaching them, their
// exits seen and the driver reaped, exit 0, nothing left behind.
func TestNoPtrace(t *testing.T) {
	for name, cmd := range homework(t) {
		t.Run(name, func(t *testing.T) {
			args := append([]string{"--lang", "en", "--scenario", "testdata/noptrace-keys.en.scenario", "--"}, cmd...)
			r := followRide(t, noPtraceLauncher(t, args...), nil)
			r.ready()
			// At once: the conductor gets off 200ms after the first key.
			if ppid, _, _ := proctest.Stat(r.Driver); ppid != r.cmd.Process.Pid {
				t.Errorf("the driver %d is the child of %d, want the launcher %d (the program itself)", r.Driver, ppid, r.cmd.Process.Pid)
			}
			if ppid, _, _ := proctest.Stat(r.Conductor); ppid != r.Driver {
				t.Errorf("the conductor %d is the child of %d, want the driver %d", r.Conductor, ppid, r.Driver)
			}
			// The program's own lines, straight to stdout, unseen by the
			// launcher: the keys reached each role.
			r.expect("The old driver sets off")
			r.expect("Fasten your seat belts, we are going a bit fast")
			r.expect("We have arrived, please get off")
			// The runner's goroutine says its steps as the loop says the
			// reaping: both roles may end in one look of the watcher.
			r.expectAll(":9 expect exit conductor 0 within 2s: ok", fmt.Sprintf("reaped driver pid=%d exit=0", r.Driver),
				":10 expect exit driver 0 within 2s: ok")
			if stderr := r.finished(0); !strings.HasPrefix(stderr, refusedLine) {
				t.Errorf("stderr does not begin with the refusal:\n%s", stderr)
			}
			// r's cleanup: neither role outlived the ride.
		})
	}
}

// TestNoPtraceStopped: without ptrace, SIGTERM to the launcher still
// stops every process of the program, and it exits 143.
func TestNoPtraceStopped(t *testing.T) {
	r := followRide(t, noPtraceLauncher(t, "--lang", "en", "--", proctest.Python(t), "../scripts/homework/ride.py"), nil)
	r.ready()
	r.kill(r.cmd.Process.Pid, syscall.SIGTERM)
	r.expect(fmt.Sprintf("reaped driver pid=%d signal=TERM", r.Driver))
	r.finished(143)
	// r's cleanup: neither role outlived the ride.
}

// TestNoPtraceLines: without ptrace a scenario cannot see a role's
// lines: its expect fails at once, saying so, not as a time out that
// would look like the program's fault.
func TestNoPtraceLines(t *testing.T) {
	cmd := noPtraceLauncher(t, "--lang", "en", "--scenario", "testdata/noptrace-lines.en.scenario",
		"--", proctest.Python(t), "../scripts/homework/ride.py")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if code := exitCode(cmd.Run()); code != 1 {
		t.Fatalf("exit %d, want 1\n%s\n%s", code, stdout.String(), stderr.String())
	}
	want := `noptrace-lines.en.scenario:4: expected driver "The old driver sets off"; the program's lines cannot be seen without ptrace (refused here)`
	if !strings.Contains(stderr.String(), want) {
		t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
	}
	if m := regexp.MustCompile(`:4 expect driver .*: FAILED after (\S+)`).FindStringSubmatch(stdout.String()); m == nil {
		t.Errorf("no failed step:\n%s", stdout.String())
	} else if d, err := time.ParseDuration(m[1]); err != nil || d > time.Second {
		t.Errorf("the expect failed after %s, want at once", m[1])
	}
}

// TestNoPtraceThreads: without ptrace too, a process blocks what all its
// threads block, one in sigtimedwait what it waits for as well: the
// conductor whose worker sigwaits SIGINT and SIGQUIT is recognised; the
// one whose worker waits for SIGUSR2 only, blocking nothing, is not.
func TestNoPtraceThreads(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "threadwait")
	if out, err := exec.Command("gcc", "-Wall", "-Werror", "-pthread", "-o", bin, "testdata/threadwait.c").CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	r := followRide(t, noPtraceLauncher(t, "--grace", "300ms", "--", bin, "ok"), nil)
	r.ready()
	r.kill(r.cmd.Process.Pid, syscall.SIGTERM)
	if code := r.wait(); code != 143 {
		t.Errorf("ok: exit %d, want 143\n%s", code, r.transcript())
	}
	cmd := noPtraceLauncher(t, "--ready-timeout", "1s", "--grace", "300ms", "--", bin, "bad")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if code := exitCode(cmd.Run()); code != 1 || !strings.Contains(stderr.String(), "no conductor (a process that handles SIGINT and SIGQUIT") {
		t.Errorf("bad: exit %d\n%s", code, stderr.String())
	}
}
