package lineout

import (
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/sigride/sigride/internal/vocab"
)

// Logger writes a program's log, a line at a time, each line starting with
// its prefix. On a file (a pipe, a terminal) it goes by an Output, so an
// output nobody reads drops lines (each drop counted, and said in one line
// once the output is read again) instead of blocking the program: a file
// server's master loop or a worker's connections.
type Logger struct {
	prefix string
	w      io.Writer
	out    *Output // nil: w is no file
	own    bool    // out was opened here: Close closes it

	mu       sync.Mutex
	reported int // drops already said
}

// NewLogger writes lines starting with prefix ("fileserver[PID]: ") to w:
// a file through an Output of its own, an Output as it is.
func NewLogger(w io.Writer, prefix string) *Logger {
	l := &Logger{prefix: prefix, w: w}
	switch w := w.(type) {
	case *os.File:
		l.out, l.own = New(w), true
		l.w = l.out
	case *Output:
		l.out = w
	}
	return l
}

// Logf writes one line; what cannot be written is dropped, never waited
// for more than Stall.
func (l *Logger) Logf(format string, a ...any) {
	line := fmt.Appendf([]byte(l.prefix), format, a...)
	line = append(line, '\n')
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.out == nil {
		_, _ = l.w.Write(line) // an in-process writer: nothing to do of an error
		return
	}
	if n := l.out.Dropped(); n > l.reported {
		note := fmt.Appendf([]byte(l.prefix), "%s dropped: %s\n", vocab.Count(n-l.reported, "line"), l.out.Why("the output"))
		_, _ = l.out.Write(note) // lineout drops, and counts, what it cannot write
		if l.out.Dropped() == n {
			l.reported = n
		}
	}
	_, _ = l.out.Write(line)
}

// Close releases the Output's descriptor, if NewLogger opened it.
func (l *Logger) Close() {
	if l.own {
		_ = l.out.Close() // its own descriptor on the pipe: nothing left to flush
	}
}
