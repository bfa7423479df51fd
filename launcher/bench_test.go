package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sigride/sigride/internal/proctest"
)

// Sizes of the ride benchmark: at least 2,000 round trips, 100 starts.
// The round trips are taken in benchRounds rounds, each pair started
// afresh for each: where the kernel first puts a pair's processes on the
// two cores sways a run's median by up to 2x either way (one start per
// run gave p50 ratios from 0.66x to 1.97x for one build, 10 starts per
// run from 1.40x to 1.77x), so every run samples ten placements.
const (
	benchRoundTrips = 2000
	benchRounds     = 10
	benchWarmup     = 10 // a round's, uncounted
	benchStarts     = 100
)

// baseline names the bin directory of another build of the ride (make
// build at an older commit), measured in the same run as a third pair:
// go test -bench BenchmarkRide ./launcher -args -baseline /tmp/old/bin.
var baseline = flag.String("baseline", "", "bin directory of another build of the ride, measured beside this one")

// BenchmarkRide measures, side by side in one run, the signal round trip
// (kill SIGINT to the conductor -> the driver's line read here) and the
// start-up time (exec -> ready), for the ride and for a minimal C pair that
// does the same with sigwaitinfo and kill. Two more start-up rows say where
// the start-up goes: the launcher with minimal C roles (testdata/cpair/role.c)
// against the C pair, and an empty Go program against an empty C one. Run
// it with `make bench`.
func BenchmarkRide(b *testing.B) {
	cdir := b.TempDir()
	for _, name := range []string{"driver", "conductor", "role", "nop"} {
		out, err := exec.Command("gcc", "-O2", "-o", filepath.Join(cdir, name), filepath.Join("testdata/cpair", name+".c")).CombinedOutput()
		if err != nil {
			b.Fatalf("gcc %s: %v\n%s", name, err, out)
		}
	}
	gonop := filepath.Join(cdir, "gonop")
	build := exec.Command("go", "build", "-o", gonop, "./testdata/gonop")
	build.Env = append(os.Environ(), "CGO_ENABLED=0") // as proctest.Build builds ours
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("go build gonop: %v\n%s", err, out)
	}
	ours := startOurs(binDir)
	rtStarts := []starter{ours(), ours("-v"), cPair(cdir)}
	// The launcher with C roles: the launcher's share of the start-up.
	stStarts := []starter{ours(), cPair(cdir), ours("--driver", filepath.Join(cdir, "role"), "--conductor", filepath.Join(cdir, "role"))}
	if *baseline != "" {
		rtStarts = append(rtStarts, startOurs(*baseline)())
		stStarts = append(stStarts, startOurs(*baseline)())
	}
	for i := 0; i < b.N; i++ {
		rt := measureRoundTrips(b, rtStarts...)
		st := measureStarts(b, stStarts...)
		ex := measureExecs(b, gonop, filepath.Join(cdir, "nop"))
		b.ReportMetric(float64(percentile(rt[0], 50).Microseconds()), "rt-p50-µs")
		b.ReportMetric(float64(percentile(rt[0], 99).Microseconds()), "rt-p99-µs")
		b.ReportMetric(float64(percentile(st[0], 50).Microseconds()), "start-p50-µs")

		fmt.Printf("\nmachine: %s\n", proctest.Machine())
		fmt.Printf("%-34s %10s %10s %10s\n", "measure", "sigride", "C pair", "ratio")
		row := func(name string, a, c []time.Duration, p float64) {
			x, y := percentile(a, p), percentile(c, p)
			fmt.Printf("%-34s %10s %10s %9.2fx\n", name, us(x), us(y), float64(x)/float64(y))
		}
		row(fmt.Sprintf("round trip p50 (n=%d)", len(rt[0])), rt[0], rt[2], 50)
		row(fmt.Sprintf("round trip p99 (n=%d)", len(rt[0])), rt[0], rt[2], 99)
		row("round trip p50, events on (-v)", rt[1], rt[2], 50)
		row("round trip p99, events on (-v)", rt[1], rt[2], 99)
		row(fmt.Sprintf("start-up to ready p50 (n=%d)", len(st[0])), st[0], st[1], 50)
		row(fmt.Sprintf("start-up to ready p99 (n=%d)", len(st[0])), st[0], st[1], 99)
		// Where the start-up goes: the launcher with C roles against the
		// C pair (the launcher's share), and an empty Go program against
		// an empty C one (what any Go process costs over a C one).
		row("start-up, launcher, C roles p50", st[2], st[1], 50)
		row(fmt.Sprintf("exec, empty Go / C p50 (n=%d)", len(ex[0])), ex[0], ex[1], 50)
		if *baseline != "" {
			fmt.Printf("baseline %s, in the same run:\n", *baseline)
			row("round trip p50", rt[3], rt[2], 50)
			row("round trip p99", rt[3], rt[2], 99)
			row("start-up to ready p50", st[3], st[1], 50)
			row("start-up to ready p99", st[3], st[1], 99)
		}
	}
}

// pair is a running ride: where its lines come from, whom to signal, and
// how to end it.
type pair struct {
	lines     *bufio.Reader
	conductor int
	driver    int
	stop      func()
	// settle, if set, waits out the work a round trip leaves after its
	// line (the launcher logging -v's events), so that it does not fall
	// on the pair measured next.
	settle func(b *testing.B)
}

type starter func(b *testing.B) pair

// startOurs gives, for flags, what starts dir's launcher (and its roles)
// with flags and waits for its ready line.
func startOurs(dir string) func(flags ...string) starter {
	return func(flags ...string) starter {
		return func(b *testing.B) pair { return startLauncher(b, dir, flags) }
	}
}

func startLauncher(b *testing.B, dir string, flags []string) pair {
	cmd := exec.Command(filepath.Join(dir, "launcher"), append([]string{"--lang", "en"}, flags...)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	var log io.ReadCloser = io.NopCloser(strings.NewReader(""))
	if slices.Contains(flags, "-v") {
		if log, err = cmd.StderrPipe(); err != nil {
			b.Fatal(err)
		}
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	p := pair{lines: bufio.NewReader(out), stop: func() {
		cmd.Process.Signal(syscall.SIGTERM)
		go io.Copy(io.Discard, log)
		io.Copy(io.Discard, out)
		cmd.Wait()
	}}
	if slices.Contains(flags, "-v") {
		events := bufio.NewReader(log)
		p.settle = func(b *testing.B) {
			// The last two events of a set-off, from either role, in
			// either order.
			readUntil(b, events, "] send SIGUSR1 ", "] print ")
		}
	}
	line := readUntil(b, p.lines, "ready driver=")
	m := readyRE.FindStringSubmatch(line)
	p.driver, _ = strconv.Atoi(m[1])
	p.conductor, _ = strconv.Atoi(m[2])
	return p
}

// cPair starts the C driver, then the C conductor with the driver's pid,
// each on one end of a shared pipe, and waits for both to say ready.
func cPair(dir string) starter {
	return func(b *testing.B) pair {
		r, w, err := os.Pipe()
		if err != nil {
			b.Fatal(err)
		}
		lines := bufio.NewReader(r)
		drv := exec.Command(filepath.Join(dir, "driver"))
		drv.Stdout = w
		if err := drv.Start(); err != nil {
			b.Fatal(err)
		}
		readUntil(b, lines, "ready ")
		con := exec.Command(filepath.Join(dir, "conductor"), strconv.Itoa(drv.Process.Pid))
		con.Stdout = w
		if err := con.Start(); err != nil {
			b.Fatal(err)
		}
		w.Close()
		readUntil(b, lines, "ready ")
		return pair{lines: lines, conductor: con.Process.Pid, driver: drv.Process.Pid, stop: func() {
			con.Process.Signal(syscall.SIGTERM)
			drv.Process.Signal(syscall.SIGTERM)
			con.Wait()
			drv.Wait()
			r.Close()
		}}
	}
}

// measureRoundTrips times SIGINT to the conductor until the driver's line
// is read, one at a time (so nothing coalesces), in benchRounds rounds of
// fresh pairs, each after a warm-up. The pairs run at once and take
// turns, one round trip each, so that whatever else the machine does falls
// on all of them alike; the order of each turn is shuffled, so that what
// one pair leaves running after its line (a Go thread spinning down, say)
// falls on every other pair alike too.
func measureRoundTrips(b *testing.B, starts ...starter) [][]time.Duration {
	d := make([][]time.Duration, len(starts))
	for range benchRounds {
		for j, part := range measureRound(b, benchRoundTrips/benchRounds, starts...) {
			d[j] = append(d[j], part...)
		}
	}
	return d
}

// measureRound starts the pairs, measures n round trips of each after
// benchWarmup, and stops them.
func measureRound(b *testing.B, n int, starts ...starter) [][]time.Duration {
	pairs := make([]pair, len(starts))
	for i, start := range starts {
		pairs[i] = start(b)
		defer pairs[i].stop()
	}
	d := make([][]time.Duration, len(pairs))
	for i := 0; i < benchWarmup+n; i++ {
		for _, j := range rand.Perm(len(pairs)) {
			p := pairs[j]
			t0 := time.Now()
			if err := syscall.Kill(p.conductor, syscall.SIGINT); err != nil {
				b.Fatal(err)
			}
			readUntil(b, p.lines, fmt.Sprintf("driver[%d]: ", p.driver))
			if i >= benchWarmup {
				d[j] = append(d[j], time.Since(t0))
			}
			if p.settle != nil {
				p.settle(b)
			}
		}
	}
	return d
}

// measureStarts times exec until both roles are ready, benchStarts times
// for each starter, taking turns.
func measureStarts(b *testing.B, starts ...starter) [][]time.Duration {
	d := make([][]time.Duration, len(starts))
	for i := 0; i < benchStarts; i++ {
		for j, start := range starts {
			t0 := time.Now()
			p := start(b)
			d[j] = append(d[j], time.Since(t0))
			p.stop()
		}
	}
	return d
}

// measureExecs times exec until exit of each program, benchStarts times,
// taking turns.
func measureExecs(b *testing.B, paths ...string) [][]time.Duration {
	d := make([][]time.Duration, len(paths))
	for i := 0; i < benchStarts; i++ {
		for j, path := range paths {
			t0 := time.Now()
			if err := exec.Command(path).Run(); err != nil {
				b.Fatalf("%s: %v", path, err)
			}
			d[j] = append(d[j], time.Since(t0))
		}
	}
	return d
}

// readUntil reads lines from r until it has seen each of wants, in any
// order, and returns the last line it read.
func readUntil(b *testing.B, r *bufio.Reader, wants ...string) string {
	left := slices.Clone(wants)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			b.Fatalf("waiting for %q: %v", left, err)
		}
		left = slices.DeleteFunc(left, func(w string) bool { return strings.Contains(line, w) })
		if len(left) == 0 {
			return line
		}
	}
}

func percentile(d []time.Duration, p float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[int(float64(len(s)-1)*p/100)]
}

func us(d time.Duration) string { return fmt.Sprintf("%.1fµs", float64(d.Nanoseconds())/1e3) }
