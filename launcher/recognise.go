package main

import (
	"fmt"
	"strings"
	"syscall"

	"github.com/sigride/sigride/internal/vocab"
)

// dispositions are one process of a program run as the ride, as
// /proc/PID/status shows its signals: a bit per signal, 1 << (signo-1).
type dispositions struct {
	pid                      int
	command                  string
	caught, ignored, blocked uint64
}

func bit(sig syscall.Signal) uint64 { return 1 << (uint(sig) - 1) }

// handles says p takes sig itself: a handler (caught), or held for
// sigwait (blocked). Ignored or left to the default, it does not.
func (p dispositions) handles(sig syscall.Signal) bool {
	return (p.caught|p.blocked)&bit(sig) != 0
}

// The signals a program's roles are known by.
var (
	conductorKeys = []syscall.Signal{syscall.SIGINT, syscall.SIGQUIT} // ^C, ^\
	driverKey     = syscall.SIGTSTP                                   // ^Z
)

func (p dispositions) isConductor() bool {
	return p.handles(conductorKeys[0]) && p.handles(conductorKeys[1])
}

func (p dispositions) isDriver() bool { return p.handles(driverKey) }

// recognise finds the ride's roles among a program's processes: the
// conductor handles SIGINT and SIGQUIT, the driver SIGTSTP, and no one
// process may be both. It returns their pids, or 0 and 0 and what is
// wrong: what the roles still lack, or what makes them ambiguous. A
// program on its way may be either for a while (a child inherits its
// parent's handlers until it sets its own): judge its last answer only
// when time is up.
func recognise(ps []dispositions) (driver, conductor int, problem string) {
	var drivers, conductors, both []dispositions
	for _, p := range ps {
		switch {
		case p.isConductor() && p.isDriver():
			both = append(both, p)
		case p.isConductor():
			conductors = append(conductors, p)
		case p.isDriver():
			drivers = append(drivers, p)
		}
	}
	// No pid in what is wrong: the diagnosis beside it names each process,
	// and a report (check-homework) reads the same from run to run.
	var wrong []string
	switch len(both) {
	case 0:
	case 1:
		wrong = append(wrong, "a process handles both roles' keys (SIGINT and SIGQUIT, and SIGTSTP)")
	default:
		wrong = append(wrong, fmt.Sprintf("%d processes handle both roles' keys (SIGINT and SIGQUIT, and SIGTSTP)", len(both)))
	}
	switch {
	case len(conductors) > 1:
		wrong = append(wrong, fmt.Sprintf("%d conductors (processes that handle SIGINT and SIGQUIT)", len(conductors)))
	case len(conductors) == 0 && len(both) == 0:
		wrong = append(wrong, "no conductor (a process that handles SIGINT and SIGQUIT: caught or blocked)")
	}
	switch {
	case len(drivers) > 1:
		wrong = append(wrong, fmt.Sprintf("%d drivers (processes that handle SIGTSTP)", len(drivers)))
	case len(drivers) == 0 && len(both) == 0:
		wrong = append(wrong, "no driver (a process that handles SIGTSTP: caught or blocked)")
	}
	if len(wrong) > 0 {
		return 0, 0, strings.Join(wrong, "; ")
	}
	return drivers[0].pid, conductors[0].pid, ""
}

// described are the signals a diagnosis shows for each process.
var described = []syscall.Signal{syscall.SIGINT, syscall.SIGQUIT, syscall.SIGTSTP, syscall.SIGUSR1, syscall.SIGUSR2}

// describe is one process in a diagnosis: "pid 4242 python3: INT caught,
// QUIT ignored, TSTP default, USR1 caught, USR2 blocked".
func describe(p dispositions) string {
	parts := make([]string, len(described))
	for i, sig := range described {
		how := "default"
		switch b := bit(sig); {
		case p.blocked&b != 0:
			how = "blocked"
		case p.caught&b != 0:
			how = "caught"
		case p.ignored&b != 0:
			how = "ignored"
		}
		parts[i] = vocab.SignalName(sig) + " " + how
	}
	return fmt.Sprintf("pid %d %s: %s", p.pid, p.command, strings.Join(parts, ", "))
}
