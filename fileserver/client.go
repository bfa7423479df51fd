package main

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"math"
	"net"
	"os"
	"path"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/spf13/pflag"

	"golang.org/x/sys/unix"

	"github.com/sigride/sigride/internal/atomicfile"
	"github.com/sigride/sigride/internal/cli"
	"github.com/sigride/sigride/internal/peerio"
	"github.com/sigride/sigride/internal/wire"
)

// defaultTimeout is how long a client command waits for a byte to move:
// to connect, for an answer, and at every point of a transfer. It bounds
// silence, not a transfer's length: a large file on a slow link is fine as
// long as bytes keep moving.
const defaultTimeout = 30 * time.Second

// client is what every client command takes from its flags.
type client struct {
	addr    string
	timeout time.Duration
}

// clientFlags parses a client command's flags, with --addr and --timeout,
// and checks the number of arguments.
func clientFlags(fs *pflag.FlagSet, synopsis string, args []string, nargs int, stdout, stderr io.Writer) (client, error) {
	var cl client
	fs.StringVar(&cl.addr, "addr", defaultAddr, "the server's address")
	fs.DurationVar(&cl.timeout, "timeout", defaultTimeout, "give up when no byte moves for this long (connecting, waiting for an answer, in a transfer)")
	if err := cli.Parse(fs, synopsis, args, stdout, stderr); err != nil {
		return cl, err
	}
	switch {
	case cl.timeout <= 0:
		return cl, cli.BadUsage(fs, synopsis, stderr, fmt.Errorf("--timeout %v: must be positive", cl.timeout))
	case fs.NArg() == nargs:
	case nargs == 0:
		return cl, cli.BadUsage(fs, synopsis, stderr, fmt.Errorf("unexpected argument %q", fs.Arg(0)))
	default: // every command with arguments takes one
		return cl, cli.BadUsage(fs, synopsis, stderr, fmt.Errorf("want one argument, got %d", fs.NArg()))
	}
	return cl, nil
}

// silentError is a server that sent or took no byte for the timeout.
type silentError struct {
	what string // "from ADDR"
	d    time.Duration
}

func (e *silentError) Error() string { return fmt.Sprintf("no answer %s for %v", e.what, e.d) }

// dial connects within the timeout and returns a connection whose every
// read and write must move a byte within it.
func (cl client) dial() (*conn, error) {
	d := net.Dialer{Timeout: cl.timeout}
	c, err := d.Dial("tcp", cl.addr)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return nil, &silentError{what: "from " + cl.addr, d: cl.timeout}
	}
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", cl.addr, err)
	}
	pc, err := peerio.New(c, cl.timeout)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("connect to %s: %w", cl.addr, err)
	}
	return &conn{Conn: pc, silent: silentError{what: "from " + cl.addr, d: cl.timeout}}, nil
}

// conn is a connection to the server under peerio's progress deadline:
// every read and write (the response's header, a listing, a download, an
// upload by sendfile, bench's requests) fails only once no byte has moved
// for the timeout, as the one-line silentError.
type conn struct {
	*peerio.Conn
	silent silentError
}

// check turns a silence into the one-line silentError.
func (c *conn) check(err error) error {
	var se *peerio.SilenceError
	if errors.As(err, &se) {
		e := c.silent
		return &e
	}
	return err
}

func (c *conn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	return n, c.check(err)
}

func (c *conn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	return n, c.check(err)
}

// sendFile sends n bytes of f from its offset, which it advances, by
// sendfile(2): the bytes never enter user space.
func (c *conn) sendFile(f *os.File, n int64) (int64, error) {
	off, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		return 0, err
	}
	sent, err := c.Conn.SendFile(f, off, n)
	if _, serr := f.Seek(off+sent, io.SeekStart); serr != nil && err == nil {
		err = serr
	}
	return sent, c.check(err)
}

// request sends req and reads the response header; an error response is
// returned as an error.
func request(c io.ReadWriter, req wire.Request) (wire.Response, error) {
	if _, err := c.Write(wire.AppendRequest(nil, req)); err != nil {
		return wire.Response{}, fmt.Errorf("send request: %w", err)
	}
	resp, err := wire.ReadResponse(c)
	if err != nil {
		return resp, fmt.Errorf("read response: %w", err)
	}
	return resp, answerErr(resp)
}

// answerErr is resp's error (nil for OK and CONTINUE), its message as the
// client may print it: a server's words reach the terminal only
// printable, quoted and escaped otherwise (see printable).
func answerErr(resp wire.Response) error {
	err := resp.Err()
	var we *wire.Error
	if errors.As(err, &we) {
		we.Message = printable(we.Message)
	}
	return err
}

// oneLine reports err as OP: ERR, and a timeout as just OP: no answer from
// ADDR for DUR, whatever it interrupted.
func oneLine(op string, err error) error {
	var se *silentError
	if errors.As(err, &se) {
		return fmt.Errorf("%s: %w", op, se)
	}
	return fmt.Errorf("%s: %w", op, err)
}

const listSynopsis = `usage: fileserver ls [--addr ADDR] [--json] [--timeout DUR]

Lists the library: one file a line, its name, its size in bytes and its
modification time; --json prints the same as a JSON array. A name with a
character that does not print (a control character, a newline, a
terminal escape) or that starts with a double quote is printed quoted and
escaped, as a Go string literal ("a\nb"), never raw. No answer within
--timeout: exit 1.`

func runList(args []string, stdout, stderr io.Writer) error {
	fs := pflag.NewFlagSet("fileserver ls", pflag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print JSON")
	cl, err := clientFlags(fs, listSynopsis, args, 0, stdout, stderr)
	if err != nil {
		return err
	}
	entries, err := list(cl)
	if err != nil {
		return oneLine("ls", err)
	}
	if *asJSON {
		type entry struct {
			Name    string    `json:"name"`
			Size    uint64    `json:"size"`
			ModTime time.Time `json:"mtime"`
		}
		out := make([]entry, len(entries))
		for i, e := range entries {
			out[i] = entry{e.Name, e.Size, e.ModTime.UTC()}
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	for _, e := range entries {
		fmt.Fprintf(stdout, "%s\t%d\t%s\n", printable(e.Name), e.Size, e.ModTime.UTC().Format(time.RFC3339))
	}
	return nil
}

// printable is a name as ls prints it: as is, unless it holds what a
// terminal would act on or a reader misread (control characters, such as
// a newline that fakes a line or an escape that retitles the terminal;
// other characters that do not print; invalid UTF-8), or starts with a
// double quote; then quoted, escaped, on one line. The server lists no
// such name, but a server is a peer, and what it sends reaches the
// user's terminal.
func printable(name string) string {
	notPrintable := func(r rune) bool { return !strconv.IsPrint(r) } // what strconv.Quote escapes
	if !strings.HasPrefix(name, `"`) && utf8.ValidString(name) && strings.IndexFunc(name, notPrintable) < 0 {
		return name
	}
	return strconv.Quote(name)
}

// list fetches and checks the listing.
func list(cl client) ([]wire.Entry, error) {
	c, err := cl.dial()
	if err != nil {
		return nil, err
	}
	defer c.Close()
	resp, err := request(c, wire.Request{Op: wire.OpList})
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

const getSynopsis = `usage: fileserver get NAME [-o PATH] [--continue] [--addr ADDR] [--timeout DUR]

Downloads NAME to PATH (default: NAME's last element, here). The bytes go to
PATH.part, renamed to PATH only once complete and its SHA-256 verified;
--continue resumes from an existing PATH.part. Over 4 MiB, a progress bar
shows on stderr when it is a terminal (--quiet: none).

What is at PATH decides how it is written: a new name or a regular file is
replaced as above (through a symlink, its target: the link stays); "-" is
stdout; a FIFO, a character device or /dev/stdout is written into as the
bytes come, never replaced: the SHA-256 is checked at the end and a
mismatch exits 1 after the bytes went out (--continue is refused there; a
FIFO with no reader is an error). Anything else (a directory, a socket, a
dangling symlink) is refused. PATH.part must be a regular file: a symlink
there is refused, not followed.

--timeout bounds silence: connecting, the answer, and every moment of the
transfer (no byte for DUR: exit 1, PATH.part kept for --continue).`

// sink is where a download's bytes go.
type sink struct {
	w       io.Writer // the file, stdout, or a deadline on a FIFO or device
	f       *os.File  // the file to close; nil for stdout
	target  atomicfile.Target
	part    string // PATH.part when replacing, else ""
	have    int64  // bytes already in PATH.part
	hash    hash.Hash
	name    string // what the messages call it
	timeout time.Duration
}

// openSink opens what -o names by atomicfile's rule.
func openSink(dst string, resume bool, stdout io.Writer, timeout time.Duration) (*sink, error) {
	t, err := atomicfile.Resolve(dst)
	if err != nil {
		return nil, err
	}
	s := &sink{target: t, hash: sha256.New(), name: dst, timeout: timeout}
	switch t.Kind {
	case atomicfile.Stdout:
		s.w, s.name = stdout, "stdout"
		if resume {
			return nil, errors.New("--continue: stdout has nothing to resume")
		}
		return s, nil
	case atomicfile.Into:
		if resume {
			return nil, fmt.Errorf("--continue: %s is written into as the bytes come, nothing to resume", dst)
		}
		if s.f, err = atomicfile.OpenInto(t.Path); err != nil {
			return nil, err
		}
		s.w = atomicfile.IntoWriter(s.f, dst, timeout)
		return s, nil
	}
	s.part = t.Path + ".part"
	flag := os.O_RDWR | os.O_CREATE
	if s.f, err = atomicfile.OpenRegular(s.part, flag, !resume); err != nil {
		return nil, err
	}
	// What .part holds already is hashed first: the server's sum is the
	// whole file's.
	if s.have, err = io.Copy(s.hash, s.f); err != nil {
		s.f.Close()
		return nil, fmt.Errorf("read %s: %w", s.part, err)
	}
	s.w, s.name = s.f, s.part
	return s, nil
}

// room checks the file system of PATH.part has room for n more bytes: a
// server announcing more than fits is told at once, not after filling the
// disk.
func (s *sink) room(n uint64) error {
	if s.part == "" {
		return nil
	}
	var st unix.Statfs_t
	if err := unix.Statfs(s.part, &st); err != nil {
		return fmt.Errorf("statfs %s: %w", s.part, err)
	}
	if free := st.Bavail * uint64(st.Bsize); n > free {
		return fmt.Errorf("%d bytes to write and %d free beside %s", n, free, s.part)
	}
	return nil
}

// abandon closes the sink after a failure; keep leaves PATH.part to resume.
func (s *sink) abandon(keep bool) {
	if s.f != nil {
		s.f.Close()
	}
	if s.part != "" && !keep {
		os.Remove(s.part)
	}
}

// commit makes a complete, verified download visible.
func (s *sink) commit() error {
	if s.f == nil {
		return nil
	}
	if s.part == "" {
		return s.f.Close()
	}
	if err := s.f.Sync(); err != nil {
		s.f.Close()
		return fmt.Errorf("sync %s: %w", s.part, err)
	}
	if err := s.f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", s.part, err)
	}
	return s.target.Rename(s.part)
}

// localError is a failure writing the download, told apart from the
// connection's.
type localError struct{ err error }

func (e *localError) Error() string { return e.err.Error() }
func (e *localError) Unwrap() error { return e.err }

// localWriter marks its writer's errors as local.
type localWriter struct {
	w    io.Writer
	name string
}

func (l localWriter) Write(p []byte) (int, error) {
	n, err := l.w.Write(p)
	if err != nil {
		err = &localError{fmt.Errorf("write %s: %w", l.name, err)}
	}
	return n, err
}

func runGet(args []string, stdout, stderr io.Writer) error {
	fs := pflag.NewFlagSet("fileserver get", pflag.ContinueOnError)
	out := fs.StringP("output", "o", "", "where to write the file; - for stdout")
	resume := fs.Bool("continue", false, "resume from PATH.part")
	quiet := fs.BoolP("quiet", "q", false, "no progress bar")
	cl, err := clientFlags(fs, getSynopsis, args, 1, stdout, stderr)
	if err != nil {
		return err
	}
	name := fs.Arg(0)
	dst := *out
	if dst == "" {
		dst = path.Base(name)
	}
	if dst == "-" && *resume {
		return cli.BadUsage(fs, getSynopsis, stderr, errors.New("--continue with -o -: stdout has nothing to resume"))
	}
	op := fmt.Sprintf("get %q", name)
	s, err := openSink(dst, *resume, stdout, cl.timeout)
	if err != nil {
		return oneLine(op, err)
	}
	if err := get(cl, name, s, *quiet, stderr); err != nil {
		return oneLine(op, err)
	}
	return nil
}

// get downloads name into s; s is closed on return.
func get(cl client, name string, s *sink, quiet bool, stderr io.Writer) error {
	c, err := cl.dial()
	if err != nil {
		s.abandon(true)
		return err
	}
	defer c.Close()
	resp, err := request(c, wire.Request{Op: wire.OpGet, Name: name, Arg: uint64(s.have)})
	if err != nil {
		s.abandon(s.have > 0)
		return err
	}
	if resp.Offset != uint64(s.have) {
		// Resuming elsewhere would make the sum fail and lose a good .part.
		s.abandon(true)
		return fmt.Errorf("%w: the server answered from offset %d, asked %d", wire.ErrProtocol, resp.Offset, s.have)
	}
	want := resp.Size - resp.Offset
	if want > math.MaxInt64 {
		s.abandon(s.have > 0)
		return fmt.Errorf("%w: a file of %d bytes", wire.ErrProtocol, resp.Size)
	}
	if err := s.room(want); err != nil {
		s.abandon(s.have > 0)
		return err
	}
	got, err := copyN(io.MultiWriter(localWriter{s.w, s.name}, s.hash), c, int64(want), cli.NewBar(stderr, quiet, name))
	if err == nil && got < int64(want) {
		err = io.ErrUnexpectedEOF
	}
	var le *localError
	switch {
	case err != nil && s.part == "":
		s.abandon(false)
		return fmt.Errorf("%v (%d of %d bytes written to %s)", err, got, want, s.name)
	case errors.As(err, &le):
		s.abandon(true)
		return fmt.Errorf("%w (%s kept: --continue resumes)", err, s.part)
	case err != nil:
		s.abandon(true)
		var se *silentError
		if errors.As(err, &se) {
			return fmt.Errorf("%v, after %d of %d bytes (%s kept: --continue resumes)", se, s.have+got, resp.Size, s.part)
		}
		return fmt.Errorf("connection lost after %d of %d bytes (%s kept: --continue resumes): %w",
			s.have+got, resp.Size, s.part, err)
	}
	if sum(s.hash) != resp.Sum {
		s.abandon(false) // a corrupt .part must not be resumed
		if s.part == "" {
			return fmt.Errorf("checksum mismatch: the %d bytes written to %s are not the file", want, s.name)
		}
		return errors.New("checksum mismatch: nothing written")
	}
	return s.commit()
}

func sum(h hash.Hash) (s [wire.SumSize]byte) {
	copy(s[:], h.Sum(nil))
	return s
}

const putSynopsis = `usage: fileserver put PATH [--as NAME] [--addr ADDR] [--timeout DUR]

Uploads PATH as NAME (default: PATH's last element). The server makes it
visible only once complete and its SHA-256 verified. Over 4 MiB, a progress
bar shows on stderr when it is a terminal (--quiet: none). --timeout bounds
silence: connecting, each answer, and every moment of the upload (the
server taking no byte for DUR: exit 1).`

func runPut(args []string, stdout, stderr io.Writer) error {
	fs := pflag.NewFlagSet("fileserver put", pflag.ContinueOnError)
	as := fs.String("as", "", "the name in the library")
	quiet := fs.BoolP("quiet", "q", false, "no progress bar")
	cl, err := clientFlags(fs, putSynopsis, args, 1, stdout, stderr)
	if err != nil {
		return err
	}
	src := fs.Arg(0)
	name := *as
	if name == "" {
		name = path.Base(src)
	}
	if err := put(cl, src, name, *quiet, stderr); err != nil {
		return oneLine(fmt.Sprintf("put %q", name), err)
	}
	return nil
}

func put(cl client, src, name string, quiet bool, stderr io.Writer) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s: not a regular file", src)
	}
	// Hash first, then send with sendfile: the sum goes after the body.
	h := sha256.New()
	if _, err := io.CopyN(h, f, fi.Size()); err != nil { // what is sent: a file still growing sends its size at the start
		return fmt.Errorf("read %s: %w", src, err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	c, err := cl.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	resp, err := request(c, wire.Request{Op: wire.OpPut, Name: name, Arg: uint64(fi.Size())})
	if err != nil {
		return err
	}
	if resp.Status != wire.StatusContinue {
		return fmt.Errorf("the server answered %s before the body", resp.Status)
	}
	s := sum(h)
	n, err := copyN(c, f, fi.Size(), cli.NewBar(stderr, quiet, name))
	var se *silentError
	if errors.As(err, &se) {
		return fmt.Errorf("%v, after %d of %d bytes", se, n, fi.Size())
	}
	switch {
	case err != nil:
		return fmt.Errorf("connection lost after %d of %d bytes: %w", n, fi.Size(), err)
	case n != fi.Size():
		return fmt.Errorf("%s shrank while being sent: %d of %d bytes", src, n, fi.Size())
	}
	if _, err := c.Write(s[:]); err != nil {
		return fmt.Errorf("send the sum: %w", err)
	}
	resp, err = wire.ReadResponse(c)
	if err != nil {
		return fmt.Errorf("read the answer: %w", err)
	}
	if err := answerErr(resp); err != nil {
		return err
	}
	if resp.Sum != s || resp.Size != uint64(fi.Size()) {
		return errors.New("the server stored something else")
	}
	return nil
}
