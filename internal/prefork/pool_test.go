package prefork

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sigride/sigride/internal/proctest"
	"github.com/sigride/sigride/internal/supervise"
)

// The test binary, started with workerEnv set, is a worker (the os/exec
// trick). While the file named by holdEnv exists when it starts, it says
// "held PID" on stdout and never says ready, with no handler for SIGTERM:
// a worker caught starting, as one the master signals before its runtime
// has installed its handlers. While the file named by stubbornEnv exists
// when it starts, it ignores SIGTERM once ready. Started as a successor
// master (UpgradeEnv), it says "successor PID" and never serves.
const (
	workerEnv   = "PREFORK_TEST_WORKER"
	holdEnv     = "PREFORK_TEST_HOLD"
	stubbornEnv = "PREFORK_TEST_STUBBORN"
)

func TestMain(m *testing.M) {
	if os.Getenv(workerEnv) != "" {
		os.Exit(testWorker())
	}
	if err := supervise.BecomeSubreaper(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

func testWorker() int {
	if os.Getenv(UpgradeEnv) != "" {
		if _, err := TakeOver(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Printf("successor %d\n", os.Getpid())
		select {}
	}
	var cfg struct{ Word string }
	w, err := Join(&cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if _, err := os.Stat(os.Getenv(holdEnv)); err == nil {
		fmt.Printf("held %d\n", os.Getpid())
		select {}
	}
	if f := File("probe"); f != nil { // TestSettingsAndFiles
		fmt.Fprintln(f, cfg.Word)
		f.Close()
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM)
	if _, err := os.Stat(os.Getenv(stubbornEnv)); err == nil {
		signal.Ignore(syscall.SIGTERM)
	}
	if err := w.Ready(nil); err != nil {
		return 1
	}
	select {
	case <-sigs:
	case <-w.Gone():
	}
	w.Close()
	return 0
}

// testPool is a pool run by the test: its signals are fed by the test
// (SIGCHLD by the kernel), its log and its workers' stdout are kept.
type testPool struct {
	t        *testing.T
	sigs     chan os.Signal
	hold     string
	stubborn string
	log      *proctest.Lines // the pool's log
	out      *proctest.Lines // the workers' stdout
	done     chan error
}

func startPool(t *testing.T, workers int) *testPool {
	t.Helper()
	p := runPool(t, workers, nil)
	p.wait(p.log, regexp.MustCompile(`^worker \d+ pid=\d+ ready `), workers)
	return p
}

// runPool starts a pool of workers, its Config changed by edit (if not
// nil), and returns at once. Its Ready logs "announced N".
func runPool(t *testing.T, workers int, edit func(*Config)) *testPool {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lf, _ := ln.(*net.TCPListener).File()
	ln.Close()
	outR, outW, _ := os.Pipe()
	self, _ := os.Executable()
	dir := t.TempDir()
	p := &testPool{t: t, sigs: make(chan os.Signal, 64), hold: filepath.Join(dir, "hold"),
		stubborn: filepath.Join(dir, "stubborn"),
		log:      proctest.NewLines(), out: proctest.NewLines(), done: make(chan error, 1)}
	t.Setenv(workerEnv, "1")
	t.Setenv(holdEnv, p.hold)
	t.Setenv(stubbornEnv, p.stubborn)
	signal.Notify(p.sigs, syscall.SIGCHLD)
	go p.out.Follow(outR)
	logf := func(format string, a ...any) { p.log.Add(fmt.Sprintf(format, a...)) }
	cfg := Config{Path: self, Args: []string{self}, Workers: workers, Grace: 5 * time.Second,
		ReadyTimeout: 10 * time.Second, WorkerTimeout: 10 * time.Second,
		Listener: lf, Stdout: outW, Stderr: os.Stderr, Log: logf,
		Ready: func(n int) error { logf("announced %d", n); return nil }}
	if edit != nil {
		edit(&cfg)
	}
	go func() { _, err := Run(cfg, p.sigs); p.done <- err }()
	t.Cleanup(func() {
		p.sigs <- syscall.SIGTERM
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			t.Error("the pool did not stop")
		}
		signal.Stop(p.sigs)
		lf.Close()
		outW.Close()
		outR.Close()
	})
	return p
}

// wait waits until n lines of the log (or of the workers' stdout) match re.
func (p *testPool) wait(from *proctest.Lines, re *regexp.Regexp, n int) []string {
	p.t.Helper()
	got, err := from.Wait(re, n, 10*time.Second)
	if err != nil {
		p.t.Fatalf("%v\npool log:\n%s", err, p.log)
	}
	return got
}

// live lists this process's children that still run (the pool's workers).
func live(t *testing.T) []int {
	t.Helper()
	pids, err := supervise.ChildPids()
	if err != nil {
		t.Fatal(err)
	}
	var running []int
	for _, pid := range pids {
		if _, state, ok := proctest.Stat(pid); ok && state != 'Z' {
			running = append(running, pid)
		}
	}
	return running
}

// TestRollSurvivesDeadStarter: SIGHUP starts a new worker; SIGTTOU comes
// while it is still starting, and it dies before it ever says ready (a
// crash, or a SIGTERM too early for its handlers). The roll must not hang
// on it: every old worker is replaced all the same, and the pool ends at
// the size SIGTTOU asked for, not one more.
func TestRollSurvivesDeadStarter(t *testing.T) {
	p := startPool(t, 2)
	os.WriteFile(p.hold, nil, 0o644)
	p.sigs <- syscall.SIGHUP
	held := p.wait(p.out, regexp.MustCompile(`^held \d+$`), 1)
	heldPid, _ := strconv.Atoi(strings.TrimPrefix(held[0], "held "))
	os.Remove(p.hold) // the workers started from now on get ready
	p.sigs <- syscall.SIGTTOU
	p.wait(p.log, regexp.MustCompile(`^SIGTTOU: .*1 worker$`), 1)
	syscall.Kill(heldPid, syscall.SIGKILL)
	p.wait(p.log, regexp.MustCompile(fmt.Sprintf(`^worker \d+ pid=%d exited`, heldPid)), 1)
	p.wait(p.log, regexp.MustCompile(`^SIGHUP: every worker replaced$`), 1)
	// Both old workers retired and gone, one new worker serving.
	p.wait(p.log, regexp.MustCompile(`^worker [12] pid=\d+ exited exit=0$`), 2)
	ready := p.wait(p.log, regexp.MustCompile(`^worker \d+ pid=\d+ ready `), 3)
	newest := regexp.MustCompile(`pid=(\d+)`).FindStringSubmatch(ready[len(ready)-1])[1]
	if got := live(t); len(got) != 1 || strconv.Itoa(got[0]) != newest {
		t.Errorf("workers alive %v, want only the new %s; log:\n%s", got, newest, p.log)
	}
}

// TestPoolConverges: whatever the order of SIGHUP, SIGTTIN, SIGTTOU and
// kill -9 (fed back to back, or each after the pool's next log line), the
// pool ends with exactly the size wanted, every worker ready and of the
// last generation, and every other worker gone.
func TestPoolConverges(t *testing.T) {
	seed := time.Now().UnixNano()
	rng := rand.New(rand.NewPCG(uint64(seed), 0))
	t.Logf("seed %d", seed)
	readyLine := regexp.MustCompile(`^worker \d+ pid=(\d+) ready \(generation (\d+)\)$`)
	for round := range 3 {
		p := startPool(t, 3)
		want, gen, kills := 3, 0, 0
		hups, resizes := 0, 0
		for range 25 {
			// Each event, and the line of the pool's log that says it
			// was taken, with how many such lines there are by then.
			var said *regexp.Regexp
			n := 0
			switch k := rng.IntN(10); {
			case k < 3:
				p.sigs <- syscall.SIGHUP
				gen, hups = gen+1, hups+1
				said, n = regexp.MustCompile(`^SIGHUP: replacing`), hups
			case k < 5:
				p.sigs <- syscall.SIGTTIN
				want, resizes = want+1, resizes+1
				said, n = regexp.MustCompile(`^SIGTT(IN|OU): \d+ workers?$`), resizes
			case k < 8 && want > 1:
				p.sigs <- syscall.SIGTTOU
				want, resizes = want-1, resizes+1
				said, n = regexp.MustCompile(`^SIGTT(IN|OU): \d+ workers?$`), resizes
			case k >= 8 && kills < 3: // more would make the back-off long
				if pids := live(t); len(pids) > 0 {
					pid := pids[rng.IntN(len(pids))]
					syscall.Kill(pid, syscall.SIGKILL)
					kills++
					said, n = regexp.MustCompile(fmt.Sprintf(`pid=%d exited`, pid)), 1
				}
			}
			if said != nil && rng.IntN(2) == 0 {
				p.wait(p.log, said, n)
			}
		}
		// Converged: the live workers are want, each ready in generation gen.
		deadline := time.After(20 * time.Second)
		for {
			readyGen := map[string]string{}
			for _, l := range p.log.Matching(readyLine) {
				m := readyLine.FindStringSubmatch(l)
				readyGen[m[1]] = m[2]
			}
			pids := live(t)
			ok := len(pids) == want
			for _, pid := range pids {
				ok = ok && readyGen[strconv.Itoa(pid)] == strconv.Itoa(gen)
			}
			if ok {
				break
			}
			select {
			case <-p.log.Changed():
			case <-deadline:
				t.Fatalf("round %d (seed %d): workers %v, want %d of generation %d; log:\n%s", round, seed, pids, want, gen, p.log)
			}
		}
		p.sigs <- syscall.SIGTERM
		if err := <-p.done; err != nil {
			t.Fatal(err)
		}
		p.done <- nil // for the cleanup's wait
	}
}

// TestSettingsAndFiles: a worker gets the pool's Settings whole, decoded
// by Join, and finds each extra file by its name, wherever it was put.
func TestSettingsAndFiles(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	p := runPool(t, 1, func(c *Config) {
		c.Settings = struct{ Word string }{"hello, worker"}
		c.Extra = []Inherited{{Name: "probe", File: w}}
	})
	p.wait(p.log, regexp.MustCompile(`^worker 1 pid=\d+ ready `), 1)
	w.Close() // the worker holds its own
	r.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, err := bufio.NewReader(r).ReadString('\n')
	if err != nil || got != "hello, worker\n" {
		t.Errorf("the worker wrote %q, %v to its \"probe\"; want its settings' word", got, err)
	}
}
