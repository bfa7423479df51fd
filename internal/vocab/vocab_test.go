package vocab

import (
	"syscall"
	"testing"
)

func TestSignalName(t *testing.T) {
	for sig, want := range map[syscall.Signal]string{
		syscall.SIGKILL: "KILL",
		syscall.SIGUSR1: "USR1",
		syscall.SIGTSTP: "TSTP",
		34:              "34", // SIGRTMIN: the kernel names it by number only
	} {
		if got := SignalName(sig); got != want {
			t.Errorf("SignalName(%d) = %q, want %q", int(sig), got, want)
		}
	}
}

// TestCount: one is singular, every other count plural, zero included.
func TestCount(t *testing.T) {
	for _, tc := range []struct {
		n    int
		want string
	}{{0, "0 workers"}, {1, "1 worker"}, {2, "2 workers"}, {-1, "-1 workers"}} {
		if got := Count(tc.n, "worker"); got != tc.want {
			t.Errorf("Count(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
}
