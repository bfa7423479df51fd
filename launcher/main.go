// Command launcher starts the ride: one driver and one conductor, each its
// own process, and supervises them to the end. See the README.
package main

import (
	"os"
	"os/signal"
	"syscall"

	"github.com/sigride/sigride/internal/cli"
)

func main() {
	// SIGINT, SIGQUIT and SIGTSTP are caught, not ignored: they are the
	// roles' keys and the launcher drops them, but an ignored disposition
	// would be inherited by the roles across exec, a caught one is not.
	sigs := make(chan os.Signal, 64)
	signal.Notify(sigs, syscall.SIGCHLD, syscall.SIGTERM, syscall.SIGHUP,
		syscall.SIGINT, syscall.SIGQUIT, syscall.SIGTSTP)
	os.Exit(cli.Main("launcher", func(args []string) error {
		return run(args, sigs, os.Stdout, os.Stderr)
	}))
}
