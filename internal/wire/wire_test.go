package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestRequestRoundTrip(t *testing.T) {
	for _, req := range []Request{
		{Op: OpList},
		{Op: OpGet, Name: "docs/a.txt", Arg: 12345},
		{Op: OpPut, Name: "老司机.txt", Arg: 1 << 40},
		{Op: OpGet, Name: strings.Repeat("n", MaxName)},
	} {
		b := AppendRequest(nil, req)
		got, err := ReadRequest(bytes.NewReader(b))
		if err != nil || got != req {
			t.Errorf("%+v: read back %+v, %v", req, got, err)
		}
	}
}

// header builds a raw request header.
func header(version, op byte, namelen uint16, reserved uint32, arg uint64) []byte {
	b := []byte{version, op}
	b = binary.BigEndian.AppendUint16(b, namelen)
	b = binary.BigEndian.AppendUint32(b, reserved)
	return binary.BigEndian.AppendUint64(b, arg)
}

func TestReadRequestErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []byte
		want string
	}{
		{"empty", nil, "EOF"},
		{"version 2", header(2, 1, 0, 0, 0), "unsupported version: version 2; this server speaks 1"},
		{"half a header", header(1, 2, 1, 0, 0)[:9], "protocol error: connection closed mid-message"},
		{"unknown op", header(1, 9, 0, 0, 0), "protocol error: unknown op 9"},
		{"reserved", header(1, 1, 0, 7, 0), "protocol error: reserved bytes not zero"},
		{"name too long", header(1, 2, MaxName+1, 0, 0), "protocol error: name of 1025 bytes, over 1024"},
		{"ls with a name", append(header(1, 1, 1, 0, 0), 'x'), "protocol error: ls takes no name and no argument"},
		{"ls with an arg", header(1, 1, 0, 0, 5), "protocol error: ls takes no name and no argument"},
		{"get without a name", header(1, 2, 0, 0, 0), "protocol error: get without a name"},
		{"put without a name", header(1, 3, 0, 0, 9), "protocol error: put without a name"},
		{"name cut short", append(header(1, 2, 5, 0, 0), "ab"...), "protocol error: connection closed mid-message"},
	} {
		_, err := ReadRequest(bytes.NewReader(tc.in))
		if err == nil || err.Error() != tc.want {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
	// A wrong version is told to the client as such, not as garbage.
	_, err := ReadRequest(bytes.NewReader(header(2, 1, 0, 0, 0)))
	var we *Error
	if !errors.As(err, &we) || we.Status != ErrBadVersion {
		t.Errorf("version 2: %v, want an ErrBadVersion", err)
	}
}

func TestResponseRoundTrip(t *testing.T) {
	sum := [SumSize]byte{1, 2, 3}
	for _, resp := range []Response{
		{Status: StatusOK, Size: 100, Offset: 40, Sum: sum},
		{Status: StatusContinue},
		{Status: ErrNotFound, Message: "no file named x"},
		{Status: ErrInternal, Message: "磁盘满了"},
	} {
		got, err := ReadResponse(bytes.NewReader(AppendResponse(nil, resp)))
		if err != nil || got != resp {
			t.Errorf("%+v: read back %+v, %v", resp, got, err)
		}
	}
	// An over-long message is cut to MaxMessage on a rune boundary.
	long := Response{Status: ErrBadName, Message: strings.Repeat("名", 400)}
	got, err := ReadResponse(bytes.NewReader(AppendResponse(nil, long)))
	if err != nil || len(got.Message) > MaxMessage || !strings.HasPrefix(long.Message, got.Message) {
		t.Errorf("long message: %d bytes, %v", len(got.Message), err)
	}
	if e := (Response{Status: ErrNotFound, Message: "x"}).Err(); e == nil || e.Error() != "not found: x" {
		t.Errorf("Err() = %v", e)
	}
	if e := (Response{Status: StatusContinue}).Err(); e != nil {
		t.Errorf("Continue.Err() = %v", e)
	}
}

func respHeader(status byte, msglen uint16, size, offset uint64) []byte {
	b := []byte{Version, status}
	b = binary.BigEndian.AppendUint16(b, msglen)
	b = binary.BigEndian.AppendUint32(b, 0)
	b = binary.BigEndian.AppendUint64(b, size)
	b = binary.BigEndian.AppendUint64(b, offset)
	return append(b, make([]byte, SumSize)...)
}

func TestReadResponseErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []byte
		want string
	}{
		{"empty", nil, "protocol error: connection closed mid-message"},
		{"version 9", append([]byte{9}, respHeader(0, 0, 0, 0)[1:]...), "protocol error: version 9; this client speaks 1"},
		{"unknown status", respHeader(5, 0, 0, 0), "protocol error: unknown status 5"},
		{"status past the last", respHeader(200, 0, 0, 0), "protocol error: unknown status 200"},
		{"message too long", respHeader(19, MaxMessage+1, 0, 0), "protocol error: message of 1025 bytes, over 1024"},
		{"message on OK", append(respHeader(0, 1, 0, 0), 'x'), "protocol error: a message on a non-error response"},
		{"offset past size", respHeader(0, 0, 5, 6), "protocol error: offset 6 past size 5"},
		{"message cut", append(respHeader(19, 4, 0, 0), 'a'), "protocol error: connection closed mid-message"},
		{"message not UTF-8", append(respHeader(19, 1, 0, 0), 0xff), "protocol error: message is not UTF-8"},
	} {
		_, err := ReadResponse(bytes.NewReader(tc.in))
		if err == nil || err.Error() != tc.want {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestList(t *testing.T) {
	entries := []Entry{
		{Name: "a.txt", Size: 3, ModTime: time.Unix(1700000000, 5)},
		{Name: "docs/老司机.md", Size: 1 << 33, ModTime: time.Unix(0, 0)},
	}
	var body []byte
	for _, e := range entries {
		var err error
		if body, err = AppendEntry(body, e); err != nil {
			t.Fatal(err)
		}
	}
	got, err := ParseList(body)
	if err != nil || len(got) != 2 {
		t.Fatalf("%+v, %v", got, err)
	}
	for i := range got {
		if got[i].Name != entries[i].Name || got[i].Size != entries[i].Size || !got[i].ModTime.Equal(entries[i].ModTime) {
			t.Errorf("entry %d: %+v, want %+v", i, got[i], entries[i])
		}
	}
	if got, err := ParseList(nil); err != nil || len(got) != 0 {
		t.Errorf("empty listing: %v, %v", got, err)
	}
	for _, tc := range []struct {
		name string
		in   []byte
		want string
	}{
		{"one byte", []byte{0}, "protocol error: listing cut inside an entry"},
		{"empty name", make([]byte, EntryFixed), "protocol error: listing entry with a name of 0 bytes"},
		{"name too long", binary.BigEndian.AppendUint16(nil, MaxName+1), "protocol error: listing entry with a name of 1025 bytes"},
		{"cut", body[:len(body)-1], "protocol error: listing cut inside an entry"},
		{"not UTF-8", append(binary.BigEndian.AppendUint16(nil, 1), append([]byte{0xff}, make([]byte, 16)...)...), "protocol error: listing entry name is not UTF-8"},
	} {
		if _, err := ParseList(tc.in); err == nil || err.Error() != tc.want {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}

// FuzzReadRequest: no input panics or allocates past the limits; what is
// accepted encodes back to the very bytes read.
func FuzzReadRequest(f *testing.F) {
	f.Add(AppendRequest(nil, Request{Op: OpGet, Name: "a", Arg: 1}))
	f.Add(AppendRequest(nil, Request{Op: OpList}))
	f.Add(header(1, 3, 0xffff, 0, 1<<63))
	f.Add(header(2, 1, 0, 0, 0))
	f.Fuzz(func(t *testing.T, in []byte) {
		r := bytes.NewReader(in)
		req, err := ReadRequest(r)
		if err != nil {
			return
		}
		read := in[:len(in)-r.Len()]
		if again := AppendRequest(nil, req); !bytes.Equal(again, read) {
			t.Fatalf("%x read as %+v, encodes as %x", read, req, again)
		}
	})
}

// FuzzReadResponse: the same for responses.
func FuzzReadResponse(f *testing.F) {
	f.Add(AppendResponse(nil, Response{Status: StatusOK, Size: 9, Offset: 3}))
	f.Add(AppendResponse(nil, Response{Status: ErrNotFound, Message: "no"}))
	f.Add(respHeader(19, 0xffff, 0, 0))
	f.Fuzz(func(t *testing.T, in []byte) {
		r := bytes.NewReader(in)
		resp, err := ReadResponse(r)
		if err != nil {
			return
		}
		read := in[:len(in)-r.Len()]
		if again := AppendResponse(nil, resp); !bytes.Equal(again, read) {
			t.Fatalf("%x read as %+v, encodes as %x", read, resp, again)
		}
	})
}

// FuzzParseList: no input panics; what is accepted encodes back to itself.
func FuzzParseList(f *testing.F) {
	seed, _ := AppendEntry(nil, Entry{Name: "a", Size: 1, ModTime: time.Unix(1, 2)})
	f.Add(seed)
	f.Add([]byte{0, 1})
	f.Fuzz(func(t *testing.T, in []byte) {
		entries, err := ParseList(in)
		if err != nil {
			return
		}
		var again []byte
		for _, e := range entries {
			if again, err = AppendEntry(again, e); err != nil {
				t.Fatalf("%+v parsed, not encoded: %v", e, err)
			}
		}
		if !bytes.Equal(again, in) {
			t.Fatalf("%x parsed as %+v, encodes as %x", in, entries, again)
		}
	})
}

// TestAppendEntryRefuses: a name no listing may carry is refused and
// costs nothing; above all a name over MaxName (65536 bytes wraps the
// 2-byte length to 0) never frames a listing the parser then misreads.
func TestAppendEntryRefuses(t *testing.T) {
	good, err := AppendEntry(nil, Entry{Name: "ok"})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"", strings.Repeat("x", MaxName+1), strings.Repeat("x", 1<<16), "bad\xff"} {
		got, err := AppendEntry(good, Entry{Name: name, Size: 1})
		if !errors.Is(err, ErrProtocol) || !bytes.Equal(got, good) {
			t.Errorf("name of %d bytes: %v, appended %d bytes", len(name), err, len(got)-len(good))
		}
	}
}
