package cli

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Progress bar settings.
const (
	barMin    = 4 << 20                // transfers smaller than this show no bar
	barRedraw = 100 * time.Millisecond // at most this often
	barWidth  = 30                     // the bar's cells
)

// Bar draws a transfer's progress on a terminal's stderr, one line
// redrawn in place. It is told of the transfer by Begin, Add and End (a
// fileclient.Progress). A nil *Bar draws nothing: Begin says so.
type Bar struct {
	w            io.Writer
	label        string
	total        int64
	done         int64
	start, drawn time.Time
}

// NewBar returns a bar labelled label, or nil when quiet or when stderr
// is not a terminal.
func NewBar(stderr io.Writer, quiet bool, label string) *Bar {
	f, ok := stderr.(*os.File)
	if quiet || !ok {
		return nil
	}
	if _, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS); err != nil {
		return nil // not a terminal
	}
	return &Bar{w: stderr, label: label}
}

// Begin starts a transfer of total bytes and says whether the bar will
// show it: not when nil, nor for a small transfer.
func (b *Bar) Begin(total int64) bool {
	if b == nil || total < barMin {
		return false
	}
	b.total, b.done, b.start = total, 0, time.Now()
	return true
}

// Add counts n more bytes and redraws if it is time.
func (b *Bar) Add(n int64) {
	b.done += n
	if time.Since(b.drawn) >= barRedraw || b.done >= b.total {
		b.draw()
	}
}

// End draws the last state and ends the bar's line.
func (b *Bar) End() {
	b.draw()
	fmt.Fprintln(b.w)
}

func (b *Bar) draw() {
	b.drawn = time.Now()
	frac := float64(b.done) / float64(b.total)
	cells := int(frac * barWidth)
	rate := float64(b.done) / max(time.Since(b.start).Seconds(), 1e-3) / 1e6
	fmt.Fprintf(b.w, "\r%s [%s%s] %3.0f%% %.1f MB/s", b.label,
		strings.Repeat("=", cells), strings.Repeat(" ", barWidth-cells), frac*100, rate)
}
