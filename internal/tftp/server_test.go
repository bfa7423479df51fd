package tftp

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// memStore is a Store in memory that records what became of uploads.
type memStore struct {
	mu      sync.Mutex
	files   map[string][]byte
	aborted chan string
}

type memFile struct{ *bytes.Reader }

func (f memFile) Close() error { return nil }

func (m *memStore) Open(name string) (File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.files[name]
	if !ok {
		return nil, &Error{ErrNotFound, "file not found"}
	}
	return memFile{bytes.NewReader(b)}, nil
}

type memUpload struct {
	m    *memStore
	name string
	buf  bytes.Buffer
	done bool
}

func (u *memUpload) Write(p []byte) (int, error) { return u.buf.Write(p) }
func (u *memUpload) Commit() error {
	u.m.mu.Lock()
	u.m.files[u.name] = u.buf.Bytes()
	u.m.mu.Unlock()
	u.done = true
	return nil
}
func (u *memUpload) Abort() {
	if !u.done {
		u.m.aborted <- u.name
	}
}

func (m *memStore) Create(name string, _ int64) (Upload, error) {
	return &memUpload{m: m, name: name}, nil
}

// startServer serves a memStore on 127.0.0.1.
func startServer(t *testing.T, files map[string][]byte) (*memStore, *net.UDPAddr) {
	t.Helper()
	return startServerWith(t, files, func(*Server) {})
}

func startServerWith(t *testing.T, files map[string][]byte, set func(*Server)) (*memStore, *net.UDPAddr) {
	t.Helper()
	pc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	m := &memStore{files: files, aborted: make(chan string, 4)}
	s := &Server{Store: m, MaxUpload: 1 << 30, Retries: 1, Log: t.Logf}
	set(s)
	done := make(chan struct{})
	go func() { s.Serve(pc); s.Wait(); close(done) }()
	t.Cleanup(func() { pc.Close(); <-done })
	return m, pc.LocalAddr().(*net.UDPAddr)
}

// peer is a test client on its own socket.
type peer struct {
	t   *testing.T
	c   *net.UDPConn
	tid *net.UDPAddr // the server's transfer port, once known
	buf []byte
}

func newPeer(t *testing.T) *peer {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &peer{t: t, c: c, buf: make([]byte, 70000)}
}

func (p *peer) send(to *net.UDPAddr, b []byte) {
	if to == nil {
		to = p.tid
	}
	if _, err := p.c.WriteToUDP(b, to); err != nil {
		p.t.Fatal(err)
	}
}

func (p *peer) recv() Packet {
	p.t.Helper()
	p.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, from, err := p.c.ReadFromUDP(p.buf)
	if err != nil {
		p.t.Fatalf("recv: %v", err)
	}
	p.tid = from
	pk, err := ParsePacket(append([]byte(nil), p.buf[:n]...))
	if err != nil {
		p.t.Fatalf("recv: %v", err)
	}
	return pk
}

func (p *peer) expect(op Opcode, block uint16) Packet {
	p.t.Helper()
	pk := p.recv()
	if pk.Op != op || (op != OpOACK && op != OpERROR && pk.Block != block) {
		p.t.Fatalf("got %v %d (%+v), want %v %d", pk.Op, pk.Block, pk.Options, op, block)
	}
	return pk
}

// TestNoResendOnDuplicateACK: the Sorcerer's Apprentice. ACK 1 twice must
// bring one DATA 2, not two: after ACK 2 the next packet is DATA 3.
func TestNoResendOnDuplicateACK(t *testing.T) {
	_, srv := startServer(t, map[string][]byte{"f": bytes.Repeat([]byte("x"), 40)})
	p := newPeer(t)
	p.send(srv, AppendRequest(nil, Request{Op: OpRRQ, Filename: "f", Mode: "octet",
		Options: []Option{{"blksize", "8"}, {"timeout", "10"}}}))
	p.expect(OpOACK, 0)
	p.send(nil, AppendAck(nil, 0))
	p.expect(OpDATA, 1)
	p.send(nil, AppendAck(nil, 1))
	p.send(nil, AppendAck(nil, 1)) // a duplicate
	p.expect(OpDATA, 2)
	p.send(nil, AppendAck(nil, 2))
	p.expect(OpDATA, 3) // a resend of 2 would have come first
	for b := uint16(3); b <= 5; b++ {
		p.send(nil, AppendAck(nil, b))
		if d := p.expect(OpDATA, b+1); b+1 == 6 && len(d.Data) != 0 {
			t.Fatalf("last block of a multiple: %d bytes, want 0", len(d.Data))
		}
	}
	p.send(nil, AppendAck(nil, 6))
}

// TestRolloverAndWindow: 70,000 blocks of 8 bytes, 64 a window: block
// numbers go 65535, 0, 1, ... and every byte arrives in order.
func TestRolloverAndWindow(t *testing.T) {
	data := make([]byte, 70000*8+3)
	for i := range data {
		data[i] = byte(i * 7)
	}
	_, srv := startServer(t, map[string][]byte{"big": data})
	p := newPeer(t)
	p.send(srv, AppendRequest(nil, Request{Op: OpRRQ, Filename: "big", Mode: "octet",
		Options: []Option{{"blksize", "8"}, {"windowsize", "64"}, {"tsize", "0"}}}))
	oack := p.expect(OpOACK, 0)
	if len(oack.Options) != 3 || oack.Options[2] != (Option{"tsize", "560003"}) {
		t.Fatalf("OACK %+v", oack.Options)
	}
	p.send(nil, AppendAck(nil, 0))
	var got []byte
	sawZero := false
	for k := int64(1); ; k++ {
		d := p.expect(OpDATA, uint16(k))
		if uint16(k) == 0 {
			sawZero = true
		}
		got = append(got, d.Data...)
		if len(d.Data) < 8 {
			p.send(nil, AppendAck(nil, uint16(k)))
			break
		}
		if k%64 == 0 {
			p.send(nil, AppendAck(nil, uint16(k)))
		}
	}
	if !sawZero || !bytes.Equal(got, data) {
		t.Fatalf("rollover seen %v; %d bytes, want %d, equal %v", sawZero, len(got), len(data), bytes.Equal(got, data))
	}
}

// TestWindowGap: an ACK inside the window makes the sender go on from the
// block after it (RFC 7440).
func TestWindowGap(t *testing.T) {
	_, srv := startServer(t, map[string][]byte{"f": bytes.Repeat([]byte("y"), 8*10)})
	p := newPeer(t)
	p.send(srv, AppendRequest(nil, Request{Op: OpRRQ, Filename: "f", Mode: "octet",
		Options: []Option{{"blksize", "8"}, {"windowsize", "4"}, {"timeout", "10"}}}))
	p.expect(OpOACK, 0)
	p.send(nil, AppendAck(nil, 0))
	for b := uint16(1); b <= 4; b++ {
		p.expect(OpDATA, b)
	}
	p.send(nil, AppendAck(nil, 2)) // 3 was "lost"
	for b := uint16(3); b <= 6; b++ {
		p.expect(OpDATA, b)
	}
	p.send(nil, AppendError(nil, ErrUndefined, "enough")) // ends the transfer
}

// TestUploadGivenUp: a client that stops mid-upload: after the retries
// the upload is aborted, never committed.
func TestUploadGivenUp(t *testing.T) {
	m, srv := startServer(t, map[string][]byte{})
	p := newPeer(t)
	p.send(srv, AppendRequest(nil, Request{Op: OpWRQ, Filename: "up", Mode: "octet",
		Options: []Option{{"blksize", "8"}, {"timeout", "1"}}}))
	p.expect(OpOACK, 0)
	p.send(nil, append(AppendData(nil, 1), "12345678"...))
	p.expect(OpACK, 1)
	// Silence: the server resends ACK 1 once (Retries 1), then gives up.
	p.expect(OpACK, 1)
	select {
	case name := <-m.aborted:
		if name != "up" {
			t.Fatalf("aborted %q", name)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("upload not given up")
	}
	if _, err := m.Open("up"); err == nil {
		t.Fatal("a given-up upload was stored")
	}
}

// TestUpload: a WRQ in lockstep, a repeated block re-acknowledged, the
// file stored only at the end; a missing file is ERROR 1; junk is ERROR 4.
func TestUpload(t *testing.T) {
	m, srv := startServer(t, map[string][]byte{})
	p := newPeer(t)
	p.send(srv, AppendRequest(nil, Request{Op: OpWRQ, Filename: "u", Mode: "octet"}))
	p.expect(OpACK, 0)
	block := bytes.Repeat([]byte("z"), 512)
	p.send(nil, append(AppendData(nil, 1), block...))
	p.expect(OpACK, 1)
	p.send(nil, append(AppendData(nil, 1), block...)) // our ACK "lost": sent again
	p.expect(OpACK, 1)
	p.send(nil, append(AppendData(nil, 2), "end"...))
	p.expect(OpACK, 2)
	f, err := m.Open("u")
	if err != nil || f.(memFile).Len() != 515 {
		t.Fatalf("stored: %v", err)
	}

	q := newPeer(t)
	q.send(srv, AppendRequest(nil, Request{Op: OpRRQ, Filename: "nope", Mode: "octet"}))
	if e := q.expect(OpERROR, 0); e.Code != ErrNotFound {
		t.Errorf("missing file: code %d", e.Code)
	}
	r := newPeer(t)
	r.send(srv, []byte("\x00\x01name-without-nul"))
	if e := r.expect(OpERROR, 0); e.Code != ErrIllegal {
		t.Errorf("junk: code %d", e.Code)
	}
}

// TestBusy: past MaxTransfers a request is told busy (ERROR 0), and the
// transfer under way goes on.
func TestBusy(t *testing.T) {
	_, srv := startServerWith(t, map[string][]byte{"f": []byte("data")}, func(s *Server) { s.MaxTransfers = 1 })
	p := newPeer(t)
	p.send(srv, AppendRequest(nil, Request{Op: OpRRQ, Filename: "f", Mode: "octet", Options: []Option{{"timeout", "10"}}}))
	p.expect(OpOACK, 0) // under way, waiting for ACK 0
	q := newPeer(t)
	q.send(srv, AppendRequest(nil, Request{Op: OpRRQ, Filename: "f", Mode: "octet"}))
	if e := q.expect(OpERROR, 0); e.Code != ErrUndefined || e.Message != BusyMessage {
		t.Errorf("second request: %+v", e)
	}
	p.send(nil, AppendAck(nil, 0))
	if d := p.expect(OpDATA, 1); string(d.Data) != "data" {
		t.Errorf("first transfer: %q", d.Data)
	}
	p.send(nil, AppendAck(nil, 1))
}

// TestSenderMemory: a client asking blksize 8 and windowsize 65535, then
// silent, costs the server what the window it got holds, and a little:
// not a slice per block of the window it asked; one asking the largest
// blocks costs its window, not a block-sized buffer more to read ACKs in.
func TestSenderMemory(t *testing.T) {
	for _, bs := range []int{8, MaxBlockSize} {
		t.Run(strconv.Itoa(bs), func(t *testing.T) {
			_, srv := startServer(t, map[string][]byte{"f": make([]byte, 1<<20)})
			p := newPeer(t)
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			p.send(srv, AppendRequest(nil, Request{Op: OpRRQ, Filename: "f", Mode: "octet",
				Options: []Option{{"blksize", strconv.Itoa(bs)}, {"windowsize", "65535"}, {"timeout", "10"}}}))
			oack := p.expect(OpOACK, 0)
			p.send(nil, AppendAck(nil, 0))
			p.expect(OpDATA, 1) // the ring is filled
			runtime.ReadMemStats(&after)
			p.send(nil, AppendError(nil, ErrUndefined, "enough"))
			w, err := strconv.Atoi(oack.Options[1].Value)
			if err != nil || oack.Options[1].Name != "windowsize" {
				t.Fatalf("OACK %+v", oack.Options)
			}
			const slack = 32 << 10     // the goroutine, packets, the OACK: all but the ring
			held := (w + 1) * (4 + bs) // the window and one block more, headers with them
			held += 4 + bs             // the test peer's own copy of DATA 1
			got := after.TotalAlloc - before.TotalAlloc
			t.Logf("blksize %d windowsize %d: %d bytes allocated", bs, w, got)
			if got > uint64(held+slack) {
				t.Errorf("a transfer at blksize %d windowsize %d allocated %d bytes, over its window's %d and %d more", bs, w, got, held, slack)
			}
		})
	}
}

// logLines makes the server's log lines arrive on a channel too.
func logLines(t *testing.T, s *Server) <-chan string {
	lines := make(chan string, 64)
	s.Log = func(format string, a ...any) {
		line := fmt.Sprintf(format, a...)
		t.Log(line)
		select {
		case lines <- line:
		default:
		}
	}
	return lines
}

// waitLine waits up to within for a line containing want.
func waitLine(t *testing.T, lines <-chan string, want string, within time.Duration) bool {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case l := <-lines:
			if strings.Contains(l, want) {
				return true
			}
		case <-deadline:
			return false
		}
	}
}

// TestIdleBoundsTimeoutOption: a client asking timeout 255 (with the 5
// retries, 25 minutes of silence) and going silent, at the OACK of a
// download or mid-upload, is given up after Idle.
func TestIdleBoundsTimeoutOption(t *testing.T) {
	var lines <-chan string
	m, srv := startServerWith(t, map[string][]byte{"f": make([]byte, 100)}, func(s *Server) {
		s.Idle, s.Retries = 300*time.Millisecond, 5
		lines = logLines(t, s)
	})
	p := newPeer(t)
	start := time.Now()
	p.send(srv, AppendRequest(nil, Request{Op: OpRRQ, Filename: "f", Mode: "octet", Options: []Option{{"timeout", "255"}}}))
	p.expect(OpOACK, 0)
	if !waitLine(t, lines, `RRQ "f": no progress in 300ms`, 5*time.Second) {
		p.send(nil, AppendError(nil, ErrUndefined, "test over")) // end it for the cleanup
		t.Fatalf("a silent download at timeout 255 not given up %v after Idle", time.Since(start))
	}
	q := newPeer(t)
	q.send(srv, AppendRequest(nil, Request{Op: OpWRQ, Filename: "up", Mode: "octet",
		Options: []Option{{"blksize", "8"}, {"timeout", "255"}}}))
	q.expect(OpOACK, 0)
	q.send(nil, append(AppendData(nil, 1), "12345678"...))
	q.expect(OpACK, 1)
	select {
	case <-m.aborted:
	case <-time.After(5 * time.Second):
		q.send(nil, AppendError(nil, ErrUndefined, "test over"))
		t.Fatal("a silent upload at timeout 255 not given up 5 s after Idle")
	}
	if !waitLine(t, lines, `WRQ "up": no progress in 300ms after 8 bytes; nothing stored`, 5*time.Second) {
		t.Error("the upload given up is not logged")
	}
}

// TestIdleBoundsRepeats: a client repeating one DATA block, each repeat
// answered within the timeout, never lets the retries run out: it is cut
// after Idle without a new block, and nothing is stored.
func TestIdleBoundsRepeats(t *testing.T) {
	var lines <-chan string
	m, srv := startServerWith(t, map[string][]byte{}, func(s *Server) {
		s.Idle, s.Retries = 500*time.Millisecond, 5
		lines = logLines(t, s)
	})
	p := newPeer(t)
	p.send(srv, AppendRequest(nil, Request{Op: OpWRQ, Filename: "rep", Mode: "octet",
		Options: []Option{{"blksize", "8"}, {"timeout", "1"}}}))
	p.expect(OpOACK, 0)
	block := append(AppendData(nil, 1), "12345678"...)
	start := time.Now()
	for {
		if time.Since(start) > 5*time.Second {
			t.Fatalf("an upload repeating block 1 still alive after %v", time.Since(start))
		}
		p.send(nil, block)
		r := p.recv()
		if r.Op == OpACK && r.Block == 1 {
			continue // each repeat answered: the transfer is alive
		}
		if r.Op != OpERROR || !strings.Contains(r.Message, "no progress") {
			t.Fatalf("got %+v, want ACK 1 or ERROR no progress", r)
		}
		break
	}
	select {
	case <-m.aborted:
	case <-time.After(5 * time.Second):
		t.Fatal("the upload cut is not aborted")
	}
	if !waitLine(t, lines, `WRQ "rep": no progress in 500ms after 8 bytes; nothing stored`, 5*time.Second) {
		t.Error("not logged")
	}
	if _, err := m.Open("rep"); err == nil {
		t.Error("a cut upload was stored")
	}
}

// TestIdleBoundsDally: after an upload at timeout 255 the dally (a wait
// for a repeat of the last block) ends after Idle, not 255 s: the
// transfer's slot is free again.
func TestIdleBoundsDally(t *testing.T) {
	_, srv := startServerWith(t, map[string][]byte{"f": []byte("x")}, func(s *Server) {
		s.Idle, s.MaxTransfers = 300*time.Millisecond, 1
	})
	p := newPeer(t)
	p.send(srv, AppendRequest(nil, Request{Op: OpWRQ, Filename: "u", Mode: "octet", Options: []Option{{"timeout", "255"}}}))
	p.expect(OpOACK, 0)
	p.send(nil, append(AppendData(nil, 1), "end"...))
	p.expect(OpACK, 1)
	start := time.Now()
	for {
		q := newPeer(t)
		q.send(srv, AppendRequest(nil, Request{Op: OpRRQ, Filename: "f", Mode: "octet"}))
		if r := q.recv(); r.Op == OpDATA {
			q.send(nil, AppendAck(nil, 1))
			return
		}
		// Told busy: the upload still dallies.
		if time.Since(start) > 5*time.Second {
			p.send(nil, AppendError(nil, ErrUndefined, "test over")) // ends the dally, for the cleanup
			t.Fatalf("the slot still held %v after an upload at timeout 255", time.Since(start))
		}
		time.Sleep(20 * time.Millisecond) // paces a poll bounded above, not a wait for an event
	}
}

// openFDs counts this process's open file descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// TestFloodBounded: a flood of requests from many ports, none of which
// ever ACKs, with a slow log, costs the server at most MaxTransfers
// sockets and goroutines and a constant more; each request past the limit
// is told busy from the shared socket, the busy lines are one a second,
// and once the transfers under way end a request is served.
func TestFloodBounded(t *testing.T) {
	const limit, flood = 4, 100
	const slack = 4 // the sampler's own fd, runtime threads' and timers' goroutines
	var (
		mu        sync.Mutex
		busyLines int
		srv       *Server
	)
	_, addr := startServerWith(t, map[string][]byte{"f": []byte("data")}, func(s *Server) {
		s.MaxTransfers = limit
		s.Log = func(format string, a ...any) {
			line := fmt.Sprintf(format, a...)
			t.Log(line)
			// A slow stderr: one line at a time, each taking a while.
			mu.Lock()
			defer mu.Unlock()
			if strings.Contains(line, "busy") {
				busyLines++
			}
			time.Sleep(5 * time.Millisecond)
		}
		srv = s
	})
	peers := make([]*peer, flood)
	for i := range peers {
		peers[i] = newPeer(t)
	}
	baseFDs, baseG := openFDs(t), runtime.NumGoroutine()
	var maxFDs, maxG int
	stop, sampled := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			maxFDs, maxG = max(maxFDs, openFDs(t)), max(maxG, runtime.NumGoroutine())
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()
	rrq := AppendRequest(nil, Request{Op: OpRRQ, Filename: "f", Mode: "octet"})
	for _, p := range peers {
		p.send(addr, rrq)
	}
	var busy int
	var served []*peer
	for _, p := range peers {
		switch pk := p.recv(); {
		case pk.Op == OpERROR && pk.Message == BusyMessage && p.tid.Port == addr.Port:
			busy++
		case pk.Op == OpDATA:
			served = append(served, p)
		default:
			t.Errorf("flood reply %+v from %v", pk, p.tid)
		}
	}
	close(stop)
	<-sampled
	t.Logf("%d served, %d busy; fds %d -> %d, goroutines %d -> %d", len(served), busy, baseFDs, maxFDs, baseG, maxG)
	if len(served) != limit || busy != flood-limit {
		t.Errorf("%d served and %d told busy, want %d and %d", len(served), busy, limit, flood-limit)
	}
	if maxFDs > baseFDs+limit+slack {
		t.Errorf("open fds rose from %d to %d under the flood, past %d transfers and %d more", baseFDs, maxFDs, limit, slack)
	}
	if maxG > baseG+limit+slack {
		t.Errorf("goroutines rose from %d to %d under the flood, past %d transfers and %d more", baseG, maxG, limit, slack)
	}
	mu.Lock()
	lines := busyLines
	mu.Unlock()
	if lines > 2 {
		t.Errorf("%d busy lines for a flood of %d within a second, want at most 2", lines, flood)
	}

	// The flood's transfers end (each is sent an ERROR); then a request
	// is served.
	for _, p := range served {
		p.send(nil, AppendError(nil, ErrUndefined, "flood: never acknowledging"))
	}
	for deadline := time.Now().Add(10 * time.Second); srv.active.Load() > 0; {
		if time.Now().After(deadline) {
			t.Fatalf("%d transfers still under way", srv.active.Load())
		}
		time.Sleep(time.Millisecond)
	}
	p := newPeer(t)
	p.send(addr, rrq)
	if d := p.expect(OpDATA, 1); string(d.Data) != "data" {
		t.Errorf("after the flood: %q", d.Data)
	}
	p.send(nil, AppendAck(nil, 1))
}
