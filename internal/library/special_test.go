package library

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/sigride/sigride/internal/proctest"
)

// specials makes, in dir, one of each kind of file that is not a regular
// file nor a directory, and symlinks to them, and returns their names.
// The char device is 1,3 (/dev/null's numbers): harmless if it were
// opened, which opens watches for.
func specials(t *testing.T, dir string) []string {
	t.Helper()
	if err := unix.Mkfifo(filepath.Join(dir, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	proctest.NullDevice(t, filepath.Join(dir, "null"))
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: filepath.Join(dir, "sock"), Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	t.Cleanup(func() { ln.Close() })
	os.Mkdir(filepath.Join(dir, "d"), 0o755)
	for _, n := range []string{"fifo", "null", "sock"} {
		os.Symlink(n, filepath.Join(dir, "link-"+n))
		os.Symlink("../"+n, filepath.Join(dir, "d", "up-"+n))
	}
	return []string{"fifo", "null", "sock", "link-fifo", "link-null", "link-sock", "d/up-fifo", "d/up-null", "d/up-sock", "d"}
}

// watchOpens reports the names in dir (and dir/d) that were opened, for
// real (an O_PATH descriptor opens nothing, and is not reported), from
// the time it is called to the time the returned function is.
func watchOpens(t *testing.T, dir string) func() map[string]bool {
	t.Helper()
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	wd := map[int]string{}
	for _, d := range []string{"", "d"} {
		w, err := unix.InotifyAddWatch(fd, filepath.Join(dir, d), unix.IN_OPEN)
		if err != nil {
			t.Fatal(err)
		}
		wd[w] = d
	}
	return func() map[string]bool {
		opened := map[string]bool{}
		buf := make([]byte, 1<<16)
		for {
			n, err := unix.Read(fd, buf)
			if err != nil || n <= 0 {
				return opened
			}
			for b := buf[:n]; len(b) >= unix.SizeofInotifyEvent; {
				ev := (*unix.InotifyEvent)(unsafe.Pointer(&b[0]))
				name := string(bytes.TrimRight(b[unix.SizeofInotifyEvent:unix.SizeofInotifyEvent+int(ev.Len)], "\x00"))
				opened[filepath.Join(wd[int(ev.Wd)], name)] = true
				b = b[unix.SizeofInotifyEvent+int(ev.Len):]
			}
		}
	}
}

// TestOpenSpecialFiles: a FIFO, a socket, a device, directly or through a
// symlink, are refused as ErrNotAFile at once, and never opened: a FIFO's
// open would wait for a writer for ever, a device's act on the device.
func TestOpenSpecialFiles(t *testing.T) {
	l, dir := newLib(t)
	names := specials(t, dir)
	opened := watchOpens(t, dir)
	for _, name := range names {
		done := make(chan error, 1)
		go func() {
			f, err := l.Open(name)
			if err == nil {
				f.Close()
			}
			done <- err
		}()
		select {
		case err := <-done:
			if !errors.Is(err, ErrNotAFile) {
				t.Errorf("Open(%q) = %v, want ErrNotAFile", name, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("Open(%q) blocked", name) // unblocked by the test's end: the FIFO goes
		}
	}
	for name := range opened() {
		if name != "d" && name != "." && name != "" {
			t.Errorf("%s was opened", name)
		}
	}
	if ents, err := listAll(l); err != nil || len(ents) != 0 {
		t.Errorf("List = %+v, %v: lists special files", ents, err)
	}
}

// TestCreateRefusesNonFiles: an upload onto a name that is a directory, a
// FIFO, a socket, a device or a symlink is refused before any byte, and
// nothing there is replaced.
func TestCreateRefusesNonFiles(t *testing.T) {
	l, dir := newLib(t)
	os.WriteFile(filepath.Join(dir, "target"), []byte("kept"), 0o644)
	os.Symlink("target", filepath.Join(dir, "link"))
	names := append(specials(t, dir), "link", "null/x")
	before := modes(dir, names)
	for _, name := range names {
		u, err := l.Create(name)
		if err == nil {
			u.Abort()
		}
		if !errors.Is(err, ErrNotAFile) {
			t.Errorf("Create(%q) = %v, want ErrNotAFile", name, err)
		}
	}
	if after := modes(dir, names); !equalMaps(before, after) {
		t.Errorf("changed: %v, was %v", after, before)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "target")); string(got) != "kept" {
		t.Errorf("a symlink's target overwritten: %q", got)
	}
}

// TestCommitRefusesNonFiles: a name that became a directory, a FIFO or a
// symlink while the body travelled is not replaced by Commit.
func TestCommitRefusesNonFiles(t *testing.T) {
	l, dir := newLib(t)
	data := bytes.Repeat([]byte("x"), SmallMax+1)
	for _, tc := range []struct {
		name string
		make func(p string) error
	}{
		{"dir", func(p string) error { return os.Mkdir(p, 0o755) }},
		{"full-dir", func(p string) error { os.Mkdir(p, 0o755); return os.WriteFile(p+"/f", nil, 0o644) }},
		{"fifo", func(p string) error { return unix.Mkfifo(p, 0o644) }},
		{"link", func(p string) error { return os.Symlink("elsewhere", p) }},
	} {
		u, err := l.Create(tc.name)
		if err != nil {
			t.Fatal(err)
		}
		u.File().Write(data)
		p := filepath.Join(dir, tc.name)
		if err := tc.make(p); err != nil {
			t.Fatal(err)
		}
		before := modes(dir, []string{tc.name})
		if err := u.Commit(int64(len(data)), sha256.Sum256(data)); !errors.Is(err, ErrNotAFile) {
			t.Errorf("%s: Commit = %v, want ErrNotAFile", tc.name, err)
		}
		if after := modes(dir, []string{tc.name}); !equalMaps(before, after) {
			t.Errorf("%s: replaced (%v, was %v)", tc.name, after, before)
		}
	}
	noTemp(t, dir)
}

// TestCommitRefusesNonFilesAtRename: a name that turns into a directory,
// a FIFO, a socket or a symlink at the very instant before Commit's
// rename (the hook runs there), whether it was free or a regular file at
// Create, is not replaced: the upload is refused as ErrNotAFile, the name
// holds what was made there, and no temp file is left.
func TestCommitRefusesNonFilesAtRename(t *testing.T) {
	l, dir := newLib(t)
	data := bytes.Repeat([]byte("x"), SmallMax+1)
	kinds := []struct {
		kind string
		make func(p string) error
	}{
		{"dir", func(p string) error { return os.Mkdir(p, 0o755) }},
		{"full-dir", func(p string) error { os.Mkdir(p, 0o755); return os.WriteFile(p+"/f", []byte("f"), 0o644) }},
		{"fifo", func(p string) error { return unix.Mkfifo(p, 0o644) }},
		{"sock", func(p string) error {
			ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: p, Net: "unix"})
			if err == nil {
				ln.SetUnlinkOnClose(false)
				t.Cleanup(func() { ln.Close() })
			}
			return err
		}},
		{"link", func(p string) error { return os.Symlink("elsewhere", p) }},
		{"link-to-file", func(p string) error { return os.Symlink("target", p) }},
	}
	os.WriteFile(filepath.Join(dir, "target"), []byte("kept"), 0o644)
	for _, tc := range kinds {
		for _, was := range []string{"free", "file"} {
			name := tc.kind + "-" + was
			p := filepath.Join(dir, name)
			if was == "file" {
				if err := put(t, l, name, data[1:]); err != nil {
					t.Fatal(err)
				}
			}
			u, err := l.Create(name)
			if err != nil {
				t.Fatal(err)
			}
			u.File().Write(data)
			hooked := false
			l.beforeRename = func() {
				if hooked {
					return
				}
				hooked = true
				os.Remove(p)
				if err := tc.make(p); err != nil {
					t.Errorf("%s: %v", name, err)
				}
			}
			err = u.Commit(int64(len(data)), sha256.Sum256(data))
			l.beforeRename = nil
			if !hooked {
				t.Fatalf("%s: the hook never ran", name)
			}
			if !errors.Is(err, ErrNotAFile) {
				t.Errorf("%s: Commit = %v, want ErrNotAFile", name, err)
			}
			fi, err := os.Lstat(p)
			if err != nil {
				t.Errorf("%s: %v", name, err)
				continue
			}
			if fi.Mode().IsRegular() {
				t.Errorf("%s: replaced by the upload", name)
				continue
			}
			switch tc.kind {
			case "full-dir":
				if got, _ := os.ReadFile(p + "/f"); string(got) != "f" {
					t.Errorf("%s: the directory lost its file", name)
				}
			case "link", "link-to-file":
				if got, _ := os.Readlink(p); got != map[string]string{"link": "elsewhere", "link-to-file": "target"}[tc.kind] {
					t.Errorf("%s: the link leads to %q", name, got)
				}
			}
		}
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "target")); string(got) != "kept" {
		t.Errorf("a symlink's target overwritten: %q", got)
	}
	noTemp(t, dir)
}

// TestCommitWithoutRenameat2: on a filesystem whose renameat2 takes no
// flags (EINVAL), Commit falls back to rename(2) after its check: an
// upload still replaces a regular file and forgets its sum, and is
// refused over a FIFO or a directory made since Create.
func TestCommitWithoutRenameat2(t *testing.T) {
	calls := 0
	renameat2 = func(int, string, int, string, uint) error { calls++; return unix.EINVAL }
	t.Cleanup(func() { renameat2 = unix.Renameat2 })
	l, dir := newLib(t)
	data := bytes.Repeat([]byte("w"), SmallMax+1)
	for i := range 3 {
		data[0] = byte(i)
		if err := put(t, l, "same.bin", data); err != nil {
			t.Fatal(err)
		}
	}
	if calls == 0 {
		t.Fatal("renameat2 never tried")
	}
	if n := sumEntries(t, dir); n != 1 {
		t.Errorf("%d sums kept for 1 file", n)
	}
	if f, err := l.Open("same.bin"); err != nil || f.Sum != sha256.Sum256(data) {
		t.Errorf("Open = %v", err)
	} else {
		f.Close()
	}
	for name, mk := range map[string]func(p string) error{
		"fifo": func(p string) error { return unix.Mkfifo(p, 0o644) },
		"dir":  func(p string) error { return os.Mkdir(p, 0o755) },
	} {
		u, err := l.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		u.File().Write(data)
		if err := mk(filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
		if err := u.Commit(int64(len(data)), sha256.Sum256(data)); !errors.Is(err, ErrNotAFile) {
			t.Errorf("%s: Commit = %v, want ErrNotAFile", name, err)
		}
		if fi, err := os.Lstat(filepath.Join(dir, name)); err != nil || fi.Mode().IsRegular() {
			t.Errorf("%s: replaced (%v)", name, err)
		}
	}
	noTemp(t, dir)
}

func modes(dir string, names []string) map[string]os.FileMode {
	m := map[string]os.FileMode{}
	for _, n := range names {
		if fi, err := os.Lstat(filepath.Join(dir, n)); err == nil {
			m[n] = fi.Mode()
		}
	}
	return m
}

func equalMaps[K, V comparable](a, b map[K]V) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func noTemp(t *testing.T, dir string) {
	t.Helper()
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && bytes.HasPrefix([]byte(fi.Name()), []byte(TempPrefix)) {
			t.Errorf("temp file left: %s", p)
		}
		return nil
	})
}
