package ptrace

import (
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/sigride/sigride/internal/proctest"
)

// press sends a key's signal to each process given, as a terminal sends
// it to every process of its foreground group.
func press(t *testing.T, sig syscall.Signal, pids ...int) {
	t.Helper()
	for _, pid := range pids {
		if err := syscall.Kill(pid, sig); err != nil {
			t.Fatalf("kill -%v %d: %v", sig, pid, err)
		}
	}
}

// TestHomeworkRide: the shipped reference programs (scripts/homework:
// one program that forks; in Python with handlers, in C with sigwaitinfo),
// watched from their first instruction: once both processes hold their
// keys, each key makes the right line from the right process, sent by the
// right one; on ^Z the conductor, the child, gets off first and the
// driver, its parent, reaps it.
func TestHomeworkRide(t *testing.T) {
	cc := filepath.Join(t.TempDir(), "ride")
	if out, err := exec.Command("gcc", "-Wall", "-Werror", "-o", cc, "../../scripts/homework/ride.c").CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	for _, tc := range []struct {
		name string
		cmd  []string
	}{
		{"ride.py", []string{proctest.Python(t), "../../scripts/homework/ride.py"}},
		{"ride.c", []string{cc}},
	} {
		t.Run(tc.name, func(t *testing.T) { homeworkRide(t, tc.cmd) })
	}
}

// handles says a dispositions event shows sig handled: caught, or held
// for sigwait.
func handles(e Event, sig syscall.Signal) bool { return (e.Caught|e.Blocked)&bit(sig) != 0 }

func homeworkRide(t *testing.T, cmd []string) {
	c, tr := held(t, cmd)
	p := &program{t: t, tr: tr, pid: c.Pid}
	driver := p.pid
	conductor := p.next("the fork", func(e Event) bool { return e.Kind == Spawn && e.Parent == driver }).Pid
	ready := map[int]bool{}
	p.next("both ready", func(e Event) bool {
		if e.Kind == Dispositions {
			switch e.Pid {
			case driver:
				ready[driver] = handles(e, syscall.SIGTSTP) && e.Ignored&bit(syscall.SIGINT) != 0 && e.Ignored&bit(syscall.SIGQUIT) != 0
			case conductor:
				ready[conductor] = handles(e, syscall.SIGINT) && handles(e, syscall.SIGQUIT) && e.Ignored&bit(syscall.SIGTSTP) != 0
			}
		}
		return ready[driver] && ready[conductor]
	})
	for _, k := range []struct {
		key  syscall.Signal
		sent syscall.Signal
		line string
	}{
		{syscall.SIGINT, syscall.SIGUSR1, "The old driver sets off\n"},
		{syscall.SIGQUIT, syscall.SIGUSR2, "Fasten your seat belts, we are going a bit fast\n"},
	} {
		press(t, k.key, driver, conductor)
		send := p.next("the conductor's send", func(e Event) bool { return e.Kind == Send })
		if send.Pid != conductor || send.Target != driver || send.Sig != k.sent {
			t.Errorf("on %v: send %+v, want %v from %d to %d", k.key, send, k.sent, conductor, driver)
		}
		line := p.next("the driver's line", func(e Event) bool { return e.Kind == Print })
		if line.Pid != driver || string(line.Data) != k.line {
			t.Errorf("on %v: %d printed %q, want the driver %q", k.key, line.Pid, line.Data, k.line)
		}
	}
	press(t, syscall.SIGTSTP, driver, conductor)
	send := p.next("the arrival", func(e Event) bool { return e.Kind == Send })
	if send.Pid != driver || send.Target != conductor || send.Sig != syscall.SIGUSR1 {
		t.Errorf("on ^Z: send %+v, want SIGUSR1 from %d to %d", send, driver, conductor)
	}
	line := p.next("the arrival's line", func(e Event) bool { return e.Kind == Print })
	if line.Pid != conductor || string(line.Data) != "We have arrived, please get off\n" {
		t.Errorf("on ^Z: %d printed %q, want the conductor's arrival", line.Pid, line.Data)
	}
	off := p.next("the first exit", func(e Event) bool { return e.Kind == Exit })
	if off.Pid != conductor || off.Status.ExitStatus() != 0 {
		t.Errorf("first off: %d (%#x), want the conductor, exit 0", off.Pid, uint32(off.Status))
	}
	reap := p.next("the conductor's reap", func(e Event) bool { return e.Kind == Reap })
	if reap.Pid != conductor || reap.Parent != driver {
		t.Errorf("reap of %d by %d, want %d by %d", reap.Pid, reap.Parent, conductor, driver)
	}
	end := p.next("the driver reaped", func(e Event) bool { return e.Kind == Reaped })
	if end.Pid != driver || !end.Status.Exited() || end.Status.ExitStatus() != 0 {
		t.Errorf("reaped %d (%#x), want the driver, exit 0", end.Pid, uint32(end.Status))
	}
	p.drain()
}

func bit(sig syscall.Signal) uint64 { return 1 << (uint(sig) - 1) }
