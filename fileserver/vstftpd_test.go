package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/sigride/sigride/internal/proctest"
)

// The TFTP comparison's sizes.
const (
	tftpSize   = 100 << 20 // the download
	tftpRounds = 7         // runs of each, interleaved; the median counts
)

// atftpdPath is where scripts/bench-deps puts atftpd: its Debian package
// conflicts with tftpd-hpa's, so it is unpacked there, not installed.
var atftpdPath = filepath.Join("..", "bin", "bench", "atftpd")

// BenchmarkVsTFTPD compares, in one run, on the same 100 MB file, on
// loopback: downloads with curl --tftp-blksize 65464 from our server,
// tftpd-hpa and atftpd; and with atftp's client asking windowsize 2 (a
// window that fits the receiver's socket buffer), which tftpd-hpa does not
// speak (it answers lock-step). Run it with `make bench`.
func BenchmarkVsTFTPD(b *testing.B) {
	for _, tool := range []string{"curl", "atftp", "in.tftpd", atftpdPath} {
		if _, err := exec.LookPath(tool); err != nil {
			b.Fatalf("%s not installed: run scripts/bench-deps (make bench does)", tool)
		}
	}
	dir := b.TempDir()
	root := filepath.Join(dir, "library")
	os.MkdirAll(root, 0o755)
	// The peers drop to nobody: the path must be open to others.
	os.Chmod(dir, 0o755)
	os.Chmod(filepath.Dir(dir), 0o755)
	mustRun(b, "dd", "if=/dev/urandom", "of="+filepath.Join(root, "t.bin"), "bs=1M", fmt.Sprint("count=", tftpSize>>20), "status=none")
	out := "/dev/shm"
	if _, err := os.Stat(out); err != nil {
		out = dir
	}
	servers := []struct{ name, addr string }{
		{"sigride", benchServer(b, root, tftpOnRE, "--tftp", "127.0.0.1:0")},
		{"tftpd-hpa", startPeer(b, func(addr string) *exec.Cmd {
			return exec.Command("in.tftpd", "--listen", "--foreground", "--address", addr, "--secure", root)
		})},
		{"atftpd", startPeer(b, func(addr string) *exec.Cmd {
			host, port, _ := net.SplitHostPort(addr)
			return exec.Command(atftpdPath, "--daemon", "--no-fork", "--bind-address", host, "--port", port, root)
		})},
	}
	dst := filepath.Join(out, "tftp.bin")
	defer os.Remove(dst)
	clients := []struct {
		name string
		cmd  func(addr string) []string
	}{
		{"curl, blksize 65464", func(addr string) []string {
			return []string{"curl", "-sS", "--tftp-blksize", "65464", "-o", dst, "tftp://" + addr + "/t.bin"}
		}},
		{"atftp, blksize 65464, windowsize 2", func(addr string) []string {
			host, port, _ := net.SplitHostPort(addr)
			return []string{"atftp", "--option", "blksize 65464", "--option", "windowsize 2", "-g", "-r", "t.bin", "-l", dst, host, port}
		}},
	}
	for i := 0; i < b.N; i++ {
		fmt.Printf("\nmachine: %s; %d MB, median of %d interleaved runs\n",
			proctest.Machine(), tftpSize>>20, tftpRounds)
		fmt.Printf("%-36s %11s %11s %11s %9s %9s\n", "TFTP download", "sigride", "tftpd-hpa", "atftpd", "vs hpa", "vs atftpd")
		for _, c := range clients {
			runs := make([][]float64, len(servers)) // MB/s
			for range tftpRounds {
				for s, srv := range servers {
					args := c.cmd(srv.addr)
					d := timeIt(func() { mustRun(b, args[0], args[1:]...) })
					if fi, err := os.Stat(dst); err != nil || fi.Size() != tftpSize {
						b.Fatalf("%s from %s: %v", c.name, srv.name, err)
					}
					runs[s] = append(runs[s], float64(tftpSize)/d.Seconds()/1e6)
				}
			}
			mbs := make([]float64, len(servers))
			for s := range servers {
				mbs[s] = medianOf(runs[s])
			}
			fmt.Printf("%-36s %6.0f MB/s %6.0f MB/s %6.0f MB/s %8.2fx %8.2fx\n", c.name, mbs[0], mbs[1], mbs[2], mbs[0]/mbs[1], mbs[0]/mbs[2])
			b.ReportMetric(mbs[0]/mbs[1], "vs-hpa-"+c.name[:4])
			b.ReportMetric(mbs[0]/mbs[2], "vs-atftpd-"+c.name[:4])
		}
	}
}

// startPeer starts a TFTP server on a free loopback port and waits until
// it answers (an RRQ for a missing file gets an ERROR).
func startPeer(b *testing.B, command func(addr string) *exec.Cmd) string {
	addr := freeUDPPort(b)
	cmd := command(addr)
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	ua, _ := net.ResolveUDPAddr("udp", addr)
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: ua.IP})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 600)
	for try := 0; try < 50; try++ {
		c.WriteToUDP([]byte("\x00\x01missing\x00octet\x00"), ua)
		c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		if _, _, err := c.ReadFromUDP(buf); err == nil {
			return addr
		}
	}
	b.Fatalf("%v does not answer on %s", cmd.Args, addr)
	return ""
}

func freeUDPPort(b *testing.B) string {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().String()
}
