package tftp

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestWindowFitsReceiver: for every block size, a client asking the
// largest window gets one that a default socket on this kernel holds
// whole: the window's datagrams, sent at once, are all there to read.
// Capped by payload alone, 14 blocks of 9001 bytes lost two.
func TestWindowFitsReceiver(t *testing.T) {
	for _, bs := range []int{8, 199, 512, 1468, 4096, 9001, 16000, 32768, 65464} {
		for _, ask := range []string{"256", "65535"} {
			_, oack, err := Negotiate(Request{Op: OpRRQ, Options: []Option{{OptBlksize, strconv.Itoa(bs)}, {OptWindowsize, ask}}},
				100, Settings{BlockSize: DefaultBlockSize, Timeout: time.Second, Window: 1}, 0)
			if err != nil || len(oack) != 2 {
				t.Fatalf("blksize %d windowsize %s: %v %+v", bs, ask, err, oack)
			}
			w, _ := strconv.Atoi(oack[1].Value)
			if w < 1 || w*bs > max(WindowBytes, bs) {
				t.Errorf("blksize %d windowsize %s: OACK windowsize %d", bs, ask, w)
			}
			if held := datagramsHeld(t, "127.0.0.1", 4+bs, w); held != w {
				t.Errorf("blksize %d windowsize %s: OACK windowsize %d, a default socket holds %d of them", bs, ask, w, held)
			}
		}
	}
}

// datagramsHeld sends n datagrams of size bytes to a new socket of the
// default buffer and counts those it holds.
func datagramsHeld(t *testing.T, ip string, size, n int) int {
	t.Helper()
	r, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(ip)})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	s, err := net.DialUDP("udp", nil, r.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	b := make([]byte, size)
	for range n {
		if _, err := s.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	// Loopback delivers within the send, or soon after if the softirq
	// is deferred: a datagram not there within the deadline was dropped.
	r.SetReadDeadline(time.Now().Add(2 * time.Second))
	held := 0
	for ; held < n; held++ {
		if _, err := r.Read(b); err != nil {
			break
		}
	}
	return held
}

// TestDatagramCost: the model of what the kernel charges a socket for a
// datagram is never less than what this kernel charges (the socket's
// rx_queue in /proc/net/udp after one datagram), nor much more.
func TestDatagramCost(t *testing.T) {
	for _, fam := range []struct{ ip, proc string }{{"127.0.0.1", "/proc/net/udp"}, {"::1", "/proc/net/udp6"}} {
		for _, n := range []int{1, 12, 176, 197, 198, 203, 516, 620, 645, 646, 1472, 1669, 1670, 3717, 3718, 4100, 7813, 7814, 9005, 15980, 16004, 16005, 20000, 65468} {
			got := chargeOf(t, fam.ip, fam.proc, n)
			if m := datagramCost(n); m < got || m > 2*got {
				t.Errorf("%s: a datagram of %d bytes: the kernel charges %d, the model %d", fam.ip, n, got, m)
			}
		}
	}
}

// chargeOf sends one datagram of n bytes to a new socket and reads what
// the socket's buffer holds then.
func chargeOf(t *testing.T, ip, proc string, n int) int {
	t.Helper()
	r, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(ip)})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	s, err := net.DialUDP("udp", nil, r.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Write(make([]byte, n)); err != nil {
		t.Fatal(err)
	}
	port := fmt.Sprintf(":%04X", r.LocalAddr().(*net.UDPAddr).Port)
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if v := rxQueue(t, proc, port); v > 0 {
			return v
		}
	}
	t.Fatalf("%s: no datagram queued on port %s", proc, port)
	return 0
}

// rxQueue reads a socket's rx_queue (what its buffer holds) from proc,
// where lines are "sl local_address rem_address st tx_queue:rx_queue ...",
// in hex.
func rxQueue(t *testing.T, proc, port string) int {
	t.Helper()
	f, err := os.Open(proc)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	lines := bufio.NewScanner(f)
	for lines.Scan() {
		fs := strings.Fields(lines.Text())
		if len(fs) > 4 && strings.HasSuffix(fs[1], port) {
			_, rx, _ := strings.Cut(fs[4], ":")
			v, err := strconv.ParseUint(rx, 16, 32)
			if err != nil {
				t.Fatalf("%s: %q", proc, lines.Text())
			}
			return int(v)
		}
	}
	t.Fatalf("port %s not in %s", port, proc)
	return 0
}

// TestRingBound: what a sender holds for resending stays within the
// window's payload bound, one block more and 4 bytes a datagram, for any
// block size and any window asked.
func TestRingBound(t *testing.T) {
	most := WindowBytes + MaxBlockSize + 4*(MaxWindowBlocks+1)
	for bs := MinBlockSize; bs <= MaxBlockSize; bs += 37 {
		s, _, _ := Negotiate(Request{Op: OpRRQ, Options: []Option{{OptBlksize, strconv.Itoa(bs)}, {OptWindowsize, "65535"}}},
			100, Settings{BlockSize: DefaultBlockSize, Timeout: time.Second, Window: 1}, 0)
		if b := ringBytes(s); b > most {
			t.Fatalf("blksize %d windowsize %d: a ring of %d bytes, over %d", bs, s.Window, b, most)
		}
	}
}
