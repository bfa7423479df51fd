package main

import (
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/sigride/sigride/internal/lineout"
	"github.com/sigride/sigride/internal/vocab"
)

// logger writes the server's lines, each in one write: its log on stderr,
// the master's announcements on stdout. Through a pipe it goes by lineout,
// so an output nobody reads drops lines (each drop counted, and said once
// the output is read again) instead of blocking the master's loop or a
// worker's connections.
type logger struct {
	prefix string
	w      io.Writer
	out    *lineout.Output // nil: w is no file

	mu       sync.Mutex
	reported int // drops already said
}

// newLogger writes lines starting with prefix ("fileserver[PID]: ") to w.
func newLogger(w io.Writer, prefix string) *logger {
	l := &logger{prefix: prefix, w: w}
	if f, ok := w.(*os.File); ok {
		l.out = lineout.New(f)
		l.w = l.out
	}
	return l
}

// logf writes one line; what cannot be written is dropped, never waited
// for more than lineout.Stall.
func (l *logger) logf(format string, a ...any) {
	line := fmt.Appendf([]byte(l.prefix), format, a...)
	line = append(line, '\n')
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.out == nil {
		_, _ = l.w.Write(line) // an in-process writer: nothing to do of an error
		return
	}
	if n := l.out.Dropped(); n > l.reported {
		note := fmt.Appendf([]byte(l.prefix), "%s dropped: the output was not read\n", vocab.Count(n-l.reported, "line"))
		_, _ = l.out.Write(note) // lineout drops, and counts, what it cannot write
		if l.out.Dropped() == n {
			l.reported = n
		}
	}
	_, _ = l.out.Write(line)
}

// close releases lineout's descriptor.
func (l *logger) close() {
	if l.out != nil {
		_ = l.out.Close() // its own descriptor on the pipe: nothing left to flush
	}
}
