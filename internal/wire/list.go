package wire

import (
	"encoding/binary"
	"time"
	"unicode/utf8"
)

// Entry is one file of a listing.
type Entry struct {
	Name    string
	Size    uint64
	ModTime time.Time
}

// EntryFixed is the fixed part of an encoded entry: the name's length, the
// size, the modification time in Unix nanoseconds.
const EntryFixed = 2 + 8 + 8

// AppendEntry encodes one listing entry. It refuses (and appends nothing
// for) a name ParseList would refuse: empty, over MaxName bytes (whose
// length would wrap its 2 bytes and desynchronise every entry after it),
// or not UTF-8. One bad name must cost its entry, not the listing's
// framing.
func AppendEntry(b []byte, e Entry) ([]byte, error) {
	switch n := len(e.Name); {
	case n == 0 || n > MaxName:
		return b, protoErr("listing entry with a name of %d bytes", n)
	case !utf8.ValidString(e.Name):
		return b, protoErr("listing entry name is not UTF-8")
	}
	b = binary.BigEndian.AppendUint16(b, uint16(len(e.Name)))
	b = append(b, e.Name...)
	b = binary.BigEndian.AppendUint64(b, e.Size)
	return binary.BigEndian.AppendUint64(b, uint64(e.ModTime.UnixNano())), nil
}

// ParseList decodes a listing body, strictly: every entry whole, names of
// 1 to MaxName bytes of UTF-8, nothing left over.
func ParseList(body []byte) ([]Entry, error) {
	if len(body) > MaxListBody {
		return nil, protoErr("listing of %d bytes, over %d", len(body), MaxListBody)
	}
	var entries []Entry
	for len(body) > 0 {
		if len(body) < 2 {
			return nil, protoErr("listing cut inside an entry")
		}
		n := int(binary.BigEndian.Uint16(body))
		if n == 0 || n > MaxName {
			return nil, protoErr("listing entry with a name of %d bytes", n)
		}
		if len(body) < EntryFixed+n {
			return nil, protoErr("listing cut inside an entry")
		}
		name := body[2 : 2+n]
		if !utf8.Valid(name) {
			return nil, protoErr("listing entry name is not UTF-8")
		}
		rest := body[2+n:]
		entries = append(entries, Entry{
			Name:    string(name),
			Size:    binary.BigEndian.Uint64(rest),
			ModTime: time.Unix(0, int64(binary.BigEndian.Uint64(rest[8:]))),
		})
		body = rest[16:]
	}
	return entries, nil
}
