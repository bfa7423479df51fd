package library

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// Sum is a SHA-256.
type Sum = [sha256.Size]byte

// sumXattr holds a file's SHA-256 beside it, with the size and mtime it was
// computed for: 32 bytes of sum, 8 of size, 8 of mtime in nanoseconds.
const (
	sumXattr    = "user.sigride.sha256"
	sumXattrLen = sha256.Size + 8 + 8
)

// stamp is what a cached sum is valid for.
type stamp struct {
	dev, ino    uint64
	size, mtime int64
}

func stampOf(fi os.FileInfo) stamp {
	st, _ := fi.Sys().(*syscall.Stat_t)
	s := stamp{size: fi.Size(), mtime: fi.ModTime().UnixNano()}
	if st != nil {
		s.dev, s.ino = st.Dev, st.Ino
	}
	return s
}

// sums is the memory fallback where the filesystem keeps no xattrs.
type sums struct {
	mu sync.Mutex
	m  map[stamp]Sum
}

// sumOf returns f's SHA-256, from the xattr or memory if still valid for
// its size and mtime, else by reading it (and keeping the result).
func (c *sums) sumOf(f *os.File, fi os.FileInfo) (Sum, error) {
	st := stampOf(fi)
	var buf [sumXattrLen]byte
	if n, err := unix.Fgetxattr(int(f.Fd()), sumXattr, buf[:]); err == nil && n == sumXattrLen &&
		int64(binary.BigEndian.Uint64(buf[32:])) == st.size && int64(binary.BigEndian.Uint64(buf[40:])) == st.mtime {
		return Sum(buf[:32]), nil
	}
	c.mu.Lock()
	sum, ok := c.m[st]
	c.mu.Unlock()
	if ok {
		return sum, nil
	}
	sum, err := hashFile(f, fi.Size())
	if err != nil {
		return sum, err
	}
	c.keep(f, st, sum)
	return sum, nil
}

// keep records sum for f as stamped: in the xattr, and in memory.
func (c *sums) keep(f *os.File, st stamp, sum Sum) {
	var buf [sumXattrLen]byte
	copy(buf[:], sum[:])
	binary.BigEndian.PutUint64(buf[32:], uint64(st.size))
	binary.BigEndian.PutUint64(buf[40:], uint64(st.mtime))
	if err := unix.Fsetxattr(int(f.Fd()), sumXattr, buf[:], 0); err == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[stamp]Sum)
	}
	c.m[st] = sum
}

// hashFile reads f's first size bytes, leaving its offset alone.
func hashFile(f *os.File, size int64) (Sum, error) {
	h := sha256.New()
	n, err := io.Copy(h, io.NewSectionReader(f, 0, size))
	if err == nil && n != size {
		err = errors.New("file shrank while being read")
	}
	var sum Sum
	copy(sum[:], h.Sum(nil))
	return sum, err
}
