package library

import (
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Small files are served from memory: a download of a few KiB costs the
// server more in syscalls (open, fstat, fgetxattr, lseek, sendfile, close,
// and the header's own write) than in bytes. A cached one costs a fstatat
// to check it is unchanged, and one writev of header and body.
const (
	// SmallMax is the largest file held in memory: above it, sendfile's
	// saved copy is worth more than the saved syscalls.
	SmallMax = 64 << 10
	// CacheBudget bounds the bytes a library holds in memory (per process):
	// each entry is charged its content, its name and cacheEntryCost.
	CacheBudget = 32 << 20
	// cacheEntryCost is what an entry costs beside its content and name:
	// the map's slot, the cached struct, the string header; about 150
	// bytes measured (Go 1.26, amd64), rounded up for the map's growth.
	// Charged, an empty file is not free: distinct names of it (links to
	// "." make endless ones) would otherwise grow the cache unbounded.
	cacheEntryCost = 256
	// cacheMaxEntries bounds the entries whatever they cost (a budget of
	// small files of a few KiB is some thousands of them): the map's
	// size, and so the time a random eviction may take to find room.
	cacheMaxEntries = 1 << 14
)

// fileID is what a cached content is valid for: the same inode, unchanged
// since it was read. ctime moves on any write, truncate or rename, and
// unlike mtime nobody can set it back.
type fileID struct {
	dev, ino    uint64
	size        int64
	mtime, ctim unix.Timespec
}

func idOf(st *unix.Stat_t) fileID {
	return fileID{dev: st.Dev, ino: st.Ino, size: st.Size, mtime: st.Mtim, ctim: st.Ctim}
}

type cached struct {
	id   fileID
	data []byte
	sum  Sum
}

// cache holds small files' contents by name.
type cache struct {
	dir   int // O_PATH descriptor of the root, for fstatat
	mu    sync.RWMutex
	m     map[string]*cached
	bytes int // the entries' charge, summed: see cost
}

// cost is what an entry is charged against CacheBudget.
func cost(name string, e *cached) int { return cacheEntryCost + len(name) + len(e.data) }

func newCache(dir string) (*cache, error) {
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	return &cache{dir: fd, m: make(map[string]*cached)}, nil
}

func (c *cache) close() error { return unix.Close(c.dir) }

// get returns name's content if it is cached and the name still leads to
// the very inode it was read from, unchanged. The fstatat follows the name
// as the kernel does, with no root check: that is safe because a match
// only ever serves bytes that were read through os.Root; a name that now
// leads elsewhere (a symlink out, say) does not match, and the caller
// resolves it beneath the root as for any miss.
func (c *cache) get(name string) (*cached, bool) {
	c.mu.RLock()
	e, ok := c.m[name]
	c.mu.RUnlock()
	if !ok {
		return nil, false
	}
	var st unix.Stat_t
	if err := unix.Fstatat(c.dir, name, &st, 0); err != nil || idOf(&st) != e.id {
		c.mu.Lock()
		if c.m[name] == e { // stale: drop it
			c.bytes -= cost(name, e)
			delete(c.m, name)
		}
		c.mu.Unlock()
		return nil, false
	}
	return e, true
}

// fill reads f (of name, as fi) whole and keeps it, if it is small and
// stays unchanged while being read. The sum is computed from the bytes
// kept, so the two cannot disagree.
func (c *cache) fill(name string, f *os.File, before *unix.Stat_t) (*cached, error) {
	// before is the stat that found it small: a file grown since is read
	// only so far (and, changed, not kept), so no allocation passes
	// SmallMax whatever a writer does meanwhile.
	data := make([]byte, min(before.Size, SmallMax))
	if _, err := io.ReadFull(io.NewSectionReader(f, 0, int64(len(data))), data); err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	after, err := fstat(f)
	if err != nil {
		return nil, err
	}
	e := &cached{id: idOf(after), data: data, sum: sha256.Sum256(data)}
	if idOf(before) != e.id {
		// Changing under us: serve this read, as read (its size is the
		// bytes read, which its sum is of), and keep nothing.
		e.id.size = int64(len(data))
		return e, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.m[name]; ok {
		c.bytes -= cost(name, old)
		delete(c.m, name)
	}
	charge := cost(name, e)
	for k, v := range c.m { // map order: a random eviction
		if c.bytes+charge <= CacheBudget && len(c.m) < cacheMaxEntries {
			break
		}
		c.bytes -= cost(k, v)
		delete(c.m, k)
	}
	c.m[name] = e
	c.bytes += charge
	return e, nil
}

// file turns a cache entry into a File served from memory.
func (e *cached) file() *File {
	return &File{Data: e.data, Size: e.id.size, ModTime: time.Unix(e.id.mtime.Unix()), Sum: e.sum}
}
