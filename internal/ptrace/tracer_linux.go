package ptrace

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Kind is what an Event tells.
type Kind int

const (
	Spawn        Kind = iota + 1 // Pid was made by Parent: a fork, a vfork, a clone that is a process
	Exec                         // Pid runs a new program, Path
	Signal                       // Pid is about to take Sig, sent by From (Code says how); Fate is what it does with it
	Stop                         // Pid stopped on Sig: a job-control stop
	Exit                         // Pid ended: Status
	Reaped                       // Pid, a child of the supervisor, ended and was reaped by the Tracer: Status
	Send                         // Pid sends Sig to Target (kill, tkill, tgkill, sigqueue, a pidfd): said as it calls, before the signal can arrive
	SendFailed                   // the Send before it from Pid failed: Err
	Print                        // Pid wrote Data to Fd, its stdout (1) or stderr (2)
	Reap                         // Parent reaped Pid (wait4, waitid)
	Dispositions                 // Pid's signal dispositions or mask changed: Caught, Ignored, Blocked
)

var kindNames = [...]string{Spawn: "spawn", Exec: "exec", Signal: "signal", Stop: "stop", Exit: "exit", Reaped: "reaped",
	Send: "send", SendFailed: "send failed", Print: "print", Reap: "reap", Dispositions: "dispositions"}

func (k Kind) String() string {
	if k > 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "kind " + strconv.Itoa(int(k))
}

// Fate is what a process does with a signal it takes: its disposition of
// it at that moment.
type Fate int

const (
	Handled    Fate = iota + 1 // a handler of its own runs
	Ignored                    // SIG_IGN, or the default of a signal the default ignores (SIGCHLD, SIGURG, SIGWINCH)
	Terminated                 // the default action: the process ends
	Dumped                     // the default action: the process ends, with a core dump
	Stopped                    // the default action: the process stops
	Continued                  // SIGCONT's default: a stopped process goes on
)

var fateNames = [...]string{Handled: "handled", Ignored: "ignored", Terminated: "terminated", Dumped: "core dumped", Stopped: "stopped", Continued: "continued"}

func (f Fate) String() string {
	if f > 0 && int(f) < len(fateNames) {
		return fateNames[f]
	}
	return "unknown"
}

// si_code values a sender leaves in a signal's siginfo (siginfo.h).
const (
	CodeUser   = 0    // SI_USER: kill(2), or a pidfd with no siginfo: si_pid is the sender, on the kernel's word
	CodeKernel = 0x80 // SI_KERNEL: the kernel's own, as a terminal's key (^C, ^\, ^Z)
	CodeQueue  = -1   // SI_QUEUE: sigqueue(3); the siginfo is the sender's making
	CodeTkill  = -6   // SI_TKILL: tkill(2), tgkill(2)
	// Not the kernel's: the signal was taken by sigwait without asking
	// for its siginfo (sigwait(3), sigwaitinfo(set, NULL)), so nobody
	// can say who sent it.
	CodeUnknown = -1 << 31
)

// Event is one thing a traced process did.
type Event struct {
	Kind   Kind
	Pid    int
	Parent int            // Spawn: the process that made Pid; Reap: the one that reaped it
	Pidfd  int            // Spawn: Pid's, opened before its pid could be reused (-1: none); the reader's to close
	Path   string         // Exec: the program it runs now
	Sig    syscall.Signal // Signal, Stop
	From   int            // Signal: the sender's pid as its siginfo says; 0 for the kernel
	Code   int32          // Signal: si_code: how it was sent (CodeUser ...)
	Fate   Fate           // Signal
	Waited bool           // Signal: taken with sigwaitinfo/sigtimedwait, not by a handler
	Target int            // Send: the pid (a thread's, for tkill and tgkill; -PGID for a process group)
	Err    error          // SendFailed: the errno the call returned
	Fd     int            // Print
	Data   []byte         // Print: the write's first bytes, up to 4096
	Len    int            // Print: how many bytes it wrote
	Tail   []byte         // Print: of a write longer than Data, its last bytes, up to 4096 (those between are not read)

	Caught, Ignored, Blocked uint64          // Dispositions: a bit per signal, 1 << (signo-1)
	Status                   unix.WaitStatus // Exit, Reaped
	NoStatus                 bool            // Exit, from a watcher (Watch): the status could not be read, and Status is 0
	T                        int64           // when the Tracer saw it: CLOCK_MONOTONIC, in nanoseconds
}

// options are the tracees' ptrace options, set atomically with the seize.
const options = unix.PTRACE_O_TRACESYSGOOD | unix.PTRACE_O_TRACEFORK | unix.PTRACE_O_TRACEVFORK |
	unix.PTRACE_O_TRACECLONE | unix.PTRACE_O_TRACEEXEC | unix.PTRACE_O_TRACEEXIT | unix.PTRACE_O_EXITKILL

// eventBuffer is how many events may wait for the reader: past it the
// tracer waits, and with it every tracee that stops meanwhile.
const eventBuffer = 4096

// Tracer watches one program: the process it seized and every process
// made from it.
type Tracer struct {
	events chan Event
	err    error // why the loop ended early; read after events is closed
	self   int
	// The loop's own, touched by its thread only: the tasks it traces,
	// and the dispositions last said for each process (Dispositions),
	// said again only when they change.
	tasks map[int]*tracee
	said  map[int][3]uint64
	// A Spawn's pidfd is dropped (-1) when it would be numbered this or
	// more: a program may make thousands of processes, and the tracer
	// needs descriptors of its own to read /proc (a wait it cannot judge
	// ours or not would never end).
	pidfdCeiling int
	// A watcher (Watch): no ptrace, a poll of /proc.
	watching bool
}

// tracee is what the Tracer keeps of a task it traces.
type tracee struct {
	tgid    int   // the process it is a thread of (itself for a process)
	stopped bool  // in a job-control stop already reported
	call    *call // the watched system call it is in, if any
}

// Seize starts tracing pid, a process that has not yet run the program
// (see Hold), and every process it will make. Events come on Events
// until no traced process and no child of the supervisor is left.
func Seize(pid int) (*Tracer, error) {
	t := &Tracer{events: make(chan Event, eventBuffer), self: os.Getpid(), pidfdCeiling: pidfdCeiling()}
	seized := make(chan error, 1)
	go t.loop(pid, seized)
	if err := <-seized; err != nil {
		return nil, err
	}
	return t, nil
}

// pidfdCeiling is half the descriptors this process may open: Spawn
// events' pidfds take at most that.
func pidfdCeiling() int {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil || rl.Cur > 1<<20 {
		return 1 << 19
	}
	return int(rl.Cur / 2)
}

// Events are the tracees' events, in the order the Tracer saw them. The
// channel is closed when nothing is left to trace, or on an error: see
// Err.
func (t *Tracer) Events() <-chan Event { return t.events }

// Err says why Events closed before every traced process had ended; nil
// once they all have. Call it after Events is closed.
func (t *Tracer) Err() error { return t.err }

// loop is the tracer thread: it seizes root, then waits for every
// tracee's stops and every child's end, answers each, and sends the
// events.
func (t *Tracer) loop(root int, seized chan<- error) {
	// Never unlocked: a tracee belongs to the thread that seized it, and
	// a tracer thread that exits kills its tracees (EXITKILL). The loop
	// ends only once nothing is traced.
	runtime.LockOSThread()
	defer close(t.events)
	if err := ptrace(unix.PTRACE_SEIZE, root, 0, options); err != nil {
		seized <- fmt.Errorf("seize %d: %w", root, err)
		return
	}
	seized <- nil
	tasks := map[int]*tracee{root: {tgid: root}}
	t.tasks, t.said = tasks, map[int][3]uint64{}
	for {
		pid, ws, ours, err := t.wait()
		switch {
		case err == unix.EINTR:
			continue
		case errors.Is(err, unix.ECHILD):
			return // nothing left
		case err != nil:
			// Nothing else fails on valid arguments. Ending here ends the
			// tracer thread, and with it (EXITKILL) every tracee: better
			// than waiting on a wait that cannot work.
			t.err = fmt.Errorf("wait: %w", err)
			return
		}
		now := mono()
		if ws.Stopped() {
			t.stopped(tasks, pid, ws, now)
			continue
		}
		task := tasks[pid]
		delete(tasks, pid)
		switch {
		case task == nil:
			// A child of the supervisor never traced: all the same, the
			// supervisor's to hear of.
			t.send(Event{Kind: Reaped, Pid: pid, Status: ws, T: now})
		case task.tgid != pid:
			// A thread ended: its process goes on, its mask maybe not
			// what it was (the process blocks what all threads block).
			if main := tasks[task.tgid]; main != nil {
				t.dispositions(main, task.tgid, now)
			}
		default:
			delete(t.said, pid)
			t.send(Event{Kind: Exit, Pid: pid, Status: ws, T: now})
			if ours {
				// Our own child: this wait has reaped it. Another's stays
				// a zombie for its parent to reap; if that parent dies
				// first, it is ours, and comes again, as a pid no longer
				// traced.
				t.send(Event{Kind: Reaped, Pid: pid, Status: ws, T: now})
			}
		}
	}
}

// wait waits for the next stop or end of a tracee or child, and takes
// it. For an end, ours says whether the supervisor was its parent then,
// and so whether the wait reaped it: the parent is read from the zombie
// before it is taken (waitid WNOWAIT), as it was when it ended, not as it
// was when its exit began (a parent may die in between).
func (t *Tracer) wait() (pid int, ws unix.WaitStatus, ours bool, err error) {
	var info unix.Siginfo
	if err := unix.Waitid(unix.P_ALL, 0, &info, unix.WEXITED|unix.WSTOPPED|unix.WNOWAIT|unix.WALL, nil); err != nil {
		return 0, 0, false, err
	}
	raw := (*[unsafe.Sizeof(info)]byte)(unsafe.Pointer(&info))
	code, pid, _ := sigFields(raw[:])
	switch code {
	case cldExited, cldKilled, cldDumped:
		ours = ppidOf(pid) == t.self
	}
	for {
		// WUNTRACED: what waitid saw may be a stop of a child not traced.
		got, err := unix.Wait4(pid, &ws, unix.WALL|unix.WUNTRACED, nil)
		if err == unix.EINTR {
			continue
		}
		return got, ws, ours, err
	}
}

// stopped answers one ptrace stop of pid, and lets it go on.
func (t *Tracer) stopped(tasks map[int]*tracee, pid int, ws unix.WaitStatus, now int64) {
	task := t.seen(tasks, pid, 0, now)
	sig := ws.StopSignal()
	switch event := int(ws) >> 16; event {
	case unix.PTRACE_EVENT_STOP:
		if isStopSignal(sig) {
			// A job-control stop: it stays stopped, as it would untraced,
			// and is reported again when a signal comes (SIGCONT).
			if !task.stopped && task.tgid == pid {
				t.send(Event{Kind: Stop, Pid: pid, Sig: sig, T: now})
			}
			task.stopped = true
			t.listen(pid)
			return
		}
		// A new task's first stop, or one after PTRACE_INTERRUPT.
	case unix.PTRACE_EVENT_FORK, unix.PTRACE_EVENT_VFORK, unix.PTRACE_EVENT_CLONE:
		if msg, err := unix.PtraceGetEventMsg(pid); err == nil {
			t.seen(tasks, int(msg), task.tgid, now)
		}
	case unix.PTRACE_EVENT_EXEC:
		task.call = nil // execve returns into the new program: not a call of ours
		t.dispositions(task, pid, now)
		// A thread that execs takes over its process's pid; the one it
		// was is gone without an exit of its own.
		if msg, err := unix.PtraceGetEventMsg(pid); err == nil && int(msg) != pid {
			delete(tasks, int(msg))
		}
		path, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
		t.send(Event{Kind: Exec, Pid: pid, Path: path, T: now})
	case unix.PTRACE_EVENT_EXIT:
		// Its end comes through wait: said there.
	case 0:
		if sig == unix.SIGTRAP|0x80 {
			t.syscallStop(task, pid, now)
			break
		}
		// About to take sig: say so, and give it back.
		task.stopped = false
		from, code := siginfo(pid)
		t.send(Event{Kind: Signal, Pid: task.tgid, Sig: sig, From: from, Code: code, Fate: fate(pid, sig), T: now})
		t.resume(pid, sig)
		return
	}
	t.resume(pid, 0)
}

// seen is the task pid, kept from the first time the Tracer meets it:
// its maker's fork event, or its own first stop, which can come first.
// A new process is said (Spawn) then, before any event of its own;
// parent is its maker, 0 to read it from /proc.
func (t *Tracer) seen(tasks map[int]*tracee, pid, parent int, now int64) *tracee {
	if task := tasks[pid]; task != nil {
		return task
	}
	task := &tracee{tgid: tgidOf(pid)}
	tasks[pid] = task
	if task.tgid == pid {
		if parent == 0 {
			parent = ppidOf(pid)
		}
		// It is stopped, new, or its end waits for this thread: its pid
		// is its own until the tracer has taken that end.
		fd, err := unix.PidfdOpen(pid, 0)
		switch {
		case err != nil:
			fd = -1 // out of descriptors: the reader signals by pid
		case fd >= t.pidfdCeiling:
			_ = unix.Close(fd)
			fd = -1
		}
		t.send(Event{Kind: Spawn, Pid: pid, Parent: parent, Pidfd: fd, T: now})
	}
	return task
}

// resume lets pid go on, giving it sig (0: none).
func (t *Tracer) resume(pid int, sig syscall.Signal) {
	// Up to its next system call's entry or return, where the Tracer
	// reads what it is about. ESRCH: it was killed meanwhile (SIGKILL
	// does not wait for the tracer); its end comes through wait4 all the
	// same.
	_ = ptrace(unix.PTRACE_SYSCALL, pid, 0, uintptr(sig))
}

// listen leaves pid in its job-control stop, watched.
func (t *Tracer) listen(pid int) {
	_ = ptrace(unix.PTRACE_LISTEN, pid, 0, 0) // ESRCH: as in resume
}

// send hands an event to the reader, waiting for room.
func (t *Tracer) send(e Event) { t.events <- e }

// ptrace makes one ptrace request.
func ptrace(req, pid int, addr, data uintptr) error {
	_, _, errno := unix.Syscall6(unix.SYS_PTRACE, uintptr(req), uintptr(pid), addr, data, 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}

// siginfo reads the sender's pid and si_code of the signal pid stopped on.
func siginfo(pid int) (from int, code int32) {
	var info [128]byte // siginfo_t
	if ptrace(unix.PTRACE_GETSIGINFO, pid, 0, uintptr(unsafe.Pointer(&info[0]))) != nil {
		return 0, 0
	}
	code, from, _ = sigFields(info[:])
	if code == CodeKernel {
		return 0, code
	}
	return from, code
}

// fate is what pid does with sig now: its disposition, from /proc.
func fate(pid int, sig syscall.Signal) Fate {
	caught, ignored, ok := masks(pid)
	if !ok {
		return 0 // /proc does not say (the process is gone): unknown
	}
	bit := uint64(1) << (uint(sig) - 1)
	switch {
	case caught&bit != 0:
		return Handled
	case ignored&bit != 0:
		return Ignored
	}
	switch sig {
	case unix.SIGCONT:
		return Continued
	case unix.SIGCHLD, unix.SIGURG, unix.SIGWINCH:
		return Ignored
	case unix.SIGSTOP, unix.SIGTSTP, unix.SIGTTIN, unix.SIGTTOU:
		return Stopped
	case unix.SIGQUIT, unix.SIGILL, unix.SIGTRAP, unix.SIGABRT, unix.SIGBUS, unix.SIGFPE,
		unix.SIGSEGV, unix.SIGXCPU, unix.SIGXFSZ, unix.SIGSYS:
		return Dumped
	}
	return Terminated
}

func isStopSignal(sig syscall.Signal) bool {
	return sig == unix.SIGSTOP || sig == unix.SIGTSTP || sig == unix.SIGTTIN || sig == unix.SIGTTOU
}

// masks reads a task's caught and ignored signals from /proc.
func masks(pid int) (caught, ignored uint64, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, false
	}
	return statusHex(b, "SigCgt:"), statusHex(b, "SigIgn:"), true
}

// statusHex is the hexadecimal field name of a /proc status file: a
// mask of 64 signals, signal 64 its top bit (set in every Go program).
func statusHex(b []byte, name string) uint64 {
	n, _ := strconv.ParseUint(statusText(b, name), 16, 64)
	return n
}

// statusField is the number after name on its line of a /proc status
// file, 0 when there is none.
func statusField(b []byte, name string, base int) int64 {
	n, _ := strconv.ParseInt(statusText(b, name), base, 64)
	return n
}

// statusText is what follows name on its line of a /proc status file.
func statusText(b []byte, name string) string {
	i := bytes.Index(b, []byte("\n"+name))
	if i < 0 {
		return ""
	}
	line := b[i+1+len(name):]
	if j := bytes.IndexByte(line, '\n'); j >= 0 {
		line = line[:j]
	}
	return string(bytes.TrimSpace(line))
}

// tgidOf is the process a task belongs to; itself when /proc does not say.
func tgidOf(tid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", tid))
	if err != nil {
		return tid
	}
	if n := statusField(b, "Tgid:", 10); n > 0 {
		return int(n)
	}
	return tid
}

// ppidOf is a process's parent; 0 when /proc does not say.
func ppidOf(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	return int(statusField(b, "PPid:", 10))
}

// mono is CLOCK_MONOTONIC in nanoseconds.
func mono() int64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts) // cannot fail with a valid clock
	return ts.Nano()
}
