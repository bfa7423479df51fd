package ptrace

import (
	"encoding/binary"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// syscallInfo is the kernel's struct ptrace_syscall_info
// (PTRACE_GET_SYSCALL_INFO, Linux 5.3): the same layout on every
// architecture, which the kernel fills as far as the stop says.
type syscallInfo struct {
	Op   uint8 // syscallEntry, syscallExit
	_    uint8
	_    uint16
	Arch uint32 // AUDIT_ARCH_*
	_    uint64 // instruction pointer
	_    uint64 // stack pointer
	Nr   uint64 // entry: the call's number; exit: its return value (rval)
	Args [6]uint64
	_    uint32
	_    uint32
}

// What a syscallInfo is about (PTRACE_SYSCALL_INFO_*).
const (
	syscallEntry = 1
	syscallExit  = 2
)

// nativeArch is the AUDIT_ARCH of the tracer's own system calls: a tracee
// calling in another (a 32-bit program on a 64-bit kernel) numbers them
// otherwise, and is not read.
var nativeArch = map[string]uint32{"amd64": unix.AUDIT_ARCH_X86_64, "arm64": unix.AUDIT_ARCH_AARCH64}[runtime.GOARCH]

// call is a system call a tracee entered, kept until it returns.
type call struct {
	nr   uint64
	args [6]uint64
	t    int64
	sent *Event // the Send it made at its entry, if it sends a signal
}

// watched are the system calls the Tracer reads, entered and returned.
var watched = map[uint64]bool{
	unix.SYS_KILL: true, unix.SYS_TKILL: true, unix.SYS_TGKILL: true,
	unix.SYS_RT_SIGQUEUEINFO: true, unix.SYS_RT_TGSIGQUEUEINFO: true, unix.SYS_PIDFD_SEND_SIGNAL: true,
	unix.SYS_WRITE: true, unix.SYS_WRITEV: true,
	unix.SYS_WAIT4: true, unix.SYS_WAITID: true,
	unix.SYS_RT_SIGTIMEDWAIT: true,
	unix.SYS_RT_SIGACTION:    true, unix.SYS_RT_SIGPROCMASK: true,
}

// si_code of a SIGCHLD siginfo (and waitid's) for a child that ended.
const (
	cldExited = 1 // CLD_EXITED
	cldKilled = 2 // CLD_KILLED
	cldDumped = 3 // CLD_DUMPED
)

// maxPrint is the most of one write a Print event carries.
const maxPrint = 4096

// syscallStop reads a system call's stop of pid: at its entry, what it
// was asked; at its return, what came of it, as events.
func (t *Tracer) syscallStop(task *tracee, pid int, now int64) {
	var info syscallInfo
	size := unsafe.Sizeof(info)
	if ptrace(unix.PTRACE_GET_SYSCALL_INFO, pid, size, uintptr(unsafe.Pointer(&info))) != nil || info.Arch != nativeArch {
		task.call = nil
		return
	}
	switch info.Op {
	case syscallEntry:
		task.call = nil
		if watched[info.Nr] {
			task.call = &call{nr: info.Nr, args: info.Args, t: now}
			task.call.sent = t.sending(task.tgid, pid, task.call)
		}
	case syscallExit:
		c := task.call
		task.call = nil
		if c != nil {
			t.returned(task, pid, c, int64(info.Nr), now)
		}
	}
}

// returned makes the events of a watched call pid made, now returned
// with rval (a negative errno on failure).
func (t *Tracer) returned(task *tracee, tid int, c *call, rval int64, now int64) {
	pid := task.tgid // the process: events are about processes, memory is the process's
	var err error
	if rval < 0 && rval > -4096 {
		err = syscall.Errno(-rval)
	}
	a := c.args
	if c.sent != nil {
		if err != nil {
			t.send(Event{Kind: SendFailed, Pid: c.sent.Pid, Target: c.sent.Target, Sig: c.sent.Sig, Err: err, T: now})
		}
		return
	}
	switch c.nr {
	case unix.SYS_WRITE:
		if fd := int(int32(a[0])); (fd == 1 || fd == 2) && rval > 0 {
			read := func(from, n int) []byte { return readMem(pid, uintptr(a[1])+uintptr(from), n) }
			t.send(printed(pid, fd, int(rval), read, c.t))
		}
	case unix.SYS_WRITEV:
		if fd := int(int32(a[0])); (fd == 1 || fd == 2) && rval > 0 {
			read := func(from, n int) []byte { return readIovec(pid, uintptr(a[1]), int(a[2]), from, n) }
			t.send(printed(pid, fd, int(rval), read, c.t))
		}
	case unix.SYS_WAIT4:
		// wait4(pid, status, options): a stop or a continue is no reap
		// (WUNTRACED, WCONTINUED); the status says which it was.
		if rval > 0 && ended(tid, uintptr(a[1]), int(a[2])) {
			t.send(Event{Kind: Reap, Pid: int(rval), Parent: pid, T: now})
		}
	case unix.SYS_WAITID:
		// waitid(idtype, id, infop, options): the pid is in infop; WNOWAIT
		// leaves the child waitable.
		if rval == 0 && a[2] != 0 && a[3]&unix.WNOWAIT == 0 && a[3]&unix.WEXITED != 0 {
			if code, child, ok := sigFields(readMem(tid, uintptr(a[2]), 24)); ok && child > 0 &&
				(code == cldExited || code == cldKilled || code == cldDumped) {
				t.send(Event{Kind: Reap, Pid: child, Parent: pid, T: now})
			}
		}
	case unix.SYS_RT_SIGTIMEDWAIT:
		// A signal taken without a handler: the siginfo, if asked for, is
		// in the second argument.
		if rval > 0 {
			e := Event{Kind: Signal, Pid: pid, Sig: syscall.Signal(rval), Fate: Handled, Waited: true, Code: CodeUnknown, T: now}
			if a[1] != 0 {
				if code, from, ok := sigFields(readMem(tid, uintptr(a[1]), 24)); ok {
					e.Code = code
					if code != CodeKernel {
						e.From = from
					}
				}
			}
			t.send(e)
		}
	case unix.SYS_RT_SIGACTION, unix.SYS_RT_SIGPROCMASK:
		if err == nil {
			t.dispositions(task, tid, now)
		}
	}
}

// sending makes the Send event of a call that sends a signal, as it is
// entered: before the signal can arrive, so the Send comes before the
// receive it causes. Nil for any other call, and a probe (signal 0).
func (t *Tracer) sending(pid, tid int, c *call) *Event {
	a := c.args
	var target int
	var sig uint64
	switch c.nr {
	case unix.SYS_KILL, unix.SYS_TKILL, unix.SYS_RT_SIGQUEUEINFO:
		// kill(pid, sig): pid 0 is the caller's group, -1 everyone it may
		// signal, below -1 a group.
		target, sig = int(int32(a[0])), a[1]
		if c.nr == unix.SYS_KILL && target == 0 {
			if pgid, err := unix.Getpgid(pid); err == nil {
				target = -pgid
			}
		}
	case unix.SYS_TGKILL, unix.SYS_RT_TGSIGQUEUEINFO:
		target, sig = int(int32(a[1])), a[2]
	case unix.SYS_PIDFD_SEND_SIGNAL:
		target, sig = pidOfPidfd(tid, int(int32(a[0]))), a[1]
	default:
		return nil
	}
	if sig == 0 {
		return nil
	}
	e := Event{Kind: Send, Pid: pid, Target: target, Sig: syscall.Signal(sig), T: c.t}
	t.send(e)
	return &e
}

// dispositions makes the Dispositions event of a task's process as /proc
// says now (the mask is tid's, the thread that changed it), when they
// changed since the last said.
func (t *Tracer) dispositions(task *tracee, tid int, now int64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", tid))
	if err != nil {
		return
	}
	m := [3]uint64{statusHex(b, "SigCgt:"), statusHex(b, "SigIgn:"), statusHex(b, "SigBlk:")}
	// Handlers are the process's; a mask is a thread's. A signal sent to
	// the process goes to any thread that does not block it: the process
	// blocks what every thread blocks. A thread waiting in sigtimedwait
	// counts what it waits for as blocked: the kernel shows its mask
	// without them while it waits, and it takes them all the same.
	// Most processes have one thread, as its status says: no list to read
	// on each sigaction and sigprocmask then.
	if ents, err := otherTasks(b, task.tgid); err == nil {
		for _, e := range ents {
			other, err := strconv.Atoi(e.Name())
			if err != nil || other == tid {
				continue
			}
			ob, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/status", task.tgid, other))
			if err != nil {
				continue
			}
			blocked := statusHex(ob, "SigBlk:")
			if o := t.tasks[other]; o != nil && o.call != nil && o.call.nr == unix.SYS_RT_SIGTIMEDWAIT {
				if set := readMem(other, uintptr(o.call.args[0]), 8); len(set) == 8 {
					blocked |= binary.NativeEndian.Uint64(set)
				}
			}
			m[2] &= blocked
		}
	}
	if said, ok := t.said[task.tgid]; ok && m == said {
		return
	}
	t.said[task.tgid] = m
	t.send(Event{Kind: Dispositions, Pid: task.tgid, Caught: m[0], Ignored: m[1], Blocked: m[2], T: now})
}

// otherTasks lists /proc/TGID/task when status (a thread's) says its
// process has more than one thread; nothing else.
func otherTasks(status []byte, tgid int) ([]os.DirEntry, error) {
	if statusField(status, "Threads:", 10) <= 1 {
		return nil, nil
	}
	return os.ReadDir(fmt.Sprintf("/proc/%d/task", tgid))
}

// ended says a wait4 that returned a pid reaped it: its status (read
// from the caller, tid, at addr) says it exited or was killed; without
// one, its options did not ask for stops or continues.
func ended(tid int, addr uintptr, options int) bool {
	if addr == 0 {
		return options&(unix.WUNTRACED|unix.WCONTINUED) == 0
	}
	b := readMem(tid, addr, 4)
	if len(b) != 4 {
		return false
	}
	ws := unix.WaitStatus(binary.NativeEndian.Uint32(b))
	return ws.Exited() || ws.Signaled()
}

// sigFields reads a siginfo's si_code and si_pid: si_signo, si_errno and
// si_code, then the union, 8-aligned, si_pid first for every kind a
// process sends (kill, tkill, sigqueue) and for a child's end. ok is
// false when b is too short to hold them.
func sigFields(b []byte) (code int32, pid int, ok bool) {
	if len(b) < 20 {
		return 0, 0, false
	}
	return int32(binary.NativeEndian.Uint32(b[8:])), int(int32(binary.NativeEndian.Uint32(b[16:]))), true
}

// readMem reads n bytes of pid's memory at addr; what it could.
func readMem(pid int, addr uintptr, n int) []byte {
	if n <= 0 {
		return nil
	}
	buf := make([]byte, n)
	got, err := unix.ProcessVMReadv(pid, []unix.Iovec{{Base: &buf[0], Len: uint64(n)}}, []unix.RemoteIovec{{Base: addr, Len: n}}, 0)
	if err != nil || got < 0 {
		return nil
	}
	return buf[:got]
}

// readIovec reads at most n bytes of the cnt iovecs at addr in pid.
func readIovec(pid int, addr uintptr, cnt, from, n int) []byte {
	const iovecSize = 16 // two 64-bit words: base, length
	raw := readMem(pid, addr, min(cnt, 1024)*iovecSize)
	var out []byte
	for i := 0; i+iovecSize <= len(raw) && len(out) < n; i += iovecSize {
		base := uintptr(binary.NativeEndian.Uint64(raw[i:]))
		l := int(binary.NativeEndian.Uint64(raw[i+8:]))
		if from >= l {
			from -= l // before the bytes asked for
			continue
		}
		out = append(out, readMem(pid, base+uintptr(from), min(l-from, n-len(out)))...)
		from = 0
	}
	return out
}

// printed is the Print event of a write of n bytes to fd, read(from, k)
// reading its bytes: the first maxPrint, and of a longer one, the last
// maxPrint too (Tail), so that where its last line ends is known.
func printed(pid, fd, n int, read func(from, k int) []byte, t int64) Event {
	e := Event{Kind: Print, Pid: pid, Fd: fd, Len: n, Data: read(0, min(n, maxPrint)), T: t}
	if n > maxPrint {
		from := max(maxPrint, n-maxPrint)
		e.Tail = read(from, n-from)
	}
	return e
}

// pidOfPidfd is the pid a pidfd of pid's names, from /proc; 0 if unknown.
func pidOfPidfd(pid, fd int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/fdinfo/%d", pid, fd))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Pid:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return n
		}
	}
	return 0
}
