package ptrace

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// How often a watcher (Watch) looks at /proc: every pollEvery while
// something changes, and less often, up to every pollQuiet, while
// nothing does (a look costs tens of microseconds a process: at 5 ms, a
// few percent of a core). A process that lives less than that may go
// unseen; an end is seen at once (its pidfd wakes the watcher).
const (
	pollEvery = 5 * time.Millisecond
	pollQuiet = 20 * time.Millisecond
)

// Watch watches pid, a process that has not yet run the program (see
// Hold), and every process it will make, without ptrace: for where
// ptrace is refused (a container's seccomp profile that denies it, as
// Docker's default did before Linux 4.8; Yama's ptrace_scope 3). It says
// what /proc and pidfds tell, every 5 to 20 ms (pollEvery, pollQuiet)
// or at once when a process ends: Spawn (the first time it sees a
// process: one that lives less than a look may never be seen), Exec
// (when a process's command line changes), Dispositions, Exit, and
// Reaped for the supervisor's children, which it reaps, the only waiter
// as a Tracer is. Never Signal, Stop, Send, SendFailed, Print or Reap:
// those are seen only at the system call, with ptrace.
//
// An Exit's status is exact for the supervisor's children, and for the
// others on Linux 6.15 and later (PIDFD_INFO_EXIT); before, only while
// the process is a zombie: missed (its parent reaped it first), it is 0
// and NoStatus is set. Events come until no process of the program and
// no child of the supervisor is left.
func Watch(pid int) (*Tracer, error) {
	self := os.Getpid()
	_, err := os.Stat(fmt.Sprintf("/proc/%d/task/%d/children", self, self))
	return watch(pid, err != nil)
}

// watch is Watch; scan finds children by a scan of every process's
// /proc/PID/stat, for a kernel without children files
// (CONFIG_PROC_CHILDREN off): every scanEvery, not at every look, since
// it reads a file per process of the machine.
func watch(pid int, scan bool) (*Tracer, error) {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return nil, fmt.Errorf("watch %d: %w", pid, err)
	}
	self := os.Getpid()
	t := &Tracer{events: make(chan Event, eventBuffer), self: self, watching: true}
	w := &watcher{t: t, procs: map[int]*watchee{}, scan: scan, self: &kids{pid: self}, buf: make([]byte, 4096)}
	if w.keep(pid, 0, fd) == nil {
		return nil, fmt.Errorf("watch %d: %w", pid, unix.ESRCH)
	}
	go w.loop()
	return t, nil
}

// scanEvery is how often a watcher without children files scans /proc.
const scanEvery = 50 * time.Millisecond

// Watching says t is a watcher (Watch), not a Tracer: no ptrace, and so
// no Signal, Stop, Send, SendFailed, Print or Reap events.
func (t *Tracer) Watching() bool { return t.watching }

// watcher is the loop of a Tracer made by Watch.
type watcher struct {
	t        *Tracer
	procs    map[int]*watchee // the live processes of the program
	seen     int              // processes kept so far: their order
	self     *kids            // the supervisor's children: the program, orphans
	scan     bool             // no children files: a look scans /proc, now and then
	scanned  time.Time
	byParent map[int][]int // children, as the last scan found them
	buf      []byte        // what a /proc file was read into
	every    time.Duration // till the next look
	said     bool          // an event was sent since the last look
}

// watchee is what a watcher keeps of a live process of the program. Its
// /proc files are kept open and read again at each look: an open of a
// /proc file costs ten times a read.
type watchee struct {
	pid, pidfd      int
	status, cmdline int    // fds of its /proc files
	syscall         int    // fd of its /proc syscall file, -1 if refused
	call            []byte // what its syscall file said last
	waits           uint64 // the signals it waits for, if in sigwait (see waited)
	kids            *kids  // its threads' children files
	threads         int64  // its threads, as its status said last
	depth           int    // from the program (0), or from the supervisor for an orphan
	order           int    // the order it was seen in
	cmd             []byte
	masks           [3]uint64
	masksSaid       bool
}

// kids reads the children of a process: each of its threads' /proc
// children file (a process's child is its thread's), kept open.
type kids struct {
	pid    int
	fds    map[int]int // tid: its children file
	listed time.Time   // when its threads were last listed
}

// relist is how long a multi-threaded process's list of threads is
// taken as it was: a child of a thread newer than that is found when it
// is listed, or when its status gives another count of threads.
const relist = 100 * time.Millisecond

// end is a child of the supervisor the watcher reaped.
type end struct {
	pid    int
	status unix.WaitStatus
}

// loop looks, reports, and waits for the next look, until nothing is
// left.
func (w *watcher) loop() {
	defer close(w.t.events)
	defer func() {
		for _, p := range w.procs {
			w.drop(p)
		}
		w.self.close()
	}()
	for {
		// The ends first, what is new after: a new process's parent is
		// known then, alive or not.
		ended := w.ended()
		reaped, none, err := w.reap()
		if none {
			// No child left, so no process of the program either (any
			// would be the supervisor's, a subreaper's, or a descendant of
			// one of its children): every end is there to be seen.
			ended = w.ended()
		}
		w.report(ended, reaped)
		if none {
			return
		}
		if err != nil {
			w.t.err = err
			return
		}
		w.look()
		w.wait()
	}
}

// ended are the processes whose pidfd says they have ended (their whole
// thread group), in no order.
func (w *watcher) ended() []*watchee {
	ps, fds := w.pidfds()
	if n, err := unix.Poll(fds, 0); n <= 0 || err != nil {
		return nil // EINTR: seen next time
	}
	var out []*watchee
	for i, f := range fds {
		if f.Revents != 0 {
			out = append(out, ps[i])
		}
	}
	return out
}

// pidfds are the live processes and their pidfds, to poll.
func (w *watcher) pidfds() ([]*watchee, []unix.PollFd) {
	ps := make([]*watchee, 0, len(w.procs))
	fds := make([]unix.PollFd, 0, len(w.procs))
	for _, p := range w.procs {
		ps = append(ps, p)
		fds = append(fds, unix.PollFd{Fd: int32(p.pidfd), Events: unix.POLLIN})
	}
	return ps, fds
}

// reap reaps every child of the supervisor that has ended, in the order
// wait4 gives them; none says no child is left.
func (w *watcher) reap() (ends []end, none bool, err error) {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG|unix.WALL, nil)
		switch {
		case err == unix.EINTR:
			continue
		case errors.Is(err, unix.ECHILD):
			return ends, true, nil
		case err != nil:
			return ends, false, fmt.Errorf("wait: %w", err) // bad arguments only
		case pid <= 0:
			return ends, false, nil
		}
		ends = append(ends, end{pid: pid, status: ws})
	}
}

// report says the ends of one look: first those reaped by another
// (their parent, a process of the program), a child before its parent,
// which reaped it and so ended after it; then the supervisor's children
// it reaped, in wait4's order.
func (w *watcher) report(ended []*watchee, reaped []end) {
	now := mono()
	ours := map[int]bool{}
	for _, e := range reaped {
		ours[e.pid] = true
	}
	ended = slices.DeleteFunc(ended, func(p *watchee) bool { return ours[p.pid] })
	slices.SortFunc(ended, func(a, b *watchee) int {
		if a.depth != b.depth {
			return b.depth - a.depth
		}
		return a.order - b.order
	})
	for _, p := range ended {
		ws, ok := exitStatus(p.pid, p.pidfd)
		w.drop(p)
		w.send(Event{Kind: Exit, Pid: p.pid, Status: ws, NoStatus: !ok, T: now})
	}
	for _, e := range reaped {
		if p := w.procs[e.pid]; p != nil {
			w.drop(p)
			w.send(Event{Kind: Exit, Pid: e.pid, Status: e.status, T: now})
		}
		// A process never seen (it lived less than a look) or said ended
		// already (reaped by the supervisor once its parent died): all
		// the same, the supervisor's to hear of.
		w.send(Event{Kind: Reaped, Pid: e.pid, Status: e.status, T: now})
	}
}

// look says every change of command line or dispositions of the
// processes known, then finds those made since the last look, children
// of the program's processes or of the supervisor (orphans re-parented
// to it): a process's own events come after its maker's.
func (w *watcher) look() {
	now := mono()
	for _, p := range w.byOrder() {
		w.update(p, now)
	}
	children := w.children()
	type found struct{ pid, parent int }
	var queue []found
	for _, c := range children(w.t.self, w.self, 0) {
		queue = append(queue, found{c, w.t.self})
	}
	for _, p := range w.byOrder() {
		for _, c := range children(p.pid, p.kids, p.threads) {
			queue = append(queue, found{c, p.pid})
		}
	}
	for len(queue) > 0 {
		f := queue[0]
		queue = queue[1:]
		if w.procs[f.pid] != nil {
			continue
		}
		fd, err := unix.PidfdOpen(f.pid, 0)
		if err != nil {
			continue // gone already: it lived less than a look
		}
		if isEnded(fd) {
			// A zombie: said ended already, or never seen alive.
			_ = unix.Close(fd)
			continue
		}
		p := w.keep(f.pid, f.parent, fd)
		if p == nil {
			continue // gone meanwhile
		}
		dup, err := unix.FcntlInt(uintptr(p.pidfd), unix.F_DUPFD_CLOEXEC, 3)
		if err != nil {
			dup = -1
		}
		w.send(Event{Kind: Spawn, Pid: f.pid, Parent: f.parent, Pidfd: dup, T: now})
		if parent := w.procs[f.parent]; parent == nil || !bytes.Equal(p.cmd, parent.cmd) {
			w.execed(p, now) // not its maker's program, or its maker unknown
		}
		w.update(p, now)
		for _, c := range children(p.pid, p.kids, p.threads) {
			queue = append(queue, found{c, p.pid})
		}
	}
}

// update says p's exec and dispositions when they changed since last
// said.
func (w *watcher) update(p *watchee, now int64) {
	// The call it is in, read before its status and after, until the
	// same: else it may have entered a sigwait, or left one, between.
	var call [256]byte
	var b []byte
	var n int
	for range 3 {
		n = readCall(p, call[:])
		if b = w.read(p.status); b == nil {
			return // it ended: said with its end
		}
		var again [len(call)]byte
		if readCall(p, again[:]) == n && again == call {
			break
		}
	}
	if strings.HasPrefix(statusText(b, "State:"), "Z") {
		return // it ended: said with its end
	}
	p.threads = statusField(b, "Threads:", 10)
	m := [3]uint64{statusHex(b, "SigCgt:"), statusHex(b, "SigIgn:"), statusHex(b, "SigBlk:")}
	// Waited for but ignored: not blocked before the wait (the kernel
	// would have kept it), so discarded, not taken.
	m[2] |= waited(p, call[:n]) &^ m[1]
	if p.threads > 1 {
		m[2] &= otherThreadsBlock(p.pid)
	}
	// Empty: it is ending (its memory gone), no exec.
	if cmd := w.read(p.cmdline); len(cmd) > 0 && !bytes.Equal(cmd, p.cmd) {
		p.cmd = bytes.Clone(cmd)
		w.execed(p, now)
	}
	if p.masksSaid && m == p.masks {
		return
	}
	p.masks, p.masksSaid = m, true
	w.send(Event{Kind: Dispositions, Pid: p.pid, Caught: m[0], Ignored: m[1], Blocked: m[2], T: now})
}

// readCall reads p's /proc syscall file into buf ("NR ARG0 ARG1 ... SP
// PC" while it waits in a call, "running" else), zeroed first: how much
// it read, 0 when it cannot.
func readCall(p *watchee, buf []byte) int {
	clear(buf)
	if p.syscall < 0 {
		return 0
	}
	n, err := unix.Pread(p.syscall, buf, 0)
	if err != nil {
		return 0
	}
	return n
}

// waited are the signals p's main thread waits for in rt_sigtimedwait
// (sigwaitinfo, sigtimedwait), call its /proc syscall file: the kernel
// unblocks them for the wait, so /proc's SigBlk no longer shows them,
// though the process blocks them, and takes them, as it did before the
// call and will after it. The set is read from its memory
// (/proc/PID/mem), again only when the call's line changes. The syscall
// and mem files are read on the terms of a ptrace attach (the same user,
// and Yama's: ptrace_scope 3 refuses them), with no ptrace request, so a
// seccomp profile that refuses ptrace lets them be. 0 when it does not
// wait, or they are refused.
func waited(p *watchee, call []byte) uint64 {
	if bytes.Equal(call, p.call) {
		return p.waits
	}
	p.call, p.waits = bytes.Clone(call), 0
	f := strings.Fields(string(call))
	if len(f) < 2 || f[0] != strconv.Itoa(unix.SYS_RT_SIGTIMEDWAIT) {
		return 0
	}
	addr, err := strconv.ParseUint(f[1], 0, 63)
	if err != nil {
		return 0
	}
	mem, err := os.Open(fmt.Sprintf("/proc/%d/mem", p.pid))
	if err != nil {
		return 0
	}
	defer mem.Close()
	var set [8]byte // a sigset_t as the kernel takes it: 64 signals
	if n, _ := mem.ReadAt(set[:], int64(addr)); n == len(set) {
		p.waits = binary.NativeEndian.Uint64(set[:])
	}
	return p.waits
}

// otherThreadsBlock is what every thread of pid but its main one blocks:
// a signal sent to a process goes to any thread that does not block it.
// A thread waiting in sigtimedwait blocks what it waits for too (the
// kernel shows its mask without them meanwhile). All ones when there is
// no other thread.
func otherThreadsBlock(pid int) uint64 {
	all := ^uint64(0)
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return all
	}
	for _, e := range ents {
		tid, err := strconv.Atoi(e.Name())
		if err != nil || tid == pid {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/status", pid, tid))
		if err != nil {
			continue // it ended
		}
		blocked := statusHex(b, "SigBlk:")
		if call, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/syscall", pid, tid)); err == nil {
			t := &watchee{pid: pid}
			blocked |= waited(t, bytes.TrimSpace(call))
		}
		all &= blocked
	}
	return all
}

// execed says p runs the program its command line says.
func (w *watcher) execed(p *watchee, now int64) {
	path, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", p.pid))
	w.send(Event{Kind: Exec, Pid: p.pid, Path: path, T: now})
}

// byOrder are the live processes in the order they were seen.
func (w *watcher) byOrder() []*watchee {
	ps := make([]*watchee, 0, len(w.procs))
	for _, p := range w.procs {
		ps = append(ps, p)
	}
	slices.SortFunc(ps, func(a, b *watchee) int { return a.order - b.order })
	return ps
}

// isEnded says pidfd's process has ended.
func isEnded(pidfd int) bool {
	fds := []unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}
	n, _ := unix.Poll(fds, 0)
	return n > 0 && fds[0].Revents != 0
}

// wait waits for the next look, less if a process ends: pollEvery after
// a look that said something, twice as long as the last wait after one
// that did not, pollQuiet at most.
func (w *watcher) wait() {
	w.every = min(2*w.every, pollQuiet)
	if w.said {
		w.every = pollEvery
	}
	w.said = false
	_, fds := w.pidfds()
	_, _ = unix.Poll(fds, int(w.every/time.Millisecond)) // EINTR: look now
}

// send sends an event, and notes that something changed.
func (w *watcher) send(e Event) {
	w.said = true
	w.t.send(e)
}

// keep keeps a live process of the program, found as a child of parent,
// with its /proc files open; nil if it is gone already (pidfd closed).
func (w *watcher) keep(pid, parent, pidfd int) *watchee {
	p := &watchee{pid: pid, pidfd: pidfd, status: -1, cmdline: -1, syscall: -1, kids: &kids{pid: pid}, threads: 1, order: w.seen}
	var err error
	if p.status, err = openProc(pid, "status"); err == nil {
		p.cmdline, err = openProc(pid, "cmdline")
	}
	if err != nil {
		w.drop(p)
		return nil
	}
	p.syscall, _ = openProc(pid, "syscall") // -1 if refused: see waited
	p.cmd = bytes.Clone(w.read(p.cmdline))
	if pp := w.procs[parent]; pp != nil {
		p.depth = pp.depth + 1
	}
	w.seen++
	w.procs[pid] = p
	return p
}

// openProc opens /proc/PID/name to be read again and again.
func openProc(pid int, name string) (int, error) {
	return unix.Open(fmt.Sprintf("/proc/%d/%s", pid, name), unix.O_RDONLY|unix.O_CLOEXEC, 0)
}

// drop forgets a process that ended, and closes what was kept of it.
func (w *watcher) drop(p *watchee) {
	for _, fd := range []int{p.pidfd, p.status, p.cmdline, p.syscall} {
		if fd >= 0 {
			_ = unix.Close(fd)
		}
	}
	p.kids.close()
	delete(w.procs, p.pid)
}

// read reads a /proc file kept open, whole, from its start: nil if it
// cannot (its process is gone). What it returns is good until the next
// read.
func (w *watcher) read(fd int) []byte {
	for {
		n, err := unix.Pread(fd, w.buf, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil
		}
		if n < len(w.buf) {
			return w.buf[:n]
		}
		w.buf = make([]byte, 2*len(w.buf))
	}
}

// children is how this look finds a process's children: its threads'
// children files (threads: as many as its status said, 0 when unknown),
// or a scan of /proc, the last one.
func (w *watcher) children() func(pid int, k *kids, threads int64) []int {
	if !w.scan {
		return func(_ int, k *kids, threads int64) []int { return k.list(w, threads) }
	}
	if time.Since(w.scanned) >= scanEvery {
		w.byParent, w.scanned = scanChildren(), time.Now()
	}
	return func(pid int, _ *kids, _ int64) []int { return w.byParent[pid] }
}

// list reads the children of k's process, whose status said it has
// threads threads (0: unknown): when one, its own children file alone;
// else each thread's, its threads listed again when their count changed
// or every relist.
func (k *kids) list(w *watcher, threads int64) []int {
	if k.fds == nil || threads > 0 && int64(len(k.fds)) != threads || threads != 1 && time.Since(k.listed) >= relist {
		tids := []int{k.pid}
		if threads != 1 {
			tids = tidsOf(k.pid)
			k.listed = time.Now()
		}
		k.keep(tids)
	}
	var out []int
	for _, fd := range k.fds {
		for _, f := range bytes.Fields(w.read(fd)) {
			if c, err := strconv.Atoi(string(f)); err == nil {
				out = append(out, c)
			}
		}
	}
	return out
}

// keep keeps the children files of tids open, and those alone.
func (k *kids) keep(tids []int) {
	if k.fds == nil {
		k.fds = map[int]int{}
	}
	for tid, fd := range k.fds {
		if !slices.Contains(tids, tid) {
			_ = unix.Close(fd)
			delete(k.fds, tid)
		}
	}
	for _, tid := range tids {
		if _, ok := k.fds[tid]; ok {
			continue
		}
		if fd, err := openProc(k.pid, fmt.Sprintf("task/%d/children", tid)); err == nil {
			k.fds[tid] = fd
		} // else the thread is gone
	}
}

// close closes k's files.
func (k *kids) close() {
	for _, fd := range k.fds {
		_ = unix.Close(fd)
	}
	k.fds = nil
}

// tidsOf are pid's threads.
func tidsOf(pid int) []int {
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	var tids []int
	for _, t := range tasks {
		if tid, err := strconv.Atoi(t.Name()); err == nil {
			tids = append(tids, tid)
		}
	}
	return tids
}

// scanChildren reads the parent of every process in /proc, once, and
// says the children of each as they were then.
func scanChildren() map[int][]int {
	byParent := map[int][]int{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if f := statFields(pid); len(f) > 1 {
			if ppid, err := strconv.Atoi(f[1]); err == nil {
				byParent[ppid] = append(byParent[ppid], pid)
			}
		}
	}
	return byParent
}

// statFields are the fields of /proc/PID/stat after the command's name
// (which may hold spaces and parentheses): the state first (field 3),
// then the parent; nil when there is no such process.
func statFields(pid int) []string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(string(b[i+1:]))
}

// exitStatus is the wait status of pid, ended, whose pidfd is pidfd: the
// kernel keeps it for a pidfd once the process is reaped (Linux 6.15),
// and /proc shows it while it is a zombie. ok is false when neither did.
func exitStatus(pid, pidfd int) (ws unix.WaitStatus, ok bool) {
	if ws, ok := pidfdExit(pidfd); ok {
		return ws, true
	}
	if ws, ok := zombieStatus(pid); ok {
		return ws, true
	}
	return pidfdExit(pidfd) // reaped meanwhile
}

// pidfdInfo is the kernel's struct pidfd_info as first made
// (PIDFD_INFO_SIZE_VER0): enough for exit_code.
type pidfdInfo struct {
	mask     uint64
	cgroupid uint64
	ids      [11]uint32 // pid, tgid, ppid, and the credentials
	exitCode int32
}

const (
	pidfdInfoExit = 1 << 3 // PIDFD_INFO_EXIT
	// pidfdGetInfo is PIDFD_GET_INFO: _IOWR(0xFF, 11, struct pidfd_info).
	pidfdGetInfo = 3<<30 | uintptr(unsafe.Sizeof(pidfdInfo{}))<<16 | 0xFF<<8 | 11
)

// pidfdExit is the wait status the kernel kept for pidfd's process, once
// reaped (Linux 6.15 and later; before, ENOTTY).
func pidfdExit(pidfd int) (unix.WaitStatus, bool) {
	info := pidfdInfo{mask: pidfdInfoExit}
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(pidfd), pidfdGetInfo, uintptr(unsafe.Pointer(&info)))
	if errno != 0 || info.mask&pidfdInfoExit == 0 {
		return 0, false
	}
	return unix.WaitStatus(info.exitCode), true
}

// zombieStatus is the wait status of pid while it is a zombie: field 52
// of /proc/PID/stat (Linux 3.5 and later).
func zombieStatus(pid int) (unix.WaitStatus, bool) {
	f := statFields(pid) // exit_code is field 52
	if len(f) < 50 || f[0] != "Z" {
		return 0, false
	}
	n, err := strconv.Atoi(f[49])
	if err != nil {
		return 0, false
	}
	return unix.WaitStatus(n), true
}
