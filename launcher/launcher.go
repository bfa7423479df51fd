package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/sigride/sigride/internal/cli"
	"github.com/sigride/sigride/internal/ride"
	"github.com/sigride/sigride/internal/supervise"
)

// roleEvent is one control message from a role, or the end of its socket.
type roleEvent struct {
	role string
	pid  int
	msg  ride.Msg
	err  error // io.EOF when the role closed its end
}

// launcher is the ride policy on top of a supervise.Group: which roles, what
// each needs of the other, what a normal end is. Only run's goroutine
// touches it.
type launcher struct {
	cfg    config
	msgs   ride.Messages
	pid    int
	stdout *os.File
	stderr io.Writer

	group  *supervise.Group
	roles  map[string]*supervise.Child
	conns  map[string]*ride.Conn
	events chan roleEvent
	ready  map[string]bool
	runDir runDir

	// The outcome, set by the first thing that ends the ride (nil for a
	// normal end), and whether anything has ended it yet.
	result error
	ending bool
}

func run(args []string, sigs <-chan os.Signal, stdout *os.File, stderr io.Writer) error {
	cfg, err := parseFlags(args, stdout, stderr)
	if err != nil {
		return err
	}
	msgs, _ := ride.MessagesFor(cfg.lang) // checked by parseFlags
	if err := supervise.BecomeSubreaper(); err != nil {
		return err
	}
	l := &launcher{
		cfg: cfg, msgs: msgs, pid: os.Getpid(), stdout: stdout, stderr: stderr,
		group:  supervise.NewGroup(),
		roles:  make(map[string]*supervise.Child),
		conns:  make(map[string]*ride.Conn),
		events: make(chan roleEvent, 64),
		ready:  make(map[string]bool),
		runDir: runDir{dir: cfg.runDir},
	}
	defer l.close()
	if err := l.start(); err != nil {
		l.endWith(err)
	}
	return l.loop(sigs)
}

// start spawns the conductor, then the driver, and hands each the other's
// pidfd. The conductor goes first on purpose: when both have exited by the
// time the launcher reaps, wait4 returns the older child first, so the
// conductor, who gets off first, is also reaped first.
func (l *launcher) start() error {
	for _, role := range []string{ride.Conductor, ride.Driver} {
		if err := l.spawn(role); err != nil {
			return err
		}
	}
	for _, pair := range [][2]string{{ride.Driver, ride.Conductor}, {ride.Conductor, ride.Driver}} {
		to, peer := pair[0], l.roles[pair[1]]
		m := ride.Msg{Kind: ride.KindPeer, Role: pair[1], Pid: peer.Pid}
		if err := l.conns[to].Send(m, peer.Pidfd()); err != nil {
			// The role is already gone; its reaping will tell the tale.
			fmt.Fprintf(l.stderr, "launcher: tell %s its peer: %v\n", to, err)
		}
	}
	return nil
}

func (l *launcher) spawn(role string) error {
	conn, childEnd, err := ride.NewPair()
	if err != nil {
		return err
	}
	path := map[string]string{ride.Driver: l.cfg.driver, ride.Conductor: l.cfg.conductor}[role]
	args := []string{path, "--lang", l.cfg.lang}
	if l.cfg.verbose {
		args = append(args, "--report") // events cost a wake-up each: only when used
	}
	child, err := supervise.Start(supervise.Spec{
		Name:  role,
		Path:  path,
		Args:  args,
		Files: []*os.File{os.Stdin, l.stdout, os.Stderr, childEnd}, // childEnd becomes ride.ControlFD
	})
	childEnd.Close()
	if err != nil {
		conn.Close()
		return err
	}
	l.group.Add(child)
	l.roles[role] = child
	l.conns[role] = conn
	go read(role, child.Pid, conn, l.events)
	return nil
}

// read forwards a role's control messages to the loop until its end closes.
func read(role string, pid int, conn *ride.Conn, events chan<- roleEvent) {
	for {
		m, fds, err := conn.Recv()
		for _, fd := range fds {
			syscall.Close(fd) // roles send no fds
		}
		events <- roleEvent{role: role, pid: pid, msg: m, err: err}
		if err != nil {
			return
		}
	}
}

// loop is the ride's only event loop: signals (SIGCHLD among them), role
// events, and timers. It returns once every child has been reaped.
func (l *launcher) loop(sigs <-chan os.Signal) error {
	readyTimer := time.NewTimer(l.cfg.readyTimeout)
	defer readyTimer.Stop()
	var grace <-chan time.Time
	for {
		if l.ending && !l.group.Stopping() {
			grace = l.group.Stop(syscall.SIGTERM, l.cfg.grace)
		}
		if l.group.Len() == 0 {
			if !l.adoptOrphans() {
				return l.result
			}
			continue
		}
		select {
		case sig := <-sigs:
			switch sig {
			case syscall.SIGCHLD:
				l.reap()
			case syscall.SIGTERM, syscall.SIGHUP:
				s := sig.(syscall.Signal)
				l.endWith(&cli.ExitError{Code: 128 + int(s), Err: fmt.Errorf("ride stopped by %s", ride.SignalName(s))})
			default:
				// SIGINT, SIGQUIT, SIGTSTP: the roles' keys, not ours.
			}
		case ev := <-l.events:
			l.event(ev)
		case <-readyTimer.C:
			if len(l.ready) < 2 {
				l.endWith(fmt.Errorf("roles not ready after %v", l.cfg.readyTimeout))
			}
		case <-grace:
			l.group.Kill()
		}
	}
}

// adoptOrphans takes in what the roles left running (re-parented to this
// subreaper) so the loop stops and reaps it too. It reports whether there
// was any.
func (l *launcher) adoptOrphans() bool {
	n, err := l.group.AdoptOrphans("orphan")
	if err != nil {
		fmt.Fprintf(l.stderr, "launcher: %v\n", err)
	}
	if n == 0 {
		return false
	}
	l.endWith(nil) // the ride's outcome stands; the orphans are stopped
	return true
}

// endWith ends the ride for the first reason given; later ones are dropped.
// The loop then stops every child still live.
func (l *launcher) endWith(err error) {
	if l.result == nil {
		l.result = err
	}
	l.ending = true
}

// reap collects every ended child and decides what its end means.
func (l *launcher) reap() {
	exits, err := supervise.Reap()
	if err != nil {
		fmt.Fprintf(l.stderr, "launcher: %v\n", err)
	}
	for _, e := range exits {
		child, ours := l.group.Reaped(e)
		if !ours {
			l.say(fmt.Sprintf("reaped orphan pid=%d %s", e.Pid, e))
			continue
		}
		l.say(fmt.Sprintf("reaped %s pid=%d %s", child.Name, e.Pid, e))
		l.ended(child.Name, e)
	}
}

// ended applies the ride's rules to a role's end. A normal ride ends with the
// conductor getting off (exit 0), then the driver (exit 0).
func (l *launcher) ended(role string, e supervise.Exit) {
	if l.group.Stopping() {
		return // we asked for it
	}
	_, conductorAboard := l.group.Get(l.roles[ride.Conductor].Pid)
	switch {
	case !e.Success():
		l.endWith(fmt.Errorf("%s ended on its own (%s): stopping the ride", role, e))
	case len(l.ready) < 2:
		l.endWith(fmt.Errorf("%s exited before the ride was ready", role))
	case role == ride.Driver && conductorAboard:
		l.endWith(fmt.Errorf("driver got off with the conductor still aboard: stopping the ride"))
	}
}

// event handles one control message.
func (l *launcher) event(ev roleEvent) {
	switch {
	case errors.Is(ev.err, io.EOF):
		return
	case ev.err != nil:
		fmt.Fprintf(l.stderr, "launcher: %s[%d]: %v\n", ev.role, ev.pid, ev.err)
		return
	}
	if l.cfg.verbose {
		fmt.Fprintf(l.stderr, "launcher: %s[%d] %s\n", ev.role, ev.pid, ev.msg.Marshal())
	}
	if ev.msg.Kind == ride.KindReady && !l.ready[ev.role] {
		l.ready[ev.role] = true
		if len(l.ready) == 2 && l.result == nil {
			l.announce()
		}
	}
}

// announce writes the pid files, then prints the ready line.
func (l *launcher) announce() {
	if l.cfg.runDir != "" {
		for _, f := range []struct {
			name string
			pid  int
		}{{ride.Driver, l.roles[ride.Driver].Pid}, {ride.Conductor, l.roles[ride.Conductor].Pid}, {ride.Launcher, l.pid}} {
			if err := l.runDir.write(f.name, f.pid); err != nil {
				l.endWith(err)
				return
			}
		}
	}
	l.say(fmt.Sprintf("ready driver=%d conductor=%d — %s",
		l.roles[ride.Driver].Pid, l.roles[ride.Conductor].Pid, l.msgs.Keys))
}

// say prints one launcher line on stdout, in one write.
func (l *launcher) say(text string) {
	if _, err := l.stdout.Write(ride.Line(ride.Launcher, l.pid, strings.TrimSpace(text))); err != nil {
		fmt.Fprintf(l.stderr, "launcher: %v\n", err)
	}
}

func (l *launcher) close() {
	l.runDir.removeAll()
	for _, c := range l.conns {
		c.Close()
	}
}
