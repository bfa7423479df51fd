package main

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sigride/sigride/internal/library"
	"github.com/sigride/sigride/internal/proctest"
	"github.com/sigride/sigride/internal/tftp"
	"github.com/sigride/sigride/internal/wire"
)

// The soak's knobs: `make soak` runs it long (--duration 60s --clients 200),
// `make test` short (the defaults).
var (
	soakDuration = flag.Duration("duration", 4*time.Second, "how long TestSoak loads the server")
	soakClients  = flag.Int("clients", 16, "TestSoak's concurrent clients")
	soakChaos    = flag.Duration("chaos-every", 500*time.Millisecond, "TestSoak's interval between faults")
	soakFaults   = flag.String("faults", "kill,HUP,TTIN,TTOU,USR2", "TestSoak's faults: kill,HUP,TTIN,TTOU,USR2")
	soakHostile  = flag.Int("hostile", 2, "TestSoak's hostile clients: half hold GETs they never read, half are silent TFTP peers asking big windows")
)

// Soak's fixed shape.
const (
	soakWorkers = 4
	soakFiles   = 8           // files every client downloads from
	soakMaxSize = 96 << 10    // the largest of them, and of an upload
	killSlack   = time.Second // a kill this long before a request may still fail it
	// hostileSize is the file hostile clients ask for: far more than
	// socket buffers hold, so a GET that is never read blocks the worker's
	// writes.
	soakIdle    = 5 * time.Second // --idle-timeout
	hostileSize = 32 << 20
	hostileName = "hostile/big.bin"
	// hostileTFTPOpen is how many silent TFTP transfers one hostile peer
	// keeps asked for at once, a new one every hostileTFTPEvery.
	hostileTFTPOpen  = 8
	hostileTFTPEvery = 100 * time.Millisecond
)

// soakStats is what the soak counts, by cause.
type soakStats struct {
	mu       sync.Mutex
	done     map[string]int // by op
	failed   map[string]int // by cause
	faults   map[string]int // injected, by kind
	bytes    int64          // verified
	lastKill time.Time
	uploads  map[string][32]byte // completed uploads: name -> sum
	hostile  map[string]int      // what the hostile clients did, by kind
	example  map[string]string   // the first error of each cause, whole
}

func (s *soakStats) count(m map[string]int, k string) {
	s.mu.Lock()
	m[k]++
	s.mu.Unlock()
}

// TestSoak runs clients mixing ls, get and put over TCP and TFTP against a
// pool of 4 workers while a chaos loop kills a worker, or sends SIGHUP,
// SIGTTIN, SIGTTOU or SIGUSR2. A request may fail only as an error the
// client reports, for a request under way when a worker was killed (kill -9); no download may differ
// from its source; every acknowledged upload must be there, whole, and
// listed; no temp file, no process, no leak may be left.
func TestSoak(t *testing.T) {
	needClients(t)
	dir := t.TempDir()
	pidfile := filepath.Join(dir, "master.pid")
	s := startServer(t, "--workers", strconv.Itoa(soakWorkers), "--pidfile", pidfile, "--tftp", "127.0.0.1:0",
		"--idle-timeout", soakIdle.String(), "--grace", "5s")
	masterPid := func() int {
		b, _ := os.ReadFile(pidfile)
		p, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		return p
	}
	// The sources.
	sources := map[string][]byte{}
	for i := range soakFiles {
		b := make([]byte, rand.IntN(soakMaxSize))
		for j := range b {
			b[j] = byte(rand.Uint32())
		}
		name := fmt.Sprintf("src/%d.bin", i)
		s.put(t, name, b)
		sources[name] = b
	}
	if *soakHostile > 0 {
		big := randomFile(t, dir, hostileSize)
		if _, stderr, code := s.client("put", big, "--as", hostileName); code != 0 {
			t.Fatal(stderr)
		}
		os.Remove(big)
	}
	before := procUsage(t, masterPid(), s)

	st := &soakStats{done: map[string]int{}, failed: map[string]int{}, faults: map[string]int{},
		uploads: map[string][32]byte{}, hostile: map[string]int{}, example: map[string]string{}}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var bad atomic.Int64
	for c := range *soakClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			soakClient(t, s, c, sources, st, stop, &bad)
		}()
	}
	for h := range *soakHostile {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if h%2 == 0 {
				hostileReader(s, st, stop)
			} else {
				hostileTFTP(s, st, stop)
			}
		}()
	}
	chaosDone := make(chan struct{})
	go func() {
		defer close(chaosDone)
		soakChaosLoop(t, s, masterPid, st, stop)
	}()
	time.Sleep(*soakDuration) // the soak's length is its purpose, not a synchronisation
	close(stop)
	wg.Wait()
	<-chaosDone

	// Settle: the pool back to soakWorkers and serving, then check.
	settle(t, s, masterPid)
	if stdout, stderr, code := s.client("ls"); code != 0 {
		t.Fatalf("ls after the soak: %s", stderr)
	} else {
		// A killed worker's temp file stays on disk until the next cold
		// start (CleanTemp); it must never be visible.
		if strings.Contains(stdout, ".sigride") {
			t.Errorf("a temp file is listed:\n%s", stdout)
		}
		st.mu.Lock()
		for name, sum := range st.uploads {
			got, err := os.ReadFile(filepath.Join(s.root, name))
			if err != nil || sha256.Sum256(got) != sum {
				t.Errorf("upload %s acknowledged but not there whole: %v", name, err)
			}
			if !strings.Contains(stdout, name+"\t") {
				t.Errorf("upload %s not listed", name)
			}
			st.bytes += int64(len(got))
		}
		st.mu.Unlock()
	}
	// Back to start-up level: the pool at its size again (TTIN and TTOU
	// changed it), the last transfers closed (a TFTP upload dallies).
	// The pool back to its size: the master's last SIGTTIN or SIGTTOU
	// line says what it keeps (none: --workers); signal the difference
	// once, then wait for the retiring workers to drain.
	mp := masterPid()
	if want := poolWant(s, mp); want != soakWorkers {
		sig := syscall.SIGTTIN
		if want > soakWorkers {
			sig = syscall.SIGTTOU
		}
		// Standard signals coalesce: one at a time, each once the master
		// has logged the one before.
		said := regexp.MustCompile(fmt.Sprintf(`^fileserver\[%d\]: SIGTT`, mp))
		n0 := len(s.waitLog(said, 0))
		for i := range max(want-soakWorkers, soakWorkers-want) {
			syscall.Kill(mp, sig)
			s.waitLog(said, n0+i+1)
		}
	}
	var after procStats
	deadline := time.Now().Add(30 * time.Second)
	for {
		after = procUsage(t, mp, s)
		if after.within(before) || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond) // workers draining: polling /proc, bounded
	}
	fds := fdTargets(masterPid())

	// Stop: exit 0, and nothing of the server left.
	mp = masterPid()
	syscall.Kill(mp, syscall.SIGTERM)
	waitExit(t, s, mp)
	leftovers := serverProcesses(t)

	printSoak(t, st, before, after, leftovers)
	if n := bad.Load(); n != 0 {
		t.Errorf("%d downloads differed from their source", n)
	}
	for cause, n := range st.failed {
		if !strings.HasPrefix(cause, "after kill -9") {
			t.Errorf("%d requests failed: %s (the first: %s)", n, cause, st.example[cause])
		}
	}
	if len(leftovers) > 0 {
		t.Errorf("server processes left: %v", leftovers)
	}
	if !after.within(before) {
		t.Errorf("not back to start-up level: %+v, at start %+v (master %d wants %d)\n%s\n%s", after, before, masterPid(), poolWant(s, masterPid()), fds, grepLog(s, "SIGTT|SIGUSR2|new master"))
	}
}

// hostileReader sends GETs of a big file and never reads a byte of the
// answer, with a tiny receive window: each holds a worker's connection,
// its writes blocked, until the worker cuts it (--idle-timeout) or the
// reader gives up after twice that.
func hostileReader(s *serverProc, st *soakStats, stop <-chan struct{}) {
	for {
		c, err := net.Dial("tcp", s.addr)
		if err != nil {
			st.count(st.hostile, "tcp: dial failed")
		} else {
			c.(*net.TCPConn).SetReadBuffer(4096)
			c.Write(wire.AppendRequest(nil, wire.Request{Op: wire.OpGet, Name: hostileName}))
			st.count(st.hostile, "tcp: GETs never read")
			select {
			case <-stop:
			case <-time.After(2 * soakIdle):
			}
			c.Close()
		}
		select {
		case <-stop:
			return
		default:
		}
	}
}

// hostileTFTP asks for the big file with the smallest blocks and the
// largest window, and then says nothing: no ACK, ever. It keeps
// hostileTFTPOpen such transfers asked for, each from its own port, a new
// one every hostileTFTPEvery.
func hostileTFTP(s *serverProc, st *soakStats, stop <-chan struct{}) {
	var open []*net.UDPConn
	defer func() {
		for _, c := range open {
			c.Close()
		}
	}()
	tick := time.NewTicker(hostileTFTPEvery)
	defer tick.Stop()
	req := tftp.AppendRequest(nil, tftp.Request{Op: tftp.OpRRQ, Filename: hostileName, Mode: "octet",
		Options: []tftp.Option{{Name: "blksize", Value: "8"}, {Name: "windowsize", Value: "65535"}, {Name: "timeout", Value: "255"}}})
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		c, sa, err := hostileDial(s.tftp)
		if err != nil {
			st.count(st.hostile, "tftp: socket failed")
			continue
		}
		c.WriteToUDP(req, sa)
		st.count(st.hostile, "tftp: silent big-window RRQs")
		open = append(open, c)
		if len(open) > hostileTFTPOpen {
			open[0].Close()
			open = open[1:]
		}
	}
}

// soakClient loops over random requests until stop.
func soakClient(t *testing.T, s *serverProc, c int, sources map[string][]byte, st *soakStats, stop <-chan struct{}, bad *atomic.Int64) {
	names := make([]string, 0, len(sources))
	for n := range sources {
		names = append(names, n)
	}
	sort.Strings(names)
	dir := t.TempDir()
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		default:
		}
		src := names[rand.IntN(len(names))]
		start := time.Now()
		op := []string{"ls", "get", "put", "tftp-get", "tftp-put"}[rand.IntN(5)]
		var err error
		switch op {
		case "ls":
			err = runList([]string{"--addr", s.addr}, io.Discard, io.Discard)
		case "get":
			dst := filepath.Join(dir, "got")
			err = runGet([]string{src, "-o", dst, "--addr", s.addr, "--quiet"}, io.Discard, io.Discard)
			if err == nil {
				checkSame(dst, sources[src], st, bad)
			}
			os.Remove(dst + ".part")
		case "put":
			name := fmt.Sprintf("up/c%d-%d.bin", c, i)
			body := sources[src][:rand.IntN(len(sources[src])+1)]
			p := filepath.Join(dir, "up")
			os.WriteFile(p, body, 0o644)
			err = runPut([]string{p, "--as", name, "--addr", s.addr, "--quiet"}, io.Discard, io.Discard)
			if err == nil {
				st.mu.Lock()
				st.uploads[name] = sha256.Sum256(body)
				st.mu.Unlock()
			}
		case "tftp-get":
			var got []byte
			got, err = tftpGet(s.tftp, src)
			if err == nil {
				if !bytes.Equal(got, sources[src]) {
					bad.Add(1)
				}
				st.mu.Lock()
				st.bytes += int64(len(got))
				st.mu.Unlock()
			}
		case "tftp-put":
			name := fmt.Sprintf("up/t%d-%d.bin", c, i)
			body := sources[src]
			err = tftpPut(s.tftp, name, body)
			if err == nil {
				st.mu.Lock()
				st.uploads[name] = sha256.Sum256(body)
				st.mu.Unlock()
			}
		}
		st.count(st.done, op)
		if err != nil {
			st.mu.Lock()
			// A kill -9 during the request (or just before it: the
			// connection may have gone to the dying worker) excuses it.
			recent := !st.lastKill.IsZero() && st.lastKill.After(start.Add(-killSlack))
			st.mu.Unlock()
			cause := op + ": " + errClass(err)
			if recent && errClass(err) != "bad bytes" {
				cause = "after kill -9: " + cause
			}
			st.count(st.failed, cause)
			st.mu.Lock()
			if _, ok := st.example[cause]; !ok {
				st.example[cause] = err.Error()
			}
			st.mu.Unlock()
		}
	}
}

func checkSame(path string, want []byte, st *soakStats, bad *atomic.Int64) {
	got, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(got, want) {
		bad.Add(1)
		return
	}
	st.mu.Lock()
	st.bytes += int64(len(got))
	st.mu.Unlock()
}

// errClass names an error's cause without its variable parts.
func errClass(err error) string {
	msg := err.Error()
	for _, c := range []string{"checksum", "connection closed mid-message", "connection lost", "connection reset", "broken pipe", "EOF", "timed out", "busy", "refused", "peer sent error"} {
		if strings.Contains(msg, c) {
			return c
		}
	}
	if len(msg) > 60 {
		msg = msg[:60]
	}
	return msg
}

// soakChaosLoop injects a fault every --chaos-every until stop.
func soakChaosLoop(t *testing.T, s *serverProc, masterPid func() int, st *soakStats, stop <-chan struct{}) {
	tick := time.NewTicker(*soakChaos)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		live := liveWorkers(s)
		mp := masterPid()
		kinds := strings.Split(*soakFaults, ",")
		switch kind := map[string]string{"kill": "kill -9 worker", "HUP": "SIGHUP", "TTIN": "SIGTTIN", "TTOU": "SIGTTOU", "USR2": "SIGUSR2"}[kinds[rand.IntN(len(kinds))]]; kind {
		case "kill -9 worker":
			if len(live) == 0 {
				continue
			}
			st.mu.Lock()
			st.lastKill = time.Now()
			st.mu.Unlock()
			syscall.Kill(live[rand.IntN(len(live))], syscall.SIGKILL)
			st.count(st.faults, kind)
		case "SIGTTOU":
			if poolWant(s, mp) <= 2 {
				continue // keep a pool to serve
			}
			syscall.Kill(mp, syscall.SIGTTOU)
			st.count(st.faults, kind)
		case "":
			t.Errorf("--faults %q: want kill, HUP, TTIN, TTOU, USR2", *soakFaults)
			return
		default:
			sig := map[string]syscall.Signal{"SIGHUP": syscall.SIGHUP, "SIGTTIN": syscall.SIGTTIN, "SIGUSR2": syscall.SIGUSR2}[kind]
			syscall.Kill(mp, sig)
			st.count(st.faults, kind)
		}
	}
}

var workerLineRE = regexp.MustCompile(`worker \d+ pid=(\d+) ready`)

// liveWorkers are the workers that said ready and are still running.
func liveWorkers(s *serverProc) []int {
	var pids []int
	for _, l := range s.log.Matching(workerLineRE) {
		p, _ := strconv.Atoi(workerLineRE.FindStringSubmatch(l)[1])
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p)); err == nil && bytes.Contains(b, []byte(workerCmd)) {
			pids = append(pids, p)
		}
	}
	return pids
}

var wantRE = regexp.MustCompile(`^fileserver\[(\d+)\]: SIGTT(?:IN|OU).* (\d+) workers?$`)

// poolWant is how many workers master keeps, from its log.
func poolWant(s *serverProc, master int) int {
	want := soakWorkers
	for _, l := range s.log.Matching(wantRE) {
		if m := wantRE.FindStringSubmatch(l); m[1] == strconv.Itoa(master) {
			want, _ = strconv.Atoi(m[2])
		}
	}
	return want
}

// settle waits until the current master's pool has its workers back (an
// upgrade or a TTIN/TTOU may be under way) and a client is served.
func settle(t *testing.T, s *serverProc, masterPid func() int) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		mp := masterPid()
		kids := childrenOf(mp)
		if mp > 0 && len(kids) >= 1 {
			if _, _, code := s.client("ls"); code == 0 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the pool did not settle: master %d, workers %v\n%s", mp, kids, s.logText())
		}
		time.Sleep(50 * time.Millisecond) // polling /proc for a state, bounded
	}
}

func childrenOf(pid int) []int {
	var kids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, state, _ := proctest.Stat(p); ppid == pid && state != 'Z' {
			kids = append(kids, p)
		}
	}
	return kids
}

type procStats struct {
	workers              int
	masterFDs, workerFDs int   // a worker's: the most of any, pipes aside
	workerPipes          int   // the most pipe fds of any worker
	masterRSS, workerRSS int64 // a worker's: the most of any
}

// within says whether p is back to start's level, within a margin.
func (p procStats) within(start procStats) bool {
	// Go's runtime caches pipes for splice (two fds each, at most one per
	// upload under way), freed only when a GC runs: an idle worker keeps
	// them. They are bounded by the clients, not by the requests.
	return p.workers == start.workers && p.masterFDs <= start.masterFDs+2 &&
		p.workerFDs <= start.workerFDs+2 && p.workerPipes <= start.workerPipes+2*(*soakClients) &&
		p.masterRSS <= start.masterRSS*2+8<<20 && p.workerRSS <= start.workerRSS*2+workerWarm
}

// workerWarm is how far above its cold start a worker that has served may
// stay: its small-file cache, kept on purpose, and 8 MiB of heap Go keeps
// mapped after a load (one worker under 72,000 mixed requests settled
// 6 MiB above its start and stayed there).
const workerWarm = library.CacheBudget + 8<<20

// procUsage reads the master's fds and RSS, and the most fds and RSS of any
// of its workers, from /proc.
func procUsage(t *testing.T, master int, s *serverProc) procStats {
	u := procStats{masterFDs: fdCount(master), masterRSS: rss(master)}
	kids := childrenOf(master)
	u.workers = len(kids)
	for _, w := range kids {
		n, pipes := fdKinds(w)
		u.workerFDs = max(u.workerFDs, n-pipes)
		u.workerPipes = max(u.workerPipes, pipes)
		u.workerRSS = max(u.workerRSS, rss(w))
	}
	return u
}

// fdKinds counts a process's fds, and those of them that are pipes.
func fdKinds(pid int) (n, pipes int) {
	ents, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	for _, e := range ents {
		if l, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, e.Name())); strings.HasPrefix(l, "pipe:") {
			pipes++
		}
	}
	return len(ents), pipes
}

func fdCount(pid int) int {
	ents, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	return len(ents)
}

func rss(pid int) int64 {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/statm", pid))
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize())
}

// waitExit waits for the master pid to end: our child, or a successor
// re-parented to this subreaper.
func waitExit(t *testing.T, s *serverProc, pid int) {
	if pid == s.cmd.Process.Pid {
		select {
		case <-s.done:
		case <-time.After(30 * time.Second):
			t.Fatal("master did not stop")
		}
		if s.code != 0 {
			t.Errorf("master exit %d", s.code)
		}
		return
	}
	// A successor becomes our child (we are a subreaper) only once the
	// master that started it has exited: until then wait4 says ECHILD.
	deadline := time.Now().Add(30 * time.Second)
	for {
		var ws syscall.WaitStatus
		p, err := syscall.Wait4(pid, &ws, syscall.WNOHANG, nil)
		switch {
		case p == pid:
			if ws.ExitStatus() != 0 {
				t.Errorf("master %d: %v", pid, ws)
			}
			return
		case err != nil && err != syscall.ECHILD:
			t.Errorf("master %d: %v", pid, err)
			return
		case !processExists(pid):
			// Reaped by the master that started it, still draining
			// then: that one must end too.
			select {
			case <-s.done:
			case <-time.After(30 * time.Second):
				t.Errorf("the first master did not stop")
			}
			return
		case time.Now().After(deadline):
			t.Errorf("master %d did not stop", pid)
			return
		}
		time.Sleep(10 * time.Millisecond) // waiting to be its reaper: polling, bounded
	}
}

// serverProcesses lists what is left running of this test's binary,
// zombies included, after reaping what is ours to reap.
func serverProcesses(t *testing.T) []string {
	for {
		var ws syscall.WaitStatus
		if p, _ := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil); p <= 0 {
			break
		}
	}
	var left []string
	deadline := time.Now().Add(5 * time.Second)
	for {
		left = left[:0]
		ents, _ := os.ReadDir("/proc")
		for _, e := range ents {
			p, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p))
			if bytes.HasPrefix(b, []byte(bin+"\x00")) {
				_, state, _ := proctest.Stat(p)
				left = append(left, fmt.Sprintf("%d(%c)", p, state))
			}
		}
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
		var ws syscall.WaitStatus
		syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		time.Sleep(20 * time.Millisecond) // workers draining after their master: polling /proc, bounded
	}
}

func printSoak(t *testing.T, st *soakStats, before, after procStats, left []string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "\nsoak: %v, %d clients, %d workers, a fault every %v\n", *soakDuration, *soakClients, soakWorkers, *soakChaos)
	total, failed := 0, 0
	for _, n := range st.done {
		total += n
	}
	for _, n := range st.failed {
		failed += n
	}
	line := func(k string, v any) { fmt.Fprintf(&b, "%-44s %v\n", k, v) }
	line("requests", total)
	for _, k := range sortedKeys(st.done) {
		line("  "+k, st.done[k])
	}
	line("faults injected", sumOf(st.faults))
	for _, k := range sortedKeys(st.faults) {
		line("  "+k, st.faults[k])
	}
	line("failed", failed)
	for _, k := range sortedKeys(st.failed) {
		line("  "+k, st.failed[k])
	}
	line("bytes verified", st.bytes)
	line("uploads verified on the server", len(st.uploads))
	line("master fds, start -> end", fmt.Sprintf("%d -> %d", before.masterFDs, after.masterFDs))
	line("worker fds (most, pipes aside), start -> end", fmt.Sprintf("%d -> %d", before.workerFDs, after.workerFDs))
	line("worker pipe fds (Go's splice cache)", fmt.Sprintf("%d -> %d", before.workerPipes, after.workerPipes))
	line("master RSS MiB, start -> end", fmt.Sprintf("%.1f -> %.1f", float64(before.masterRSS)/(1<<20), float64(after.masterRSS)/(1<<20)))
	line("worker RSS MiB (most), start -> end", fmt.Sprintf("%.1f -> %.1f", float64(before.workerRSS)/(1<<20), float64(after.workerRSS)/(1<<20)))
	for _, k := range sortedKeys(st.hostile) {
		line("hostile "+k, st.hostile[k])
	}
	line("processes left", len(left))
	fmt.Print(b.String())
}

func sortedKeys(m map[string]int) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func sumOf(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// A minimal TFTP client for the soak: octet, blksize 1468, lock-step.
func tftpGet(server, name string) ([]byte, error) {
	c, sa, err := tftpDial(server)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.WriteToUDP(tftp.AppendRequest(nil, tftp.Request{Op: tftp.OpRRQ, Filename: name, Mode: "octet",
		Options: []tftp.Option{{Name: "blksize", Value: "1468"}}}), sa)
	var out []byte
	buf := make([]byte, 2000)
	var tid *net.UDPAddr
	for next := uint16(1); ; {
		p, from, err := tftpRecv(c, buf, tid)
		if err != nil {
			return nil, err
		}
		tid = from
		switch {
		case p.Op == tftp.OpOACK:
			c.WriteToUDP(tftp.AppendAck(nil, 0), from)
		case p.Op == tftp.OpDATA && p.Block == next:
			out = append(out, p.Data...)
			c.WriteToUDP(tftp.AppendAck(nil, p.Block), from)
			if len(p.Data) < 1468 {
				return out, nil
			}
			next++
		case p.Op == tftp.OpDATA:
			c.WriteToUDP(tftp.AppendAck(nil, next-1), from)
		}
	}
}

func tftpPut(server, name string, body []byte) error {
	c, sa, err := tftpDial(server)
	if err != nil {
		return err
	}
	defer c.Close()
	c.WriteToUDP(tftp.AppendRequest(nil, tftp.Request{Op: tftp.OpWRQ, Filename: name, Mode: "octet",
		Options: []tftp.Option{{Name: "blksize", Value: "1468"}}}), sa)
	buf := make([]byte, 2000)
	p, from, err := tftpRecv(c, buf, nil)
	if err != nil {
		return err
	}
	if p.Op != tftp.OpOACK {
		return fmt.Errorf("WRQ answered %v", p.Op)
	}
	for block := 1; ; block++ {
		off := (block - 1) * 1468
		chunk := body[min(off, len(body)):min(off+1468, len(body))]
		pkt := append(tftp.AppendData(nil, uint16(block)), chunk...)
		for tries := 0; ; tries++ {
			c.WriteToUDP(pkt, from)
			p, _, err = tftpRecv(c, buf, from)
			if err == nil && p.Op == tftp.OpACK && p.Block == uint16(block) {
				break
			}
			if err != nil && (tries > 3 || !errors.Is(err, os.ErrDeadlineExceeded)) {
				return err
			}
		}
		if len(chunk) < 1468 {
			return nil
		}
	}
}

// hostilePorts are where the silent TFTP peers bind, below Linux's
// ephemeral range (32768 and up): the transfers they abandon speak to
// their ports until given up, and an honest client given the same port by
// the kernel would take a stale transfer's ERROR for its own before it
// knows its TID.
var hostilePorts = struct {
	sync.Mutex
	next int
}{next: 20000}

func hostileDial(server string) (*net.UDPConn, *net.UDPAddr, error) {
	sa, err := net.ResolveUDPAddr("udp", server)
	if err != nil {
		return nil, nil, err
	}
	for range 100 {
		hostilePorts.Lock()
		port := hostilePorts.next
		hostilePorts.next = 20000 + (hostilePorts.next-20000+1)%10000
		hostilePorts.Unlock()
		if c, err := net.ListenUDP("udp", &net.UDPAddr{IP: sa.IP, Port: port}); err == nil {
			return c, sa, nil
		}
	}
	return nil, nil, fmt.Errorf("no port free in 20000-29999")
}

func tftpDial(server string) (*net.UDPConn, *net.UDPAddr, error) {
	sa, err := net.ResolveUDPAddr("udp", server)
	if err != nil {
		return nil, nil, err
	}
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: sa.IP})
	return c, sa, err
}

// tftpRecv reads one packet within 2 s; an ERROR is returned as an error.
// Once the transfer's TID is known (tid not nil), a packet from any other
// port is not the transfer's and is skipped, as RFC 1350 asks: a port is
// reused, and a transfer of the port's last owner may still speak to it.
func tftpRecv(c *net.UDPConn, buf []byte, tid *net.UDPAddr) (tftp.Packet, *net.UDPAddr, error) {
	deadline := time.Now().Add(2 * time.Second)
	c.SetReadDeadline(deadline)
	var n int
	var from *net.UDPAddr
	for {
		var err error
		n, from, err = c.ReadFromUDP(buf)
		if err != nil {
			return tftp.Packet{}, nil, fmt.Errorf("tftp: timed out: %w", err)
		}
		if tid == nil || from.AddrPort() == tid.AddrPort() {
			break
		}
	}
	p, err := tftp.ParsePacket(buf[:n])
	if err != nil {
		return p, from, err
	}
	if p.Op == tftp.OpERROR {
		return p, from, fmt.Errorf("tftp: peer sent error %d: %s", p.Code, p.Message)
	}
	return p, from, nil
}

// fdTargets lists what the master's and its workers' fds point to.
func fdTargets(master int) string {
	var b strings.Builder
	for _, p := range append([]int{master}, childrenOf(master)...) {
		ents, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", p))
		var ts []string
		for _, e := range ents {
			l, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", p, e.Name()))
			ts = append(ts, e.Name()+"="+l)
		}
		fmt.Fprintf(&b, "%d: %s\n", p, strings.Join(ts, " "))
	}
	return b.String()
}

func processExists(pid int) bool {
	_, err := os.Stat(fmt.Sprintf("/proc/%d", pid))
	return err == nil
}

func grepLog(s *serverProc, pattern string) string {
	return strings.Join(s.log.Matching(regexp.MustCompile(pattern)), "\n")
}
