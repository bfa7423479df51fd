package proctest

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// NullDevice makes a character device 1,3 (what /dev/null is) at p and
// returns p: tests of what may never be replaced use their own, never the
// system's. It needs root, as the tests run.
func NullDevice(t testing.TB, p string) string {
	t.Helper()
	if err := unix.Mknod(p, unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))); err != nil {
		t.Fatalf("mknod (the tests run as root): %v", err)
	}
	return p
}

// IsType fails the test unless p is (still) of type want: not replaced.
func IsType(t testing.TB, p string, want os.FileMode) {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Type(); got != want {
		t.Errorf("%s is now %v, want %v: replaced", p, got, want)
	}
}
