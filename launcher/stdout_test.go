package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestStdoutNotRead: the ride's stdout is a pipe nobody reads, full from
// the start, or closed, or a full disk (/dev/full: every write fails with
// ENOSPC). The ride still ends: the keys still work (driven by kill,
// synchronised on the launcher's -v event log on stderr), every role exits
// 0, and the lines that could not go are counted on stderr, with why.
func TestStdoutNotRead(t *testing.T) {
	for _, tc := range []struct {
		name string
		why  string
	}{
		{"full pipe", "stdout is not read"},
		{"closed pipe", "stdout is not read"},
		{"closed fifo", "stdout is not read"}, // not to be opened again: ENXIO
		{"/dev/full", "stdout: no space left on device"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := stdoutFor(t, tc.name)
			runDir := t.TempDir()
			cmd := exec.Command(filepath.Join(binDir, "launcher"), "-v", "--lang", "en", "--run-dir", runDir)
			cmd.Stdout = w
			errR, errW, _ := os.Pipe()
			cmd.Stderr = errW
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			w.Close()
			errW.Close()
			defer errR.Close()
			log := make(chan string, 256)
			go func() {
				sc := bufio.NewScanner(errR)
				for sc.Scan() {
					log <- sc.Text()
				}
				close(log)
			}()
			var all []string
			waitLog := func(want string) {
				t.Helper()
				timeout := time.After(20 * time.Second)
				for {
					select {
					case l, ok := <-log:
						if !ok {
							t.Fatalf("stderr ended before %q:\n%s", want, strings.Join(all, "\n"))
						}
						all = append(all, l)
						if strings.Contains(l, want) {
							return
						}
					case <-timeout:
						t.Fatalf("no %q on stderr after 20s:\n%s", want, strings.Join(all, "\n"))
					}
				}
			}
			pid := func(role string) int {
				deadline := time.Now().Add(10 * time.Second)
				for {
					b, err := os.ReadFile(filepath.Join(runDir, role+".pid"))
					if p, _ := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && p > 0 {
						return p
					}
					if time.Now().After(deadline) {
						t.Fatalf("no %s.pid", role)
					}
					time.Sleep(5 * time.Millisecond) // polling the disk for a file, bounded
				}
			}
			driver, conductor := pid("driver"), pid("conductor")
			pid("launcher") // written last: the ride is announced
			syscall.Kill(conductor, syscall.SIGINT)
			waitLog("The old driver sets off")
			syscall.Kill(driver, syscall.SIGTSTP)
			waitLog("driver[" + strconv.Itoa(driver) + "] exit ")
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("launcher: %v", err)
				}
			case <-time.After(20 * time.Second):
				cmd.Process.Kill()
				t.Fatal("the ride did not end")
			}
			for l := range log {
				all = append(all, l)
			}
			text := strings.Join(all, "\n")
			for _, want := range []string{
				"conductor[" + strconv.Itoa(conductor) + "] exit ",
				"driver: 1 line not written: " + tc.why,
				"conductor: 1 line not written: " + tc.why,
				"lines not written: " + tc.why, // the launcher's: ready and reaped
			} {
				if !strings.Contains(text, want) {
					t.Errorf("stderr lacks %q:\n%s", want, text)
				}
			}
			for _, l := range all {
				if strings.Contains(l, "] exit ") && !strings.HasSuffix(l, " 0") {
					t.Errorf("a role did not exit 0: %q", l)
				}
			}
			for _, p := range []int{driver, conductor} {
				if syscall.Kill(p, 0) == nil {
					t.Errorf("pid %d still there", p)
				}
			}
		})
	}
}

// stdoutFor makes the write end of an output that takes no line: a pipe
// filled and never read, a pipe whose reader is closed, or /dev/full.
func stdoutFor(t *testing.T, kind string) *os.File {
	t.Helper()
	if kind == "/dev/full" {
		f, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
		if err != nil {
			t.Skipf("no /dev/full: %v", err)
		}
		return f
	}
	if kind == "closed fifo" {
		path := filepath.Join(t.TempDir(), "fifo")
		if err := syscall.Mkfifo(path, 0o600); err != nil {
			t.Fatal(err)
		}
		r, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
		if err != nil {
			t.Fatal(err)
		}
		w, err := os.OpenFile(path, os.O_WRONLY, 0)
		r.Close()
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	if kind == "closed pipe" {
		r.Close()
	} else {
		fill(t, w)
		t.Cleanup(func() { r.Close() })
	}
	return w
}

// fill writes into w until the pipe is full, then leaves w blocking.
func fill(t *testing.T, w *os.File) {
	t.Helper()
	fd := int(w.Fd())
	syscall.SetNonblock(fd, true)
	junk := make([]byte, 4096)
	for {
		if _, err := syscall.Write(fd, junk); err != nil {
			if err == syscall.EAGAIN {
				break
			}
			t.Fatal(err)
		}
	}
	syscall.SetNonblock(fd, false)
}

// TestStderrNotRead: the ride's stderr is a pipe full from the start and
// never read, and everything that writes there is made to: -v (a line for
// every event), a stranger's SIGUSR1 (the conductor's word on it), the
// launcher's own last words. No process may wait on it for ever: the keys
// still work, the ride ends, and a SIGTERM still stops it with its code.
func TestStderrNotRead(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		end  func(r *rideProc)
		code int
	}{
		{"^Z", []string{"-v"}, func(r *rideProc) {
			r.kill(r.Driver, syscall.SIGTSTP)
			r.expect(fmt.Sprintf("reaped driver pid=%d exit=0", r.Driver))
		}, 0},
		{"SIGTERM", []string{"-v"}, func(r *rideProc) {
			r.kill(r.cmd.Process.Pid, syscall.SIGTERM)
		}, 143},
		// Without -v, the launcher's first word on stderr is its last:
		// "launcher: ride stopped by SIGTERM".
		{"SIGTERM quiet", nil, func(r *rideProc) {
			r.kill(r.cmd.Process.Pid, syscall.SIGTERM)
		}, 143},
	} {
		t.Run(tc.name, func(t *testing.T) {
			er, ew, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer er.Close() // open, never read: writes wait, never EPIPE
			fill(t, ew)
			r := newRideTo(t, ew, nil, append(tc.args, "--lang", "en")...)
			ew.Close()
			r.ready()
			r.kill(r.Conductor, syscall.SIGUSR1) // a stranger's: the conductor says so on stderr
			for range 20 {
				r.kill(r.Conductor, syscall.SIGINT)
				r.expect("sets off")
			}
			tc.end(r)
			if code := r.wait(); code != tc.code {
				t.Fatalf("exit %d, want %d\n%s", code, tc.code, r.transcript())
			}
		})
	}
}
