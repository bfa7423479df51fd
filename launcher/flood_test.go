package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The flood: a signal every floodEvery for floodFor, as fast as a key held
// down with the terminal's repeat and much more, and over the Stall of the
// first line that cannot go, so that it piles up behind it.
const (
	floodEvery = 300 * time.Microsecond
	floodFor   = 1500 * time.Millisecond
	// floodKeyAfter is how many signals of the flood go before the key
	// that ends the ride: some 0.3 s' worth, while the first line is
	// stalled and the flood piles up behind it (64 of them filled a
	// signal.Notify channel of 64).
	floodKeyAfter = 1000
)

// TestNoKeyLost floods a role with signals while the ride's stdout is a
// pipe nobody reads, and presses ^Z (SIGTSTP to the driver) once, in the
// middle of it: the ride must end, every time, exit 0. The flood goes to
// the driver (SIGUSR1, a line each) or to the conductor (SIGINT, which
// sends the driver SIGUSR1). A burst may coalesce; the key that ends the
// ride is never lost.
func TestNoKeyLost(t *testing.T) {
	for _, tc := range []struct {
		name  string
		role  string
		flood syscall.Signal
	}{
		{"driver flooded with SIGUSR1", "driver", syscall.SIGUSR1},
		{"conductor flooded with SIGINT", "conductor", syscall.SIGINT},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := stdoutFor(t, "full pipe")
			runDir := t.TempDir()
			cmd := exec.Command(filepath.Join(binDir, "launcher"), "--lang", "en", "--run-dir", runDir)
			cmd.Stdout = w
			var mu sync.Mutex
			var stderr strings.Builder
			cmd.Stderr = &lockedWriter{mu: &mu, b: &stderr}
			log := func() string { mu.Lock(); defer mu.Unlock(); return stderr.String() }
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			w.Close()
			done := make(chan struct{})
			var waitErr error
			go func() { waitErr = cmd.Wait(); close(done) }()
			t.Cleanup(func() {
				select {
				case <-done:
				default:
					cmd.Process.Kill()
					<-done
				}
			})
			pids := map[string]int{}
			for _, role := range []string{"driver", "conductor", "launcher"} { // launcher.pid last: the ride is announced
				pids[role] = readPidFile(t, runDir, role)
			}
			// Each role is held by a pidfd: the flood can never reach a
			// process that took a role's pid after the ride.
			target, driver := pidfdOf(t, pids[tc.role]), pidfdOf(t, pids["driver"])
			stop := make(chan struct{})
			pressed := make(chan error, 1)
			flooded := make(chan struct{})
			go func() {
				defer close(flooded)
				// A timer here fires about every millisecond at best: each
				// tick sends what is due, so the rate holds on average.
				tick := time.NewTicker(floodEvery)
				defer tick.Stop()
				start := time.Now()
				for n := 0; n < int(floodFor/floodEvery); {
					select {
					case <-tick.C:
						for due := int(time.Since(start) / floodEvery); n < due; n++ {
							unix.PidfdSendSignal(target, tc.flood, nil, 0) // ESRCH once the ride is over
							if n == floodKeyAfter {
								pressed <- unix.PidfdSendSignal(driver, syscall.SIGTSTP, nil, 0) // ^Z
							}
						}
					case <-stop:
						return
					}
				}
			}()
			defer func() { close(stop); <-flooded }()
			if err := <-pressed; err != nil {
				t.Fatalf("^Z: %v", err)
			}
			select {
			case <-done:
				if waitErr != nil {
					t.Fatalf("launcher: %v\n%s", waitErr, log())
				}
			case <-time.After(20 * time.Second):
				t.Fatalf("the ride did not end 20s after ^Z\n%s", log())
			}
			if !strings.Contains(log(), "driver: ") || !strings.Contains(log(), "not written: stdout is not read") {
				t.Errorf("stderr does not count the driver's lost lines:\n%s", log())
			}
		})
	}
}

// readPidFile waits for DIR/ROLE.pid, written atomically once the ride is
// ready, and returns the pid in it.
func readPidFile(t *testing.T, dir, role string) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile(filepath.Join(dir, role+".pid"))
		if p, _ := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && p > 0 {
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s.pid", role)
		}
		time.Sleep(5 * time.Millisecond) // polling the disk for a file, bounded
	}
}

// pidfdOf opens a pidfd on pid, closed at the end of the test.
func pidfdOf(t *testing.T, pid int) int {
	t.Helper()
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		t.Fatalf("pidfd_open %d: %v", pid, err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}
