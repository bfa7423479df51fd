package trace

import (
	"fmt"
	"path"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/sigride/sigride/internal/vocab"
)

// Outside is the lifeline of signals whose sender is not in the trace: the
// terminal's keys and kill(1) from a shell.
const Outside = "terminal / kill"

// lifeline is one column of the diagram: a process, or Outside (Pid 0).
type lifeline struct {
	Role string
	Pid  int
}

func (l lifeline) title() string {
	if l.Pid == 0 {
		return l.Role
	}
	return fmt.Sprintf("%s %d", l.Role, l.Pid)
}

type rowKind int

const (
	arrow rowKind = iota // From -> To, labelled
	note                 // a printed line, beside From
	mark                 // a state on From: ready, exit
)

// row is one step down the diagram.
type row struct {
	T        float64
	Kind     rowKind
	From, To int // lifeline indexes
	Label    string
	Dashed   bool // spawn and reap: the launcher's doing, not a signal
}

// layout turns events into lifelines and rows. Every send is an arrow from
// its sender; a receive matching an earlier send (same signal, same
// receiver, and the same sender when the receive names one) is that
// arrow's arrival and adds no row, but a mark when it did not run a
// handler (ignored, terminated, stopped). A receive from a process in the
// trace with no send to match (a send to a whole process group, a child's
// SIGCHLD) is an arrow from that process; one from a key, the kernel or a
// sender outside the trace (a stranger: its arrow says who) comes from
// Outside. Sends that found no receive were coalesced by the kernel: their
// arrows stay, so a burst shows it.
func layout(events []Event) ([]lifeline, []row) {
	events = append([]Event(nil), events...)
	Sort(events)
	const outside = 0 // the pid of the Outside lifeline
	roles := map[int]string{}
	order := []int{} // pids in order of appearance
	seen := func(pid int, role string) {
		if _, ok := roles[pid]; !ok {
			roles[pid] = role
			order = append(order, pid)
		}
	}
	launcher := -1
	for _, e := range events {
		if e.Role == vocab.Launcher && launcher < 0 {
			launcher = e.Pid
		}
		seen(e.Pid, e.Role)
	}
	type sendKey struct {
		pid int // the receiver; for a group: the sender
		sig string
	}
	pending := map[sendKey]map[int]bool{} // a send awaits its delivery: its senders
	group := map[sendKey]bool{}           // a process sent this signal to a process group
	parent := map[int]int{}               // who made each process, as its spawn says
	var rows []row
	add := func(r row) { rows = append(rows, r) }
	for _, e := range events {
		switch e.Event {
		case Spawn:
			parent[e.Pid] = e.Parent
			switch {
			case e.Parent != 0 && e.Parent != launcher:
				seen(e.Parent, "?")
				add(row{T: e.T, Kind: arrow, From: e.Parent, To: e.Pid, Label: "fork", Dashed: true})
			case launcher >= 0 && e.Pid != launcher:
				add(row{T: e.T, Kind: arrow, From: launcher, To: e.Pid, Label: "spawn", Dashed: true})
			}
		case Exec:
			add(row{T: e.T, Kind: mark, From: e.Pid, Label: "exec " + path.Base(e.Text)})
		case Ready:
			add(row{T: e.T, Kind: mark, From: e.Pid, Label: "ready"})
		case Send:
			label := e.Signal
			if e.Error != "" {
				label += " failed: " + e.Error
			}
			switch {
			case e.Group != 0:
				if e.Error == "" {
					group[sendKey{e.Pid, e.Signal}] = true
				}
				label = fmt.Sprintf("%s to process group %d", e.Signal, e.Group)
				if e.Error != "" {
					label += " failed: " + e.Error
				}
				add(row{T: e.T, Kind: mark, From: e.Pid, Label: label})
			case e.To < 0:
				add(row{T: e.T, Kind: mark, From: e.Pid, Label: e.Signal + " to every process it may signal"})
			case e.Error != "" && roles[e.To] == "":
				add(row{T: e.T, Kind: mark, From: e.Pid, Label: fmt.Sprintf("%s to pid %d failed: %s", e.Signal, e.To, e.Error)})
			default:
				seen(e.To, "?")
				if e.Error == "" {
					k := sendKey{e.To, e.Signal}
					if pending[k] == nil {
						pending[k] = map[int]bool{}
					}
					pending[k][e.Pid] = true
				}
				add(row{T: e.T, Kind: arrow, From: e.Pid, To: e.To, Label: label})
			}
		case Receive:
			k := sendKey{e.Pid, e.Signal}
			if senders := pending[k]; senders != nil && (e.From == 0 && e.Sender == "" || senders[e.From]) {
				delete(pending, k) // one delivery answers every send pending: the rest coalesced
				if e.Fate != "" && e.Fate != Handled && e.Fate != Sigwait {
					add(row{T: e.T, Kind: mark, From: e.Pid, Label: e.Signal + " " + e.Fate})
				}
				continue
			}
			label := e.Signal + fateSuffix(e.Fate)
			_, known := roles[e.From]
			switch {
			case e.Sender == SenderKey:
				key := vocab.KeyOf(unix.SignalNum(e.Signal))
				if key == "" {
					key = "a key"
				}
				label = e.Signal + " (" + key + ")" + fateSuffix(e.Fate)
			case e.Sender == SenderKernel:
				label = e.Signal + " from the kernel" + fateSuffix(e.Fate)
			case e.From != 0 && (group[sendKey{e.From, e.Signal}] || known && e.From != e.Pid):
				add(row{T: e.T, Kind: arrow, From: e.From, To: e.Pid, Label: label})
				continue
			case e.From != 0:
				label = fmt.Sprintf("%s from pid %d", e.Signal, e.From) + fateSuffix(e.Fate) // a stranger: say who
			}
			seen(outside, Outside)
			add(row{T: e.T, Kind: arrow, From: outside, To: e.Pid, Label: label})
		case Stop:
			add(row{T: e.T, Kind: mark, From: e.Pid, Label: "stopped by " + e.Signal})
		case Print:
			add(row{T: e.T, Kind: note, From: e.Pid, Label: e.Text})
		case Exit:
			label := fmt.Sprintf("exit %d", deref(e.Code))
			if e.Signal != "" {
				label = "killed by " + e.Signal
			}
			add(row{T: e.T, Kind: mark, From: e.Pid, Label: label})
		case Reap:
			how := fmt.Sprintf("reaped exit=%d", deref(e.Code))
			if e.Signal != "" {
				how = "reaped signal=" + strings.TrimPrefix(e.Signal, "SIG")
			}
			if e.Zombie != nil && *e.Zombie >= zombieShown {
				how += fmt.Sprintf(", a zombie %.3fs", *e.Zombie)
			}
			by := launcher
			if e.By != 0 {
				seen(e.By, "?")
				by = e.By
				if p := parent[e.Pid]; p != 0 && p != e.By {
					how += ", an orphan" // its parent ended first: its reaper adopted it
				}
			}
			if by >= 0 {
				add(row{T: e.T, Kind: arrow, From: e.Pid, To: by, Label: how, Dashed: true})
			}
		}
	}
	if len(rows) > MaxRows {
		// A diagram must end somewhere: a program that prints in a loop
		// would draw for ever. The trace has every event.
		more := len(rows) - MaxRows
		rows = append(rows[:MaxRows:MaxRows], row{T: rows[MaxRows].T, Kind: mark, From: rows[MaxRows].From,
			Label: fmt.Sprintf("… %d more rows not drawn: the trace has them", more)})
	}
	// Columns: Outside first when used, then the launcher, then the rest in
	// order of appearance.
	column := map[int]int{}
	var lines []lifeline
	place := func(pid int) {
		if _, ok := roles[pid]; ok {
			if _, done := column[pid]; !done {
				column[pid] = len(lines)
				lines = append(lines, lifeline{Role: roles[pid], Pid: pid})
			}
		}
	}
	place(outside)
	place(launcher)
	for _, pid := range order {
		place(pid)
	}
	for i := range rows {
		rows[i].From, rows[i].To = column[rows[i].From], column[rows[i].To]
	}
	return lines, rows
}

// MaxRows bounds the rows of a diagram; past it, one says how many more
// there were.
const MaxRows = 2000

// zombieShown is the shortest time as a zombie a reap's arrow tells: a
// parent that waits takes its child within a millisecond or so.
const zombieShown = 0.01

// fateSuffix says on an arrow what its receiver did with the signal, when
// it ran no handler of its own.
func fateSuffix(fate string) string {
	if fate == "" || fate == Handled || fate == Sigwait {
		return ""
	}
	return " (" + fate + ")"
}

func deref(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}
