// Command conductor is one role of the ride. The launcher starts it; see the README.
package main

import (
	"os"
	"os/signal"
	"runtime"

	"github.com/sigride/sigride/internal/cli"
	"github.com/sigride/sigride/internal/lineout"
	"github.com/sigride/sigride/internal/ride"
)

// The conductor takes its signals on the main thread (ride.Intake): the
// kernel gives a signal sent to a process to its main thread first, when
// that thread waits for it. Locked in init, main runs on the main thread.
func init() { runtime.LockOSThread() }

func main() {
	// The intake is made here, before run joins the ride and says ready,
	// so no signal sent after the launcher's ready line is lost: held
	// blocked since exec, or asked of os/signal.
	in := ride.NewIntake(signal.Notify, handled...)
	signal.Ignore(ignored...)
	// stderr through lineout: a stderr nobody reads must not hold the
	// main thread, which takes the signals, in a write.
	stderr := lineout.New(os.Stderr)
	os.Exit(cli.Main("conductor", stderr, func(args []string) error {
		return run(args, in, os.Stdout, stderr)
	}))
}
