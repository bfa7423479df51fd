package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sigride/sigride/internal/proctest"
)

func writeString(s string) func(io.Writer) error {
	return func(w io.Writer) error { _, err := io.WriteString(w, s); return err }
}

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "x.pid")
	if err := WritePid(p, 42); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != "42\n" {
		t.Errorf("got %q", b)
	}
	// A failed write leaves the old file whole and no temp file.
	err := Write(p, func(w io.Writer) error { io.WriteString(w, "partial"); return errors.New("boom") })
	if err == nil {
		t.Fatal("no error")
	}
	if b, _ := os.ReadFile(p); string(b) != "42\n" {
		t.Errorf("old file changed: %q", b)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("left: %v", ents)
	}
}

// TestWriteIntoDevice: a character device is written into, not replaced
// by a regular file.
func TestWriteIntoDevice(t *testing.T) {
	dir := t.TempDir()
	dev := proctest.NullDevice(t, filepath.Join(dir, "null"))
	if err := Write(dev, writeString("into the device\n")); err != nil {
		t.Fatal(err)
	}
	proctest.IsType(t, dev, os.ModeDevice|os.ModeCharDevice)
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("left: %v", ents)
	}
}

// TestWriteIntoFIFO: a FIFO's reader gets the bytes and the FIFO stays;
// with no reader, a clear error at once rather than an open that waits.
func TestWriteIntoFIFO(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := unix.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	err := Write(fifo, writeString("nobody reads\n"))
	if err == nil || !strings.Contains(err.Error(), "a FIFO with no reader") {
		t.Errorf("no reader: %v, want a FIFO with no reader", err)
	}
	proctest.IsType(t, fifo, os.ModeNamedPipe)

	// A non-blocking open for reading does not wait for a writer.
	r, err := os.OpenFile(fifo, os.O_RDONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := Write(fifo, writeString("to the reader\n")); err != nil {
		t.Fatal(err)
	}
	proctest.IsType(t, fifo, os.ModeNamedPipe)
	b, err := io.ReadAll(r) // the writer has closed: EOF after the bytes
	if err != nil || string(b) != "to the reader\n" {
		t.Errorf("the reader got %q, %v", b, err)
	}
}

// TestWriteThroughSymlink: a symlink to a regular file stays a symlink; its
// target is replaced. A dangling one, a directory, a socket are refused.
func TestWriteThroughSymlink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "target.txt")
	os.WriteFile(target, []byte("old\n"), 0o644)
	link := filepath.Join(dir, "link.txt")
	os.Symlink("target.txt", link)
	if err := Write(link, writeString("new\n")); err != nil {
		t.Fatal(err)
	}
	proctest.IsType(t, link, os.ModeSymlink)
	if b, _ := os.ReadFile(target); string(b) != "new\n" {
		t.Errorf("target holds %q", b)
	}

	dangling := filepath.Join(dir, "dangling")
	os.Symlink("nowhere", dangling)
	sock := filepath.Join(dir, "sock")
	if err := unix.Bind(mustSocket(t), &unix.SockaddrUnix{Name: sock}); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]string{
		dangling: "a dangling symlink",
		dir:      "is a directory: refused",
		sock:     "is a socket: refused",
	} {
		before, _ := os.Lstat(p)
		err := Write(p, writeString("x"))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", p, err, want)
		}
		proctest.IsType(t, p, before.Mode().Type())
	}
}

func mustSocket(t *testing.T) int {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

// TestWriteDash: "-" is stdout, not a file named "-".
func TestWriteDash(t *testing.T) {
	t.Chdir(t.TempDir())
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	saved := os.Stdout
	os.Stdout = w
	err = Write("-", writeString("on stdout\n"))
	os.Stdout = saved
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(r); string(b) != "on stdout\n" {
		t.Errorf("stdout got %q", b)
	}
	if _, err := os.Lstat("-"); err == nil {
		t.Error("a file named - was written")
	}
}

// TestResolve: the decision for each kind of thing at the path.
func TestResolve(t *testing.T) {
	dir := t.TempDir()
	reg := filepath.Join(dir, "reg")
	os.WriteFile(reg, nil, 0o644)
	link := filepath.Join(dir, "link")
	os.Symlink(reg, link)
	for _, tc := range []struct {
		path string
		want Target
	}{
		{"-", Target{Stdout, "-"}},
		{filepath.Join(dir, "new"), Target{Replace, filepath.Join(dir, "new")}},
		{reg, Target{Replace, reg}},
		{link, Target{Replace, reg}},
		{"/dev/stdout", Target{Into, "/dev/stdout"}}, // a pipe, a terminal or a redirected file: never replaced
		{"/proc/self/fd/2", Target{Into, "/proc/self/fd/2"}},
	} {
		got, err := Resolve(tc.path)
		if err != nil || got != tc.want {
			t.Errorf("%s: %+v, %v; want %+v", tc.path, got, err, tc.want)
		}
	}
}

// TestRenameRechecks: a FIFO put at the name after Resolve is not replaced.
func TestRenameRechecks(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "out")
	tgt, err := Resolve(p)
	if err != nil {
		t.Fatal(err)
	}
	unix.Mkfifo(p, 0o644)
	tmp := filepath.Join(dir, "tmp")
	os.WriteFile(tmp, []byte("x"), 0o644)
	if err := tgt.Rename(tmp); err == nil || !strings.Contains(err.Error(), "now a FIFO") {
		t.Errorf("rename over a FIFO: %v", err)
	}
	proctest.IsType(t, p, os.ModeNamedPipe)
}

// TestOpenRegular: a planted PATH.part symlink is not followed (its target
// stays whole), a FIFO or a device there is refused.
func TestOpenRegular(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(dir, "victim")
	os.WriteFile(victim, []byte("keep me\n"), 0o644)
	part := filepath.Join(dir, "x.part")
	os.Symlink(victim, part)
	if f, err := OpenRegular(part, os.O_RDWR|os.O_CREATE, true); err == nil || !strings.Contains(err.Error(), "a symlink, refused") {
		t.Errorf("symlink .part: %v", err)
		if f != nil {
			f.Close()
		}
	}
	if b, _ := os.ReadFile(victim); string(b) != "keep me\n" {
		t.Errorf("the symlink's target now holds %q", b)
	}
	fifo := filepath.Join(dir, "f.part")
	unix.Mkfifo(fifo, 0o644)
	for _, p := range []string{fifo, proctest.NullDevice(t, filepath.Join(dir, "null"))} {
		if f, err := OpenRegular(p, os.O_RDWR|os.O_CREATE, true); err == nil || !strings.Contains(err.Error(), "not a regular file: refused") {
			t.Errorf("%s: %v", p, err)
			if f != nil {
				f.Close()
			}
		}
	}
	f, err := OpenRegular(filepath.Join(dir, "ok.part"), os.O_RDWR|os.O_CREATE, true)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
}

// TestWritePidRefuses: a pid file that exists and is not a regular file
// (a symlink to something to clobber, a FIFO, a device, a directory) is
// refused and left as it was.
func TestWritePidRefuses(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(dir, "victim")
	os.WriteFile(victim, []byte("keep me\n"), 0o644)
	link := filepath.Join(dir, "link.pid")
	os.Symlink(victim, link)
	fifo := filepath.Join(dir, "fifo.pid")
	unix.Mkfifo(fifo, 0o644)
	sub := filepath.Join(dir, "dir.pid")
	os.Mkdir(sub, 0o755)
	for _, p := range []string{link, fifo, proctest.NullDevice(t, filepath.Join(dir, "null")), sub} {
		before, _ := os.Lstat(p)
		err := WritePid(p, 7)
		if err == nil || !strings.Contains(err.Error(), "not a regular file: refused") {
			t.Errorf("%s: %v", p, err)
		}
		proctest.IsType(t, p, before.Mode().Type())
	}
	if b, _ := os.ReadFile(victim); string(b) != "keep me\n" {
		t.Errorf("the symlink's target now holds %q", b)
	}
	if err := WritePid("-", 7); err == nil {
		t.Error("a pid file on stdout")
	}
}

// TestIntoWriterStalls: into a FIFO whose reader reads nothing, a write
// fails with a StallError once no byte has moved for its time, instead of
// waiting for ever.
func TestIntoWriterStalls(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := unix.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := os.OpenFile(fifo, os.O_RDONLY|unix.O_NONBLOCK, 0) // a reader that never reads
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	f, err := OpenInto(fifo)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := IntoWriter(f, fifo, 200*time.Millisecond)
	start := time.Now()
	n, err := w.Write(make([]byte, 1<<20)) // more than a pipe holds
	var se *StallError
	if !errors.As(err, &se) || !errors.Is(err, os.ErrDeadlineExceeded) || n >= 1<<20 {
		t.Fatalf("wrote %d, %v; want a stall", n, err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("stalled after %v, want about 200ms", d)
	}
}

// TestRemovePid: a pid file is removed only while it names the pid given.
func TestRemovePid(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "x.pid")
	if err := RemovePid(p, 7); err != nil {
		t.Fatalf("gone already: %v", err)
	}
	if err := WritePid(p, 8); err != nil {
		t.Fatal(err)
	}
	if err := RemovePid(p, 7); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("another's pid file removed: %v", err)
	}
	if err := RemovePid(p, 8); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Fatalf("own pid file kept: %v", err)
	}
}
