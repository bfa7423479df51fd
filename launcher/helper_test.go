package main

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"

	"github.com/sigride/sigride/internal/ride"
	"github.com/sigride/sigride/internal/vocab"
)

// helper runs the test binary as a role that behaves a certain way.
func helper(name string) int {
	switch name {
	case "stubborn":
		// A driver that ignores SIGTERM: only SIGKILL ends it.
		signal.Ignore(syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGTSTP)
		r, err := ride.Join(vocab.Driver, os.Stdout, false)
		if err != nil {
			fmt.Fprintln(os.Stderr, "helper:", err)
			return 1
		}
		if err := r.Ready(); err != nil {
			return 1
		}
		<-r.Gone()
		return 1
	case "leaver":
		// A driver that starts a grandchild and leaves it behind when it
		// dies: the launcher, as subreaper, must stop and reap it.
		self, _ := os.Executable()
		gc := exec.Command(self)
		gc.Env = append(os.Environ(), helperEnv+"=sleeper")
		if err := gc.Start(); err != nil {
			fmt.Fprintln(os.Stderr, "helper:", err)
			return 1
		}
		r, err := ride.Join(vocab.Driver, os.Stdout, false)
		if err != nil {
			return 1
		}
		r.Say(fmt.Sprintf("left pid=%d", gc.Process.Pid))
		if err := r.Ready(); err != nil {
			return 1
		}
		<-r.Gone()
		return 1
	case "mute":
		// A driver that joins but never says ready.
		r, err := ride.Join(vocab.Driver, os.Stdout, false)
		if err != nil {
			return 1
		}
		time.Sleep(time.Hour)
		r.Close()
		return 1
	case "quitter":
		// A driver that gets off (exit 0) on SIGTSTP without telling the
		// conductor, leaving it aboard. It waits for the signal, sent once
		// the ready line is out: exiting right after its own ready would
		// race the conductor's ready, and "exited before the ride was
		// ready" would be the right answer.
		tstp := make(chan os.Signal, 1)
		signal.Notify(tstp, syscall.SIGTSTP)
		r, err := ride.Join(vocab.Driver, os.Stdout, false)
		if err != nil || r.Ready() != nil {
			return 1
		}
		select {
		case <-tstp:
			return 0
		case <-r.Gone():
			return 1
		}
	case "noptrace":
		// The launcher (os.Args[1:]: its path, then its arguments) where
		// ptrace is refused, as under a container's seccomp profile.
		return noPtrace(os.Args[1:])
	case "sleeper":
		// Waits for a signal's default action.
		time.Sleep(time.Hour)
		return 1
	}
	fmt.Fprintf(os.Stderr, "unknown helper %q\n", name)
	return 1
}
