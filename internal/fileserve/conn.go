package fileserve

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/sigride/sigride/internal/library"
	"github.com/sigride/sigride/internal/peerio"
	"github.com/sigride/sigride/internal/wire"
)

// serveConn serves one connection's requests, one after another. Every
// wait on the peer has a deadline: a request's header must come whole
// within Idle of the wait's start; every other read and every write
// (replies, bodies by sendfile and splice) fails once no byte has moved
// for Idle (internal/peerio). A connection so cut is logged, one line,
// once it is closed and its slot free.
func (s *Server) serveConn(nc net.Conn) {
	c, err := peerio.New(nc, s.idle())
	if err != nil {
		s.logf("%s: %v", nc.RemoteAddr(), err)
		nc.Close()
		return
	}
	cut := s.serveRequests(c, nc)
	c.Close()
	if cut != "" {
		s.logf("%s: %s, closed", c.RemoteAddr(), cut)
	}
}

// serveRequests serves the requests of c (nc wrapped) in its connection
// slot; it returns what was cut for silence, if anything.
func (s *Server) serveRequests(c *peerio.Conn, nc net.Conn) (cut string) {
	if s.active.Add(1) > s.maxConns() {
		s.active.Add(-1)
		s.reply(c, wire.Response{Status: wire.ErrBusy, Message: "too many connections on this worker; try again"})
		return ""
	}
	defer s.active.Add(-1)
	st := &connState{}
	s.mu.Lock()
	s.conns[nc] = st
	s.mu.Unlock()
	defer s.untrack(nc)
	br := bufio.NewReaderSize(c, 4096)
	for s.awaitRequest(c, st) {
		req, err := wire.ReadRequest(br)
		if err != nil {
			return s.refuse(c, err)
		}
		s.setBusy(c, st, true)
		keep := s.handle(c, br, req)
		if se := c.Silence(); se != nil {
			return fmt.Sprintf("%s: %v", what(req), se)
		}
		s.setBusy(c, st, false)
		if !keep || s.draining.Load() {
			return ""
		}
	}
	return ""
}

// what names a request in the log: ls, get "NAME", put "NAME".
func what(req wire.Request) string {
	if req.Op == wire.OpList {
		return req.Op.String()
	}
	return fmt.Sprintf("%s %q", req.Op, req.Name)
}

// awaitRequest arms the deadline of the next request's header: the whole
// header within Idle. It reports false if Shutdown has closed the
// connection meanwhile. Under s.mu, as Shutdown's wake-up is: one set
// after this one is never lost.
func (s *Server) awaitRequest(c *peerio.Conn, st *connState) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st.closing {
		return false
	}
	c.SetReadDeadline(time.Now().Add(s.idle()))
	return true
}

// setBusy marks a connection's request in flight, or answered. In flight,
// its reads are under the progress deadline; Shutdown no longer touches it.
func (s *Server) setBusy(c *peerio.Conn, st *connState, busy bool) {
	s.mu.Lock()
	st.busy = busy
	if busy {
		c.SetReadDeadline(time.Time{})
	} else {
		st.served++
	}
	s.mu.Unlock()
}

func (s *Server) untrack(c net.Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// refuse answers a request that could not be read, where there is anyone
// to answer: a clean close, and a connection Shutdown closed, need no word. A peer past its
// header's deadline is told timeout, which it reads if it still reads at
// all; refuse returns that cut, for the log.
func (s *Server) refuse(c *peerio.Conn, err error) (cut string) {
	var we *wire.Error
	switch {
	case errors.Is(err, io.EOF):
	case s.draining.Load() && errors.Is(err, os.ErrDeadlineExceeded):
	case errors.Is(err, os.ErrDeadlineExceeded):
		s.reply(c, wire.Response{Status: wire.ErrTimeout, Message: "idle too long"})
		return fmt.Sprintf("no whole request within %v", s.idle())
	case errors.As(err, &we):
		s.reply(c, wire.Response{Status: we.Status, Message: we.Message})
	case errors.Is(err, wire.ErrProtocol):
		s.logf("%s: %v", c.RemoteAddr(), err)
		s.reply(c, wire.Response{Status: wire.ErrBadRequest, Message: err.Error()})
	}
	return ""
}

// reply writes one response header (and message) in one write.
func (s *Server) reply(c *peerio.Conn, resp wire.Response) error {
	_, err := c.Write(wire.AppendResponse(nil, resp))
	return err
}

// handle serves one request; it reports whether the connection may carry
// another.
func (s *Server) handle(c *peerio.Conn, br *bufio.Reader, req wire.Request) bool {
	switch req.Op {
	case wire.OpList:
		return s.list(c)
	case wire.OpGet:
		return s.get(c, req)
	case wire.OpPut:
		return s.put(c, br, req)
	}
	return false
}

// fail answers a library error with its status; the stream stays whole.
func (s *Server) fail(c *peerio.Conn, req wire.Request, err error) bool {
	var ne *library.NameError
	resp := wire.Response{Status: wire.ErrInternal, Message: err.Error()}
	switch {
	case errors.As(err, &ne):
		s.logf("%s: %s refused: %s", c.RemoteAddr(), req.Op, ne)
		resp = wire.Response{Status: wire.ErrBadName, Message: ne.Error()}
	case errors.Is(err, library.ErrNotFound):
		resp = wire.Response{Status: wire.ErrNotFound, Message: "no file named " + req.Name}
	case errors.Is(err, library.ErrNotAFile):
		resp = wire.Response{Status: wire.ErrNotAFile, Message: req.Name + " is not a file"}
	case errors.Is(err, library.ErrNoSpace):
		s.logf("%s: %s refused: %v", c.RemoteAddr(), req.Op, err)
		resp = wire.Response{Status: wire.ErrInternal, Message: "not enough free space on the server"}
	default:
		s.logf("%s: %s %q: %v", c.RemoteAddr(), req.Op, req.Name, err)
	}
	return s.reply(c, resp) == nil
}

// get sends a file: a small one from memory with its header in one writev,
// a larger one as the header, then the bytes by sendfile(2), no user-space
// copy.
func (s *Server) get(c *peerio.Conn, req wire.Request) bool {
	f, err := s.Store.Open(req.Name)
	if err != nil {
		return s.fail(c, req, err)
	}
	defer f.Close()
	if req.Arg > uint64(f.Size) {
		return s.reply(c, wire.Response{Status: wire.ErrBadRange, Message: "offset past the end of " + req.Name}) == nil
	}
	ok := wire.Response{Status: wire.StatusOK, Size: uint64(f.Size), Offset: req.Arg, Sum: f.Sum}
	if f.File == nil { // small, in memory: header and body in one writev
		_, err := c.Writev([][]byte{wire.AppendResponse(nil, ok), f.Data[req.Arg:]})
		return err == nil
	}
	if err := s.reply(c, ok); err != nil {
		return false
	}
	n := f.Size - int64(req.Arg)
	if _, err := c.SendFile(f.File, int64(req.Arg), n); err != nil {
		// The file shrank under us, or the server could not read it: too
		// late to answer an error, but not to log it. A client hanging up
		// is no news, and a silence is logged by serveConn.
		if errors.Is(err, io.ErrUnexpectedEOF) || !peerGone(err) {
			s.logf("%s: get %q: %v", c.RemoteAddr(), req.Name, err)
		}
		return false
	}
	return true
}

// put receives a file into a temp file, then commits it if its SHA-256
// matches. Nothing is visible before, and nothing is left on failure.
func (s *Server) put(c *peerio.Conn, br *bufio.Reader, req wire.Request) bool {
	if req.Arg > uint64(s.maxUpload()) {
		s.reply(c, wire.Response{Status: wire.ErrTooLarge, Message: "over the server's --max-upload"})
		return true // nothing of the body was sent: the client waits for CONTINUE
	}
	up, err := s.Store.Create(req.Name)
	if err != nil {
		return s.fail(c, req, err)
	}
	defer up.Abort() // a no-op once committed
	if err := up.Reserve(int64(req.Arg)); err != nil {
		return s.fail(c, req, err) // before CONTINUE: the client sent no body
	}
	if err := s.reply(c, wire.Response{Status: wire.StatusContinue}); err != nil {
		return false
	}
	size := int64(req.Arg)
	if taken, err := receive(c, br, up.File(), size); err != nil {
		if noSpace(err) {
			// Tell the client, who is still sending: discard the rest of
			// the body and its sum so it reads the answer, not a reset.
			s.logf("%s: put %q: %v; nothing stored", c.RemoteAddr(), req.Name, err)
			up.Abort()
			s.reply(c, wire.Response{Status: wire.ErrInternal, Message: "no space left on the server; nothing stored"})
			return discard(br, size-taken+wire.SumSize)
		}
		if s.refuse(c, err) == "" && !peerGone(err) {
			// The server's own failure (EIO, a read-only filesystem):
			// say it, to the log and to the client, rather than close.
			s.logf("%s: put %q: %v; nothing stored", c.RemoteAddr(), req.Name, err)
			s.reply(c, wire.Response{Status: wire.ErrInternal, Message: "the server could not store the file; nothing stored"})
		}
		return false
	}
	var sum [wire.SumSize]byte
	if _, err := io.ReadFull(br, sum[:]); err != nil {
		s.refuse(c, err)
		return false
	}
	if err := up.Commit(size, sum); err != nil {
		if errors.Is(err, library.ErrChecksum) {
			return s.reply(c, wire.Response{Status: wire.ErrChecksum, Message: "the body does not match its SHA-256; nothing stored"}) == nil
		}
		return s.fail(c, req, err)
	}
	return s.reply(c, wire.Response{Status: wire.StatusOK, Size: uint64(size), Sum: sum}) == nil
}

// receive copies size bytes of the body into f: what the reader has
// buffered first, then straight from the socket (splice). It returns how
// many bytes of the body it took from the client, written or not.
func receive(c *peerio.Conn, br *bufio.Reader, f *os.File, size int64) (int64, error) {
	before := br.Buffered()
	buffered := min(int64(before), size)
	if _, err := io.CopyN(f, br, buffered); err != nil {
		return int64(before - br.Buffered()), err // read from br, written or not
	}
	n, err := c.ReceiveFile(f, size-buffered)
	return buffered + n, err
}

// peerGone tells the errors of a client that went away or fell silent
// (its own doing) from the server's.
func peerGone(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, os.ErrDeadlineExceeded) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// noSpace tells the errors of a full disk (or quota) while writing.
func noSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) || errors.Is(err, syscall.EFBIG)
}

// discard reads and drops up to n bytes of what the client still sends (at
// most the body it announced and its sum), so that it reads the answer
// sent meanwhile rather than a reset. It stops when the client stops, or
// falls silent.
func discard(br *bufio.Reader, n int64) bool {
	m, err := io.CopyN(io.Discard, br, n)
	return err == nil && m == n
}
