package main

import (
	"bytes"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/creack/pty"
)

// TestProgressBar: a transfer over 4 MiB draws a bar on a terminal's
// stderr, none with --quiet, none when stderr is not a terminal.
func TestProgressBar(t *testing.T) {
	s := startServer(t, "--workers", "1")
	src := randomFile(t, t.TempDir(), 8<<20)
	run := func(tty bool, args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, append(args, "--addr", s.addr)...)
		if !tty {
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("%v: %v %s", args, err, stderr.String())
			}
			return stderr.String()
		}
		ptmx, term, err := pty.Open()
		if err != nil {
			t.Fatal(err)
		}
		defer ptmx.Close()
		cmd.Stderr = term
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		term.Close()
		out, _ := io.ReadAll(ptmx) // EIO once the client has exited
		if err := cmd.Wait(); err != nil {
			t.Fatalf("%v: %v %s", args, err, out)
		}
		return string(out)
	}
	if out := run(true, "put", src, "--as", "p.bin"); !strings.Contains(out, "100%") || !strings.Contains(out, "p.bin [") {
		t.Errorf("put on a terminal: no bar in %q", out)
	}
	dst := filepath.Join(t.TempDir(), "g.bin")
	if out := run(true, "get", "p.bin", "-o", dst); !strings.Contains(out, "100%") {
		t.Errorf("get on a terminal: no bar in %q", out)
	}
	sameFile(t, src, dst)
	if out := run(true, "get", "p.bin", "-o", dst, "--quiet"); strings.Contains(out, "%") {
		t.Errorf("--quiet drew %q", out)
	}
	if out := run(false, "get", "p.bin", "-o", dst); out != "" {
		t.Errorf("a bar on a pipe: %q", out)
	}
}
