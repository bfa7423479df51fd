package ride

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sigride/sigride/internal/lineout"
	"github.com/sigride/sigride/internal/supervise"
	"github.com/sigride/sigride/internal/vocab"
)

// Role is the runtime of one role process: its control socket, its peer, its
// stdout and the lines it prints there.
type Role struct {
	Name string
	Pid  int
	Msgs Messages // the lines it speaks, in its language

	out      io.Writer
	conn     *Conn
	peerName string
	peerPid  int
	peer     *supervise.Child // held by its pidfd, passed by the launcher
	gone     <-chan struct{}
	peerExit chan struct{}
	waitPeer sync.Once
	report   bool

	// Reports the launcher did not take within reportStall, and whether
	// the last one was such: the next are then tried without waiting.
	unreported  int
	reportStuck bool
}

// reportStall is how long a report waits for a launcher that does not
// read its socket (stopped, or itself held) before it is dropped: a role
// must go on taking keys whatever the launcher does.
const reportStall = time.Second

// Join takes the control socket at ControlFD and waits for the launcher to
// name the peer. Call it after the signal handlers are installed; then call
// Ready. With report set, the role reports its events (receive, send,
// print) to the launcher; the launcher asks for them only when it uses them,
// since each report wakes the launcher, which then competes for a CPU with
// the roles on the path of a key press.
func Join(name string, out io.Writer, report bool) (*Role, error) {
	conn, err := FromFD(ControlFD)
	if err != nil {
		return nil, err
	}
	m, fds, err := conn.Recv()
	switch {
	case errors.Is(err, io.EOF):
		conn.Close()
		return nil, errors.New("launcher gone before naming my peer")
	case err != nil:
		conn.Close()
		return nil, fmt.Errorf("wait for peer: %w", err)
	case m.Kind != KindPeer || len(fds) != 1:
		supervise.CloseFds(fds)
		conn.Close()
		return nil, fmt.Errorf("wait for peer: got %q with %d fds", m.Kind, len(fds))
	}
	return &Role{
		Name: name, Pid: os.Getpid(), out: out, conn: conn,
		peerName: m.Role, peerPid: m.Pid, peer: supervise.FromPidfd(m.Role, m.Pid, fds[0]), report: report,
		peerExit: make(chan struct{}),
	}, nil
}

// Ready tells the launcher this role is ready, then starts the backstop:
// Gone is closed when the control socket reaches EOF.
func (r *Role) Ready() error {
	if err := r.conn.Send(Msg{Kind: KindReady, Mono: Now()}); err != nil {
		return err
	}
	r.gone = r.conn.Backstop()
	return nil
}

// ErrLauncherGone is returned by Loop when the control socket reached EOF.
var ErrLauncherGone = errors.New("launcher gone: getting off")

// Loop hands each signal the intake takes to handle, until handle says
// the role is done (or fails), or the launcher is gone. The role's main
// then maps the error to its exit code and reports it with ReportExit.
// Call it from the goroutine that made the intake.
func (r *Role) Loop(in *Intake, handle func(s Signal) (done bool, err error)) error {
	go func() {
		<-r.gone
		in.Wake()
	}()
	for {
		s := in.Next()
		select {
		case <-r.gone:
			return ErrLauncherGone
		default:
		}
		if s.Sig == 0 {
			continue // woken for the launcher, or for nothing
		}
		if done, err := handle(s); done || err != nil {
			return err
		}
	}
}

// Await hands each signal the intake takes to handle until until is
// closed, and calls tick every every meanwhile, on this goroutine: for a
// role that has said it is leaving and waits for its peer to go first,
// still answering its signals. Once until is closed it hands over those
// still pending (Intake.Pending: a signal sent before until closed may
// come after the wake that says so) and returns the first error handle
// returned, if any: an error does not end the wait. The launcher gone
// ends it at once with ErrLauncherGone. every must be above 0. Call it
// from the goroutine that made the intake.
func (r *Role) Await(in *Intake, until <-chan struct{}, every time.Duration, tick func(), handle func(s Signal) error) error {
	stop := make(chan struct{})
	defer close(stop)
	due := make(chan struct{}, 1) // a tick to make, merged with one not yet made
	go func() {
		// Each wake follows what it is for, so the thread, woken, sees it.
		// One made after Await returned is a wake for nothing.
		again := time.NewTicker(every)
		defer again.Stop()
		for {
			select {
			case <-stop:
				return
			case <-r.gone:
				in.Wake()
				return
			case <-until:
				in.Wake()
				return
			case <-again.C:
				select {
				case due <- struct{}{}:
				default:
				}
				in.Wake()
			}
		}
	}()
	var first error
	keep := func(err error) {
		if first == nil {
			first = err
		}
	}
	for {
		select {
		case <-r.gone:
			return ErrLauncherGone
		default:
		}
		select {
		case <-until:
			for _, s := range in.Pending() {
				keep(handle(s))
			}
			return first
		default:
		}
		select {
		case <-due:
			tick()
		default:
		}
		if s := in.Next(); s.Sig != 0 {
			keep(handle(s))
		}
	}
}

// ReportExit tells the launcher the code this role is about to exit with.
func (r *Role) ReportExit(code int) {
	r.Report(Msg{Kind: KindExit, Mono: Now(), Code: code})
}

// Gone is closed when the launcher has gone away.
func (r *Role) Gone() <-chan struct{} { return r.gone }

// PeerPid is the peer's pid, for messages.
func (r *Role) PeerPid() int { return r.peerPid }

// SignalPeer sends sig to the peer through its pidfd. It reports
// ESRCH as an error wrapping unix.ESRCH when the peer has already exited.
func (r *Role) SignalPeer(sig syscall.Signal) error { return r.peer.Signal(sig) }

// PeerExited returns a channel closed once the peer has exited.
func (r *Role) PeerExited() <-chan struct{} {
	r.waitPeer.Do(func() { go r.pollPeer() })
	return r.peerExit
}

// pollPeer waits for the peer's pidfd to become readable: it has exited.
func (r *Role) pollPeer() {
	{
		fds := []unix.PollFd{{Fd: int32(r.peer.Pidfd()), Events: unix.POLLIN}}
		for {
			_, err := unix.Poll(fds, -1)
			if !errors.Is(err, unix.EINTR) {
				break
			}
		}
		close(r.peerExit)
	}
}

// Say prints text as one line "ROLE[PID]: TEXT" in one write.
func (r *Role) Say(text string) error {
	if _, err := r.out.Write(Line(r.Name, r.Pid, text)); err != nil {
		return fmt.Errorf("print: %w", err)
	}
	return nil
}

// Stranger is the sender the receive of s names, or 0 for none. A signal
// of the kind a peer sends (SIGUSR1, SIGUSR2) that is not the peer's on
// the kernel's word (FromPeer) is a stranger's, and the sender named is
// the pid its siginfo gives: kill(1) by hand, say, or a siginfo queued by
// hand (rt_sigqueueinfo), which may give any pid, the peer's own too,
// named all the same: the peer did not send it, and the conductor's word
// on stderr names that pid too. None is named when the siginfo gives no
// pid a process can have: 0 (a sender in a parent pid namespace; a signal
// taken through os/signal, which does not say) or, forged, one out of
// range, which a receive message could not carry. A key (SIGINT, SIGQUIT,
// SIGTSTP) is anyone's, never a stranger's.
func (r *Role) Stranger(s Signal) int {
	if s.Sig != syscall.SIGUSR1 && s.Sig != syscall.SIGUSR2 || r.FromPeer(s) || s.From <= 0 || s.From > maxPid {
		return 0
	}
	return s.From
}

// FromPeer says s was sent by the peer, on the kernel's word: SI_USER
// (which no process can forge) from the peer's pid. A sender in a parent
// pid namespace shows as pid 0, a forged siginfo as another code: neither
// is the peer.
func (r *Role) FromPeer(s Signal) bool { return s.User && s.From == r.peerPid }

// Print is a role's answer to one of the signals its peer sends, s: one
// line, then the report of both events. The receive names the sender if
// it is a stranger (Stranger).
func (r *Role) Print(s Signal, text string) error {
	printed := Now() // stamped before the write, so it precedes what the line causes
	err := r.Say(text)
	r.Report(r.receipt(s), Msg{Kind: KindPrint, Mono: printed, Text: text})
	return err
}

// Disregard is a role's answer to a signal it does not act on: one it
// takes from its peer only, sent by a stranger, or a key it already
// acted on. Nothing but the report of its receive, which names the
// sender if it is a stranger (Stranger).
func (r *Role) Disregard(s Signal) { r.Report(r.receipt(s)) }

// receipt is the report of s's receive: with its sender when that is a
// stranger (Stranger). A key's sender (Forward's) is anyone, and not told.
func (r *Role) receipt(s Signal) Msg {
	return Msg{Kind: KindReceive, Mono: s.T, Signal: "SIG" + vocab.SignalName(s.Sig), Pid: r.Stranger(s)}
}

// Forward is a role's answer to a key, s, whoever pressed it: out to the
// peer, then the report of both events. A peer already gone is reported
// as an error wrapping unix.ESRCH.
func (r *Role) Forward(s Signal, out syscall.Signal) error {
	sent, err := r.signal(out)
	events := []Msg{{Kind: KindReceive, Mono: s.T, Signal: "SIG" + vocab.SignalName(s.Sig)}}
	if err == nil {
		events = append(events, sent)
	}
	r.Report(events...)
	return err
}

// Resend sends out to the peer again, with no signal of its own that
// caused it, and reports the send.
func (r *Role) Resend(out syscall.Signal) error {
	sent, err := r.signal(out)
	if err == nil {
		r.Report(sent)
	}
	return err
}

// signal sends out to the peer and returns the send's event, stamped
// before the send, so that it precedes the peer's receive.
func (r *Role) signal(out syscall.Signal) (Msg, error) {
	m := Msg{Kind: KindSend, Mono: Now(), Signal: "SIG" + vocab.SignalName(out), Pid: r.peerPid}
	return m, r.SignalPeer(out)
}

// Report tells the launcher of events, after the fact, if it asked for
// them. A launcher that has gone is not an error here: Gone reports it.
// One that does not read gets reportStall, once; what it did not take is
// dropped, and counted (Unreported).
func (r *Role) Report(events ...Msg) {
	if !r.report {
		return
	}
	for _, m := range events {
		wait := reportStall
		if r.reportStuck {
			wait = 0
		}
		err := r.conn.SendWithin(wait, m)
		switch {
		case err == nil:
			r.reportStuck = false
		case errors.Is(err, os.ErrDeadlineExceeded):
			r.reportStuck = true
			r.unreported++
		default:
			return
		}
	}
}

// Unreported is how many events the launcher did not take.
func (r *Role) Unreported() int { return r.unreported }

// Close releases the control socket, the peer's pidfd and the output.
func (r *Role) Close() error {
	_ = r.peer.Close() // a pidfd's close fails only on a bad descriptor
	if o, ok := r.out.(*lineout.Output); ok {
		o.Close()
	}
	return r.conn.Close()
}

// Dropped is how many lines could not be written, and why ("stdout is not
// read", "stdout: no space left on device").
func (r *Role) Dropped() (n int, why string) {
	if o, ok := r.out.(*lineout.Output); ok {
		return o.Dropped(), o.Why("stdout")
	}
	return 0, ""
}

// Now is CLOCK_MONOTONIC in nanoseconds, the clock of every event. It is
// anchored once to clock_gettime, then advanced with Go's own monotonic
// reading (the vDSO, no system call), which runs on the same clock.
func Now() int64 { return monoBase + int64(time.Since(timeBase)) }

var monoBase, timeBase = anchor()

// anchor pairs a clock_gettime reading with a Go time. A process descheduled
// between the two reads would stamp every event off by the gap, enough to
// put a receive before the send that caused it: so each reading is
// bracketed by two Go times, and the tightest of several brackets is kept.
func anchor() (int64, time.Time) {
	const tries = 8
	var best time.Duration = -1
	var mono int64
	var base time.Time
	for i := 0; i < tries; i++ {
		var ts unix.Timespec
		before := time.Now()
		_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
		after := time.Now()
		if gap := after.Sub(before); best < 0 || gap < best {
			best, mono, base = gap, ts.Nano(), before.Add(gap/2)
		}
	}
	return mono, base
}
