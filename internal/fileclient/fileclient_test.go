package fileclient

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sigride/sigride/internal/proctest"
	"github.com/sigride/sigride/internal/wire"
)

// bound is the most a test's operation may take: long enough for a
// loaded machine, short enough that a missing deadline fails the test
// rather than hangs it.
const bound = 10 * time.Second

// fakeServer serves each connection on 127.0.0.1 with serve, then holds
// it open, silent, until the test ends. A rcvbuf above 0 is the accepted
// sockets' receive buffer (SO_RCVBUF, inherited from the listener), so
// that a server reading nothing stalls a sender soon.
func fakeServer(t *testing.T, rcvbuf int, serve func(c net.Conn)) Client {
	t.Helper()
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		if rcvbuf <= 0 {
			return nil
		}
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, rcvbuf)
		})
		return errors.Join(err, serr)
	}}
	ln, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	proctest.FakeServer(t, ln, serve)
	return Client{Addr: ln.Addr().String(), Timeout: bound}
}

// answer reads a GET and answers it for data from the offset asked, with
// forged as its sum (data's own when nil).
func answer(c net.Conn, data []byte, forged []byte) wire.Request {
	req, _ := wire.ReadRequest(c)
	resp := wire.Response{Status: wire.StatusOK, Size: uint64(len(data)), Offset: req.Arg, Sum: sha256.Sum256(data)}
	if forged != nil {
		copy(resp.Sum[:], forged)
	}
	c.Write(wire.AppendResponse(nil, resp))
	return req
}

// TestSilence: a server that falls silent at any point (before the
// answer, in a listing, in a download, taking no upload) ends the
// operation once the timeout has passed without a byte, not sooner and
// not much later, with "no answer from ADDR for DUR" and how far it got.
func TestSilence(t *testing.T) {
	const timeout = 500 * time.Millisecond
	data := bytes.Repeat([]byte("silence "), 125) // 1000 bytes
	big := filepath.Join(t.TempDir(), "big")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	// More than a socket's send buffer and the server's small receive
	// buffer hold; sparse, so it costs no disk.
	if err := f.Truncate(32 << 20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	for _, tc := range []struct {
		name  string
		serve func(c net.Conn)
		op    func(cl Client, dir string) error
		want  string // a regexp; ADDR stands for the server's address
		part  int    // bytes PATH.part must hold after; -1: none
	}{
		{
			name:  "ls, no answer",
			serve: func(c net.Conn) { wire.ReadRequest(c) },
			op:    func(cl Client, _ string) error { _, err := cl.List(); return err },
			want:  `^read response: no answer from ADDR for 500ms$`,
			part:  -1,
		},
		{
			name: "ls, half a listing",
			serve: func(c net.Conn) {
				wire.ReadRequest(c)
				c.Write(wire.AppendResponse(nil, wire.Response{Status: wire.StatusOK, Size: 100}))
				c.Write(make([]byte, 50))
			},
			op:   func(cl Client, _ string) error { _, err := cl.List(); return err },
			want: `^connection lost during the listing: no answer from ADDR for 500ms$`,
			part: -1,
		},
		{
			name:  "get, no answer",
			serve: func(c net.Conn) { wire.ReadRequest(c) },
			op: func(cl Client, dir string) error {
				return cl.Get("f", Dest{Path: filepath.Join(dir, "f")}, nil)
			},
			want: `^read response: no answer from ADDR for 500ms$`,
			part: -1, // nothing came: the empty .part goes
		},
		{
			name: "get, half the file",
			serve: func(c net.Conn) {
				answer(c, data, nil)
				c.Write(data[:500])
			},
			op: func(cl Client, dir string) error {
				return cl.Get("f", Dest{Path: filepath.Join(dir, "f")}, nil)
			},
			want: `^no answer from ADDR for 500ms, after 500 of 1000 bytes \(.*/f\.part kept: --continue resumes\)$`,
			part: 500,
		},
		{
			name: "put, nothing taken",
			serve: func(c net.Conn) {
				wire.ReadRequest(c)
				c.Write(wire.AppendResponse(nil, wire.Response{Status: wire.StatusContinue}))
			},
			op:   func(cl Client, _ string) error { return cl.PutFile(big, "f", nil) },
			want: `^no answer from ADDR for 500ms, after \d+ of 33554432 bytes$`,
			part: -1,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cl := fakeServer(t, 4096, tc.serve)
			cl.Timeout = timeout
			dir := t.TempDir()
			start := time.Now()
			err := tc.op(cl, dir)
			took := time.Since(start)
			re := regexp.MustCompile(strings.ReplaceAll(tc.want, "ADDR", regexp.QuoteMeta(cl.Addr)))
			if err == nil || !re.MatchString(err.Error()) {
				t.Fatalf("error %v, want %v", err, re)
			}
			if took < timeout || took > timeout+bound/2 {
				t.Errorf("gave up after %v, want about %v", took, timeout)
			}
			fi, err := os.Stat(filepath.Join(dir, "f.part"))
			switch {
			case tc.part < 0 && err == nil:
				t.Errorf("a .part of %d bytes", fi.Size())
			case tc.part >= 0 && (err != nil || fi.Size() != int64(tc.part)):
				t.Errorf(".part: %v, want %d bytes", err, tc.part)
			}
		})
	}
}

// TestGet: a download is visible only whole and checked; what PATH.part
// holds after a failure is kept to resume unless it is known bad.
func TestGet(t *testing.T) {
	data := []byte(strings.Repeat("0123456789", 100)) // 1000 bytes
	for _, tc := range []struct {
		name   string
		serve  func(c net.Conn)
		part   []byte // PATH.part before, with --continue; nil: none
		want   string // a substring of the error; "": none
		dst    []byte // PATH after; nil: none
		partAf []byte // PATH.part after; nil: none
	}{
		{
			name:  "whole",
			serve: func(c net.Conn) { answer(c, data, nil); c.Write(data) },
			dst:   data,
		},
		{
			name: "resumed",
			serve: func(c net.Conn) {
				req := answer(c, data, nil)
				c.Write(data[req.Arg:])
			},
			part: data[:400],
			dst:  data,
		},
		{
			name:  "wrong sum",
			serve: func(c net.Conn) { answer(c, data, make([]byte, 32)); c.Write(data) },
			want:  "checksum mismatch: nothing written",
		},
		{
			name:   "resume answered from elsewhere",
			serve:  func(c net.Conn) { wire.ReadRequest(c); answerFrom(c, data, 0); c.Write(data) },
			part:   data[:400],
			want:   "protocol error: the server answered from offset 0, asked 400",
			partAf: data[:400],
		},
		{
			name: "cut short",
			serve: func(c net.Conn) {
				answer(c, data, nil)
				c.Write(data[:300])
				c.Close()
			},
			want:   ".part kept: --continue resumes): unexpected EOF",
			partAf: data[:300],
		},
		{
			name: "cut short when resuming",
			serve: func(c net.Conn) {
				answer(c, data, nil)
				c.Write(data[400:700])
				c.Close()
			},
			part:   data[:400],
			want:   "connection lost after 700 of 1000 bytes (",
			partAf: data[:700],
		},
		{
			name: "larger than the disk",
			serve: func(c net.Conn) {
				wire.ReadRequest(c)
				c.Write(wire.AppendResponse(nil, wire.Response{Status: wire.StatusOK, Size: 1 << 62}))
			},
			want: "4611686018427387904 bytes to write and",
		},
		{
			name: "an error that would reach the terminal",
			serve: func(c net.Conn) {
				wire.ReadRequest(c)
				c.Write(wire.AppendResponse(nil, wire.Response{Status: wire.ErrNotFound, Message: "gone\x1b]0;owned\a"}))
			},
			want: `not found: "gone\x1b]0;owned\a"`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cl := fakeServer(t, 0, tc.serve)
			dst := filepath.Join(t.TempDir(), "f")
			if tc.part != nil {
				if err := os.WriteFile(dst+".part", tc.part, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			err := cl.Get("f", Dest{Path: dst, Resume: tc.part != nil}, nil)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("error %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want %q", err, tc.want)
			}
			wantFile(t, dst, tc.dst)
			wantFile(t, dst+".part", tc.partAf)
		})
	}
}

// answerFrom answers a GET for data from off, whatever was asked.
func answerFrom(c net.Conn, data []byte, off uint64) {
	c.Write(wire.AppendResponse(nil, wire.Response{Status: wire.StatusOK, Size: uint64(len(data)), Offset: off, Sum: sha256.Sum256(data)}))
}

// wantFile checks that path holds want, or is absent when want is nil.
func wantFile(t *testing.T, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	switch {
	case want == nil && err == nil:
		t.Errorf("%s: %d bytes, want none", filepath.Base(path), len(got))
	case want == nil:
	case err != nil:
		t.Errorf("%s: %v", filepath.Base(path), err)
	case !bytes.Equal(got, want):
		t.Errorf("%s: %q, want %q", filepath.Base(path), got, want)
	}
}

// TestGetStdout: "-" is the writer given; it has nothing to resume.
func TestGetStdout(t *testing.T) {
	data := []byte("to stdout")
	cl := fakeServer(t, 0, func(c net.Conn) { answer(c, data, nil); c.Write(data) })
	var out bytes.Buffer
	if err := cl.Get("f", Dest{Path: "-", Stdout: &out}, nil); err != nil || out.String() != string(data) {
		t.Errorf("got %q, %v", out.String(), err)
	}
	if err := cl.Get("f", Dest{Path: "-", Resume: true, Stdout: &out}, nil); err == nil || !strings.Contains(err.Error(), "stdout has nothing to resume") {
		t.Errorf("resume to stdout: %v", err)
	}
}

// putServer takes an upload: see takeUpload.
func putServer(size uint64, sum [wire.SumSize]byte) func(c net.Conn) {
	return func(c net.Conn) {
		if req, err := wire.ReadRequest(c); err == nil {
			takeUpload(c, req, size, sum)
		}
	}
}

// takeUpload takes req's body and sum and answers that it stored size
// bytes of sum, or, when size is 0, the body and sum it took; a sum that
// does not match the body is the checksum error.
func takeUpload(c net.Conn, req wire.Request, size uint64, sum [wire.SumSize]byte) {
	c.Write(wire.AppendResponse(nil, wire.Response{Status: wire.StatusContinue}))
	body := make([]byte, req.Arg+wire.SumSize)
	if _, err := io.ReadFull(c, body); err != nil {
		return
	}
	sent := [wire.SumSize]byte(body[req.Arg:])
	resp := wire.Response{Status: wire.StatusOK, Size: size, Sum: sum}
	switch {
	case sha256.Sum256(body[:req.Arg]) != sent:
		resp = wire.Response{Status: wire.ErrChecksum}
	case size == 0:
		resp.Size, resp.Sum = req.Arg, sent
	}
	c.Write(wire.AppendResponse(nil, resp))
}

// TestPut: an upload succeeds only once the server's answer echoes the
// size and sum sent.
func TestPut(t *testing.T) {
	data := []byte("the bytes to upload")
	good := sha256.Sum256(data)
	src := filepath.Join(t.TempDir(), "src")
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		serve func(c net.Conn)
		sum   [wire.SumSize]byte // what Put says data's sum is
		want  string             // a substring of the error; "": none
	}{
		{"stored", putServer(0, good), good, ""},
		{"a wrong sum sent", putServer(0, good), [wire.SumSize]byte{1}, "checksum mismatch"},
		{"stored something else", putServer(uint64(len(data)), [wire.SumSize]byte{2}), good, "the server stored something else"},
		{"stored fewer bytes", putServer(3, good), good, "the server stored something else"},
		{"no CONTINUE", func(c net.Conn) {
			wire.ReadRequest(c)
			c.Write(wire.AppendResponse(nil, wire.Response{Status: wire.StatusOK}))
		}, good, "the server answered ok before the body"},
		{"refused", func(c net.Conn) {
			wire.ReadRequest(c)
			c.Write(wire.AppendResponse(nil, wire.Response{Status: wire.ErrTooLarge, Message: "over\nfaked line"}))
		}, good, `too large: "over\nfaked line"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cl := fakeServer(t, 0, tc.serve)
			check := func(what string, err error) {
				t.Helper()
				switch {
				case tc.want == "" && err != nil:
					t.Errorf("%s: error %v", what, err)
				case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
					t.Errorf("%s: error %v, want %q", what, err, tc.want)
				}
			}
			c, err := cl.Dial()
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			check("Put", c.Put("f", data, tc.sum))
			if tc.sum == good { // PutFile computes the sum itself
				check("PutFile", cl.PutFile(src, "f", nil))
			}
		})
	}
	if err := (Client{Addr: "127.0.0.1:1", Timeout: bound}).PutFile(t.TempDir(), "d", nil); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("a directory uploaded: %v", err)
	}
}

// TestList: a listing is parsed only once its length and sum check.
func TestList(t *testing.T) {
	body, _ := wire.AppendEntry(nil, wire.Entry{Name: "a\nb", Size: 3, ModTime: time.Unix(1, 0)})
	for _, tc := range []struct {
		name string
		resp wire.Response
		want string // a substring of the error; "": none
	}{
		{"checked", wire.Response{Size: uint64(len(body)), Sum: sha256.Sum256(body)}, ""},
		{"a wrong sum", wire.Response{Size: uint64(len(body))}, "listing: checksum mismatch"},
		{"too long", wire.Response{Size: wire.MaxListBody + 1}, "listing of 67108865 bytes, over 67108864"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cl := fakeServer(t, 0, func(c net.Conn) {
				wire.ReadRequest(c)
				c.Write(append(wire.AppendResponse(nil, tc.resp), body...))
			})
			entries, err := cl.List()
			switch {
			case tc.want == "" && (err != nil || len(entries) != 1 || entries[0].Name != "a\nb"):
				t.Errorf("%v, %v", entries, err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
}

// TestDrain: a benchmark's get checks the length, on a connection kept
// for the next request.
func TestDrain(t *testing.T) {
	data := []byte("ten bytes!")
	cl := fakeServer(t, 0, func(c net.Conn) {
		for range 2 {
			answer(c, data, nil)
			c.Write(data)
		}
	})
	c, err := cl.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Drain("f", 10); err != nil {
		t.Errorf("first: %v", err)
	}
	if err := c.Drain("f", 11); err == nil || err.Error() != "get f: 10 bytes, want 11" {
		t.Errorf("second: %v", err)
	}
}

func TestPrintable(t *testing.T) {
	for in, want := range map[string]string{
		"plain.txt":      "plain.txt",
		"naïve café":     "naïve café",
		"a\nb":           `"a\nb"`,
		"\x1b]0;owned\a": `"\x1b]0;owned\a"`,
		"\u202eevil":     `"\u202eevil"`,
		`"quoted"`:       `"\"quoted\""`,
		"bad\xffutf8":    `"bad\xffutf8"`,
	} {
		if got := Printable(in); got != want {
			t.Errorf("Printable(%q) = %s, want %s", in, got, want)
		}
	}
}

// recorder is a Progress that keeps what it was told.
type recorder struct {
	want        bool // what Begin answers
	total, done int64
	adds, ends  int
	biggest     int64
}

func (r *recorder) Begin(total int64) bool { r.total = total; return r.want }
func (r *recorder) Add(n int64)            { r.done += n; r.adds++; r.biggest = max(r.biggest, n) }
func (r *recorder) End()                   { r.ends++ }

// TestProgress: a Progress that asks to hear of a transfer is told of
// every byte, a chunk at a time, and of its end once; one that declines
// is told nothing more.
func TestProgress(t *testing.T) {
	data := bytes.Repeat([]byte{7}, 3*reportEvery+5)
	src := filepath.Join(t.TempDir(), "src")
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	cl := fakeServer(t, 0, func(c net.Conn) {
		switch req, err := wire.ReadRequest(c); {
		case err != nil:
		case req.Op == wire.OpGet:
			answerFrom(c, data, 0)
			c.Write(data)
		default:
			takeUpload(c, req, 0, [wire.SumSize]byte{})
		}
	})
	for _, want := range []bool{true, false} {
		for _, op := range []string{"get", "put"} {
			r := &recorder{want: want}
			var err error
			if op == "get" {
				err = cl.Get("f", Dest{Path: filepath.Join(t.TempDir(), "f")}, r)
			} else {
				err = cl.PutFile(src, "f", r)
			}
			if err != nil {
				t.Fatalf("%s: %v", op, err)
			}
			told := recorder{want: want, total: int64(len(data)), done: int64(len(data)), adds: 4, ends: 1, biggest: reportEvery}
			if !want {
				told = recorder{total: int64(len(data))}
			}
			if *r != told {
				t.Errorf("%s, Begin %v: told %+v, want %+v", op, want, *r, told)
			}
		}
	}
}
