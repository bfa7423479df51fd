package main

import (
	"crypto/sha256"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sigride/sigride/internal/wire"
)

// TestListUnnamable: files whose names no client may use (invalid UTF-8, a
// path over wire.MaxName, a newline faking an entry line, terminal
// escapes) do not break or fool ls: it succeeds, lists the others and
// prints none of those; the worker logs what it left out.
func TestListUnnamable(t *testing.T) {
	s := startServer(t, "--workers", "1")
	s.waitLog(readyRE, 1)
	bad := []string{"bad\xff", "fake\nforged.txt\t1\t2000-01-01T00:00:00Z", "\x1b]0;pwned\x07\x1b[2J"}
	for _, n := range bad {
		if err := os.WriteFile(filepath.Join(s.root, n), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	long := filepath.Join(s.root, strings.Repeat("a", 255), strings.Repeat("b", 255), strings.Repeat("c", 255), strings.Repeat("d", 255))
	if err := os.MkdirAll(long, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(long, "over"), nil, 0o644)
	os.WriteFile(filepath.Join(s.root, "good.txt"), []byte("ok"), 0o644)
	stdout, stderr, code := s.client("ls")
	if code != 0 {
		t.Fatalf("ls with unnamable files present: exit %d %q", code, stderr)
	}
	if !regexp.MustCompile(`^good\.txt\t2\t\S+\n$`).MatchString(stdout) {
		t.Errorf("ls printed %q, want only good.txt", stdout)
	}
	s.waitLog(regexp.MustCompile(`list: 4 names no client can use left out`), 1)
}

// TestListPrintsEscaped: a server that lists names with a newline, a
// terminal escape or a leading quote: ls prints each quoted and escaped,
// on its one line, never raw; a plain name as is.
func TestListPrintsEscaped(t *testing.T) {
	names := []string{"plain name.txt", "two\nlines\t9\t2000-01-01T00:00:00Z", "\x1b]0;pwned\x07\x1b[2J", `"quoted"`, "bidi\u202etxt.exe"}
	var body []byte
	for _, n := range names {
		var err error
		if body, err = wire.AppendEntry(body, wire.Entry{Name: n, Size: 1, ModTime: time.Unix(0, 0)}); err != nil {
			t.Fatal(err)
		}
	}
	addr := fakeServer(t, func(c net.Conn) {
		wire.ReadRequest(c)
		c.Write(wire.AppendResponse(nil, wire.Response{Status: wire.StatusOK, Size: uint64(len(body)), Sum: sha256.Sum256(body)}))
		c.Write(body)
	})
	stdout, stderr, code, _ := runClient(t, "ls", "--addr", addr)
	if code != 0 {
		t.Fatalf("ls: exit %d %q", code, stderr)
	}
	want := `plain name.txt	1	1970-01-01T00:00:00Z
"two\nlines\t9\t2000-01-01T00:00:00Z"	1	1970-01-01T00:00:00Z
"\x1b]0;pwned\a\x1b[2J"	1	1970-01-01T00:00:00Z
"\"quoted\""	1	1970-01-01T00:00:00Z
"bidi\u202etxt.exe"	1	1970-01-01T00:00:00Z
`
	if stdout != want {
		t.Errorf("ls printed\n%q\nwant\n%q", stdout, want)
	}
}

// TestErrorMessageEscaped: a server's error message that holds a newline
// or a terminal escape reaches the user's stderr quoted and escaped, on
// one line: a server cannot forge a line or drive the terminal through it.
func TestErrorMessageEscaped(t *testing.T) {
	addr := fakeServer(t, func(c net.Conn) {
		wire.ReadRequest(c)
		c.Write(wire.AppendResponse(nil, wire.Response{Status: wire.ErrNotFound, Message: "gone\nfileserver: fake line\x1b[2J"}))
	})
	_, stderr, code, _ := runClient(t, "get", "f", "-o", filepath.Join(t.TempDir(), "f"), "--addr", addr)
	if code != 1 || strings.Count(stderr, "\n") != 1 || strings.ContainsRune(stderr, '\x1b') ||
		!strings.Contains(stderr, `"gone\nfileserver: fake line\x1b[2J"`) {
		t.Errorf("exit %d, stderr %q: want one line, the message quoted", code, stderr)
	}
}
