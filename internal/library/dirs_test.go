package library

import (
	"crypto/sha256"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// deepName is a name of about MaxName bytes, 150 directories deep under
// top, as a hostile client sends to litter the library with directories.
func deepName(top string) string {
	parts := []string{top}
	for j := 0; len(strings.Join(parts, "/")) < MaxName-20; j++ {
		parts = append(parts, fmt.Sprint(j))
	}
	return strings.Join(parts, "/") + "/f"
}

// rootNames lists the root's entries but the sums directory.
func rootNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		if e.Name() != sumsDir {
			names = append(names, e.Name())
		}
	}
	return names
}

// TestUploadDirs: an abandoned upload of a deep name, one refused for
// space, one whose body does not match: none leaves a directory; a
// directory that was there before stays; a committed upload keeps its
// directories.
func TestUploadDirs(t *testing.T) {
	l, dir := newLib(t)
	data := []byte("payload")
	u, err := l.Create(deepName("abandoned"))
	if err != nil {
		t.Fatal(err)
	}
	u.Abort()
	u, err = l.Create(deepName("badsum"))
	if err != nil {
		t.Fatal(err)
	}
	u.File().Write(data)
	if err := u.Commit(int64(len(data)), sha256.Sum256([]byte("other"))); err == nil {
		t.Fatal("committed with a wrong sum")
	}
	l.SetMinFree(math.MaxInt64)
	u, err = l.Create(deepName("nospace"))
	if err != nil {
		t.Fatal(err)
	}
	if err := u.Reserve(1); err == nil {
		t.Fatal("reserved past the floor")
	}
	u.Abort()
	l.SetMinFree(0)
	if names := rootNames(t, dir); len(names) != 0 {
		t.Errorf("failed uploads left %v", names)
	}

	os.Mkdir(filepath.Join(dir, "kept"), 0o755)
	u, err = l.Create("kept/new/f")
	if err != nil {
		t.Fatal(err)
	}
	u.Abort()
	if ents, err := os.ReadDir(filepath.Join(dir, "kept")); err != nil || len(ents) != 0 {
		t.Errorf("kept/ after an abort beneath: %v %v, want it there and empty", ents, err)
	}

	name := deepName("committed")
	if err := put(t, l, name, data); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(filepath.Join(dir, name)); err != nil || string(got) != string(data) {
		t.Errorf("committed: %q %v", got, err)
	}
}

// TestUploadDirsShared: uploads into one new directory, one aborting while
// the other is under way: the other's directory stays and it commits;
// over many rounds at once, every commit succeeds and the aborts leave
// only the committed files' directories.
func TestUploadDirsShared(t *testing.T) {
	l, dir := newLib(t)
	data := []byte("payload")
	a, err := l.Create("n/m/a")
	if err != nil {
		t.Fatal(err)
	}
	b, err := l.Create("n/m/b")
	if err != nil {
		t.Fatal(err)
	}
	a.Abort() // made n/m, which b's temp file fills
	b.File().Write(data)
	if err := b.Commit(int64(len(data)), sha256.Sum256(data)); err != nil {
		t.Fatalf("b after a's abort: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "n/m/b")); err != nil {
		t.Fatal(err)
	}

	var wg sync.WaitGroup
	errs := make(chan error, 400)
	for i := range 200 {
		d := fmt.Sprintf("r%d/x/y", i)
		wg.Add(2)
		go func() {
			defer wg.Done()
			if u, err := l.Create(d + "/abandoned"); err == nil {
				u.Abort()
			} else {
				errs <- err
			}
		}()
		go func() {
			defer wg.Done()
			if err := put(t, l, d+"/kept", data); err != nil {
				errs <- fmt.Errorf("%s: %w", d, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for i := range 200 {
		ents, err := os.ReadDir(filepath.Join(dir, fmt.Sprintf("r%d/x/y", i)))
		if err != nil || len(ents) != 1 || ents[0].Name() != "kept" {
			t.Fatalf("r%d/x/y: %v %v, want kept alone", i, ents, err)
		}
	}
}
