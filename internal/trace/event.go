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
	Spawn   = "spawn"   // a process was started (the launcher: its own start); Parent made it, in a program
	Exec    = "exec"    // a process of a program runs a new program: Text is its path
	Ready   = "ready"   // a role said its handlers are installed (a program's: was recognised)
	Send    = "send"    // a signal was sent; To names the receiver, or Group its process group
	Receive = "receive" // a signal arrived
	Stop    = "stop"    // a process of a program stopped, by Signal (job control)
	Print   = "print"   // a line was printed; Text is its text
	Exit    = "exit"    // a role is about to exit with Code; a program's process ended (Code or Signal)
	Reap    = "reap"    // a child was reaped: Code, or Signal if killed; By reaped it, in a program
)

var known = map[string]bool{Spawn: true, Exec: true, Ready: true, Send: true, Receive: true, Stop: true, Print: true, Exit: true, Reap: true}

// Sender names a signal's sender when no process sent it.
const (
	SenderKey    = "key"    // a terminal's key (^C, ^\, ^Z), or a scenario's press standing for it
	SenderKernel = "kernel" // the kernel's own doing
)

// Fates: what a process of a program did with a signal it took.
const (
	Handled    = "handled"     // a handler of its own ran
	Sigwait    = "sigwait"     // it took the signal with sigwait/sigwaitinfo
	Ignored    = "ignored"     // SIG_IGN, or a default that ignores
	Terminated = "terminated"  // the default action ended it
	Dumped     = "core dumped" // the default action ended it, with a core dump
	Stopped    = "stopped"     // the default action stopped it
	Continued  = "continued"   // SIGCONT's default
)

// Event is one line of a trace. Pid and Role name the process the event
// happened in (for reap: the process reaped).
//
// Our own roles report what they know; a program's ride (launcher -- CMD)
// is traced, and says more: who sent each signal and what became of it,
// who forked and who reaped each process, how long it was a zombie.
type Event struct {
	T      float64  `json:"t"` // seconds since the launcher started
	Pid    int      `json:"pid"`
	Role   string   `json:"role"`
	Event  string   `json:"event"`
	Signal string   `json:"signal,omitempty"` // "SIGUSR1"
	To     int      `json:"to,omitempty"`     // send: the receiver's pid
	Group  int      `json:"group,omitempty"`  // send: the receivers' process group, for kill(-PGID)
	Error  string   `json:"error,omitempty"`  // send: why the call failed ("ESRCH")
	From   int      `json:"from,omitempty"`   // receive: the sender's pid (our roles: only a stranger's)
	Sender string   `json:"sender,omitempty"` // receive: "key" or "kernel", when no process sent it
	Fate   string   `json:"fate,omitempty"`   // receive, in a program: handled, sigwait, ignored, terminated...
	Text   string   `json:"text,omitempty"`   // print; exec: the program's path
	Code   *int     `json:"code,omitempty"`   // exit, reap: the exit code
	Parent int      `json:"parent,omitempty"` // spawn, in a program: the process that made it
	By     int      `json:"by,omitempty"`     // reap, in a program: the process that reaped it
	Zombie *float64 `json:"zombie,omitempty"` // reap, in a program: seconds from its end to its reap
}

// SecondsOf returns a pointer to s, for Event.Zombie.
func SecondsOf(s float64) *float64 { return &s }

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
	case e.Event == Send && (e.To == 0) == (e.Group == 0):
		return fmt.Errorf("send: want one of to and group, got %d and %d", e.To, e.Group)
	case e.Event == Send && (e.To < -1 || e.Group < 0):
		return fmt.Errorf("send: bad receiver %d or group %d", e.To, e.Group)
	case e.From < 0 || e.From != 0 && e.Event != Receive:
		return fmt.Errorf("%s: bad sender %d", e.Event, e.From)
	case e.Sender != "" && (e.Event != Receive || e.Sender != SenderKey && e.Sender != SenderKernel):
		return fmt.Errorf("%s: bad sender %q", e.Event, e.Sender)
	case e.Parent < 0 || e.Parent != 0 && e.Event != Spawn:
		return fmt.Errorf("%s: bad parent %d", e.Event, e.Parent)
	case e.By < 0 || e.By != 0 && e.Event != Reap:
		return fmt.Errorf("%s: bad reaper %d", e.Event, e.By)
	case e.Zombie != nil && (*e.Zombie < 0 || e.Event != Reap):
		return fmt.Errorf("%s: bad zombie time", e.Event)
	case e.Event == Stop && !strings.HasPrefix(e.Signal, "SIG"):
		return fmt.Errorf("stop: bad signal %q", e.Signal)
	}
	return nil
}
