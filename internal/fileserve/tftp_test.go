package fileserve

import (
	"bytes"
	"net"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/sigride/sigride/internal/library"
	"github.com/sigride/sigride/internal/tftp"
)

// TestTFTPUploadMemory: an upload at blksize 65464 that sent a few blocks
// costs the worker its write buffer, a block and a little: 1,000 of them
// holding 256 KiB each took a worker to 300 MB.
func TestTFTPUploadMemory(t *testing.T) {
	lib, err := library.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer lib.Close()
	pc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	srv := &tftp.Server{Store: TFTPStore(lib), MaxUpload: 1 << 30, Log: t.Logf}
	done := make(chan struct{})
	go func() { srv.Serve(pc); srv.Wait(); close(done) }()
	defer func() { pc.Close(); <-done }()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const bs, blocks = tftp.MaxBlockSize, 4
	buf := make([]byte, bs+4)
	var tid *net.UDPAddr
	recv := func(op tftp.Opcode, block uint16) {
		t.Helper()
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, from, err := c.ReadFromUDP(buf)
		if err != nil {
			t.Fatalf("recv: %v", err)
		}
		tid = from
		p, err := tftp.ParsePacket(buf[:n])
		if err != nil || p.Op != op || (op == tftp.OpACK && p.Block != block) {
			t.Fatalf("got %+v (%v), want %v %d", p, err, op, block)
		}
	}
	data := bytes.Repeat([]byte("x"), bs)
	var pkts [blocks + 1][]byte // made before the count starts
	for k := range pkts {
		pkts[k] = append(tftp.AppendData(nil, uint16(k)), data...)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	c.WriteToUDP(tftp.AppendRequest(nil, tftp.Request{Op: tftp.OpWRQ, Filename: "up", Mode: "octet",
		Options: []tftp.Option{{Name: "blksize", Value: strconv.Itoa(bs)}, {Name: "timeout", Value: "10"}}}), pc.LocalAddr().(*net.UDPAddr))
	recv(tftp.OpOACK, 0)
	for k := uint16(1); k <= blocks; k++ {
		c.WriteToUDP(pkts[k], tid)
		recv(tftp.OpACK, k)
	}
	runtime.ReadMemStats(&after)
	c.WriteToUDP(tftp.AppendError(nil, tftp.ErrUndefined, "enough"), tid)
	// The write buffer, the read buffer (a block, its header and a byte),
	// and a little for the goroutine, the packets, the hash, the temp file.
	const slack = 32 << 10
	want := uploadBuffer + bs + 5 + slack
	got := after.TotalAlloc - before.TotalAlloc
	t.Logf("an upload at blksize %d, %d blocks in: %d bytes allocated", bs, blocks, got)
	if got > uint64(want) {
		t.Errorf("an upload at blksize %d allocated %d bytes, over %d (write buffer %d, a block, %d slack)", bs, got, want, uploadBuffer, slack)
	}
}
