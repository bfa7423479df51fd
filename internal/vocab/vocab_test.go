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
