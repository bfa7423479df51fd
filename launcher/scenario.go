package main

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sigride/sigride/internal/scenario"
	"github.com/sigride/sigride/internal/supervise"
	"github.com/sigride/sigride/internal/vocab"
)

// observation is what the runner learns from the loop: a line printed (by a
// role, or the launcher's own), or a role reaped.
type observation struct {
	role   string
	text   string // a line
	reaped *supervise.Exit
}

// inbox carries observations from the loop to the runner. The loop pushes
// without ever blocking; the runner takes them all at once.
type inbox struct {
	mu     sync.Mutex
	items  []observation
	notify chan struct{} // holds one token while items waits to be taken
}

func newInbox() *inbox { return &inbox{notify: make(chan struct{}, 1)} }

func (q *inbox) push(o observation) {
	q.mu.Lock()
	q.items = append(q.items, o)
	q.mu.Unlock()
	select {
	case q.notify <- struct{}{}:
	default:
	}
}

func (q *inbox) take() []observation {
	q.mu.Lock()
	defer q.mu.Unlock()
	items := q.items
	q.items = nil
	return items
}

// action asks the loop, which owns the children, to signal one.
type action struct {
	step  scenario.Step
	reply chan error
}

// runner runs a scenario's steps in order, in its own goroutine.
type runner struct {
	steps  []scenario.Step
	in     *inbox
	acts   chan<- action
	say    func(string) // a launcher line that is no observation
	lines  map[string][]string
	cursor map[string]int // per role: lines before it were matched or passed
	reaped map[string]supervise.Exit
}

// run runs every step and returns the first that did not hold, as
// "FILE:LINE: what was expected, what happened".
func (r *runner) run() error {
	r.lines, r.cursor, r.reaped = map[string][]string{}, map[string]int{}, map[string]supervise.Exit{}
	for _, s := range r.steps {
		t0 := time.Now()
		err := r.do(s)
		took := time.Since(t0).Round(time.Microsecond)
		if err != nil {
			r.say(fmt.Sprintf("step %s %s: FAILED after %v", s.Where(), s, took))
			return fmt.Errorf("%s: %w", s.Where(), err)
		}
		r.say(fmt.Sprintf("step %s %s: ok in %v", s.Where(), s, took))
	}
	return nil
}

func (r *runner) do(s scenario.Step) error {
	switch s.Kind {
	case scenario.Send, scenario.Kill, scenario.Press:
		reply := make(chan error, 1)
		r.acts <- action{step: s, reply: reply}
		return <-reply
	case scenario.Sleep:
		time.Sleep(s.Dur)
		return nil
	case scenario.ExpectLine:
		return r.await(s, func() bool {
			seen := r.lines[s.Role]
			for i := r.cursor[s.Role]; i < len(seen); i++ {
				if matches(seen[i], s.Text) {
					r.cursor[s.Role] = i + 1
					return true
				}
			}
			return false
		}, func() string {
			seen := r.lines[s.Role][r.cursor[s.Role]:]
			got := s.Role + " printed nothing"
			if len(seen) > 0 {
				q := make([]string, len(seen))
				for i, l := range seen {
					q[i] = strconv.Quote(l)
				}
				got = s.Role + " printed " + strings.Join(q, ", ")
			}
			if e, ok := r.reaped[s.Role]; ok {
				got += fmt.Sprintf(" and was reaped (%s)", e)
			}
			return fmt.Sprintf("expected %s %q within %v; %s", s.Role, s.Text, s.Dur, got)
		})
	case scenario.ExpectExit, scenario.ExpectReaped:
		want := fmt.Sprintf("exit=%d", s.Code)
		if s.Kind == scenario.ExpectReaped && s.Signal != 0 {
			want = "signal=" + vocab.SignalName(s.Signal)
		}
		var wrong error
		err := r.await(s, func() bool {
			e, ok := r.reaped[s.Role]
			if ok && e.String() != want {
				wrong = fmt.Errorf("expected %s reaped with %s; it was reaped with %s", s.Role, want, e)
			}
			return ok
		}, func() string {
			return fmt.Sprintf("expected %s reaped with %s within %v; it is still running", s.Role, want, s.Dur)
		})
		if err != nil {
			return err
		}
		return wrong
	}
	return fmt.Errorf("unknown step %q", s.Kind)
}

// await waits, up to the step's time, until held reports true, taking in
// observations as they come. On time out it fails with what failed says.
func (r *runner) await(s scenario.Step, held func() bool, failed func() string) error {
	deadline := time.NewTimer(s.Dur)
	defer deadline.Stop()
	for {
		r.absorb()
		if held() {
			return nil
		}
		select {
		case <-r.in.notify:
		case <-deadline.C:
			// One last look: an observation may have come with the deadline.
			if r.absorb(); held() {
				return nil
			}
			return fmt.Errorf("%s", failed())
		}
	}
}

// absorb takes in every observation waiting.
func (r *runner) absorb() {
	for _, o := range r.in.take() {
		if o.reaped != nil {
			r.reaped[o.role] = *o.reaped
		} else {
			r.lines[o.role] = append(r.lines[o.role], o.text)
		}
	}
}

// matches reports whether a line's text is what an expect step names: the
// whole text, or its first words (the launcher's lines end with pids).
func matches(line, want string) bool {
	return line == want || strings.HasPrefix(line, want+" ")
}
