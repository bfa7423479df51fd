package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/sigride/sigride/internal/ride"
)

// helper runs the test binary as a role that behaves a certain way.
func helper(name string) int {
	switch name {
	case "stubborn":
		// A driver that ignores SIGTERM: only SIGKILL ends it.
		signal.Ignore(syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGTSTP)
		r, err := ride.Join(ride.Driver, os.Stdout)
		if err != nil {
			fmt.Fprintln(os.Stderr, "helper:", err)
			return 1
		}
		if err := r.Ready(); err != nil {
			return 1
		}
		<-r.Gone()
		return 1
	}
	fmt.Fprintf(os.Stderr, "unknown helper %q\n", name)
	return 1
}
