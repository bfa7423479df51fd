package library

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Sum is a SHA-256.
type Sum = [sha256.Size]byte

// A large file's SHA-256 is kept in the sums directory beneath the root,
// one small file per inode (named DEV-INO in hex), so that every worker
// and every later run shares it without hashing again. Nothing is written
// to the file itself: an xattr on it would change its ctime, which is what
// a sum is checked against.
const (
	sumsDir = ReservedPrefix + "sums" // reserved: no client reaches it, List skips it
	// sumMagic starts an entry: another layout is another magic, and an
	// entry of another layout is not read.
	sumMagic = "sgs1"
	// An entry: magic, sum, then size, mtime and ctime in nanoseconds,
	// big-endian.
	sumEntryLen = len(sumMagic) + sha256.Size + 3*8
	// sumsInMemory bounds the entries a process keeps in front of the
	// directory; past it, one is dropped at random.
	sumsInMemory = 1 << 14
)

// fileKey names an inode.
type fileKey struct{ dev, ino uint64 }

// stamp is what a sum is valid for: the inode as it was when hashed. ctime
// is in it because nobody can set it back: a file rewritten in place with
// its size and mtime restored (cp -p, touch -r, tar, rsync) still has a
// new ctime.
type stamp struct {
	fileKey
	size, mtime, ctime int64
}

func stampOf(st *unix.Stat_t) stamp {
	return stamp{
		fileKey: fileKey{dev: st.Dev, ino: st.Ino},
		size:    st.Size, mtime: st.Mtim.Nano(), ctime: st.Ctim.Nano(),
	}
}

type sumEntry struct {
	st  stamp
	sum Sum
}

// sums is the store of large files' sums: memory in front of the sums
// directory, or memory alone where the directory cannot be made (a
// read-only library). The directory is made by the first sum kept, so a
// library of small files has none.
type sums struct {
	root  *os.Root
	mu    sync.Mutex // guards m, dir and dirfd
	m     map[fileKey]sumEntry
	dir   *os.File // O_PATH, once open
	dirfd int
	// hashed counts the files this process hashed to serve them: the
	// tests' way to see that a download did not hash.
	hashed atomic.Int64
}

func openSums(root *os.Root) *sums {
	return &sums{root: root, m: make(map[fileKey]sumEntry)}
}

// dirFD is the sums directory's descriptor, made if create, or -1.
func (c *sums) dirFD(create bool) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dir != nil {
		return c.dirfd
	}
	if create {
		if err := c.root.Mkdir(sumsDir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return -1
		}
	}
	d, err := c.root.OpenFile(sumsDir, unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		return -1
	}
	if control(d, func(fd int) { c.dirfd = fd }) != nil {
		d.Close()
		return -1
	}
	c.dir = d
	return c.dirfd
}

func (c *sums) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dir != nil {
		c.dir.Close()
		c.dir = nil
	}
}

func entryName(k fileKey) string {
	return strconv.FormatUint(k.dev, 16) + "-" + strconv.FormatUint(k.ino, 16)
}

// sumOf returns the SHA-256 of f, a regular file whose fstat is st: kept,
// if kept for this very stamp, else by reading it. A sum is kept only if
// the file did not change while being read.
func (c *sums) sumOf(f *os.File, st *unix.Stat_t) (Sum, error) {
	s := stampOf(st)
	if sum, ok := c.lookup(s); ok {
		return sum, nil
	}
	c.hashed.Add(1)
	sum, err := hashFile(f, s.size)
	if err != nil {
		return sum, err
	}
	after, err := fstat(f)
	if err == nil && stampOf(after) == s {
		c.keep(s, sum)
		if after.Nlink == 0 {
			// Deleted or replaced meanwhile: its entry would never be
			// read, and whoever replaced it may have forgotten it
			// before it was written.
			c.forget(s.fileKey)
		}
	}
	return sum, nil
}

// lookup finds the sum kept for s, in memory or on disk.
func (c *sums) lookup(s stamp) (Sum, bool) {
	c.mu.Lock()
	e, ok := c.m[s.fileKey]
	c.mu.Unlock()
	if ok && e.st == s {
		return e.sum, true
	}
	e, ok = c.read(s.fileKey)
	if !ok || e.st != s {
		return Sum{}, false
	}
	c.remember(e)
	return e.sum, true
}

// read reads k's entry from the directory, opening nothing but a regular
// file of the right size.
func (c *sums) read(k fileKey) (sumEntry, bool) {
	dirfd := c.dirFD(false)
	if dirfd < 0 {
		return sumEntry{}, false
	}
	pfd, err := unix.Openat(dirfd, entryName(k), unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return sumEntry{}, false
	}
	f, _, err := reopenRegular(pfd, entryName(k))
	unix.Close(pfd)
	if err != nil || f == nil {
		return sumEntry{}, false
	}
	defer f.Close()
	var buf [sumEntryLen + 1]byte // one more: a longer file is not an entry
	n, _ := io.ReadFull(f, buf[:])
	if n != sumEntryLen || !bytes.HasPrefix(buf[:], []byte(sumMagic)) {
		return sumEntry{}, false
	}
	b := buf[len(sumMagic):]
	e := sumEntry{st: stamp{fileKey: k}}
	copy(e.sum[:], b)
	b = b[sha256.Size:]
	e.st.size = int64(binary.BigEndian.Uint64(b))
	e.st.mtime = int64(binary.BigEndian.Uint64(b[8:]))
	e.st.ctime = int64(binary.BigEndian.Uint64(b[16:]))
	return e, true
}

func (c *sums) remember(e sumEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[e.st.fileKey]; !ok && len(c.m) >= sumsInMemory {
		for k := range c.m { // map order: a random eviction
			delete(c.m, k)
			break
		}
	}
	c.m[e.st.fileKey] = e
}

// keep records sum for the inode as stamped: in memory, and in the
// directory, written whole to a temp file and renamed over the entry, so
// that a reader (another worker) sees the old entry or the new one.
func (c *sums) keep(s stamp, sum Sum) {
	c.remember(sumEntry{st: s, sum: sum})
	dirfd := c.dirFD(true)
	if dirfd < 0 {
		return
	}
	buf := make([]byte, 0, sumEntryLen)
	buf = append(buf, sumMagic...)
	buf = append(buf, sum[:]...)
	buf = binary.BigEndian.AppendUint64(buf, uint64(s.size))
	buf = binary.BigEndian.AppendUint64(buf, uint64(s.mtime))
	buf = binary.BigEndian.AppendUint64(buf, uint64(s.ctime))
	var rnd [8]byte
	rand.Read(rnd[:])
	tmp := TempPrefix + hex.EncodeToString(rnd[:])
	fd, err := unix.Openat(dirfd, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return
	}
	n, err := unix.Write(fd, buf)
	unix.Close(fd)
	if err != nil || n != len(buf) || unix.Renameat(dirfd, tmp, dirfd, entryName(s.fileKey)) != nil {
		unix.Unlinkat(dirfd, tmp, 0)
	}
}

// forget drops k's entry: its inode is gone.
func (c *sums) forget(k fileKey) {
	c.mu.Lock()
	delete(c.m, k)
	c.mu.Unlock()
	if dirfd := c.dirFD(false); dirfd >= 0 {
		unix.Unlinkat(dirfd, entryName(k), 0)
	}
}

// prune removes every entry of the directory whose inode is not among
// live: those of files deleted or replaced behind the server's back.
func (c *sums) prune(live map[fileKey]bool) error {
	dirfd := c.dirFD(false)
	if dirfd < 0 {
		return nil
	}
	fd, err := unix.Openat(dirfd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("prune sums: %w", err)
	}
	d := os.NewFile(uintptr(fd), sumsDir)
	defer d.Close()
	for {
		names, rerr := d.Readdirnames(1024)
		for _, n := range names {
			if strings.HasPrefix(n, TempPrefix) {
				continue // CleanTemp's
			}
			if k, ok := parseEntryName(n); !ok || !live[k] {
				unix.Unlinkat(dirfd, n, 0)
			}
		}
		switch {
		case rerr == io.EOF:
			return nil
		case rerr != nil:
			return fmt.Errorf("prune sums: %w", rerr)
		case len(names) == 0:
			return nil
		}
	}
}

// parseEntryName is entryName backwards; a name it did not make is not
// an entry.
func parseEntryName(n string) (fileKey, bool) {
	dev, ino, ok := strings.Cut(n, "-")
	d, err1 := strconv.ParseUint(dev, 16, 64)
	i, err2 := strconv.ParseUint(ino, 16, 64)
	k := fileKey{dev: d, ino: i}
	return k, ok && err1 == nil && err2 == nil && entryName(k) == n
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
