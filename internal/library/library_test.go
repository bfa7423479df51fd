package library

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestCheckName(t *testing.T) {
	for _, tc := range []struct {
		name   string
		reason string // "" for accepted
	}{
		{"a.txt", ""},
		{"docs/a.txt", ""},
		{"老司机/开车.md", ""},
		{"a..b", ""},
		{".hidden", ""},
		{strings.Repeat("a", 255), ""},
		{"", "empty"},
		{"/etc/passwd", "absolute"},
		{"../x", `".." component`},
		{"a/../../x", `".." component`},
		{"a/./b", `"." component`},
		{"a//b", "empty component"},
		{"a/", "empty component"},
		{"a\x00b", "control character U+0000"},
		{"a\nb", "control character U+000A"},
		{"a\x1b[31m", "control character U+001B"},
		{"\xff", "not valid UTF-8"},
		{strings.Repeat("a", 256), "a component longer than 255 bytes"},
		{strings.Repeat("a/", 512) + "a", "longer than 1024 bytes"},
		{".sigride-upload-1234", "reserved for the server's temp files"},
		{"d/.sigride-x", "reserved for the server's temp files"},
	} {
		err := CheckName(tc.name)
		var ne *NameError
		switch {
		case tc.reason == "" && err != nil:
			t.Errorf("%.40q refused: %v", tc.name, err)
		case tc.reason != "" && (!errors.As(err, &ne) || ne.Reason != tc.reason):
			t.Errorf("%.40q: %v, want reason %q", tc.name, err, tc.reason)
		}
	}
}

// FuzzCheckName: an accepted name is relative, clean, and stays beneath
// the root once joined to it.
func FuzzCheckName(f *testing.F) {
	for _, s := range []string{"a", "../a", "a/b", "/a", "a\x00", ".sigride-x", "a//b", "…/…"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if CheckName(name) != nil {
			return
		}
		if filepath.IsAbs(name) || filepath.Clean(name) != name || strings.HasPrefix(filepath.Clean("/root/"+name), "/root/") == false {
			t.Fatalf("accepted %q", name)
		}
	})
}

func newLib(t *testing.T) (*Library, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "library")
	l, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l, dir
}

func put(t *testing.T, l *Library, name string, data []byte) error {
	t.Helper()
	u, err := l.Create(name)
	if err != nil {
		return err
	}
	if _, err := u.File().Write(data); err != nil {
		u.Abort()
		return err
	}
	return u.Commit(int64(len(data)), sha256.Sum256(data))
}

func TestUploadAndOpen(t *testing.T) {
	l, dir := newLib(t)
	data := []byte("老司机开车了\n")
	if err := put(t, l, "docs/ride.txt", data); err != nil {
		t.Fatal(err)
	}
	f, err := l.Open("docs/ride.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Size != int64(len(data)) || f.Sum != sha256.Sum256(data) {
		t.Errorf("size %d sum %x", f.Size, f.Sum)
	}
	got, _ := os.ReadFile(filepath.Join(dir, "docs/ride.txt"))
	if !bytes.Equal(got, data) {
		t.Errorf("on disk: %q", got)
	}
	entries, err := listAll(l)
	if err != nil || len(entries) != 1 || entries[0].Name != "docs/ride.txt" || entries[0].Size != int64(len(data)) {
		t.Errorf("List = %+v, %v", entries, err)
	}
}

// TestUploadFailuresLeaveNothing: a wrong sum, a wrong size, an abort: no
// file visible under the name, no temp file left.
func TestUploadFailuresLeaveNothing(t *testing.T) {
	l, dir := newLib(t)
	data := []byte("payload")
	for _, tc := range []struct {
		name   string
		commit func(u *Upload) error
	}{
		{"wrong sum", func(u *Upload) error { return u.Commit(int64(len(data)), sha256.Sum256([]byte("other"))) }},
		{"wrong size", func(u *Upload) error { return u.Commit(int64(len(data))+1, sha256.Sum256(data)) }},
		{"abort", func(u *Upload) error { u.Abort(); return errors.New("aborted") }},
	} {
		u, err := l.Create("x/f.bin")
		if err != nil {
			t.Fatal(err)
		}
		u.File().Write(data)
		if err := tc.commit(u); err == nil {
			t.Errorf("%s: committed", tc.name)
		}
		if ents, _ := os.ReadDir(filepath.Join(dir, "x")); len(ents) != 0 {
			t.Errorf("%s: left %v", tc.name, ents)
		}
	}
	u, _ := l.Create("y.bin")
	u.File().Write(data)
	if err := u.Commit(int64(len(data)), sha256.Sum256([]byte("no"))); !errors.Is(err, ErrChecksum) {
		t.Errorf("wrong sum: %v, want ErrChecksum", err)
	}
}

// TestConcurrentUploads: two uploads of one name at once: the result is
// exactly one of them.
func TestConcurrentUploads(t *testing.T) {
	l, dir := newLib(t)
	a, b := bytes.Repeat([]byte("a"), 1<<20), bytes.Repeat([]byte("b"), 1<<20)
	for i := 0; i < 20; i++ {
		var wg sync.WaitGroup
		for _, d := range [][]byte{a, b} {
			wg.Add(1)
			go func() { defer wg.Done(); put(t, l, "same.bin", d) }()
		}
		wg.Wait()
		got, _ := os.ReadFile(filepath.Join(dir, "same.bin"))
		if !bytes.Equal(got, a) && !bytes.Equal(got, b) {
			t.Fatalf("round %d: a mix of both uploads (%d bytes)", i, len(got))
		}
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 2 || ents[0].Name() != sumsDir || ents[1].Name() != "same.bin" {
		t.Errorf("left: %v", ents)
	}
}

func TestOpenRefusals(t *testing.T) {
	l, dir := newLib(t)
	outside := filepath.Join(filepath.Dir(dir), "secret")
	os.WriteFile(outside, []byte("secret"), 0o644)
	os.Symlink(outside, filepath.Join(dir, "out-link"))
	os.Symlink("/etc", filepath.Join(dir, "etc"))
	os.Mkdir(filepath.Join(dir, "sub"), 0o755)
	os.WriteFile(filepath.Join(dir, "sub/in.txt"), []byte("in"), 0o644)
	os.Symlink("sub/in.txt", filepath.Join(dir, "in-link"))
	for _, tc := range []struct {
		name string
		want func(error) bool
	}{
		{"missing", func(err error) bool { return errors.Is(err, ErrNotFound) }},
		{"sub", func(err error) bool { return errors.Is(err, ErrNotAFile) }},
		{"out-link", isNameErr},
		{"etc/passwd", isNameErr},
		{"../secret", isNameErr},
		{"/etc/passwd", isNameErr},
	} {
		f, err := l.Open(tc.name)
		if err == nil {
			f.Close()
		}
		if !tc.want(err) {
			t.Errorf("Open(%q) = %v", tc.name, err)
		}
	}
	f, err := l.Open("in-link") // a symlink that stays inside is served
	if err != nil {
		t.Fatalf("in-link: %v", err)
	}
	f.Close()
	if _, err := l.Create("etc/evil"); !isNameErr(err) {
		t.Errorf("Create through a symlink out: %v", err)
	}
	entries, _ := listAll(l)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name)
	}
	if strings.Join(names, ",") != "in-link,sub/in.txt" {
		t.Errorf("List = %v (symlinks out must not be listed)", names)
	}
}

func isNameErr(err error) bool {
	var ne *NameError
	return errors.As(err, &ne)
}

// TestTempFiles: never listed, removed by CleanTemp.
func TestTempFiles(t *testing.T) {
	l, dir := newLib(t)
	u, err := l.Create("d/in-flight.bin")
	if err != nil {
		t.Fatal(err)
	}
	u.File().Write([]byte("partial"))
	if entries, _ := listAll(l); len(entries) != 0 {
		t.Errorf("temp file listed: %+v", entries)
	}
	u.File().Close() // a crash: never committed, never aborted
	n, err := l.CleanTemp()
	if err != nil || n != 1 {
		t.Errorf("CleanTemp = %d, %v", n, err)
	}
	if ents, _ := os.ReadDir(filepath.Join(dir, "d")); len(ents) != 0 {
		t.Errorf("left: %v", ents)
	}
}

// TestSumCache: a large file changed behind the library's back is hashed
// again.
func TestSumCache(t *testing.T) {
	l, dir := newLib(t)
	p := filepath.Join(dir, "f")
	one := bytes.Repeat([]byte("1"), SmallMax+1)
	two := bytes.Repeat([]byte("2"), SmallMax+1)
	os.WriteFile(p, one, 0o644)
	sumOf := func() Sum {
		f, err := l.Open("f")
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if f.File == nil {
			t.Fatal("a large file served from memory")
		}
		return f.Sum
	}
	if sumOf() != sha256.Sum256(one) {
		t.Fatal("first sum wrong")
	}
	os.WriteFile(p, two, 0o644) // same size, new content
	os.Chtimes(p, time.Now(), time.Now().Add(time.Second))
	if sumOf() != sha256.Sum256(two) {
		t.Error("stale sum served after the file changed")
	}
}

// TestSmallCache: a small file comes from memory, and never stale: not
// after a change in place that keeps size and mtime, not after its name
// was turned into a symlink out of the root. The memory stays bounded.
func TestSmallCache(t *testing.T) {
	l, dir := newLib(t)
	p := filepath.Join(dir, "f")
	open := func(name string) (*File, error) {
		f, err := l.Open(name)
		if err == nil && f.File != nil {
			t.Fatalf("%s: a small file not served from memory", name)
		}
		return f, err
	}
	check := func(want []byte) {
		t.Helper()
		f, err := open("f")
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(f.Data, want) || f.Sum != sha256.Sum256(want) || f.Size != int64(len(want)) {
			t.Fatalf("served %q (size %d), want %q", f.Data, f.Size, want)
		}
	}
	os.WriteFile(p, []byte("one"), 0o644)
	fi, _ := os.Stat(p)
	check([]byte("one"))
	check([]byte("one")) // a hit
	os.WriteFile(p, []byte("two"), 0o644)
	os.Chtimes(p, fi.ModTime(), fi.ModTime()) // size and mtime as before
	check([]byte("two"))

	outside := filepath.Join(filepath.Dir(dir), "secret")
	os.WriteFile(outside, []byte("two"), 0o644)
	os.Remove(p)
	os.Symlink(outside, p)
	if _, err := open("f"); !isNameErr(err) {
		t.Errorf("cached name now a symlink out: %v", err)
	}
	if _, ok := l.small.m["f"]; ok {
		t.Error("a stale entry kept")
	}
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, nil, 0o644)
	if f, err := open("empty"); err != nil || f.Data == nil || f.Size != 0 {
		t.Errorf("empty file: %+v, %v", f, err)
	}

	big := make([]byte, SmallMax)
	for i := range CacheBudget/SmallMax + 8 {
		name := fmt.Sprintf("s%d", i)
		os.WriteFile(filepath.Join(dir, name), big, 0o644)
		if _, err := open(name); err != nil {
			t.Fatal(err)
		}
	}
	if l.small.bytes > CacheBudget || len(l.small.m) > CacheBudget/SmallMax+1 { // + empty
		t.Errorf("cache holds %d bytes in %d files, budget %d", l.small.bytes, len(l.small.m), CacheBudget)
	}
}

// listAll lists the whole library, with the costs of the wire's listing.
func listAll(l *Library) ([]Entry, error) {
	var entries []Entry
	_, err := l.List(ListLimit{Bytes: 64 << 20, PerEntry: 18}, func(e Entry) { entries = append(entries, e) })
	return entries, err
}

// TestListBounded: a listing stops with ErrTooLarge as soon as it would
// cost more than its bytes, or its walk read more entries than allowed,
// listed or not (empty directories cost the walk as much as files), and
// hands out nothing past the bound. Within both, all is listed, in order.
func TestListBounded(t *testing.T) {
	l, dir := newLib(t)
	for i := range 100 {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%03d", i)), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Mkdir(filepath.Join(dir, fmt.Sprintf("e%03d", i)), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.Mkdir(filepath.Join(dir, "a"), 0o755)
	os.WriteFile(filepath.Join(dir, "a", "z"), nil, 0o644)
	os.WriteFile(filepath.Join(dir, "a-b"), nil, 0o644)
	count := func(lim ListLimit) (int, []string, error) {
		var names []string
		_, err := l.List(lim, func(e Entry) { names = append(names, e.Name) })
		return len(names), names, err
	}
	// 102 files of 4 or 3 bytes (cost 10 or 9: 1018); 202 entries in the
	// root, 1 in a.
	n, names, err := count(ListLimit{Visits: 203, Bytes: 1018, PerEntry: 6})
	if err != nil || n != 102 {
		t.Fatalf("within the bounds: %d listed, %v", n, err)
	}
	if names[0] != "a/z" || names[1] != "a-b" || names[2] != "f000" {
		t.Errorf("order: %v", names[:3])
	}
	if n, _, err := count(ListLimit{Visits: 203, Bytes: 50, PerEntry: 6}); !errors.Is(err, ErrTooLarge) || n*10 > 50 {
		t.Errorf("over the bytes: %d listed, %v", n, err)
	}
	// The walk's bound counts the empty directories, which list nothing.
	if n, _, err := count(ListLimit{Visits: 150, Bytes: 1 << 20, PerEntry: 6}); !errors.Is(err, ErrTooLarge) || n != 0 {
		t.Errorf("over the visits: %d listed, %v", n, err)
	}
	if _, _, err := count(ListLimit{Visits: 202, Bytes: 1 << 20, PerEntry: 6}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("one visit over: %v", err)
	}
}

// TestListSkipsUnnamable: names CheckName refuses (invalid UTF-8, a
// newline, terminal escapes, a path over MaxName) are not listed, nor
// anything beneath such a directory, and are counted; the rest is listed.
func TestListSkipsUnnamable(t *testing.T) {
	l, dir := newLib(t)
	bad := []string{"bad\xff", "fake\nentry\t0\t2000-01-01T00:00:00Z", "\x1b]0;pwned\x07\x1b[2J", "tab\there"}
	for _, n := range bad {
		if err := os.WriteFile(filepath.Join(dir, n), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.Mkdir(filepath.Join(dir, "dir\x7f"), 0o755)
	os.WriteFile(filepath.Join(dir, "dir\x7f", "inside"), nil, 0o644)
	// A path of 4 components of 255 bytes and a file: over MaxName.
	long := filepath.Join(dir, strings.Repeat("a", 255), strings.Repeat("b", 255), strings.Repeat("c", 255), strings.Repeat("d", 255))
	if err := os.MkdirAll(long, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(long, "toolong"), nil, 0o644)
	os.WriteFile(filepath.Join(dir, "good"), nil, 0o644)
	var names []string
	un, err := l.List(ListLimit{Bytes: 1 << 20, PerEntry: 18}, func(e Entry) { names = append(names, e.Name) })
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != 1 || names[0] != "good" {
		t.Errorf("listed %q, want only good", names)
	}
	if want := len(bad) + 2; un.Count != want || CheckName(un.First) == nil {
		t.Errorf("unlisted %d (first %q), want %d", un.Count, un.First, want)
	}
}

// TestSmallCacheNames: many distinct names of one empty file (symlinks to
// "." make endless ones) are charged what they cost in memory, not their
// zero bytes: the cache holds at most cacheMaxEntries of them, each
// charged at least the ~150 bytes measured, all within CacheBudget.
func TestSmallCacheNames(t *testing.T) {
	l, dir := newLib(t)
	for c := 'a'; c <= 'y'; c++ {
		if err := os.Symlink(".", filepath.Join(dir, string(c))); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(dir, "z"), nil, 0o644)
	const n = cacheMaxEntries + 4096
	for i := range n {
		var name []byte
		for k, j := 0, i; k < 4; k, j = k+1, j/25 {
			name = append(name, byte('a'+j%25), '/')
		}
		name = append(name, 'z')
		if f, err := l.Open(string(name)); err != nil || f.File != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	var charged int
	for name, e := range l.small.m {
		charged += 150 + len(name) + len(e.data)
	}
	if len(l.small.m) > cacheMaxEntries || l.small.bytes > CacheBudget || l.small.bytes < charged {
		t.Errorf("%d names of an empty file: the cache holds %d entries charged %d bytes (at least %d due), at most %d entries and %d bytes allowed",
			n, len(l.small.m), l.small.bytes, charged, cacheMaxEntries, CacheBudget)
	}
}
