package tftp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// ErrTimedOut ends a transfer whose peer stopped answering.
var ErrTimedOut = errors.New("timed out")

// ErrStalled ends a transfer that made no progress (a new block
// acknowledged, or received in order) for the server's Idle, whatever
// the peer sent meanwhile and whatever timeout it negotiated.
var ErrStalled = errors.New("no progress")

// PeerError is an ERROR packet the peer sent: the transfer ends.
type PeerError struct {
	Code    ErrorCode
	Message string
}

func (e *PeerError) Error() string { return fmt.Sprintf("peer sent error %d: %q", e.Code, e.Message) }

// transfer is one side of a transfer on its own connected UDP socket.
type transfer struct {
	c       *tidConn
	s       Settings
	retries int
	buf     []byte // for reading packets
	lastAck []byte // receive's final ACK, for dally
	idle    time.Duration
	stall   time.Time // given up then unless progress moves it
	// beforeFail runs before an ERROR goes out: a client told of a failed
	// upload must find its temp file gone already.
	beforeFail func()
}

// senderReads is the largest packet a sender reads: ACKs and ERRORs,
// whose message a peer keeps within a default block; anything longer is
// cut, fails to parse and is skipped, as any malformed packet. A download
// needs no block-sized buffer to read with.
const senderReads = 4 + DefaultBlockSize + 1

// newTransfer starts a transfer; a receiver reads whole blocks, a sender
// (sending) only senderReads.
func newTransfer(c *tidConn, s Settings, retries int, idle time.Duration, sending bool) *transfer {
	size := 4 + max(s.BlockSize, DefaultBlockSize) + 1 // one byte over: a block too long shows
	if sending {
		size = senderReads
	}
	t := &transfer{c: c, s: s, retries: retries, idle: idle, buf: make([]byte, size)}
	t.progress()
	return t
}

// progress moves the stall deadline: a block was acknowledged or received
// in order (or, first, the transfer began).
func (t *transfer) progress() { t.stall = time.Now().Add(t.idle) }

// read waits until deadline for a packet, or until the stall deadline if
// that comes first (then ErrStalled): every wait of a transfer goes
// through here, so none outlasts Idle without progress. A malformed
// packet is skipped, an ERROR ends the transfer.
func (t *transfer) read(deadline time.Time) (Packet, error) {
	stalls := !deadline.Before(t.stall)
	if stalls {
		deadline = t.stall
	}
	for {
		// Set again for each packet: recv waits the time left, so packets
		// that are skipped cannot stretch the wait.
		t.c.SetReadDeadline(deadline)
		n, err := t.c.Read(t.buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				if stalls {
					return Packet{}, fmt.Errorf("%w in %v", ErrStalled, t.idle)
				}
				return Packet{}, ErrTimedOut
			}
			if errors.Is(err, net.ErrClosed) {
				return Packet{}, err
			}
			continue // an ICMP port unreachable of an earlier send: the peer may yet answer
		}
		p, err := ParsePacket(t.buf[:n])
		if err != nil {
			continue
		}
		if p.Op == OpERROR {
			return p, &PeerError{p.Code, p.Message}
		}
		return p, nil
	}
}

// fail tells the peer why the transfer ends.
func (t *transfer) fail(code ErrorCode, msg string) {
	if t.beforeFail != nil {
		t.beforeFail()
	}
	t.c.Write(AppendError(nil, code, msg))
}

// send serves a read request: the OACK first if there is one (the client
// answers it with ACK 0), then the blocks of r, a window at a time. A
// block shorter than the block size ends the file (an empty one if the
// size is a multiple). Block numbers roll over from 65535 to 0. A
// duplicate ACK is ignored, never answered by a resend: that is the
// Sorcerer's Apprentice bug (RFC 1123 4.2.3.1). Only a timeout resends,
// from the first block not acknowledged, at most retries times in a row.
func (t *transfer) send(r io.Reader, oack []Option) (int64, error) {
	if len(oack) > 0 {
		pkt := AppendOACK(nil, oack)
		if err := t.handshake(pkt, 0); err != nil {
			return 0, err
		}
	}
	bs, w := t.s.BlockSize, t.s.Window
	// The ring holds the window and one block more: the next block is
	// read while the ACK is on its way, so an ACK is answered at once. It
	// is one allocation of what the window holds, slot k%slots holding
	// block k whole (only the last is shorter): no header per block.
	slots, slot := int64(w+1), 4+bs
	ring := make([]byte, ringBytes(t.s))
	var (
		acked, read int64 // blocks acknowledged, blocks read into the ring
		last        int64 = -1
		lastLen     int   // the last block's packet length
		sent        int64 // bytes read, to be sent
		tries       int
	)
	packet := func(k int64) []byte {
		off := int(k%slots) * slot
		if k == last {
			return ring[off : off+lastLen]
		}
		return ring[off : off+slot]
	}
	readBlock := func(k int64) error {
		off := int(k%slots) * slot
		pkt := AppendData(ring[off:off], uint16(k))
		n, err := io.ReadFull(r, ring[off+4:off+slot])
		if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
			t.fail(ErrUndefined, "read error")
			return fmt.Errorf("read block %d: %w", k, err)
		}
		read = k
		sent += int64(n)
		if n < bs {
			last, lastLen = k, len(pkt)+n
		}
		return nil
	}
	for {
		end := acked + int64(w)
		if last >= 0 {
			end = min(end, last)
		}
		for k := acked + 1; k <= end; k++ {
			if k > read {
				if err := readBlock(k); err != nil {
					return sent, err
				}
				if last >= 0 {
					end = min(end, last)
				}
			}
			if _, err := t.c.Write(packet(k)); err != nil && !isRefused(err) {
				return sent, err
			}
		}
		if last < 0 && read == end {
			if err := readBlock(end + 1); err != nil {
				return sent, err
			}
		}
		deadline := time.Now().Add(t.s.Timeout)
		for {
			p, err := t.read(deadline)
			if err == ErrTimedOut {
				if tries++; tries > t.retries {
					return sent, ErrTimedOut
				}
				break // resend from acked+1
			}
			if err != nil {
				return sent, err
			}
			if p.Op != OpACK {
				continue
			}
			k, ok := blockIn(p.Block, acked+1, end)
			if !ok {
				continue // a duplicate or stale ACK: wait on, resend nothing
			}
			acked, tries = k, 0
			t.progress()
			if acked == last {
				return sent, nil
			}
			break // the next window starts after k (RFC 7440)
		}
	}
}

// blockIn finds the block in [lo, hi] whose number on the wire is b.
func blockIn(b uint16, lo, hi int64) (int64, bool) {
	if lo > hi {
		return 0, false
	}
	k := lo + int64(uint16(b-uint16(lo)))
	return k, k <= hi
}

// handshake sends pkt (an OACK) until the peer acknowledges block.
func (t *transfer) handshake(pkt []byte, block uint16) error {
	for tries := 0; ; tries++ {
		if tries > t.retries {
			return ErrTimedOut
		}
		if _, err := t.c.Write(pkt); err != nil && !isRefused(err) {
			return err
		}
		deadline := time.Now().Add(t.s.Timeout)
		for {
			p, err := t.read(deadline)
			if err == ErrTimedOut {
				break
			}
			if err != nil {
				return err
			}
			if p.Op == OpACK && p.Block == block {
				t.progress()
				return nil
			}
		}
	}
}

// receive takes a write request's blocks into w, up to limit bytes: the
// OACK (or ACK 0) first, then an ACK for each window, or for the last
// block in order when one is missing or repeated. On the last block
// (shorter than the block size) it calls commit, and only if that succeeds
// acknowledges it: the client learns "stored" only once it is. The
// caller then dallies.
func (t *transfer) receive(w io.Writer, limit int64, oack []Option, commit func() error) (int64, error) {
	reply := AppendAck(nil, 0)
	if len(oack) > 0 {
		reply = AppendOACK(nil, oack)
	}
	var (
		next  int64 = 1 // the block expected
		got   int64     // bytes received
		inWin int
		tries int
	)
	if _, err := t.c.Write(reply); err != nil && !isRefused(err) {
		return 0, err
	}
	for {
		p, err := t.read(time.Now().Add(t.s.Timeout))
		if err == ErrTimedOut {
			if tries++; tries > t.retries {
				return got, ErrTimedOut
			}
			t.c.Write(reply) // the last ACK (or the OACK) was lost, or the window's end
			inWin = 0
			continue
		}
		if err != nil {
			return got, err
		}
		if p.Op != OpDATA {
			continue
		}
		if p.Block != uint16(next) {
			// A repeat, or a gap: say again what arrived in order.
			reply = AppendAck(reply[:0], uint16(next-1))
			t.c.Write(reply)
			inWin = 0
			continue
		}
		if len(p.Data) > t.s.BlockSize {
			t.fail(ErrIllegal, fmt.Sprintf("block of %d bytes, over the block size %d", len(p.Data), t.s.BlockSize))
			return got, fmt.Errorf("block %d of %d bytes, over %d", next, len(p.Data), t.s.BlockSize)
		}
		tries = 0
		t.progress()
		if got+int64(len(p.Data)) > limit {
			t.fail(ErrDiskFull, fmt.Sprintf("over the server's limit of %d bytes", limit))
			return got, fmt.Errorf("over the limit of %d bytes", limit)
		}
		if _, err := w.Write(p.Data); err != nil {
			t.fail(ErrDiskFull, "cannot store the file")
			return got, fmt.Errorf("write: %w", err)
		}
		got += int64(len(p.Data))
		reply = AppendAck(reply[:0], uint16(next))
		if len(p.Data) < t.s.BlockSize {
			if err := commit(); err != nil {
				var te *Error
				if errors.As(err, &te) {
					t.fail(te.Code, te.Message)
				} else {
					t.fail(ErrUndefined, "cannot store the file")
				}
				return got, err
			}
			t.c.Write(reply)
			t.lastAck = reply
			return got, nil
		}
		next++
		if inWin++; inWin >= t.s.Window {
			t.c.Write(reply)
			inWin = 0
		}
	}
}

// dally waits one timeout after receive's last ACK, answering a repeat of
// the last block (its ACK was lost) with the ACK again: else the client
// would give up on a file that is stored. Idle bounds it too (read).
func (t *transfer) dally() {
	if t.lastAck == nil {
		return
	}
	ack, last := t.lastAck, binary.BigEndian.Uint16(t.lastAck[2:])
	deadline := time.Now().Add(t.s.Timeout)
	for {
		p, err := t.read(deadline)
		if err != nil {
			return
		}
		if p.Op == OpDATA && p.Block == last {
			t.c.Write(ack)
		}
	}
}

// ringBytes is what a sender holds for resending with settings s: the
// window and one block more, each with its 4-byte header: with the window
// Negotiate settles, within WindowBytes, one block and 4 bytes a datagram.
func ringBytes(s Settings) int { return (s.Window + 1) * (4 + s.BlockSize) }
