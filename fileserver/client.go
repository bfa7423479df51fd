package main

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
	"os"
	"path"
	"time"

	"github.com/spf13/pflag"

	"github.com/sigride/sigride/internal/cli"
	"github.com/sigride/sigride/internal/wire"
)

// dialTimeout bounds connecting; a transfer itself has no deadline.
const dialTimeout = 5 * time.Second

// clientFlags parses a client command's flags, with --addr, and checks the
// number of arguments.
func clientFlags(fs *pflag.FlagSet, synopsis string, args []string, nargs int, stdout, stderr io.Writer) (string, error) {
	addr := fs.String("addr", defaultAddr, "the server's address")
	if err := cli.Parse(fs, synopsis, args, stdout, stderr); err != nil {
		return "", err
	}
	switch {
	case fs.NArg() == nargs:
	case nargs == 0:
		return "", cli.BadUsage(fs, synopsis, stderr, fmt.Errorf("unexpected argument %q", fs.Arg(0)))
	default: // every command with arguments takes one
		return "", cli.BadUsage(fs, synopsis, stderr, fmt.Errorf("want one argument, got %d", fs.NArg()))
	}
	return *addr, nil
}

func dial(addr string) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, dialTimeout)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", addr, err)
	}
	return c, nil
}

// request sends req and reads the response header; an error response is
// returned as an error.
func request(c net.Conn, req wire.Request) (wire.Response, error) {
	if _, err := c.Write(wire.AppendRequest(nil, req)); err != nil {
		return wire.Response{}, fmt.Errorf("send request: %w", err)
	}
	resp, err := wire.ReadResponse(c)
	if err != nil {
		return resp, fmt.Errorf("read response: %w", err)
	}
	return resp, resp.Err()
}

const listSynopsis = `usage: fileserver ls [--addr ADDR] [--json]

Lists the library: one file a line, its name, its size in bytes and its
modification time; --json prints the same as a JSON array.`

func runList(args []string, stdout, stderr io.Writer) error {
	fs := pflag.NewFlagSet("fileserver ls", pflag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print JSON")
	addr, err := clientFlags(fs, listSynopsis, args, 0, stdout, stderr)
	if err != nil {
		return err
	}
	c, err := dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	resp, err := request(c, wire.Request{Op: wire.OpList})
	if err != nil {
		return err
	}
	if resp.Size > wire.MaxListBody {
		return fmt.Errorf("listing of %d bytes, over %d", resp.Size, wire.MaxListBody)
	}
	body := make([]byte, resp.Size)
	if _, err := io.ReadFull(c, body); err != nil {
		return fmt.Errorf("connection lost during the listing: %w", err)
	}
	if sha256.Sum256(body) != resp.Sum {
		return errors.New("listing: checksum mismatch")
	}
	entries, err := wire.ParseList(body)
	if err != nil {
		return err
	}
	if *asJSON {
		type entry struct {
			Name    string    `json:"name"`
			Size    uint64    `json:"size"`
			ModTime time.Time `json:"mtime"`
		}
		out := make([]entry, len(entries))
		for i, e := range entries {
			out[i] = entry{e.Name, e.Size, e.ModTime.UTC()}
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	for _, e := range entries {
		fmt.Fprintf(stdout, "%s\t%d\t%s\n", e.Name, e.Size, e.ModTime.UTC().Format(time.RFC3339))
	}
	return nil
}

const getSynopsis = `usage: fileserver get NAME [-o PATH] [--continue] [--addr ADDR]

Downloads NAME to PATH (default: NAME's last element, here). The bytes go to
PATH.part, renamed to PATH only once complete and its SHA-256 verified;
--continue resumes from an existing PATH.part. Over 4 MiB, a progress bar
shows on stderr when it is a terminal (--quiet: none).`

func runGet(args []string, stdout, stderr io.Writer) error {
	fs := pflag.NewFlagSet("fileserver get", pflag.ContinueOnError)
	out := fs.StringP("output", "o", "", "where to write the file")
	resume := fs.Bool("continue", false, "resume from PATH.part")
	quiet := fs.BoolP("quiet", "q", false, "no progress bar")
	addr, err := clientFlags(fs, getSynopsis, args, 1, stdout, stderr)
	if err != nil {
		return err
	}
	name := fs.Arg(0)
	dst := *out
	if dst == "" {
		dst = path.Base(name)
	}
	part := dst + ".part"
	flags := os.O_RDWR | os.O_CREATE | os.O_TRUNC
	if *resume {
		flags = os.O_RDWR | os.O_CREATE
	}
	f, err := os.OpenFile(part, flags, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	// What .part holds already is hashed first: the server's sum is the
	// whole file's.
	h := sha256.New()
	have, err := io.Copy(h, f)
	if err != nil {
		return fmt.Errorf("read %s: %w", part, err)
	}
	c, err := dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	resp, err := request(c, wire.Request{Op: wire.OpGet, Name: name, Arg: uint64(have)})
	if err != nil {
		if !*resume {
			f.Close()
			os.Remove(part)
		}
		return fmt.Errorf("get %q: %w", name, err)
	}
	want := int64(resp.Size - resp.Offset)
	bar := newProgress(stderr, *quiet, name, want)
	got, err := copyN(io.MultiWriter(f, h), c, want, bar)
	bar.finish()
	if err == nil && got < want {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		return fmt.Errorf("get %q: connection lost after %d of %d bytes (%s kept: --continue resumes): %w",
			name, int64(resp.Offset)+got, resp.Size, part, err)
	}
	if sum(h) != resp.Sum {
		f.Close()
		os.Remove(part) // a corrupt .part must not be resumed
		return fmt.Errorf("get %q: checksum mismatch: nothing written", name)
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(part, dst)
}

func sum(h hash.Hash) (s [wire.SumSize]byte) {
	copy(s[:], h.Sum(nil))
	return s
}

const putSynopsis = `usage: fileserver put PATH [--as NAME] [--addr ADDR]

Uploads PATH as NAME (default: PATH's last element). The server makes it
visible only once complete and its SHA-256 verified. Over 4 MiB, a progress
bar shows on stderr when it is a terminal (--quiet: none).`

func runPut(args []string, stdout, stderr io.Writer) error {
	fs := pflag.NewFlagSet("fileserver put", pflag.ContinueOnError)
	as := fs.String("as", "", "the name in the library")
	quiet := fs.BoolP("quiet", "q", false, "no progress bar")
	addr, err := clientFlags(fs, putSynopsis, args, 1, stdout, stderr)
	if err != nil {
		return err
	}
	src := fs.Arg(0)
	name := *as
	if name == "" {
		name = path.Base(src)
	}
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("put %q: not a regular file", src)
	}
	// Hash first, then send with sendfile: the sum goes after the body.
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return fmt.Errorf("read %s: %w", src, err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	c, err := dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	resp, err := request(c, wire.Request{Op: wire.OpPut, Name: name, Arg: uint64(fi.Size())})
	if err != nil {
		return fmt.Errorf("put %q: %w", name, err)
	}
	if resp.Status != wire.StatusContinue {
		return fmt.Errorf("put %q: the server answered %s before the body", name, resp.Status)
	}
	s := sum(h)
	bar := newProgress(stderr, *quiet, name, fi.Size())
	n, err := copyN(c, f, fi.Size(), bar)
	bar.finish()
	if err != nil || n != fi.Size() {
		return fmt.Errorf("put %q: connection lost after %d of %d bytes: %v", name, n, fi.Size(), err)
	}
	if _, err := c.Write(s[:]); err != nil {
		return fmt.Errorf("put %q: %w", name, err)
	}
	resp, err = wire.ReadResponse(c)
	if err == nil {
		err = resp.Err()
	}
	if err != nil {
		return fmt.Errorf("put %q: %w", name, err)
	}
	if resp.Sum != s || resp.Size != uint64(fi.Size()) {
		return fmt.Errorf("put %q: the server stored something else", name)
	}
	return nil
}
