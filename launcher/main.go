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
	signal.Notify(sigs, syscall.SIGCHLD, syscall.SIGTERM, syscall.SIGHUP,
		syscall.SIGINT, syscall.SIGQUIT, syscall.SIGTSTP)
	// stderr through lineout: a stderr nobody reads must not hold the
	// supervisor in a write (-v says a line for every event), its children
	// unreaped and the ride never ended.
	stderr := lineout.New(os.Stderr)
	os.Exit(cli.Main("launcher", stderr, func(args []string) error {
		return run(args, sigs, os.Stdout, stderr)
	}))
}
