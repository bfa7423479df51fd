package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sigride/sigride/internal/tftp"
	"github.com/sigride/sigride/internal/wire"
)

// vmHWM is a process's peak resident memory, in bytes.
func vmHWM(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`VmHWM:\s+(\d+) kB`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("no VmHWM in /proc/%d/status", pid)
	}
	kb, _ := strconv.ParseInt(string(m[1]), 10, 64)
	return kb << 10
}

// TestListTooLarge: a library whose listing would pass wire.MaxListBody
// (files of names near wire.MaxName: a client can PUT them) is refused at
// once with 25 saying so, not built whole and sent for the client to
// refuse; the worker's peak memory stays within about one listing's
// bound; the server serves on.
func TestListTooLarge(t *testing.T) {
	s := startServer(t, "--workers", "1")
	pids := workerPids(s.waitLog(readyRE, 1))
	n := wire.MaxListBody/(wire.EntryFixed+1023) + 100
	longNames(t, s.root, n)
	before := vmHWM(t, pids[0])
	start := time.Now()
	c, resp := rawRequest(t, s.addr, wire.Request{Op: wire.OpList})
	c.Close()
	if resp.Status != wire.ErrInternal || resp.Message != "the library is too large to list" {
		t.Fatalf("LIST of %d long names: %v %q, want 25 too large to list", n, resp.Status, resp.Message)
	}
	if took := time.Since(start); took > 15*time.Second {
		t.Errorf("refused after %v", took)
	}
	// The listing is bounded at MaxListBody, held once; the walk holds
	// one directory's names (about 17 MiB here) beside it, and the GC
	// its slack.
	grew := vmHWM(t, pids[0]) - before
	t.Logf("the worker's peak memory grew %d MiB", grew>>20)
	if grew > 2*wire.MaxListBody+16<<20 {
		t.Errorf("the worker's peak memory grew %d MiB for a refused LIST", grew>>20)
	}
	_, stderr, code := s.client("ls")
	if code != 1 || !strings.Contains(stderr, "too large to list") {
		t.Errorf("ls: exit %d %q", code, stderr)
	}
	os.RemoveAll(filepath.Join(s.root, strings.Repeat("a", 255))) // longNames' first directory
	if _, stderr, code := s.client("ls"); code != 0 {
		t.Errorf("ls after: exit %d %s", code, stderr)
	}
}

// freeBytes is what an unprivileged user may still write on dir's
// filesystem (statfs f_bavail), as the server reads it.
func freeBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var fs unix.Statfs_t
	if err := unix.Statfs(dir, &fs); err != nil {
		t.Fatal(err)
	}
	return int64(fs.Bavail) * int64(fs.Bsize)
}

// TestMinFree: with --min-free above what is free, a PUT of one byte is
// refused with 25 before CONTINUE, the connection serving on, and a TFTP
// WRQ (with tsize, or without) gets ERROR 3 as its first answer; nothing
// is stored. With --min-free 0 the same PUT is stored. The disk is not
// filled: the floor is moved, not the free space.
func TestMinFree(t *testing.T) {
	probe := t.TempDir() // the same filesystem as the servers' libraries
	// 1 GiB above: whatever else writes or frees meanwhile, still above.
	floor := strconv.FormatInt(freeBytes(t, probe)+1<<30, 10)
	s := startTFTP(t, "--workers", "1", "--min-free", floor)
	c, resp := rawRequest(t, s.addr, wire.Request{Op: wire.OpPut, Name: "one.bin", Arg: 1})
	if resp.Status != wire.ErrInternal || resp.Message != "not enough free space on the server" {
		t.Errorf("PUT of 1 byte under --min-free: %v %q, want 25 before CONTINUE", resp.Status, resp.Message)
	}
	// The same connection carries the next request: no body was owed.
	c.Write(wire.AppendRequest(nil, wire.Request{Op: wire.OpGet, Name: "one.bin"}))
	if resp, err := wire.ReadResponse(c); err != nil || resp.Status != wire.ErrNotFound {
		t.Errorf("GET after the refused PUT: %v %v, want not found", resp.Status, err)
	}
	src := filepath.Join(probe, "one.bin")
	os.WriteFile(src, []byte("x"), 0o644)
	if _, stderr, code := s.client("put", src); code != 1 || !strings.Contains(stderr, "not enough free space on the server") {
		t.Errorf("put under --min-free: exit %d %q", code, stderr)
	}
	for _, opts := range [][]tftp.Option{{{Name: tftp.OptTsize, Value: "1"}}, nil} {
		p := tftpAsk(t, s.tftp, tftp.OpWRQ, "one.bin", opts...)
		if p.Op != tftp.OpERROR || p.Code != tftp.ErrDiskFull || p.Message != "not enough free space on the server" {
			t.Errorf("WRQ with options %v under --min-free: %v code %d %q, want ERROR 3", opts, p.Op, p.Code, p.Message)
		}
	}
	noUploads(t, s.root, "one.bin")

	s0 := startServer(t, "--workers", "1", "--min-free", "0")
	if _, stderr, code := s0.client("put", src); code != 0 {
		t.Errorf("put with --min-free 0: exit %d %s", code, stderr)
	}
	sameFile(t, src, filepath.Join(s0.root, "one.bin"))
}

// longNames makes n empty files in root whose names are 1023 bytes long
// (three directories and a file name of 255 bytes each): what a listing
// holds most of per entry.
func longNames(t *testing.T, root string, n int) {
	t.Helper()
	comp := func(c byte, n int) string { return strings.Repeat(string(c), n) }
	dir := filepath.Join(root, comp('a', 255), comp('b', 255), comp('c', 255))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	d, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(d)
	for i := range n {
		fd, err := unix.Openat(d, fmt.Sprintf("%s%07d", comp('f', 248), i), unix.O_CREAT|unix.O_WRONLY, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		unix.Close(fd)
	}
}

// TestListHeld: peers that send LIST and read nothing do not each pin a
// listing: a worker holds at most internal/fileserve's maxListings (2) at
// once, the others wait at most --idle-timeout and are told 23 busy, so
// sixteen such peers on a 16 MiB listing keep the worker's peak memory
// within a few listings (each held, it was 16 listings, 270 MiB). Honest
// concurrent ls succeed after.
func TestListHeld(t *testing.T) {
	s := startServer(t, "--workers", "1", "--idle-timeout", "2s")
	pids := workerPids(s.waitLog(readyRE, 1))
	const files = 16 << 10 // 16 MiB of listing
	longNames(t, s.root, files)
	listing := int64(files * (wire.EntryFixed + 1023))
	before := vmHWM(t, pids[0])

	// Small receive buffers: the kernel takes little of each listing off
	// the worker's hands.
	dialer := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		rc.Control(func(fd uintptr) { unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, 4096) })
		return nil
	}}
	const peers = 16
	answers := make(chan wire.Status, peers)
	for range peers {
		c, err := dialer.Dial("tcp", s.addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		c.SetDeadline(time.Now().Add(30 * time.Second)) // a failing test fails, not hangs
		if _, err := c.Write(wire.AppendRequest(nil, wire.Request{Op: wire.OpList})); err != nil {
			t.Fatal(err)
		}
		go func() {
			// The header only: the listing behind it is never read.
			resp, err := wire.ReadResponse(c)
			if err != nil {
				t.Errorf("LIST: %v", err)
			}
			answers <- resp.Status
		}()
	}
	var ok, busy int
	for range peers {
		switch st := <-answers; st {
		case wire.StatusOK:
			ok++
		case wire.ErrBusy:
			busy++
		default:
			t.Errorf("LIST answered %v", st)
		}
	}
	grew := vmHWM(t, pids[0]) - before
	t.Logf("%d LISTs of %d MiB held unread: %d sent, %d busy; the worker's peak memory grew %d MiB", peers, listing>>20, ok, busy, grew>>20)
	if ok < 2 {
		t.Errorf("%d LISTs sent, want at least 2", ok)
	}
	// fileserve's maxListings held; as many freed that the GC has not yet
	// reclaimed when the next are built; the walk's names; the GC's slack.
	if grew > 6*listing {
		t.Errorf("the worker's peak memory grew %d MiB for %d unread LISTs of %d MiB", grew>>20, peers, listing>>20)
	}

	done := make(chan error, 4)
	for range cap(done) {
		go func() {
			var err error
			_, stderr, code := s.client("ls")
			if code != 0 {
				err = fmt.Errorf("ls: exit %d %s", code, stderr)
			}
			done <- err
		}()
	}
	for range cap(done) {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}
