package main

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/sigride/sigride/internal/proctest"
	"github.com/sigride/sigride/internal/ride"
	"github.com/sigride/sigride/internal/trace"
	"github.com/sigride/sigride/internal/vocab"
)

// checkNoZombies fails if the launcher has a zombie child right now. The
// callers check at points where no role has exited, so any zombie there is
// one the launcher failed to reap; after the ride, TestRideByKill checks the
// roles are gone from /proc altogether (reaped, not merely dead).
func (r *rideProc) checkNoZombies() int {
	r.t.Helper()
	z := zombies(r.cmd.Process.Pid)
	if len(z) > 0 {
		r.t.Errorf("zombie children of the launcher: %v", z)
	}
	return len(z)
}

// TestRideByKill drives whole rides with kill(2), as a shell would, in both
// languages, and checks the lines, their order, the pid files and the reaping.
func TestRideByKill(t *testing.T) {
	for _, lang := range ride.Langs() {
		t.Run(lang, func(t *testing.T) {
			msgs, _ := ride.MessagesFor(lang)
			dir := filepath.Join(t.TempDir(), "run")
			r := startRide(t, nil, "--lang", lang, "--run-dir", dir)
			for name, want := range map[string]int{"driver": r.Driver, "conductor": r.Conductor, "launcher": r.cmd.Process.Pid} {
				b, err := os.ReadFile(filepath.Join(dir, name+".pid"))
				if err != nil {
					t.Fatalf("pid file: %v", err)
				}
				if got, _ := strconv.Atoi(strings.TrimSpace(string(b))); got != want {
					t.Errorf("%s.pid = %q, want %d", name, b, want)
				}
			}
			r.checkNoZombies()
			r.kill(r.Conductor, syscall.SIGINT)
			r.expect(fmt.Sprintf("driver[%d]: %s", r.Driver, msgs.SetOff))
			r.kill(r.Conductor, syscall.SIGQUIT)
			r.expect(fmt.Sprintf("driver[%d]: %s", r.Driver, msgs.SeatBelt))
			r.checkNoZombies()
			r.kill(r.Driver, syscall.SIGTSTP)
			r.expect(fmt.Sprintf("conductor[%d]: %s", r.Conductor, msgs.Arrived))
			r.expect(fmt.Sprintf("reaped conductor pid=%d exit=0", r.Conductor))
			r.expect(fmt.Sprintf("reaped driver pid=%d exit=0", r.Driver))
			if code := r.wait(); code != 0 {
				t.Fatalf("launcher exit %d, want 0\n%s", code, r.transcript())
			}
			if ents, _ := os.ReadDir(dir); len(ents) != 0 {
				t.Errorf("run dir not emptied: %v", ents)
			}
			for _, pid := range []int{r.Driver, r.Conductor} {
				if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil {
					t.Errorf("pid %d still in /proc after the ride", pid)
				}
			}
		})
	}
}

// TestLineFormat checks every stdout line of a ride is ROLE[PID]: TEXT.
func TestLineFormat(t *testing.T) {
	r := startRide(t, nil, "--lang", "en")
	r.kill(r.Conductor, syscall.SIGINT)
	r.expect("sets off")
	r.kill(r.Driver, syscall.SIGTSTP)
	if code := r.wait(); code != 0 {
		t.Fatalf("exit %d\n%s", code, r.transcript())
	}
	pids := map[string]int{"launcher": r.cmd.Process.Pid, "driver": r.Driver, "conductor": r.Conductor}
	for _, line := range r.output() {
		role, pid, _, err := ride.ParseLine(line)
		if err != nil {
			t.Errorf("line %q: %v", line, err)
			continue
		}
		if pids[role] != pid {
			t.Errorf("line %q: %s's pid is %d", line, role, pids[role])
		}
	}
}

// TestNoSignalLostAtStartup sends signals to the roles the moment the ready
// line appears: each must be handled (or ignored, as the role says), never
// take its default action (death for USR1, USR2, INT, QUIT; a stop for TSTP).
func TestNoSignalLostAtStartup(t *testing.T) {
	for i := 0; i < 10; i++ {
		r := startRide(t, nil, "--lang", "en")
		r.kill(r.Driver, syscall.SIGINT)     // ignored by the driver
		r.kill(r.Driver, syscall.SIGQUIT)    // ignored by the driver
		r.kill(r.Conductor, syscall.SIGTSTP) // ignored by the conductor
		r.kill(r.Driver, syscall.SIGUSR2)    // seat belts
		r.kill(r.Conductor, syscall.SIGINT)  // set off, through the conductor
		r.expectAll(fmt.Sprintf("driver[%d]: Fasten", r.Driver),
			fmt.Sprintf("driver[%d]: The old driver sets off", r.Driver))
		r.kill(r.Driver, syscall.SIGTSTP)
		r.expect("reaped conductor pid=")
		r.expect("reaped driver pid=")
		if code := r.wait(); code != 0 {
			t.Fatalf("ride %d: exit %d\n%s", i, code, r.transcript())
		}
		for _, line := range r.output() {
			if strings.Contains(line, "reaped") && !strings.HasSuffix(line, "exit=0") {
				t.Fatalf("ride %d: %s\n%s", i, line, r.transcript())
			}
		}
	}
}

// TestLauncherDropsKeys sends the keys to the launcher itself: it must
// neither die nor stop (a stopped launcher could not print its reaped lines).
func TestLauncherDropsKeys(t *testing.T) {
	r := startRide(t, nil)
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGQUIT, syscall.SIGTSTP} {
		r.kill(r.cmd.Process.Pid, sig)
	}
	r.kill(r.Driver, syscall.SIGTSTP)
	r.expect("reaped conductor pid=")
	r.expect("reaped driver pid=")
	if code := r.wait(); code != 0 {
		t.Fatalf("exit %d\n%s", code, r.transcript())
	}
}

// TestStopLauncher: SIGTERM or SIGHUP stops both roles and exits 128+signal.
func TestStopLauncher(t *testing.T) {
	for _, tc := range []struct {
		sig  syscall.Signal
		code int
	}{{syscall.SIGTERM, 143}, {syscall.SIGHUP, 129}} {
		t.Run(tc.sig.String(), func(t *testing.T) {
			r := startRide(t, nil)
			r.kill(r.cmd.Process.Pid, tc.sig)
			got := map[string]bool{}
			for range 2 {
				line := r.expect("reaped ")
				got[line[strings.Index(line, "reaped "):]] = true
			}
			for _, want := range []string{
				fmt.Sprintf("reaped driver pid=%d signal=TERM", r.Driver),
				fmt.Sprintf("reaped conductor pid=%d signal=TERM", r.Conductor),
			} {
				if !got[want] {
					t.Errorf("missing %q in %v", want, got)
				}
			}
			if code := r.wait(); code != tc.code {
				t.Fatalf("exit %d, want %d\n%s", code, tc.code, r.transcript())
			}
		})
	}
}

// TestStopAfterGrace: a role that ignores SIGTERM gets SIGKILL after --grace.
func TestStopAfterGrace(t *testing.T) {
	self, _ := os.Executable()
	r := startRide(t, []string{helperEnv + "=stubborn"}, "--driver", self, "--grace", "200ms")
	r.kill(r.cmd.Process.Pid, syscall.SIGTERM)
	r.expect(fmt.Sprintf("reaped conductor pid=%d signal=TERM", r.Conductor))
	r.expect(fmt.Sprintf("reaped driver pid=%d signal=KILL", r.Driver))
	if code := r.wait(); code != 143 {
		t.Fatalf("exit %d, want 143\n%s", code, r.transcript())
	}
}

// TestRoleKilled: a role that dies on its own is reported, the other one is
// stopped, and the launcher exits 1.
func TestRoleKilled(t *testing.T) {
	for _, victim := range []string{vocab.Driver, vocab.Conductor} {
		t.Run(victim, func(t *testing.T) {
			r := startRide(t, nil)
			pids := map[string]int{vocab.Driver: r.Driver, vocab.Conductor: r.Conductor}
			other := map[string]string{vocab.Driver: vocab.Conductor, vocab.Conductor: vocab.Driver}[victim]
			r.kill(pids[victim], syscall.SIGKILL)
			r.expect(fmt.Sprintf("reaped %s pid=%d signal=KILL", victim, pids[victim]))
			r.expect(fmt.Sprintf("reaped %s pid=%d signal=TERM", other, pids[other]))
			if code := r.wait(); code != 1 {
				t.Fatalf("exit %d, want 1\n%s", code, r.transcript())
			}
		})
	}
}

// TestStranger: SIGUSR1 and SIGUSR2 sent by hand, not by the peer. The
// conductor ignores a stranger's SIGUSR1 (only the driver says we have
// arrived) and says so on stderr; the driver takes its peer's signals from
// anyone: the line comes. The ride goes on whole: ^C still reaches the
// driver through the conductor, ^Z ends the ride, exit 0. With -v and in
// the trace each such receive names its sender.
func TestStranger(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ride.jsonl")
	r := startRide(t, nil, "-v", "--lang", "en", "--trace", path)
	me := os.Getpid()
	r.kill(r.Conductor, syscall.SIGUSR1)
	r.kill(r.Driver, syscall.SIGUSR2)
	r.expect(fmt.Sprintf("driver[%d]: Fasten", r.Driver))
	r.kill(r.Conductor, syscall.SIGINT)
	r.expect(fmt.Sprintf("driver[%d]: The old driver sets off", r.Driver))
	r.kill(r.Driver, syscall.SIGTSTP)
	r.expect(fmt.Sprintf("conductor[%d]: We have arrived", r.Conductor))
	r.expect(fmt.Sprintf("reaped conductor pid=%d exit=0", r.Conductor))
	r.expect(fmt.Sprintf("reaped driver pid=%d exit=0", r.Driver))
	log := r.finished(0)
	for _, want := range []string{
		fmt.Sprintf("conductor: SIGUSR1 from pid %d ignored: only the driver (^Z) says we have arrived", me),
		fmt.Sprintf("conductor[%d] receive SIGUSR1 from %d\n", r.Conductor, me),
		fmt.Sprintf("driver[%d] receive SIGUSR2 from %d\n", r.Driver, me),
		fmt.Sprintf("conductor[%d] receive SIGUSR1\n", r.Conductor), // the driver's, on ^Z
		fmt.Sprintf("conductor[%d] receive SIGINT\n", r.Conductor),  // a key: whoever sent it
	} {
		if !strings.Contains(log, want) {
			t.Errorf("stderr lacks %q:\n%s", want, log)
		}
	}
	from := map[string]int{}
	for _, e := range readTrace(t, path) {
		if e.Event == trace.Receive && e.From != 0 {
			from[e.Role+" "+e.Signal] = e.From
		}
	}
	if want := map[string]int{"conductor SIGUSR1": me, "driver SIGUSR2": me}; !maps.Equal(from, want) {
		t.Errorf("receives naming a sender: %v, want %v", from, want)
	}
}

// verboseRE is a line of -v: "launcher: +MS.mmmms ROLE[PID] EVENT".
var verboseRE = regexp.MustCompile(`^launcher: \+(\d+\.\d{3})ms ([a-z]+)\[\d+\] (.+)$`)

// TestVerboseEvents: with -v the roles report every event, and the launcher
// logs them with their times in milliseconds since it started, times that
// put them in causal order.
func TestVerboseEvents(t *testing.T) {
	r := startRide(t, nil, "-v", "--lang", "en")
	r.kill(r.Conductor, syscall.SIGINT)
	r.expect("sets off")
	r.kill(r.Driver, syscall.SIGTSTP)
	log := r.finished(0)
	type event struct {
		ms   float64
		what string // "ROLE EVENT"
	}
	var events []event
	for _, line := range strings.Split(strings.TrimSpace(log), "\n") {
		m := verboseRE.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("log line %q is not %q", line, verboseRE)
		}
		ms, err := strconv.ParseFloat(m[1], 64)
		if err != nil || ms <= 0 || ms > 60e3 {
			t.Fatalf("log line %q: %v ms since the start", line, m[1])
		}
		if m[3] != "ready" {
			events = append(events, event{ms: ms, what: m[2] + " " + m[3]})
		}
	}
	want := []string{
		"conductor receive SIGINT", fmt.Sprintf("conductor send SIGUSR1 %d", r.Driver),
		"driver receive SIGUSR1", "driver print The old driver sets off",
		"driver receive SIGTSTP", fmt.Sprintf("driver send SIGUSR1 %d", r.Conductor),
		"conductor receive SIGUSR1", "conductor print We have arrived, please get off",
		"conductor exit 0", "driver exit 0", // the conductor gets off first
	}
	// Reports from two sockets reach the launcher in any order; their
	// times, one clock for both processes, must put them in causal order.
	slices.SortStableFunc(events, func(a, b event) int { return cmp.Compare(a.ms, b.ms) })
	var got []string
	for _, e := range events {
		got = append(got, e.what)
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("events by time:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

var reapedRE = regexp.MustCompile(`reaped \w+ pid=(\d+) `)

// TestFailedStarts: the endings before or around the ready line, each with
// exit 1, a reason on stderr, and every started role stopped and reaped.
func TestFailedStarts(t *testing.T) {
	self, _ := os.Executable()
	for _, tc := range []struct {
		name   string
		env    []string
		args   []string
		lines  []string // in order
		stderr string
	}{
		{"never ready", []string{helperEnv + "=mute"}, []string{"--driver", self, "--ready-timeout", "300ms"},
			[]string{"reaped "}, "roles not ready after 300ms"},
		{"cannot start", nil, []string{"--driver", "/nonexistent/driver"},
			[]string{"reaped conductor pid="}, "start driver: no such file or directory"},
		{"driver leaves conductor aboard", []string{helperEnv + "=quitter"}, []string{"--driver", self},
			[]string{"ready driver=", "reaped driver pid=", "reaped conductor pid="}, "driver got off with the conductor still aboard"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRide(t, tc.env, tc.args...)
			for _, l := range tc.lines {
				if l == "ready driver=" {
					r.ready()
					r.kill(r.Driver, syscall.SIGTSTP)
					continue
				}
				r.expect(l)
			}
			stderr := r.finished(1)
			if !strings.Contains(stderr, tc.stderr) {
				t.Errorf("stderr %q lacks %q", stderr, tc.stderr)
			}
			reaped := 0
			for _, line := range r.output() {
				if strings.Contains(line, "ready driver=") && tc.name != "driver leaves conductor aboard" {
					t.Errorf("ready line printed: %q", line)
				}
				if m := reapedRE.FindStringSubmatch(line); m != nil {
					reaped++
					if _, err := os.Stat("/proc/" + m[1]); err == nil {
						t.Errorf("reaped pid %s still in /proc", m[1])
					}
				}
			}
			if want := 2 - strings.Count(tc.name, "cannot start"); reaped != want {
				t.Errorf("%d roles reaped, want %d\n%s", reaped, want, r.transcript())
			}
		})
	}
}

// TestStrangerBeforeArrival: a stranger's SIGUSR1 still pending at the
// conductor when the driver says we have arrived takes the driver's place
// (the kernel merges a standard signal with the one pending, keeping the
// first sender): the conductor ignores it, the driver says it again until
// the conductor has got off, and the ride ends.
func TestStrangerBeforeArrival(t *testing.T) {
	r := startRide(t, nil, "-v", "--lang", "en")
	r.stop(r.Conductor) // what it is sent stays pending
	r.kill(r.Conductor, syscall.SIGUSR1)
	r.kill(r.Driver, syscall.SIGTSTP)
	r.stderrHas(fmt.Sprintf("driver[%d] send SIGUSR1", r.Driver))
	r.kill(r.Conductor, syscall.SIGCONT)
	r.expect(fmt.Sprintf("conductor[%d]: We have arrived", r.Conductor))
	if code := r.wait(); code != 0 {
		t.Fatalf("exit %d, want 0\n%s", code, r.transcript())
	}
	r.stderrHas("conductor: SIGUSR1 from pid")
}

// stop sends SIGSTOP to pid and waits until it has stopped.
func (r *rideProc) stop(pid int) {
	r.t.Helper()
	r.kill(pid, syscall.SIGSTOP)
	for deadline := time.Now().Add(lineTimeout); ; {
		if _, state, _ := proctest.Stat(pid); state == 'T' {
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("pid %d not stopped after %v", pid, lineTimeout)
		}
		time.Sleep(time.Millisecond) // polls /proc until the stop has taken
	}
}

// stderrHas waits until the launcher's stderr holds want.
func (r *rideProc) stderrHas(want string) { r.t.Helper(); r.stderrHasN(want, 1) }

// stderrHasN waits until the launcher's stderr holds want n times.
func (r *rideProc) stderrHasN(want string, n int) {
	r.t.Helper()
	deadline := time.Now().Add(lineTimeout)
	for {
		log := r.errText()
		if strings.Count(log, want) >= n {
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("stderr lacks %d of %q after %v:\n%s", n, want, lineTimeout, log)
		}
		time.Sleep(10 * time.Millisecond) // polls what the launcher wrote
	}
}

// TestSignalsWhileArriving: while the driver waits for the conductor to
// get off (held stopped here, so the wait lasts), it still answers
// SIGUSR1 and SIGUSR2, and takes a second ^Z and does nothing with it
// but report its receive, which names no sender: a key is anyone's.
// Once the conductor goes on, the ride ends as ever.
func TestSignalsWhileArriving(t *testing.T) {
	r := startRide(t, nil, "-v", "--lang", "en")
	r.stop(r.Conductor)
	r.kill(r.Driver, syscall.SIGTSTP)
	r.stderrHas(fmt.Sprintf("driver[%d] send SIGUSR1 %d\n", r.Driver, r.Conductor))
	r.kill(r.Driver, syscall.SIGUSR2)
	r.expect(fmt.Sprintf("driver[%d]: Fasten", r.Driver))
	r.kill(r.Driver, syscall.SIGUSR1)
	r.expect(fmt.Sprintf("driver[%d]: The old driver sets off", r.Driver))
	r.kill(r.Driver, syscall.SIGTSTP)
	r.stderrHasN(fmt.Sprintf("driver[%d] receive SIGTSTP\n", r.Driver), 2)
	r.kill(r.Conductor, syscall.SIGCONT)
	r.expect(fmt.Sprintf("conductor[%d]: We have arrived", r.Conductor))
	r.expect(fmt.Sprintf("reaped conductor pid=%d exit=0", r.Conductor))
	r.expect(fmt.Sprintf("reaped driver pid=%d exit=0", r.Driver))
	me := os.Getpid()
	log := r.finished(0)
	for _, want := range []string{
		fmt.Sprintf("driver[%d] receive SIGUSR2 from %d\n", r.Driver, me),
		fmt.Sprintf("driver[%d] receive SIGUSR1 from %d\n", r.Driver, me),
	} {
		if !strings.Contains(log, want) {
			t.Errorf("stderr lacks %q:\n%s", want, log)
		}
	}
}

// TestForgedArrival: a SIGUSR1 queued with a siginfo of the sender's
// making (rt_sigqueueinfo), naming the driver's pid, is not the driver's:
// the conductor ignores it, and the ride goes on. Its receive names the
// pid the siginfo gives, the driver's, under -v and in the trace, as the
// conductor's word on stderr does: the driver did not send it. One whose
// siginfo names no pid a process can have (-1) is reported with no
// sender, not as a message the launcher cannot read.
func TestForgedArrival(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ride.jsonl")
	r := startRide(t, nil, "-v", "--lang", "en", "--trace", path)
	forge := func(pid int32) {
		t.Helper()
		// siginfo_t: si_signo, si_errno, si_code, a pad, si_pid, si_uid, the rest.
		var info [128]byte
		binary.NativeEndian.PutUint32(info[0:], uint32(syscall.SIGUSR1))
		binary.NativeEndian.PutUint32(info[8:], uint32(0xffffffff)) // SI_QUEUE, -1: what a process may set
		binary.NativeEndian.PutUint32(info[16:], uint32(pid))
		binary.NativeEndian.PutUint32(info[20:], uint32(os.Getuid()))
		if _, _, e := syscall.Syscall(syscall.SYS_RT_SIGQUEUEINFO, uintptr(r.Conductor), uintptr(syscall.SIGUSR1), uintptr(unsafe.Pointer(&info[0]))); e != 0 {
			t.Fatalf("rt_sigqueueinfo: %v", e)
		}
	}
	forge(int32(r.Driver))
	r.stderrHas(fmt.Sprintf("conductor: SIGUSR1 from pid %d ignored", r.Driver))
	// Once the first is taken (a standard signal pending is not queued
	// twice): a pid no process can have.
	forge(-1)
	r.stderrHas("conductor: SIGUSR1 from an unknown sender ignored")
	r.kill(r.Conductor, syscall.SIGINT)
	r.expect(fmt.Sprintf("driver[%d]: The old driver sets off", r.Driver))
	r.kill(r.Driver, syscall.SIGTSTP)
	r.expect(fmt.Sprintf("conductor[%d]: We have arrived", r.Conductor))
	log := r.finished(0)
	if want := fmt.Sprintf("conductor[%d] receive SIGUSR1 from %d\n", r.Conductor, r.Driver); strings.Count(log, want) != 1 {
		t.Errorf("stderr lacks %q once:\n%s", want, log)
	}
	// The one naming -1, and the driver's on ^Z.
	if want := fmt.Sprintf("conductor[%d] receive SIGUSR1\n", r.Conductor); strings.Count(log, want) != 2 {
		t.Errorf("stderr lacks %q twice:\n%s", want, log)
	}
	if strings.Contains(log, "bad pid") {
		t.Errorf("a receive the launcher could not read:\n%s", log)
	}
	var from []int
	for _, e := range readTrace(t, path) {
		if e.Event == trace.Receive && e.Role == vocab.Conductor && e.Signal == "SIGUSR1" {
			from = append(from, e.From)
		}
	}
	if want := []int{r.Driver, 0, 0}; !slices.Equal(from, want) {
		t.Errorf("the conductor's receives of SIGUSR1 in the trace, from: %v, want %v", from, want)
	}
}

// TestLauncherStoppedVerbose: with -v each role reports its events to the
// launcher, which is stopped (SIGSTOP) and reads none. The reports fill
// the sockets; the roles must not wait on them: every key still makes its
// line. Once the launcher goes on, ^Z ends the ride, exit 0, and each role
// says how many events it could not report.
func TestLauncherStoppedVerbose(t *testing.T) {
	r := startRide(t, nil, "-v", "--lang", "en")
	r.kill(r.cmd.Process.Pid, syscall.SIGSTOP)
	for range 500 { // far more reports than a socket holds
		r.kill(r.Conductor, syscall.SIGINT)
		r.expect("sets off")
	}
	r.kill(r.cmd.Process.Pid, syscall.SIGCONT)
	r.kill(r.Driver, syscall.SIGTSTP)
	log := r.finished(0)
	if !regexp.MustCompile(`(?m)^(driver|conductor): \d+ events? not reported: the launcher did not take them$`).MatchString(log) {
		t.Errorf("no role says what it could not report:\n%s", log)
	}
}

// TestSetOffBeforeArrival: ^C to the conductor and ^Z to the driver back
// to back, in a fresh ride each time. The driver may take its SIGTSTP
// before the conductor's SIGUSR1 reaches it, or find that SIGUSR1 still
// pending once the conductor has got off: either way, once the conductor
// has sent it (-v says), the set-off line comes, once, before the driver
// gets off, and the ride exits 0.
//
// The conductor itself may get off first and never send it: a ^C that
// reached it while its main thread was not waiting went through
// os/signal, and the driver's SIGUSR1, held for it in the kernel, can be
// taken before that ^C is handed over. So a ^\ goes first, and the test
// waits for the conductor's last report on it: the conductor is then
// back at its wait, or about to be (1 ride in 200 still raced here, 15
// with the driver's line alone awaited). Such a ride is logged, not
// failed, but most must have the ^C forwarded, or the test proves
// nothing.
func TestSetOffBeforeArrival(t *testing.T) {
	const rides = 20
	forwarded := 0
	for i := range rides {
		r := startRide(t, nil, "-v", "--lang", "en")
		r.kill(r.Conductor, syscall.SIGQUIT)
		r.expect(fmt.Sprintf("driver[%d]: Fasten", r.Driver))
		r.stderrHas(fmt.Sprintf("conductor[%d] send SIGUSR2 %d\n", r.Conductor, r.Driver)) // its last word on the ^\
		r.kill(r.Conductor, syscall.SIGINT)
		r.kill(r.Driver, syscall.SIGTSTP)
		if code := r.wait(); code != 0 {
			t.Errorf("ride %d: exit %d, want 0\n%s", i, code, r.transcript())
			continue
		}
		log := r.errText()
		if !strings.Contains(log, fmt.Sprintf("conductor[%d] send SIGUSR1 %d\n", r.Conductor, r.Driver)) {
			t.Logf("ride %d: the conductor got off before its ^C came through os/signal\n%s", i, r.transcript())
			continue
		}
		forwarded++
		lines := r.output()
		count := func(want string) (n int) {
			for _, l := range lines {
				if strings.HasSuffix(l, want) {
					n++
				}
			}
			return n
		}
		setOff := fmt.Sprintf("driver[%d]: The old driver sets off", r.Driver)
		reaped := slices.IndexFunc(lines, func(l string) bool {
			return strings.HasSuffix(l, fmt.Sprintf("reaped driver pid=%d exit=0", r.Driver))
		})
		if count(setOff) != 1 || count("We have arrived, please get off") != 1 || reaped < 0 || slices.Index(lines[reaped:], setOff) >= 0 {
			t.Errorf("ride %d: want one set-off line and one arrival line, both before the driver is reaped\n%s", i, r.transcript())
		}
	}
	if forwarded < rides/2 {
		t.Errorf("the conductor forwarded ^C in %d rides of %d: too few to tell", forwarded, rides)
	}
}
