package library

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"syscall"
	"time"
)

// Errors a client's request can meet, beside *NameError.
var (
	ErrNotFound = errors.New("not found")
	ErrNotAFile = errors.New("not a regular file")
	ErrChecksum = errors.New("checksum mismatch")
)

// Library is a directory of files, served by name.
type Library struct {
	root  *os.Root
	sums  *sums
	small *cache
	space space
	// beforeRename, if set, runs right before each rename of a commit:
	// the tests' way to change the name at that very instant.
	beforeRename func()
}

// Open opens the library at dir, creating it if missing.
func Open(dir string) (*Library, error) {
	// Every file is opened again through procFD: see openRegular.
	if _, err := os.Stat(procFD); err != nil {
		return nil, fmt.Errorf("library %s: needs /proc mounted: %w", dir, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("library %s: %w", dir, err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("library %s: %w", dir, err)
	}
	small, err := newCache(dir)
	if err != nil {
		root.Close()
		return nil, fmt.Errorf("library %s: %w", dir, err)
	}
	return &Library{root: root, small: small, sums: openSums(root)}, nil
}

// Close releases the library's root.
func (l *Library) Close() error {
	l.small.close()
	l.sums.close()
	return l.root.Close()
}

// Dir is the library's directory.
func (l *Library) Dir() string { return l.root.Name() }

// escapes is how os.Root says a path (through a symlink, say) leads out of
// the root. It exports no sentinel for it; TestOpenRefusals pins the text.
const escapes = "path escapes from parent"

// resolveErr turns an error from os.Root into the library's: a name that a
// symlink leads out of the root is refused like any bad name; one that
// meets a file where a directory must be, a directory where a file must
// be, or a loop of symlinks, leads to no regular file.
func resolveErr(name string, err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%s: %w", name, ErrNotFound)
	case strings.HasSuffix(err.Error(), escapes):
		return &NameError{Name: name, Reason: "leads out of the library"}
	case errors.Is(err, syscall.ENOTDIR), errors.Is(err, syscall.EISDIR), errors.Is(err, syscall.ELOOP):
		return fmt.Errorf("%s: %v: %w", name, err, ErrNotAFile)
	}
	return err
}

// File is a file open for download, with its size and SHA-256. A small
// one (SmallMax bytes or fewer) comes whole in Data, and File is nil.
type File struct {
	*os.File
	Data    []byte
	Size    int64
	ModTime time.Time
	Sum     Sum
}

// ReadAt reads from the file, or from Data when it is held in memory.
func (f *File) ReadAt(p []byte, off int64) (int, error) {
	if f.File != nil {
		return f.File.ReadAt(p, off)
	}
	return bytes.NewReader(f.Data).ReadAt(p, off)
}

// Close closes the file, if it is open.
func (f *File) Close() error {
	if f.File == nil {
		return nil
	}
	return f.File.Close()
}

// Open opens name for reading.
func (l *Library) Open(name string) (*File, error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	if e, ok := l.small.get(name); ok {
		return e.file(), nil
	}
	f, err := l.openRegular(name)
	if err != nil {
		return nil, err
	}
	st, err := fstat(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if st.Size <= SmallMax {
		e, err := l.small.fill(name, f, st)
		f.Close()
		if err != nil {
			return nil, err
		}
		return e.file(), nil
	}
	sum, err := l.sums.sumOf(f, st)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &File{File: f, Size: st.Size, ModTime: time.Unix(st.Mtim.Unix()), Sum: sum}, nil
}

// Entry is one file of a listing.
type Entry struct {
	Name    string
	Size    int64
	ModTime time.Time
}

// ErrTooLarge is a library with more than a listing may hold or its walk
// may read.
var ErrTooLarge = errors.New("library too large to list")

// MaxListVisits bounds the directory entries a listing's walk reads,
// listed or not (directories, temp files, special files, links out):
// what a listing costs in time and memory, whatever it lists.
const MaxListVisits = 1 << 20

// ListLimit bounds a listing.
type ListLimit struct {
	Visits   int   // directory entries read, listed or not; 0 for MaxListVisits
	Bytes    int64 // the listed entries' cost, summed: each is PerEntry plus its name's bytes
	PerEntry int64
}

// List calls add with every regular file beneath the root, in order of
// name (each directory's entries sorted, a directory's files where its
// name falls), with symlinks that stay inside followed, and without temp
// files. It stops with ErrTooLarge as soon as the walk has read more than
// lim.Visits entries or the listed entries would cost more than lim.Bytes,
// so a library grown past what a client accepts costs no more than the
// limit to refuse.
//
// A name no client could ask for (one CheckName refuses: invalid UTF-8, a
// control character, longer than MaxName, ...) is not listed, nor is
// anything beneath such a directory: listed, it would be a line a client
// cannot use, and one that breaks or fools what prints it. They are
// counted in the Unlisted returned, for the caller to log.
func (l *Library) List(lim ListLimit, add func(Entry)) (Unlisted, error) {
	if lim.Visits <= 0 {
		lim.Visits = MaxListVisits
	}
	w := &lister{l: l, lim: lim, add: add}
	if err := w.dir("."); err != nil {
		return w.unlisted, fmt.Errorf("list: %w", err)
	}
	return w.unlisted, nil
}

// Unlisted is what a listing left out for names no client can use: how
// many entries (a directory counts once, not what is beneath it), and the
// first one met, as a sample for the log.
type Unlisted struct {
	Count int
	First string
}

// lister is one listing's walk, with what it has spent.
type lister struct {
	l        *Library
	lim      ListLimit
	add      func(Entry)
	visits   int
	bytes    int64
	unlisted Unlisted
}

// listDirBatch is how many entries a directory read returns at a time: a
// directory of millions of entries is refused after the visits allowed,
// not read whole first.
const listDirBatch = 1024

// dirEntry is what the walk keeps of an entry until its directory is
// sorted: its name, its type, and a regular file's size and mtime.
type dirEntry struct {
	name  string
	typ   fs.FileMode
	size  int64
	mtime time.Time
}

// dir lists directory p (relative to the root) and, in order, what is
// under it. Only the root failing to open is an error: anything beneath
// that vanished meanwhile or cannot be read is not listed.
func (w *lister) dir(p string) error {
	ents, err := w.read(p)
	if err != nil {
		return err
	}
	slices.SortFunc(ents, func(a, b dirEntry) int { return strings.Compare(a.name, b.name) })
	for _, d := range ents {
		q := d.name
		if p != "." {
			q = p + "/" + d.name
		}
		if CheckName(q) != nil {
			// No client can name it, nor anything beneath it: not
			// listed, and the walk goes no deeper than MaxName allows.
			// (Reserved names never get here: read drops them.)
			if w.unlisted.Count == 0 {
				w.unlisted.First = q
			}
			w.unlisted.Count++
			continue
		}
		switch {
		case d.typ.IsDir():
			if err := w.dir(q); err != nil {
				return err
			}
			continue
		case d.typ&fs.ModeSymlink != 0:
			fi, err := w.l.root.Stat(q) // follows it, within the root only
			if err != nil || !fi.Mode().IsRegular() {
				continue
			}
			d.size, d.mtime = fi.Size(), fi.ModTime()
		}
		w.bytes += w.lim.PerEntry + int64(len(q))
		if w.bytes > w.lim.Bytes {
			return fmt.Errorf("listing over %d bytes: %w", w.lim.Bytes, ErrTooLarge)
		}
		w.add(Entry{Name: q, Size: d.size, ModTime: d.mtime})
	}
	return nil
}

// read reads directory p, counting every entry against the walk's bound,
// and keeps its directories, symlinks, and regular files with their size
// and mtime (fstatat beside the open directory: no name is resolved
// again). Reserved names (temp files, the sums) are left out. The
// directory is closed before the walk goes deeper, so its depth costs no
// descriptors.
func (w *lister) read(p string) ([]dirEntry, error) {
	f, err := w.l.root.OpenFile(p, dirFlags, 0)
	if err != nil {
		if p == "." {
			return nil, err
		}
		return nil, nil
	}
	defer f.Close()
	var ents []dirEntry
	for {
		batch, err := f.ReadDir(listDirBatch)
		w.visits += len(batch)
		if w.visits > w.lim.Visits {
			return nil, fmt.Errorf("more than %d entries: %w", w.lim.Visits, ErrTooLarge)
		}
		for _, d := range batch {
			e := dirEntry{name: d.Name(), typ: d.Type()}
			switch {
			case strings.HasPrefix(e.name, ReservedPrefix):
				continue
			case e.typ.IsRegular():
				var ok bool
				if e.size, e.mtime, ok = regularAt(f, e.name); !ok {
					continue // vanished or replaced meanwhile
				}
			case !e.typ.IsDir() && e.typ&fs.ModeSymlink == 0:
				continue
			}
			ents = append(ents, e)
		}
		if err != nil { // io.EOF, or unreadable from here on: list what was read
			return ents, nil
		}
	}
}

// Upload is a file being received: a temp file beside its target until
// Commit renames it into place.
type Upload struct {
	l    *Library
	name string
	tmp  string // "" once what is left at it is no longer the upload's to remove
	f    *os.File
	dirs []string // the directories Create made, shallowest first: Abort removes those left empty
}

// createTries bounds how often Create makes its directories again when
// another upload's Abort (in this worker or another) removed one it had
// found, before it made the next or opened its temp file in it: an empty
// directory is fair game until the file is in.
const createTries = 4

// Create starts an upload of name. A name that exists and is not a
// regular file (a directory, FIFO, socket, device, or a symlink: a link is
// never replaced) is refused as ErrNotAFile, before any byte is received.
// The directories it makes for name are the upload's: Abort (and a failed
// Commit) removes those left empty, so no refused or abandoned upload
// leaves any behind.
func (l *Library) Create(name string) (*Upload, error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	if _, err := l.replaceable(name); err != nil {
		return nil, err
	}
	dir := path.Dir(name)
	var made []string
	for try := 1; ; try++ {
		if dir != "." {
			m, err := l.mkdirs(dir)
			if errors.Is(err, fs.ErrNotExist) && try < createTries {
				continue // a directory just found was removed before its child was made
			}
			if err != nil {
				l.removeDirs(made)
				return nil, resolveErr(name, err)
			}
			// Made again on a retry, a directory is still one entry:
			// prefixes of one path sort shallowest first.
			made = append(made, m...)
			slices.Sort(made)
			made = slices.Compact(made)
		}
		var rnd [8]byte
		rand.Read(rnd[:])
		tmp := path.Join(dir, TempPrefix+hex.EncodeToString(rnd[:]))
		// Read and write: Commit reads the body back to verify it.
		f, err := l.root.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
		if err == nil {
			return &Upload{l: l, name: name, tmp: tmp, f: f, dirs: made}, nil
		}
		if !errors.Is(err, fs.ErrNotExist) || try == createTries {
			l.removeDirs(made)
			return nil, resolveErr(name, err)
		}
	}
}

// replaceable checks that an upload may take name: nothing is there, or a
// regular file, which it returns (to forget its sum once replaced).
func (l *Library) replaceable(name string) (fs.FileInfo, error) {
	fi, err := l.root.Lstat(name)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, nil
	case err != nil:
		return nil, resolveErr(name, err)
	case !fi.Mode().IsRegular():
		return nil, fmt.Errorf("%s: %w", name, ErrNotAFile)
	}
	return fi, nil
}

// File is the temp file to write the body to.
func (u *Upload) File() *os.File { return u.f }

// Commit makes the upload visible under its name, if the temp file holds
// exactly size bytes whose SHA-256 is sum: fsync, verify (read back from
// the file, so what is checked is what was written), rename (place: over
// a regular file only, whatever took the name since Create), fsync the
// directory. On any failure nothing is replaced and the temp file is gone.
func (u *Upload) Commit(size int64, sum Sum) (err error) {
	defer func() {
		if err != nil {
			u.Abort()
		}
	}()
	if err := u.f.Sync(); err != nil {
		return fmt.Errorf("upload %s: %w", u.name, err)
	}
	fi, err := u.f.Stat()
	if err != nil {
		return fmt.Errorf("upload %s: %w", u.name, err)
	}
	if fi.Size() != size {
		return fmt.Errorf("upload %s: %d bytes written, %d announced", u.name, fi.Size(), size)
	}
	got, err := hashFile(u.f, size)
	if err != nil {
		return fmt.Errorf("upload %s: %w", u.name, err)
	}
	if got != sum {
		return fmt.Errorf("upload %s: %w", u.name, ErrChecksum)
	}
	verified, err := fstat(u.f)
	if err != nil {
		return fmt.Errorf("upload %s: %w", u.name, err)
	}
	if err := u.place(); err != nil {
		return fmt.Errorf("upload %s: %w", u.name, err)
	}
	// Stamped after the rename, which moves the file's ctime; kept only
	// if nothing but the rename changed it since it was verified.
	if size > SmallMax {
		if after, err := fstat(u.f); err == nil && after.Size == size && after.Mtim == verified.Mtim {
			s := stampOf(after)
			u.l.sums.keep(s, sum)
			// Replaced by another commit since the rename, whose
			// forget may have come before this keep: the entry would
			// never be read again.
			if now, err := fstat(u.f); err != nil || now.Nlink == 0 {
				u.l.sums.forget(s.fileKey)
			}
		}
	}
	u.release() // written: statfs counts it now
	u.f.Close() // read only from here on: nothing to lose
	u.f = nil
	u.dirs = nil // they hold the file now
	if d, err := u.l.root.OpenFile(path.Dir(u.name), dirFlags, 0); err == nil {
		d.Sync() // the rename is durable once the directory is
		d.Close()
	}
	return nil
}

// statOf is fi's stat, if there is one.
func statOf(fi fs.FileInfo) (*syscall.Stat_t, bool) {
	if fi == nil {
		return nil, false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return st, ok
}

// Abort drops the upload: the temp file is removed, then the directories
// Create made, deepest first, those left empty (one another upload filled
// meanwhile stays). Safe after Commit.
func (u *Upload) Abort() {
	if u.f == nil {
		return
	}
	u.release()
	u.f.Close()
	if u.tmp != "" {
		u.l.root.Remove(u.tmp)
	}
	u.f = nil
	u.l.removeDirs(u.dirs)
	u.dirs = nil
}

// CleanTemp removes the temp files of uploads a crash interrupted, and the
// kept sums of files no longer in the library. Call it before any worker
// serves: it cannot tell a stale temp file from one being written.
func (l *Library) CleanTemp() (int, error) {
	n := 0
	live := make(map[fileKey]bool)
	err := fs.WalkDir(walkFS{l.root}, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		if strings.HasPrefix(path.Base(p), TempPrefix) {
			if l.root.Remove(p) == nil {
				n++
			}
			return nil
		}
		if fi, err := d.Info(); err == nil && fi.Mode().IsRegular() && fi.Size() > SmallMax {
			if st, ok := statOf(fi); ok {
				live[fileKey{dev: st.Dev, ino: st.Ino}] = true
			}
		}
		return nil
	})
	if err != nil {
		return n, err
	}
	return n, l.sums.prune(live)
}
