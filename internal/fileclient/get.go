package fileclient

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"math"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sigride/sigride/internal/atomicfile"
	"github.com/sigride/sigride/internal/wire"
)

// Dest is where a download goes.
type Dest struct {
	Path   string    // by atomicfile's rule; "-" is Stdout
	Resume bool      // continue from what Path.part holds
	Stdout io.Writer // what "-" writes to
}

// Get downloads name to dst, reporting to p (which may be nil). What is
// at dst.Path is looked at, and refused, before the server is.
func (cl Client) Get(name string, dst Dest, p Progress) error {
	s, err := openSink(dst, cl.Timeout)
	if err != nil {
		return err
	}
	c, err := cl.Dial()
	if err != nil {
		s.abandon(true)
		return err
	}
	defer c.Close()
	return c.get(name, s, p)
}

// sink is where a download's bytes go.
type sink struct {
	w      io.Writer // the file, stdout, or a deadline on a FIFO or device
	f      *os.File  // the file to close; nil for stdout
	target atomicfile.Target
	part   string // PATH.part when replacing, else ""
	have   int64  // bytes already in PATH.part
	hash   hash.Hash
	name   string // what the messages call it
}

// openSink opens dst.Path by atomicfile's rule. A FIFO or a device that
// takes no byte for timeout fails the download.
func openSink(dst Dest, timeout time.Duration) (*sink, error) {
	t, err := atomicfile.Resolve(dst.Path)
	if err != nil {
		return nil, err
	}
	s := &sink{target: t, hash: sha256.New(), name: dst.Path}
	switch t.Kind {
	case atomicfile.Stdout:
		s.w, s.name = dst.Stdout, "stdout"
		if dst.Resume {
			return nil, errors.New("--continue: stdout has nothing to resume")
		}
		return s, nil
	case atomicfile.Into:
		if dst.Resume {
			return nil, fmt.Errorf("--continue: %s is written into as the bytes come, nothing to resume", dst.Path)
		}
		if s.f, err = atomicfile.OpenInto(t.Path); err != nil {
			return nil, err
		}
		s.w = atomicfile.IntoWriter(s.f, dst.Path, timeout)
		return s, nil
	}
	s.part = t.Path + ".part"
	flag := os.O_RDWR | os.O_CREATE
	if s.f, err = atomicfile.OpenRegular(s.part, flag, !dst.Resume); err != nil {
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

// get downloads name into s; s is closed on return, committed only if
// the download is whole and its sum checks.
func (c *Conn) get(name string, s *sink, p Progress) error {
	resp, err := c.request(wire.Request{Op: wire.OpGet, Name: name, Arg: uint64(s.have)})
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
	got, err := copyN(io.MultiWriter(localWriter{s.w, s.name}, s.hash), c, int64(want), p)
	if err == nil && got < int64(want) {
		err = io.ErrUnexpectedEOF
	}
	// A silence is told with %v, not %w, and with how far the download
	// got: a caller reducing an error to its silence would lose that.
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
		var se *SilenceError
		if errors.As(err, &se) {
			return fmt.Errorf("%v, after %d of %d bytes (%s kept: --continue resumes)", se, s.have+got, resp.Size, s.part)
		}
		return fmt.Errorf("connection lost after %d of %d bytes (%s kept: --continue resumes): %w",
			s.have+got, resp.Size, s.part, err)
	}
	if sum(s.hash.Sum(nil)) != resp.Sum {
		s.abandon(false) // a corrupt .part must not be resumed
		if s.part == "" {
			return fmt.Errorf("checksum mismatch: the %d bytes written to %s are not the file", want, s.name)
		}
		return errors.New("checksum mismatch: nothing written")
	}
	return s.commit()
}
