package tftp

import (
	"fmt"
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

// WindowBytes bounds a window: a client asking more gets a smaller
// windowsize in the OACK, as RFC 7440 allows. A window must fit in the
// receiver's socket buffer (Linux's default is 208 KiB): past it, blocks
// are dropped, and a windowed transfer falls into resend storms (atftp
// asking 16 blocks of 65464 bytes took 141 s for 100 MB where lock-step
// takes 0.2 s).
const WindowBytes = 128 << 10

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
	// The window is settled last: it depends on the block size.
	if most := max(1, WindowBytes/s.BlockSize); s.Window > most {
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
