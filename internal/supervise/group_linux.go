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
		if g.grace != nil {
			g.grace.Stop()
		}
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
