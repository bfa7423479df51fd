package ptrace

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sigride/sigride/internal/proctest"
	"github.com/sigride/sigride/internal/supervise"
)

// program is a traced run of a shell script: started held, seized, let go.
type program struct {
	t      *testing.T
	tr     *Tracer
	pid    int
	events []Event
}

// trace starts script under sh, held, seizes it and lets it go.
func trace(t *testing.T, script string) *program {
	t.Helper()
	c, tr := held(t, []string{"/bin/sh", "-c", script})
	return &program{t: t, tr: tr, pid: c.Pid}
}

// held starts cmd held, waits for its shell and seizes it; the Hold is
// released unless keep is given, then returned in it.
func held(t *testing.T, cmd []string, keep ...**Hold) (*supervise.Child, *Tracer) {
	t.Helper()
	return heldBy(t, Seize, cmd, keep...)
}

// heldBy is held, watched by watch: Seize, or Watch.
func heldBy(t *testing.T, watch func(int) (*Tracer, error), cmd []string, keep ...**Hold) (*supervise.Child, *Tracer) {
	t.Helper()
	h, err := NewHold()
	if err != nil {
		t.Fatal(err)
	}
	c, err := supervise.Start(supervise.Spec{
		Name:  "program",
		Path:  Shell,
		Args:  HoldArgs(3, cmd),
		Files: []*os.File{nil, os.Stderr, os.Stderr, h.Child()},
	})
	h.Child().Close()
	if err != nil {
		h.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := h.Held(10 * time.Second); err != nil {
		h.Close()
		t.Fatal(err)
	}
	tr, err := watch(c.Pid)
	if err != nil {
		h.Close()
		t.Fatal(err)
	}
	if len(keep) > 0 {
		*keep[0] = h
		return c, tr
	}
	if err := h.Release(); err != nil {
		t.Fatal(err)
	}
	return c, tr
}

// next waits for the next event that satisfies want, keeping them all.
func (p *program) next(what string, want func(Event) bool) Event {
	p.t.Helper()
	e, ok := p.until(what, want)
	if !ok {
		p.t.Fatalf("events ended before %s:\n%s", what, p.dump())
	}
	return e
}

// drain reads every event left, until the channel closes, and checks
// that each process was said (Spawn) before any event of its own.
func (p *program) drain() {
	p.t.Helper()
	p.until("the end", func(Event) bool { return false })
	if err := p.tr.Err(); err != nil {
		p.t.Errorf("tracer: %v", err)
	}
	known := map[int]bool{p.pid: true}
	for i, e := range p.events {
		if e.Kind == Spawn {
			known[e.Pid] = true
			continue
		}
		if !known[e.Pid] {
			p.t.Errorf("event %d, %v of %d, before its spawn:\n%s", i, e.Kind, e.Pid, p.dump())
			return
		}
	}
}

// until reads events, keeping them all, until one satisfies want (true)
// or the channel closes (false); 10s at most.
func (p *program) until(what string, want func(Event) bool) (Event, bool) {
	p.t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case e, ok := <-p.tr.Events():
			if !ok {
				return Event{}, false
			}
			p.events = append(p.events, e)
			if e.Kind == Spawn {
				if e.Pidfd < 0 {
					p.t.Errorf("spawn of %d with no pidfd", e.Pid)
				} else if pid := pidOfPidfd(os.Getpid(), e.Pidfd); pid != e.Pid {
					p.t.Errorf("spawn of %d with a pidfd of %d", e.Pid, pid)
				}
				syscall.Close(e.Pidfd)
			}
			if want(e) {
				return e, true
			}
		case <-timeout:
			p.t.Fatalf("no %s within 10s:\n%s", what, p.dump())
		}
	}
}

func (p *program) dump() string {
	var b strings.Builder
	for _, e := range p.events {
		fmt.Fprintf(&b, "  %s pid=%d parent=%d path=%s sig=%v from=%d code=%d fate=%v status=%#x (none: %v) caught=%#x ignored=%#x blocked=%#x\n",
			e.Kind, e.Pid, e.Parent, e.Path, e.Sig, e.From, e.Code, e.Fate, uint32(e.Status), e.NoStatus, e.Caught, e.Ignored, e.Blocked)
	}
	return b.String()
}

// TestSignalsAndChildren: a program that signals itself (a handler runs),
// forks a child that exits 4, and exits 5. The tracer sees the program's
// exec, the signal with its sender and fate, the child's spawn, exec and
// exit (reaped by its parent, not by us), and the program's end, which
// is ours to reap.
func TestSignalsAndChildren(t *testing.T) {
	p := trace(t, `trap 'echo usr1 >&2' USR1; kill -USR1 $$; /bin/sh -c 'exit 4'; exit 5`)
	root := p.pid
	p.next("exec of the program", func(e Event) bool { return e.Kind == Exec && e.Pid == root })
	sig := p.next("SIGUSR1", func(e Event) bool { return e.Kind == Signal && e.Sig == syscall.SIGUSR1 })
	if sig.Pid != root || sig.From != root || sig.Code != CodeUser || sig.Fate != Handled {
		t.Errorf("SIGUSR1: %+v, want to and from %d, SI_USER, handled", sig, root)
	}
	spawn := p.next("spawn", func(e Event) bool { return e.Kind == Spawn })
	if spawn.Parent != root {
		t.Errorf("spawn by %d, want %d", spawn.Parent, root)
	}
	child := spawn.Pid
	exit := p.next("the child's exit", func(e Event) bool { return e.Kind == Exit && e.Pid == child })
	if !exit.Status.Exited() || exit.Status.ExitStatus() != 4 {
		t.Errorf("child's status %#x, want exit 4", uint32(exit.Status))
	}
	p.drain()
	var reaped []Event
	for _, e := range p.events {
		if e.Kind == Reaped {
			reaped = append(reaped, e)
		}
	}
	if len(reaped) != 1 || reaped[0].Pid != root || reaped[0].Status.ExitStatus() != 5 {
		t.Errorf("reaped %v, want the program alone, exit 5:\n%s", reaped, p.dump())
	}
}

// TestDefaultAction: a signal nobody handles ends the program: its fate
// is said before it happens, and the end is by that signal.
func TestDefaultAction(t *testing.T) {
	p := trace(t, `kill -USR2 $$; exit 0`)
	sig := p.next("SIGUSR2", func(e Event) bool { return e.Kind == Signal && e.Sig == syscall.SIGUSR2 })
	if sig.Fate != Terminated {
		t.Errorf("SIGUSR2's fate %v, want terminated", sig.Fate)
	}
	end := p.next("reaped", func(e Event) bool { return e.Kind == Reaped })
	if !end.Status.Signaled() || end.Status.Signal() != syscall.SIGUSR2 {
		t.Errorf("status %#x, want killed by SIGUSR2", uint32(end.Status))
	}
	p.drain()
}

// TestJobControlStop: a stop is a stop, traced as untraced: the program
// stays stopped until SIGCONT, and the tracer says so. SIGSTOP: the
// kernel drops a SIGTSTP whose default would stop a process of an
// orphaned process group, which the test's may be (run by a script with
// no terminal), untraced as traced.
func TestJobControlStop(t *testing.T) {
	p := trace(t, `kill -STOP $$; exit 7`)
	sig := p.next("SIGSTOP", func(e Event) bool { return e.Kind == Signal && e.Sig == syscall.SIGSTOP })
	if sig.Fate != Stopped {
		t.Errorf("SIGSTOP's fate %v, want stopped", sig.Fate)
	}
	p.next("stop", func(e Event) bool { return e.Kind == Stop && e.Sig == syscall.SIGSTOP })
	if state := procState(t, p.pid); state != 't' && state != 'T' {
		t.Errorf("state %q after the stop, want stopped", state)
	}
	if err := syscall.Kill(p.pid, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	cont := p.next("SIGCONT", func(e Event) bool { return e.Kind == Signal && e.Sig == syscall.SIGCONT })
	if cont.Fate != Continued || cont.From != os.Getpid() {
		t.Errorf("SIGCONT: %+v, want continued, from %d", cont, os.Getpid())
	}
	end := p.next("reaped", func(e Event) bool { return e.Kind == Reaped })
	if end.Status.ExitStatus() != 7 {
		t.Errorf("status %#x, want exit 7", uint32(end.Status))
	}
	p.drain()
}

// procState is a process's state letter from /proc/PID/stat.
func procState(t *testing.T, pid int) byte {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	return s[strings.LastIndexByte(s, ')')+2]
}

// TestHoldNeverLetGo: a held program whose supervisor closes the pipe
// without the line never runs: the shell exits 127, no exec.
func TestHoldNeverLetGo(t *testing.T) {
	var h *Hold
	c, tr := held(t, []string{"/bin/echo", "ran"}, &h)
	h.Close()
	p := &program{t: t, tr: tr, pid: c.Pid}
	p.drain()
	for _, e := range p.events {
		if e.Kind == Exec {
			t.Errorf("the program ran:\n%s", p.dump())
		}
	}
	if last := p.events[len(p.events)-1]; last.Kind != Reaped || last.Status.ExitStatus() != 127 {
		t.Errorf("last event %v %#x, want reaped, exit 127", last.Kind, uint32(last.Status))
	}
}

// TestFirstExecIsTheProgram: the shell is seized past its own exec: the
// first exec the Tracer sees is the program's, every time.
func TestFirstExecIsTheProgram(t *testing.T) {
	for range 20 {
		p := trace(t, "exit 0")
		first := p.next("an exec", func(e Event) bool { return e.Kind == Exec })
		if first.Pid != p.pid {
			t.Fatalf("first exec by %d, want %d", first.Pid, p.pid)
		}
		p.drain()
		n := 0
		for _, e := range p.events {
			if e.Kind == Exec {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("%d execs for one program:\n%s", n, p.dump())
		}
	}
}

// TestSystemCalls: what a program asks of the kernel that the ride is
// about: a handler installed (dispositions), a signal sent (to whom, at
// the call), a line written to stdout (the bytes), a child reaped (by
// whom).
func TestSystemCalls(t *testing.T) {
	p := trace(t, `trap 'true' USR1; kill -USR1 $$; kill -USR2 2147483647 2>/dev/null; echo hello; /bin/sh -c 'exit 4'; exit 0`)
	root := p.pid
	p.next("USR1 caught", func(e Event) bool {
		return e.Kind == Dispositions && e.Pid == root && e.Caught&(1<<(syscall.SIGUSR1-1)) != 0
	})
	send := p.next("the send", func(e Event) bool { return e.Kind == Send })
	if send.Pid != root || send.Target != root || send.Sig != syscall.SIGUSR1 || send.Err != nil {
		t.Errorf("send: %+v, want %d to itself, SIGUSR1, ok", send, root)
	}
	sig := p.next("its receive", func(e Event) bool { return e.Kind == Signal && e.Sig == syscall.SIGUSR1 })
	if sig.T < send.T {
		t.Errorf("received at %d before it was sent at %d", sig.T, send.T)
	}
	failed := p.next("a send that fails", func(e Event) bool { return e.Kind == SendFailed })
	if failed.Target != 2147483647 || failed.Sig != syscall.SIGUSR2 || failed.Err != syscall.ESRCH {
		t.Errorf("failed send: %+v, want SIGUSR2 to 2147483647, ESRCH", failed)
	}
	line := p.next("the line", func(e Event) bool { return e.Kind == Print && e.Fd == 1 })
	if line.Pid != root || line.Fd != 1 || string(line.Data) != "hello\n" {
		t.Errorf("print: %+v, want %q on 1 by %d", line, "hello\n", root)
	}
	spawn := p.next("the child", func(e Event) bool { return e.Kind == Spawn })
	reap := p.next("its reap", func(e Event) bool { return e.Kind == Reap })
	if reap.Pid != spawn.Pid || reap.Parent != root {
		t.Errorf("reap of %d by %d, want %d by %d", reap.Pid, reap.Parent, spawn.Pid, root)
	}
	p.drain()
}

// TestSigwait: a signal taken with sigwaitinfo, no handler, is a receive
// too, with its sender.
func TestSigwait(t *testing.T) {
	c, tr := held(t, []string{proctest.Python(t), "-c", `
import os, signal
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR2})
os.kill(os.getpid(), signal.SIGUSR2)
signal.sigwaitinfo({signal.SIGUSR2})
`})
	p := &program{t: t, tr: tr, pid: c.Pid}
	sig := p.next("SIGUSR2 taken", func(e Event) bool { return e.Kind == Signal && e.Sig == syscall.SIGUSR2 })
	if !sig.Waited || sig.Fate != Handled || sig.From != c.Pid || sig.Code != CodeUser {
		t.Errorf("SIGUSR2: %+v, want waited, handled, from %d by kill", sig, c.Pid)
	}
	p.drain()
}

// TestOrphanReaped: a child its parent never waits for ends (exit 3),
// stays a zombie, and outlives its parent: then it is the supervisor's,
// a subreaper's, and the Tracer reaps it and says so, once.
func TestOrphanReaped(t *testing.T) {
	if err := supervise.BecomeSubreaper(); err != nil {
		t.Fatal(err)
	}
	p := trace(t, `(exit 3) & exec sleep 0.2`)
	child := p.next("the child", func(e Event) bool { return e.Kind == Spawn }).Pid
	exit := p.next("its exit", func(e Event) bool { return e.Kind == Exit && e.Pid == child })
	if exit.Status.ExitStatus() != 3 {
		t.Errorf("the child's status %#x, want exit 3", uint32(exit.Status))
	}
	p.drain()
	var reaped []int
	for _, e := range p.events {
		if e.Kind == Reaped {
			reaped = append(reaped, e.Pid)
			if e.Pid == child && e.Status.ExitStatus() != 3 {
				t.Errorf("the orphan reaped with %#x, want exit 3", uint32(e.Status))
			}
		}
	}
	if len(reaped) != 2 || !slices.Contains(reaped, child) || !slices.Contains(reaped, p.pid) {
		t.Errorf("reaped %v, want the program %d and its orphan %d, once each:\n%s", reaped, p.pid, child, p.dump())
	}
}

// TestStatusMasks: a /proc mask is 64 signals, signal 64 its top bit
// (set in every Go program): read whole, never clipped.
func TestStatusMasks(t *testing.T) {
	status := []byte("Name:\tgo\nSigBlk:\t0000000000000000\nSigIgn:\t0000000000000006\nSigCgt:\tfffffffd7fc9fef9\n")
	for _, tc := range []struct {
		field string
		want  uint64
	}{{"SigCgt:", 0xfffffffd7fc9fef9}, {"SigIgn:", 6}, {"SigBlk:", 0}, {"SigPnd:", 0}} {
		if got := statusHex(status, tc.field); got != tc.want {
			t.Errorf("%s %#x, want %#x", tc.field, got, tc.want)
		}
	}
}

// TestLongWrite: a write longer than a Print event carries says its
// length and brings its last bytes too, so that where its last line ends
// is known: here 9000 bytes then "\nend\n", in one write(2), and in one
// writev(2) of three parts.
func TestLongWrite(t *testing.T) {
	python := proctest.Python(t)
	for _, tc := range []struct{ name, code string }{
		{"write", `import os; os.write(1, b"x" * 9000 + b"\nend\n")`},
		{"writev", `import os; os.writev(1, [b"x" * 4000, b"y" * 5000, b"\nend\n"])`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, tr := heldBy(t, Seize, []string{python, "-c", tc.code})
			p := &program{t: t, tr: tr, pid: c.Pid}
			e := p.next("the write", func(e Event) bool { return e.Kind == Print && e.Fd == 1 })
			if e.Len != 9005 || len(e.Data) != maxPrint || len(e.Tail) != maxPrint || !strings.HasSuffix(string(e.Tail), "\nend\n") {
				t.Errorf("len %d, data %d bytes, tail %d bytes ending %q; want 9005, %d, %d, ending %q",
					e.Len, len(e.Data), len(e.Tail), e.Tail[max(0, len(e.Tail)-8):], maxPrint, maxPrint, "\nend\n")
			}
			if tc.name == "writev" && (e.Data[3999] != 'x' || e.Data[4000] != 'y' || e.Tail[0] != 'y') {
				t.Errorf("writev's parts not read in order: data[3999:4001] %q, tail[0] %q", e.Data[3999:4001], e.Tail[0])
			}
			p.drain()
		})
	}
}
