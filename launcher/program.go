package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sigride/sigride/internal/ptrace"
	"github.com/sigride/sigride/internal/ride"
	"github.com/sigride/sigride/internal/scenario"
	"github.com/sigride/sigride/internal/supervise"
	"github.com/sigride/sigride/internal/trace"
	"github.com/sigride/sigride/internal/vocab"
)

// program is a program of the user's run as the ride (launcher -- CMD):
// started held, traced from its first instruction with every process it
// makes (internal/ptrace), its roles recognised by what they handle.
type program struct {
	root   *supervise.Child
	tracer *ptrace.Tracer      // nil until seized: until then the loop reaps as for our roles
	events <-chan ptrace.Event // nil once closed: nothing is left to trace
	procs  map[int]*proc
	order  []int // the pids in the order they came, for a diagnosis
	// The launcher's own signals to each process (pid, signal) not yet
	// received: a key signal from the launcher that none of these
	// accounts for is a scenario's press, standing for a terminal's key.
	sent map[[2]int]int
}

// proc is one process of the program.
type proc struct {
	dispositions
	ended     bool
	status    unix.WaitStatus
	stopped   bool           // in a job-control stop (its Stop event), until it takes a signal
	partial   [3][]byte      // what it wrote to fd 1 and 2 since its last newline: a scenario expects lines
	exitT     int64          // when it ended (its Exit event): its time as a zombie runs from here
	parent    int            // the process that made it (the launcher, for the one it started)
	afterStop bool           // it ended once the launcher was stopping the ride: not by itself
	pidfd     int            // from its Spawn, until its Exit: to signal it by (-1: by pid)
	stopSig   syscall.Signal // what stopped it, while it is stopped
	keyStop   ptrace.Event   // a key it took whose default stops it: harm once it stops
	// Who reaped it (0: nobody yet), and when.
	reapedBy int
	reapT    int64
	// One past the index in the trace of its last send: a send that
	// fails says so at the call's return, after the send was recorded.
	lastSend int
}

// maxPartial is the most of a line without its newline kept for a
// scenario: past it, what there is counts as a line.
const maxPartial = 4096

// withoutPtrace is what a ride without ptrace still does, and what not.
const withoutPtrace = "roles recognised from /proc, no send, receive or print events"

// startProgram starts cfg.program held, seizes it and lets it go. Where
// ptrace is refused (EPERM, EACCES: a seccomp profile, Yama), it is
// watched from /proc instead (ptrace.Watch), and said so on stderr.
func (l *launcher) startProgram() error {
	h, err := ptrace.NewHold()
	if err != nil {
		return err
	}
	child, err := supervise.Start(supervise.Spec{
		Name:  "program",
		Path:  ptrace.Shell,
		Args:  ptrace.HoldArgs(3, l.cfg.program),
		Files: []*os.File{os.Stdin, l.stdout, os.Stderr, h.Child()},
	})
	h.Child().Close()
	if err != nil {
		h.Close()
		return err
	}
	l.prog = &program{root: child, procs: map[int]*proc{}, sent: map[[2]int]int{}}
	l.group.Add(child)
	l.group.Arm(child.Pid, supervise.Starting, l.cfg.readyTimeout)
	if err := h.Held(l.cfg.readyTimeout); err != nil {
		h.Close() // the shell, if it lives, exits 127: reaped as any child
		return err
	}
	tr, err := ptrace.Seize(child.Pid)
	var errno syscall.Errno
	if errors.As(err, &errno) && (errno == unix.EPERM || errno == unix.EACCES) {
		fmt.Fprintf(l.stderr, "launcher: ptrace refused (%v): running without it: %s\n", errno, withoutPtrace)
		tr, err = ptrace.Watch(child.Pid)
	}
	if err != nil {
		h.Close()
		return fmt.Errorf("trace %s: %w", l.cfg.program[0], err)
	}
	l.prog.tracer, l.prog.events = tr, tr.Events()
	root := l.prog.add(child.Pid, l.pid, commandOf(child.Pid))
	if fd, err := unix.FcntlInt(uintptr(child.Pidfd()), unix.F_DUPFD_CLOEXEC, 3); err == nil {
		root.pidfd = fd // as for the processes it makes, from their Spawn
	}
	if l.rec != nil {
		l.rec.add(ride.Now(), child.Pid, "", trace.Spawn).Parent = l.pid
	}
	return h.Release()
}

// add keeps a new process of the program, with its parent's dispositions
// until it says its own.
func (p *program) add(pid, parent int, command string) *proc {
	pr := &proc{dispositions: dispositions{pid: pid, command: command}, parent: parent, pidfd: -1}
	if pp := p.procs[parent]; pp != nil {
		pr.caught, pr.ignored, pr.blocked = pp.caught, pp.ignored, pp.blocked
		if command == "" {
			pr.command = pp.command
		}
	}
	p.procs[pid] = pr
	p.order = append(p.order, pid)
	return pr
}

// live are the program's processes that have not ended, in order.
func (p *program) live() []dispositions {
	var ds []dispositions
	for _, pid := range p.order {
		if pr := p.procs[pid]; !pr.ended {
			ds = append(ds, pr.dispositions)
		}
	}
	return ds
}

// traced takes in one event of the program.
func (l *launcher) traced(e ptrace.Event) {
	p := l.prog
	if l.cfg.verbose {
		fmt.Fprintf(l.stderr, "launcher: %+.3fms %s[%d] %s\n", float64(e.T-l.t0)/1e6, l.nameOf(e.Pid), e.Pid, describeEvent(e))
	}
	pr := p.procs[e.Pid]
	key := e.Kind == ptrace.Signal && l.fromKey(e)
	if l.rec != nil {
		l.record(e, pr, key)
	}
	switch e.Kind {
	case ptrace.Spawn:
		np := p.add(e.Pid, e.Parent, "")
		np.pidfd = e.Pidfd
		if l.progKilling {
			_ = np.signal(syscall.SIGKILL) // past the grace, anything new goes at once
		}
	case ptrace.Exec:
		if pr != nil {
			pr.command = commandOf(e.Pid)
		}
	case ptrace.Dispositions:
		if pr != nil {
			pr.caught, pr.ignored, pr.blocked = e.Caught, e.Ignored, e.Blocked
			l.recognise()
		}
	case ptrace.Signal:
		if pr != nil {
			pr.stopped = false
		}
		switch {
		case !key || e.Waited || pr == nil:
		case e.Fate == ptrace.Terminated || e.Fate == ptrace.Dumped:
			l.harmed(e)
		case e.Fate == ptrace.Stopped:
			// Harm only if it does stop: in an orphaned process group
			// the kernel discards a key that would.
			pr.keyStop = e
		}
	case ptrace.Stop:
		if pr != nil {
			pr.stopped = true
			if pr.keyStop.Sig == e.Sig {
				l.harmed(pr.keyStop)
			}
			pr.keyStop = ptrace.Event{}
		}
		if l.isRole(e.Pid) && !l.ending {
			// Said now; the ride is stopped only if it is still stopped
			// after the grace: a SIGCONT may yet let it go on, and its
			// peer finishes with the key meanwhile.
			fmt.Fprintf(l.stderr, "launcher: %s[%d] stopped by SIG%s: the ride stops in %v unless it is continued\n",
				l.nameOf(e.Pid), e.Pid, vocab.SignalName(e.Sig), l.cfg.grace)
			if pr != nil {
				pr.stopSig = e.Sig
			}
			if l.scen != nil {
				l.scen.obs.push(observation{role: l.nameOf(e.Pid), fact: &fact{stopSig: "SIG" + vocab.SignalName(e.Sig)}})
			}
			if l.roleStopped == nil {
				l.roleStopped = time.After(l.cfg.grace)
			}
		}
	case ptrace.Exit:
		if pr != nil {
			pr.ended, pr.status, pr.exitT, pr.afterStop = true, e.Status, e.T, l.ending
			pr.closePidfd()
			if l.scen != nil && l.isRole(e.Pid) {
				// A role is its parent's to reap, not always the
				// launcher's: for a scenario, its end is its exit.
				ex := supervise.Exit{Pid: e.Pid, Status: e.Status}
				l.scen.obs.push(observation{role: l.nameOf(e.Pid), reaped: &ex})
			}
			l.programEnded(pr)
		}
	case ptrace.Reap:
		l.reaped(pr, e.Parent, e.T)
		l.prune()
	case ptrace.Reaped:
		l.reaped(pr, l.pid, e.T)
		ex := supervise.Exit{Pid: e.Pid, Status: e.Status}
		if l.scen != nil && e.Pid == p.root.Pid {
			l.scen.obs.push(observation{role: scenario.Program, reaped: &ex})
		}
		l.group.Reaped(ex)
		name := l.nameOf(e.Pid)
		if name == "process" {
			name = "orphan" // a process the program left behind: reaped here
		}
		if l.scen != nil && !l.isRole(e.Pid) {
			l.scen.obs.push(observation{role: name, reaped: &ex})
		}
		l.say(fmt.Sprintf("reaped %s pid=%d %s", name, e.Pid, ex))
	}
}

// recognise looks for the roles among the live processes, once.
func (l *launcher) recognise() {
	if l.allReady() || l.ending {
		return
	}
	d, c, problem := recognise(l.prog.live())
	if problem != "" {
		return // the program is on its way: judged when time is up
	}
	for _, r := range []struct {
		role *role
		pid  int
	}{{l.driver, d}, {l.conductor, c}} {
		// Its own pidfd, a copy of the one its Spawn brought: opened by
		// pid now, it could be another's, the events lagging.
		fd, err := dupPidfd(l.prog.procs[r.pid])
		if err != nil {
			l.endWith(fmt.Errorf("hold %s %d: %w", r.role.name, r.pid, err))
			return
		}
		r.role.child = supervise.FromPidfd(r.role.name, r.pid, fd)
		r.role.ready = true
		if l.rec != nil {
			l.rec.add(ride.Now(), r.pid, "", trace.Ready) // recognised
		}
	}
	l.group.Disarm(l.prog.root.Pid)
	l.announce()
}

// notRecognised is the ride's end when the roles are not there in time:
// every process described, and what is missing.
func (l *launcher) notRecognised(after time.Duration) error {
	_, _, problem := recognise(l.prog.live())
	// The live ones first, then those ended, at most maxDescribed in all:
	// a program may have made thousands.
	shown := 0
	for _, live := range []bool{true, false} {
		for _, pid := range l.prog.order {
			pr := l.prog.procs[pid]
			if pr.ended == live || shown == maxDescribed {
				continue
			}
			shown++
			state := describe(pr.dispositions)
			if pr.ended {
				state += fmt.Sprintf(" (ended: %s)", supervise.Exit{Pid: pid, Status: pr.status})
			}
			fmt.Fprintf(l.stderr, "launcher:   %s\n", state)
		}
	}
	if n := len(l.prog.order) - shown; n > 0 {
		fmt.Fprintf(l.stderr, "launcher:   … and %d more (%d in all)\n", n, len(l.prog.order))
	}
	return fmt.Errorf("the ride's roles not recognised after %v: %s", after, problem)
}

// maxDescribed bounds the processes a diagnosis describes.
const maxDescribed = 50

// maxKept bounds the processes the launcher keeps of a program: past
// twice that, those it has nothing more to say of (ended, reaped by their
// parent in time, no role) are forgotten.
const maxKept = 10_000

// prune forgets, once the program has made too many, the processes the
// launcher has nothing more to say of.
func (l *launcher) prune() {
	p := l.prog
	if len(p.order) <= 2*maxKept {
		return
	}
	order := p.order[:0]
	for _, pid := range p.order {
		pr := p.procs[pid]
		done := pr.ended && pr.reapedBy != 0 && pr.reapedBy == pr.parent &&
			time.Duration(pr.reapT-pr.exitT) <= zombieLimit && pid != p.root.Pid && !l.isRole(pid)
		if done {
			pr.closePidfd()
			delete(p.procs, pid)
			continue
		}
		order = append(order, pid)
	}
	p.order = slices.Clip(order)
}

// programEnded applies the ride's rules to the end of one of the
// program's processes: the conductor gets off first (exit 0), then the
// driver (exit 0); any other end of a role stops the ride.
func (l *launcher) programEnded(pr *proc) {
	if l.ending {
		return // we asked for it, or the ride was over
	}
	ex := supervise.Exit{Pid: pr.pid, Status: pr.status}
	switch {
	case !l.allReady():
		if pr.pid == l.prog.root.Pid {
			l.endWith(fmt.Errorf("the program ended (%s) before its roles were recognised", ex))
		}
	case pr.pid == l.conductor.child.Pid:
		if !ex.Success() {
			l.endWith(fmt.Errorf("conductor ended on its own (%s): stopping the ride", ex))
		}
	case pr.pid == l.driver.child.Pid:
		switch {
		case !ex.Success():
			l.endWith(fmt.Errorf("driver ended on its own (%s): stopping the ride", ex))
		case !l.prog.procs[l.conductor.child.Pid].ended:
			l.endWith(errors.New("driver got off with the conductor still aboard: stopping the ride"))
		}
	}
}

// lines are the whole lines of what pr wrote to fd (1 or 2) with the
// write e, its bytes included: what comes after its last newline waits
// for the rest of its line. Of a write longer than the tracer reads, the
// bytes between its first and last 4096 are unknown: the line they cut
// says so with "…".
func (pr *proc) lines(e ptrace.Event) []string {
	if e.Fd != 1 && e.Fd != 2 {
		return nil
	}
	lines := pr.feed(e.Fd, e.Data)
	if e.Len > len(e.Data) {
		if len(e.Data)+len(e.Tail) < e.Len {
			pr.partial[e.Fd] = append(pr.partial[e.Fd], "…"...)
		}
		lines = append(lines, pr.feed(e.Fd, e.Tail)...)
	}
	return lines
}

// feed takes data written to fd into pr's lines.
func (pr *proc) feed(fd int, data []byte) []string {
	pr.partial[fd] = append(pr.partial[fd], data...)
	var lines []string
	for {
		i := bytes.IndexByte(pr.partial[fd], '\n')
		if i < 0 {
			break
		}
		lines = append(lines, string(pr.partial[fd][:i]))
		pr.partial[fd] = pr.partial[fd][i+1:]
	}
	if len(pr.partial[fd]) > maxPartial {
		lines = append(lines, string(pr.partial[fd]))
		pr.partial[fd] = nil
	}
	return lines
}

// record puts a traced event in the trace, and hands a role's lines to
// the scenario. Events are named by pid: roles are named at the end
// (named), once known.
func (l *launcher) record(e ptrace.Event, pr *proc, key bool) {
	add := func(event string) *trace.Event { return l.rec.add(e.T, e.Pid, "", event) }
	switch e.Kind {
	case ptrace.Spawn:
		add(trace.Spawn).Parent = e.Parent
	case ptrace.Exec:
		add(trace.Exec).Text = e.Path
	case ptrace.Signal:
		ev := add(trace.Receive)
		ev.Signal, ev.From, ev.Fate = "SIG"+vocab.SignalName(e.Sig), e.From, e.Fate.String()
		if e.Waited {
			ev.Fate = trace.Sigwait
		}
		if e.Fate == 0 {
			ev.Fate = "" // the process was gone before /proc said
		}
		switch {
		case key:
			ev.Sender = trace.SenderKey
		case e.Code == ptrace.CodeKernel:
			ev.Sender = trace.SenderKernel
		}
	case ptrace.Stop:
		add(trace.Stop).Signal = "SIG" + vocab.SignalName(e.Sig)
	case ptrace.Send:
		ev := add(trace.Send)
		ev.Signal = "SIG" + vocab.SignalName(e.Sig)
		switch {
		case e.Target > 0 || e.Target == -1:
			ev.To = e.Target
		case e.Target == 0:
			ev.Group, _ = unix.Getpgid(e.Pid) // its own group
		default:
			ev.Group = -e.Target
		}
		if pr != nil {
			pr.lastSend = 0 // not kept: past maxEvents
			if l.rec.dropped == 0 {
				pr.lastSend = len(l.rec.events)
			}
		}
	case ptrace.SendFailed:
		if pr != nil && pr.lastSend > 0 {
			why := e.Err.Error()
			if errno, ok := e.Err.(syscall.Errno); ok && unix.ErrnoName(errno) != "" {
				why = unix.ErrnoName(errno)
			}
			l.rec.events[pr.lastSend-1].Error = why
		}
	case ptrace.Print:
		if pr == nil {
			return
		}
		for _, line := range pr.lines(e) {
			add(trace.Print).Text = line
			if l.scen != nil && e.Fd == 1 && l.isRole(e.Pid) {
				l.scen.obs.push(observation{role: l.nameOf(e.Pid), text: line})
			}
		}
	case ptrace.Exit:
		ev := add(trace.Exit)
		if e.Status.Signaled() {
			ev.Signal = "SIG" + vocab.SignalName(e.Status.Signal())
		} else {
			ev.Code = trace.CodeOf(e.Status.ExitStatus())
		}
	case ptrace.Reap, ptrace.Reaped:
		if pr == nil {
			return
		}
		ev := add(trace.Reap)
		if pr.status.Signaled() {
			ev.Signal = "SIG" + vocab.SignalName(pr.status.Signal())
		} else {
			ev.Code = trace.CodeOf(pr.status.ExitStatus())
		}
		ev.By = e.Parent
		if e.Kind == ptrace.Reaped {
			ev.By = l.pid
		}
		if pr.ended {
			ev.Zombie = trace.SecondsOf(max(0, float64(e.T-pr.exitT)/1e9))
		}
	}
}

// fromKey says a signal a process takes came from a key: the terminal's,
// or a scenario's press. It is called once for each Signal event.
func (l *launcher) fromKey(e ptrace.Event) bool {
	if vocab.KeyOf(e.Sig) == "" {
		return false
	}
	k := [2]int{e.Pid, int(e.Sig)}
	sent := l.prog.sent[k] > 0
	delete(l.prog.sent, k) // one delivery answers every send pending
	switch {
	case e.Code == ptrace.CodeKernel:
		return true // the terminal's
	case e.From == l.pid || e.Code == ptrace.CodeUnknown:
		// A scenario's press, not its send; or taken by sigwait with no
		// word of its sender: nothing else sends the keys' signals.
		return !sent
	}
	return false
}

// harmed tells the scenario a key ended or stopped a process.
func (l *launcher) harmed(e ptrace.Event) {
	if l.scen != nil {
		l.scen.obs.push(observation{fact: &fact{harm: l.harm(e)}})
	}
}

// harm says in words what a key did to a process that ran no handler.
func (l *launcher) harm(e ptrace.Event) string {
	did := map[ptrace.Fate]string{ptrace.Terminated: "killed", ptrace.Dumped: "killed (core dumped)", ptrace.Stopped: "stopped"}[e.Fate]
	sig := "SIG" + vocab.SignalName(e.Sig)
	return fmt.Sprintf("%s (%s) %s %s: a key reaches every process of the terminal, so %s must ignore %s or handle it",
		vocab.KeyOf(e.Sig), sig, did, l.who(e.Pid), l.who(e.Pid), sig)
}

// who names a process in a sentence, with no pid: a report reads the
// same from one run to the next.
func (l *launcher) who(pid int) string {
	switch name := l.nameOf(pid); {
	case pid == l.pid:
		return "the launcher"
	case name == "process":
		return "another process of the program"
	default:
		return "the " + name
	}
}

// reaped notes who reaped pr, and tells the scenario when pr is a role.
func (l *launcher) reaped(pr *proc, by int, t int64) {
	if pr == nil || pr.reapedBy != 0 {
		return
	}
	pr.reapedBy, pr.reapT = by, t
	if l.scen == nil || !l.isRole(pr.pid) {
		return
	}
	l.scen.obs.push(observation{role: l.nameOf(pr.pid), fact: &fact{
		reapedBy: l.plainName(by), byParent: by == pr.parent, orphan: l.orphan(pr),
	}})
}

// orphan says in words how pr came to be reaped by the launcher, not by
// its parent, if it did: "" if not. A child that ended before its parent
// was a zombie until then.
func (l *launcher) orphan(pr *proc) string {
	if pr.reapedBy != l.pid || pr.parent == l.pid {
		return ""
	}
	if pp := l.prog.procs[pr.parent]; pp != nil && pr.ended && pp.ended && pr.exitT < pp.exitT {
		return fmt.Sprintf("%s stayed a zombie until its parent, %s, ended without waiting for it; left an orphan, it was reaped by the launcher",
			l.who(pr.pid), l.who(pr.parent))
	}
	return fmt.Sprintf("%s was left an orphan: its parent, %s, ended without waiting for it, and the launcher reaped it",
		l.who(pr.pid), l.who(pr.parent))
}

// plainName is nameOf, or "launcher".
func (l *launcher) plainName(pid int) string {
	if pid == l.pid {
		return vocab.Launcher
	}
	return l.nameOf(pid)
}

// zombieLimit is the longest a process may stay a zombie, its parent
// alive, before a check calls it one: a parent that waits for its child
// takes it within milliseconds, even traced.
const zombieLimit = time.Second

// zombies are, once the program is over, its processes not reaped by
// their parent in time, in words.
func (l *launcher) zombies() []string {
	var problems []string
	for _, pid := range l.prog.order {
		pr := l.prog.procs[pid]
		switch {
		case pr.reapedBy == 0 || !pr.ended:
		case pr.afterStop && l.result != nil:
			// Not by itself: who reaped it is the stop's doing.
			if len(problems) == 0 {
				problems = append(problems, fmt.Sprintf("the launcher stopped the ride (%s) before every process got off by itself",
					strings.TrimSuffix(l.result.Error(), ": stopping the ride")))
			}
		case pr.afterStop && pid != l.prog.root.Pid:
			// Still running once the roles were off, the ride over: its
			// parent left it behind.
			problems = append(problems, fmt.Sprintf("%s was still running when the ride was over: its parent, %s, did not wait for it; the launcher stopped it",
				l.who(pid), l.who(pr.parent)))
		case pr.reapedBy == l.pid && pr.parent != l.pid:
			problems = append(problems, l.orphan(pr))
		case time.Duration(pr.reapT-pr.exitT) > zombieLimit:
			problems = append(problems, fmt.Sprintf("%s stayed a zombie more than %v: its parent, %s, waited for it late",
				l.who(pid), zombieLimit, l.who(pr.parent)))
		}
	}
	return problems
}

// named gives every traced event its process's name: its role, "program"
// for the one the launcher started, else "process".
func (l *launcher) named() {
	for i := range l.rec.events {
		if e := &l.rec.events[i]; e.Role == "" {
			e.Role = l.nameOf(e.Pid)
		}
	}
}

// stillStopped ends the ride if a role stopped by a signal (a key it does
// not handle) is still stopped once the grace is over.
func (l *launcher) stillStopped() {
	l.roleStopped = nil
	for _, r := range l.roles() {
		if pr := l.prog.procs[r.child.Pid]; pr != nil && pr.stopped && !pr.ended && !l.ending {
			l.endWith(fmt.Errorf("%s stopped by SIG%s: stopping the ride", r.name, vocab.SignalName(pr.stopSig)))
			return
		}
	}
}

// rolesAboard says a recognised role of the program has not ended: the
// ride goes on, whoever it was the child of.
func (l *launcher) rolesAboard() bool {
	if !l.allReady() {
		return false
	}
	for _, r := range l.roles() {
		if !l.prog.procs[r.child.Pid].ended {
			return true
		}
	}
	return false
}

// signalAll sends sig to every live process of the program but the one
// it started, which the Group stops; a stopped one is continued too, to
// take it. Each send is recorded.
func (l *launcher) signalAll(sig syscall.Signal) {
	p := l.prog
	for _, pid := range p.order {
		pr := p.procs[pid]
		if pr.ended {
			continue
		}
		// By pidfd: its Exit may be on its way, lagging, its pid reused.
		send := pr.signal
		if pid != p.root.Pid || sig == syscall.SIGKILL {
			if l.rec != nil {
				l.rec.sent(l.pid, sig, pid)
			}
			_ = send(sig) // ESRCH: it ended meanwhile
		}
		if pr.stopped && sig != syscall.SIGKILL {
			_ = send(syscall.SIGCONT)
		}
	}
	for _, pid := range l.strays() {
		// Our children: safe by pid while unreaped.
		_ = unix.Kill(pid, sig)
		if sig != syscall.SIGKILL {
			_ = unix.Kill(pid, syscall.SIGCONT)
		}
	}
}

// dupPidfd is a pidfd of pr's own: a copy of its Spawn's, or one opened
// by pid where it had none (out of descriptors then).
func dupPidfd(pr *proc) (int, error) {
	if pr == nil || pr.pidfd < 0 {
		if pr == nil {
			return -1, unix.ESRCH
		}
		return unix.PidfdOpen(pr.pid, 0)
	}
	return unix.FcntlInt(uintptr(pr.pidfd), unix.F_DUPFD_CLOEXEC, 3)
}

// signal sends sig to pr: by its pidfd, the very process, when there is
// one.
func (pr *proc) signal(sig syscall.Signal) error {
	if pr.pidfd < 0 {
		return unix.Kill(pr.pid, sig)
	}
	return unix.PidfdSendSignal(pr.pidfd, sig, nil, 0)
}

// closePidfd lets pr's pidfd go: it has ended.
func (pr *proc) closePidfd() {
	if pr.pidfd >= 0 {
		_ = unix.Close(pr.pidfd)
		pr.pidfd = -1
	}
}

// strays are the launcher's children the tracer does not know: a process
// made with CLONE_UNTRACED escapes tracing, and once its parent is gone it
// is ours. The tracer waits for it like any child of ours, so the ride
// cannot end while it runs.
func (l *launcher) strays() []int {
	pids, err := supervise.ChildPids()
	if err != nil {
		return nil
	}
	var strays []int
	for _, pid := range pids {
		if pr := l.prog.procs[pid]; pr == nil {
			strays = append(strays, pid)
		}
	}
	return strays
}

// isRole says pid is one of the recognised roles.
func (l *launcher) isRole(pid int) bool {
	return l.allReady() && (pid == l.driver.child.Pid || pid == l.conductor.child.Pid)
}

// nameOf is what the launcher calls a process (or a thread) of the
// program: its role, "program" for the one it started, else "process".
func (l *launcher) nameOf(pid int) string {
	switch {
	case l.isRole(pid) && pid == l.driver.child.Pid:
		return vocab.Driver
	case l.isRole(pid):
		return vocab.Conductor
	case pid == l.prog.root.Pid:
		return "program"
	}
	return "process"
}

// commandOf is a process's command line, from /proc, for people.
func commandOf(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || len(b) == 0 {
		return "?"
	}
	args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
	if len(args) > 4 {
		args = append(slices.Clip(args[:4]), "…")
	}
	return strings.Join(args, " ")
}

// describeEvent is one traced event for -v.
func describeEvent(e ptrace.Event) string {
	switch e.Kind {
	case ptrace.Spawn:
		return fmt.Sprintf("spawned by %d", e.Parent)
	case ptrace.Exec:
		return "exec " + e.Path
	case ptrace.Signal:
		how := e.Fate.String()
		if e.Waited {
			how = "taken by sigwait"
		}
		from := "the kernel"
		switch e.Code {
		case ptrace.CodeKernel:
		case ptrace.CodeUnknown:
			from = "a sender sigwait did not ask about"
		default:
			from = fmt.Sprint(e.From)
		}
		return fmt.Sprintf("receive SIG%s from %s: %s", vocab.SignalName(e.Sig), from, how)
	case ptrace.Send:
		return fmt.Sprintf("send SIG%s %d", vocab.SignalName(e.Sig), e.Target)
	case ptrace.SendFailed:
		return fmt.Sprintf("send SIG%s %d failed: %v", vocab.SignalName(e.Sig), e.Target, e.Err)
	case ptrace.Print:
		return fmt.Sprintf("print %q", strings.TrimRight(string(e.Data), "\n"))
	case ptrace.Reap:
		return fmt.Sprintf("reaped by %d", e.Parent)
	case ptrace.Dispositions:
		return fmt.Sprintf("dispositions caught=%#x ignored=%#x blocked=%#x", e.Caught, e.Ignored, e.Blocked)
	case ptrace.Stop:
		return "stopped by SIG" + vocab.SignalName(e.Sig)
	case ptrace.Exit, ptrace.Reaped:
		return fmt.Sprintf("%s %s", e.Kind, supervise.Exit{Pid: e.Pid, Status: e.Status})
	}
	return e.Kind.String()
}
