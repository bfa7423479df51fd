package trace

import (
	"fmt"
	"strings"

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
// receiver) is that arrow's arrival and adds no row; a receive with no such
// send came from outside, as does one that names its sender (a stranger:
// its arrow says who). Sends that found no receive were coalesced by the
// kernel: their arrows stay, so a burst shows it.
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
	// Rows with pids in From and To; columns are assigned at the end.
	pending := map[[2]string]bool{} // (receiver pid, signal): a send awaits its delivery
	var rows []row
	add := func(r row) { rows = append(rows, r) }
	for _, e := range events {
		switch e.Event {
		case Spawn:
			if launcher >= 0 && e.Pid != launcher {
				add(row{T: e.T, Kind: arrow, From: launcher, To: e.Pid, Label: "spawn", Dashed: true})
			}
		case Ready:
			add(row{T: e.T, Kind: mark, From: e.Pid, Label: "ready"})
		case Send:
			seen(e.To, "?")
			pending[[2]string{fmt.Sprint(e.To), e.Signal}] = true
			add(row{T: e.T, Kind: arrow, From: e.Pid, To: e.To, Label: e.Signal})
		case Receive:
			key := [2]string{fmt.Sprint(e.Pid), e.Signal}
			if pending[key] && e.From == 0 {
				delete(pending, key) // one delivery answers every send pending: the rest coalesced
				continue
			}
			label := e.Signal
			if e.From != 0 {
				label = fmt.Sprintf("%s from pid %d", e.Signal, e.From) // a stranger: say who
			}
			seen(outside, Outside)
			add(row{T: e.T, Kind: arrow, From: outside, To: e.Pid, Label: label})
		case Print:
			add(row{T: e.T, Kind: note, From: e.Pid, Label: e.Text})
		case Exit:
			add(row{T: e.T, Kind: mark, From: e.Pid, Label: fmt.Sprintf("exit %d", deref(e.Code))})
		case Reap:
			how := fmt.Sprintf("reaped exit=%d", deref(e.Code))
			if e.Signal != "" {
				how = "reaped signal=" + strings.TrimPrefix(e.Signal, "SIG")
			}
			if launcher >= 0 {
				add(row{T: e.T, Kind: arrow, From: e.Pid, To: launcher, Label: how, Dashed: true})
			}
		}
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

func deref(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}
