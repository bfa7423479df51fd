package scenario

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"golang.org/x/sys/unix"

	"github.com/sigride/sigride/internal/vocab"
)

// Kind is what a step does.
type Kind string

// The steps.
const (
	Send         Kind = "send"          // send ROLE SIGNAL [times N]
	Press        Kind = "press"         // press KEY: ^C, ^\ or ^Z, to the ride's whole process group
	Kill         Kind = "kill"          // kill ROLE: SIGKILL
	Sleep        Kind = "sleep"         // sleep DUR
	ExpectLine   Kind = "expect"        // expect ROLE "TEXT" [within DUR]
	ExpectExit   Kind = "expect exit"   // expect exit ROLE CODE [within DUR]
	ExpectReaped Kind = "expect reaped" // expect reaped ROLE signal=NAME|exit=N [within DUR]
	// A program's ride (launcher -- CMD) only: what only its tracing knows.
	ExpectReapedBy Kind = "expect reaped by" // expect reaped ROLE by WHO [within DUR]
	ExpectOrder    Kind = "expect order"     // expect order ROLE ROLE [within DUR]: the first ended first
	ExpectNoZombie Kind = "expect no zombie" // expect no zombie [within DUR]: each reaped by its parent, soon
	ExpectHarmless Kind = "expect harmless"  // expect harmless: no key ended or stopped a process
	Check          Kind = "check"            // check "TEXT": the steps up to the next check are one requirement
)

// Program is the role name of the process the launcher started, in a
// program's ride: expect exit program CODE.
const Program = "program"

// Parent is who reaped a process, for expect reaped ROLE by parent: the
// process that made it.
const Parent = "parent"

// DefaultWithin is how long an expect step waits when it says nothing.
const DefaultWithin = 2 * time.Second

// Limits on what a scenario file may hold: it is read whole, and a step
// may not ask the runner for more than this.
const (
	MaxLine  = 4096             // bytes in one line
	MaxLines = 100_000          // lines in a file
	MaxTimes = 10_000           // signals in one send step
	MaxWait  = 10 * time.Minute // a sleep or a within
)

// Step is one parsed line.
type Step struct {
	File string
	Line int
	Kind Kind
	Role string // vocab.Driver, vocab.Conductor or vocab.Launcher (some steps only)
	// Signal is the signal of send (and of expect reaped by signal);
	// SIGKILL for kill.
	Signal syscall.Signal
	Times  int           // send: how many times, 1 when not said
	Text   string        // expect: the line's text
	Code   int           // expect exit, expect reaped exit=N: the exit code
	Dur    time.Duration // sleep: how long; expect: within how long
	Other  string        // expect order: the role that ends second; expect reaped by: who reaps
}

// Where is "FILE:LINE".
func (s Step) Where() string { return fmt.Sprintf("%s:%d", s.File, s.Line) }

// String is the step as it would be written.
func (s Step) String() string {
	switch s.Kind {
	case Send:
		if s.Times > 1 {
			return fmt.Sprintf("send %s SIG%s times %d", s.Role, vocab.SignalName(s.Signal), s.Times)
		}
		return fmt.Sprintf("send %s SIG%s", s.Role, vocab.SignalName(s.Signal))
	case Press:
		return "press " + vocab.KeyOf(s.Signal)
	case Kill:
		return "kill " + s.Role
	case Sleep:
		return "sleep " + s.Dur.String()
	case ExpectLine:
		return fmt.Sprintf("expect %s %s within %s", s.Role, quote(s.Text), s.Dur)
	case ExpectExit:
		return fmt.Sprintf("expect exit %s %d within %s", s.Role, s.Code, s.Dur)
	case ExpectReaped:
		how := fmt.Sprintf("exit=%d", s.Code)
		if s.Signal != 0 {
			how = "signal=" + vocab.SignalName(s.Signal)
		}
		return fmt.Sprintf("expect reaped %s %s within %s", s.Role, how, s.Dur)
	case ExpectReapedBy:
		return fmt.Sprintf("expect reaped %s by %s within %s", s.Role, s.Other, s.Dur)
	case ExpectOrder:
		return fmt.Sprintf("expect order %s %s within %s", s.Role, s.Other, s.Dur)
	case ExpectNoZombie:
		return fmt.Sprintf("expect no zombie within %s", s.Dur)
	case ExpectHarmless:
		return "expect harmless"
	case Check:
		return "check " + quote(s.Text)
	}
	return string(s.Kind)
}

// quote writes text as the language quotes it: only " and \ are escaped.
func quote(text string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(text) + `"`
}

// Error is a problem in a scenario file, at a line (0: the file as a whole).
type Error struct {
	File string
	Line int
	Msg  string
}

func (e *Error) Error() string {
	if e.Line == 0 {
		return fmt.Sprintf("%s: %s", e.File, e.Msg)
	}
	return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
}

// Parse reads a scenario. file names it in errors and steps.
func Parse(file string, r io.Reader) ([]Step, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1024), MaxLine+1)
	var steps []Step
	n := 0
	for sc.Scan() {
		n++
		if n > MaxLines {
			return nil, &Error{file, n, fmt.Sprintf("more than %d lines", MaxLines)}
		}
		step, ok, err := parseLine(sc.Text())
		if err != nil {
			return nil, &Error{file, n, err.Error()}
		}
		if ok {
			step.File, step.Line = file, n
			steps = append(steps, step)
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, &Error{file, n + 1, fmt.Sprintf("line longer than %d bytes", MaxLine)}
		}
		return nil, &Error{file, 0, err.Error()}
	}
	if len(steps) == 0 {
		return nil, &Error{file, 0, "no steps"}
	}
	return steps, nil
}

// parseLine parses one line; ok is false for a blank or comment line.
func parseLine(line string) (Step, bool, error) {
	if !utf8.ValidString(line) {
		return Step{}, false, errors.New("not valid UTF-8")
	}
	words, err := split(line)
	if err != nil || len(words) == 0 {
		return Step{}, false, err
	}
	w := words[0]
	if w.quoted {
		return Step{}, false, fmt.Errorf("a step starts with a word, not %q", w.s)
	}
	var s Step
	switch w.s {
	case "send":
		s, err = parseSend(words[1:])
	case "press":
		s = Step{Kind: Press}
		if len(words) != 2 || words[1].quoted || vocab.Keys[words[1].s] == 0 {
			return s, false, errors.New(`press takes one key: press ^C, press ^\ or press ^Z`)
		}
		s.Signal = vocab.Keys[words[1].s]
	case "kill":
		s = Step{Kind: Kill, Signal: syscall.SIGKILL}
		if len(words) != 2 {
			return s, false, errors.New("kill takes one role: kill ROLE")
		}
		s.Role, err = parseRole(words[1], false)
	case "sleep":
		s = Step{Kind: Sleep}
		if len(words) != 2 {
			return s, false, errors.New("sleep takes one duration: sleep DUR")
		}
		s.Dur, err = parseDur(words[1])
	case "expect":
		s, err = parseExpect(words[1:])
	case "check":
		s = Step{Kind: Check}
		if len(words) != 2 || !words[1].quoted || words[1].s == "" {
			return s, false, errors.New(`check takes one quoted requirement: check "TEXT"`)
		}
		s.Text = words[1].s
	default:
		return s, false, fmt.Errorf("unknown step %q (want send, press, kill, sleep, expect or check)", w.s)
	}
	return s, err == nil, err
}

func parseSend(args []word) (Step, error) {
	s := Step{Kind: Send, Times: 1}
	if len(args) != 2 && len(args) != 4 {
		return s, errors.New("send takes a role and a signal: send ROLE SIGNAL [times N]")
	}
	var err error
	if s.Role, err = parseRole(args[0], true); err != nil {
		return s, err
	}
	if s.Signal, err = parseSignal(args[1]); err != nil {
		return s, err
	}
	if len(args) == 4 {
		if args[2].s != "times" || args[2].quoted {
			return s, fmt.Errorf("unexpected %q after the signal (want: times N)", args[2].s)
		}
		s.Times, err = strconv.Atoi(args[3].s)
		if err != nil || s.Times < 1 || s.Times > MaxTimes {
			return s, fmt.Errorf("times %q: want a whole number from 1 to %d", args[3].s, MaxTimes)
		}
	}
	return s, nil
}

func parseExpect(args []word) (Step, error) {
	s := Step{Kind: ExpectLine, Dur: DefaultWithin}
	// An optional "within DUR" ends every expect.
	if n := len(args); n >= 2 && args[n-2].s == "within" && !args[n-2].quoted {
		d, err := parseDur(args[n-1])
		if err != nil {
			return s, err
		}
		s.Dur, args = d, args[:n-2]
	}
	if len(args) == 0 {
		return s, errors.New(`expect what? expect ROLE "TEXT", expect exit ROLE CODE, expect reaped ROLE signal=NAME, expect order ROLE ROLE, expect no zombie, expect harmless`)
	}
	var err error
	switch {
	case args[0].s == "exit" && !args[0].quoted:
		s.Kind = ExpectExit
		if len(args) != 3 {
			return s, errors.New("expect exit takes a role and a code: expect exit ROLE CODE [within DUR]")
		}
		if args[1].s == Program && !args[1].quoted {
			s.Role = Program
		} else if s.Role, err = parseRole(args[1], false); err != nil {
			return s, err
		}
		s.Code, err = parseCode(args[2].s)
		return s, err
	case args[0].s == "order" && !args[0].quoted:
		s.Kind = ExpectOrder
		if len(args) != 3 {
			return s, errors.New("expect order takes the role that ends first, then the other: expect order ROLE ROLE [within DUR]")
		}
		if s.Role, err = parseRole(args[1], false); err != nil {
			return s, err
		}
		if s.Other, err = parseRole(args[2], false); err != nil {
			return s, err
		}
		if s.Role == s.Other {
			return s, fmt.Errorf("expect order: %s twice (want both roles)", s.Role)
		}
		return s, nil
	case args[0].s == "no" && !args[0].quoted:
		s.Kind = ExpectNoZombie
		if len(args) != 2 || args[1].s != "zombie" || args[1].quoted {
			return s, errors.New("expect no what? expect no zombie [within DUR]")
		}
		return s, nil
	case args[0].s == "harmless" && !args[0].quoted:
		s.Kind = ExpectHarmless
		if len(args) != 1 || s.Dur != DefaultWithin {
			return s, errors.New("expect harmless takes nothing: it looks at what happened so far")
		}
		return s, nil
	case args[0].s == "reaped" && !args[0].quoted:
		s.Kind = ExpectReaped
		if len(args) != 3 && !(len(args) == 4 && args[2].s == "by") {
			return s, errors.New("expect reaped takes a role and how: expect reaped ROLE signal=NAME|exit=N|by WHO [within DUR]")
		}
		if s.Role, err = parseRole(args[1], false); err != nil {
			return s, err
		}
		if len(args) == 4 && !args[2].quoted {
			s.Kind = ExpectReapedBy
			switch who := args[3]; {
			case !who.quoted && (who.s == Parent || who.s == vocab.Launcher):
				s.Other = who.s
			default:
				if s.Other, err = parseRole(who, false); err != nil {
					return s, fmt.Errorf("expect reaped by %q: want parent, launcher, driver or conductor", who.s)
				}
			}
			return s, nil
		}
		how := args[2].s
		if name, ok := strings.CutPrefix(how, "signal="); ok {
			s.Signal, err = parseSignal(word{s: name})
			return s, err
		}
		if code, ok := strings.CutPrefix(how, "exit="); ok {
			s.Code, err = parseCode(code)
			return s, err
		}
		return s, fmt.Errorf("expect reaped: %q is neither signal=NAME, exit=N nor by WHO", how)
	}
	if len(args) != 2 {
		return s, errors.New(`expect takes a role and a quoted text: expect ROLE "TEXT" [within DUR]`)
	}
	if s.Role, err = parseRole(args[0], true); err != nil {
		return s, err
	}
	if !args[1].quoted {
		return s, fmt.Errorf("the text to expect must be quoted: \"%s\"", args[1].s)
	}
	s.Text = args[1].s
	return s, nil
}

func parseRole(w word, launcherToo bool) (string, error) {
	switch {
	case w.quoted:
	case w.s == vocab.Driver, w.s == vocab.Conductor:
		return w.s, nil
	case w.s == vocab.Launcher && launcherToo:
		return w.s, nil
	}
	if launcherToo {
		return "", fmt.Errorf("unknown role %q (want driver, conductor or launcher)", w.s)
	}
	return "", fmt.Errorf("unknown role %q (want driver or conductor)", w.s)
}

// parseSignal takes INT or SIGINT; names are upper case, as kill -l says.
func parseSignal(w word) (syscall.Signal, error) {
	name := w.s
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	sig := unix.SignalNum(name)
	if w.quoted || sig == 0 {
		return 0, fmt.Errorf("unknown signal %q", w.s)
	}
	return sig, nil
}

func parseDur(w word) (time.Duration, error) {
	d, err := time.ParseDuration(w.s)
	if w.quoted || err != nil || d < 0 || d > MaxWait {
		return 0, fmt.Errorf("bad duration %q (want e.g. 50ms or 1.5s, at most %v)", w.s, MaxWait)
	}
	return d, nil
}

func parseCode(s string) (int, error) {
	c, err := strconv.Atoi(s)
	if err != nil || c < 0 || c > 255 {
		return 0, fmt.Errorf("bad exit code %q (want 0 to 255)", s)
	}
	return c, nil
}

// word is one word of a line; quoted words keep their spaces and may hold
// \" and \\.
type word struct {
	s      string
	quoted bool
}

// split cuts a line into words. '#' outside quotes starts a comment.
func split(line string) ([]word, error) {
	var words []word
	for i := 0; i < len(line); {
		switch c := line[i]; {
		case c == ' ' || c == '\t' || c == '\r':
			i++
		case c == '#':
			return words, nil
		case c == '"':
			var b strings.Builder
			i++
			for {
				if i >= len(line) {
					return nil, errors.New("unterminated quote")
				}
				c := line[i]
				if c == '"' {
					i++
					break
				}
				if c < ' ' || c == 0x7f {
					return nil, fmt.Errorf("control character %q in quotes: a line never holds one", c)
				}
				if c == '\\' {
					if i+1 >= len(line) || (line[i+1] != '"' && line[i+1] != '\\') {
						return nil, errors.New(`in quotes, \ may only escape " or \`)
					}
					i++
					c = line[i]
				}
				b.WriteByte(c)
				i++
			}
			if i < len(line) && line[i] != ' ' && line[i] != '\t' && line[i] != '#' && line[i] != '\r' {
				return nil, errors.New("a quoted text must be followed by a space")
			}
			words = append(words, word{s: b.String(), quoted: true})
		default:
			j := i
			for j < len(line) && line[j] != ' ' && line[j] != '\t' && line[j] != '\r' && line[j] != '"' && line[j] != '#' {
				j++
			}
			if j < len(line) && line[j] == '"' {
				return nil, errors.New(`a quote must start a word`)
			}
			words = append(words, word{s: line[i:j]})
			i = j
		}
	}
	return words, nil
}
