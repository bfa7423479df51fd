package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/pflag"

	"github.com/sigride/sigride/internal/atomicfile"
	"github.com/sigride/sigride/internal/cli"
	"github.com/sigride/sigride/internal/trace"
)

const diagramSynopsis = `usage: launcher diagram TRACE -o FILE.svg|FILE.mmd

Renders a trace written by --trace as a sequence diagram: SVG for a name
ending in .svg, Mermaid text for .mmd.`

// diagramFormat is "svg" or "mmd" by the file's name, "" for neither.
func diagramFormat(path string) string {
	switch {
	case strings.HasSuffix(path, ".svg"):
		return "svg"
	case strings.HasSuffix(path, ".mmd"):
		return "mmd"
	}
	return ""
}

// writeDiagram writes events to path, in the format its name says.
func writeDiagram(path string, events []trace.Event) error {
	render := trace.SVG
	if diagramFormat(path) == "mmd" {
		render = trace.Mermaid
	}
	return atomicfile.Write(path, func(w io.Writer) error { return render(w, events) })
}

// runDiagram is "launcher diagram TRACE -o FILE".
func runDiagram(args []string, stdout, stderr io.Writer) error {
	fs := pflag.NewFlagSet("launcher diagram", pflag.ContinueOnError)
	out := fs.StringP("output", "o", "", "the diagram to write: FILE.svg or FILE.mmd")
	if err := cli.Parse(fs, diagramSynopsis, args, stdout, stderr); err != nil {
		return err
	}
	switch {
	case fs.NArg() != 1:
		return cli.BadUsage(fs, diagramSynopsis, stderr, fmt.Errorf("want one trace file, got %d arguments", fs.NArg()))
	case *out == "":
		return cli.BadUsage(fs, diagramSynopsis, stderr, fmt.Errorf("-o FILE is required"))
	case diagramFormat(*out) == "":
		return cli.BadUsage(fs, diagramSynopsis, stderr, fmt.Errorf("-o %s: the name must end in .svg or .mmd", *out))
	}
	f, err := os.Open(fs.Arg(0))
	if err != nil {
		return fmt.Errorf("read trace: %w", err)
	}
	defer f.Close()
	events, err := trace.Read(f)
	if err != nil {
		return fmt.Errorf("read trace %s: %w", fs.Arg(0), err)
	}
	return writeDiagram(*out, events)
}
