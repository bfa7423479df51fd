package tftp

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Defaults a server starts from.
const (
	DefaultTimeout = time.Second // RFC 2349 lets the client change it
	DefaultRetries = 5           // timeouts in a row before a transfer is given up
	// DefaultIdle bounds how long a transfer goes without progress: the
	// file server's --idle-timeout default, for the same reason.
	DefaultIdle = 30 * time.Second
)

// File is a file to send: its bytes and size.
type File interface {
	io.ReaderAt
	Size() int64
	Close() error
}

// Upload is a file being received: nothing is visible before Commit.
type Upload interface {
	io.Writer
	Commit() error // the bytes written are the file
	Abort()
}

// Store is where the files are. Its errors that are *Error reach the
// client with their code; any other is sent as code 0.
type Store interface {
	Open(name string) (File, error)
	Create(name string, size int64) (Upload, error) // size: the WRQ's tsize, or -1
}

// PortRange restricts the ports of transfers (TIDs); zero: any. As a flag
// (a pflag.Value) it reads LO:HI, as tftpd-hpa's --port-range does.
type PortRange struct{ Lo, Hi int }

func (r *PortRange) String() string {
	if r.Lo == 0 {
		return ""
	}
	return fmt.Sprintf("%d:%d", r.Lo, r.Hi)
}

// Set reads LO:HI, 1 <= LO <= HI <= 65535.
func (r *PortRange) Set(s string) error {
	lo, hi, ok := strings.Cut(s, ":")
	l, err1 := strconv.Atoi(lo)
	h, err2 := strconv.Atoi(hi)
	if !ok || err1 != nil || err2 != nil || l < 1 || h > 65535 || l > h {
		return fmt.Errorf("want LO:HI with 1 <= LO <= HI <= 65535")
	}
	r.Lo, r.Hi = l, h
	return nil
}

func (r *PortRange) Type() string { return "LO:HI" }

// Server answers read and write requests arriving on one UDP socket, each
// transfer on a socket of its own.
type Server struct {
	Store     Store
	Ports     PortRange
	ReadOnly  bool
	MaxUpload int64
	Retries   int // DefaultRetries if zero
	// Idle bounds how long a transfer may go without progress (a new block
	// acknowledged, or received in order), silent or not, on every wait:
	// the OACK's, a window's, a block's, the dally after an upload. The
	// client's timeout option and Retries cannot stretch it: at 255 s and
	// 5 retries a silent client would hold a slot 25 minutes, and one
	// repeating a block keep an upload alive for ever. DefaultIdle if zero.
	Idle time.Duration
	// MaxTransfers bounds the transfers under way (DefaultMaxTransfers if
	// zero): each holds a thread blocked in recv, and a flood of requests
	// must not exhaust them. Past it a request gets ERROR 0, "busy".
	MaxTransfers int
	Log          func(format string, a ...any)

	wg     sync.WaitGroup
	active atomic.Int64
}

// DefaultMaxTransfers is MaxTransfers' default.
const DefaultMaxTransfers = 1024

// Serve reads requests from pc until it is closed; each is served in its
// own goroutine. It returns nil once pc is closed.
//
// The transfer slot is taken here, before a goroutine is started or a
// socket opened: a flood of requests costs at most MaxTransfers
// goroutines and sockets, however fast it comes and however slow the log.
// A request past the limit is answered from pc (a busy server has no TID
// to spare, so the error cannot come from one, as RFC 1350 would have it;
// a client takes it as the first reply and stops), and refusals are
// logged at most once every busyLogEvery.
func (s *Server) Serve(pc *net.UDPConn) error {
	buf := make([]byte, MaxRequest+1)
	local := pc.LocalAddr().(*net.UDPAddr)
	var busy refusals
	defer busy.flush(s)
	for {
		n, from, err := pc.ReadFromUDP(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return nil
			}
			if isRefused(err) {
				continue
			}
			return err
		}
		if n >= 2 && Opcode(binary.BigEndian.Uint16(buf)) == OpERROR {
			continue // never answer an error
		}
		if !s.take() {
			busy.refuse(s, pc, from, buf[:n])
			continue
		}
		busy.catchUp(s)
		pkt := append([]byte(nil), buf[:n]...)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer s.active.Add(-1)
			s.serve(local, from, pkt)
		}()
	}
}

// take takes a transfer slot if one is free.
func (s *Server) take() bool {
	limit := int64(s.MaxTransfers)
	if limit <= 0 {
		limit = DefaultMaxTransfers
	}
	if s.active.Add(1) > limit {
		s.active.Add(-1)
		return false
	}
	return true
}

// Refusing a request when every transfer slot is taken.
const (
	// BusyMessage is the ERROR 0 a request gets past MaxTransfers.
	BusyMessage = "busy: too many transfers; try again"
	// busyLogEvery spaces the busy lines: a flood must not become a flood
	// of log lines, which a slow stderr would turn into a wedged server.
	busyLogEvery = time.Second
	// busyReplyWait is how long a busy reply may wait for room in the
	// socket's send buffer before it is dropped: Serve must not wait on
	// a peer's behalf.
	busyReplyWait = 10 * time.Millisecond
)

// refusals counts the requests refused as busy since the last busy line.
type refusals struct {
	n      int
	logged time.Time // the last busy line
}

// refuse answers a request past MaxTransfers with ERROR 0 from pc, and
// logs it unless a busy line went out less than busyLogEvery ago. Only a
// well-formed request is answered: junk gets nothing, so the reply is
// never sent to a source that could not be a client.
func (r *refusals) refuse(s *Server, pc *net.UDPConn, from *net.UDPAddr, pkt []byte) {
	r.n++
	if _, err := ParseRequest(pkt); err == nil {
		pc.SetWriteDeadline(time.Now().Add(busyReplyWait))
		pc.WriteToUDP(AppendError(nil, ErrUndefined, BusyMessage), from)
	}
	if now := time.Now(); now.Sub(r.logged) >= busyLogEvery {
		s.logf("tftp %s: busy: %d transfers under way; %d requests refused since the last busy line", from, s.active.Load(), r.n)
		r.n, r.logged = 0, now
	}
}

// catchUp logs the refusals not yet logged, if the last busy line is
// busyLogEvery old: the end of a flood is logged once a request is served.
func (r *refusals) catchUp(s *Server) {
	if time.Since(r.logged) >= busyLogEvery {
		r.flush(s)
	}
}

// flush logs the refusals not yet logged.
func (r *refusals) flush(s *Server) {
	if r.n > 0 {
		s.logf("tftp: busy: %d more requests refused", r.n)
		r.n, r.logged = 0, time.Now()
	}
}

// Wait waits for the transfers under way.
func (s *Server) Wait() { s.wg.Wait() }

func (s *Server) logf(format string, a ...any) {
	if s.Log != nil {
		s.Log(format, a...)
	}
}

// serve answers one request, in a transfer slot Serve took, from a new
// socket: its port is the transfer's TID (RFC 1350 section 4).
func (s *Server) serve(local, from *net.UDPAddr, pkt []byte) {
	c, err := s.dialTID(local, from)
	if err != nil {
		s.logf("tftp %s: no port for the transfer: %v", from, err)
		return
	}
	defer c.Close()
	req, err := ParseRequest(pkt)
	if err != nil {
		s.logf("tftp %s: %v", from, err)
		c.Write(AppendError(nil, ErrIllegal, err.Error()))
		return
	}
	switch req.Op {
	case OpRRQ:
		s.read(c, from, req)
	case OpWRQ:
		s.write(c, from, req)
	}
}

func (s *Server) defaults() Settings {
	return Settings{BlockSize: DefaultBlockSize, Timeout: DefaultTimeout, Window: 1}
}

func (s *Server) idle() time.Duration {
	if s.Idle > 0 {
		return s.Idle
	}
	return DefaultIdle
}

func (s *Server) retries() int {
	if s.Retries > 0 {
		return s.Retries
	}
	return DefaultRetries
}

// refuse sends err as an ERROR packet, and logs it.
func (s *Server) refuse(c *tidConn, from *net.UDPAddr, req Request, err error) {
	var te *Error
	if !errors.As(err, &te) {
		te = &Error{ErrUndefined, "server error"}
	}
	s.logf("tftp %s: %s %q refused: %v", from, req.Op, req.Filename, err)
	c.Write(AppendError(nil, te.Code, te.Message))
}

func (s *Server) read(c *tidConn, from *net.UDPAddr, req Request) {
	f, err := s.Store.Open(req.Filename)
	if err != nil {
		s.refuse(c, from, req, err)
		return
	}
	defer f.Close()
	size := f.Size()
	var r io.Reader = io.NewSectionReader(f, 0, size)
	if req.Mode == ModeNetascii {
		size = -1 // not known before it is converted
		r = newNetasciiReader(r)
	}
	set, oack, err := Negotiate(req, size, s.defaults(), s.MaxUpload)
	if err != nil {
		s.refuse(c, from, req, err)
		return
	}
	t := newTransfer(c, set, s.retries(), s.idle(), true)
	start := time.Now()
	n, err := t.send(r, oack)
	if errors.Is(err, ErrStalled) { // a peer alive but not moving may be told
		t.fail(ErrUndefined, err.Error())
	}
	if err != nil {
		s.logf("tftp %s: RRQ %q: %v after %d bytes", from, req.Filename, err, n)
		return
	}
	s.logf("tftp %s: RRQ %q: sent %d bytes in %v", from, req.Filename, n, time.Since(start).Round(time.Millisecond))
}

func (s *Server) write(c *tidConn, from *net.UDPAddr, req Request) {
	if s.ReadOnly {
		s.refuse(c, from, req, &Error{ErrAccess, "this server is read-only"})
		return
	}
	set, oack, err := Negotiate(req, -1, s.defaults(), s.MaxUpload)
	if err != nil {
		s.refuse(c, from, req, err)
		return
	}
	up, err := s.Store.Create(req.Filename, announced(req))
	if err != nil {
		s.refuse(c, from, req, err)
		return
	}
	defer up.Abort() // a no-op once committed
	var w io.Writer = up
	var na *netasciiWriter
	if req.Mode == ModeNetascii {
		na = newNetasciiWriter(up)
		w = na
	}
	t := newTransfer(c, set, s.retries(), s.idle(), false)
	t.beforeFail = up.Abort
	start := time.Now()
	n, err := t.receive(w, s.MaxUpload, oack, func() error {
		if na != nil {
			if err := na.Close(); err != nil { // a CR left pending
				return err
			}
		}
		return up.Commit()
	})
	if errors.Is(err, ErrStalled) { // aborts first (beforeFail)
		t.fail(ErrUndefined, err.Error())
	}
	if err != nil {
		s.logf("tftp %s: WRQ %q: %v after %d bytes; nothing stored", from, req.Filename, err, n)
		return
	}
	s.logf("tftp %s: WRQ %q: stored %d bytes in %v", from, req.Filename, n, time.Since(start).Round(time.Millisecond))
	t.dally()
}

// dialTID opens the transfer's socket on local's address, connected to
// the client: a port of the range, tried from a random one on, or any.
func (s *Server) dialTID(local, from *net.UDPAddr) (*tidConn, error) {
	laddr := &net.UDPAddr{IP: local.IP, Zone: local.Zone}
	if s.Ports.Lo == 0 {
		return dialTID(laddr, from)
	}
	span := s.Ports.Hi - s.Ports.Lo + 1
	var r [4]byte
	rand.Read(r[:])
	first := int(binary.BigEndian.Uint32(r[:]) % uint32(span))
	var last error
	for i := range span {
		laddr.Port = s.Ports.Lo + (first+i)%span
		c, err := dialTID(laddr, from)
		if err == nil {
			return c, nil
		}
		last = err
		if !errors.Is(err, syscall.EADDRINUSE) {
			break
		}
	}
	return nil, fmt.Errorf("ports %d-%d: %w", s.Ports.Lo, s.Ports.Hi, last)
}
