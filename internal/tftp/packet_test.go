package tftp

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

func rq(op Opcode, fields ...string) []byte {
	b := []byte{0, byte(op)}
	for _, f := range fields {
		b = append(append(b, f...), 0)
	}
	return b
}

func TestParseRequest(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []byte
		want Request
		err  string
	}{
		{"octet", rq(OpRRQ, "a.txt", "octet"), Request{Op: OpRRQ, Filename: "a.txt", Mode: "octet"}, ""},
		{"mode any case", rq(OpWRQ, "d/b", "NetASCII"), Request{Op: OpWRQ, Filename: "d/b", Mode: "netascii"}, ""},
		{"options", rq(OpRRQ, "f", "octet", "BLKSIZE", "1468", "tsize", "0", "x-odd", "1"),
			Request{Op: OpRRQ, Filename: "f", Mode: "octet", Options: []Option{{"blksize", "1468"}, {"tsize", "0"}, {"x-odd", "1"}}}, ""},
		{"empty", nil, Request{}, "no opcode"},
		{"one byte", []byte{0}, Request{}, "no opcode"},
		{"not a request", rq(OpDATA, "f", "octet"), Request{}, "opcode 3 is not a request"},
		{"name without NUL", []byte("\x00\x01" + strings.Repeat("A", 600)), Request{}, "without its ending NUL"},
		{"no mode", rq(OpRRQ, "f"), Request{}, "no mode"},
		{"mode without NUL", append(rq(OpRRQ, "f"), "octet"...), Request{}, "without its ending NUL"},
		{"empty name", rq(OpRRQ, "", "octet"), Request{}, "empty filename"},
		{"mail", rq(OpWRQ, "f", "mail"), Request{}, "mail mode"},
		{"odd mode", rq(OpRRQ, "f", "binary"), Request{}, `unknown mode "binary"`},
		{"option cut off", rq(OpRRQ, "f", "octet", "blksize"), Request{}, `option "blksize" has no value`},
		{"option value cut off", append(rq(OpRRQ, "f", "octet", "blksize"), "14"...), Request{}, "without its ending NUL"},
		{"empty option name", rq(OpRRQ, "f", "octet", "", "1"), Request{}, "empty option name"},
		{"option twice", rq(OpRRQ, "f", "octet", "blksize", "8", "BlkSize", "9"), Request{}, `option "blksize" twice`},
		{"too long", rq(OpRRQ, strings.Repeat("n", MaxRequest), "octet"), Request{}, "over 2048"},
	} {
		got, err := ParseRequest(tc.in)
		if tc.err != "" {
			if err == nil || !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: err %v, want %q", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if got.Op != tc.want.Op || got.Filename != tc.want.Filename || got.Mode != tc.want.Mode || len(got.Options) != len(tc.want.Options) {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
			continue
		}
		for i := range got.Options {
			if got.Options[i] != tc.want.Options[i] {
				t.Errorf("%s: option %d %+v, want %+v", tc.name, i, got.Options[i], tc.want.Options[i])
			}
		}
	}
}

func TestParsePacket(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []byte
		want Packet
		err  string
	}{
		{"ack", AppendAck(nil, 65535), Packet{Op: OpACK, Block: 65535}, ""},
		{"data", append(AppendData(nil, 7), "xyz"...), Packet{Op: OpDATA, Block: 7, Data: []byte("xyz")}, ""},
		{"empty data", AppendData(nil, 0), Packet{Op: OpDATA}, ""},
		{"error", AppendError(nil, ErrNotFound, "gone"), Packet{Op: OpERROR, Code: ErrNotFound, Message: "gone"}, ""},
		{"error without NUL", []byte{0, 5, 0, 1, 'h', 'i'}, Packet{Op: OpERROR, Code: 1, Message: "hi"}, ""},
		{"oack", AppendOACK(nil, []Option{{"blksize", "8"}}), Packet{Op: OpOACK, Options: []Option{{"blksize", "8"}}}, ""},
		{"short ack", []byte{0, 4, 0}, Packet{}, "no block number"},
		{"long ack", []byte{0, 4, 0, 1, 0}, Packet{}, "ACK of 5 bytes"},
		{"huge data", append(AppendData(nil, 1), make([]byte, MaxBlockSize+1)...), Packet{}, "over 65464"},
		{"short error", []byte{0, 5, 0}, Packet{}, "no code"},
		{"oack cut off", []byte("\x00\x06blksize\x008"), Packet{}, "without its ending NUL"},
		{"oack odd", rq(OpOACK, "blksize"), Packet{}, "has no value"},
		{"request", rq(OpRRQ, "f", "octet"), Packet{}, "opcode 1"},
		{"junk", []byte{0xff, 0xff}, Packet{}, "opcode 65535"},
	} {
		got, err := ParsePacket(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: err %v, want %q", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil || got.Op != tc.want.Op || got.Block != tc.want.Block || !bytes.Equal(got.Data, tc.want.Data) ||
			got.Code != tc.want.Code || got.Message != tc.want.Message || len(got.Options) != len(tc.want.Options) {
			t.Errorf("%s: %+v, %v; want %+v", tc.name, got, err, tc.want)
		}
	}
}

func TestNegotiate(t *testing.T) {
	def := Settings{BlockSize: 512, Timeout: time.Second, Window: 1}
	opts := func(kv ...string) []Option {
		var o []Option
		for i := 0; i < len(kv); i += 2 {
			o = append(o, Option{kv[i], kv[i+1]})
		}
		return o
	}
	for _, tc := range []struct {
		name string
		req  Request
		size int64
		want Settings
		oack string // name=value,...
		code ErrorCode
	}{
		{"none", Request{Op: OpRRQ}, 10, def, "", 0},
		{"blksize", Request{Op: OpRRQ, Options: opts("blksize", "1468")}, 10, Settings{1468, time.Second, 1}, "blksize=1468", 0},
		{"blksize 8", Request{Op: OpRRQ, Options: opts("blksize", "8")}, 10, Settings{8, time.Second, 1}, "blksize=8", 0},
		{"blksize max", Request{Op: OpRRQ, Options: opts("blksize", "65464")}, 10, Settings{65464, time.Second, 1}, "blksize=65464", 0},
		{"blksize over", Request{Op: OpRRQ, Options: opts("blksize", "99999")}, 10, Settings{65464, time.Second, 1}, "blksize=65464", 0},
		{"blksize under", Request{Op: OpRRQ, Options: opts("blksize", "7")}, 10, def, "", 0},
		{"blksize junk", Request{Op: OpRRQ, Options: opts("blksize", "-1")}, 10, def, "", 0},
		{"blksize overflow", Request{Op: OpRRQ, Options: opts("blksize", "99999999999999999999")}, 10, def, "", 0},
		{"timeout", Request{Op: OpRRQ, Options: opts("timeout", "3")}, 10, Settings{512, 3 * time.Second, 1}, "timeout=3", 0},
		{"timeout 0", Request{Op: OpRRQ, Options: opts("timeout", "0")}, 10, def, "", 0},
		{"timeout 256", Request{Op: OpRRQ, Options: opts("timeout", "256")}, 10, def, "", 0},
		{"tsize rrq", Request{Op: OpRRQ, Options: opts("tsize", "0")}, 12345, def, "tsize=12345", 0},
		{"tsize netascii", Request{Op: OpRRQ, Options: opts("tsize", "0")}, -1, def, "", 0},
		{"tsize wrq", Request{Op: OpWRQ, Options: opts("tsize", "100")}, -1, def, "tsize=100", 0},
		{"tsize wrq over", Request{Op: OpWRQ, Options: opts("tsize", "1001")}, -1, def, "", ErrDiskFull},
		{"windowsize", Request{Op: OpRRQ, Options: opts("windowsize", "16")}, 10, Settings{512, time.Second, 16}, "windowsize=16", 0},
		{"windowsize 0", Request{Op: OpRRQ, Options: opts("windowsize", "0")}, 10, def, "", 0},
		{"windowsize capped", Request{Op: OpRRQ, Options: opts("blksize", "65464", "windowsize", "65535")}, 10,
			Settings{65464, time.Second, WindowBytes / 65464}, "blksize=65464,windowsize=2", 0},
		{"unknown", Request{Op: OpRRQ, Options: opts("multicast", "", "blksize", "1024")}, 10, Settings{1024, time.Second, 1}, "blksize=1024", 0},
	} {
		got, oack, err := Negotiate(tc.req, tc.size, def, 1000)
		var te *Error
		if tc.code != 0 {
			if !errors.As(err, &te) || te.Code != tc.code {
				t.Errorf("%s: err %v, want code %d", tc.name, err, tc.code)
			}
			continue
		}
		var kv []string
		for _, o := range oack {
			kv = append(kv, o.Name+"="+o.Value)
		}
		if err != nil || got != tc.want || strings.Join(kv, ",") != tc.oack {
			t.Errorf("%s: %+v %v %v; want %+v %s", tc.name, got, kv, err, tc.want, tc.oack)
		}
	}
}

func TestNetascii(t *testing.T) {
	for _, tc := range []struct{ local, wire string }{
		{"", ""},
		{"a\nb\n", "a\r\nb\r\n"},
		{"a\rb", "a\r\x00b"},
		{"\r\n", "\r\x00\r\n"},
		{"end\r", "end\r\x00"},
	} {
		got, _ := io.ReadAll(newNetasciiReader(strings.NewReader(tc.local)))
		if string(got) != tc.wire {
			t.Errorf("encode %q = %q, want %q", tc.local, got, tc.wire)
		}
		// Decoded one byte a write: a CR at a block's end waits for the next.
		var out bytes.Buffer
		w := newNetasciiWriter(&out)
		for i := range len(tc.wire) {
			w.Write([]byte{tc.wire[i]})
		}
		w.Close()
		if out.String() != tc.local {
			t.Errorf("decode %q = %q, want %q", tc.wire, out.String(), tc.local)
		}
	}
	// Lenient: a bare CR before something else is kept.
	var out bytes.Buffer
	w := newNetasciiWriter(&out)
	w.Write([]byte("a\rb\r"))
	w.Close()
	if out.String() != "a\rb\r" {
		t.Errorf("bare CRs: %q", out.String())
	}
}

func FuzzParseRequest(f *testing.F) {
	// The seeds follow what other TFTP servers' CVEs were about: names
	// without their NUL, option lists cut off, odd option values.
	f.Add(rq(OpRRQ, "a", "octet"))
	f.Add(rq(OpWRQ, "d/b", "netascii", "tsize", "100"))
	f.Add([]byte("\x00\x01" + strings.Repeat("A", 700)))
	f.Add(append(rq(OpRRQ, "f", "octet", "blksize"), "65"...))
	f.Add(rq(OpRRQ, "f", "octet", "blksize", "-1", "timeout", "99999999999999999999999"))
	f.Add(rq(OpRRQ, "f", "octet", "windowsize", "0", "tsize", ""))
	f.Add(rq(OpRRQ, "%s%s%n", "octet"))
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := ParseRequest(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error not ErrMalformed: %v", err)
			}
			return
		}
		if req.Filename == "" || len(b) > MaxRequest {
			t.Fatalf("accepted %+v from %q", req, b)
		}
		// What parses, written again, parses the same.
		again, err := ParseRequest(AppendRequest(nil, req))
		if err != nil || again.Filename != req.Filename || again.Mode != req.Mode || len(again.Options) != len(req.Options) {
			t.Fatalf("round trip: %+v, %v", again, err)
		}
		set, _, err := Negotiate(req, 100, Settings{BlockSize: 512, Timeout: time.Second, Window: 1}, 1000)
		if err == nil && (set.BlockSize < MinBlockSize || set.BlockSize > MaxBlockSize || set.Window < 1 ||
			set.Window*set.BlockSize > max(WindowBytes, set.BlockSize) || set.Timeout < time.Second || set.Timeout > MaxTimeout*time.Second) {
			t.Fatalf("negotiated %+v", set)
		}
	})
}

func FuzzParsePacket(f *testing.F) {
	f.Add(AppendAck(nil, 1))
	f.Add(append(AppendData(nil, 1), "abc"...))
	f.Add(AppendError(nil, 1, "x"))
	f.Add([]byte("\x00\x06blksize\x00"))
	f.Add([]byte{0, 5})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParsePacket(b)
		if err != nil {
			return
		}
		if len(p.Data) > MaxBlockSize || (p.Op == OpACK && len(b) != 4) {
			t.Fatalf("accepted %+v", p)
		}
	})
}

func FuzzNetascii(f *testing.F) {
	f.Add([]byte("a\nb\r\n\rc\r"))
	f.Fuzz(func(t *testing.T, b []byte) {
		enc, _ := io.ReadAll(newNetasciiReader(bytes.NewReader(b)))
		var out bytes.Buffer
		w := newNetasciiWriter(&out)
		w.Write(enc)
		w.Close()
		if !bytes.Equal(out.Bytes(), b) {
			t.Fatalf("%q -> %q -> %q", b, enc, out.Bytes())
		}
	})
}

func TestPortRangeSet(t *testing.T) {
	for _, tc := range []struct {
		in     string
		lo, hi int
		ok     bool
	}{
		{"6900:6999", 6900, 6999, true},
		{"1:65535", 1, 65535, true},
		{"7000:7000", 7000, 7000, true},
		{"", 0, 0, false},
		{"6900", 0, 0, false},
		{"0:10", 0, 0, false},
		{"10:65536", 0, 0, false},
		{"20:10", 0, 0, false},
		{"a:b", 0, 0, false},
		{"1:2:3", 0, 0, false},
	} {
		var r PortRange
		err := r.Set(tc.in)
		if (err == nil) != tc.ok || r.Lo != tc.lo || r.Hi != tc.hi {
			t.Errorf("Set(%q) = %+v, %v; want %d:%d, ok %v", tc.in, r, err, tc.lo, tc.hi, tc.ok)
		}
		if tc.ok && r.String() != tc.in {
			t.Errorf("Set(%q).String() = %q", tc.in, r.String())
		}
	}
}
