package peerio

import (
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// pair returns the two ends of a TCP connection on 127.0.0.1: the server's
// wrapped with idle, and the client's. Both are closed at the test's end.
func pair(t *testing.T, idle time.Duration) (*Conn, *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	sc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(sc, idle)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); cc.Close() })
	cc.SetDeadline(time.Now().Add(20 * time.Second)) // a failing test fails, not hangs
	return c, cc.(*net.TCPConn)
}

func wantSilence(t *testing.T, err error, op string) {
	t.Helper()
	var se *SilenceError
	if !errors.As(err, &se) || se.Op != op || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("%v, want a %s silence", err, op)
	}
}

// TestWriteProgress: a peer that reads slowly but steadily is served to
// the end, though the whole write lasts many times Idle; one that stops
// reading is cut about Idle after it stopped, and the close resets it.
func TestWriteProgress(t *testing.T) {
	const idle = 300 * time.Millisecond
	c, cc := pair(t, idle)
	c.nc.(*net.TCPConn).SetWriteBuffer(16 << 10)
	cc.SetReadBuffer(16 << 10)
	body := make([]byte, 2<<20)
	done := make(chan error, 1)
	start := time.Now()
	go func() { _, err := c.Write(body); done <- err }()
	buf := make([]byte, 32<<10)
	for got := 0; got < len(body); {
		n, err := cc.Read(buf)
		if err != nil {
			t.Fatalf("read at %d: %v", got, err)
		}
		got += n
		time.Sleep(idle / 10) // the slow reader's pace, the thing tested
	}
	if err := <-done; err != nil {
		t.Fatalf("slow reader cut: %v", err)
	}
	if d := time.Since(start); d < 2*idle {
		t.Fatalf("the write took %v: not slow enough to show anything", d)
	}

	// Now a reader that never reads: the file goes out by sendfile.
	f, err := os.Create(filepath.Join(t.TempDir(), "big"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.Truncate(64 << 20)
	start = time.Now()
	sent, err := c.SendFile(f, 0, 64<<20)
	wantSilence(t, err, "write")
	if d := time.Since(start); d < idle || d > idle+2*time.Second || sent == 64<<20 {
		t.Fatalf("sent %d bytes and cut after %v, want cut after about %v", sent, d, idle)
	}
	c.Close()
	for {
		if _, err := cc.Read(buf); err != nil {
			if !errors.Is(err, syscall.ECONNRESET) {
				t.Fatalf("after the cut the peer reads %v, want a reset", err)
			}
			break
		}
	}
}

// TestReadSilence: a body that stops coming is cut Idle after its last
// byte, not Idle after some earlier renewal; one that trickles is received.
func TestReadSilence(t *testing.T) {
	const idle = 400 * time.Millisecond
	c, cc := pair(t, idle)
	f, err := os.Create(filepath.Join(t.TempDir(), "up"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// A trickle: 20 writes idle/4 apart, 5 times Idle in all.
	go func() {
		for range 20 {
			cc.Write(make([]byte, 1000))
			time.Sleep(idle / 4) // the sender's pace, the thing tested
		}
	}()
	if n, err := c.ReceiveFile(f, 20000); err != nil || n != 20000 {
		t.Fatalf("trickle: %d bytes, %v", n, err)
	}
	// Then a part, and silence.
	before := time.Now()
	cc.Write(make([]byte, 5000))
	_, err = c.ReceiveFile(f, 10000)
	wantSilence(t, err, "read")
	if d := time.Since(before); d < idle || d > idle*3/2 {
		t.Fatalf("cut %v after the last byte, want within [%v, %v]", d, idle, idle*3/2)
	}
	// Read, the same; and no deadline is left over to cut the next call.
	before = time.Now()
	_, err = c.Read(make([]byte, 10))
	wantSilence(t, err, "read")
	if d := time.Since(before); d < idle || d > idle*3/2 {
		t.Fatalf("read cut after %v, want within [%v, %v]", d, idle, idle*3/2)
	}
	go func() {
		time.Sleep(idle / 2) // past the deadline the last wait armed
		cc.Write([]byte("late"))
	}()
	if b, err := io.ReadAll(io.LimitReader(c, 4)); err != nil || string(b) != "late" {
		t.Fatalf("read after a wait: %q %v", b, err)
	}
	if c.Silence() == nil || c.Silence().Op != "read" {
		t.Fatalf("Silence() = %v", c.Silence())
	}
}
