package library

import (
	"errors"
	"fmt"
	"path"
	"syscall"

	"golang.org/x/sys/unix"
)

// commitTries bounds how often Commit goes from the no-replace rename to
// the exchange and back, when the name keeps appearing and vanishing
// between the two (another commit, a removal): two syscalls a turn.
const commitTries = 4

// renameat2 is unix.Renameat2; a test replaces it to play a filesystem
// that has no flags for it.
var renameat2 = unix.Renameat2

// errRetry is a name that vanished between the no-replace rename's
// EEXIST and the exchange.
var errRetry = errors.New("name changed during commit")

// place gives the upload's name to its temp file, beside it in one
// directory, replacing a regular file only, and knowing exactly which:
// a free name is taken with RENAME_NOREPLACE; a taken one is exchanged
// (RENAME_EXCHANGE), atomically, and what the exchange brought back to
// the temp name is what was replaced. A regular file is unlinked there,
// and its kept sum forgotten if that was its last link; anything else
// (a directory, FIFO, socket, device or symlink made since Create) is
// exchanged back at once and the upload refused as ErrNotAFile. Where the
// filesystem has no renameat2 flags (EINVAL), renameOver.
func (u *Upload) place() error {
	d, err := u.l.root.OpenFile(path.Dir(u.name), unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		return resolveErr(u.name, err)
	}
	defer d.Close()
	tmp, name := path.Base(u.tmp), path.Base(u.name)
	var supported bool
	cerr := control(d, func(dfd int) {
		for range commitTries {
			supported, err = u.exchange(dfd, tmp, name)
			if !errors.Is(err, errRetry) {
				return
			}
		}
	})
	switch {
	case cerr != nil:
		return cerr
	case !supported:
		return u.renameOver()
	case errors.Is(err, errRetry):
		return fmt.Errorf("%s: %w %d times", u.name, errRetry, commitTries)
	case err != nil && !errors.Is(err, ErrNotAFile):
		return resolveErr(u.name, fmt.Errorf("rename: %w", err))
	}
	return err
}

// unsupported is renameat2's answer where its flags are not: EINVAL
// (a filesystem without them), ENOSYS (a kernel without the call).
func unsupported(err error) bool {
	return errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS)
}

// exchange is one turn of place, in the directory dfd. It reports false
// if the filesystem has not the flags, having changed nothing.
func (u *Upload) exchange(dfd int, tmp, name string) (bool, error) {
	u.l.hookBeforeRename()
	err := renameat2(dfd, tmp, dfd, name, unix.RENAME_NOREPLACE)
	switch {
	case err == nil:
		return true, nil
	case unsupported(err):
		return false, nil
	case !errors.Is(err, unix.EEXIST):
		return true, err
	}
	u.l.hookBeforeRename()
	err = renameat2(dfd, tmp, dfd, name, unix.RENAME_EXCHANGE)
	switch {
	case err == nil:
	case unsupported(err):
		return false, nil
	case errors.Is(err, unix.ENOENT):
		// The name went since EEXIST (or the temp file did, and the
		// next turn's rename says so).
		return true, errRetry
	default:
		return true, err
	}
	pfd, err := unix.Openat(dfd, tmp, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return true, nil // what was replaced is gone already: nothing to forget
	}
	defer unix.Close(pfd)
	var st unix.Stat_t
	if err := unix.Fstat(pfd, &st); err == nil && st.Mode&unix.S_IFMT == unix.S_IFREG {
		u.l.unlinkForget(dfd, tmp, pfd)
		return true, nil
	}
	// Not a file, or not known to be one: back where it was. The name
	// went meanwhile: it gets it back, unless taken again.
	err = renameat2(dfd, tmp, dfd, name, unix.RENAME_EXCHANGE)
	if errors.Is(err, unix.ENOENT) {
		err = renameat2(dfd, tmp, dfd, name, unix.RENAME_NOREPLACE)
	}
	if err != nil {
		// Left at the temp name, which is never listed nor served, for
		// CleanTemp; not removed, whatever it is.
		u.tmp = ""
		return true, fmt.Errorf("%s: not a regular file, and not put back: %v: %w", u.name, err, ErrNotAFile)
	}
	// What the name held came back to the temp name: this upload's file,
	// or a file another commit placed in the meantime, which is then
	// replaced after all, and its sum forgotten.
	if fd, err := unix.Openat(dfd, tmp, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0); err == nil {
		if unix.Fstat(fd, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFREG {
			u.l.unlinkForget(dfd, tmp, fd)
		}
		unix.Close(fd)
	}
	u.tmp = "" // Abort removes nothing more: what is left there is not a file of ours
	return true, fmt.Errorf("%s: %w", u.name, ErrNotAFile)
}

// unlinkForget unlinks name, in directory dfd, a regular file whose
// O_PATH descriptor is pfd, and then forgets its kept sum if that was its
// last link. Unlinked first: a commit that kept this very file's sum a
// moment before either sees its entry dropped here, or, keeping it after,
// sees the link count at 0 and drops it itself (Commit, sums.sumOf).
func (l *Library) unlinkForget(dfd int, name string, pfd int) {
	if unix.Unlinkat(dfd, name, 0) != nil {
		return
	}
	var st unix.Stat_t
	if unix.Fstat(pfd, &st) == nil && st.Nlink == 0 {
		l.sums.forget(fileKey{dev: st.Dev, ino: st.Ino})
	}
}

// renameOver is place where renameat2 has no flags: rename(2) after a
// check that the name is free or a regular file, whose sum is forgotten
// if that was its last link. Two windows are left open there: a FIFO,
// socket or symlink made between the check and the rename is replaced
// (rename(2) has no "only over a regular file"), and a file another
// commit renamed in between is replaced with its sum kept, until the next
// CleanTemp.
func (u *Upload) renameOver() error {
	old, err := u.l.replaceable(u.name)
	if err != nil {
		return err
	}
	u.l.hookBeforeRename()
	if err := u.l.root.Rename(u.tmp, u.name); err != nil {
		if errors.Is(err, syscall.EEXIST) || errors.Is(err, syscall.ENOTEMPTY) {
			// A directory took the name since the check (EISDIR is
			// resolveErr's).
			return fmt.Errorf("%v: %w", err, ErrNotAFile)
		}
		return resolveErr(u.name, err)
	}
	if st, ok := statOf(old); ok && st.Nlink == 1 {
		u.l.sums.forget(fileKey{dev: st.Dev, ino: st.Ino}) // replaced: its last link gone
	}
	return nil
}

// hookBeforeRename runs the tests' hook, if any, right before each rename
// of a commit.
func (l *Library) hookBeforeRename() {
	if l.beforeRename != nil {
		l.beforeRename()
	}
}
