package fileserve

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/sigride/sigride/internal/library"
	"github.com/sigride/sigride/internal/wire"
)

// testIdle is far beyond what a test waits for: a connection closed
// within a test's life was closed by Shutdown, not cut by Idle.
const testIdle = time.Minute

// testServer is a Server on 127.0.0.1 serving a library in a temp dir.
type testServer struct {
	*Server
	root   string
	addr   string
	served chan error // what Serve returned
	accept chan struct{}
}

// noticeListener tells of each connection Accept hands over: a test can
// know its connection is the server's before it shuts the server down.
type noticeListener struct {
	net.Listener
	accepted chan<- struct{}
}

func (l noticeListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.accepted <- struct{}{}
	}
	return c, err
}

func startServer(t *testing.T) *testServer {
	t.Helper()
	root := t.TempDir()
	lib, err := library.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lib.Close() })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &testServer{
		Server: &Server{Store: lib, Idle: testIdle, Log: t.Logf},
		root:   root, addr: ln.Addr().String(),
		served: make(chan error, 1), accept: make(chan struct{}, 16),
	}
	go func() { s.served <- s.Serve(noticeListener{ln, s.accept}) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown at cleanup: %v", err)
		}
	})
	return s
}

// put writes a file of n random-looking bytes into the library's dir.
func (s *testServer) put(t *testing.T, name string, n int) []byte {
	t.Helper()
	data := make([]byte, n)
	for i := range data {
		data[i] = byte(i*7 + i>>11)
	}
	if err := os.WriteFile(filepath.Join(s.root, name), data, 0o644); err != nil {
		t.Fatal(err)
	}
	return data
}

// dial connects and waits until the server has accepted the connection.
// Its receive buffer is fixed small: the kernel grows a reader's (up to
// tcp_rmem's maximum, 32 MiB on some machines), and a GET left unread
// might then not be in flight.
func (s *testServer) dial(t *testing.T) net.Conn {
	t.Helper()
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var err error
		rc.Control(func(fd uintptr) { err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 64<<10) })
		return err
	}}
	c, err := d.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(30 * time.Second)) // a failing test fails, not hangs
	<-s.accept
	return c
}

// shutdown runs Shutdown(ctx) in the background; its result comes on the
// channel.
func (s *testServer) shutdown(ctx context.Context) <-chan error {
	done := make(chan error, 1)
	go func() { done <- s.Shutdown(ctx) }()
	return done
}

func send(t *testing.T, c net.Conn, req wire.Request) {
	t.Helper()
	if _, err := c.Write(wire.AppendRequest(nil, req)); err != nil {
		t.Fatal(err)
	}
}

// readGet reads a GET's response and body, and checks both.
func readGet(t *testing.T, r io.Reader, want []byte) {
	t.Helper()
	resp, err := wire.ReadResponse(r)
	if err != nil || resp.Status != wire.StatusOK {
		t.Fatalf("GET: %+v, %v", resp, err)
	}
	readBody(t, r, resp, want)
}

func readBody(t *testing.T, r io.Reader, resp wire.Response, want []byte) {
	t.Helper()
	got := make([]byte, resp.Size)
	if _, err := io.ReadFull(r, got); err != nil {
		t.Fatalf("GET body: %v", err)
	}
	if !bytes.Equal(got, want) || sha256.Sum256(got) != resp.Sum {
		t.Fatalf("GET body: %d bytes, not the file's %d or not its sum", len(got), len(want))
	}
}

// wantClosed checks that the server closed c: EOF, no byte more.
func wantClosed(t *testing.T, r io.Reader) {
	t.Helper()
	if n, err := r.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Errorf("read after the drain: %d bytes, %v; want EOF", n, err)
	}
}

func wantServeClosed(t *testing.T, s *testServer) {
	t.Helper()
	if err := <-s.served; !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve returned %v, want ErrServerClosed", err)
	}
}

// TestShutdownClosesIdleKeepAlive: a connection idle between requests is
// closed at once, so Shutdown returns long before Idle.
func TestShutdownClosesIdleKeepAlive(t *testing.T) {
	s := startServer(t)
	data := s.put(t, "a", 1000)
	c := s.dial(t)
	br := bufio.NewReader(c)
	send(t, c, wire.Request{Op: wire.OpGet, Name: "a"})
	readGet(t, br, data)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown with an idle keep-alive connection: %v", err)
	}
	wantClosed(t, br)
	wantServeClosed(t, s)
}

// TestShutdownServesFirstRequest: a connection accepted before Shutdown
// that has carried no request yet has its first one served, then closes.
func TestShutdownServesFirstRequest(t *testing.T) {
	s := startServer(t)
	data := s.put(t, "a", 1000)
	c := s.dial(t)
	done := s.shutdown(context.Background())
	wantServeClosed(t, s) // Shutdown has begun: the listener is closed
	br := bufio.NewReader(c)
	send(t, c, wire.Request{Op: wire.OpGet, Name: "a"})
	readGet(t, br, data)
	wantClosed(t, br)
	if err := <-done; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

// bigFile is larger than what the kernel buffers of a loopback
// connection hold, the sender's (tcp_wmem, 4 MiB at most by default) and
// the receiver's (dial's): a GET of it unread is in flight, its sendfile
// waiting for the peer.
const bigFile = 32 << 20

// TestShutdownLetsGetFinish: a GET in flight when Shutdown begins sends
// its whole file; Shutdown returns once it has, and the connection is
// closed after it.
func TestShutdownLetsGetFinish(t *testing.T) {
	s := startServer(t)
	data := s.put(t, "big", bigFile)
	c := s.dial(t)
	br := bufio.NewReader(c)
	send(t, c, wire.Request{Op: wire.OpGet, Name: "big"})
	resp, err := wire.ReadResponse(br) // the header is out: the GET is in flight
	if err != nil || resp.Status != wire.StatusOK {
		t.Fatalf("GET: %+v, %v", resp, err)
	}
	done := s.shutdown(context.Background())
	wantServeClosed(t, s)
	readBody(t, br, resp, data)
	wantClosed(t, br)
	if err := <-done; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

// TestShutdownContextEnds: Shutdown returns ctx's error when ctx ends
// before a GET in flight does; the GET still finishes, and a Shutdown
// after it returns nil.
func TestShutdownContextEnds(t *testing.T) {
	s := startServer(t)
	data := s.put(t, "big", bigFile)
	c := s.dial(t)
	br := bufio.NewReader(c)
	send(t, c, wire.Request{Op: wire.OpGet, Name: "big"})
	resp, err := wire.ReadResponse(br)
	if err != nil || resp.Status != wire.StatusOK {
		t.Fatalf("GET: %+v, %v", resp, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Shutdown(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Shutdown with an ended ctx and a GET in flight: %v, want context.Canceled", err)
	}
	wantServeClosed(t, s)
	readBody(t, br, resp, data)
	wantClosed(t, br)
	if err := s.Shutdown(context.Background()); err != nil {
		t.Errorf("Shutdown once the GET is done: %v", err)
	}
}

// TestServeAfterShutdown: a Serve called after Shutdown returns
// ErrServerClosed at once and closes its listener; a Shutdown with
// nothing left to wait for returns nil, ended ctx or not.
func TestServeAfterShutdown(t *testing.T) {
	s := startServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown of an idle server, ctx ended: %v, want nil", err)
	}
	wantServeClosed(t, s)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Serve(ln); !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve after Shutdown: %v, want ErrServerClosed", err)
	}
	if _, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Accept on the listener Serve returned from: %v, want net.ErrClosed", err)
	}
	if !s.Alive() {
		t.Error("Alive false after Shutdown")
	}
}

// TestServeStopsOnItsOwn: a listener closed behind the server's back
// ends Serve with an error, not ErrServerClosed: its caller must hear of
// it.
func TestServeStopsOnItsOwn(t *testing.T) {
	s := &Server{Log: t.Logf}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	ln.Close()
	if err := <-served; err == nil || errors.Is(err, ErrServerClosed) || !errors.Is(err, net.ErrClosed) {
		t.Errorf("Serve on a listener closed under it: %v, want an error wrapping net.ErrClosed", err)
	}
}
