package supervise

import (
	"bytes"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Group is the set of live children a supervisor owns, by pid, with the
// deadline of the state each is in. It is not safe for concurrent use: it
// belongs to the supervisor's event loop, which selects on Deadline.
type Group struct {
	live      map[int]*Child
	stopping  bool
	deadlines map[int]deadline
	timer     *time.Timer // fires at the earliest deadline; nil: none armed yet
}

// Phase is the state of a child that a deadline bounds.
type Phase int

const (
	// Starting: started, not yet ready. Its deadline is the ready timeout.
	Starting Phase = iota + 1
	// Running: ready, and expected to say so again (a heartbeat) before
	// its deadline, the liveness timeout.
	Running
	// Stopping: asked to end. Its deadline is the grace; a child still
	// there at the end of it is killed.
	Stopping
)

func (p Phase) String() string {
	switch p {
	case Starting:
		return "starting"
	case Running:
		return "running"
	case Stopping:
		return "stopping"
	}
	return fmt.Sprintf("phase %d", int(p))
}

type deadline struct {
	phase Phase
	after time.Duration // how long it was given
	at    time.Time
}

// Overdue is a child whose deadline passed.
type Overdue struct {
	Child *Child
	Phase Phase
	After time.Duration // how long it was given
}

// NewGroup returns an empty group.
func NewGroup() *Group {
	return &Group{live: make(map[int]*Child), deadlines: make(map[int]deadline)}
}

// Add puts a started child in the group.
func (g *Group) Add(c *Child) { g.live[c.Pid] = c }

// Len is the number of children started and not yet reaped.
func (g *Group) Len() int { return len(g.live) }

// Get returns the live child with that pid.
func (g *Group) Get(pid int) (*Child, bool) {
	c, ok := g.live[pid]
	return c, ok
}

// Children returns the live children, ordered by pid.
func (g *Group) Children() []*Child {
	cs := make([]*Child, 0, len(g.live))
	for _, c := range g.live {
		cs = append(cs, c)
	}
	slices.SortFunc(cs, func(a, b *Child) int { return a.Pid - b.Pid })
	return cs
}

// Reaped takes the child reaped as e out of the group and closes its pidfd.
// It returns false for a pid the group does not hold (an adopted orphan).
func (g *Group) Reaped(e Exit) (*Child, bool) {
	c, ok := g.live[e.Pid]
	if !ok {
		return nil, false
	}
	delete(g.live, e.Pid)
	_ = c.Close() // the pidfd of a reaped child: nothing left to report
	g.Disarm(e.Pid)
	return c, true
}

// Release takes the child with pid out of the group while it lives on
// (a successor that took over): the group no longer waits for it, stops
// it or keeps a deadline for it. Its pidfd stays open until c.Close.
func (g *Group) Release(pid int) (*Child, bool) {
	c, ok := g.live[pid]
	if ok {
		delete(g.live, pid)
		g.Disarm(pid)
	}
	return c, ok
}

// Arm gives the child with pid until d from now in phase: when that passes,
// Deadline fires and Expired reports it. It replaces the child's deadline
// of before; d <= 0 means none (Disarm).
func (g *Group) Arm(pid int, phase Phase, d time.Duration) {
	if _, ok := g.live[pid]; !ok || d <= 0 {
		g.Disarm(pid)
		return
	}
	g.deadlines[pid] = deadline{phase: phase, after: d, at: time.Now().Add(d)}
	g.rearm()
}

// Disarm drops the child's deadline, if any.
func (g *Group) Disarm(pid int) {
	if _, ok := g.deadlines[pid]; ok {
		delete(g.deadlines, pid)
		g.rearm()
	}
}

// Phase returns the phase of the child's armed deadline, if it has one.
func (g *Group) Phase(pid int) (Phase, bool) {
	d, ok := g.deadlines[pid]
	return d.phase, ok
}

// rearm sets the timer to the earliest deadline.
func (g *Group) rearm() {
	var first time.Time
	for _, d := range g.deadlines {
		if first.IsZero() || d.at.Before(first) {
			first = d.at
		}
	}
	if first.IsZero() {
		if g.timer != nil {
			g.timer.Stop()
		}
		return
	}
	if g.timer == nil {
		g.timer = time.NewTimer(time.Until(first))
		return
	}
	g.timer.Reset(time.Until(first))
}

// Deadline fires when a child's deadline may have passed: then call
// Expired. It is nil while no deadline is armed.
func (g *Group) Deadline() <-chan time.Time {
	if len(g.deadlines) == 0 || g.timer == nil {
		return nil
	}
	return g.timer.C
}

// Expired returns the children whose deadline has passed, by pid, and
// drops those deadlines. A child overdue in Stopping has been sent SIGKILL
// here: that is what a grace means, for every supervisor. What an overdue
// Starting or Running child means is the caller's policy.
//
// A supervisor that was not running itself (SIGSTOP, a frozen cgroup, a
// debugger) when a Starting or Running deadline passed cannot tell a
// silent child from its own unread messages: such a deadline, come to
// more than its slack late, is renewed from now instead, as the child may
// have said ready or beaten meanwhile. So a master stopped for a minute
// does not kill every healthy worker when it resumes.
func (g *Group) Expired() []Overdue {
	now := time.Now()
	var due []Overdue
	for pid, d := range g.deadlines {
		if d.at.After(now) {
			continue
		}
		if d.phase != Stopping && now.Sub(d.at) > lateSlack(d.after) {
			d.at = now.Add(d.after)
			g.deadlines[pid] = d
			continue
		}
		delete(g.deadlines, pid)
		c := g.live[pid]
		if d.phase == Stopping {
			// ESRCH only: it has exited and waits to be reaped.
			_ = c.Signal(syscall.SIGKILL)
		}
		due = append(due, Overdue{Child: c, Phase: d.phase, After: d.after})
	}
	slices.SortFunc(due, func(a, b Overdue) int { return a.Child.Pid - b.Child.Pid })
	g.rearm()
	return due
}

// lateSlack is how late past a deadline of d the supervisor may come to
// it and still trust that it was watching: a quarter of d, between 100 ms
// (a loaded machine's scheduling) and a second.
func lateSlack(d time.Duration) time.Duration {
	return min(max(d/4, 100*time.Millisecond), time.Second)
}

// Stopping reports whether Stop has been called.
func (g *Group) Stopping() bool { return g.stopping }

// Stop asks every live child to end with sig (usually SIGTERM), each
// within grace (see Retire); grace <= 0 means no deadline. A child already
// gone is not an error. Calling Stop again re-sends sig, and shortens no
// grace already running but gives one to a child that had none.
func (g *Group) Stop(sig syscall.Signal, grace time.Duration) {
	g.stopping = true
	for _, c := range g.live {
		g.Retire(c, sig, grace)
	}
}

// Retire asks one child to end with sig, within grace from now: after it,
// the child is killed (by Expired). grace <= 0: no deadline, unless it has
// one already as it stops. A child already stopping keeps the earlier of
// its deadline and the new one.
func (g *Group) Retire(c *Child, sig syscall.Signal, grace time.Duration) {
	// The only expected error is ESRCH: the child has exited and waits to
	// be reaped, which the next Reap will report.
	_ = c.Signal(sig)
	old, ok := g.deadlines[c.Pid]
	switch {
	case ok && old.phase == Stopping && (grace <= 0 || !time.Now().Add(grace).Before(old.at)):
	case grace <= 0:
		g.Disarm(c.Pid)
	default:
		g.Arm(c.Pid, Stopping, grace)
	}
}

// Kill sends SIGKILL to every child still live.
func (g *Group) Kill() { g.signalAll(syscall.SIGKILL) }

func (g *Group) signalAll(sig syscall.Signal) {
	for _, c := range g.live {
		// The only expected error is ESRCH: the child has exited and waits
		// to be reaped, which the next Reap will report.
		_ = c.Signal(sig)
	}
}

// AdoptOrphans adds to the group, under name, every child of this process it
// does not hold: orphans re-parented to this subreaper that still run (or
// wait to be reaped). A supervisor calls it once its own children are gone,
// and stops what it adopted, so that it leaves no orphan behind. It returns
// how many it adopted.
func (g *Group) AdoptOrphans(name string) (int, error) {
	pids, err := ChildPids()
	if err != nil {
		return 0, err
	}
	n := 0
	for _, pid := range pids {
		if _, held := g.live[pid]; held {
			continue
		}
		// Safe by pid: an unreaped child's pid cannot be recycled.
		fd, err := unix.PidfdOpen(pid, 0)
		if err != nil {
			continue // reaped meanwhile
		}
		g.live[pid] = &Child{Name: name, Pid: pid, pidfd: fd}
		n++
	}
	if n > 0 && g.stopping {
		// Stop again for the newcomers: a fresh grace period.
		g.stopping = false
	}
	return n, nil
}

// ChildPids lists the pids whose parent is this process, from /proc.
func ChildPids() ([]int, error) {
	self := os.Getpid()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("list children: %w", err)
	}
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, ok := parentOf(pid); ok && ppid == self {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// parentOf reads the ppid of pid from /proc/PID/stat.
func parentOf(pid int) (int, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	// "pid (comm) state ppid ...": comm may hold spaces and parentheses.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 2 {
		return 0, false
	}
	ppid, err := strconv.Atoi(f[1])
	return ppid, err == nil
}
