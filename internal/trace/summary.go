package trace

import (
	"fmt"

	"github.com/sigride/sigride/internal/vocab"
)

// Summary counts what the events prove about a ride, one line a count:
// per receiver and signal, how many were sent and how many arrived (a
// burst shows how standard signals coalesce, and the line says how many
// did), in the order each pair first appears; then per role and text, how many times the line was
// printed. A signal that arrived with no send in the events came from
// outside the ride (a terminal's key, kill in a shell); one whose receive
// names its sender (a role's peer's signal sent by someone else) is
// counted apart, with that sender; one from a process of the trace that
// sent it no signal by name (a child's SIGCHLD, a send to a process group)
// names that process. Failed sends are not counted.
func Summary(events []Event) []string {
	type key struct {
		pid  int
		role string
		sig  string
		from int    // a receive's sender outside the ride; 0 for the rest
		by   string // a receive's Sender: a key, the kernel
	}
	sent, received := map[key]int{}, map[key]int{}
	var order []key
	// A send names its receiver by pid alone; the receiver's own events
	// give its role, wherever they stand.
	roles := map[int]string{}
	senders := map[[2]any]bool{} // (receiver pid, signal) and (sender pid, signal): there was a send
	for _, e := range events {
		roles[e.Pid] = e.Role
		if e.Event == Send && e.Error == "" {
			senders[[2]any{e.To, e.Signal}] = true
			senders[[2]any{e.Pid, e.Signal}] = true
		}
	}
	note := func(k key) {
		if sent[k] == 0 && received[k] == 0 {
			order = append(order, k)
		}
	}
	printed := map[[2]string]int{}
	var lines [][2]string
	for _, e := range events {
		switch e.Event {
		case Send:
			if e.To <= 0 || e.Error != "" {
				continue // a group's receivers count their own; a failed send sent nothing
			}
			k := key{e.To, roles[e.To], e.Signal, 0, ""}
			note(k)
			sent[k]++
		case Receive:
			k := key{e.Pid, e.Role, e.Signal, e.From, e.Sender}
			if e.Sender != "" || senders[[2]any{e.Pid, e.Signal}] && senders[[2]any{e.From, e.Signal}] {
				k.from = 0 // a send of the trace's, to this process or its group
			}
			note(k)
			received[k]++
		case Print:
			k := [2]string{e.Role, e.Text}
			if printed[k] == 0 {
				lines = append(lines, k)
			}
			printed[k]++
		}
	}
	var out []string
	for _, k := range order {
		if sent[k] == 0 {
			by := "sent from outside"
			switch role, ok := roles[k.from]; {
			case k.by == SenderKey:
				by = "from a key"
			case k.by == SenderKernel:
				by = "from the kernel"
			case ok && k.from != 0:
				by = fmt.Sprintf("from %s[%d]", role, k.from) // a child's SIGCHLD, a send to a group
			case k.from != 0:
				by += fmt.Sprintf(", by pid %d", k.from)
			}
			out = append(out, fmt.Sprintf("%s to %s[%d]: received %d (%s)", k.sig, k.role, k.pid, received[k], by))
			continue
		}
		line := fmt.Sprintf("%s to %s[%d]: sent %d, received %d", k.sig, k.role, k.pid, sent[k], received[k])
		if n := sent[k] - received[k]; n > 0 && received[k] > 0 {
			// The receiver takes this signal, and nothing it was given is
			// dropped: the rest were sent while one was pending and merged
			// into it (a standard signal pends once), or came too late.
			line += fmt.Sprintf(" (%d coalesced, or still pending at the end)", n)
		}
		out = append(out, line)
	}
	for _, k := range lines {
		out = append(out, fmt.Sprintf("%s printed %q %s", k[0], k[1], vocab.Count(printed[k], "time")))
	}
	return out
}
