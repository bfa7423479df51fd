package main

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sigride/sigride/internal/wire"
)

// rawRequest dials s and sends one request, returning the connection and
// the response header.
func rawRequest(t *testing.T, addr string, req wire.Request) (net.Conn, wire.Response) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(30 * time.Second)) // a failing test fails, not hangs
	if _, err := c.Write(wire.AppendRequest(nil, req)); err != nil {
		t.Fatal(err)
	}
	resp, err := wire.ReadResponse(c)
	if err != nil {
		t.Fatal(err)
	}
	return c, resp
}

// onWorker sends req on a new connection that worker w accepts: every
// other worker is stopped (SIGSTOP) until the response header is back, so
// only w can take it from the shared socket.
func onWorker(t *testing.T, addr string, w int, others []int, req wire.Request) (net.Conn, wire.Response) {
	t.Helper()
	for _, o := range others {
		syscall.Kill(o, syscall.SIGSTOP)
		waitStopped(t, o)
	}
	defer func() {
		for _, o := range others {
			syscall.Kill(o, syscall.SIGCONT)
		}
	}()
	return rawRequest(t, addr, req)
}

// waitStopped waits until every thread of pid is stopped: kill(2) returns
// before a running thread takes the SIGSTOP, and one still running could
// accept a connection meanwhile.
func waitStopped(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/stat", pid))
		stopped := 0
		for _, task := range tasks {
			b, _ := os.ReadFile(task)
			// pid (comm) STATE ...: comm may hold spaces, not ')'.
			if i := bytes.LastIndexByte(b, ')'); i > 0 && i+2 < len(b) && b[i+2] == 'T' {
				stopped++
			}
		}
		if len(tasks) > 0 && stopped == len(tasks) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("pid %d: %d of %d threads stopped", pid, stopped, len(tasks))
		}
		time.Sleep(time.Millisecond) // polling /proc for a state, bounded
	}
}

// TestWorkerKilledMidDownload: two downloads, one on each worker; the
// worker of one is killed mid-transfer. That download is cut (the
// connection ends early), the other completes with its sum right, and a
// new worker appears.
func TestWorkerKilledMidDownload(t *testing.T) {
	s := startServer(t, "--workers", "2")
	w := workerPids(s.waitLog(readyRE, 2))
	src := randomFile(t, t.TempDir(), 64<<20)
	if _, stderr, code := s.client("put", src, "--as", "big.bin"); code != 0 {
		t.Fatal(stderr)
	}
	get := wire.Request{Op: wire.OpGet, Name: "big.bin"}
	victim, resp := onWorker(t, s.addr, w[0], w[1:], get)
	other, resp2 := onWorker(t, s.addr, w[1], w[:1], get)
	for _, r := range []wire.Response{resp, resp2} {
		if r.Status != wire.StatusOK || r.Size != 64<<20 {
			t.Fatalf("response %+v", r)
		}
	}
	for _, c := range []net.Conn{victim, other} { // mid-transfer: the rest waits on our reading
		if _, err := io.CopyN(io.Discard, c, 1<<20); err != nil {
			t.Fatal(err)
		}
	}
	syscall.Kill(w[0], syscall.SIGKILL)
	n, _ := io.Copy(io.Discard, victim)
	if 1<<20+n >= 64<<20 {
		t.Fatalf("the whole file arrived from a killed worker")
	}
	// The other download, restarted from where it was, hashed whole.
	rest := sha256.New()
	f, _ := os.Open(src)
	io.CopyN(rest, f, 1<<20)
	f.Close()
	if n, err := io.CopyN(rest, other, 63<<20); err != nil {
		t.Fatalf("the other worker's download: %d bytes, %v", n, err)
	}
	if [32]byte(rest.Sum(nil)) != resp2.Sum {
		t.Error("the other worker's download is corrupt")
	}
	s.waitLog(readyRE, 3)
	dst := filepath.Join(t.TempDir(), "again.bin")
	if _, stderr, code := s.client("get", "big.bin", "-o", dst); code != 0 {
		t.Fatalf("get after the kill: %s", stderr)
	}
	sameFile(t, src, dst)
}

// TestWorkerKilledMidUpload: two uploads, one on each worker; the worker
// of one is killed mid-body. Nothing of it is visible, ls does not list
// its temp file, the other upload is stored whole, a new worker appears,
// and a restarted master removes the temp file.
func TestWorkerKilledMidUpload(t *testing.T) {
	s := startServer(t, "--workers", "2")
	w := workerPids(s.waitLog(readyRE, 2))
	victim, resp := onWorker(t, s.addr, w[0], w[1:], wire.Request{Op: wire.OpPut, Name: "up/partial.bin", Arg: 8 << 20})
	other, resp2 := onWorker(t, s.addr, w[1], w[:1], wire.Request{Op: wire.OpPut, Name: "other.bin", Arg: 8 << 20})
	if resp.Status != wire.StatusContinue || resp2.Status != wire.StatusContinue {
		t.Fatalf("responses %+v %+v", resp, resp2)
	}
	half := bytes.Repeat([]byte("x"), 4<<20)
	for _, c := range []net.Conn{victim, other} {
		if _, err := c.Write(half); err != nil {
			t.Fatal(err)
		}
	}
	// The worker has the temp file open; wait until bytes reached it.
	tmpRE := regexp.MustCompile(`^\.sigride-upload-`)
	deadline := time.Now().Add(10 * time.Second)
	for {
		ents, _ := os.ReadDir(filepath.Join(s.root, "up"))
		if len(ents) == 1 && tmpRE.MatchString(ents[0].Name()) {
			if fi, _ := ents[0].Info(); fi != nil && fi.Size() > 0 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no temp file with bytes in it")
		}
		time.Sleep(5 * time.Millisecond) // polling the disk for a condition, bounded
	}
	syscall.Kill(w[0], syscall.SIGKILL)
	if _, err := wire.ReadResponse(victim); err == nil {
		t.Error("a response from a killed worker")
	}
	// The other upload goes on and is stored.
	body := append(half, half...)
	sum := sha256.Sum256(body)
	other.Write(append(half, sum[:]...))
	if r, err := wire.ReadResponse(other); err != nil || r.Status != wire.StatusOK {
		t.Errorf("the other worker's upload: %+v %v", r, err)
	}
	if got, err := os.ReadFile(filepath.Join(s.root, "other.bin")); err != nil || !bytes.Equal(got, body) {
		t.Errorf("the other upload stored %d bytes, %v", len(got), err)
	}
	s.waitLog(readyRE, 3)
	if _, err := os.Stat(filepath.Join(s.root, "up/partial.bin")); err == nil {
		t.Error("a partial upload is visible")
	}
	if stdout, _, _ := s.client("ls"); strings.Contains(stdout, "sigride") || strings.Contains(stdout, "partial") {
		t.Errorf("ls shows the interrupted upload:\n%s", stdout)
	}
	// A new master cleans up what the killed worker left.
	s.cmd.Process.Signal(syscall.SIGTERM)
	<-s.done
	s2 := startServer(t, "--workers", "1", "--root", s.root)
	s2.waitLog(regexp.MustCompile(`removed 1 temp files`), 1)
	if ents, _ := os.ReadDir(filepath.Join(s.root, "up")); len(ents) != 0 {
		t.Errorf("left: %v", ents)
	}
}

// TestClientCutOff: a server that sends less than it announced: the client
// fails with one line, exit 1, keeps the .part, and --continue finishes it.
func TestClientCutOff(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789"), 100_000)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for first := true; ; first = false {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			req, _ := wire.ReadRequest(c)
			c.Write(wire.AppendResponse(nil, wire.Response{Status: wire.StatusOK, Size: uint64(len(data)), Offset: req.Arg, Sum: sha256.Sum256(data)}))
			body := data[req.Arg:]
			if first {
				body = body[:len(body)/2] // then the connection drops
			}
			c.Write(body)
			c.Close()
		}
	}()
	dst := filepath.Join(t.TempDir(), "f")
	var stderr bytes.Buffer
	err = runGet([]string{"f", "-o", dst, "--addr", ln.Addr().String()}, io.Discard, &stderr)
	if err == nil || !strings.Contains(err.Error(), "connection lost after 500000 of 1000000 bytes") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("cut-off download: %v", err)
	}
	if fi, err := os.Stat(dst + ".part"); err != nil || fi.Size() != 500000 {
		t.Fatalf(".part: %v", err)
	}
	if _, err := os.Stat(dst); err == nil {
		t.Fatal("a partial download is visible")
	}
	if err := runGet([]string{"f", "-o", dst, "--continue", "--addr", ln.Addr().String()}, io.Discard, &stderr); err != nil {
		t.Fatalf("--continue: %v", err)
	}
	if got, _ := os.ReadFile(dst); !bytes.Equal(got, data) {
		t.Error("resumed file differs")
	}
}

// TestConcurrentClients: 64 clients at once mixing ls, get and put, every
// byte verified.
func TestConcurrentClients(t *testing.T) {
	s := startServer(t, "--workers", "2")
	dir := t.TempDir()
	seeds := map[string][]byte{}
	for i := 0; i < 8; i++ {
		name := fmt.Sprintf("seed/%d.bin", i)
		seeds[name] = make([]byte, rand.IntN(1<<20))
		for j := range seeds[name] {
			seeds[name][j] = byte(rand.Uint32())
		}
		p := filepath.Join(dir, fmt.Sprintf("seed%d", i))
		os.WriteFile(p, seeds[name], 0o644)
		if _, stderr, code := s.client("put", p, "--as", name); code != 0 {
			t.Fatal(stderr)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64*12)
	for c := 0; c < 64; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mine := filepath.Join(dir, fmt.Sprintf("c%d", c))
			os.MkdirAll(mine, 0o755)
			for op := 0; op < 12; op++ {
				var err error
				switch op % 3 {
				case 0:
					err = runList([]string{"--addr", s.addr}, io.Discard, io.Discard)
				case 1:
					name := fmt.Sprintf("seed/%d.bin", rand.IntN(8))
					dst := filepath.Join(mine, "got")
					if err = runGet([]string{name, "-o", dst, "--addr", s.addr}, io.Discard, io.Discard); err == nil {
						if got, _ := os.ReadFile(dst); !bytes.Equal(got, seeds[name]) {
							err = fmt.Errorf("%s: bytes differ", name)
						}
					}
				case 2:
					data := make([]byte, rand.IntN(256<<10))
					for j := range data {
						data[j] = byte(rand.Uint32())
					}
					src := filepath.Join(mine, "up")
					os.WriteFile(src, data, 0o644)
					name := fmt.Sprintf("up/%d-%d.bin", c, op)
					if err = runPut([]string{src, "--as", name, "--addr", s.addr}, io.Discard, io.Discard); err == nil {
						if got, _ := os.ReadFile(filepath.Join(s.root, name)); !bytes.Equal(got, data) {
							err = fmt.Errorf("%s: stored bytes differ", name)
						}
					}
				}
				if err != nil {
					errs <- fmt.Errorf("client %d op %d: %w", c, op, err)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestSilentClient: a client that says nothing is told "timeout" after
// --idle-timeout; the others are served meanwhile.
func TestSilentClient(t *testing.T) {
	s := startServer(t, "--workers", "1", "--idle-timeout", "500ms")
	silent, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	start := time.Now()
	if _, stderr, code := s.client("ls"); code != 0 {
		t.Fatalf("ls beside a silent client: %s", stderr)
	}
	if d := time.Since(start); d > 400*time.Millisecond {
		t.Errorf("ls took %v beside a silent client", d)
	}
	silent.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := wire.ReadResponse(silent)
	if err != nil || resp.Status != wire.ErrTimeout {
		t.Fatalf("silent client got %+v, %v; want a timeout", resp, err)
	}
	if d := time.Since(start); d < 400*time.Millisecond {
		t.Errorf("timed out after %v, before --idle-timeout", d)
	}
}

// TestConnectionLimit: past --max-conns a client is told busy, and only it.
func TestConnectionLimit(t *testing.T) {
	s := startServer(t, "--workers", "1", "--max-conns", "2")
	var held []net.Conn
	for i := 0; i < 2; i++ {
		c, err := net.Dial("tcp", s.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		held = append(held, c)
		// Make sure the worker holds it: a request answered on it.
		c.Write(wire.AppendRequest(nil, wire.Request{Op: wire.OpList}))
		resp, err := wire.ReadResponse(c)
		if err != nil || resp.Status != wire.StatusOK {
			t.Fatalf("conn %d: %+v %v", i, resp, err)
		}
		io.CopyN(io.Discard, c, int64(resp.Size))
	}
	_, stderr, code := s.client("ls")
	if code != 1 || !strings.Contains(stderr, "busy") {
		t.Errorf("third connection: exit %d %q, want busy", code, stderr)
	}
	// The two held connections are served on, as before.
	for i, c := range held {
		c.Write(wire.AppendRequest(nil, wire.Request{Op: wire.OpList}))
		if resp, err := wire.ReadResponse(c); err != nil || resp.Status != wire.StatusOK {
			t.Errorf("held conn %d after the refusal: %+v %v", i, resp, err)
		}
	}
}
