package fileserve

import (
	"bufio"
	"crypto/sha256"
	"errors"
	"hash"

	"github.com/sigride/sigride/internal/library"
	"github.com/sigride/sigride/internal/tftp"
)

// TFTPStore gives the TFTP server the Store: the same names, checks and
// atomic uploads as the TCP protocol. It is here, not in internal/library,
// for the library is a foundation and imports no protocol.
func TFTPStore(s Store) tftp.Store { return tftpStore{s} }

type tftpStore struct{ s Store }

// tftpError turns a library error into the TFTP error the client gets.
func tftpError(err error) error {
	var ne *library.NameError
	switch {
	case errors.As(err, &ne):
		return &tftp.Error{Code: tftp.ErrAccess, Message: ne.Error()}
	case errors.Is(err, library.ErrNotFound):
		return &tftp.Error{Code: tftp.ErrNotFound, Message: "file not found"}
	case errors.Is(err, library.ErrNotAFile):
		return &tftp.Error{Code: tftp.ErrAccess, Message: "not a file"}
	case errors.Is(err, library.ErrNoSpace):
		return &tftp.Error{Code: tftp.ErrDiskFull, Message: "not enough free space on the server"}
	case errors.Is(err, library.ErrChecksum):
		return &tftp.Error{Code: tftp.ErrUndefined, Message: "stored bytes do not read back right; nothing stored"}
	}
	return err
}

func (s tftpStore) Open(name string) (tftp.File, error) {
	f, err := s.s.Open(name)
	if err != nil {
		return nil, tftpError(err)
	}
	return tftpFile{f}, nil
}

type tftpFile struct{ f *library.File }

func (f tftpFile) ReadAt(p []byte, off int64) (int, error) { return f.f.ReadAt(p, off) }
func (f tftpFile) Size() int64                             { return f.f.Size }
func (f tftpFile) Close() error                            { return f.f.Close() }

// Create starts an upload of size bytes (the WRQ's tsize), or of a size
// told by the bytes as they come (-1): the free space is checked now for
// what is announced, and again each spaceCheck bytes past it.
func (s tftpStore) Create(name string, size int64) (tftp.Upload, error) {
	up, err := s.s.Create(name)
	if err != nil {
		return nil, tftpError(err)
	}
	size = max(size, 0)
	if err := up.Reserve(size); err != nil {
		up.Abort()
		return nil, tftpError(err)
	}
	u := &tftpUpload{up: up, h: sha256.New(), reserved: size}
	u.w = bufio.NewWriterSize(up.File(), uploadBuffer)
	return u, nil
}

// uploadBuffer is an upload's write buffer. It batches small blocks (32
// blocks of 512 bytes to a write); a block at least as large goes to the
// file straight from the packet. An idle upload holds it, so it is kept
// small: 1,000 uploads at 256 KiB held 300 MB of a worker.
const uploadBuffer = 16 << 10

// tftpUpload hashes what it writes: TFTP carries no checksum, and Commit
// checks that the file reads back as written.
type tftpUpload struct {
	up       *library.Upload
	w        *bufio.Writer
	h        hash.Hash
	n        int64
	reserved int64 // what the free space was last checked for
}

// spaceCheck is how many bytes past its reservation an upload writes
// before the free space is checked again: a WRQ without tsize, or one
// sending more than it announced, is stopped within that of the floor.
const spaceCheck = 1 << 20

func (u *tftpUpload) Write(p []byte) (int, error) {
	if u.n+int64(len(p)) > u.reserved {
		next := u.n + int64(len(p)) + spaceCheck
		if err := u.up.Reserve(next); err != nil {
			return 0, tftpError(err)
		}
		u.reserved = next
	}
	n, err := u.w.Write(p)
	u.h.Write(p[:n])
	u.n += int64(n)
	return n, err
}

func (u *tftpUpload) Commit() error {
	if err := u.w.Flush(); err != nil {
		return err
	}
	return tftpError(u.up.Commit(u.n, library.Sum(u.h.Sum(nil))))
}

func (u *tftpUpload) Abort() { u.up.Abort() }
