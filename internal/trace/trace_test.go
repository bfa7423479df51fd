package trace

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
)

// ride is the trace of a plain ride: ^C, ^\, ^Z from the terminal.
func ride() []Event {
	return []Event{
		{T: 0, Pid: 10, Role: "launcher", Event: Spawn},
		{T: 0.001, Pid: 11, Role: "conductor", Event: Spawn},
		{T: 0.002, Pid: 12, Role: "driver", Event: Spawn},
		{T: 0.010, Pid: 11, Role: "conductor", Event: Ready},
		{T: 0.011, Pid: 12, Role: "driver", Event: Ready},
		{T: 1.000, Pid: 11, Role: "conductor", Event: Receive, Signal: "SIGINT"},
		{T: 1.001, Pid: 11, Role: "conductor", Event: Send, Signal: "SIGUSR1", To: 12},
		{T: 1.002, Pid: 12, Role: "driver", Event: Receive, Signal: "SIGUSR1"},
		{T: 1.003, Pid: 12, Role: "driver", Event: Print, Text: "老司机开车了"},
		{T: 1.004, Pid: 12, Role: "driver", Event: Print, Text: "系好安全带，车速有点快"},
		{T: 2.000, Pid: 12, Role: "driver", Event: Receive, Signal: "SIGTSTP"},
		{T: 2.001, Pid: 12, Role: "driver", Event: Send, Signal: "SIGUSR1", To: 11},
		{T: 2.002, Pid: 11, Role: "conductor", Event: Receive, Signal: "SIGUSR1"},
		{T: 2.003, Pid: 11, Role: "conductor", Event: Print, Text: "到站了，请下车 <&>"},
		{T: 2.004, Pid: 11, Role: "conductor", Event: Exit, Code: CodeOf(0)},
		{T: 2.005, Pid: 11, Role: "conductor", Event: Reap, Code: CodeOf(0)},
		{T: 2.006, Pid: 12, Role: "driver", Event: Reap, Signal: "SIGKILL"},
	}
}

func TestWriteReadOrder(t *testing.T) {
	events := ride()
	shuffled := slices.Clone(events) // collected out of order
	slices.Reverse(shuffled)
	var b bytes.Buffer
	if err := Write(&b, shuffled); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(b.String(), `{"t":0,"pid":10,"role":"launcher","event":"spawn"}`+"\n") {
		t.Errorf("first line: %q", strings.SplitN(b.String(), "\n", 2)[0])
	}
	if !strings.Contains(b.String(), `"code":0`) {
		t.Error("exit code 0 not written")
	}
	got, err := Read(&b)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(events) {
		t.Fatalf("%d events back, want %d", len(got), len(events))
	}
	for i := range got {
		if got[i].T != events[i].T || got[i].Event != events[i].Event || got[i].Text != events[i].Text {
			t.Errorf("event %d: %+v, want %+v", i, got[i], events[i])
		}
	}
}

func TestReadErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{"t":0,"pid":1,"role":"x","event":"dance"}`, `line 1: unknown event "dance"`},
		{`{"t":0,"pid":0,"role":"x","event":"ready"}`, "line 1: ready: bad pid 0"},
		{`{"t":0,"pid":1,"event":"ready"}`, "line 1: ready: no role"},
		{`{"t":-1,"pid":1,"role":"x","event":"ready"}`, "line 1: ready: negative time"},
		{`{"t":0,"pid":1,"role":"x","event":"send","signal":"USR1","to":2}`, `line 1: send: bad signal "USR1"`},
		{`{"t":0,"pid":1,"role":"x","event":"send","signal":"SIGUSR1"}`, "line 1: send: want one of to and group, got 0 and 0"},
		{`{"t":0,"pid":1,"role":"x","event":"send","signal":"SIGUSR1","to":2,"group":2}`, "line 1: send: want one of to and group, got 2 and 2"},
		{`{"t":0,"pid":1,"role":"x","event":"send","signal":"SIGUSR1","to":-2}`, "line 1: send: bad receiver -2 or group 0"},
		{`{"t":0,"pid":1,"role":"x","event":"receive","signal":"SIGINT","sender":"me"}`, `line 1: receive: bad sender "me"`},
		{`{"t":0,"pid":1,"role":"x","event":"print","sender":"key"}`, `line 1: print: bad sender "key"`},
		{`{"t":0,"pid":1,"role":"x","event":"exit","parent":3}`, "line 1: exit: bad parent 3"},
		{`{"t":0,"pid":1,"role":"x","event":"spawn","by":3}`, "line 1: spawn: bad reaper 3"},
		{`{"t":0,"pid":1,"role":"x","event":"reap","zombie":-1}`, "line 1: reap: bad zombie time"},
		{`{"t":0,"pid":1,"role":"x","event":"stop","signal":"TSTP"}`, `line 1: stop: bad signal "TSTP"`},
		{`{"t":0,"pid":1,"role":"x","event":"send","signal":"SIGUSR1","to":2,"from":3}`, "line 1: send: bad sender 3"},
		{`{"t":0,"pid":1,"role":"x","event":"receive","signal":"SIGUSR1","from":-3}`, "line 1: receive: bad sender -3"},
		{"\n" + `{"t":0,"pid":1,"role":"x","event":"ready","extra":1}`, `line 2: json: unknown field "extra"`},
		{`{"t":0,"pid":1,"role":"x","event":"ready"} {}`, "line 1: more than one object"},
		{`not json`, "line 1: invalid character 'o' in literal null (expecting 'u')"},
		{strings.Repeat("x", MaxLine+1), "a line longer than 65536 bytes"},
	} {
		_, err := Read(strings.NewReader(tc.in))
		if err == nil || err.Error() != tc.want {
			t.Errorf("Read(%.40q) = %v, want %q", tc.in, err, tc.want)
		}
	}
}

// FuzzRead: Read never panics, and what it accepts writes and reads back
// to the same events.
func FuzzRead(f *testing.F) {
	var b bytes.Buffer
	Write(&b, ride())
	f.Add(b.String())
	f.Add(`{"t":0,"pid":1,"role":"x","event":"ready"}`)
	f.Add(`{"t":1e308,"pid":9999999999,"role":"","event":"send","signal":"SIG","to":-1}`)
	f.Fuzz(func(t *testing.T, in string) {
		events, err := Read(strings.NewReader(in))
		if err != nil {
			return
		}
		var out bytes.Buffer
		if err := Write(&out, events); err != nil {
			t.Fatal(err)
		}
		again, err := Read(&out)
		if err != nil || len(again) != len(events) {
			t.Fatalf("written trace reads back as %d events, %v", len(again), err)
		}
		// The renderers take whatever Read accepts.
		SVG(io.Discard, events)
		Mermaid(io.Discard, events)
	})
}

func TestSVG(t *testing.T) {
	var b bytes.Buffer
	if err := SVG(&b, ride()); err != nil {
		t.Fatal(err)
	}
	// It parses as XML, and its text names every role, pid and signal.
	dec := xml.NewDecoder(bytes.NewReader(b.Bytes()))
	var texts []string
	root := ""
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not XML: %v\n%s", err, b.String())
		}
		switch tk := tok.(type) {
		case xml.StartElement:
			if root == "" {
				root = tk.Name.Local
			}
			for _, a := range tk.Attr {
				if strings.Contains(a.Value, "http") && a.Name.Local != "xmlns" {
					t.Errorf("external reference %s=%q", a.Name.Local, a.Value)
				}
			}
		case xml.CharData:
			texts = append(texts, string(tk))
		}
	}
	if root != "svg" {
		t.Errorf("root element %q", root)
	}
	// The longest note, on the last lifeline, fits in the picture.
	var size struct {
		Width int `xml:"width,attr"`
	}
	xml.Unmarshal(b.Bytes(), &size)
	lastX := svgTimeW + 3*svgColW + svgColW/2 // the driver's lifeline: the 4th column
	if need := lastX + 6 + textWidth("系好安全带，车速有点快") + 12; size.Width < need {
		t.Errorf("width %d cuts the driver's note (needs %d)", size.Width, need)
	}
	all := strings.Join(texts, "\n")
	for _, want := range []string{"launcher", "conductor", "driver", "pid 11", "pid 12", Outside,
		"SIGINT", "SIGUSR1", "SIGTSTP", "老司机开车了", "到站了，请下车 <&>", "reaped exit=0", "reaped signal=KILL", "2.006s"} {
		if !strings.Contains(all, want) {
			t.Errorf("SVG text lacks %q", want)
		}
	}
}

func TestMermaid(t *testing.T) {
	var b bytes.Buffer
	if err := Mermaid(&b, ride()); err != nil {
		t.Fatal(err)
	}
	got := b.String()
	for _, want := range []string{
		"sequenceDiagram\n",
		"participant P0 as terminal / kill\n",
		"participant P1 as launcher 10\n",
		"participant P2 as conductor 11\n",
		"participant P3 as driver 12\n",
		"P0->>P2: SIGINT (1.000s)\n",          // ^C from the terminal
		"P2->>P3: SIGUSR1 (1.001s)\n",         // the conductor to the driver
		"Note right of P3: 老司机开车了 (1.003s)\n", // the driver's line
		"P0->>P3: SIGTSTP (2.000s)\n",
		"P3-->>P1: reaped signal=KILL (2.006s)\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("Mermaid lacks %q\n%s", want, got)
		}
	}
	if strings.Contains(got, "P0->>P3: SIGUSR1") {
		t.Error("a receive that answers a send was drawn from outside")
	}
}

// TestStranger: a receive that names its sender comes from outside, says
// who, and answers no send of the peer's pending.
func TestStranger(t *testing.T) {
	events := []Event{
		{T: 0, Pid: 1, Role: "launcher", Event: Spawn},
		{T: 0.1, Pid: 3, Role: "driver", Event: Send, Signal: "SIGUSR1", To: 2},
		{T: 0.2, Pid: 2, Role: "conductor", Event: Receive, Signal: "SIGUSR1", From: 4242},
	}
	var b bytes.Buffer
	Mermaid(&b, events)
	if !strings.Contains(b.String(), "P0->>P3: SIGUSR1 from pid 4242 (0.200s)") || strings.Count(b.String(), "->>P") != 2 {
		t.Errorf("want the driver's arrow and one from outside naming pid 4242:\n%s", b.String())
	}
}

// TestCoalesced: sends that no receive answers keep their arrows; the one
// delivery adds no row.
func TestCoalesced(t *testing.T) {
	events := []Event{{T: 0, Pid: 1, Role: "launcher", Event: Spawn}}
	for i := 0; i < 5; i++ {
		events = append(events, Event{T: 0.1 + float64(i)/100, Pid: 1, Role: "launcher", Event: Send, Signal: "SIGINT", To: 2})
	}
	events = append(events, Event{T: 0.2, Pid: 2, Role: "conductor", Event: Receive, Signal: "SIGINT"})
	var b bytes.Buffer
	Mermaid(&b, events)
	if n := strings.Count(b.String(), "->>P"); n != 5 {
		t.Errorf("%d arrows, want 5 sends and no outside arrow\n%s", n, b.String())
	}
}

// program is the trace of a program's ride (launcher -- CMD): the driver
// forks the conductor; ^C reaches both, the driver ignores it; ^Z; the
// driver reaps the conductor, the launcher the driver.
func program() []Event {
	return []Event{
		{T: 0, Pid: 10, Role: "launcher", Event: Spawn},
		{T: 0.001, Pid: 12, Role: "driver", Event: Spawn, Parent: 10},
		{T: 0.002, Pid: 12, Role: "driver", Event: Exec, Text: "/usr/bin/python3"},
		{T: 0.003, Pid: 11, Role: "conductor", Event: Spawn, Parent: 12},
		{T: 0.010, Pid: 11, Role: "conductor", Event: Ready},
		{T: 0.010, Pid: 12, Role: "driver", Event: Ready},
		{T: 1.000, Pid: 11, Role: "conductor", Event: Receive, Signal: "SIGINT", From: 10, Sender: SenderKey, Fate: Handled},
		{T: 1.000, Pid: 12, Role: "driver", Event: Receive, Signal: "SIGINT", From: 10, Sender: SenderKey, Fate: Ignored},
		{T: 1.001, Pid: 11, Role: "conductor", Event: Send, Signal: "SIGUSR1", To: 12},
		{T: 1.002, Pid: 12, Role: "driver", Event: Receive, Signal: "SIGUSR1", From: 11, Fate: Handled},
		{T: 1.003, Pid: 12, Role: "driver", Event: Print, Text: "The old driver sets off"},
		{T: 1.500, Pid: 12, Role: "driver", Event: Send, Signal: "SIGHUP", Group: 10},
		{T: 1.501, Pid: 11, Role: "conductor", Event: Receive, Signal: "SIGHUP", From: 12, Fate: Ignored},
		{T: 1.600, Pid: 12, Role: "driver", Event: Send, Signal: "SIGUSR2", To: 99, Error: "ESRCH"},
		{T: 2.000, Pid: 12, Role: "driver", Event: Receive, Signal: "SIGTSTP", Sender: SenderKey, Fate: Handled},
		{T: 2.001, Pid: 12, Role: "driver", Event: Send, Signal: "SIGUSR1", To: 11},
		{T: 2.002, Pid: 11, Role: "conductor", Event: Receive, Signal: "SIGUSR1", From: 12, Fate: Sigwait},
		{T: 2.004, Pid: 11, Role: "conductor", Event: Exit, Code: CodeOf(0)},
		{T: 2.005, Pid: 12, Role: "driver", Event: Receive, Signal: "SIGCHLD", From: 11, Fate: Ignored},
		{T: 2.500, Pid: 11, Role: "conductor", Event: Reap, Code: CodeOf(0), By: 12, Zombie: SecondsOf(0.496)},
		{T: 2.600, Pid: 12, Role: "driver", Event: Exit, Signal: "SIGTERM"},
		{T: 2.601, Pid: 12, Role: "driver", Event: Reap, Signal: "SIGTERM", By: 10, Zombie: SecondsOf(0.001)},
		{T: 2.602, Pid: 13, Role: "process", Event: Spawn, Parent: 12},
		{T: 2.603, Pid: 13, Role: "process", Event: Reap, Code: CodeOf(0), By: 10},
	}
}

// TestProgramLayout: a program's processes as lifelines, each signal an
// arrow from its real sender, a key's from outside, what each did with
// it when no handler ran, who reaped whom and how long a zombie waited.
func TestProgramLayout(t *testing.T) {
	lines, rows := layout(program())
	var titles []string
	for _, l := range lines {
		titles = append(titles, l.title())
	}
	if want := []string{Outside, "launcher 10", "driver 12", "conductor 11", "process 13"}; !slices.Equal(titles, want) {
		t.Errorf("lifelines %q, want %q", titles, want)
	}
	var got []string
	for _, r := range rows {
		switch r.Kind {
		case arrow:
			got = append(got, fmt.Sprintf("%s -> %s: %s", lines[r.From].Role, lines[r.To].Role, r.Label))
		default:
			got = append(got, fmt.Sprintf("%s: %s", lines[r.From].Role, r.Label))
		}
	}
	want := []string{
		"launcher -> driver: spawn",
		"driver: exec python3",
		"driver -> conductor: fork",
		"conductor: ready",
		"driver: ready",
		Outside + " -> conductor: SIGINT (^C)",
		Outside + " -> driver: SIGINT (^C) (ignored)",
		"conductor -> driver: SIGUSR1",
		"driver: The old driver sets off",
		"driver: SIGHUP to process group 10",
		"driver -> conductor: SIGHUP (ignored)",
		"driver: SIGUSR2 to pid 99 failed: ESRCH",
		Outside + " -> driver: SIGTSTP (^Z)",
		"driver -> conductor: SIGUSR1",
		"conductor: exit 0",
		"conductor -> driver: SIGCHLD (ignored)",
		"conductor -> driver: reaped exit=0, a zombie 0.496s",
		"driver: killed by SIGTERM",
		"driver -> launcher: reaped signal=TERM",
		"driver -> process: fork",
		"process -> launcher: reaped exit=0, an orphan",
	}
	if !slices.Equal(got, want) {
		t.Errorf("rows:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if got, want := Summary(program()), []string{
		"SIGINT to conductor[11]: received 1 (from a key)",
		"SIGINT to driver[12]: received 1 (from a key)",
		"SIGUSR1 to driver[12]: sent 1, received 1",
		"SIGHUP to conductor[11]: received 1 (from driver[12])",
		"SIGTSTP to driver[12]: received 1 (from a key)",
		"SIGUSR1 to conductor[11]: sent 1, received 1",
		"SIGCHLD to driver[12]: received 1 (from conductor[11])",
		`driver printed "The old driver sets off" 1 time`,
	}; !slices.Equal(got, want) {
		t.Errorf("summary:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	var b bytes.Buffer
	if err := Write(&b, program()); err != nil {
		t.Fatal(err)
	}
	again, err := Read(&b)
	if err != nil || len(again) != len(program()) {
		t.Fatalf("a program's trace reads back as %d events, %v", len(again), err)
	}
}

// TestMaxRows: a diagram ends after MaxRows rows, and says how many more
// the trace has.
func TestMaxRows(t *testing.T) {
	events := []Event{{T: 0, Pid: 10, Role: "launcher", Event: Spawn}}
	for i := range MaxRows + 50 {
		events = append(events, Event{T: float64(i), Pid: 11, Role: "driver", Event: Print, Text: "spam"})
	}
	_, rows := layout(events)
	if len(rows) != MaxRows+1 || rows[MaxRows].Label != "… 50 more rows not drawn: the trace has them" {
		t.Errorf("%d rows, the last %q", len(rows), rows[len(rows)-1].Label)
	}
}
