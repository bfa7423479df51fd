package library

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestReserve: on a tmpfs of 8 MiB with 4 MiB to keep free, an upload
// announcing 3 MiB is let in; a second announcing 2 MiB is refused while
// the first has not written its bytes, and still once it has (statfs
// counts them then); once the first is aborted, the second is let in.
// SetMinFree(0) checks nothing.
func TestReserve(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "small")
	os.Mkdir(dir, 0o755)
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=8m"); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v): this test needs root, as CI runs", err)
	}
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
	l, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	l.SetMinFree(4 << 20)
	a, _ := l.Create("a.bin")
	defer a.Abort()
	b, _ := l.Create("b.bin")
	defer b.Abort()
	if err := a.Reserve(3 << 20); err != nil {
		t.Fatalf("3 of 8 MiB with 4 to keep: %v", err)
	}
	if err := b.Reserve(2 << 20); !errors.Is(err, ErrNoSpace) {
		t.Errorf("2 more MiB, 3 announced: %v, want ErrNoSpace", err)
	}
	if _, err := a.File().Write(make([]byte, 3<<20)); err != nil {
		t.Fatal(err)
	}
	if err := b.Reserve(2 << 20); !errors.Is(err, ErrNoSpace) {
		t.Errorf("2 more MiB, 3 written: %v, want ErrNoSpace", err)
	}
	if err := a.Reserve(3 << 20); err != nil {
		t.Errorf("again, its bytes written: %v", err)
	}
	a.Abort()
	if err := b.Reserve(2 << 20); err != nil {
		t.Errorf("2 MiB once the other is gone: %v", err)
	}
	l.SetMinFree(0)
	c, _ := l.Create("c.bin")
	defer c.Abort()
	if err := c.Reserve(1 << 40); err != nil {
		t.Errorf("with no floor: %v", err)
	}
}
