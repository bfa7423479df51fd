package main

import (
	"bufio"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sigride/sigride/internal/wire"
)

// smallTmpfs mounts a tmpfs of size bytes on a new directory, unmounted at
// the end. Mounting needs root (CAP_SYS_ADMIN): elsewhere the test is
// skipped, saying so.
func smallTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "small")
	os.Mkdir(dir, 0o755)
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v): this test needs root, as CI runs", err)
	}
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
	return dir
}

// TestDiskFull: an upload that meets ENOSPC fails with a clear message
// and leaves nothing; the server serves on, and takes uploads that fit.
func TestDiskFull(t *testing.T) {
	root := smallTmpfs(t, "1m")
	s := startServer(t, "--workers", "1", "--min-free", "0", "--root", filepath.Join(root, "library"))
	s.root = filepath.Join(root, "library") // the later --root wins
	dir := t.TempDir()
	big := randomFile(t, dir, 3<<20)
	_, stderr, code := s.client("put", big, "--as", "big.bin", "--quiet")
	if code != 1 || !strings.Contains(stderr, "no space left on the server; nothing stored") || strings.Count(stderr, "\n") != 1 {
		t.Errorf("put over a full disk: exit %d %q", code, stderr)
	}
	noUploads(t, s.root, "big.bin")
	// The connection that met the full disk carries the next request: the
	// server read the rest of the body and its sum, and no byte more.
	c, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	br := bufio.NewReader(c)
	c.Write(wire.AppendRequest(nil, wire.Request{Op: wire.OpPut, Name: "big2.bin", Arg: 3 << 20}))
	if resp, err := wire.ReadResponse(br); err != nil || resp.Status != wire.StatusContinue {
		t.Fatalf("PUT: %+v %v", resp, err)
	}
	sent := make(chan error, 1)
	go func() {
		_, err := c.Write(make([]byte, (3<<20)+wire.SumSize)) // body and sum
		sent <- err
	}()
	if resp, err := wire.ReadResponse(br); err != nil || resp.Status != wire.ErrInternal {
		t.Fatalf("PUT over a full disk: %+v %v", resp, err)
	}
	if err := <-sent; err != nil {
		t.Fatalf("the body: %v", err)
	}
	c.Write(wire.AppendRequest(nil, wire.Request{Op: wire.OpList}))
	if resp, err := wire.ReadResponse(br); err != nil || resp.Status != wire.StatusOK {
		t.Errorf("LIST after a full disk, same connection: %+v %v", resp, err)
	}
	small := randomFile(t, dir, 1000)
	if _, stderr, code := s.client("put", small, "--as", "small.bin"); code != 0 {
		t.Errorf("put after the full disk: exit %d %s", code, stderr)
	}
	sameFile(t, small, filepath.Join(s.root, "small.bin"))
	// TFTP: ERROR 3, nothing stored.
	s2 := startTFTP(t, "--workers", "1", "--min-free", "0", "--root", filepath.Join(root, "library2"))
	s2.root = filepath.Join(root, "library2")
	out, _ := runTool(t, dir, "tftp", append(strings.Split(strings.Replace(s2.tftp, ":", " ", 1), " "), "-m", "octet", "-c", "put", big, "big.bin")...)
	if !strings.Contains(out, "Error code 3") {
		t.Errorf("tftp put over a full disk: %q", out)
	}
	noUploads(t, s2.root, "big.bin")
}

// TestOutOfFDs: a worker under a low `ulimit -n` answers the connections
// it cannot hold with busy, and serves again once some close.
func TestOutOfFDs(t *testing.T) {
	wrapper := filepath.Join(t.TempDir(), "fileserver-lowfds")
	script := "#!/bin/sh\nulimit -n 40 || exit 3\nexec " + bin + " \"$@\"\n"
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	saved := bin
	bin = wrapper
	s := startServer(t, "--workers", "1")
	bin = saved
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	busy := false
	for i := 0; i < 100 && !busy; i++ {
		c, err := net.Dial("tcp", s.addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		c.Write(wire.AppendRequest(nil, wire.Request{Op: wire.OpList}))
		resp, err := wire.ReadResponse(c)
		switch {
		case err != nil:
			t.Fatalf("connection %d: %v", i, err)
		case resp.Status == wire.ErrBusy:
			busy = true
			if !strings.Contains(resp.Message, "out of file descriptors") {
				t.Errorf("busy message %q", resp.Message)
			}
			c.Close()
		default:
			io.CopyN(io.Discard, c, int64(resp.Size))
			held = append(held, c)
		}
	}
	if !busy {
		t.Fatalf("%d connections held under ulimit -n 40, none refused", len(held))
	}
	s.waitLog(regexp.MustCompile(`too many open files: telling the client busy`), 1)
	for _, c := range held {
		c.Close()
	}
	held = nil
	// Served again: the closes free descriptors (retried until the worker
	// has seen them close).
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, stderr, code := s.client("ls")
		if code == 0 {
			break
		}
		if time.Now().After(deadline) || !strings.Contains(stderr, "busy") {
			t.Fatalf("ls after the connections closed: exit %d %s", code, stderr)
		}
		time.Sleep(10 * time.Millisecond) // the worker reads the closes as it can
	}
}
