package ride

import (
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/sigride/sigride/internal/vocab"
)

func TestParseMsg(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    Msg
		wantErr string
	}{
		{"peer driver 42", Msg{Kind: KindPeer, Role: vocab.Driver, Pid: 42}, ""},
		{"peer conductor 7", Msg{Kind: KindPeer, Role: vocab.Conductor, Pid: 7}, ""},
		{"ready 123", Msg{Kind: KindReady, Mono: 123}, ""},
		{"receive 5 SIGINT", Msg{Kind: KindReceive, Mono: 5, Signal: "SIGINT"}, ""},
		{"receive 5 SIGUSR1 from 812", Msg{Kind: KindReceive, Mono: 5, Signal: "SIGUSR1", Pid: 812}, ""},
		{"receive 5 SIGUSR1 from 0", Msg{}, "bad pid"},
		{"receive 5 SIGUSR1 from", Msg{}, "3 fields, want 2"},
		{"receive 5 SIGUSR1 by 812", Msg{}, "4 fields, want 2"},
		{"send 5 SIGUSR1 99", Msg{Kind: KindSend, Mono: 5, Signal: "SIGUSR1", Pid: 99}, ""},
		{"print 9 老司机开车了", Msg{Kind: KindPrint, Mono: 9, Text: "老司机开车了"}, ""},
		{"print 9 two  spaces here", Msg{Kind: KindPrint, Mono: 9, Text: "two  spaces here"}, ""},
		{"print 9 ", Msg{Kind: KindPrint, Mono: 9, Text: ""}, ""},
		{"exit 9 0", Msg{Kind: KindExit, Mono: 9}, ""},
		{"exit 9 143", Msg{Kind: KindExit, Mono: 9, Code: 143}, ""},
		{"exit 9 256", Msg{}, `bad exit code "256"`},
		{"exit 9 -1", Msg{}, `bad exit code "-1"`},
		{"exit 9", Msg{}, "1 fields, want 2"},
		{"", Msg{}, "unknown message kind"},
		{"hello 1", Msg{}, "unknown message kind"},
		{"ready", Msg{}, "0 fields, want 1"},
		{"ready ", Msg{}, "bad time"},
		{"ready 1 2", Msg{}, "2 fields, want 1"},
		{"ready -1", Msg{}, "bad time"},
		{"ready 99999999999999999999", Msg{}, "bad time"},
		{"peer pilot 1", Msg{}, `unknown role "pilot"`},
		{"peer driver 0", Msg{}, "bad pid"},
		{"peer driver -3", Msg{}, "bad pid"},
		{"peer driver 99999999", Msg{}, "bad pid"},
		{"receive 1 INT", Msg{}, "bad signal name"},
		{"receive 1 SIG", Msg{}, "bad signal name"},
		{"receive 1 SIGint", Msg{}, "bad signal name"},
		{"send 1 SIGUSR1", Msg{}, "2 fields, want 3"},
		{"send 1 SIGUSR1 x", Msg{}, "bad pid"},
		{"print 1 a\nb", Msg{}, "control character"},
		{"print 1 \x1b[31m", Msg{}, "control character"},
		{"print 1 \xff", Msg{}, "not valid UTF-8"},
		{"print 1 " + strings.Repeat("x", MaxMsg), Msg{}, "over 4096"},
	} {
		got, err := ParseMsg([]byte(tc.in))
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParseMsg(%q) error %v, want one with %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseMsg(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
		if back := string(got.Marshal()); back != tc.in {
			t.Errorf("Marshal(ParseMsg(%q)) = %q", tc.in, back)
		}
	}
}

func TestUntimed(t *testing.T) {
	for _, tc := range []struct {
		m    Msg
		want string
	}{
		{Msg{Kind: KindPeer, Role: vocab.Driver, Pid: 42}, "peer driver 42"},
		{Msg{Kind: KindReady, Mono: 123}, "ready"},
		{Msg{Kind: KindReceive, Mono: 5, Signal: "SIGINT"}, "receive SIGINT"},
		{Msg{Kind: KindReceive, Mono: 5, Signal: "SIGUSR1", Pid: 812}, "receive SIGUSR1 from 812"},
		{Msg{Kind: KindSend, Mono: 5, Signal: "SIGUSR1", Pid: 99}, "send SIGUSR1 99"},
		{Msg{Kind: KindPrint, Mono: 9, Text: "老司机开车了"}, "print 老司机开车了"},
		{Msg{Kind: KindExit, Mono: 9, Code: 143}, "exit 143"},
	} {
		if got := tc.m.Untimed(); got != tc.want {
			t.Errorf("%+v: Untimed %q, want %q", tc.m, got, tc.want)
		}
	}
}

// FuzzParseMsg: the parser never panics, and whatever it accepts encodes
// back to a message it parses to the same value.
func FuzzParseMsg(f *testing.F) {
	for _, s := range []string{"peer driver 42", "ready 1", "receive 5 SIGINT", "receive 5 SIGUSR1 from 7", "send 5 SIGUSR1 99",
		"print 9 老司机开车了", "print 1 ", "ready", "exit 1 0", "send 1 SIG 1", "print 1 \x00"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseMsg(b)
		if err != nil {
			return
		}
		again, err := ParseMsg(m.Marshal())
		if err != nil || again != m {
			t.Fatalf("%q parsed to %+v, re-encoded to %q, parsed to %+v, %v", b, m, m.Marshal(), again, err)
		}
	})
}

func TestLine(t *testing.T) {
	if got := string(Line(vocab.Driver, 42, "老司机开车了")); got != "driver[42]: 老司机开车了\n" {
		t.Errorf("Line = %q", got)
	}
}

func TestParseLine(t *testing.T) {
	for _, tc := range []struct {
		in         string
		role, text string
		pid        int
		ok         bool
	}{
		{"driver[42]: 老司机开车了", vocab.Driver, "老司机开车了", 42, true},
		{"^Cdriver[42]: hi", vocab.Driver, "hi", 42, true}, // a terminal's echo before the line
		{"launcher[1]: ready driver=2 conductor=3", vocab.Launcher, "ready driver=2 conductor=3", 1, true},
		{"conductor[7]: ", vocab.Conductor, "", 7, true},
		{"driver[0]: x", "", "", 0, false},
		{"driver[x]: x", "", "", 0, false},
		{"[42]: x", "", "", 0, false},
		{"driver 42: x", "", "", 0, false},
		{"driver[42] x", "", "", 0, false},
		{"", "", "", 0, false},
	} {
		role, pid, text, err := ParseLine(tc.in)
		if (err == nil) != tc.ok || role != tc.role || pid != tc.pid || text != tc.text {
			t.Errorf("ParseLine(%q) = %q %d %q %v", tc.in, role, pid, text, err)
		}
	}
}

// FuzzParseLine: what ParseLine accepts, Line writes back with the same
// role, pid and text.
func FuzzParseLine(f *testing.F) {
	for _, s := range []string{"driver[42]: 老司机开车了", "^Cdriver[42]: hi", "a[1]: ", "x]: [1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		role, pid, text, err := ParseLine(s)
		if err != nil {
			return
		}
		r2, p2, t2, err := ParseLine(strings.TrimSuffix(string(Line(role, pid, text)), "\n"))
		if err != nil || r2 != role || p2 != pid || t2 != text {
			t.Fatalf("%q: %q %d %q, then %q %d %q %v", s, role, pid, text, r2, p2, t2, err)
		}
	})
}

func TestMessagesFor(t *testing.T) {
	for _, lang := range Langs() {
		m, err := MessagesFor(lang)
		if err != nil || m.SetOff == "" || m.SeatBelt == "" || m.Arrived == "" || m.Keys == "" {
			t.Errorf("%s: %+v %v", lang, m, err)
		}
	}
	zh, _ := MessagesFor(DefaultLang)
	if zh.SetOff != "老司机开车了" || zh.SeatBelt != "系好安全带，车速有点快" || zh.Arrived != "到站了，请下车" {
		t.Errorf("zh texts changed: %+v", zh)
	}
	if _, err := MessagesFor("fr"); err == nil {
		t.Error("fr accepted")
	}
}

// TestNowIsMonotonicClock: Now agrees with clock_gettime(CLOCK_MONOTONIC)
// to well within the time a signal takes to cross processes.
func TestNowIsMonotonicClock(t *testing.T) {
	for i := 0; i < 100; i++ {
		var ts unix.Timespec
		a := Now()
		unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
		b := Now()
		if m := ts.Nano(); m < a-5000 || m > b+5000 {
			t.Fatalf("clock_gettime %d outside [%d, %d] by more than 5µs", m, a, b)
		}
	}
}
