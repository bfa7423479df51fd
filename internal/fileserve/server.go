package fileserve

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sigride/sigride/internal/library"
	"github.com/sigride/sigride/internal/peerio"
	"github.com/sigride/sigride/internal/wire"
)

// Store is what a Server serves from: *library.Library, whose names,
// checks, atomic uploads and bounded listings the protocol relies on. Its
// errors are the library's (library.ErrNotFound, *library.NameError...),
// each answered with its status.
type Store interface {
	Open(name string) (*library.File, error)
	Create(name string) (*library.Upload, error)
	List(lim library.ListLimit, add func(library.Entry)) (library.Unlisted, error)
}

// Defaults a Server starts from where a field is zero: those of
// "fileserver serve"'s flags.
const (
	DefaultIdle      = 30 * time.Second
	DefaultMaxUpload = 4 << 30
	DefaultMaxConns  = 1024
)

// ErrServerClosed is what Serve returns once Shutdown has stopped it, as
// net/http's Server does: any other return is Serve stopping on its own,
// an error for its caller to report.
var ErrServerClosed = errors.New("fileserve: server closed")

// Server serves the protocol from a Store, one goroutine a connection.
// Its fields are set before Serve and not changed after.
type Server struct {
	Store Store
	// Idle bounds every wait on a peer: a request's header must come whole
	// within Idle of the wait's start; any other read or write fails once
	// no byte has moved for Idle. DefaultIdle if zero.
	Idle time.Duration
	// MaxUpload is the largest PUT taken; a larger one is refused before
	// its body. DefaultMaxUpload if zero.
	MaxUpload int64
	// MaxConns bounds the connections served at once; one more is told
	// busy and closed. DefaultMaxConns if zero.
	MaxConns int
	Log      func(format string, a ...any) // nil: nothing logged

	active   atomic.Int64 // connections in a slot (MaxConns)
	draining atomic.Bool  // Shutdown has begun; set under mu
	loops    sync.WaitGroup

	mu        sync.Mutex
	listeners map[net.Listener]struct{} // those Serve accepts on
	conns     map[net.Conn]*connState   // those in a slot
	open      int                       // connection goroutines not yet returned
	drained   chan struct{}             // made by Shutdown; closed once open is 0

	lists    chan struct{} // a token per listing alive: see list
	listMu   sync.Mutex
	building *listing // the listing being built, which a LIST joins
}

// connState is what Shutdown needs to know of a connection, under s.mu.
type connState struct {
	busy    bool // a request is in flight
	served  int  // requests answered so far
	closing bool // Shutdown closes it: it takes no further request
}

func (s *Server) idle() time.Duration {
	if s.Idle <= 0 {
		return DefaultIdle
	}
	return s.Idle
}

func (s *Server) maxUpload() int64 {
	if s.MaxUpload <= 0 {
		return DefaultMaxUpload
	}
	return s.MaxUpload
}

func (s *Server) maxConns() int64 {
	if s.MaxConns <= 0 {
		return DefaultMaxConns
	}
	return int64(s.MaxConns)
}

func (s *Server) logf(format string, a ...any) {
	if s.Log != nil {
		s.Log(format, a...)
	}
}

// Serve accepts connections on ln and serves each in its own goroutine,
// until Shutdown; then it returns ErrServerClosed. It returns any other
// error of Accept but those that pass (a timeout; out of descriptors), and
// closes ln when it returns.
//
// Out of file descriptors, a client is still answered: Serve keeps one in
// reserve (/dev/null), gives it up to accept the connection waiting, tells
// it busy, closes it and takes the reserve back, as a client deserves
// better than a connection that hangs in the backlog.
func (s *Server) Serve(ln net.Listener) error {
	defer ln.Close()
	s.mu.Lock()
	if s.draining.Load() {
		s.mu.Unlock()
		return ErrServerClosed
	}
	if s.listeners == nil {
		s.listeners = map[net.Listener]struct{}{}
		s.conns = map[net.Conn]*connState{}
		s.lists = make(chan struct{}, maxListings)
	}
	s.listeners[ln] = struct{}{}
	// Under s.mu, where Shutdown sets draining: no loop is added once
	// Shutdown waits for them.
	s.loops.Add(1)
	s.mu.Unlock()
	defer s.loops.Done()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
	}()

	reserve, _ := os.Open(os.DevNull)
	defer func() { reserve.Close() }()
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.draining.Load() {
				return ErrServerClosed
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
			return fmt.Errorf("accept: %w", err)
		}
		s.mu.Lock()
		s.open++
		s.mu.Unlock()
		go func() {
			defer s.connDone()
			s.serveConn(nc)
		}()
	}
}

// connDone counts a connection's goroutine out; the last one out after
// Shutdown began tells it so.
func (s *Server) connDone() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.open--
	if s.open == 0 && s.drained != nil {
		close(s.drained)
	}
}

// refuseNoFDs answers the connection that could not be accepted for want
// of a descriptor with busy, using the reserve; it returns the new reserve.
func (s *Server) refuseNoFDs(ln net.Listener, reserve *os.File, err error) *os.File {
	s.logf("accept: %v: telling the client busy", err)
	if reserve == nil {
		time.Sleep(10 * time.Millisecond) // no reserve left: let some close
		r, _ := os.Open(os.DevNull)
		return r
	}
	reserve.Close()
	if nc, err := ln.Accept(); err == nil {
		if c, err := peerio.New(nc, s.idle()); err == nil {
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

// Shutdown stops the server: it closes the listeners, waits for Serve to
// return, then for the connections. A connection idle between requests
// (keep-alive) is closed at once, as a client of such a connection must
// expect; one that has not carried a request yet gets its first one
// served, for its request may be on its way already; a busy one finishes
// its request. Then each closes. Shutdown returns nil once every
// connection has, or ctx's error if ctx ends first (the connections go on
// to their end: each is bounded by Idle).
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.draining.Store(true)
	for ln := range s.listeners {
		ln.Close()
	}
	s.mu.Unlock()
	// An Accept under way may still hand over a connection: only once
	// every Serve has returned is every connection counted in s.open
	// (else one could be left unread as the process exits, and reset).
	s.loops.Wait()
	s.mu.Lock()
	for c, st := range s.conns {
		if !st.busy && st.served > 0 {
			st.closing = true
			c.SetReadDeadline(time.Now()) // wakes its read of a header
		}
	}
	if s.drained == nil {
		s.drained = make(chan struct{})
		if s.open == 0 {
			close(s.drained)
		}
	}
	drained := s.drained
	s.mu.Unlock()
	select { // drained already: nil, whatever ctx says
	case <-drained:
		return nil
	default:
	}
	select {
	case <-drained:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Alive is for a heartbeat: the server can still serve if its connection
// table can be taken (no goroutine holds it wedged). A server busy with
// long transfers, or at MaxConns, is alive.
func (s *Server) Alive() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return true
}
