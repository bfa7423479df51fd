package tftp

import (
	"fmt"
	"math/bits"
	"strconv"
	"time"
)

// Error is a failure to tell the peer in an ERROR packet.
type Error struct {
	Code    ErrorCode
	Message string
}

func (e *Error) Error() string { return fmt.Sprintf("tftp error %d: %s", e.Code, e.Message) }

// Settings are a transfer's parameters once negotiated.
type Settings struct {
	BlockSize int
	Timeout   time.Duration
	Window    int
}

// WindowBytes bounds a window's payload: a client asking more gets a
// smaller windowsize in the OACK, as RFC 7440 allows. It bounds too what
// a sender holds for resending (WindowFor's ring, one block more).
const WindowBytes = 128 << 10

// MaxWindowBlocks bounds a window's datagrams, whatever the receiver's
// buffer: a sender writes a whole window before it reads an ACK or ERROR.
const MaxWindowBlocks = 512

// DefaultReceiveBuffer is Linux's default net.core.rmem_default: what a
// UDP socket (a client's, or a transfer's here) holds unless it asks more.
const DefaultReceiveBuffer = 212992

// datagramCost is what the kernel charges a receiving socket for a UDP
// datagram of n bytes (its skb's truesize), which is what fills the
// socket's buffer, not the bytes: measured on Linux 6 over loopback (the
// receiver is charged the sender's skb), IPv4 and IPv6, where it is, for
// a datagram of n bytes, 832 up to 197, then n+379 rounded up to a power
// of two, plus 256, up to 16004, then n+832 (the data in page fragments).
// It rounds up a little for IPv6's longer header; TestDatagramCost checks
// it against the kernel it runs on.
func datagramCost(n int) int {
	const (
		overhead  = 400      // headers (IPv6's 40 bytes), alignment, skb_shared_info
		smallHead = 576      // the kernel's cache of small skb heads
		sk        = 256      // struct sk_buff
		linearMax = 16 << 10 // past it the data goes in page fragments
		fragHead  = 1024     // a small head and an sk_buff beside those
	)
	switch h := n + overhead; {
	case h <= smallHead:
		return smallHead + sk
	case h <= linearMax:
		return 1<<bits.Len(uint(h-1)) + sk
	}
	return n + fragHead
}

// WindowFor is the largest window of blocks of bs bytes that a receiving
// socket of rcvbuf bytes holds whole: past it, the kernel drops the
// window's last blocks, and a windowed transfer falls into a resend per
// window (atftp asking 256 blocks of 9001 bytes, capped at 14 by payload
// alone, took 37 s for 34 MB where 9 take 0.2 s). The window's datagrams
// are charged at datagramCost and fill at most three quarters of rcvbuf,
// the rest is margin for a resent block still queued or a kernel that
// charges a little more; the payload stays within WindowBytes and the
// count within MaxWindowBlocks. At least 1: lock-step.
func WindowFor(bs, rcvbuf int) int {
	w := min(WindowBytes/bs, MaxWindowBlocks, rcvbuf/4*3/datagramCost(4+bs))
	return max(1, w)
}

// Negotiate settles a request's options (RFC 2347): it returns the
// settings, starting from def, and the options to send back in an OACK
// (none: no OACK). size is the file's for an RRQ, or -1 when it cannot be
// told beforehand (netascii); maxUpload bounds a WRQ's tsize. An option it
// does not know, or whose value is out of range, is left out of the OACK
// and has no effect, as RFC 2347 asks; a WRQ's tsize over maxUpload is an
// error (code 3).
func Negotiate(req Request, size int64, def Settings, maxUpload int64) (Settings, []Option, error) {
	s := def
	var oack []Option
	for _, o := range req.Options {
		v, ok := number(o.Value)
		switch o.Name {
		case OptBlksize:
			if !ok || v < MinBlockSize {
				continue
			}
			s.BlockSize = int(min(v, MaxBlockSize))
			oack = append(oack, Option{OptBlksize, strconv.Itoa(s.BlockSize)})
		case OptTimeout:
			if !ok || v < 1 || v > MaxTimeout {
				continue
			}
			s.Timeout = time.Duration(v) * time.Second
			oack = append(oack, Option{OptTimeout, o.Value})
		case OptTsize:
			if !ok {
				continue
			}
			if req.Op == OpWRQ {
				if v > uint64(maxUpload) {
					return s, nil, &Error{ErrDiskFull, fmt.Sprintf("%d bytes is over the server's limit of %d", v, maxUpload)}
				}
				oack = append(oack, Option{OptTsize, strconv.FormatUint(v, 10)})
			} else if size >= 0 {
				oack = append(oack, Option{OptTsize, strconv.FormatInt(size, 10)})
			}
		case OptWindowsize:
			if !ok || v < 1 || v > MaxWindow {
				continue
			}
			s.Window = int(v)
			oack = append(oack, Option{OptWindowsize, o.Value})
		}
	}
	// The window is settled last: it depends on the block size. The
	// receiver's buffer is taken as the smaller of this host's default and
	// Linux's: for a download it is the client's, whose size the request
	// does not say; for an upload, the transfer's own socket's.
	if most := WindowFor(s.BlockSize, receiveBuffer()); s.Window > most {
		s.Window = most
		for i := range oack {
			if oack[i].Name == OptWindowsize {
				oack[i].Value = strconv.Itoa(most)
			}
		}
	}
	return s, oack, nil
}

// number parses an option's value: decimal digits only, no sign, no
// spaces, at most 19 of them (no overflow).
func number(s string) (uint64, bool) {
	if s == "" || len(s) > 19 {
		return 0, false
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	v, err := strconv.ParseUint(s, 10, 63)
	return v, err == nil
}

// announced is a WRQ's tsize, the size of the file to come, or -1 if it
// gives none: the store checks it has room before the first ACK.
func announced(req Request) int64 {
	for _, o := range req.Options {
		if v, ok := number(o.Value); ok && o.Name == OptTsize {
			return int64(v) // number's bound: 63 bits
		}
	}
	return -1
}
