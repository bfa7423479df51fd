package supervise

import (
	"syscall"
	"time"
)

// Group is the set of live children a supervisor owns, by pid. It is not safe
// for concurrent use: it belongs to the supervisor's event loop.
type Group struct {
	live     map[int]*Child
	stopping bool
	grace    *time.Timer
}

// NewGroup returns an empty group.
func NewGroup() *Group { return &Group{live: make(map[int]*Child)} }

// Add puts a started child in the group.
func (g *Group) Add(c *Child) { g.live[c.Pid] = c }

// Len is the number of children started and not yet reaped.
func (g *Group) Len() int { return len(g.live) }

// Get returns the live child with that pid.
func (g *Group) Get(pid int) (*Child, bool) {
	c, ok := g.live[pid]
	return c, ok
}

// Reaped takes the child reaped as e out of the group and closes its pidfd.
// It returns false for a pid the group does not hold (an adopted orphan).
func (g *Group) Reaped(e Exit) (*Child, bool) {
	c, ok := g.live[e.Pid]
	if !ok {
		return nil, false
	}
	delete(g.live, e.Pid)
	_ = c.Close()
	if len(g.live) == 0 && g.grace != nil {
		g.grace.Stop()
	}
	return c, true
}

// Stopping reports whether Stop has been called.
func (g *Group) Stopping() bool { return g.stopping }

// Stop asks every live child to end with sig (usually SIGTERM) and returns a
// channel that fires once grace has passed; on it, call Kill. A child already
// gone is not an error. Calling Stop again only re-sends sig.
func (g *Group) Stop(sig syscall.Signal, grace time.Duration) <-chan time.Time {
	g.signalAll(sig)
	if !g.stopping {
		g.stopping = true
		g.grace = time.NewTimer(grace)
	}
	return g.grace.C
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
