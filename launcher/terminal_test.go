package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"

	"github.com/sigride/sigride/internal/proctest"
	"github.com/sigride/sigride/internal/trace"
)

// TestRideInTerminal types ^C, ^\ and ^Z into a real pseudo-terminal whose
// foreground process group is the launcher's: the kernel's line discipline
// turns the keys into SIGINT, SIGQUIT and SIGTSTP for every process of the
// group, exactly as at a keyboard.
func TestRideInTerminal(t *testing.T) {
	r, tty := startInTerminal(t)
	cmd := r.cmd
	if pgrp, err := unix.IoctlGetInt(int(tty.Fd()), unix.TIOCGPGRP); err != nil || pgrp != cmd.Process.Pid {
		t.Fatalf("foreground group %d (%v), want the launcher's %d", pgrp, err, cmd.Process.Pid)
	}
	keys := []struct {
		key  string
		want string
	}{
		{"\x03", fmt.Sprintf("driver[%d]: 老司机开车了", r.Driver)},        // ^C
		{"\x1c", fmt.Sprintf("driver[%d]: 系好安全带，车速有点快", r.Driver)},   // ^\
		{"\x1a", fmt.Sprintf("conductor[%d]: 到站了，请下车", r.Conductor)}, // ^Z
	}
	for _, k := range keys {
		if _, err := tty.Write([]byte(k.key)); err != nil {
			t.Fatal(err)
		}
		r.expect(k.want)
		for _, pid := range []int{cmd.Process.Pid, r.Driver, r.Conductor} {
			if p, ok := readStat(pid); ok && p.state == 'T' {
				t.Fatalf("pid %d stopped after key %q", pid, k.key)
			}
		}
	}
	r.expect(fmt.Sprintf("reaped conductor pid=%d exit=0", r.Conductor))
	r.expect(fmt.Sprintf("reaped driver pid=%d exit=0", r.Driver))
	if code := r.wait(); code != 0 {
		t.Fatalf("launcher exit %d, want 0\n%s", code, r.transcript())
	}
}

// startInTerminal starts bin/launcher with args under a new pseudo-terminal
// and waits for its ready line. pty.Start makes the launcher a session
// leader with the pty as its controlling terminal: its process group is the
// foreground group. Writing to the returned tty types keys.
func startInTerminal(t *testing.T, args ...string) (*rideProc, *os.File) {
	t.Helper()
	return startCmdInTerminal(t, exec.Command(filepath.Join(binDir, "launcher"), args...))
}

// startCmdInTerminal is startInTerminal for any command that runs a ride.
func startCmdInTerminal(t *testing.T, cmd *exec.Cmd) (*rideProc, *os.File) {
	t.Helper()
	tty, err := pty.Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tty.Close() })
	r := &rideProc{t: t, cmd: cmd, lines: make(chan string, 1024), done: make(chan struct{})}
	r.follow(tty)
	t.Cleanup(r.cleanup)
	r.ready()
	return r, tty
}

// TestRideScript: the README's run command, scripts/ride, in a terminal.
// It builds, then execs the launcher: the process the terminal started is
// the launcher itself and its group the foreground one, so no make or
// shell is there to be hit by ^C or stopped by ^Z. Relative paths stay the
// caller's: the trace lands in the test's own directory.
func TestRideScript(t *testing.T) {
	script, err := filepath.Abs("../scripts/ride")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cmd := exec.Command(script, "--lang", "en", "--trace", "ride.jsonl")
	cmd.Dir = dir
	r, tty := startCmdInTerminal(t, cmd)
	pid := cmd.Process.Pid
	if !strings.Contains(strings.Join(r.output(), "\n"), fmt.Sprintf("launcher[%d]: ready driver=", pid)) {
		t.Fatalf("the ready line is not from pid %d, the process the script started:\n%s", pid, r.transcript())
	}
	if exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); filepath.Base(exe) != "launcher" {
		t.Errorf("pid %d runs %q, want the launcher", pid, exe)
	}
	if pgrp, err := unix.IoctlGetInt(int(tty.Fd()), unix.TIOCGPGRP); err != nil || pgrp != pid {
		t.Errorf("foreground group %d (%v), want the launcher's %d", pgrp, err, pid)
	}
	tty.Write([]byte("\x03")) // ^C
	r.expect(fmt.Sprintf("driver[%d]: The old driver sets off", r.Driver))
	tty.Write([]byte("\x1a")) // ^Z
	r.expect(fmt.Sprintf("reaped driver pid=%d exit=0", r.Driver))
	if code := r.wait(); code != 0 {
		t.Fatalf("exit %d\n%s", code, r.transcript())
	}
	if _, err := os.Stat(filepath.Join(dir, "ride.jsonl")); err != nil {
		t.Errorf("the trace is not in the caller's directory: %v", err)
	}
}

// TestTerminalStopped: the ride's terminal stops taking output (^S, XOFF)
// and is never started again. Its lines wait at most a second, then are
// dropped: the keys still work, ^Z (sent with kill: a key typed at the
// terminal would start its output again) still ends the ride, SIGTERM
// still stops it, and nothing is left behind.
func TestTerminalStopped(t *testing.T) {
	for _, tc := range []struct {
		name string
		end  func(r *rideProc)
		code int
	}{
		{"^Z", func(r *rideProc) { r.kill(r.Driver, unix.SIGTSTP) }, 0},
		{"SIGTERM", func(r *rideProc) { r.kill(r.cmd.Process.Pid, unix.SIGTERM) }, 143},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, tty := startInTerminal(t, "-v", "--lang", "en")
			if _, err := tty.Write([]byte{0x13}); err != nil { // ^S
				t.Fatal(err)
			}
			for range 50 { // more lines than the terminal holds
				r.kill(r.Conductor, unix.SIGINT)
				r.kill(r.Conductor, unix.SIGQUIT)
			}
			tc.end(r)
			if code := r.wait(); code != tc.code {
				t.Fatalf("exit %d, want %d\n%s", code, tc.code, r.transcript())
			}
		})
	}
}

// TestOwnProgramInTerminal: a program of the user's as the ride, the keys
// typed into a real pseudo-terminal: the line discipline sends each to
// every process of the foreground group, the launcher's, where the
// program runs. The trace says each came from a key (si_code SI_KERNEL,
// no sender pid), and what each process did with it.
func TestOwnProgramInTerminal(t *testing.T) {
	for name, cmd := range homework(t) {
		t.Run(name, func(t *testing.T) {
			tr := filepath.Join(t.TempDir(), "t.jsonl")
			r, tty := startInTerminal(t, append([]string{"--lang", "en", "--trace", tr, "--"}, cmd...)...)
			for _, k := range []struct{ key, want string }{
				{"\x03", "The old driver sets off"},                         // ^C
				{"\x1c", "Fasten your seat belts, we are going a bit fast"}, // ^\
				{"\x1a", "We have arrived, please get off"},                 // ^Z
			} {
				if _, err := tty.Write([]byte(k.key)); err != nil {
					t.Fatal(err)
				}
				r.expect(k.want)
			}
			r.expect(fmt.Sprintf("reaped driver pid=%d exit=0", r.Driver))
			if code := r.wait(); code != 0 {
				t.Fatalf("exit %d\n%s", code, r.transcript())
			}
			keys := 0
			for _, e := range readTrace(t, tr) {
				if e.Event != trace.Receive || e.Sender != trace.SenderKey {
					continue
				}
				keys++
				if e.From != 0 {
					t.Errorf("a key typed at the terminal has a sender pid %d: %+v", e.From, e)
				}
				if e.Fate == trace.Terminated || e.Fate == trace.Dumped || e.Fate == trace.Stopped {
					t.Errorf("a key did harm: %+v", e)
				}
			}
			if keys != 6 { // three keys, each to both roles
				t.Errorf("%d receives from a key, want 6\n%s", keys, r.transcript())
			}
		})
	}
}

// TestOwnProgramKeyHarms: keys typed at a terminal into wrong programs.
// A driver that does not ignore ^C is killed by it: the ride ends, exit
// 1, and the trace says the key terminated it. A conductor that does not
// ignore ^Z is stopped by it: said on stderr, the ride stopped, exit 1.
func TestOwnProgramKeyHarms(t *testing.T) {
	for _, tc := range []struct {
		file, key, sig, role, fate string
	}{
		{"driver-killed.py", "\x03", "SIGINT", "driver", trace.Terminated},
		{"conductor-stopped.py", "\x1a", "SIGTSTP", "conductor", trace.Stopped},
	} {
		t.Run(tc.file, func(t *testing.T) {
			tr := filepath.Join(t.TempDir(), "t.jsonl")
			r, tty := startAsJob(t, "--lang", "en", "--grace", "500ms", "--trace", tr, "--",
				proctest.Python(t), "../scripts/homework/mistakes/"+tc.file)
			if _, err := tty.Write([]byte(tc.key)); err != nil {
				t.Fatal(err)
			}
			if code := r.wait(); code != 1 {
				t.Fatalf("exit %d, want 1\n%s", code, r.transcript())
			}
			found := false
			for _, e := range readTrace(t, tr) {
				if e.Event == trace.Receive && e.Role == tc.role && e.Signal == tc.sig && e.Sender == trace.SenderKey && e.Fate == tc.fate {
					found = true
				}
			}
			if !found {
				t.Errorf("the trace does not say the key %s %s the %s\n%s", tc.sig, tc.fate, tc.role, r.transcript())
			}
		})
	}
}

// TestOwnProgramContinued: a role stopped by a key it does not handle (^Z
// typed at the terminal, a conductor that does not ignore it) is said at
// once, and the ride stopped only if it is still stopped after --grace:
// continued before (SIGCONT, as fg would), the ride goes on to its
// normal end. Left stopped, the ride stops: TestOwnProgramKeyHarms.
func TestOwnProgramContinued(t *testing.T) {
	r, tty := startAsJob(t, "--lang", "en", "--grace", "10s", "--",
		proctest.Python(t), "../scripts/homework/mistakes/conductor-stopped.py")
	if _, err := tty.Write([]byte("\x1a")); err != nil { // ^Z
		t.Fatal(err)
	}
	r.expect(fmt.Sprintf("launcher: conductor[%d] stopped by SIGTSTP: the ride stops in 10s unless it is continued", r.Conductor))
	r.kill(r.Conductor, unix.SIGCONT)
	r.expect("We have arrived, please get off")
	r.expect(fmt.Sprintf("reaped driver pid=%d exit=0", r.Driver))
	if code := r.wait(); code != 0 {
		t.Fatalf("exit %d, want 0\n%s", code, r.transcript())
	}
}

// startAsJob starts bin/launcher with args as a job of a shell with job
// control in a new pseudo-terminal, as a user's shell runs it: its own
// process group, the terminal's foreground one, its parent (the shell) in
// the same session. startInTerminal makes the launcher the session leader
// instead, and its group is then orphaned (no parent in the session
// outside it), where the kernel discards a ^Z whose default would stop a
// process: a role that does not handle ^Z is stopped by it only here.
func startAsJob(t *testing.T, args ...string) (*rideProc, *os.File) {
	t.Helper()
	sh := exec.Command("bash", append([]string{"--norc", "--noprofile", "-c", `set -m; "$0" "$@"; exit $?`, filepath.Join(binDir, "launcher")}, args...)...)
	return startCmdInTerminal(t, sh)
}
