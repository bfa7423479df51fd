package trace

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

// The events, as named in the "event" field.
const (
	Spawn   = "spawn"   // a process was started (the launcher: its own start)
	Ready   = "ready"   // a role said its handlers are installed
	Send    = "send"    // a signal was sent; To names the receiver
	Receive = "receive" // a signal arrived
	Print   = "print"   // a line was printed; Text is its text
	Exit    = "exit"    // a role is about to exit with Code
	Reap    = "reap"    // a child was reaped: Code, or Signal if killed
)

var known = map[string]bool{Spawn: true, Ready: true, Send: true, Receive: true, Print: true, Exit: true, Reap: true}

// Event is one line of a trace. Pid and Role name the process the event
// happened in (for reap: the process reaped).
type Event struct {
	T      float64 `json:"t"` // seconds since the launcher started
	Pid    int     `json:"pid"`
	Role   string  `json:"role"`
	Event  string  `json:"event"`
	Signal string  `json:"signal,omitempty"` // "SIGUSR1"
	To     int     `json:"to,omitempty"`     // send: the receiver's pid
	From   int     `json:"from,omitempty"`   // receive: a sender outside the ride, when the role knows it
	Text   string  `json:"text,omitempty"`   // print
	Code   *int    `json:"code,omitempty"`   // exit, reap: the exit code
}

// CodeOf returns a pointer to c, for Event.Code.
func CodeOf(c int) *int { return &c }

// Sort orders events by time, keeping the collected order for equal times.
func Sort(events []Event) {
	slices.SortStableFunc(events, func(a, b Event) int {
		switch {
		case a.T < b.T:
			return -1
		case a.T > b.T:
			return 1
		}
		return 0
	})
}

// Write writes events as JSON Lines, in time order.
func Write(w io.Writer, events []Event) error {
	sorted := slices.Clone(events)
	Sort(sorted)
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	for _, e := range sorted {
		if err := enc.Encode(e); err != nil {
			return fmt.Errorf("write trace: %w", err)
		}
	}
	return bw.Flush()
}

// MaxLine bounds one line of a trace file.
const MaxLine = 64 << 10

// Read reads a trace written by Write.
func Read(r io.Reader) ([]Event, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), MaxLine)
	var events []Event
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.DisallowUnknownFields()
		var e Event
		if err := dec.Decode(&e); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		if dec.More() {
			return nil, fmt.Errorf("line %d: more than one object", n)
		}
		if err := e.check(); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		events = append(events, e)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("a line longer than %d bytes", MaxLine)
		}
		return nil, err
	}
	return events, nil
}

func (e Event) check() error {
	switch {
	case !known[e.Event]:
		return fmt.Errorf("unknown event %q", e.Event)
	case e.Pid <= 0:
		return fmt.Errorf("%s: bad pid %d", e.Event, e.Pid)
	case e.Role == "":
		return fmt.Errorf("%s: no role", e.Event)
	case e.T < 0:
		return fmt.Errorf("%s: negative time", e.Event)
	case (e.Event == Send || e.Event == Receive) && !strings.HasPrefix(e.Signal, "SIG"):
		return fmt.Errorf("%s: bad signal %q", e.Event, e.Signal)
	case e.Event == Send && e.To <= 0:
		return fmt.Errorf("send: bad receiver %d", e.To)
	case e.From < 0 || e.From != 0 && e.Event != Receive:
		return fmt.Errorf("%s: bad sender %d", e.Event, e.From)
	}
	return nil
}
