package ride

import (
	"bufio"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sigride/sigride/internal/supervise"
	"github.com/sigride/sigride/internal/vocab"
)

// helperEnv makes the test binary an intake helper (the os/exec trick).
const helperEnv = "RIDE_TEST_HELPER"

// A helper takes its signals on its main thread, as a role does.
func init() {
	if os.Getenv(helperEnv) != "" {
		runtime.LockOSThread()
	}
}

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "intake" {
		os.Exit(intakeHelper())
	}
	os.Exit(m.Run())
}

// intakeHelper takes SIGUSR1, SIGUSR2, SIGTSTP and SIGINT as a role does,
// says which it holds, then, for each byte N on stdin, takes N signals and
// prints them on one line, "USR1:PID USR2:PID", PID the sender as the
// intake knows it. For a byte 0 it prints instead what Pending takes; for
// a byte 255, first "wake" if Next, right after a Wake, returns nothing,
// then what Pending takes. It ends at EOF on stdin.
func intakeHelper() int {
	in := NewIntake(signal.Notify, syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGTSTP, syscall.SIGINT)
	var held []string
	for _, s := range in.Held() {
		held = append(held, vocab.SignalName(s))
	}
	fmt.Printf("held %s\n", strings.Join(held, ","))
	b := make([]byte, 1)
	for {
		if n, _ := os.Stdin.Read(b); n == 0 {
			return 0
		}
		var out []string
		switch b[0] {
		case 255:
			in.Wake()
			if s := in.Next(); s.Sig == 0 {
				out = append(out, "wake")
			}
			fallthrough
		case 0:
			for _, s := range in.Pending() {
				out = append(out, fmt.Sprintf("%s:%d", vocab.SignalName(s.Sig), s.From))
			}
			fmt.Println(strings.Join(out, " "))
			continue
		}
		for len(out) < int(b[0]) {
			if s := in.Next(); s.Sig != 0 {
				out = append(out, fmt.Sprintf("%s:%d", vocab.SignalName(s.Sig), s.From))
			}
		}
		fmt.Println(strings.Join(out, " "))
	}
}

// startIntake starts the helper as the launcher starts a role, with
// Blocked blocked, and returns it, its stdin and its stdout.
func startIntake(t *testing.T) (*supervise.Child, *os.File, *bufio.Reader) {
	t.Helper()
	self, _ := os.Executable()
	inR, inW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	c, err := supervise.Start(supervise.Spec{Name: "intake", Path: self, Args: []string{self},
		Env: append(os.Environ(), helperEnv+"=intake"), Files: []*os.File{inR, outW, os.Stderr}, Blocked: Blocked})
	inR.Close()
	outW.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		inW.Close()
		outR.Close()
		var ws unix.WaitStatus
		unix.Wait4(c.Pid, &ws, 0, nil)
		c.Close()
	})
	return c, inW, bufio.NewReader(outR)
}

func readLine(t *testing.T, r *bufio.Reader) string {
	t.Helper()
	line, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("the helper said nothing: %v", err)
	}
	return strings.TrimSuffix(line, "\n")
}

// TestIntakeHeld: a process started with Blocked holds SIGUSR1, SIGUSR2
// and SIGTSTP (not SIGINT: the runtime unblocks it); what is sent to it
// before it looks is taken lowest number first, each signal once however
// often it was sent (a standard signal pending twice is one), each with
// its sender, and the one taken first not again before the others (here
// it could not be: it is merged); a stop signal sent while nobody takes
// it does not stop it.
func TestIntakeHeld(t *testing.T) {
	c, in, out := startIntake(t)
	if got := readLine(t, out); got != "held USR1,USR2,TSTP" {
		t.Fatalf("helper: %q, want held USR1,USR2,TSTP", got)
	}
	me := os.Getpid()
	for range 100 {
		c.Signal(syscall.SIGUSR1)
	}
	c.Signal(syscall.SIGTSTP)
	c.Signal(syscall.SIGUSR2)
	if _, state, _ := procState(c.Pid); state == 'T' {
		t.Fatal("the helper stopped on SIGTSTP")
	}
	in.Write([]byte{3})
	want := fmt.Sprintf("USR1:%d USR2:%d TSTP:%d", me, me, me)
	if got := readLine(t, out); got != want {
		t.Errorf("took %q, want %q", got, want)
	}
	// A flood of SIGUSR1, going on while the helper takes, does not hold
	// back a SIGTSTP: of the next two signals taken, one is SIGTSTP.
	stopFlood := flood(c, syscall.SIGUSR1)
	c.Signal(syscall.SIGTSTP)
	in.Write([]byte{2})
	got := readLine(t, out)
	stopFlood()
	if !strings.Contains(got, fmt.Sprintf("TSTP:%d", me)) {
		t.Errorf("took %q in a flood of SIGUSR1: SIGTSTP held back", got)
	}
}

// TestIntakePending: Pending takes what is pending without waiting, each
// signal once, lowest number first, with its sender: after a wake too,
// which the kernel hands out before the signals sent earlier to the
// process, as a role's last look after the wake that says its peer is
// gone. It takes a signal at most once, so a flood cannot hold it, and
// returns nothing when nothing is pending.
func TestIntakePending(t *testing.T) {
	c, in, out := startIntake(t)
	readLine(t, out)
	me := os.Getpid()
	for range 100 {
		c.Signal(syscall.SIGUSR1)
	}
	c.Signal(syscall.SIGTSTP)
	c.Signal(syscall.SIGUSR2)
	waitPending(t, c.Pid, syscall.SIGUSR2)
	in.Write([]byte{255})
	if got, want := readLine(t, out), fmt.Sprintf("wake USR1:%d USR2:%d TSTP:%d", me, me, me); got != want {
		t.Errorf("took %q, want %q", got, want)
	}
	in.Write([]byte{0})
	if got := readLine(t, out); got != "" {
		t.Errorf("took %q with nothing pending, want nothing", got)
	}
	stopFlood := flood(c, syscall.SIGUSR1)
	c.Signal(syscall.SIGUSR2)
	waitPending(t, c.Pid, syscall.SIGUSR2)
	in.Write([]byte{0})
	got := readLine(t, out)
	stopFlood()
	if n := strings.Count(got, "USR1:"); n > 1 || !strings.Contains(got, fmt.Sprintf("USR2:%d", me)) {
		t.Errorf("took %q in a flood of SIGUSR1: want SIGUSR2, and SIGUSR1 at most once", got)
	}
}

// TestIntakeUnheld: SIGINT, which no process can hold blocked in every
// thread, is taken all the same, once a sending, through the intake's
// thread or os/signal, beside a held signal.
func TestIntakeUnheld(t *testing.T) {
	c, in, out := startIntake(t)
	readLine(t, out)
	for i := range 50 {
		c.Signal(syscall.SIGINT)
		in.Write([]byte{1})
		if got := readLine(t, out); got != "INT:0" && got != fmt.Sprintf("INT:%d", os.Getpid()) {
			t.Fatalf("sending %d: took %q, want INT", i, got)
		}
	}
	c.Signal(syscall.SIGUSR2)
	c.Signal(syscall.SIGINT)
	waitPending(t, c.Pid, syscall.SIGUSR2)
	in.Write([]byte{2})
	var got []string
	for _, f := range strings.Fields(readLine(t, out)) {
		got = append(got, strings.Split(f, ":")[0])
	}
	slices.Sort(got)
	if strings.Join(got, " ") != "INT USR2" {
		t.Errorf("took %q, want INT and USR2 once each", got)
	}
}

// TestIntakeWake: Wake ends a wait with nothing to take; the signals
// os/signal delivers are taken, merged while pending, none lost behind
// another.
func TestIntakeWake(t *testing.T) {
	chans := map[syscall.Signal]chan<- os.Signal{}
	notify := func(c chan<- os.Signal, sig ...os.Signal) {
		for _, s := range sig {
			chans[s.(syscall.Signal)] = c
		}
	}
	calls := make(chan bool)
	results := make(chan Signal)
	ready := make(chan *Intake)
	go func() {
		// A thread of its own, locked: it ends with the test.
		in := NewIntake(notify, syscall.SIGUSR1, syscall.SIGUSR2)
		ready <- in
		for range calls {
			results <- in.Next()
		}
	}()
	in := <-ready
	defer close(calls)
	if len(in.Held()) != 0 {
		t.Fatalf("a test process holds %v: the test cannot feed them", in.Held())
	}
	in.Wake()
	calls <- true
	if got := <-results; got.Sig != 0 {
		t.Errorf("Wake: got %v, want nothing", got.Sig)
	}
	for range 3 {
		chans[syscall.SIGUSR1] <- syscall.SIGUSR1
	}
	chans[syscall.SIGUSR2] <- syscall.SIGUSR2
	// The pump takes what it is given before the wait ends or after; the
	// batch has each signal once, whichever came first.
	var seen []syscall.Signal
	deadline := time.After(10 * time.Second)
	for !slices.Contains(seen, syscall.SIGUSR2) {
		calls <- true
		select {
		case s := <-results:
			if s.From != 0 {
				t.Errorf("%v from %d: os/signal does not say", s.Sig, s.From)
			}
			if s.Sig != 0 {
				seen = append(seen, s.Sig)
			}
		case <-deadline:
			t.Fatalf("SIGUSR2 never taken; got %v", seen)
		}
	}
	usr1 := len(seen) - 1
	if usr1 < 1 || usr1 > 3 || slices.Index(seen, syscall.SIGUSR2) != len(seen)-1 {
		t.Errorf("took %v for 3 SIGUSR1 and a SIGUSR2: want SIGUSR1 1 to 3 times, SIGUSR2 once", seen)
	}
}

// TestIntakeWakeQueueFull: with the user's queue of real-time signals
// full (RLIMIT_SIGPENDING 0 here), a signal os/signal delivers is taken
// all the same. Its wake is sent before the thread waits, the harder case:
// the wake has to wait for the thread, not end a wait under way.
func TestIntakeWakeQueueFull(t *testing.T) {
	var old unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_SIGPENDING, &old); err != nil {
		t.Fatal(err)
	}
	if err := unix.Setrlimit(unix.RLIMIT_SIGPENDING, &unix.Rlimit{Cur: 0, Max: old.Max}); err != nil {
		t.Fatal(err)
	}
	defer unix.Setrlimit(unix.RLIMIT_SIGPENDING, &old)
	var usr1 chan<- os.Signal
	notify := func(c chan<- os.Signal, sig ...os.Signal) { usr1 = c }
	results := make(chan Signal, 1)
	ready := make(chan *Intake)
	woken := make(chan struct{})
	go func() {
		in := NewIntake(notify, syscall.SIGUSR1)
		ready <- in
		<-woken // parked off the wait, on its locked thread
		results <- in.Next()
	}()
	in := <-ready
	if len(in.Held()) != 0 {
		t.Fatalf("a test process holds %v: the test cannot feed them", in.Held())
	}
	usr1 <- syscall.SIGUSR1
	for deadline := time.Now().Add(10 * time.Second); ; {
		in.mu.Lock()
		sent := in.woken
		in.mu.Unlock()
		if sent {
			break // the pump has taken it and woken the thread
		}
		if time.Now().After(deadline) {
			t.Fatal("the pump never woke the thread")
		}
		time.Sleep(time.Millisecond) // polling a flag the pump sets, bounded
	}
	close(woken)
	select {
	case s := <-results:
		if s.Sig != syscall.SIGUSR1 {
			t.Errorf("took %v, want SIGUSR1", s.Sig)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("SIGUSR1 not taken with the real-time queue full")
	}
}

// procState reads a process's state from /proc/PID/stat.
func procState(pid int) (ppid int, state byte, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, false
	}
	i := strings.LastIndexByte(string(b), ')')
	f := strings.Fields(string(b[i+1:]))
	ppid, _ = strconv.Atoi(f[1])
	return ppid, f[0][0], true
}

// waitPending: a signal blocked in every thread is queued when kill
// returns; this checks it is.
func waitPending(t *testing.T, pid int, s syscall.Signal) {
	t.Helper()
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "ShdPnd:\t"); ok {
			if n, _ := strconv.ParseUint(v, 16, 64); n&sigBit(s) != 0 {
				return
			}
		}
	}
	t.Fatalf("SIG%s not pending at %d", vocab.SignalName(s), pid)
}

// flood sends sig to c as fast as it can until the returned func is
// called, which returns once the flood has stopped.
func flood(c *supervise.Child, sig syscall.Signal) (stop func()) {
	done, flooded := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(flooded)
		for {
			select {
			case <-done:
				return
			default:
				c.Signal(sig)
			}
		}
	}()
	return func() {
		close(done)
		<-flooded
	}
}
