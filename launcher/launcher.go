package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/sigride/sigride/internal/atomicfile"
	"github.com/sigride/sigride/internal/cli"
	"golang.org/x/sys/unix"

	"github.com/sigride/sigride/internal/lineout"
	"github.com/sigride/sigride/internal/ptrace"
	"github.com/sigride/sigride/internal/ride"
	"github.com/sigride/sigride/internal/scenario"
	"github.com/sigride/sigride/internal/supervise"
	"github.com/sigride/sigride/internal/trace"
	"github.com/sigride/sigride/internal/vocab"
)

// role is one of the ride's two roles, as the launcher keeps it.
type role struct {
	name  string
	path  string           // its executable
	child *supervise.Child // nil until it is started
	conn  *ride.Conn       // the launcher's end of its control socket
	ready bool             // it said its handlers are installed
	eof   bool             // its control socket reached EOF
}

// roleEvent is one control message from a role, or the end of its socket.
type roleEvent struct {
	role *role
	msg  ride.Msg
	err  error // io.EOF when the role closed its end
}

// launcher is the ride policy on top of a supervise.Group: which roles, what
// each needs of the other, what a normal end is. Only run's goroutine
// touches it.
type launcher struct {
	cfg    config
	pid    int
	t0     int64           // ride.Now() when it started: -v's times count from it
	stdout *os.File        // the roles' stdout too
	out    *lineout.Output // the launcher's own lines
	stderr io.Writer

	group     *supervise.Group
	conductor *role
	driver    *role
	events    chan roleEvent
	runDir    runDir

	// The outcome, set by the first thing that ends the ride (nil for a
	// normal end), and whether anything has ended it yet.
	result error
	ending bool

	rec  *recorder    // nil: no trace, diagram or scenario
	scen *scenarioRun // nil: no scenario, or not started
	prog *program     // nil: our own roles (no -- CMD)
	// Once a program's ride is stopping: its processes were sent SIGTERM,
	// and this fires when its grace is over.
	progStopping bool
	progKill     <-chan time.Time
	progKilling  bool             // the grace is over: SIGKILL to every process, and to each new one
	roleStopped  <-chan time.Time // a role was stopped: the ride stops when this fires, if it still is
}

// scenarioRun is a scenario under way: its runner's goroutine talks to the
// loop through these.
type scenarioRun struct {
	runner *runner // its results are the loop's to read once result came
	obs    *inbox
	acts   chan action
	result chan error
	done   bool
	err    error
}

func run(args []string, sigs, chld <-chan os.Signal, stdout *os.File, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "diagram" {
		return runDiagram(args[1:], stdout, stderr)
	}
	start := ride.Now()
	cfg, err := parseFlags(args, stdout, stderr)
	if err != nil {
		return err
	}
	if err := supervise.BecomeSubreaper(); err != nil {
		return err
	}
	if err := leadGroup(cfg.steps); err != nil {
		return err
	}
	l := &launcher{
		cfg: cfg, pid: os.Getpid(), t0: start, stdout: stdout, out: lineout.New(stdout), stderr: stderr,
		group:     supervise.NewGroup(),
		conductor: &role{name: vocab.Conductor, path: cfg.conductor},
		driver:    &role{name: vocab.Driver, path: cfg.driver},
		events:    make(chan roleEvent, 64),
		runDir:    runDir{dir: cfg.runDir},
	}
	if cfg.recording() {
		l.rec = &recorder{start: start}
		l.rec.add(start, l.pid, vocab.Launcher, trace.Spawn)
	}
	defer l.close()
	begin := l.start
	if cfg.program != nil {
		begin = l.startProgram
	}
	if err := begin(); err != nil {
		l.endWith(err)
	}
	l.loop(sigs, chld)
	return l.finish()
}

// finish takes in the reports still on their way, saves the trace and the
// diagram, and decides the exit: the ride's, or with a scenario, the
// scenario's.
func (l *launcher) finish() error {
	result := l.result
	if l.cfg.reporting() {
		// Roles report (--report): their last reports may still be on
		// their way, and -v prints them.
		l.drain(time.Second)
	}
	if l.cfg.checkReport != "" {
		if err := l.writeCheckReport(); err != nil {
			fmt.Fprintf(l.stderr, "launcher: %v\n", err)
			result = &cli.ExitError{Code: cli.ExitFailure}
		}
	}
	if l.rec == nil {
		return result
	}
	if l.prog != nil {
		l.named()
	}
	if l.rec.dropped > 0 {
		fmt.Fprintf(l.stderr, "launcher: the trace keeps the first %d events: %d more were not kept\n", maxEvents, l.rec.dropped)
	}
	if l.scen != nil {
		for _, line := range trace.Summary(l.rec.events) {
			l.sayOnly("summary: " + line)
		}
		if l.result != nil && l.scen.err == nil {
			fmt.Fprintf(l.stderr, "launcher: the ride: %v\n", l.result)
		}
		result = nil
		if l.scen.err != nil {
			fmt.Fprintln(l.stderr, l.scen.err) // FILE:LINE: expected, happened
			result = &cli.ExitError{Code: cli.ExitFailure}
		}
	}
	if err := l.rec.save(l.cfg); err != nil {
		fmt.Fprintf(l.stderr, "launcher: %v\n", err)
		if result == nil {
			result = &cli.ExitError{Code: cli.ExitFailure}
		}
	}
	return result
}

// writeCheckReport writes the requirements' lines (--check-report): PASS
// or FAIL and what happened, one a line in the scenario's order. A ride
// whose scenario never ran (its roles never recognised) fails each with
// the reason.
func (l *launcher) writeCheckReport() error {
	var results []result
	if l.scen != nil && l.scen.done {
		results = l.scen.runner.results
	} else {
		why := errors.New("the ride never started")
		if l.result != nil {
			why = l.result
		}
		for _, s := range l.cfg.steps {
			if s.Kind == scenario.Check {
				results = append(results, result{text: s.Text, err: &stepError{happened: why.Error()}})
			}
		}
	}
	return atomicfile.Write(l.cfg.checkReport, func(w io.Writer) error {
		for _, res := range results {
			if _, err := fmt.Fprintln(w, res.line()); err != nil {
				return err
			}
		}
		return nil
	})
}

// drain handles the events still on their way, until every role's control
// socket reached EOF or the time is up: a role's last reports may arrive
// after it was reaped.
func (l *launcher) drain(limit time.Duration) {
	timeout := time.After(limit)
	for l.watching() {
		select {
		case ev := <-l.events:
			l.event(ev)
		case <-timeout:
			return
		}
	}
}

// roles are the ride's roles in the order they start: the conductor first
// (see start).
func (l *launcher) roles() []*role { return []*role{l.conductor, l.driver} }

// roleNamed is the role a scenario names, nil for the launcher.
func (l *launcher) roleNamed(name string) *role {
	for _, r := range l.roles() {
		if r.name == name {
			return r
		}
	}
	return nil
}

// allReady reports whether both roles have said they are ready.
func (l *launcher) allReady() bool { return l.conductor.ready && l.driver.ready }

// watching reports whether a role's control socket is still open: its last
// reports may be on their way.
func (l *launcher) watching() bool {
	for _, r := range l.roles() {
		if r.conn != nil && !r.eof {
			return true
		}
	}
	return false
}

// start spawns the conductor, then the driver, and hands each the other's
// pidfd. The conductor goes first on purpose: when both have exited by the
// time the launcher reaps, wait4 returns the older child first, so the
// conductor, who gets off first, is also reaped first.
func (l *launcher) start() error {
	for _, r := range l.roles() {
		if err := l.spawn(r); err != nil {
			return err
		}
	}
	for _, pair := range [][2]*role{{l.driver, l.conductor}, {l.conductor, l.driver}} {
		to, peer := pair[0], pair[1]
		m := ride.Msg{Kind: ride.KindPeer, Role: peer.name, Pid: peer.child.Pid}
		if err := to.conn.Send(m, peer.child.Pidfd()); err != nil {
			// The role is already gone; its reaping will tell the tale.
			fmt.Fprintf(l.stderr, "launcher: tell %s its peer: %v\n", to.name, err)
		}
	}
	return nil
}

func (l *launcher) spawn(r *role) error {
	conn, childEnd, err := ride.NewPair()
	if err != nil {
		return err
	}
	args := []string{r.path, "--lang", l.cfg.lang}
	if l.cfg.reporting() {
		args = append(args, "--report") // events cost a wake-up each: only when used
	}
	child, err := supervise.Start(supervise.Spec{
		Name:  r.name,
		Path:  r.path,
		Args:  args,
		Files: []*os.File{os.Stdin, l.stdout, os.Stderr, childEnd}, // childEnd becomes ride.ControlFD
		// Held pending from exec until the role takes them (ride.Intake).
		Blocked: ride.Blocked,
	})
	childEnd.Close()
	if err != nil {
		conn.Close()
		return err
	}
	if l.rec != nil {
		l.rec.add(ride.Now(), child.Pid, r.name, trace.Spawn)
	}
	l.group.Add(child)
	l.group.Arm(child.Pid, supervise.Starting, l.cfg.readyTimeout)
	r.child, r.conn = child, conn
	conn.Watch(func(m ride.Msg, err error) {
		l.events <- roleEvent{role: r, msg: m, err: err}
	})
	return nil
}

// loop is the ride's only event loop: signals (SIGCHLD on chld), role
// events, the scenario's actions, and timers. It returns once every child
// has been reaped and the scenario, if any, has finished; l.result then
// holds the ride's outcome.
func (l *launcher) loop(sigs, chld <-chan os.Signal) {
	var acts chan action
	var scenarioDone chan error
	for {
		if l.ending && !l.group.Stopping() {
			l.recordSends(syscall.SIGTERM)
			l.group.Stop(syscall.SIGTERM, l.cfg.grace)
		}
		tracing := l.prog != nil && l.prog.events != nil
		if l.ending && tracing && !l.progStopping {
			// Every process of the program, not the one started alone.
			l.progStopping = true
			l.signalAll(syscall.SIGTERM)
			l.progKill = time.After(l.cfg.grace)
		}
		if l.group.Len() == 0 {
			switch {
			case tracing:
				// What the program left running is stopped: its traced
				// processes, and any child of ours the tracer does not
				// know (made with CLONE_UNTRACED, then orphaned).
				if !l.ending && !l.rolesAboard() && (len(l.prog.live()) > 0 || len(l.strays()) > 0) {
					l.endWith(nil)
					continue // to stop them now, not at the next event
				}
			case l.prog == nil && l.adoptOrphans():
				continue
			case l.scen == nil || l.scen.done:
				return
			}
		}
		var progEvents <-chan ptrace.Event
		if tracing {
			progEvents = l.prog.events
		}
		if l.scen != nil && !l.scen.done {
			acts, scenarioDone = l.scen.acts, l.scen.result
		}
		select {
		case <-chld:
			l.signalled(syscall.SIGCHLD)
		case sig := <-sigs:
			// On Linux every os.Signal that signal.Notify delivers is a
			// syscall.Signal.
			l.signalled(sig.(syscall.Signal))
		case ev := <-l.events:
			l.event(ev)
		case a := <-acts:
			a.reply <- l.act(a.step)
		case err := <-scenarioDone:
			l.scen.done, l.scen.err = true, err
			acts, scenarioDone = nil, nil
			l.endWith(nil) // the ride ends with its scenario
		case <-l.group.Deadline():
			l.overdue(l.group.Expired())
		case e, ok := <-progEvents:
			if !ok {
				l.prog.events = nil // nothing left to trace: every process reaped
				if l.scen != nil {
					l.scen.obs.push(observation{fact: &fact{over: true, problems: l.zombies()}})
				}
				if err := l.prog.tracer.Err(); err != nil {
					fmt.Fprintf(l.stderr, "launcher: %v\n", err)
				}
				continue
			}
			l.traced(e)
		case <-l.roleStopped:
			l.stillStopped()
		case <-l.progKill:
			// Again and again while any is left: one may have been made
			// since, its spawn not yet taken in.
			l.progKilling = true
			l.signalAll(syscall.SIGKILL)
			l.progKill = nil
			if len(l.prog.live()) > 0 || len(l.strays()) > 0 {
				l.progKill = time.After(progRekill)
			}
		}
	}
}

// signalled handles a signal to the launcher. Each one but SIGCHLD is
// recorded as received, as a role reports its own, so a scenario's "send
// launcher" is counted as arrived; a child's end is recorded as its reaping.
func (l *launcher) signalled(sig syscall.Signal) {
	if sig == syscall.SIGCHLD {
		if l.prog != nil && l.prog.tracer != nil {
			return // the tracer is the one waiter: its events say who ended
		}
		l.reap()
		return
	}
	switch sig {
	case syscall.SIGTERM, syscall.SIGHUP:
		if l.rec != nil {
			l.rec.received(l.pid, sig)
		}
		l.endWith(&cli.ExitError{Code: 128 + int(sig), Err: fmt.Errorf("ride stopped by SIG%s", vocab.SignalName(sig))})
	default:
		// SIGINT, SIGQUIT, SIGTSTP: the roles' keys, not ours. They reach
		// the launcher only as a member of the terminal's process group;
		// recording each would draw every key twice.
	}
}

// overdue applies the ride's policy to roles whose deadline passed: one
// not ready in time ends the ride; one past its grace has been killed.
func (l *launcher) overdue(due []supervise.Overdue) {
	for _, o := range due {
		switch o.Phase {
		case supervise.Starting:
			if l.prog != nil {
				l.endWith(l.notRecognised(o.After))
				continue
			}
			l.endWith(fmt.Errorf("roles not ready after %v", o.After))
		case supervise.Stopping:
			if l.rec != nil {
				l.rec.sent(l.pid, syscall.SIGKILL, o.Child.Pid)
			}
		}
	}
}

// act carries out a scenario's send or kill.
func (l *launcher) act(s scenario.Step) error {
	if s.Kind == scenario.Press {
		// As a terminal does: the key's signal to the whole group, the
		// launcher's own (leadGroup), which drops it like any key.
		if err := unix.Kill(-l.pid, s.Signal); err != nil {
			return fmt.Errorf("%s: %w", s, err)
		}
		return nil
	}
	r := l.roleNamed(s.Role) // nil: the launcher itself
	pid := l.pid
	if r != nil {
		live := false
		if l.prog != nil {
			live = !l.prog.procs[r.child.Pid].ended
		} else {
			_, live = l.group.Get(r.child.Pid)
		}
		if !live {
			return fmt.Errorf("cannot signal %s: it has been reaped", r.name)
		}
		pid = r.child.Pid
	}
	for i := 0; i < max(s.Times, 1); i++ {
		if l.rec != nil {
			l.rec.sent(l.pid, s.Signal, pid)
		}
		if l.prog != nil {
			l.prog.sent[[2]int{pid, int(s.Signal)}]++
		}
		var err error
		if r == nil {
			err = unix.Kill(pid, s.Signal) // arrives in sigs, like any other
		} else {
			err = r.child.Signal(s.Signal)
		}
		if err != nil {
			return fmt.Errorf("send SIG%s to %s: %w", vocab.SignalName(s.Signal), s.Role, err)
		}
	}
	return nil
}

// progRekill is how often a program's processes are sent SIGKILL again,
// past the grace, while any is left.
const progRekill = 100 * time.Millisecond

// leadGroup makes the launcher the leader of a process group of its own
// when a scenario presses keys and it is not one already: a key goes to
// the launcher's whole group, which must hold the ride and nothing else
// (under make, or a test, the launcher shares its caller's group). A
// launcher a shell started as a job leads its group already, and keeps it,
// so the terminal's own keys still reach the ride.
func leadGroup(steps []scenario.Step) error {
	if !slices.ContainsFunc(steps, func(s scenario.Step) bool { return s.Kind == scenario.Press }) {
		return nil
	}
	if unix.Getpgrp() == os.Getpid() {
		return nil
	}
	if err := unix.Setpgid(0, 0); err != nil {
		return fmt.Errorf("a process group for the keys: %w", err)
	}
	return nil
}

// recordSends records the launcher's sig to every live child, as it stops
// them.
func (l *launcher) recordSends(sig syscall.Signal) {
	if l.rec == nil {
		return
	}
	for _, c := range l.group.Children() {
		l.rec.sent(l.pid, sig, c.Pid)
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
		if err != nil && l.scen != nil {
			// What stopped the roles, for the scenario's words.
			l.scen.obs.push(observation{fact: &fact{stopped: strings.TrimSuffix(err.Error(), ": stopping the ride")}})
		}
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
		role := "orphan"
		child, ours := l.group.Reaped(e)
		if ours {
			role = child.Name
		}
		if l.rec != nil {
			l.rec.reaped(role, e)
		}
		if l.scen != nil {
			l.scen.obs.push(observation{role: role, reaped: &e})
		}
		l.say(fmt.Sprintf("reaped %s pid=%d %s", role, e.Pid, e))
		if ours {
			l.ended(child.Name, e)
		}
	}
}

// ended applies the ride's rules to a role's end. A normal ride ends with the
// conductor getting off (exit 0), then the driver (exit 0).
func (l *launcher) ended(role string, e supervise.Exit) {
	if l.group.Stopping() {
		return // we asked for it
	}
	_, conductorAboard := l.group.Get(l.conductor.child.Pid)
	switch {
	case !e.Success():
		l.endWith(fmt.Errorf("%s ended on its own (%s): stopping the ride", role, e))
	case !l.allReady():
		l.endWith(fmt.Errorf("%s exited before the ride was ready", role))
	case role == vocab.Driver && conductorAboard:
		l.endWith(fmt.Errorf("driver got off with the conductor still aboard: stopping the ride"))
	}
}

// event handles one control message.
func (l *launcher) event(ev roleEvent) {
	r, pid := ev.role, ev.role.child.Pid
	switch {
	case errors.Is(ev.err, io.EOF):
		r.eof = true
		return
	case ev.err != nil:
		fmt.Fprintf(l.stderr, "launcher: %s[%d]: %v\n", r.name, pid, ev.err)
		return
	}
	if l.cfg.verbose {
		// People read milliseconds since the start, not nanoseconds of
		// CLOCK_MONOTONIC: to the microsecond, which keeps events across
		// processes in order.
		fmt.Fprintf(l.stderr, "launcher: %+.3fms %s[%d] %s\n", float64(ev.msg.Mono-l.t0)/1e6, r.name, pid, ev.msg.Untimed())
	}
	if l.rec != nil {
		l.rec.message(r.name, pid, ev.msg)
	}
	if l.scen != nil && ev.msg.Kind == ride.KindPrint {
		l.scen.obs.push(observation{role: r.name, text: ev.msg.Text})
	}
	if ev.msg.Kind == ride.KindReady && !r.ready {
		r.ready = true
		if ph, ok := l.group.Phase(pid); ok && ph == supervise.Starting {
			l.group.Disarm(pid)
		}
		if l.allReady() && l.result == nil {
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
		}{{l.driver.name, l.driver.child.Pid}, {l.conductor.name, l.conductor.child.Pid}, {vocab.Launcher, l.pid}} {
			if err := l.runDir.write(f.name, f.pid); err != nil {
				l.endWith(err)
				return
			}
		}
	}
	keys := l.cfg.msgs.Keys
	if l.cfg.scenario != "" {
		keys = "running " + l.cfg.scenario
	}
	l.say(fmt.Sprintf("ready driver=%d conductor=%d — %s",
		l.driver.child.Pid, l.conductor.child.Pid, keys))
	if l.cfg.steps != nil {
		l.startScenario()
	}
}

// startScenario starts the runner's goroutine.
func (l *launcher) startScenario() {
	l.scen = &scenarioRun{obs: newInbox(), acts: make(chan action), result: make(chan error, 1)}
	r := &runner{steps: l.cfg.steps, in: l.scen.obs, acts: l.scen.acts, say: l.sayOnly, program: l.prog != nil}
	l.scen.runner = r
	if l.prog != nil && l.prog.tracer.Watching() {
		r.unseen = "the program's lines cannot be seen without ptrace (refused here): a scenario can expect the launcher's lines and the roles' exits, not their lines"
	}
	go func() { l.scen.result <- r.run() }()
}

// say prints one launcher line on stdout, in one write; a scenario may
// expect it.
func (l *launcher) say(text string) {
	l.sayOnly(text)
	if l.scen != nil {
		l.scen.obs.push(observation{role: vocab.Launcher, text: text})
	}
}

// sayOnly prints a launcher line no scenario expects: the steps and the
// summary. The runner's goroutine calls it too: one write(2) per line keeps
// lines whole. A line stdout does not take is dropped, and counted at the
// end (close).
func (l *launcher) sayOnly(text string) {
	_, _ = l.out.Write(ride.Line(vocab.Launcher, l.pid, strings.TrimSpace(text)))
}

func (l *launcher) close() {
	if n := l.out.Dropped(); n > 0 {
		fmt.Fprintf(l.stderr, "launcher: %s not written: %s\n", vocab.Count(n, "line"), l.out.Why("stdout"))
	}
	l.out.Close()
	l.runDir.removeAll()
	if l.prog != nil {
		for _, pr := range l.prog.procs {
			pr.closePidfd()
		}
	}
	for _, r := range l.roles() {
		if r.conn != nil {
			r.conn.Close()
		}
	}
}
