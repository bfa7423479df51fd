package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

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
	// Three directories and a file name of 255 bytes: names of 1023 bytes.
	comp := func(c byte, n int) string { return strings.Repeat(string(c), n) }
	dir := filepath.Join(s.root, comp('a', 255), comp('b', 255), comp('c', 255))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	d, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	n := wire.MaxListBody/(wire.EntryFixed+1023) + 100
	for i := range n {
		fd, err := unix.Openat(d, fmt.Sprintf("%s%07d", comp('f', 248), i), unix.O_CREAT|unix.O_WRONLY, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		unix.Close(fd)
	}
	unix.Close(d)
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
	os.RemoveAll(filepath.Join(s.root, comp('a', 255)))
	if _, stderr, code := s.client("ls"); code != 0 {
		t.Errorf("ls after: exit %d %s", code, stderr)
	}
}
