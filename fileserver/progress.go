package main

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
	progressMin    = 4 << 20                // transfers smaller than this show no bar
	progressChunk  = 1 << 20                // bytes copied between redraws (each chunk still zero-copy)
	progressRedraw = 100 * time.Millisecond // at most this often
	progressWidth  = 30                     // the bar's cells
)

// progress draws a bar on a terminal's stderr; a nil *progress draws
// nothing, so callers need not check.
type progress struct {
	w            io.Writer
	label        string
	total        int64
	done         int64
	start, drawn time.Time
}

// newProgress returns a bar for a transfer of total bytes, or nil when
// quiet, when stderr is not a terminal, or when the transfer is small.
func newProgress(stderr io.Writer, quiet bool, label string, total int64) *progress {
	f, ok := stderr.(*os.File)
	if quiet || !ok || total < progressMin {
		return nil
	}
	if _, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS); err != nil {
		return nil // not a terminal
	}
	return &progress{w: stderr, label: label, total: total, start: time.Now()}
}

// add counts n more bytes and redraws if it is time.
func (p *progress) add(n int64) {
	if p == nil {
		return
	}
	p.done += n
	if time.Since(p.drawn) >= progressRedraw || p.done >= p.total {
		p.draw()
	}
}

func (p *progress) draw() {
	p.drawn = time.Now()
	frac := float64(p.done) / float64(p.total)
	cells := int(frac * progressWidth)
	rate := float64(p.done) / max(time.Since(p.start).Seconds(), 1e-3) / 1e6
	fmt.Fprintf(p.w, "\r%s [%s%s] %3.0f%% %.1f MB/s", p.label,
		strings.Repeat("=", cells), strings.Repeat(" ", progressWidth-cells), frac*100, rate)
}

// finish ends the bar's line.
func (p *progress) finish() {
	if p == nil {
		return
	}
	p.draw()
	fmt.Fprintln(p.w)
}

// copyN copies n bytes from src to dst, in chunks when a bar is shown,
// counting them. A file to the server goes by sendfile (conn.sendFile),
// whose deadline moves on with every byte; anything else by io.Copy.
func copyN(dst io.Writer, src io.Reader, n int64, p *progress) (int64, error) {
	chunk := n
	if p != nil {
		chunk = progressChunk
	}
	var done int64
	for done < n {
		k, err := copyChunk(dst, src, min(chunk, n-done))
		done += k
		p.add(k)
		if err != nil {
			return done, err
		}
		if k == 0 {
			break
		}
	}
	return done, nil
}

func copyChunk(dst io.Writer, src io.Reader, n int64) (int64, error) {
	c, toConn := dst.(*conn)
	f, fromFile := src.(*os.File)
	if toConn && fromFile {
		return c.sendFile(f, n)
	}
	return io.Copy(dst, io.LimitReader(src, n))
}
