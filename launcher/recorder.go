package main

import (
	"io"
	"syscall"

	"github.com/sigride/sigride/internal/atomicfile"
	"github.com/sigride/sigride/internal/ride"
	"github.com/sigride/sigride/internal/supervise"
	"github.com/sigride/sigride/internal/trace"
	"github.com/sigride/sigride/internal/vocab"
)

// recorder collects the ride's events for the trace, the diagram and the
// scenario's summary (trace.Summary). Times are seconds since the launcher
// started, on the CLOCK_MONOTONIC every role stamps its reports with.
type recorder struct {
	start   int64 // ride.Now() when the launcher started
	events  []trace.Event
	dropped int         // events past maxEvents, counted, not kept
	spare   trace.Event // where an event not kept is written, and forgotten
}

// maxEvents bounds the events a ride keeps: a program that prints in a
// loop makes one a line, and a trace, like the memory that holds it, must
// end somewhere. Past it events are counted (the launcher says how many
// on stderr), not kept.
const maxEvents = 100_000

func (r *recorder) t(mono int64) float64 { return float64(mono-r.start) / 1e9 }

func (r *recorder) add(mono int64, pid int, role, event string) *trace.Event {
	if len(r.events) >= maxEvents {
		r.dropped++
		r.spare = trace.Event{}
		return &r.spare
	}
	r.events = append(r.events, trace.Event{T: r.t(mono), Pid: pid, Role: role, Event: event})
	return &r.events[len(r.events)-1]
}

// message records a role's report.
func (r *recorder) message(role string, pid int, m ride.Msg) {
	switch m.Kind {
	case ride.KindReady:
		r.add(m.Mono, pid, role, trace.Ready)
	case ride.KindReceive:
		e := r.add(m.Mono, pid, role, trace.Receive)
		e.Signal, e.From = m.Signal, m.Pid
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

// received records a signal the launcher took itself.
func (r *recorder) received(launcher int, sig syscall.Signal) {
	r.add(ride.Now(), launcher, vocab.Launcher, trace.Receive).Signal = "SIG" + vocab.SignalName(sig)
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
