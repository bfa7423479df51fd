package trace

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// Mermaid writes the events as Mermaid sequenceDiagram text: the same
// diagram as SVG, with the time in each label.
func Mermaid(w io.Writer, events []Event) error {
	lines, rows := layout(events)
	bw := bufio.NewWriter(w)
	fmt.Fprintln(bw, "sequenceDiagram")
	for i, l := range lines {
		fmt.Fprintf(bw, "    participant P%d as %s\n", i, mermaidText(l.title()))
	}
	for _, r := range rows {
		label := mermaidText(fmt.Sprintf("%s (%.3fs)", r.Label, r.T))
		switch r.Kind {
		case arrow:
			op := "->>"
			if r.Dashed {
				op = "-->>"
			}
			fmt.Fprintf(bw, "    P%d%sP%d: %s\n", r.From, op, r.To, label)
		case note:
			fmt.Fprintf(bw, "    Note right of P%d: %s\n", r.From, label)
		case mark:
			fmt.Fprintf(bw, "    Note over P%d: %s\n", r.From, label)
		}
	}
	return bw.Flush()
}

// mermaidText escapes what Mermaid would read as syntax: # starts an entity,
// ; ends a statement, and a line must not break.
var mermaidText = strings.NewReplacer("#", "#35;", ";", "#59;", "\n", " ", "\r", " ").Replace
