package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sigride/sigride/internal/library"
	"github.com/sigride/sigride/internal/tftp"
)

// The TFTP tests drive the server with real clients, installed from
// Debian by .ci/run: curl, tftp-hpa's tftp, atftp.
func needClients(t *testing.T) {
	t.Helper()
	for _, c := range []string{"curl", "tftp", "atftp"} {
		if _, err := exec.LookPath(c); err != nil {
			t.Fatalf("%s not installed: apt-get install curl tftp-hpa atftp (.ci/run does)", c)
		}
	}
}

func startTFTP(t *testing.T, args ...string) *serverProc {
	t.Helper()
	needClients(t)
	s := startServer(t, append([]string{"--tftp", "127.0.0.1:0"}, args...)...)
	if s.tftp == "" {
		t.Fatalf("no tftp line:\n%s", s.logText())
	}
	return s
}

// hostPort splits s.tftp for the clients that take them apart.
func (s *serverProc) tftpHostPort(t *testing.T) (string, string) {
	h, p, err := net.SplitHostPort(s.tftp)
	if err != nil {
		t.Fatal(err)
	}
	return h, p
}

// runTool runs a client, returning its combined output and exit code.
func runTool(t *testing.T, dir, name string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), exitCode(err)
}

func (s *serverProc) put(t *testing.T, name string, data []byte) {
	t.Helper()
	p := filepath.Join(s.root, name)
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func sameBytes(t *testing.T, what, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("%s: %d bytes (%v), want %d, equal %v", what, len(got), err, len(want), bytes.Equal(got, want))
	}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*131 + i>>8)
	}
	return b
}

// TestTFTPBlockSizes: curl down and up at every block size the issue
// names, each file a few blocks and a bit.
func TestTFTPBlockSizes(t *testing.T) {
	s := startTFTP(t)
	dir := t.TempDir()
	for _, bs := range []int{8, 512, 1468, 8192, 65464} {
		data := randomBytes(bs*5 + 3)
		name := fmt.Sprintf("bs/%d.bin", bs)
		s.put(t, name, data)
		url := "tftp://" + s.tftp + "/" + name
		got := filepath.Join(dir, fmt.Sprintf("got-%d", bs))
		if out, code := runTool(t, dir, "curl", "-sS", "--tftp-blksize", strconv.Itoa(bs), "-o", got, url); code != 0 {
			t.Fatalf("curl get blksize %d: exit %d: %s", bs, code, out)
		}
		sameBytes(t, fmt.Sprintf("download at blksize %d", bs), got, data)
		up := fmt.Sprintf("up/%d.bin", bs)
		if out, code := runTool(t, dir, "curl", "-sS", "--tftp-blksize", strconv.Itoa(bs), "-T", got, "tftp://"+s.tftp+"/"+up); code != 0 {
			t.Fatalf("curl put blksize %d: exit %d: %s", bs, code, out)
		}
		sameBytes(t, fmt.Sprintf("upload at blksize %d", bs), filepath.Join(s.root, up), data)
	}
	s.waitLog(regexp.MustCompile(`WRQ "up/65464.bin": stored 327323 bytes`), 1)
}

// TestTFTPClients: tftp-hpa (lockstep, netascii) and atftp (windowsize)
// down and up; curl's tsize; a file past the block-number rollover.
func TestTFTPClients(t *testing.T) {
	s := startTFTP(t)
	host, port := s.tftpHostPort(t)
	dir := t.TempDir()
	data := randomBytes(100000)
	s.put(t, "d/f.bin", data)

	if out, _ := runTool(t, dir, "tftp", host, port, "-m", "octet", "-c", "get", "d/f.bin", "hpa.bin"); out != "" {
		t.Errorf("tftp get said %q", out)
	}
	sameBytes(t, "tftp-hpa download", filepath.Join(dir, "hpa.bin"), data)
	runTool(t, dir, "tftp", host, port, "-m", "octet", "-c", "put", "hpa.bin", "up/hpa.bin")
	sameBytes(t, "tftp-hpa upload", filepath.Join(s.root, "up/hpa.bin"), data)

	// netascii: LF lines on disk, CR LF on the wire, LF again at the client.
	text := []byte("one\ntwo\r\nthree\n")
	s.put(t, "t.txt", text)
	runTool(t, dir, "tftp", host, port, "-m", "netascii", "-c", "get", "t.txt", "t.txt")
	sameBytes(t, "netascii download", filepath.Join(dir, "t.txt"), text)
	runTool(t, dir, "tftp", host, port, "-m", "netascii", "-c", "put", "t.txt", "up/t.txt")
	sameBytes(t, "netascii upload", filepath.Join(s.root, "up/t.txt"), text)
	s.waitLog(regexp.MustCompile(`RRQ "t.txt": sent 19 bytes`), 1) // 3 LFs became CR LF, the CR a CR NUL

	// windowsize, with atftp, both ways.
	if out, code := runTool(t, dir, "atftp", "--option", "windowsize 8", "--option", "blksize 1468", "-g", "-r", "d/f.bin", "-l", "at.bin", host, port); code != 0 {
		t.Fatalf("atftp get: exit %d: %s", code, out)
	}
	sameBytes(t, "atftp windowed download", filepath.Join(dir, "at.bin"), data)
	if out, code := runTool(t, dir, "atftp", "--option", "windowsize 8", "-p", "-l", "at.bin", "-r", "up/at.bin", host, port); code != 0 {
		t.Fatalf("atftp put: exit %d: %s", code, out)
	}
	sameBytes(t, "atftp windowed upload", filepath.Join(s.root, "up/at.bin"), data)

	// tsize: curl asks for it and says what came back.
	out, code := runTool(t, dir, "curl", "-v", "-sS", "-o", "c.bin", "tftp://"+s.tftp+"/d/f.bin")
	if code != 0 || !strings.Contains(out, "got option=(tsize) value=(100000)") {
		t.Errorf("curl tsize: exit %d\n%s", code, out)
	}

	// Past 65535 blocks of 512 bytes: the block number rolls over.
	big := randomBytes(65536*512 + 1000)
	s.put(t, "big.bin", big)
	if out, code := runTool(t, dir, "atftp", "--option", "windowsize 16", "-g", "-r", "big.bin", "-l", "big.bin", host, port); code != 0 {
		t.Fatalf("atftp get big: exit %d: %s", code, out)
	}
	sameBytes(t, "download past the rollover", filepath.Join(dir, "big.bin"), big)
	if out, code := runTool(t, dir, "atftp", "--option", "windowsize 16", "-p", "-l", "big.bin", "-r", "up/big.bin", host, port); code != 0 {
		t.Fatalf("atftp put big: exit %d: %s", code, out)
	}
	sameBytes(t, "upload past the rollover", filepath.Join(s.root, "up/big.bin"), big)
}

// TestTFTPRefusals: the right ERROR codes, and nothing stored.
func TestTFTPRefusals(t *testing.T) {
	s := startTFTP(t, "--max-upload", "1000")
	host, port := s.tftpHostPort(t)
	dir := t.TempDir()
	os.Symlink("/etc", filepath.Join(s.root, "etc"))
	os.WriteFile(filepath.Join(dir, "big"), randomBytes(5000), 0o644)

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-c", "get", "missing.txt"}, "Error code 1"},
		{[]string{"-c", "get", "../outside"}, "Error code 2"},
		{[]string{"-c", "get", "/etc/passwd", "x"}, "Error code 2"},
		{[]string{"-c", "get", "etc/passwd", "x"}, "Error code 2"},
		{[]string{"-m", "octet", "-c", "put", "big", "big"}, "Error code 3"}, // no tsize: cut mid-transfer
	} {
		out, _ := runTool(t, dir, "tftp", append([]string{host, port}, tc.args...)...)
		if !strings.Contains(out, tc.want) {
			t.Errorf("tftp %v: %q, want %q", tc.args, out, tc.want)
		}
	}
	// curl sends tsize with an upload: refused before any byte.
	if out, code := runTool(t, dir, "curl", "-sS", "-T", "big", "tftp://"+s.tftp+"/big2"); code != 70 {
		t.Errorf("curl over --max-upload: exit %d %q, want 70 (remote disk full)", code, out)
	}
	if out, code := runTool(t, dir, "curl", "-sS", "-o", "m", "tftp://"+s.tftp+"/missing"); code != 68 {
		t.Errorf("curl missing file: exit %d %q, want 68 (TFTP file not found)", code, out)
	}
	s.waitLog(regexp.MustCompile(`WRQ "big": .*nothing stored`), 1)
	s.waitLog(regexp.MustCompile(`refused: .*leads out of the library`), 1)
	noUploads(t, s.root, "big", "big2")
}

// noUploads checks that names are not in the library, nor any temp file.
func noUploads(t *testing.T, root string, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := os.Stat(filepath.Join(root, n)); err == nil {
			t.Errorf("%s is visible", n)
		}
	}
	filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err == nil && strings.HasPrefix(fi.Name(), library.TempPrefix) {
			t.Errorf("temp file left: %s", p)
		}
		return nil
	})
}

// TestTFTPReadonlyAndPorts: --tftp-readonly refuses WRQ with code 2;
// --tftp-port-range is where transfers come from.
func TestTFTPReadonlyAndPorts(t *testing.T) {
	s := startTFTP(t, "--tftp-readonly", "--tftp-port-range", "47000:47009")
	host, port := s.tftpHostPort(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "f"), []byte("x"), 0o644)
	if out, _ := runTool(t, dir, "tftp", host, port, "-c", "put", "f", "f"); !strings.Contains(out, "Error code 2") {
		t.Errorf("put to a read-only server: %q", out)
	}
	noUploads(t, s.root, "f")
	s.put(t, "r", []byte("read me"))
	for range 5 {
		c, from, p := rawRRQ(t, s.tftp, "r")
		if p.Op != tftp.OpDATA || from.Port < 47000 || from.Port > 47009 {
			t.Errorf("answer %v from port %d, want DATA from 47000-47009", p.Op, from.Port)
		}
		c.WriteToUDP(tftp.AppendAck(nil, 1), from)
	}
}

// rawRRQ sends an RRQ from a socket of its own and returns the first answer.
func rawRRQ(t *testing.T, server, name string, opts ...tftp.Option) (*net.UDPConn, *net.UDPAddr, tftp.Packet) {
	t.Helper()
	return rawAsk(t, server, 10*time.Second, tftp.OpRRQ, name, opts...)
}

// rawAsk sends a request (RRQ or WRQ, octet, with opts) from a socket of
// its own, closed when the test ends, and returns the socket, the first
// answer and where it came from (the transfer's TID), within within.
func rawAsk(t *testing.T, server string, within time.Duration, op tftp.Opcode, name string, opts ...tftp.Option) (*net.UDPConn, *net.UDPAddr, tftp.Packet) {
	t.Helper()
	sa, err := net.ResolveUDPAddr("udp", server)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: sa.IP})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.WriteToUDP(tftp.AppendRequest(nil, tftp.Request{Op: op, Filename: name, Mode: "octet", Options: opts}), sa)
	c.SetReadDeadline(time.Now().Add(within))
	buf := make([]byte, 70000)
	n, from, err := c.ReadFromUDP(buf)
	if err != nil {
		t.Fatalf("%v %q: no answer: %v", op, name, err)
	}
	p, err := tftp.ParsePacket(buf[:n])
	if err != nil {
		t.Fatal(err)
	}
	return c, from, p
}

// TestTFTPIPv6: the same on ::1.
func TestTFTPIPv6(t *testing.T) {
	needClients(t)
	s := startServer(t, "--tftp", "[::1]:0")
	s.put(t, "six", []byte("over IPv6\n"))
	dir := t.TempDir()
	if out, code := runTool(t, dir, "curl", "-sS", "-g", "-o", "six", "tftp://"+s.tftp+"/six"); code != 0 {
		t.Fatalf("curl over IPv6 (%s): exit %d: %s", s.tftp, code, out)
	}
	sameBytes(t, "IPv6 download", filepath.Join(dir, "six"), []byte("over IPv6\n"))
}

// TestTFTPVanishingClients: a client gone mid-upload leaves nothing; one
// gone mid-download is given up; both are logged.
func TestTFTPVanishingClients(t *testing.T) {
	s := startTFTP(t, "--tftp-retries", "1")
	sa, _ := net.ResolveUDPAddr("udp", s.tftp)
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: sa.IP})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.WriteToUDP(tftp.AppendRequest(nil, tftp.Request{Op: tftp.OpWRQ, Filename: "gone.bin", Mode: "octet",
		Options: []tftp.Option{{Name: "timeout", Value: "1"}}}), sa)
	buf := make([]byte, 1024)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, from, err := c.ReadFromUDP(buf) // the OACK
	if err != nil {
		t.Fatal(err)
	}
	c.WriteToUDP(append(tftp.AppendData(nil, 1), make([]byte, 512)...), from)
	// ... and nothing more.
	s.put(t, "dl.bin", randomBytes(10000))
	rawRRQ(t, s.tftp, "dl.bin", tftp.Option{Name: "timeout", Value: "1"}) // DATA 1, never acknowledged
	s.waitLog(regexp.MustCompile(`WRQ "gone.bin": timed out after 512 bytes; nothing stored`), 1)
	s.waitLog(regexp.MustCompile(`RRQ "dl.bin": timed out`), 1)
	noUploads(t, s.root, "gone.bin")
}

// TestTFTPWorkerSignals: SIGTERM lets a running download finish; a worker
// killed mid-upload leaves nothing visible and the client fails.
func TestTFTPWorkerSignals(t *testing.T) {
	s := startTFTP(t, "--workers", "1")
	w := workerPids(s.waitLog(readyRE, 1))[0]
	data := randomBytes(20 * 512)
	s.put(t, "slow.bin", data)
	c, from, p := rawRRQ(t, s.tftp, "slow.bin")
	if p.Op != tftp.OpDATA || p.Block != 1 {
		t.Fatalf("first answer %+v", p)
	}
	got := append([]byte(nil), p.Data...)
	s.cmd.Process.Signal(syscall.SIGTERM) // while the download is under way
	s.waitLog(regexp.MustCompile(`SIGTERM|stopping`), 1)
	buf := make([]byte, 1024)
	for b := uint16(1); ; b++ { // until the short (here empty) last block
		c.WriteToUDP(tftp.AppendAck(nil, b), from)
		n, _, err := c.ReadFromUDP(buf)
		if err != nil {
			t.Fatalf("download cut by the stop after %d bytes: %v", len(got), err)
		}
		p, _ := tftp.ParsePacket(buf[:n])
		got = append(got, p.Data...)
		if len(p.Data) < 512 {
			c.WriteToUDP(tftp.AppendAck(nil, p.Block), from)
			break
		}
	}
	s.waitLog(regexp.MustCompile(`RRQ "slow.bin": sent 10240 bytes`), 1)
	if !bytes.Equal(got, data) {
		t.Fatalf("download across SIGTERM: %d bytes, want %d", len(got), len(data))
	}
	<-s.done
	if s.code != 0 {
		t.Errorf("server exit %d after SIGTERM", s.code)
	}
	if err := syscall.Kill(w, 0); err == nil {
		t.Errorf("worker %d outlived its master", w)
	}

	// A worker killed mid-upload: the client (tftp-hpa) fails, nothing is visible.
	s2 := startTFTP(t, "--workers", "1")
	w2 := workerPids(s2.waitLog(readyRE, 1))[0]
	up, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	sa, _ := net.ResolveUDPAddr("udp", s2.tftp)
	up.WriteToUDP(tftp.AppendRequest(nil, tftp.Request{Op: tftp.OpWRQ, Filename: "half.bin", Mode: "octet"}), sa)
	up.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, tid, err := up.ReadFromUDP(buf) // ACK 0
	if err != nil {
		t.Fatal(err)
	}
	up.WriteToUDP(append(tftp.AppendData(nil, 1), make([]byte, 512)...), tid)
	if _, _, err := up.ReadFromUDP(buf); err != nil { // ACK 1: the temp file is open
		t.Fatal(err)
	}
	syscall.Kill(w2, syscall.SIGKILL)
	s2.waitLog(readyRE, 2) // replaced
	// The transfer's port died with its worker: nobody can acknowledge the
	// rest, the client can only time out. Binding the port proves it free.
	if taken, err := net.ListenUDP("udp", tid); err != nil {
		t.Errorf("the killed worker's transfer port %v still taken: %v", tid, err)
	} else {
		taken.Close()
	}
	if _, err := os.Stat(filepath.Join(s2.root, "half.bin")); err == nil {
		t.Error("a half upload is visible")
	}
	if stdout, _, _ := s2.client("ls"); strings.Contains(stdout, "half") || strings.Contains(stdout, "sigride") {
		t.Errorf("ls shows the interrupted upload:\n%s", stdout)
	}
}

// TestTFTPWindowMatrix: tftp-hpa's test matrix, with atftp (the one client
// of the three that speaks windowsize): block sizes 199, 512, 1468 and
// 9001 by windows 1, 4, 64 and 256, down and up, each in well under a
// second. A window that overflows the client's (or our) socket buffer
// loses its last blocks and waits a timeout for each window: 9001 by 256
// took seconds for 300 KB.
func TestTFTPWindowMatrix(t *testing.T) {
	s := startTFTP(t)
	host, port := s.tftpHostPort(t)
	dir := t.TempDir()
	data := randomBytes(300 << 10)
	s.put(t, "m.bin", data)
	const within = 2 * time.Second // each transfer; 0.1 s is usual
	start := time.Now()
	for _, bs := range []int{199, 512, 1468, 9001} {
		for _, w := range []int{1, 4, 64, 256} {
			opts := []string{"--option", fmt.Sprintf("blksize %d", bs), "--option", fmt.Sprintf("windowsize %d", w)}
			got := fmt.Sprintf("m-%d-%d.bin", bs, w)
			for _, dir1 := range []struct {
				what string
				args []string
				path string
			}{
				{"get", []string{"-g", "-r", "m.bin", "-l", got}, filepath.Join(dir, got)},
				{"put", []string{"-p", "-l", got, "-r", "up/" + got}, filepath.Join(s.root, "up", got)},
			} {
				t0 := time.Now()
				out, code := runToolWithin(t, 4*within, dir, "atftp", append(append(opts, dir1.args...), host, port)...)
				if d := time.Since(t0); code != 0 || d > within {
					t.Errorf("atftp %s blksize %d windowsize %d: exit %d in %v (at most %v): %.300s", dir1.what, bs, w, code, d.Round(time.Millisecond), within, out)
					continue
				}
				sameBytes(t, fmt.Sprintf("%s at blksize %d windowsize %d", dir1.what, bs, w), dir1.path, data)
			}
		}
	}
	t.Logf("32 transfers of %d bytes in %v", len(data), time.Since(start).Round(time.Millisecond))
}

// runToolWithin is runTool, the client killed after limit.
func runToolWithin(t *testing.T, limit time.Duration, dir, name string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), exitCode(err)
}

// TestTFTPIdle: --idle-timeout bounds a transfer's silence whatever the
// timeout option asks: at 255 s and the 5 retries a silent client held
// its slot 25 minutes.
func TestTFTPIdle(t *testing.T) {
	s := startTFTP(t, "--idle-timeout", "500ms")
	s.put(t, "i.bin", randomBytes(1000))
	rawRRQ(t, s.tftp, "i.bin", tftp.Option{Name: "timeout", Value: "255"}) // the OACK, never acknowledged
	s.waitLog(regexp.MustCompile(`RRQ "i.bin": no progress in 500ms after 0 bytes`), 1)
}
