// Command driver is one role of the ride. The launcher starts it; see the README.
package main

import (
	"os"
	"os/signal"

	"github.com/sigride/sigride/internal/cli"
)

func main() {
	// Handlers are installed here, before run joins the ride and says
	// ready, so no signal sent after the launcher's ready line is lost.
	sigs := make(chan os.Signal, 64)
	signal.Notify(sigs, handled...)
	signal.Ignore(ignored...)
	os.Exit(cli.Main("driver", func(args []string) error {
		return run(args, sigs, os.Stdout, os.Stderr)
	}))
}
