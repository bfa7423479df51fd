package scenario

import (
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sigride/sigride/internal/vocab"
)

func TestParse(t *testing.T) {
	src := `# the plain ride
send conductor INT          # ^C
expect driver "老司机开车了"
send conductor SIGQUIT times 3
expect driver "系好安全带，车速有点快" within 500ms

sleep 50ms
send launcher TERM
kill driver
expect exit conductor 0 within 1.5s
expect reaped driver signal=KILL
expect reaped conductor exit=0
expect launcher "ready driver=" # launcher lines too
expect driver "say \"hi\" \\ bye"
press ^C
press ^\ # a backslash needs no quotes
press ^Z
check "the conductor gets off first"
expect order conductor driver within 3s
expect reaped conductor by parent
expect reaped driver by launcher within 1s
expect reaped conductor by driver
expect no zombie
expect harmless
expect exit program 0
`
	steps, err := Parse("a.scenario", strings.NewReader(src))
	if err != nil {
		t.Fatal(err)
	}
	want := []Step{
		{Line: 2, Kind: Send, Role: vocab.Conductor, Signal: syscall.SIGINT, Times: 1},
		{Line: 3, Kind: ExpectLine, Role: vocab.Driver, Text: "老司机开车了", Dur: DefaultWithin},
		{Line: 4, Kind: Send, Role: vocab.Conductor, Signal: syscall.SIGQUIT, Times: 3},
		{Line: 5, Kind: ExpectLine, Role: vocab.Driver, Text: "系好安全带，车速有点快", Dur: 500 * time.Millisecond},
		{Line: 7, Kind: Sleep, Dur: 50 * time.Millisecond},
		{Line: 8, Kind: Send, Role: vocab.Launcher, Signal: syscall.SIGTERM, Times: 1},
		{Line: 9, Kind: Kill, Role: vocab.Driver, Signal: syscall.SIGKILL},
		{Line: 10, Kind: ExpectExit, Role: vocab.Conductor, Code: 0, Dur: 1500 * time.Millisecond},
		{Line: 11, Kind: ExpectReaped, Role: vocab.Driver, Signal: syscall.SIGKILL, Dur: DefaultWithin},
		{Line: 12, Kind: ExpectReaped, Role: vocab.Conductor, Code: 0, Dur: DefaultWithin},
		{Line: 13, Kind: ExpectLine, Role: vocab.Launcher, Text: "ready driver=", Dur: DefaultWithin},
		{Line: 14, Kind: ExpectLine, Role: vocab.Driver, Text: `say "hi" \ bye`, Dur: DefaultWithin},
		{Line: 15, Kind: Press, Signal: syscall.SIGINT},
		{Line: 16, Kind: Press, Signal: syscall.SIGQUIT},
		{Line: 17, Kind: Press, Signal: syscall.SIGTSTP},
		{Line: 18, Kind: Check, Text: "the conductor gets off first"},
		{Line: 19, Kind: ExpectOrder, Role: vocab.Conductor, Other: vocab.Driver, Dur: 3 * time.Second},
		{Line: 20, Kind: ExpectReapedBy, Role: vocab.Conductor, Other: Parent, Dur: DefaultWithin},
		{Line: 21, Kind: ExpectReapedBy, Role: vocab.Driver, Other: vocab.Launcher, Dur: time.Second},
		{Line: 22, Kind: ExpectReapedBy, Role: vocab.Conductor, Other: vocab.Driver, Dur: DefaultWithin},
		{Line: 23, Kind: ExpectNoZombie, Dur: DefaultWithin},
		{Line: 24, Kind: ExpectHarmless, Dur: DefaultWithin},
		{Line: 25, Kind: ExpectExit, Role: Program, Code: 0, Dur: DefaultWithin},
	}
	if len(steps) != len(want) {
		t.Fatalf("%d steps, want %d: %+v", len(steps), len(want), steps)
	}
	for i, w := range want {
		w.File = "a.scenario"
		if steps[i] != w {
			t.Errorf("step %d:\n got %+v\nwant %+v", i, steps[i], w)
		}
		// What String writes, Parse reads back the same.
		again, err := Parse("a.scenario", strings.NewReader(strings.Repeat("\n", w.Line-1)+steps[i].String()))
		if err != nil || len(again) != 1 || again[0] != steps[i] {
			t.Errorf("step %d: %q parses back to %+v, %v", i, steps[i].String(), again, err)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		src  string
		want string // the whole error: FILE:LINE: message
	}{
		{"", "f: no steps"},
		{"# only a comment\n\n", "f: no steps"},
		{"fly driver", `f:1: unknown step "fly" (want send, press, kill, sleep, expect or check)`},
		{"check", `f:1: check takes one quoted requirement: check "TEXT"`},
		{"check it", `f:1: check takes one quoted requirement: check "TEXT"`},
		{`check ""`, `f:1: check takes one quoted requirement: check "TEXT"`},
		{"expect order conductor", "f:1: expect order takes the role that ends first, then the other: expect order ROLE ROLE [within DUR]"},
		{"expect order driver driver", "f:1: expect order: driver twice (want both roles)"},
		{"expect order driver launcher", `f:1: unknown role "launcher" (want driver or conductor)`},
		{"expect no zombies", "f:1: expect no what? expect no zombie [within DUR]"},
		{"expect harmless driver", "f:1: expect harmless takes nothing: it looks at what happened so far"},
		{"expect harmless within 1s", "f:1: expect harmless takes nothing: it looks at what happened so far"},
		{"expect reaped driver by", `f:1: expect reaped: "by" is neither signal=NAME, exit=N nor by WHO`},
		{"expect reaped driver by mother", `f:1: expect reaped by "mother": want parent, launcher, driver or conductor`},
		{"expect exit launcher 0", `f:1: unknown role "launcher" (want driver or conductor)`},
		{"press", `f:1: press takes one key: press ^C, press ^\ or press ^Z`},
		{"press ^X", `f:1: press takes one key: press ^C, press ^\ or press ^Z`},
		{`press "^C"`, `f:1: press takes one key: press ^C, press ^\ or press ^Z`},
		{"press ^C ^C", `f:1: press takes one key: press ^C, press ^\ or press ^Z`},
		{"\nsend pilot INT", `f:2: unknown role "pilot" (want driver, conductor or launcher)`},
		{"send driver", "f:1: send takes a role and a signal: send ROLE SIGNAL [times N]"},
		{"send driver FOO", `f:1: unknown signal "FOO"`},
		{"send driver int", `f:1: unknown signal "int"`},
		{"send driver INT twice", "f:1: send takes a role and a signal: send ROLE SIGNAL [times N]"},
		{"send driver INT times 0", `f:1: times "0": want a whole number from 1 to 10000`},
		{"send driver INT times 10001", `f:1: times "10001": want a whole number from 1 to 10000`},
		{"send driver INT thrice 3", `f:1: unexpected "thrice" after the signal (want: times N)`},
		{"kill", "f:1: kill takes one role: kill ROLE"},
		{"kill launcher", `f:1: unknown role "launcher" (want driver or conductor)`},
		{"sleep", "f:1: sleep takes one duration: sleep DUR"},
		{"sleep soon", `f:1: bad duration "soon" (want e.g. 50ms or 1.5s, at most 10m0s)`},
		{"sleep -1s", `f:1: bad duration "-1s" (want e.g. 50ms or 1.5s, at most 10m0s)`},
		{"sleep 11m", `f:1: bad duration "11m" (want e.g. 50ms or 1.5s, at most 10m0s)`},
		{"expect", `f:1: expect what? expect ROLE "TEXT", expect exit ROLE CODE, expect reaped ROLE signal=NAME, expect order ROLE ROLE, expect no zombie, expect harmless`},
		{"expect within 1s", `f:1: expect what? expect ROLE "TEXT", expect exit ROLE CODE, expect reaped ROLE signal=NAME, expect order ROLE ROLE, expect no zombie, expect harmless`},
		{`expect driver "unterminated`, "f:1: unterminated quote"},
		{`expect driver bare`, `f:1: the text to expect must be quoted: "bare"`},
		{`expect driver "a" within`, `f:1: expect takes a role and a quoted text: expect ROLE "TEXT" [within DUR]`},
		{`expect driver "a" within 2 `, `f:1: bad duration "2" (want e.g. 50ms or 1.5s, at most 10m0s)`},
		{`expect driver "a"b`, "f:1: a quoted text must be followed by a space"},
		{`expect driver a"b"`, "f:1: a quote must start a word"},
		{`expect driver "a\n"`, `f:1: in quotes, \ may only escape " or \`},
		{"expect driver \"a\x00\"", `f:1: control character '\x00' in quotes: a line never holds one`},
		{"expect driver \"tab\there\"", `f:1: control character '\t' in quotes: a line never holds one`},
		{`expect nobody "a"`, `f:1: unknown role "nobody" (want driver, conductor or launcher)`},
		{`"send" driver INT`, `f:1: a step starts with a word, not "send"`},
		{"expect exit driver", "f:1: expect exit takes a role and a code: expect exit ROLE CODE [within DUR]"},
		{"expect exit driver 256", `f:1: bad exit code "256" (want 0 to 255)`},
		{"expect exit driver x", `f:1: bad exit code "x" (want 0 to 255)`},
		{"expect reaped driver", "f:1: expect reaped takes a role and how: expect reaped ROLE signal=NAME|exit=N|by WHO [within DUR]"},
		{"expect reaped driver signal=NOPE", `f:1: unknown signal "NOPE"`},
		{"expect reaped driver dead", `f:1: expect reaped: "dead" is neither signal=NAME, exit=N nor by WHO`},
		{"expect reaped driver exit=-1", `f:1: bad exit code "-1" (want 0 to 255)`},
		{"send driver INT\n\xff", "f:2: not valid UTF-8"},
		{"sleep 1s\n" + strings.Repeat("x", MaxLine+1), "f:2: line longer than 4096 bytes"},
	} {
		steps, err := Parse("f", strings.NewReader(tc.src))
		var se *Error
		if !errors.As(err, &se) || err.Error() != tc.want {
			t.Errorf("Parse(%q) = %v, %q; want %q", tc.src, steps, err, tc.want)
		}
		if steps != nil {
			t.Errorf("Parse(%q) returned steps with its error", tc.src)
		}
	}
}

// FuzzParse: no input panics; every step parsed writes back (String) to a
// line that parses to the same step.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"send conductor INT\nexpect driver \"老司机开车了\" within 1s",
		"send conductor SIGQUIT times 100", "kill driver", "sleep 1.5s",
		"expect exit conductor 0", "expect reaped driver signal=KILL", `expect driver "a\"b\\c" # c`,
		`expect driver "unterminated`, "send launcher TERM", "\xff", "expect reaped conductor exit=3 within 1ms",
		`check "x"`, "expect order conductor driver", "expect reaped driver by parent", "expect no zombie within 1s",
		"expect harmless", "expect exit program 3",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		steps, err := Parse("f", strings.NewReader(src))
		if err != nil {
			return
		}
		for _, s := range steps {
			again, ok, err := parseLine(s.String())
			again.File, again.Line = s.File, s.Line
			if err != nil || !ok || again != s {
				t.Fatalf("%q: step %+v writes as %q, parses to %+v, %v", src, s, s.String(), again, err)
			}
		}
	})
}
