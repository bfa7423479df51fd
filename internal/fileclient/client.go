package fileclient

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sigride/sigride/internal/peerio"
	"github.com/sigride/sigride/internal/wire"
)

// Client is a server to talk to.
type Client struct {
	Addr string // host:port
	// Timeout is how long any wait may go without a byte moving: to
	// connect, for an answer, at every point of a transfer.
	Timeout time.Duration
}

// SilenceError is a server that sent or took no byte for the timeout, or
// could not be reached within it.
type SilenceError struct {
	Addr string
	Idle time.Duration // the timeout
}

func (e *SilenceError) Error() string {
	return fmt.Sprintf("no answer from %s for %v", e.Addr, e.Idle)
}

// Conn is a connection to the server under peerio's progress deadline:
// every read and write (an answer, a listing, a download, an upload by
// sendfile) fails only once no byte has moved for the timeout, as a
// *SilenceError. It is kept alive from one request to the next. One
// goroutine at a time uses it.
type Conn struct {
	pc     *peerio.Conn
	silent SilenceError
}

// Dial connects within the timeout.
func (cl Client) Dial() (*Conn, error) {
	d := net.Dialer{Timeout: cl.Timeout}
	nc, err := d.Dial("tcp", cl.Addr)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return nil, &SilenceError{Addr: cl.Addr, Idle: cl.Timeout}
	}
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", cl.Addr, err)
	}
	pc, err := peerio.New(nc, cl.Timeout)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("connect to %s: %w", cl.Addr, err)
	}
	return &Conn{pc: pc, silent: SilenceError{Addr: cl.Addr, Idle: cl.Timeout}}, nil
}

// Close closes the connection.
func (c *Conn) Close() error { return c.pc.Close() }

// check turns a silence into the one-line *SilenceError.
func (c *Conn) check(err error) error {
	var se *peerio.SilenceError
	if errors.As(err, &se) {
		e := c.silent
		return &e
	}
	return err
}

// Read reads what the server sent; a silence is a *SilenceError.
func (c *Conn) Read(p []byte) (int, error) {
	n, err := c.pc.Read(p)
	return n, c.check(err)
}

// Write writes all of p; a server taking nothing is a *SilenceError.
func (c *Conn) Write(p []byte) (int, error) {
	n, err := c.pc.Write(p)
	return n, c.check(err)
}

// sendFile sends n bytes of f from its offset, which it advances, by
// sendfile(2): the bytes never enter user space.
func (c *Conn) sendFile(f *os.File, n int64) (int64, error) {
	off, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		return 0, err
	}
	sent, err := c.pc.SendFile(f, off, n)
	if _, serr := f.Seek(off+sent, io.SeekStart); serr != nil && err == nil {
		err = serr
	}
	return sent, c.check(err)
}

// request sends req and reads the answer's header; an error answer is
// returned as an error.
func (c *Conn) request(req wire.Request) (wire.Response, error) {
	if _, err := c.Write(wire.AppendRequest(nil, req)); err != nil {
		return wire.Response{}, fmt.Errorf("send request: %w", err)
	}
	resp, err := wire.ReadResponse(c)
	if err != nil {
		return resp, fmt.Errorf("read response: %w", err)
	}
	return resp, answerErr(resp)
}

// answerErr is resp's error (nil for OK and CONTINUE), its message as
// Printable makes it: the server's words reach a terminal only so.
func answerErr(resp wire.Response) error {
	err := resp.Err()
	var we *wire.Error
	if errors.As(err, &we) {
		we.Message = Printable(we.Message)
	}
	return err
}

// Printable is a string from the server as it may be printed: as is,
// unless it holds what a terminal would act on or a reader misread
// (control characters, such as a newline that fakes a line or an escape
// that retitles the terminal; other characters that do not print; invalid
// UTF-8), or starts with a double quote; then quoted and escaped as a Go
// string literal, on one line. The server lists no such name, but a
// server is a peer, and what it sends reaches the user's terminal.
func Printable(s string) string {
	notPrintable := func(r rune) bool { return !strconv.IsPrint(r) } // what strconv.Quote escapes
	if !strings.HasPrefix(s, `"`) && utf8.ValidString(s) && strings.IndexFunc(s, notPrintable) < 0 {
		return s
	}
	return strconv.Quote(s)
}

// List fetches and checks the listing on a connection of its own.
func (cl Client) List() ([]wire.Entry, error) {
	c, err := cl.Dial()
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.List()
}

// List fetches the listing and checks its length and sum before parsing
// it.
func (c *Conn) List() ([]wire.Entry, error) {
	resp, err := c.request(wire.Request{Op: wire.OpList})
	if err != nil {
		return nil, err
	}
	if resp.Size > wire.MaxListBody {
		return nil, fmt.Errorf("listing of %d bytes, over %d", resp.Size, wire.MaxListBody)
	}
	body := make([]byte, resp.Size)
	if _, err := io.ReadFull(c, body); err != nil {
		return nil, fmt.Errorf("connection lost during the listing: %w", err)
	}
	if sha256.Sum256(body) != resp.Sum {
		return nil, errors.New("listing: checksum mismatch")
	}
	return wire.ParseList(body)
}

// Drain gets name, which must be size bytes long, and reads its body to
// nothing: a benchmark's load. Its sum is not computed, so that what is
// measured is the server and the connection.
func (c *Conn) Drain(name string, size int64) error {
	resp, err := c.request(wire.Request{Op: wire.OpGet, Name: name})
	if err != nil {
		return err
	}
	if int64(resp.Size) != size {
		return fmt.Errorf("get %s: %d bytes, want %d", name, resp.Size, size)
	}
	_, err = io.CopyN(io.Discard, c, size)
	return err
}
