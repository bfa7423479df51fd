package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sigride/sigride/internal/cli"
	"github.com/sigride/sigride/internal/library"
	"github.com/sigride/sigride/internal/lineout"
	"github.com/sigride/sigride/internal/peerio"
	"github.com/sigride/sigride/internal/prefork"
	"github.com/sigride/sigride/internal/tftp"
	"github.com/sigride/sigride/internal/wire"
)

// runWorker serves connections until SIGTERM, SIGINT or SIGQUIT, or the
// master's end of the control socket closes; then it stops accepting, lets
// the transfers in flight finish, and exits 0. A worker takes no argument:
// its master sends it its configuration (workerConfig) and names the files
// it inherits (prefork.File), so that it is not for running by hand.
func runWorker(args []string, sigs <-chan os.Signal, stderr io.Writer) error {
	if len(args) > 0 {
		fmt.Fprintln(stderr, "usage: fileserver worker (started by \"fileserver serve\", which configures it; no arguments)")
		return &cli.UsageError{Err: fmt.Errorf("unexpected argument %q", args[0])}
	}
	var cfg workerConfig
	w, err := prefork.Join(&cfg)
	if err != nil {
		return err
	}
	defer w.Close()
	lib, err := library.Open(cfg.Root)
	if err != nil {
		return err
	}
	defer lib.Close()
	lib.SetMinFree(cfg.MinFree)
	log := lineout.NewLogger(stderr, fmt.Sprintf("fileserver worker[%d]: ", os.Getpid()))
	defer log.Close()
	s := &server{
		lib: lib, maxUpload: cfg.MaxUpload, idle: cfg.IdleTimeout, maxConns: int64(cfg.MaxConns),
		logf:  log.Logf,
		conns: map[net.Conn]*connState{},
		lists: make(chan struct{}, maxListings),
	}
	accepted := make(chan error, 1)
	go func() { accepted <- s.accept(w.Listener) }()
	var udp *net.UDPConn
	tftpDone := make(chan error, 1)
	tsrv := &tftp.Server{Store: tftpStore{lib}, Ports: cfg.TFTPPorts, ReadOnly: cfg.TFTPReadOnly,
		MaxUpload: cfg.MaxUpload, Retries: cfg.TFTPRetries, Idle: cfg.IdleTimeout, MaxTransfers: cfg.MaxConns, Log: s.logf}
	if f := prefork.File(tftpSocket); f != nil {
		pc, err := net.FilePacketConn(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("inherited tftp socket: %w", err)
		}
		udp = pc.(*net.UDPConn)
		go func() { tftpDone <- tsrv.Serve(udp) }()
	}
	if err := w.Ready(s.alive); err != nil {
		return err
	}
	select {
	case <-sigs:
	case <-w.Gone():
		s.logf("master gone: stopping")
	case err := <-accepted:
		return fmt.Errorf("accept: %w", err)
	case err := <-tftpDone:
		return fmt.Errorf("tftp: %w", err)
	}
	if udp != nil { // no new TFTP requests; those under way finish
		udp.Close()
		<-tftpDone
	}
	s.drain(w.Listener, accepted)
	tsrv.Wait()
	return nil
}

// alive is asked before each heartbeat: the worker can still serve if its
// connection table can be taken (no goroutine holds it wedged). A worker
// busy with long transfers, or at --max-conns, is alive.
func (s *server) alive() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return true
}

// server serves the protocol from a library, one goroutine a connection.
type server struct {
	lib       *library.Library
	maxUpload int64
	idle      time.Duration
	maxConns  int64
	logf      func(format string, a ...any)

	active   atomic.Int64
	draining atomic.Bool
	wg       sync.WaitGroup
	mu       sync.Mutex
	conns    map[net.Conn]*connState
	lists    chan struct{} // a token per listing alive: see list
	listMu   sync.Mutex
	building *listing // the listing being built, which a LIST joins
}

// connState is what drain needs to know of a connection, under s.mu.
type connState struct {
	busy    bool // a request is in flight
	served  int  // requests answered so far
	closing bool // drain closes it: it takes no further request
}

// accept accepts until the listener closes. Out of file descriptors, a
// worker still answers: it keeps one in reserve (/dev/null), gives it up
// to accept the connection waiting, tells it busy, closes it and takes
// the reserve back, as a client deserves better than a connection that
// hangs in the backlog.
func (s *server) accept(ln net.Listener) error {
	reserve, _ := os.Open(os.DevNull)
	defer func() { reserve.Close() }()
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			if errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
				reserve = s.refuseNoFDs(ln, reserve, err)
				continue
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				s.logf("accept: %v", err)
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return err
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serveConn(c)
		}()
	}
}

// refuseNoFDs answers the connection that could not be accepted for want
// of a descriptor with busy, using the reserve; it returns the new reserve.
func (s *server) refuseNoFDs(ln net.Listener, reserve *os.File, err error) *os.File {
	s.logf("accept: %v: telling the client busy", err)
	if reserve == nil {
		time.Sleep(10 * time.Millisecond) // no reserve left: let some close
		r, _ := os.Open(os.DevNull)
		return r
	}
	reserve.Close()
	if nc, err := ln.Accept(); err == nil {
		if c, err := peerio.New(nc, s.idle); err == nil {
			s.reply(c, wire.Response{Status: wire.ErrBusy, Message: "the server is out of file descriptors; try again"})
		}
		nc.Close()
	}
	r, _ := os.Open(os.DevNull)
	if r == nil {
		time.Sleep(10 * time.Millisecond)
	}
	return r
}

// drain stops accepting, waits for the accept loop to end, then for the
// connections. A connection idle
// between requests (keep-alive) is closed at once, as a client of such a
// connection must expect; one that has not carried a request yet gets its
// first one served, for its request may be on its way already; a busy one
// finishes its request. Then each closes.
func (s *server) drain(ln net.Listener, acceptDone <-chan error) {
	s.draining.Store(true)
	ln.Close()
	// An Accept under way may still hand over a connection: only once the
	// accept loop has returned is every connection counted in wg (else one
	// could be left unread as the worker exits, and reset).
	<-acceptDone
	s.mu.Lock()
	for c, st := range s.conns {
		if !st.busy && st.served > 0 {
			st.closing = true
			c.SetReadDeadline(time.Now()) // wakes its read of a header
		}
	}
	s.mu.Unlock()
	s.wg.Wait()
}
