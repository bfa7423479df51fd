package main

import (
	"errors"
	"fmt"
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

// stuckSize is the file a stuck reader asks for: far more than the socket
// buffers of both ends hold, so the server's sendfile must wait on it.
const stuckSize = 64 << 20

// bigFile puts a file of stuckSize bytes (sparse) in the library.
func bigFile(t *testing.T, root, name string) {
	t.Helper()
	f, err := os.Create(filepath.Join(root, name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(stuckSize); err != nil {
		t.Fatal(err)
	}
}

// stuckReader asks for name with a 4 KiB receive buffer, reads the
// response header, and then reads nothing: the server's body is left
// waiting on a full socket.
func stuckReader(t *testing.T, addr, name string) net.Conn {
	t.Helper()
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
		return errors.Join(err, serr)
	}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(20 * time.Second)) // a failing test fails, not hangs
	if _, err := c.Write(wire.AppendRequest(nil, wire.Request{Op: wire.OpGet, Name: name})); err != nil {
		t.Fatal(err)
	}
	resp, err := wire.ReadResponse(c) // the header alone: no read-ahead
	if err != nil || resp.Status != wire.StatusOK || resp.Size != stuckSize {
		t.Fatalf("stuck reader's response: %+v %v", resp, err)
	}
	return c
}

// wantReset reads what the server had sent before it cut c: a part of the
// body, then a reset.
func wantReset(t *testing.T, c net.Conn) {
	t.Helper()
	n, err := io.Copy(io.Discard, c)
	if !errors.Is(err, syscall.ECONNRESET) || n >= stuckSize {
		t.Errorf("a cut reader reads %d bytes then %v, want part of the body and a reset", n, err)
	}
}

// TestStuckReaderIsCut: clients that ask for a big file and never read
// hold their slots only until --idle-timeout after the last byte the
// server could send: each is cut (and logged), and a client refused busy
// meanwhile is served once they are.
func TestStuckReaderIsCut(t *testing.T) {
	s := startServer(t, "--workers", "1", "--max-conns", "2", "--idle-timeout", "1s")
	bigFile(t, s.root, "big.bin")
	start := time.Now()
	stuck := []net.Conn{stuckReader(t, s.addr, "big.bin"), stuckReader(t, s.addr, "big.bin")}
	if _, stderr, code := s.client("ls"); code != 1 || !strings.Contains(stderr, "busy") {
		t.Fatalf("a third client beside two stuck ones: exit %d %q, want busy", code, stderr)
	}
	cutRE := regexp.MustCompile(`worker\[\d+\]: 127\.0\.0\.1:\d+: get "big\.bin": no byte moved for 1s, closed$`)
	s.waitLog(cutRE, 2)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("stuck readers cut after %v, want within 5s", d)
	}
	// The log line comes once the slot is free.
	if stdout, stderr, code := s.client("ls"); code != 0 || !strings.Contains(stdout, "big.bin") {
		t.Errorf("ls once the stuck readers are cut: exit %d %q", code, stderr)
	}
	for _, c := range stuck {
		wantReset(t, c)
	}
}

// TestStuckReaderDoesNotHoldStop: a worker retired by SIGHUP, or stopped
// by SIGQUIT (which waits for transfers without a deadline), with a stuck
// reader on it exits once the reader is cut.
func TestStuckReaderDoesNotHoldStop(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGHUP, syscall.SIGQUIT} {
		t.Run(sig.String(), func(t *testing.T) {
			s := startServer(t, "--workers", "1", "--idle-timeout", "1s")
			pid := workerPids(s.waitLog(readyRE, 1))[0]
			bigFile(t, s.root, "big.bin")
			c := stuckReader(t, s.addr, "big.bin")
			start := time.Now()
			s.cmd.Process.Signal(sig)
			s.waitLog(regexp.MustCompile(fmt.Sprintf(`pid=%d exited exit=0`, pid)), 1)
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("worker exited %v after %v, want within 5s", sig, d)
			}
			s.waitLog(regexp.MustCompile(`get "big\.bin": no byte moved for 1s, closed$`), 1)
			wantReset(t, c)
			if sig == syscall.SIGQUIT {
				select {
				case <-s.done:
				case <-time.After(5 * time.Second):
					t.Fatalf("master still running:\n%s", s.logText())
				}
				if s.code != 0 {
					t.Errorf("master exit %d", s.code)
				}
			}
		})
	}
}

// TestSilentUploadCut: an upload that sends part of its body and falls
// silent is told timeout --idle-timeout after its last byte: not before,
// and not a second --idle-timeout later. Nothing is stored.
func TestSilentUploadCut(t *testing.T) {
	const idle = 2 * time.Second
	s := startServer(t, "--workers", "1", "--idle-timeout", idle.String())
	c, resp := rawRequest(t, s.addr, wire.Request{Op: wire.OpPut, Name: "up.bin", Arg: 1 << 20})
	if resp.Status != wire.StatusContinue {
		t.Fatalf("PUT answered %v", resp.Status)
	}
	last := time.Now() // before the last byte is sent: the cut cannot come sooner than idle after it
	if _, err := c.Write(make([]byte, 100<<10)); err != nil {
		t.Fatal(err)
	}
	resp, err := wire.ReadResponse(c)
	d := time.Since(last)
	if err != nil || resp.Status != wire.ErrTimeout {
		t.Fatalf("silent upload: %+v %v, want a timeout", resp, err)
	}
	if d <= idle || d >= idle*3/2 {
		t.Errorf("silent upload cut %v after its last byte, want within (%v, %v)", d, idle, idle*3/2)
	}
	s.waitLog(regexp.MustCompile(`put "up\.bin": no byte moved for 2s, closed$`), 1)
	noUploads(t, s.root, "up.bin")
}

// TestSlowHeaderCut: a header sent a byte at a time, each byte well within
// --idle-timeout of the last, is still cut --idle-timeout after the wait
// for it began: a slow-loris header holds no slot longer.
func TestSlowHeaderCut(t *testing.T) {
	const idle = time.Second
	s := startServer(t, "--workers", "1", "--idle-timeout", idle.String())
	c, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	start := time.Now()
	h := wire.AppendRequest(nil, wire.Request{Op: wire.OpGet, Name: "a-name-long-enough"})
	got := make(chan wire.Response, 1)
	go func() {
		resp, _ := wire.ReadResponse(c)
		got <- resp
	}()
	var resp wire.Response
trickle:
	for _, b := range h {
		c.Write([]byte{b})
		select {
		case resp = <-got:
			break trickle
		case <-time.After(idle / 4): // the trickle's pace, the thing tested
		}
	}
	d := time.Since(start)
	if resp.Status != wire.ErrTimeout || d < idle || d > idle*3/2 {
		t.Errorf("slow header: %v after %v, want a timeout within [%v, %v]", resp.Status, d, idle, idle*3/2)
	}
	s.waitLog(regexp.MustCompile(`no whole request within 1s, closed$`), 1)
}

// TestDrainClosesIdleKeepAlive: a stopping worker closes a connection idle
// between requests at once, without a word, however long --idle-timeout
// is: its deadline is not what ends the drain.
func TestDrainClosesIdleKeepAlive(t *testing.T) {
	s := startServer(t, "--workers", "1", "--idle-timeout", "1m")
	pid := workerPids(s.waitLog(readyRE, 1))[0]
	c, resp := rawRequest(t, s.addr, wire.Request{Op: wire.OpList})
	if resp.Status != wire.StatusOK {
		t.Fatalf("ls: %v", resp.Status)
	}
	if _, err := io.CopyN(io.Discard, c, int64(resp.Size)); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	s.cmd.Process.Signal(syscall.SIGQUIT)
	if n, err := c.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Errorf("the idle keep-alive connection read %d bytes, %v; want a plain close", n, err)
	}
	s.waitLog(regexp.MustCompile(fmt.Sprintf(`pid=%d exited exit=0`, pid)), 1)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("worker exited %v after SIGQUIT, want at once", d)
	}
	if strings.Contains(s.logText(), "closed") {
		t.Errorf("a drained connection logged as cut:\n%s", s.logText())
	}
}
