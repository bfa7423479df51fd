package main

import (
	"fmt"
	"io"
	"syscall"

	"github.com/sigride/sigride/internal/atomicfile"
	"github.com/sigride/sigride/internal/ride"
	"github.com/sigride/sigride/internal/supervise"
	"github.com/sigride/sigride/internal/trace"
	"github.com/sigride/sigride/internal/vocab"
)

// recorder collects the ride's events for the trace, the diagram and the
// scenario summary. Times are seconds since the launcher started, on the
// CLOCK_MONOTONIC every role stamps its reports with.
type recorder struct {
	start  int64 // ride.Now() when the launcher started
	events []trace.Event
}

func (r *recorder) t(mono int64) float64 { return float64(mono-r.start) / 1e9 }

func (r *recorder) add(mono int64, pid int, role, event string) *trace.Event {
	r.events = append(r.events, trace.Event{T: r.t(mono), Pid: pid, Role: role, Event: event})
	return &r.events[len(r.events)-1]
}

// message records a role's report.
func (r *recorder) message(role string, pid int, m ride.Msg) {
	switch m.Kind {
	case ride.KindReady:
		r.add(m.Mono, pid, role, trace.Ready)
	case ride.KindReceive:
		r.add(m.Mono, pid, role, trace.Receive).Signal = m.Signal
	case ride.KindSend:
		e := r.add(m.Mono, pid, role, trace.Send)
		e.Signal, e.To = m.Signal, m.Pid
	case ride.KindPrint:
		r.add(m.Mono, pid, role, trace.Print).Text = m.Text
	case ride.KindExit:
		r.add(m.Mono, pid, role, trace.Exit).Code = trace.CodeOf(m.Code)
	}
}

// sent records a signal the launcher sent.
func (r *recorder) sent(launcher int, sig syscall.Signal, to int) {
	e := r.add(ride.Now(), launcher, vocab.Launcher, trace.Send)
	e.Signal, e.To = "SIG"+vocab.SignalName(sig), to
}

// reaped records a child reaped.
func (r *recorder) reaped(role string, e supervise.Exit) {
	ev := r.add(ride.Now(), e.Pid, role, trace.Reap)
	if e.Status.Signaled() {
		ev.Signal = "SIG" + vocab.SignalName(e.Status.Signal())
	} else {
		ev.Code = trace.CodeOf(e.Status.ExitStatus())
	}
}

// save writes the trace and the diagram the flags ask for.
func (r *recorder) save(cfg config) error {
	if cfg.trace != "" {
		if err := atomicfile.Write(cfg.trace, func(w io.Writer) error { return trace.Write(w, r.events) }); err != nil {
			return err
		}
	}
	if cfg.diagram != "" {
		return writeDiagram(cfg.diagram, r.events)
	}
	return nil
}

// summary counts, per receiver and signal, what was sent and what arrived,
// and per role and text, the lines printed: what a burst of signals proves.
func (r *recorder) summary() []string {
	type key struct {
		pid  int
		role string
		sig  string
	}
	sent, received := map[key]int{}, map[key]int{}
	var order []key
	roles := map[int]string{}
	for _, e := range r.events {
		roles[e.Pid] = e.Role
	}
	note := func(k key) {
		if sent[k] == 0 && received[k] == 0 {
			order = append(order, k)
		}
	}
	printed := map[[2]string]int{}
	var lines [][2]string
	for _, e := range r.events {
		switch e.Event {
		case trace.Send:
			k := key{e.To, roles[e.To], e.Signal}
			note(k)
			sent[k]++
		case trace.Receive:
			k := key{e.Pid, e.Role, e.Signal}
			note(k)
			received[k]++
		case trace.Print:
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
			out = append(out, fmt.Sprintf("summary: %s to %s[%d]: received %d (sent from outside)", k.sig, k.role, k.pid, received[k]))
			continue
		}
		out = append(out, fmt.Sprintf("summary: %s to %s[%d]: sent %d, received %d", k.sig, k.role, k.pid, sent[k], received[k]))
	}
	for _, k := range lines {
		out = append(out, fmt.Sprintf("summary: %s printed %q %s", k[0], k[1], vocab.Count(printed[k], "time")))
	}
	return out
}
