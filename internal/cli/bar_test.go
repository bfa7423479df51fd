package cli

import (
	"bytes"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/creack/pty"
)

// TestBar: a bar draws on a terminal only, not when quiet, and only for
// a transfer of barMin bytes or more, ending its line at End.
func TestBar(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer ptmx.Close()
	defer tty.Close()
	for _, tc := range []struct {
		name   string
		stderr io.Writer
		quiet  bool
	}{
		{"a buffer", new(bytes.Buffer), false},
		{"a pipe", w, false},
		{"a terminal, quiet", tty, true},
	} {
		if b := NewBar(tc.stderr, tc.quiet, "f"); b != nil || b.Begin(barMin) {
			t.Errorf("%s: a bar", tc.name)
		}
	}

	b := NewBar(tty, false, "f.bin")
	if b == nil {
		t.Fatal("no bar on a terminal")
	}
	if b.Begin(barMin - 1) {
		t.Error("a bar for a small transfer")
	}
	if !b.Begin(2 * barMin) {
		t.Fatal("no bar for a large transfer")
	}
	b.Add(barMin)
	b.Add(barMin)
	b.End()
	tty.Close() // the reader sees EIO once the last writer is gone
	out, _ := io.ReadAll(ptmx)
	if s := string(out); !strings.HasPrefix(s, "\rf.bin [") || !strings.Contains(s, "100%") || !strings.HasSuffix(s, "\r\n") {
		t.Errorf("drew %q", s)
	}
}
