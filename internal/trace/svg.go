package trace

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"unicode/utf8"
)

// Geometry of the SVG diagram, in pixels.
const (
	svgTimeW   = 90  // the time column on the left
	svgColW    = 210 // one lifeline's column
	svgHeadH   = 54  // the lifeline headers
	svgRowH    = 30  // one row
	svgCharW   = 7   // an ASCII character at 12px, roughly
	svgWideW   = 13  // a CJK character at 12px
	svgPadding = 20
)

// SVG writes the events as a self-contained SVG sequence diagram: one
// lifeline per process headed by its role and pid, one arrow per signal
// labelled with its name, printed lines as notes, the time on the left.
func SVG(w io.Writer, events []Event) error {
	lines, rows := layout(events)
	x := func(i int) int { return svgTimeW + i*svgColW + svgColW/2 }
	width := svgTimeW + len(lines)*svgColW + svgPadding
	for _, rw := range rows { // a note may reach past the last column
		if rw.Kind == note {
			width = max(width, x(rw.From)+6+textWidth(rw.Label)+12+svgPadding)
		}
	}
	height := svgHeadH + (len(rows)+1)*svgRowH + svgPadding
	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", width, height, width, height)
	b.WriteString(`<defs><marker id="head" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#333"/></marker></defs>` + "\n")
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", width, height)
	bottom := height - svgPadding
	for i, l := range lines {
		fmt.Fprintf(&b, `<rect x="%d" y="8" width="%d" height="38" rx="4" fill="#eef3fb" stroke="#5b7bb5"/>`+"\n", x(i)-svgColW/2+10, svgColW-20)
		text(&b, x(i), 24, "middle", "bold", l.Role)
		if l.Pid != 0 {
			text(&b, x(i), 40, "middle", "", fmt.Sprintf("pid %d", l.Pid))
		}
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#999" stroke-dasharray="4 3"/>`+"\n", x(i), svgHeadH-8, x(i), bottom)
	}
	text(&b, 8, svgHeadH-12, "start", "bold", "time")
	for r, rw := range rows {
		y := svgHeadH + (r+1)*svgRowH
		text(&b, 8, y+4, "start", "", fmt.Sprintf("%.3fs", rw.T))
		switch rw.Kind {
		case arrow:
			dash := ""
			if rw.Dashed {
				dash = ` stroke-dasharray="6 3"`
			}
			fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#333" marker-end="url(#head)"%s/>`+"\n", x(rw.From), y, x(rw.To), y, dash)
			text(&b, (x(rw.From)+x(rw.To))/2, y-5, "middle", "", rw.Label)
		case note:
			w := textWidth(rw.Label) + 12
			fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="20" fill="#fff8d6" stroke="#c9a227"/>`+"\n", x(rw.From)+6, y-13, w)
			text(&b, x(rw.From)+12, y+2, "start", "", rw.Label)
		case mark:
			fmt.Fprintf(&b, `<circle cx="%d" cy="%d" r="3" fill="#5b7bb5"/>`+"\n", x(rw.From), y)
			text(&b, x(rw.From)+8, y+4, "start", "italic", rw.Label)
		}
	}
	b.WriteString("</svg>\n")
	_, err := w.Write(b.Bytes())
	return err
}

// text writes one escaped <text> element.
func text(b *bytes.Buffer, x, y int, anchor, style, s string) {
	attr := ""
	switch style {
	case "bold":
		attr = ` font-weight="bold"`
	case "italic":
		attr = ` font-style="italic"`
	}
	fmt.Fprintf(b, `<text x="%d" y="%d" text-anchor="%s"%s>`, x, y, anchor, attr)
	xml.EscapeText(b, []byte(s))
	b.WriteString("</text>\n")
}

// textWidth estimates the width of s at 12px: wide runes count double.
func textWidth(s string) int {
	w := 0
	for _, r := range s {
		if utf8.RuneLen(r) >= 3 {
			w += svgWideW
		} else {
			w += svgCharW
		}
	}
	return w
}
