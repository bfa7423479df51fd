package main

import (
	"syscall"
	"testing"
)

func mask(sigs ...syscall.Signal) uint64 {
	var m uint64
	for _, s := range sigs {
		m |= bit(s)
	}
	return m
}

// TestRecognise: which processes are the roles, by what they handle.
func TestRecognise(t *testing.T) {
	const (
		INT  = syscall.SIGINT
		QUIT = syscall.SIGQUIT
		TSTP = syscall.SIGTSTP
		USR1 = syscall.SIGUSR1
	)
	conductor := dispositions{pid: 11, caught: mask(INT, QUIT, USR1), ignored: mask(TSTP)}
	driver := dispositions{pid: 10, caught: mask(TSTP, USR1), ignored: mask(INT, QUIT)}
	for _, tc := range []struct {
		name      string
		ps        []dispositions
		driver    int
		conductor int
		problem   string
	}{
		{"handlers", []dispositions{driver, conductor}, 10, 11, ""},
		{"sigwait: blocked is handled", []dispositions{
			{pid: 10, blocked: mask(TSTP)}, {pid: 11, blocked: mask(INT, QUIT)}}, 10, 11, ""},
		{"a third process, handling nothing", []dispositions{driver, conductor, {pid: 12}}, 10, 11, ""},
		{"a driver only", []dispositions{driver, {pid: 11, caught: mask(INT)}}, 0, 0,
			"no conductor (a process that handles SIGINT and SIGQUIT: caught or blocked)"},
		{"nothing yet", []dispositions{{pid: 10}}, 0, 0,
			"no conductor (a process that handles SIGINT and SIGQUIT: caught or blocked); no driver (a process that handles SIGTSTP: caught or blocked)"},
		{"one process, both roles", []dispositions{{pid: 10, caught: mask(INT, QUIT, TSTP)}}, 0, 0,
			"a process handles both roles' keys (SIGINT and SIGQUIT, and SIGTSTP)"},
		{"two conductors", []dispositions{driver, conductor, {pid: 12, caught: mask(INT, QUIT)}}, 0, 0,
			"2 conductors (processes that handle SIGINT and SIGQUIT)"},
		{"two drivers", []dispositions{driver, conductor, {pid: 12, blocked: mask(TSTP)}}, 0, 0,
			"2 drivers (processes that handle SIGTSTP)"},
		{"ignored is not handled", []dispositions{{pid: 10, ignored: mask(TSTP)}, conductor}, 0, 0,
			"no driver (a process that handles SIGTSTP: caught or blocked)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, c, problem := recognise(tc.ps)
			if d != tc.driver || c != tc.conductor || problem != tc.problem {
				t.Errorf("recognise = %d, %d, %q; want %d, %d, %q", d, c, problem, tc.driver, tc.conductor, tc.problem)
			}
		})
	}
}

func TestDescribe(t *testing.T) {
	p := dispositions{pid: 4242, command: "python3", caught: mask(syscall.SIGINT, syscall.SIGUSR2),
		ignored: mask(syscall.SIGQUIT), blocked: mask(syscall.SIGUSR2)}
	want := "pid 4242 python3: INT caught, QUIT ignored, TSTP default, USR1 default, USR2 blocked"
	if got := describe(p); got != want {
		t.Errorf("describe = %q, want %q", got, want)
	}
}
