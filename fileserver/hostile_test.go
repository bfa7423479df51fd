package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sigride/sigride/internal/wire"
)

// hostile dials s, sends what send writes, and returns the first response
// (or the error that ended the connection instead).
func hostile(t *testing.T, addr string, send func(c net.Conn)) (wire.Response, error) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	send(c)
	return wire.ReadResponse(bufio.NewReader(c))
}

func rawHeader(op wire.Op, nameLen uint16, reserved uint32, arg uint64) []byte {
	b := []byte{wire.Version, byte(op)}
	b = binary.BigEndian.AppendUint16(b, nameLen)
	b = binary.BigEndian.AppendUint32(b, reserved)
	return binary.BigEndian.AppendUint64(b, arg)
}

// TestHostileClients: every hostile request gets an error or a closed
// connection, while clients beside them are served without one failure,
// and nothing of it lands in the library.
func TestHostileClients(t *testing.T) {
	s := startServer(t, "--workers", "2", "--max-upload", "2MiB", "--idle-timeout", "1s", "--tftp", "127.0.0.1:0")
	src := randomFile(t, t.TempDir(), 64<<10)
	if _, stderr, code := s.client("put", src, "--as", "f.bin"); code != 0 {
		t.Fatal(stderr)
	}
	load := startLoad(t, s.addr, "f.bin")

	wantStatus := func(what string, resp wire.Response, err error, want wire.Status) {
		t.Helper()
		if err != nil || resp.Status != want {
			t.Errorf("%s: %+v, %v; want %v", what, resp, err, want)
		}
	}
	put := func(name string, size uint64) func(c net.Conn) {
		return func(c net.Conn) {
			c.Write(wire.AppendRequest(nil, wire.Request{Op: wire.OpPut, Name: name, Arg: size}))
		}
	}
	// Sizes: over the limit, "negative" (top bit set), overflowing.
	for _, size := range []uint64{2<<20 + 1, 1 << 63, ^uint64(0)} {
		resp, err := hostile(t, s.addr, put("big.bin", size))
		wantStatus(fmt.Sprintf("put of %d bytes", size), resp, err, wire.ErrTooLarge)
	}
	// A GET offset past the end, and overflowing.
	for _, off := range []uint64{64<<10 + 1, ^uint64(0)} {
		resp, err := hostile(t, s.addr, func(c net.Conn) {
			c.Write(wire.AppendRequest(nil, wire.Request{Op: wire.OpGet, Name: "f.bin", Arg: off}))
		})
		wantStatus("get past the end", resp, err, wire.ErrBadRange)
	}
	// A name length over the limit, a reserved field set, an unknown op, a
	// wrong version: a protocol error each.
	for what, h := range map[string][]byte{
		"name length 65535": rawHeader(wire.OpGet, 65535, 0, 0),
		"reserved bytes":    rawHeader(wire.OpList, 0, 7, 0),
		"unknown op":        rawHeader(99, 1, 0, 0),
	} {
		resp, err := hostile(t, s.addr, func(c net.Conn) { c.Write(h) })
		wantStatus(what, resp, err, wire.ErrBadRequest)
	}
	resp, err := hostile(t, s.addr, func(c net.Conn) { c.Write([]byte{9, 1, 0, 0}) })
	wantStatus("version 9", resp, err, wire.ErrBadVersion)
	// Names: .., NUL, newline, 10,000 characters.
	for _, name := range []string{"..", "../../etc/passwd", "a\x00b", "a\nb", strings.Repeat("x", 10000)} {
		resp, err := hostile(t, s.addr, func(c net.Conn) {
			h := rawHeader(wire.OpGet, uint16(len(name)), 0, 0)
			c.Write(append(h, name...))
		})
		if err != nil || (resp.Status != wire.ErrBadName && resp.Status != wire.ErrBadRequest) {
			t.Errorf("name %.20q: %+v, %v; want bad name or bad request", name, resp, err)
		}
	}
	// A checksum that lies.
	body := []byte("the body")
	resp, err = hostile(t, s.addr, func(c net.Conn) {
		put("lie.bin", uint64(len(body)))(c)
		if r, err := wire.ReadResponse(c); err != nil || r.Status != wire.StatusContinue {
			t.Errorf("lie: %+v %v", r, err)
		}
		sum := sha256.Sum256([]byte("another body"))
		c.Write(append(body, sum[:]...))
	})
	wantStatus("a lying checksum", resp, err, wire.ErrChecksum)
	// Half a header, then silence: a timeout after --idle-timeout.
	resp, err = hostile(t, s.addr, func(c net.Conn) { c.Write(rawHeader(wire.OpGet, 5, 0, 0)[:7]) })
	wantStatus("half a header", resp, err, wire.ErrTimeout)
	// A million tiny writes: an upload of 1 MiB a byte at a time, which
	// must be stored whole.
	tiny := make([]byte, 1<<20)
	for i := range tiny {
		tiny[i] = byte(i * 7)
	}
	resp, err = hostile(t, s.addr, func(c net.Conn) {
		put("tiny.bin", uint64(len(tiny)))(c)
		if r, err := wire.ReadResponse(c); err != nil || r.Status != wire.StatusContinue {
			t.Errorf("tiny: %+v %v", r, err)
			return
		}
		// One write(2) a byte, straight on the socket (net.Conn's Write
		// costs more than the syscall under the race detector).
		rc, _ := c.(*net.TCPConn).SyscallConn()
		i := 0
		var werr error
		rc.Write(func(fd uintptr) bool {
			for i < len(tiny) {
				if _, err := syscall.Write(int(fd), tiny[i:i+1]); err != nil {
					if err == syscall.EAGAIN {
						return false // wait until writable
					}
					werr = err
					return true
				}
				i++
			}
			return true
		})
		if werr != nil {
			t.Errorf("tiny write %d: %v", i, werr)
			return
		}
		sum := sha256.Sum256(tiny)
		c.Write(sum[:])
	})
	wantStatus("a million tiny writes", resp, err, wire.StatusOK)
	if got, _ := os.ReadFile(filepath.Join(s.root, "tiny.bin")); string(got) != string(tiny) {
		t.Error("the tiny writes were not stored whole")
	}
	// Connections opened and dropped by the thousand, some mid-header.
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 250 {
				c, err := net.Dial("tcp", s.addr)
				if err != nil {
					t.Errorf("dial %d: %v", i, err)
					return
				}
				if (g+i)%2 == 0 {
					c.Write(rawHeader(wire.OpPut, 4, 0, 100)[:5])
				}
				c.Close()
			}
		}()
	}
	wg.Wait()
	// TFTP: junk datagrams by the thousand at the shared socket.
	sa, _ := net.ResolveUDPAddr("udp", s.tftp)
	u, err := net.ListenUDP("udp", &net.UDPAddr{IP: sa.IP})
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	for i := range 1000 {
		junk := [][]byte{{0}, {0, 3, 0, 1}, {0, 1, 'x'}, []byte(strings.Repeat("A", 3000)), {0, 2, 'a', 0, 'm', 'a', 'i', 'l', 0}}[i%5]
		u.WriteToUDP(junk, sa)
	}
	needClients(t)
	dst := filepath.Join(t.TempDir(), "after")
	if out, code := runTool(t, t.TempDir(), "curl", "-sS", "-o", dst, "tftp://"+s.tftp+"/f.bin"); code != 0 {
		t.Errorf("tftp after the junk: exit %d %s", code, out)
	}

	load.finish("the hostile clients")
	noUploads(t, s.root, "big.bin", "lie.bin")
	if stdout, _, code := s.client("ls"); code != 0 || strings.Contains(stdout, "sigride") {
		t.Errorf("ls after: exit %d\n%s", code, stdout)
	}
}
