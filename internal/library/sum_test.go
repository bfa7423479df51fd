package library

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// rewriteInPlace writes data over p's bytes (same inode), and sets its
// mtime back: what cp -p, touch -r, tar or rsync leave.
func rewriteInPlace(t *testing.T, p string, data []byte) {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() != int64(len(data)) {
		t.Fatalf("rewrite %s: %d bytes over %d", p, len(data), fi.Size())
	}
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(data, 0); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := os.Chtimes(p, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	if after, _ := os.Stat(p); after.ModTime() != fi.ModTime() || after.Size() != fi.Size() {
		t.Fatal("size or mtime not kept")
	}
}

// TestSumStamp: a large file rewritten in place with its size and mtime
// kept is hashed again, in this process and in the next (a restart); an
// unchanged one is not, in either: its sum is kept beside the library.
func TestSumStamp(t *testing.T) {
	l, dir := newLib(t)
	p := filepath.Join(dir, "big.bin")
	one := bytes.Repeat([]byte("1"), 1<<20)
	two := bytes.Repeat([]byte("2"), 1<<20)
	os.WriteFile(p, one, 0o644)
	sumOf := func(l *Library, want []byte, hashes int64) {
		t.Helper()
		before := l.sums.hashed.Load()
		f, err := l.Open("big.bin")
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if f.Sum != sha256.Sum256(want) {
			t.Fatalf("stale sum served")
		}
		if got := l.sums.hashed.Load() - before; got != hashes {
			t.Fatalf("hashed %d times, want %d", got, hashes)
		}
	}
	sumOf(l, one, 1)
	sumOf(l, one, 0) // kept in memory
	rewriteInPlace(t, p, two)
	sumOf(l, two, 1)
	sumOf(l, two, 0)

	restart := func() *Library {
		l2, err := Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l2.Close() })
		return l2
	}
	sumOf(restart(), two, 0) // kept on disk
	rewriteInPlace(t, p, one)
	sumOf(restart(), one, 1)
	sumOf(restart(), one, 0)

	// An upload leaves its sum: its first download does not hash.
	if err := put(t, l, "up.bin", two); err != nil {
		t.Fatal(err)
	}
	before := l.sums.hashed.Load()
	f, err := restart().Open("up.bin")
	if err != nil || f.Sum != sha256.Sum256(two) {
		t.Fatalf("uploaded file: %v", err)
	}
	f.Close()
	if l.sums.hashed.Load() != before {
		t.Error("an uploaded file hashed on download")
	}
}

// TestSumsBounded: an upload over a large file drops the replaced file's
// kept sum; CleanTemp drops those of files gone behind the library's back.
func TestSumsBounded(t *testing.T) {
	l, dir := newLib(t)
	data := bytes.Repeat([]byte("s"), SmallMax+1)
	for i := range 5 {
		data[0] = byte(i)
		if err := put(t, l, "same.bin", data); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(dir, "gone.bin"), data, 0o644)
	if f, err := l.Open("gone.bin"); err == nil {
		f.Close()
	}
	if n := sumEntries(t, dir); n != 2 {
		t.Errorf("%d sums kept for 2 files", n)
	}
	os.Remove(filepath.Join(dir, "gone.bin"))
	if _, err := l.CleanTemp(); err != nil {
		t.Fatal(err)
	}
	if n := sumEntries(t, dir); n != 1 {
		t.Errorf("%d sums kept for 1 file, after CleanTemp", n)
	}
	if ents, err := listAll(l); err != nil || len(ents) != 1 {
		t.Errorf("List = %+v, %v", ents, err)
	}
}

func sumEntries(t *testing.T, dir string) int {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(dir, sumsDir))
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// TestSumsExactUnderRacingCommits: uploads of one name committed at the
// same instant, by two libraries over one directory (two workers) and by
// goroutines of each, some aborted, some refused for a wrong sum, leave
// exactly one kept sum, the live file's, after every round (none of a
// file replaced meanwhile), and every library serves the right sum.
func TestSumsExactUnderRacingCommits(t *testing.T) {
	l1, dir := newLib(t)
	l2, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l2.Close() })
	libs := []*Library{l1, l2}
	const rounds, writers = 40, 8
	for r := range rounds {
		var ready, done sync.WaitGroup
		start := make(chan struct{})
		errs := make(chan error, writers)
		for i := range writers {
			l := libs[i%len(libs)]
			data := bytes.Repeat([]byte{byte(r), byte(i)}, SmallMax)
			ready.Add(1)
			done.Go(func() {
				u, err := l.Create("same.bin")
				if err != nil {
					ready.Done()
					errs <- err
					return
				}
				_, err = u.File().Write(data)
				ready.Done()
				<-start
				switch {
				case err != nil:
					u.Abort()
				case i%4 == 3:
					u.Abort()
				case i%4 == 2:
					if err = u.Commit(int64(len(data)), Sum{}); errors.Is(err, ErrChecksum) {
						err = nil
					}
				default:
					err = u.Commit(int64(len(data)), sha256.Sum256(data))
				}
				errs <- err
			})
		}
		ready.Wait()
		close(start)
		done.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("round %d: %v", r, err)
			}
		}
		want, err := os.ReadFile(filepath.Join(dir, "same.bin"))
		if err != nil {
			t.Fatal(err)
		}
		for i, l := range libs {
			f, err := l.Open("same.bin")
			if err != nil {
				t.Fatal(err)
			}
			f.Close()
			if f.Sum != sha256.Sum256(want) {
				t.Fatalf("round %d: library %d serves a wrong sum", r, i)
			}
		}
		if n := sumEntries(t, dir); n != 1 {
			t.Fatalf("round %d: %d sums kept for 1 file", r, n)
		}
	}
	noTemp(t, dir)
}
