package ptrace

import (
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/sigride/sigride/internal/proctest"
)

// forks is a Python program that forks: the child catches SIGUSR2 and
// blocks SIGINT, waits for it a while (sigtimedwait: long enough for a
// watcher's looks to see it), then exits 4; the parent, which catches
// SIGUSR1, reaps it and exits 5 at once, both ends in one look most
// times.
const forks = `
import os, signal
signal.signal(signal.SIGUSR1, lambda s, f: None)
child = os.fork()
if child == 0:
    signal.signal(signal.SIGUSR2, lambda s, f: None)
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    signal.sigtimedwait({signal.SIGINT}, 0.3)
    os._exit(4)
os.waitpid(child, 0)
os._exit(5)
`

// TestWatch: without ptrace, a watcher says what /proc tells of a
// program that forks: its exec, the child's spawn, each one's
// dispositions, the child's end (exit 4, reaped by its parent: exact
// where the kernel keeps it for a pidfd) before its parent's, and the
// parent's end, which it reaps. SIGINT blocked all along, though /proc
// shows it unblocked while the child waits for it (the kernel's doing).
// And it traces nothing. With children
// files, and with a scan of /proc where the kernel has none.
func TestWatch(t *testing.T) {
	python := proctest.Python(t)
	t.Run("children files", func(t *testing.T) { watchForks(t, python, Watch) })
	t.Run("scan", func(t *testing.T) {
		watchForks(t, python, func(pid int) (*Tracer, error) { return watch(pid, true) })
	})
}

func watchForks(t *testing.T, python string, watch func(int) (*Tracer, error)) {
	c, tr := heldBy(t, watch, []string{python, "-c", forks})
	if !tr.Watching() {
		t.Fatal("Watch made a Tracer that says it traces")
	}
	p := &program{t: t, tr: tr, pid: c.Pid}
	root := p.pid
	exec := p.next("the program's exec", func(e Event) bool { return e.Kind == Exec })
	if exec.Pid != root {
		t.Errorf("first exec by %d, want the program %d:\n%s", exec.Pid, root, p.dump())
	}
	spawn := p.next("the fork", func(e Event) bool { return e.Kind == Spawn })
	if spawn.Parent != root {
		t.Errorf("spawn by %d, want %d", spawn.Parent, root)
	}
	child := spawn.Pid
	p.next("the child's dispositions", func(e Event) bool {
		return e.Kind == Dispositions && e.Pid == child &&
			e.Caught&bit(syscall.SIGUSR2) != 0 && e.Blocked&bit(syscall.SIGINT) != 0
	})
	for _, pid := range []int{root, child} {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			t.Fatal(err)
		}
		if tracer := statusField(b, "TracerPid:", 10); tracer != 0 {
			t.Errorf("pid %d traced by %d", pid, tracer)
		}
	}
	p.drain()
	var rootCaught bool
	var ends, reaped []Event
	var childBlocked bool    // the child was said to block SIGINT
	var childUnblocked Event // and after that, to unblock it
	for _, e := range p.events {
		switch e.Kind {
		case Dispositions:
			rootCaught = rootCaught || e.Pid == root && e.Caught&bit(syscall.SIGUSR1) != 0
			switch {
			case e.Pid != child:
			case e.Blocked&bit(syscall.SIGINT) != 0:
				childBlocked = true
			case childBlocked && childUnblocked.T == 0:
				childUnblocked = e
			}
		case Exit:
			ends = append(ends, e)
		case Reaped:
			reaped = append(reaped, e)
		case Signal, Stop, Send, SendFailed, Print, Reap:
			t.Errorf("a watcher said %v, which only ptrace sees", e.Kind)
		}
	}
	// While it waits (0.3 s) /proc shows SIGINT unblocked, and the
	// watcher adds it back from the call it is in. Only as the wait ends
	// can a look catch the kernel's mask before the call restores it: an
	// unblock said must be that moment, just before the child's end.
	var childEnd int64
	for _, e := range ends {
		if e.Pid == child {
			childEnd = e.T
		}
	}
	if childUnblocked.T != 0 && childEnd-childUnblocked.T > int64(100*time.Millisecond) {
		t.Errorf("the child said to unblock SIGINT %v before its end, while it waited for it:\n%s",
			time.Duration(childEnd-childUnblocked.T), p.dump())
	}
	if !rootCaught {
		t.Errorf("no dispositions of the program with SIGUSR1 caught:\n%s", p.dump())
	}
	if len(ends) != 2 || ends[0].Pid != child || ends[1].Pid != root {
		t.Fatalf("exits %v, want the child %d, then the program %d:\n%s", ends, child, root, p.dump())
	}
	if st := ends[0]; !st.NoStatus && st.Status.ExitStatus() != 4 {
		t.Errorf("the child's status %#x, want exit 4 (or none said)", uint32(st.Status))
	}
	if st := ends[1]; st.NoStatus || st.Status.ExitStatus() != 5 {
		t.Errorf("the program's status %#x (none: %v), want exit 5", uint32(st.Status), st.NoStatus)
	}
	if len(reaped) != 1 || reaped[0].Pid != root || reaped[0].Status.ExitStatus() != 5 {
		t.Errorf("reaped %v, want the program alone, exit 5:\n%s", reaped, p.dump())
	}
}
