package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sigride/sigride/internal/proctest"
	"github.com/sigride/sigride/internal/tftp"
	"github.com/sigride/sigride/internal/wire"
)

// answerWithin is the bound on an answer that needs no waiting at all: a
// refusal of a name.
const answerWithin = 5 * time.Second

// ask sends one request on a new connection and reads the response
// header, within answerWithin.
func ask(t *testing.T, addr string, req wire.Request) (wire.Response, error) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(answerWithin))
	if _, err := c.Write(wire.AppendRequest(nil, req)); err != nil {
		return wire.Response{}, err
	}
	return wire.ReadResponse(c)
}

// tftpAsk sends a request (RRQ or WRQ, octet, with opts) and returns the
// first answer, within answerWithin.
func tftpAsk(t *testing.T, server string, op tftp.Opcode, name string, opts ...tftp.Option) tftp.Packet {
	t.Helper()
	c, _, p := rawAsk(t, server, answerWithin, op, name, opts...)
	c.Close()
	return p
}

// makeSpecials makes in root a FIFO, a unix socket, a char device (1,3:
// /dev/null's numbers) and symlinks to each, and returns their names.
func makeSpecials(t *testing.T, root string) []string {
	t.Helper()
	if err := unix.Mkfifo(filepath.Join(root, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	proctest.NullDevice(t, filepath.Join(root, "null"))
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: filepath.Join(root, "sock"), Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	t.Cleanup(func() { ln.Close() })
	os.Mkdir(filepath.Join(root, "dir"), 0o755)
	for _, n := range []string{"fifo", "null", "sock"} {
		os.Symlink(n, filepath.Join(root, "link-"+n))
	}
	return []string{"fifo", "null", "sock", "link-fifo", "link-null", "link-sock", "dir"}
}

// TestSpecialFilesRefused: a GET or an RRQ of a FIFO, a socket or a
// device (or a symlink to one) is answered not-a-file at once, never
// waiting in open(2); so a few of them do not fill --max-conns, and a
// normal GET is served after.
func TestSpecialFilesRefused(t *testing.T) {
	s := startTFTP(t, "--workers", "1", "--max-conns", "2")
	names := makeSpecials(t, s.root)
	s.put(t, "ok.txt", []byte("served"))
	for _, name := range names {
		if resp, err := ask(t, s.addr, wire.Request{Op: wire.OpGet, Name: name}); err != nil || resp.Status != wire.ErrNotAFile {
			t.Errorf("GET %s: %v %v, want not a file at once", name, resp.Status, err)
		}
		if p := tftpAsk(t, s.tftp, tftp.OpRRQ, name); p.Op != tftp.OpERROR || p.Code != tftp.ErrAccess {
			t.Errorf("RRQ %s: %v code %d %q, want ERROR 2", name, p.Op, p.Code, p.Message)
		}
	}
	// As many FIFO GETs at once as --max-conns, then a normal GET. The
	// connections of the asks above may still hold a slot for a moment
	// (the worker counts one until it reads the client's close): a FIFO
	// GET told busy is sent again.
	fifoGets := func() (busy int) {
		var held []net.Conn
		for range 2 {
			c, err := net.Dial("tcp", s.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(answerWithin))
			c.Write(wire.AppendRequest(nil, wire.Request{Op: wire.OpGet, Name: "link-fifo"}))
			held = append(held, c)
		}
		for i, c := range held {
			resp, err := wire.ReadResponse(c)
			switch {
			case err == nil && resp.Status == wire.ErrBusy:
				busy++
			case err != nil || resp.Status != wire.ErrNotAFile:
				t.Fatalf("FIFO GET %d: %v %v", i, resp.Status, err)
			}
			c.Close()
		}
		return busy
	}
	for tries := 0; fifoGets() > 0; tries++ {
		if tries == 20 {
			t.Fatal("FIFO GETs told busy 20 times running")
		}
	}
	dst := filepath.Join(t.TempDir(), "ok.txt")
	done := make(chan struct{})
	go func() {
		defer close(done)
		for tries := 0; ; tries++ {
			_, stderr, code := s.client("get", "ok.txt", "-o", dst)
			if code == 0 {
				return
			}
			// The FIFO GETs' connections, closed, may hold their slots a
			// moment more: busy then is the limit, not a FIFO held.
			if !strings.Contains(stderr, "busy") || tries == 20 {
				t.Errorf("get after the FIFO GETs: exit %d %s", code, stderr)
				return
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("get after the FIFO GETs: no answer")
	}
}

// TestPutOntoNonFiles: a PUT onto a directory, a FIFO, a device, a socket
// or a symlink is answered not-a-file in reply to the request, before
// CONTINUE, and a WRQ with ERROR 2; nothing there is replaced.
func TestPutOntoNonFiles(t *testing.T) {
	s := startTFTP(t, "--workers", "1")
	names := makeSpecials(t, s.root)
	s.put(t, "target", []byte("kept"))
	os.Symlink("target", filepath.Join(s.root, "link"))
	names = append(names, "link")
	modes := func() string {
		var b strings.Builder
		for _, n := range names {
			fi, err := os.Lstat(filepath.Join(s.root, n))
			fmt.Fprintf(&b, "%s %v %v\n", n, fi.Mode(), err)
		}
		return b.String()
	}
	before := modes()
	for _, name := range names {
		if resp, err := ask(t, s.addr, wire.Request{Op: wire.OpPut, Name: name, Arg: 4}); err != nil || resp.Status != wire.ErrNotAFile {
			t.Errorf("PUT %s: %v %v, want not a file before CONTINUE", name, resp.Status, err)
		}
		if p := tftpAsk(t, s.tftp, tftp.OpWRQ, name); p.Op != tftp.OpERROR || p.Code != tftp.ErrAccess {
			t.Errorf("WRQ %s: %v code %d %q, want ERROR 2", name, p.Op, p.Code, p.Message)
		}
	}
	if after := modes(); after != before {
		t.Errorf("replaced:\n%s\nwas:\n%s", after, before)
	}
	sameBytes(t, "a symlink's target", filepath.Join(s.root, "target"), []byte("kept"))
	noUploads(t, s.root)
}

// rewriteInPlace writes data over p (same inode, same size) and sets its
// mtime back, as cp -p, touch -r, tar or rsync leave it.
func rewriteInPlace(t *testing.T, p string, data []byte) {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil || fi.Size() != int64(len(data)) {
		t.Fatalf("rewrite %s: %v, %d bytes over %d", p, err, len(data), fi.Size())
	}
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.WriteAt(data, 0)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
}

// keptSum reads the sum the server keeps for the file at p, checking that
// it is kept for the file as it is now (size, mtime, ctime).
func keptSum(t *testing.T, root, p string) [sha256.Size]byte {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(p, &st); err != nil {
		t.Fatal(err)
	}
	e, err := os.ReadFile(filepath.Join(root, ".sigride-sums", fmt.Sprintf("%x-%x", st.Dev, st.Ino)))
	if err != nil {
		t.Fatalf("no sum kept for %s: %v", p, err)
	}
	const magic = "sgs1"
	if len(e) != len(magic)+32+24 || !bytes.HasPrefix(e, []byte(magic)) {
		t.Fatalf("sum entry for %s: %x", p, e)
	}
	b := e[len(magic)+32:]
	if int64(binary.BigEndian.Uint64(b)) != st.Size || int64(binary.BigEndian.Uint64(b[8:])) != st.Mtim.Nano() ||
		int64(binary.BigEndian.Uint64(b[16:])) != st.Ctim.Nano() {
		t.Fatalf("sum entry for %s kept for another state of it", p)
	}
	return [sha256.Size]byte(e[len(magic) : len(magic)+32])
}

// TestSumAfterRewriteInPlace: a large file rewritten in place with its
// size and mtime kept is served with its new sum (no checksum mismatch),
// before and after a restart; the sum served is the one kept on disk, for
// the file as it is.
func TestSumAfterRewriteInPlace(t *testing.T) {
	root := filepath.Join(t.TempDir(), "library")
	s := startServer(t, "--workers", "2", "--root", root)
	s.root = root
	dir := t.TempDir()
	src := randomFile(t, dir, 1<<20)
	p := filepath.Join(root, "big.bin")
	if _, stderr, code := s.client("put", src, "--as", "big.bin"); code != 0 {
		t.Fatalf("put: %s", stderr)
	}
	get := func(s *serverProc, want string) {
		t.Helper()
		dst := filepath.Join(dir, "got")
		os.Remove(dst)
		if _, stderr, code := s.client("get", "big.bin", "-o", dst); code != 0 {
			t.Fatalf("get: exit %d %s", code, stderr)
		}
		sameFile(t, want, dst)
	}
	get(s, src)
	other := randomFile(t, t.TempDir(), 1<<20)
	data, _ := os.ReadFile(other)
	rewriteInPlace(t, p, data)
	get(s, other)

	s.stop()
	s = startServer(t, "--workers", "2", "--root", root)
	s.root = root
	get(s, other)
	data, _ = os.ReadFile(src)
	rewriteInPlace(t, p, data)
	get(s, src)
	if keptSum(t, root, p) != sha256.Sum256(data) {
		t.Fatal("the sum kept is not the file's")
	}
}
