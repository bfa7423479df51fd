// Command fileserver is a pre-fork file server and its client: see the
// README.
package main

import (
	"os"
	"os/signal"

	"github.com/sigride/sigride/internal/cli"
)

func main() {
	sigs := make(chan os.Signal, 64)
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "serve":
			signal.Notify(sigs, masterSignals...)
		case workerCmd:
			signal.Ignore(workerIgnored...)
			signal.Notify(sigs, workerSignals...)
		}
	}
	os.Exit(cli.Main("fileserver", os.Stderr, func(args []string) error {
		return run(args, sigs, os.Stdout, os.Stderr)
	}))
}
