// Command launcher starts the ride: one driver and one conductor, each its
// own process, and supervises them to the end. See the README.
package main

import (
	"os"
	"os/signal"
	"syscall"

	"github.com/sigride/sigride/internal/cli"
	"github.com/sigride/sigride/internal/lineout"
)

func main() {
	// SIGINT, SIGQUIT and SIGTSTP are caught, not ignored: they are the
	// roles' keys and the launcher drops them, but an ignored disposition
	// would be inherited by the roles across exec, a caught one is not.
	sigs := make(chan os.Signal, 64)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGTSTP)
	// SIGCHLD on a channel of its own, one slot: one pending says enough
	// (a reap takes every child that ended), and a storm of them (every
	// stop of a traced program sends one) can never fill sigs, where
	// os/signal would drop a SIGTERM that found no room.
	chld := make(chan os.Signal, 1)
	signal.Notify(chld, syscall.SIGCHLD)
	// stderr through lineout: a stderr nobody reads must not hold the
	// supervisor in a write (-v says a line for every event), its children
	// unreaped and the ride never ended.
	stderr := lineout.New(os.Stderr)
	os.Exit(cli.Main("launcher", stderr, func(args []string) error {
		return run(args, sigs, chld, os.Stdout, stderr)
	}))
}
