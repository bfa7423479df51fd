package ride

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/sigride/sigride/internal/vocab"
)

// Kind names a control message.
type Kind string

// The control messages. A message is its kind, then fields separated by one
// space; Text, where there is one, is last and runs to the end.
const (
	KindPeer    Kind = "peer"    // launcher → role: "peer ROLE PID", the peer's pidfd attached
	KindReady   Kind = "ready"   // role → launcher: "ready MONO", handlers installed, peer held
	KindReceive Kind = "receive" // role → launcher: "receive MONO SIGNAME [from PID]", a signal arrived (from PID: the peer's kind, a stranger's: Role.Stranger)
	KindSend    Kind = "send"    // role → launcher: "send MONO SIGNAME PID", a signal sent to PID
	KindPrint   Kind = "print"   // role → launcher: "print MONO TEXT", a line printed
	KindExit    Kind = "exit"    // role → launcher: "exit MONO CODE", about to exit with CODE
)

// MaxMsg bounds a message: a role's line is at most this long, so a line
// written in one write(2) is also atomic on a pipe (PIPE_BUF is 4096).
const MaxMsg = 4096

// Msg is one control message. Mono is CLOCK_MONOTONIC in nanoseconds, the
// same clock in every process of the machine.
type Msg struct {
	Kind   Kind
	Mono   int64
	Role   string // peer
	Pid    int    // peer: the peer's pid; send: the receiver's pid; receive: a stranger (Role.Stranger), or 0
	Signal string // receive, send: "SIGUSR1"
	Text   string // print
	Code   int    // exit: 0 to 255
}

// Marshal encodes m. It does not check m: Parse does, on the other side.
func (m Msg) Marshal() []byte { return m.encode(true) }

// Untimed is m as Marshal writes it but without its time, "receive
// SIGUSR1": for a log that writes the time its own way.
func (m Msg) Untimed() string { return string(m.encode(false)) }

func (m Msg) encode(timed bool) []byte {
	b := []byte(m.Kind)
	num := func(n int64) { b = append(b, ' '); b = strconv.AppendInt(b, n, 10) }
	str := func(s string) { b = append(b, ' '); b = append(b, s...) }
	mono := func() {
		if timed {
			num(m.Mono)
		}
	}
	switch m.Kind {
	case KindPeer:
		str(m.Role)
		num(int64(m.Pid))
	case KindReady:
		mono()
	case KindReceive:
		mono()
		str(m.Signal)
		if m.Pid != 0 {
			str("from")
			num(int64(m.Pid))
		}
	case KindSend:
		mono()
		str(m.Signal)
		num(int64(m.Pid))
	case KindPrint:
		mono()
		str(m.Text)
	case KindExit:
		mono()
		num(int64(m.Code))
	}
	return b
}

// ParseMsg decodes one message strictly: a known kind, exactly its fields,
// numbers in range, signal names of the form SIGNAME, text valid UTF-8 with
// no control characters, at most MaxMsg bytes in all.
func ParseMsg(b []byte) (Msg, error) {
	if len(b) > MaxMsg {
		return Msg{}, fmt.Errorf("message of %d bytes, over %d", len(b), MaxMsg)
	}
	if !utf8.Valid(b) {
		return Msg{}, errors.New("message is not valid UTF-8")
	}
	s := string(b)
	kind, rest, _ := strings.Cut(s, " ")
	m := Msg{Kind: Kind(kind)}
	var fields []string
	if rest != "" || strings.Contains(s, " ") {
		fields = strings.Split(rest, " ")
	}
	want := map[Kind]int{KindPeer: 2, KindReady: 1, KindReceive: 2, KindSend: 3, KindPrint: 2, KindExit: 2}
	n, ok := want[m.Kind]
	if !ok {
		return Msg{}, fmt.Errorf("unknown message kind %q", kind)
	}
	if m.Kind == KindPrint && len(fields) > 2 {
		fields = []string{fields[0], strings.Join(fields[1:], " ")}
	}
	if m.Kind == KindReceive && len(fields) == 4 && fields[2] == "from" {
		n = 4
	}
	if len(fields) != n {
		return Msg{}, fmt.Errorf("%s: %d fields, want %d", kind, len(fields), n)
	}
	var err error
	if m.Kind == KindPeer {
		if m.Role, err = parseRole(fields[0]); err != nil {
			return Msg{}, err
		}
		m.Pid, err = parsePid(fields[1])
		return m, wrapField(kind, err)
	}
	if m.Mono, err = strconv.ParseInt(fields[0], 10, 64); err != nil || m.Mono < 0 {
		return Msg{}, fmt.Errorf("%s: bad time %q", kind, fields[0])
	}
	switch m.Kind {
	case KindReceive, KindSend:
		if m.Signal, err = parseSignal(fields[1]); err != nil {
			return Msg{}, wrapField(kind, err)
		}
		switch {
		case m.Kind == KindSend:
			m.Pid, err = parsePid(fields[2])
		case len(fields) == 4:
			m.Pid, err = parsePid(fields[3])
		}
	case KindPrint:
		m.Text, err = parseText(fields[1])
	case KindExit:
		if m.Code, err = strconv.Atoi(fields[1]); err != nil || m.Code < 0 || m.Code > 255 {
			err = fmt.Errorf("bad exit code %q", fields[1])
		}
	}
	if err != nil {
		return Msg{}, wrapField(kind, err)
	}
	return m, nil
}

func wrapField(kind string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", kind, err)
}

func parseRole(s string) (string, error) {
	if s != vocab.Driver && s != vocab.Conductor {
		return "", fmt.Errorf("unknown role %q", s)
	}
	return s, nil
}

// maxPid is the highest pid a process can have: PID_MAX_LIMIT on 64-bit
// Linux.
const maxPid = 1 << 22

func parsePid(s string) (int, error) {
	pid, err := strconv.Atoi(s)
	if err != nil || pid <= 0 || pid > maxPid {
		return 0, fmt.Errorf("bad pid %q", s)
	}
	return pid, nil
}

func parseSignal(s string) (string, error) {
	name, ok := strings.CutPrefix(s, "SIG")
	if !ok || name == "" || len(name) > 16 {
		return "", fmt.Errorf("bad signal name %q", s)
	}
	for _, c := range name {
		if (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '+' && c != '-' {
			return "", fmt.Errorf("bad signal name %q", s)
		}
	}
	return s, nil
}

func parseText(s string) (string, error) {
	for _, c := range s {
		if unicode.IsControl(c) {
			return "", fmt.Errorf("control character %U in text", c)
		}
	}
	return s, nil
}
