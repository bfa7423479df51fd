package fileclient

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/sigride/sigride/internal/wire"
)

// PutFile uploads the regular file src as name, on a connection of its
// own, reporting to p (which may be nil). The file is hashed before the
// connection is made, so that a long hash keeps no server waiting, and
// sent by sendfile.
func (cl Client) PutFile(src, name string, p Progress) error {
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
	// The sum goes after the body: hash first, then send.
	size := fi.Size() // what is sent: a file still growing sends its size at the start
	h := sha256.New()
	if _, err := io.CopyN(h, f, size); err != nil {
		return fmt.Errorf("read %s: %w", src, err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	c, err := cl.Dial()
	if err != nil {
		return err
	}
	defer c.Close()
	return c.put(name, src, size, sum(h.Sum(nil)), func() (int64, error) {
		return copyN(c, f, size, p)
	})
}

// Put uploads data as name. sum is data's SHA-256, given rather than
// computed so that a caller sending the same bytes again and again (a
// benchmark) computes it once; a wrong one is the server's checksum
// error, and nothing stored.
func (c *Conn) Put(name string, data []byte, sum [wire.SumSize]byte) error {
	return c.put(name, "the data", int64(len(data)), sum, func() (int64, error) {
		n, err := c.Write(data)
		return int64(n), err
	})
}

// put asks to upload size bytes as name, sends them with send once the
// server says CONTINUE, then their sum, and checks that the server
// stored them. src is what the bytes are read from, for the messages.
func (c *Conn) put(name, src string, size int64, s [wire.SumSize]byte, send func() (int64, error)) error {
	resp, err := c.request(wire.Request{Op: wire.OpPut, Name: name, Arg: uint64(size)})
	if err != nil {
		return err
	}
	if resp.Status != wire.StatusContinue {
		return fmt.Errorf("the server answered %s before the body", resp.Status)
	}
	n, err := send()
	// %v, not %w: the silence is told with how far the upload got, which
	// a caller reducing an error to its silence would lose.
	var se *SilenceError
	if errors.As(err, &se) {
		return fmt.Errorf("%v, after %d of %d bytes", se, n, size)
	}
	switch {
	case err != nil:
		return fmt.Errorf("connection lost after %d of %d bytes: %w", n, size, err)
	case n != size:
		return fmt.Errorf("%s shrank while being sent: %d of %d bytes", src, n, size)
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
	if resp.Sum != s || resp.Size != uint64(size) {
		return errors.New("the server stored something else")
	}
	return nil
}

// sum is a hash's sum as the protocol carries it.
func sum(b []byte) (s [wire.SumSize]byte) {
	copy(s[:], b)
	return s
}
