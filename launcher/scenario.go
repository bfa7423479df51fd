package main

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sigride/sigride/internal/scenario"
	"github.com/sigride/sigride/internal/supervise"
	"github.com/sigride/sigride/internal/vocab"
)

// observation is what the runner learns from the loop: a line printed (by a
// role, or the launcher's own), a role reaped (for a program's role: its
// end, whoever reaps it), or what a program's tracing shows (fact).
type observation struct {
	role   string
	text   string // a line
	reaped *supervise.Exit
	fact   *fact
}

// fact is what a program's tracing shows, judged by the loop, which knows
// every process: the runner sees the roles only.
type fact struct {
	reapedBy string // role's reaper: a role, "launcher" or "process"
	byParent bool   // its reaper was its parent
	orphan   string // how it came to be reaped by the launcher, in words
	harm     string // a key ended or stopped a process: in words
	stopped  string // why the launcher stopped the ride
	stopSig  string // the role was stopped (job control) by this signal
	// The program's last process was reaped: each one not reaped by its
	// parent in time, in words (none: no zombie, no orphan).
	over     bool
	problems []string
}

// result is one requirement's outcome: nil for PASS, or what happened.
type result struct {
	text string
	err  error
}

// stepError is a step that did not hold: what it expected, and what
// happened instead, in words a student reads.
type stepError struct{ expected, happened string }

func (e *stepError) Error() string { return e.expected + "; " + e.happened }

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

// maxLines bounds the lines a runner keeps of each role: an expect looks
// at the lines since the last it matched, and a program may print without
// end. Past twice that the oldest are forgotten, down to maxLines.
const maxLines = 10_000

// runner runs a scenario's steps in order, in its own goroutine.
type runner struct {
	steps   []scenario.Step
	in      *inbox
	acts    chan<- action
	say     func(string) // a launcher line that is no observation
	program bool         // a program's ride: its facts come, and a role's end is after its lines
	unseen  string       // why no role's lines can be expected; "" when they can
	lines   map[string][]string
	cursor  map[string]int // per role: lines before it were matched or passed
	reaped  map[string]supervise.Exit
	ended   []string        // roles in the order they ended
	reaps   map[string]fact // a program's roles: who reaped each
	harms   []string
	over    *fact
	stopped string            // why the launcher stopped the ride, if it did
	halted  map[string]string // a program's roles stopped by a signal (job control): which
	// The roles that ended after the launcher stopped the ride: not by
	// themselves, so neither their order nor who reaped them says
	// anything of the program (nor the same from one run to the next).
	afterStop map[string]bool
	// With check steps: each requirement's outcome, in order; read once
	// run has returned.
	results []result
}

// run runs every step and returns the first that did not hold, as
// "FILE:LINE: what was expected, what happened". With check steps, each
// requirement is judged: a step that does not hold fails its requirement,
// whose other steps are skipped, and the run goes on with the next; it
// returns how many failed.
func (r *runner) run() error {
	r.lines, r.cursor, r.reaped = map[string][]string{}, map[string]int{}, map[string]supervise.Exit{}
	r.reaps, r.afterStop, r.halted = map[string]fact{}, map[string]bool{}, map[string]string{}
	var req *result
	for _, s := range r.steps {
		if s.Kind == scenario.Check {
			r.judged(req)
			r.results = append(r.results, result{text: s.Text})
			req = &r.results[len(r.results)-1]
			continue
		}
		if req != nil && req.err != nil {
			continue // its requirement failed already
		}
		t0 := time.Now()
		err := r.do(s)
		took := time.Since(t0).Round(time.Microsecond)
		if err != nil {
			r.say(fmt.Sprintf("step %s %s: FAILED after %v", s.Where(), s, took))
			err = fmt.Errorf("%s: %w", s.Where(), err)
			if req == nil {
				return err
			}
			req.err = err
			continue
		}
		r.say(fmt.Sprintf("step %s %s: ok in %v", s.Where(), s, took))
	}
	r.judged(req)
	failed := 0
	for _, res := range r.results {
		if res.err != nil {
			failed++
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d requirements failed", failed, len(r.results))
	}
	return nil
}

// judged says a requirement's outcome, once its steps are done.
func (r *runner) judged(req *result) {
	if req != nil {
		r.say(req.line())
	}
}

// line is a requirement's line of the report: PASS TEXT, or FAIL TEXT:
// what happened.
func (res result) line() string {
	var se *stepError
	switch {
	case res.err == nil:
		return "PASS " + res.text
	case errors.As(res.err, &se):
		return "FAIL " + res.text + ": " + se.happened
	}
	return "FAIL " + res.text + ": " + res.err.Error()
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
		if r.unseen != "" && s.Role != vocab.Launcher {
			return &stepError{fmt.Sprintf("expected %s %q", s.Role, s.Text), r.unseen}
		}
		found := false
		return r.await(s, func() bool {
			seen := r.lines[s.Role]
			for i := r.cursor[s.Role]; i < len(seen); i++ {
				if matches(seen[i], s.Text) {
					r.cursor[s.Role] = i + 1
					found = true
					return true
				}
			}
			// A program's role that has ended has said all it will:
			// its lines come before its end. One stopped says nothing.
			_, ended := r.reaped[s.Role]
			return r.program && (ended || r.halted[s.Role] != "")
		}, func() *stepError {
			if found {
				return nil
			}
			seen := r.lines[s.Role][r.cursor[s.Role]:]
			got := "the " + s.Role + " printed nothing"
			if len(seen) > 0 {
				q := make([]string, len(seen))
				for i, l := range seen {
					q[i] = strconv.Quote(l)
				}
				got = "the " + s.Role + " printed " + strings.Join(q, ", ")
			}
			if other := r.printedBy(s.Role, s.Text); other != "" {
				got += "; the " + other + " printed it"
			}
			if e, ok := r.reaped[s.Role]; ok {
				got += "; " + r.endOf(e)
			} else if sig := r.halted[s.Role]; sig != "" {
				got += "; it was stopped by " + sig
			}
			return &stepError{fmt.Sprintf("expected %s %q within %v", s.Role, s.Text, s.Dur), got}
		})
	case scenario.ExpectExit, scenario.ExpectReaped:
		want := fmt.Sprintf("exit=%d", s.Code)
		if s.Kind == scenario.ExpectReaped && s.Signal != 0 {
			want = "signal=" + vocab.SignalName(s.Signal)
		}
		var wrong error
		what := s.Role
		if s.Role == scenario.Program {
			what = "the program"
		}
		err := r.await(s, func() bool {
			e, ok := r.reaped[s.Role]
			if ok && e.String() != want {
				wrong = &stepError{fmt.Sprintf("expected %s reaped with %s", what, want), r.endOf(e)}
			}
			return ok
		}, func() *stepError {
			if _, ok := r.reaped[s.Role]; ok {
				return nil
			}
			return &stepError{fmt.Sprintf("expected %s reaped with %s within %v", what, want, s.Dur), "it is still running"}
		})
		if err != nil {
			return err
		}
		return wrong
	case scenario.ExpectOrder:
		// Done once the second has ended: first or not, it is decided.
		return r.await(s, func() bool { return slices.Contains(r.ended, s.Other) }, func() *stepError {
			expected := fmt.Sprintf("expected the %s to get off first, then the %s", s.Role, s.Other)
			first, second := slices.Index(r.ended, s.Role), slices.Index(r.ended, s.Other)
			if first >= 0 && r.afterStop[s.Role] {
				first = -1 // it did not get off: it was stopped
			}
			if second >= 0 && r.afterStop[s.Other] {
				second = -1
			}
			switch {
			case first < 0 && second < 0 && r.stopped != "":
				return &stepError{expected, fmt.Sprintf("the launcher stopped the ride (%s) before either got off", r.stopped)}
			case first >= 0 && second < 0 && r.stopped != "":
				return &stepError{expected, fmt.Sprintf("the launcher stopped the ride (%s) before the %s got off", r.stopped, s.Other)}
			case second >= 0 && (first < 0 || first > second):
				how := ""
				if e := r.reaped[s.Other]; !e.Success() {
					how = " (" + r.endOf(e) + ")"
				}
				if first < 0 {
					how += fmt.Sprintf(", with the %s still aboard", s.Role)
				}
				return &stepError{expected, fmt.Sprintf("the %s got off first%s", s.Other, how)}
			case first >= 0 && second >= 0:
				return nil
			case first >= 0:
				return &stepError{expected, fmt.Sprintf("the %s did not get off within %v", s.Other, s.Dur)}
			}
			return &stepError{expected, fmt.Sprintf("neither got off within %v", s.Dur)}
		})
	case scenario.ExpectReapedBy:
		return r.await(s, func() bool {
			_, ok := r.reaps[s.Role]
			return ok
		}, func() *stepError {
			expected := fmt.Sprintf("expected the %s reaped by %s", s.Role, theWho(s.Other))
			f, ok := r.reaps[s.Role]
			switch {
			case r.afterStop[s.Role]:
				return &stepError{expected, fmt.Sprintf("the launcher stopped the ride (%s) before the %s got off", r.stopped, s.Role)}
			case !ok:
				return &stepError{expected, fmt.Sprintf("the %s was not reaped within %v", s.Role, s.Dur)}
			case s.Other == scenario.Parent && f.byParent, s.Other == f.reapedBy:
				return nil
			case f.orphan != "":
				return &stepError{expected, f.orphan}
			}
			return &stepError{expected, fmt.Sprintf("the %s was reaped by %s", s.Role, theWho(f.reapedBy))}
		})
	case scenario.ExpectNoZombie:
		return r.await(s, func() bool { return r.over != nil }, func() *stepError {
			const expected = "expected every process reaped by its parent, at once"
			switch {
			case !r.program:
				return &stepError{expected, "only a program's ride (launcher -- CMD) knows who reaped whom"}
			case r.over == nil:
				return &stepError{expected, fmt.Sprintf("a process of the program was still running after %v", s.Dur)}
			case len(r.over.problems) > 0:
				return &stepError{expected, strings.Join(r.over.problems, "; ")}
			}
			return nil
		})
	case scenario.ExpectHarmless:
		r.absorb()
		switch {
		case !r.program:
			return &stepError{"expected no key to end or stop a process", "only a program's ride (launcher -- CMD) knows what each process did with a key"}
		case len(r.harms) > 0:
			return &stepError{"expected no key to end or stop a process", strings.Join(r.harms, "; ")}
		}
		return nil
	}
	return fmt.Errorf("unknown step %q", s.Kind)
}

// endOf says how a role (or the program) ended: its exit code, the signal
// that killed it, or the launcher's stopping the ride and why.
func (r *runner) endOf(e supervise.Exit) string {
	switch {
	case !e.Status.Signaled():
		return fmt.Sprintf("it exited with code %d", e.Status.ExitStatus())
	case r.stopped != "" && (e.Status.Signal() == syscall.SIGTERM || e.Status.Signal() == syscall.SIGKILL):
		return fmt.Sprintf("it was ended by the launcher (SIG%s), which stopped the ride: %s", vocab.SignalName(e.Status.Signal()), r.stopped)
	}
	sig := e.Status.Signal()
	if sig == syscall.SIGKILL {
		return "it was killed by SIGKILL"
	}
	return fmt.Sprintf("it was killed by SIG%s, which it had no handler for", vocab.SignalName(sig))
}

// printedBy is the other role that printed text, if one did.
func (r *runner) printedBy(role, text string) string {
	for other, lines := range r.lines {
		if other != role && other != vocab.Launcher && slices.ContainsFunc(lines, func(l string) bool { return matches(l, text) }) {
			return other
		}
	}
	return ""
}

// theWho names a reaper in a sentence.
func theWho(who string) string {
	switch who {
	case scenario.Parent:
		return "its parent"
	case vocab.Launcher:
		return "the launcher"
	case "process":
		return "another process"
	}
	return "the " + who
}

// await waits, up to the step's time, until done reports true, taking in
// observations as they come; then judge says what did not hold, nil if
// all did.
func (r *runner) await(s scenario.Step, done func() bool, judge func() *stepError) error {
	deadline := time.NewTimer(s.Dur)
	defer deadline.Stop()
	for {
		r.absorb()
		if done() {
			break
		}
		select {
		case <-r.in.notify:
			continue
		case <-deadline.C:
			// One last look: an observation may have come with the deadline.
			r.absorb()
		}
		break
	}
	if e := judge(); e != nil {
		return e
	}
	return nil
}

// absorb takes in every observation waiting.
func (r *runner) absorb() {
	for _, o := range r.in.take() {
		switch {
		case o.fact != nil && o.fact.over:
			r.over = o.fact
		case o.fact != nil && o.fact.harm != "":
			r.harms = append(r.harms, o.fact.harm)
		case o.fact != nil && o.fact.stopped != "":
			r.stopped = o.fact.stopped
		case o.fact != nil && o.fact.stopSig != "":
			r.halted[o.role] = o.fact.stopSig
		case o.fact != nil:
			r.reaps[o.role] = *o.fact
		case o.reaped != nil:
			if _, again := r.reaped[o.role]; !again && o.role != scenario.Program {
				r.ended = append(r.ended, o.role)
				r.afterStop[o.role] = r.stopped != ""
			}
			if !r.program {
				r.reaps[o.role] = fact{reapedBy: vocab.Launcher, byParent: true}
			}
			r.reaped[o.role] = *o.reaped
		default:
			lines := append(r.lines[o.role], o.text)
			if len(lines) > 2*maxLines {
				// The oldest go, those matched or passed first: half at
				// once, so that each line costs its copy once.
				cut := len(lines) - maxLines
				lines = slices.Clone(lines[cut:])
				r.cursor[o.role] = max(0, r.cursor[o.role]-cut)
			}
			r.lines[o.role] = lines
		}
	}
}

// matches reports whether a line's text is what an expect step names: the
// whole text, or its first words (the launcher's lines end with pids).
func matches(line, want string) bool {
	return line == want || strings.HasPrefix(line, want+" ")
}
