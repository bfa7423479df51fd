package main

import (
	"bufio"
	"crypto/sha256"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/sigride/sigride/internal/library"
	"github.com/sigride/sigride/internal/wire"
)

// uploadChunk is how much of an upload is spliced per read deadline. The
// deadline is renewed after each chunk, and after a timeout that still
// brought bytes: a slow but steady client is not cut, a silent one (no
// byte for --idle-timeout) is.
const uploadChunk = 256 << 10

// serveConn serves one connection's requests, one after another.
func (s *server) serveConn(c net.Conn) {
	defer c.Close()
	if s.active.Add(1) > s.maxConns {
		s.active.Add(-1)
		s.reply(c, wire.Response{Status: wire.ErrBusy, Message: "too many connections on this worker; try again"})
		return
	}
	defer s.active.Add(-1)
	st := &connState{}
	s.mu.Lock()
	s.conns[c] = st
	s.mu.Unlock()
	defer s.untrack(c)
	br := bufio.NewReaderSize(c, 4096)
	for {
		c.SetReadDeadline(time.Now().Add(s.idle))
		req, err := wire.ReadRequest(br)
		if err != nil {
			s.refuse(c, err)
			return
		}
		s.setBusy(st, true)
		keep := s.handle(c, br, req)
		s.setBusy(st, false)
		if !keep || s.draining.Load() {
			return
		}
	}
}

// setBusy marks a connection's request in flight, or answered.
func (s *server) setBusy(st *connState, busy bool) {
	s.mu.Lock()
	st.busy = busy
	if !busy {
		st.served++
	}
	s.mu.Unlock()
}

func (s *server) untrack(c net.Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// refuse answers a request that could not be read, where there is anyone
// to answer: a clean close and a drain need no word.
func (s *server) refuse(c net.Conn, err error) {
	var we *wire.Error
	var ne net.Error
	switch {
	case errors.Is(err, io.EOF):
	case s.draining.Load() && errors.As(err, &ne) && ne.Timeout():
	case errors.As(err, &ne) && ne.Timeout():
		s.reply(c, wire.Response{Status: wire.ErrTimeout, Message: "idle too long"})
	case errors.As(err, &we):
		s.reply(c, wire.Response{Status: we.Status, Message: we.Message})
	case errors.Is(err, wire.ErrProtocol):
		s.logf("%s: %v", c.RemoteAddr(), err)
		s.reply(c, wire.Response{Status: wire.ErrBadRequest, Message: err.Error()})
	}
}

// reply writes one response header (and message) in one write.
func (s *server) reply(c net.Conn, resp wire.Response) error {
	c.SetWriteDeadline(time.Now().Add(s.idle))
	_, err := c.Write(wire.AppendResponse(nil, resp))
	c.SetWriteDeadline(time.Time{})
	return err
}

// handle serves one request; it reports whether the connection may carry
// another.
func (s *server) handle(c net.Conn, br *bufio.Reader, req wire.Request) bool {
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
func (s *server) fail(c net.Conn, req wire.Request, err error) bool {
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
	default:
		s.logf("%s: %s %q: %v", c.RemoteAddr(), req.Op, req.Name, err)
	}
	return s.reply(c, resp) == nil
}

func (s *server) list(c net.Conn) bool {
	entries, err := s.lib.List()
	if err != nil {
		return s.fail(c, wire.Request{Op: wire.OpList}, err)
	}
	var body []byte
	for _, e := range entries {
		body = wire.AppendEntry(body, wire.Entry{Name: e.Name, Size: uint64(e.Size), ModTime: e.ModTime})
	}
	msg := wire.AppendResponse(nil, wire.Response{Status: wire.StatusOK, Size: uint64(len(body)), Sum: sha256.Sum256(body)})
	c.SetWriteDeadline(time.Now().Add(s.idle))
	_, err = c.Write(append(msg, body...))
	c.SetWriteDeadline(time.Time{})
	return err == nil
}

// get sends a file: a small one from memory with its header in one writev,
// a larger one as the header, then the bytes by sendfile(2) (io.Copy from
// an *os.File to a *net.TCPConn), no user-space copy.
func (s *server) get(c net.Conn, req wire.Request) bool {
	f, err := s.lib.Open(req.Name)
	if err != nil {
		return s.fail(c, req, err)
	}
	defer f.Close()
	if req.Arg > uint64(f.Size) {
		return s.reply(c, wire.Response{Status: wire.ErrBadRange, Message: "offset past the end of " + req.Name}) == nil
	}
	ok := wire.Response{Status: wire.StatusOK, Size: uint64(f.Size), Offset: req.Arg, Sum: f.Sum}
	if f.File == nil { // small, in memory: header and body in one writev
		c.SetWriteDeadline(time.Now().Add(s.idle))
		bufs := net.Buffers{wire.AppendResponse(nil, ok), f.Data[req.Arg:]}
		n, err := bufs.WriteTo(c)
		c.SetWriteDeadline(time.Time{})
		return err == nil && n == wire.ResponseHeaderSize+f.Size-int64(req.Arg)
	}
	if err := s.reply(c, ok); err != nil {
		return false
	}
	if _, err := f.Seek(int64(req.Arg), io.SeekStart); err != nil {
		return false
	}
	n := f.Size - int64(req.Arg)
	sent, err := io.Copy(c, io.LimitReader(f.File, n))
	return err == nil && sent == n
}

// put receives a file into a temp file, then commits it if its SHA-256
// matches. Nothing is visible before, and nothing is left on failure.
func (s *server) put(c net.Conn, br *bufio.Reader, req wire.Request) bool {
	if req.Arg > uint64(s.maxUpload) {
		s.reply(c, wire.Response{Status: wire.ErrTooLarge, Message: "over the server's --max-upload"})
		return true // nothing of the body was sent: the client waits for CONTINUE
	}
	up, err := s.lib.Create(req.Name)
	if err != nil {
		return s.fail(c, req, err)
	}
	defer up.Abort() // a no-op once committed
	if err := s.reply(c, wire.Response{Status: wire.StatusContinue}); err != nil {
		return false
	}
	size := int64(req.Arg)
	if err := receive(c, br, up.File(), size, s.idle); err != nil {
		if noSpace(err) {
			// Tell the client, who is still sending: drain the rest of
			// the body and its sum so it reads the answer, not a reset.
			s.logf("%s: put %q: %v; nothing stored", c.RemoteAddr(), req.Name, err)
			up.Abort()
			s.reply(c, wire.Response{Status: wire.ErrInternal, Message: "no space left on the server; nothing stored"})
			return drain(c, br, size+wire.SumSize, s.idle)
		}
		s.refuse(c, err)
		return false
	}
	var sum [wire.SumSize]byte
	c.SetReadDeadline(time.Now().Add(s.idle))
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
// buffered first, then straight from the socket (splice), renewing the
// read deadline every uploadChunk.
func receive(c net.Conn, br *bufio.Reader, f *os.File, size int64, idle time.Duration) error {
	buffered := min(int64(br.Buffered()), size)
	if _, err := io.CopyN(f, br, buffered); err != nil {
		return err
	}
	for left := size - buffered; left > 0; {
		c.SetReadDeadline(time.Now().Add(idle))
		n, err := io.CopyN(f, c, min(left, uploadChunk))
		left -= n
		var ne net.Error
		switch {
		case err == nil:
		case errors.Is(err, io.EOF):
			return io.ErrUnexpectedEOF
		case errors.As(err, &ne) && ne.Timeout() && n > 0:
			// Slow, not silent: bytes came within --idle-timeout.
		default:
			return err
		}
	}
	return nil
}

// noSpace tells the errors of a full disk (or quota) while writing.
func noSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) || errors.Is(err, syscall.EFBIG)
}

// drain reads and drops up to n bytes of what the client still sends (at
// most the body it announced and its sum), so that it reads the answer
// sent meanwhile rather than a reset. It stops when the client stops.
func drain(c net.Conn, br *bufio.Reader, n int64, idle time.Duration) bool {
	for n > 0 {
		c.SetReadDeadline(time.Now().Add(idle))
		m, err := io.CopyN(io.Discard, br, min(n, uploadChunk))
		n -= m
		if err != nil {
			return false
		}
	}
	return true
}
