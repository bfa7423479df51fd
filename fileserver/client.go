package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"time"

	"github.com/spf13/pflag"

	"github.com/sigride/sigride/internal/cli"
	"github.com/sigride/sigride/internal/fileclient"
)

// defaultTimeout is how long a client command waits for a byte to move:
// to connect, for an answer, and at every point of a transfer. It bounds
// silence, not a transfer's length: a large file on a slow link is fine as
// long as bytes keep moving.
const defaultTimeout = 30 * time.Second

// clientFlags parses a client command's flags, with --addr and --timeout,
// and checks the number of arguments.
func clientFlags(fs *pflag.FlagSet, synopsis string, args []string, nargs int, stdout, stderr io.Writer) (fileclient.Client, error) {
	var cl fileclient.Client
	fs.StringVar(&cl.Addr, "addr", defaultAddr, "the server's address")
	fs.DurationVar(&cl.Timeout, "timeout", defaultTimeout, "give up when no byte moves for this long (connecting, waiting for an answer, in a transfer)")
	if err := cli.Parse(fs, synopsis, args, stdout, stderr); err != nil {
		return cl, err
	}
	switch {
	case cl.Timeout <= 0:
		return cl, cli.BadUsage(fs, synopsis, stderr, fmt.Errorf("--timeout %v: must be positive", cl.Timeout))
	case fs.NArg() == nargs:
	case nargs == 0:
		return cl, cli.BadUsage(fs, synopsis, stderr, fmt.Errorf("unexpected argument %q", fs.Arg(0)))
	default: // every command with arguments takes one
		return cl, cli.BadUsage(fs, synopsis, stderr, fmt.Errorf("want one argument, got %d", fs.NArg()))
	}
	return cl, nil
}

// oneLine reports err as OP: ERR, and a timeout as just OP: no answer from
// ADDR for DUR, whatever it interrupted.
func oneLine(op string, err error) error {
	var se *fileclient.SilenceError
	if errors.As(err, &se) {
		return fmt.Errorf("%s: %w", op, se)
	}
	return fmt.Errorf("%s: %w", op, err)
}

const listSynopsis = `usage: fileserver ls [--addr ADDR] [--json] [--timeout DUR]

Lists the library: one file a line, its name, its size in bytes and its
modification time; --json prints the same as a JSON array. A name with a
character that does not print (a control character, a newline, a
terminal escape) or that starts with a double quote is printed quoted and
escaped, as a Go string literal ("a\nb"), never raw. No answer within
--timeout: exit 1.`

func runList(args []string, stdout, stderr io.Writer) error {
	fs := pflag.NewFlagSet("fileserver ls", pflag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print JSON")
	cl, err := clientFlags(fs, listSynopsis, args, 0, stdout, stderr)
	if err != nil {
		return err
	}
	entries, err := cl.List()
	if err != nil {
		return oneLine("ls", err)
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
		fmt.Fprintf(stdout, "%s\t%d\t%s\n", fileclient.Printable(e.Name), e.Size, e.ModTime.UTC().Format(time.RFC3339))
	}
	return nil
}

const getSynopsis = `usage: fileserver get NAME [-o PATH] [--continue] [--addr ADDR] [--timeout DUR]

Downloads NAME to PATH (default: NAME's last element, here). The bytes go to
PATH.part, renamed to PATH only once complete and its SHA-256 verified;
--continue resumes from an existing PATH.part. Over 4 MiB, a progress bar
shows on stderr when it is a terminal (--quiet: none).

What is at PATH decides how it is written: a new name or a regular file is
replaced as above (through a symlink, its target: the link stays); "-" is
stdout; a FIFO, a character device or /dev/stdout is written into as the
bytes come, never replaced: the SHA-256 is checked at the end and a
mismatch exits 1 after the bytes went out (--continue is refused there; a
FIFO with no reader is an error). Anything else (a directory, a socket, a
dangling symlink) is refused. PATH.part must be a regular file: a symlink
there is refused, not followed.

--timeout bounds silence: connecting, the answer, and every moment of the
transfer (no byte for DUR: exit 1, PATH.part kept for --continue).`

func runGet(args []string, stdout, stderr io.Writer) error {
	fs := pflag.NewFlagSet("fileserver get", pflag.ContinueOnError)
	out := fs.StringP("output", "o", "", "where to write the file; - for stdout")
	resume := fs.Bool("continue", false, "resume from PATH.part")
	quiet := fs.BoolP("quiet", "q", false, "no progress bar")
	cl, err := clientFlags(fs, getSynopsis, args, 1, stdout, stderr)
	if err != nil {
		return err
	}
	name := fs.Arg(0)
	dst := *out
	if dst == "" {
		dst = path.Base(name)
	}
	if dst == "-" && *resume {
		return cli.BadUsage(fs, getSynopsis, stderr, errors.New("--continue with -o -: stdout has nothing to resume"))
	}
	to := fileclient.Dest{Path: dst, Resume: *resume, Stdout: stdout}
	if err := cl.Get(name, to, cli.NewBar(stderr, *quiet, name)); err != nil {
		return oneLine(fmt.Sprintf("get %q", name), err)
	}
	return nil
}

const putSynopsis = `usage: fileserver put PATH [--as NAME] [--addr ADDR] [--timeout DUR]

Uploads PATH as NAME (default: PATH's last element). The server makes it
visible only once complete and its SHA-256 verified. Over 4 MiB, a progress
bar shows on stderr when it is a terminal (--quiet: none). --timeout bounds
silence: connecting, each answer, and every moment of the upload (the
server taking no byte for DUR: exit 1).`

func runPut(args []string, stdout, stderr io.Writer) error {
	fs := pflag.NewFlagSet("fileserver put", pflag.ContinueOnError)
	as := fs.String("as", "", "the name in the library")
	quiet := fs.BoolP("quiet", "q", false, "no progress bar")
	cl, err := clientFlags(fs, putSynopsis, args, 1, stdout, stderr)
	if err != nil {
		return err
	}
	src := fs.Arg(0)
	name := *as
	if name == "" {
		name = path.Base(src)
	}
	if err := cl.PutFile(src, name, cli.NewBar(stderr, *quiet, name)); err != nil {
		return oneLine(fmt.Sprintf("put %q", name), err)
	}
	return nil
}
