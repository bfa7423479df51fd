package library

import (
	"errors"
	"fmt"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// ErrNoSpace is an upload that would leave less than the library's
// minimum free space on its filesystem.
var ErrNoSpace = errors.New("not enough free space")

// space is what the library's uploads have announced and not yet
// written, against a floor of free space. Only this process's uploads are
// counted: other workers' and other programs' writes show only once
// written, in statfs.
type space struct {
	mu      sync.Mutex
	minFree int64
	pending map[*Upload]int64 // each upload's announced size
}

// SetMinFree sets the free space (bytes an unprivileged user may still
// write, statfs's f_bavail) an upload must leave on the library's
// filesystem; 0 turns the check off.
func (l *Library) SetMinFree(n int64) {
	l.space.mu.Lock()
	l.space.minFree = n
	l.space.mu.Unlock()
}

// Reserve says the upload will hold size bytes in all, and checks that
// the filesystem can take what it still lacks, beside what this library's
// other uploads announced and have not yet written, and keep the minimum
// free: else ErrNoSpace, and the upload's earlier reservation stands. Call
// it before the first byte is received; when a body's size is not known
// beforehand, call it again as the bytes come. Commit and Abort release it.
func (u *Upload) Reserve(size int64) error {
	sp := &u.l.space
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if sp.minFree <= 0 {
		return nil
	}
	if u.f == nil {
		return fmt.Errorf("upload %s: reserve after commit or abort", u.name)
	}
	var fs unix.Statfs_t
	var err error
	// The temp file's own filesystem: the target's, whatever is mounted
	// inside the library.
	if cerr := control(u.f, func(fd int) { err = unix.Fstatfs(fd, &fs) }); cerr != nil || err != nil {
		return fmt.Errorf("upload %s: statfs: %w", u.name, errors.Join(cerr, err))
	}
	free := int64(fs.Bavail) * int64(fs.Bsize)
	need := size
	for o, announced := range sp.pending {
		if o != u {
			need += max(announced-written(o.f), 0)
		}
	}
	need -= written(u.f)
	if free-need < sp.minFree {
		return fmt.Errorf("upload %s of %d bytes: %d free, %d more announced, %d to keep free: %w",
			u.name, size, free, need, sp.minFree, ErrNoSpace)
	}
	if sp.pending == nil {
		sp.pending = make(map[*Upload]int64)
	}
	sp.pending[u] = size
	return nil
}

// written is how much of an upload its temp file holds.
func written(f *os.File) int64 {
	st, err := fstat(f)
	if err != nil {
		return 0
	}
	return st.Size
}

// release drops the upload's reservation.
func (u *Upload) release() {
	u.l.space.mu.Lock()
	delete(u.l.space.pending, u)
	u.l.space.mu.Unlock()
}
