package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sigride/sigride/internal/proctest"
	"github.com/sigride/sigride/internal/wire"
)

// clientBound is the most any client command in these tests may take: a
// client that hangs is killed at it and fails its test.
const clientBound = 15 * time.Second

// runClient runs the client binary with args, killed at clientBound, and
// returns its output, exit code and how long it ran.
func runClient(t *testing.T, args ...string) (string, string, int, time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), clientBound)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = t.TempDir() // a relative name ("-" taken for a file) lands there
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	code := exitCode(cmd.Run())
	took := time.Since(start)
	if ctx.Err() != nil {
		t.Fatalf("fileserver %s: still running after %v (killed)\nstderr: %s", strings.Join(args, " "), clientBound, stderr.String())
	}
	return stdout.String(), stderr.String(), code, took
}

// TestClientTimeoutNoWorkers: a server whose workers are all retired
// (SIGTTOU down to 0) still completes connections in the kernel's backlog
// and answers nothing: ls gives up after --timeout with one line, exit 1.
func TestClientTimeoutNoWorkers(t *testing.T) {
	s := startServer(t, "--workers", "1")
	pids := workerPids(s.waitLog(readyRE, 1))
	s.cmd.Process.Signal(syscall.SIGTTOU)
	s.waitLog(regexp.MustCompile(`SIGTTOU: 0 workers`), 1)
	s.waitLog(regexp.MustCompile(fmt.Sprintf(`pid=%d exited`, pids[0])), 1)
	_, stderr, code, took := runClient(t, "ls", "--timeout", "1s", "--addr", s.addr)
	want := fmt.Sprintf("fileserver: ls: no answer from %s for 1s\n", s.addr)
	if code != 1 || stderr != want {
		t.Errorf("ls against 0 workers: exit %d %q, want 1 %q", code, stderr, want)
	}
	if took < time.Second || took > 5*time.Second {
		t.Errorf("ls gave up after %v, want about 1s", took)
	}
}

// fakeServer accepts on 127.0.0.1 and runs serve on each connection; the
// connections stay open (silent) until the test ends.
func fakeServer(t *testing.T, serve func(c net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	proctest.FakeServer(t, ln, serve)
	return ln.Addr().String()
}

// TestClientTimeoutGetSilent: a server that sends half a download and then
// goes silent: get gives up after --timeout, exit 1, one line, the .part
// kept with the half.
func TestClientTimeoutGetSilent(t *testing.T) {
	data := bytes.Repeat([]byte("silence "), 125) // 1000 bytes
	addr := fakeServer(t, func(c net.Conn) {
		req, _ := wire.ReadRequest(c)
		c.Write(wire.AppendResponse(nil, wire.Response{Status: wire.StatusOK, Size: uint64(len(data)), Offset: req.Arg, Sum: sha256.Sum256(data)}))
		c.Write(data[:500])
	})
	dst := filepath.Join(t.TempDir(), "f")
	_, stderr, code, took := runClient(t, "get", "f", "-o", dst, "--timeout", "1s", "--addr", addr)
	want := fmt.Sprintf(`fileserver: get "f": no answer from %s for 1s, after 500 of 1000 bytes (%s.part kept: --continue resumes)`+"\n", addr, dst)
	if code != 1 || stderr != want {
		t.Errorf("get from a silent server: exit %d %q, want 1 %q", code, stderr, want)
	}
	if took < time.Second || took > 5*time.Second {
		t.Errorf("get gave up after %v, want about 1s", took)
	}
	if fi, err := os.Stat(dst + ".part"); err != nil || fi.Size() != 500 {
		t.Errorf(".part: %v", err)
	}
}

// TestClientTimeoutIsSilence: a download that takes longer than --timeout
// but never pauses that long completes: the deadline bounds silence, not
// the transfer.
func TestClientTimeoutIsSilence(t *testing.T) {
	data := bytes.Repeat([]byte("slow but steady "), 64) // 1024 bytes
	addr := fakeServer(t, func(c net.Conn) {
		req, _ := wire.ReadRequest(c)
		c.Write(wire.AppendResponse(nil, wire.Response{Status: wire.StatusOK, Size: uint64(len(data)), Offset: req.Arg, Sum: sha256.Sum256(data)}))
		for i := 0; i < len(data); i += 128 {
			time.Sleep(300 * time.Millisecond) // the peer's pace is what is tested, not a synchronisation
			c.Write(data[i : i+128])
		}
	})
	dst := filepath.Join(t.TempDir(), "f")
	_, stderr, code, took := runClient(t, "get", "f", "-o", dst, "--timeout", "1s", "--addr", addr)
	if code != 0 {
		t.Fatalf("slow download: exit %d %s", code, stderr)
	}
	if took < 2*time.Second {
		t.Errorf("took %v: the server's pace was not kept", took)
	}
	if got, _ := os.ReadFile(dst); !bytes.Equal(got, data) {
		t.Error("slow download differs")
	}
}

// TestClientTimeoutPutSilent: a server that says CONTINUE and then reads
// nothing: put's sendfile stalls once the socket buffers are full, and the
// client gives up after --timeout.
func TestClientTimeoutPutSilent(t *testing.T) {
	addr := fakeServer(t, func(c net.Conn) {
		wire.ReadRequest(c)
		c.Write(wire.AppendResponse(nil, wire.Response{Status: wire.StatusContinue}))
	})
	src := randomFile(t, t.TempDir(), 64<<20) // more than loopback's buffers hold
	_, stderr, code, took := runClient(t, "put", src, "--as", "f", "--timeout", "1s", "--addr", addr)
	re := regexp.MustCompile(fmt.Sprintf(`^fileserver: put "f": no answer from %s for 1s, after \d+ of %d bytes\n$`, regexp.QuoteMeta(addr), 64<<20))
	if code != 1 || !re.MatchString(stderr) {
		t.Errorf("put to a server that reads nothing: exit %d %q, want 1 and %v", code, stderr, re)
	}
	if took < time.Second || took > 5*time.Second {
		t.Errorf("put gave up after %v, want about 1s", took)
	}
}

// TestClientTimeoutUsage: --timeout must be positive.
func TestClientTimeoutUsage(t *testing.T) {
	for _, cmd := range []string{"ls", "bench"} {
		_, stderr, code, _ := runClient(t, cmd, "--timeout", "0s")
		if code != 2 || !strings.Contains(stderr, "--timeout 0s: must be positive") {
			t.Errorf("%s --timeout 0s: exit %d %q", cmd, code, stderr)
		}
	}
}

// TestGetOutputRule: what is at -o PATH decides how the download is
// written: a device and a FIFO are written into, never replaced; "-" is
// stdout; a symlink to a file keeps the link; a planted PATH.part symlink
// is refused and its target left whole.
func TestGetOutputRule(t *testing.T) {
	s := startServer(t, "--workers", "1")
	dir := t.TempDir()
	src := randomFile(t, dir, 300_000)
	want, _ := os.ReadFile(src)
	if _, stderr, code := s.client("put", src, "--as", "f.bin"); code != 0 {
		t.Fatal(stderr)
	}

	t.Run("char device", func(t *testing.T) {
		dev := proctest.NullDevice(t, filepath.Join(t.TempDir(), "null"))
		if _, stderr, code, _ := runClient(t, "get", "f.bin", "-o", dev, "--addr", s.addr); code != 0 {
			t.Fatalf("exit %d %s", code, stderr)
		}
		proctest.IsType(t, dev, os.ModeDevice|os.ModeCharDevice)
		if ents, _ := os.ReadDir(filepath.Dir(dev)); len(ents) != 1 {
			t.Errorf("left: %v", ents)
		}
	})

	t.Run("fifo", func(t *testing.T) {
		fifo := filepath.Join(t.TempDir(), "fifo")
		unix.Mkfifo(fifo, 0o644)
		// No reader: an error at once, not an open that waits for ever.
		_, stderr, code, _ := runClient(t, "get", "f.bin", "-o", fifo, "--addr", s.addr)
		if code != 1 || !strings.Contains(stderr, "a FIFO with no reader") || strings.Count(stderr, "\n") != 1 {
			t.Errorf("no reader: exit %d %q", code, stderr)
		}
		// A reader gets every byte. Opened read-write, the reader counts as a
		// reader at once, and sees no EOF before the client opens.
		r, err := os.OpenFile(fifo, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		r.SetReadDeadline(time.Now().Add(clientBound)) // r is in Go's poller
		got := make(chan []byte, 1)
		go func() {
			b := make([]byte, len(want))
			n, _ := io.ReadFull(r, b)
			got <- b[:n]
		}()
		if _, stderr, code, _ := runClient(t, "get", "f.bin", "-o", fifo, "--addr", s.addr); code != 0 {
			t.Fatalf("exit %d %s", code, stderr)
		}
		if b := <-got; !bytes.Equal(b, want) {
			t.Errorf("the FIFO's reader got %d bytes, want the file's %d", len(b), len(want))
		}
		// Nothing more: the client has exited, so anything it wrote is in the pipe.
		rc, _ := r.SyscallConn()
		var extra int
		rc.Control(func(fd uintptr) { extra, _ = unix.Read(int(fd), make([]byte, 1)) })
		if extra > 0 {
			t.Error("the FIFO's reader got more than the file")
		}
		proctest.IsType(t, fifo, os.ModeNamedPipe)
		if _, stderr, code, _ := runClient(t, "get", "f.bin", "-o", fifo, "--continue", "--addr", s.addr); code != 1 || !strings.Contains(stderr, "nothing to resume") {
			t.Errorf("--continue into a FIFO: exit %d %q", code, stderr)
		}
	})

	t.Run("stdout", func(t *testing.T) {
		wd := t.TempDir()
		cmd := exec.Command(bin, "get", "f.bin", "-o", "-", "--addr", s.addr)
		cmd.Dir = wd
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("%v: %s", err, stderr.String())
		}
		if !bytes.Equal(stdout.Bytes(), want) {
			t.Errorf("stdout got %d bytes, want %d", stdout.Len(), len(want))
		}
		if ents, _ := os.ReadDir(wd); len(ents) != 0 {
			t.Errorf("left: %v", ents)
		}
		if _, stderr, code, _ := runClient(t, "get", "f.bin", "-o", "-", "--continue", "--addr", s.addr); code != 2 || !strings.Contains(stderr, "stdout has nothing to resume") {
			t.Errorf("--continue to stdout: exit %d %q", code, stderr)
		}
	})

	t.Run("symlink", func(t *testing.T) {
		d := t.TempDir()
		target, link := filepath.Join(d, "target"), filepath.Join(d, "link")
		os.WriteFile(target, []byte("old"), 0o644)
		os.Symlink("target", link)
		if _, stderr, code, _ := runClient(t, "get", "f.bin", "-o", link, "--addr", s.addr); code != 0 {
			t.Fatalf("exit %d %s", code, stderr)
		}
		proctest.IsType(t, link, os.ModeSymlink)
		if b, _ := os.ReadFile(target); !bytes.Equal(b, want) {
			t.Error("the link's target does not hold the download")
		}
	})

	t.Run("planted part", func(t *testing.T) {
		d := t.TempDir()
		victim := filepath.Join(d, "victim")
		os.WriteFile(victim, []byte("keep me\n"), 0o644)
		dst := filepath.Join(d, "out")
		os.Symlink(victim, dst+".part")
		for _, args := range [][]string{{}, {"--continue"}} {
			_, stderr, code, _ := runClient(t, append([]string{"get", "f.bin", "-o", dst, "--addr", s.addr}, args...)...)
			if code != 1 || !strings.Contains(stderr, "a symlink, refused") || strings.Count(stderr, "\n") != 1 {
				t.Errorf("%v: exit %d %q", args, code, stderr)
			}
		}
		if b, _ := os.ReadFile(victim); string(b) != "keep me\n" {
			t.Errorf("the planted symlink's target now holds %d bytes", len(b))
		}
		proctest.IsType(t, dst+".part", os.ModeSymlink)
	})

	t.Run("directory", func(t *testing.T) {
		d := t.TempDir()
		_, stderr, code, _ := runClient(t, "get", "f.bin", "-o", d, "--addr", s.addr)
		if code != 1 || !strings.Contains(stderr, "is a directory: refused") {
			t.Errorf("exit %d %q", code, stderr)
		}
	})
}

// TestGetIntoChecksum: written into a device as it comes, a download whose
// bytes do not match the sum exits 1 once they are out.
func TestGetIntoChecksum(t *testing.T) {
	data := []byte("the bytes sent")
	addr := fakeServer(t, func(c net.Conn) {
		wire.ReadRequest(c)
		c.Write(wire.AppendResponse(nil, wire.Response{Status: wire.StatusOK, Size: uint64(len(data)), Sum: sha256.Sum256([]byte("something else"))}))
		c.Write(data)
	})
	dev := proctest.NullDevice(t, filepath.Join(t.TempDir(), "null"))
	_, stderr, code, _ := runClient(t, "get", "f", "-o", dev, "--addr", addr)
	if code != 1 || !strings.Contains(stderr, "checksum mismatch: the 14 bytes written to "+dev+" are not the file") {
		t.Errorf("exit %d %q", code, stderr)
	}
	proctest.IsType(t, dev, os.ModeDevice|os.ModeCharDevice)
}

// TestGetTooBig: a server announcing more than the disk holds is refused
// before a byte is written, and the .part goes.
func TestGetTooBig(t *testing.T) {
	addr := fakeServer(t, func(c net.Conn) {
		wire.ReadRequest(c)
		c.Write(wire.AppendResponse(nil, wire.Response{Status: wire.StatusOK, Size: 1 << 62}))
		io.Copy(c, io.LimitReader(zeros{}, 1<<20))
	})
	dst := filepath.Join(t.TempDir(), "f")
	_, stderr, code, _ := runClient(t, "get", "f", "-o", dst, "--addr", addr)
	if code != 1 || !strings.Contains(stderr, fmt.Sprintf("%d bytes to write and", uint64(1<<62))) {
		t.Errorf("exit %d %q", code, stderr)
	}
	if _, err := os.Lstat(dst + ".part"); err == nil {
		t.Error("an empty .part was left")
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }
