package ride

import (
	"os"
	"runtime"
	"slices"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Signal is one signal as a role took it.
type Signal struct {
	Sig syscall.Signal
	// From is the pid of the process that sent it (kill, a pidfd,
	// sigqueue); 0 when the kernel sent it (a terminal's key) or when it
	// came through os/signal, which does not say.
	From int
	// User is si_code SI_USER: sent by kill(2) or a pidfd with no siginfo
	// of the sender's making, so From is the kernel's word. A process may
	// queue a signal with a siginfo of its own (rt_sigqueueinfo), any pid
	// in it, but only with a code below 0: never SI_USER.
	User bool
	T    int64 // when it was taken: CLOCK_MONOTONIC, as Now
}

// Blocked are the signals a role is started with blocked (the launcher
// passes them as supervise.Spec.Blocked): every signal of the ride that
// Go's runtime lets stay blocked in all its threads. Each role's Intake
// takes those it acts on, synchronously; the others stay pending, never
// acted on: for the conductor SIGUSR2 (which Go ignores anyway) and
// SIGTSTP (which it ignores).
var Blocked = []syscall.Signal{syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGTSTP}

// wakeSignal is what the Intake's own goroutines send its thread, and its
// thread alone (tgkill), to end a wait that no signal of the role ends: a
// signal that came through os/signal, the launcher gone. A standard
// signal, so that it is never refused: the kernel queues a real-time one
// only while the user's queue of them (RLIMIT_SIGPENDING) has room, and
// any process of the same user can fill it. SIGPWR: nothing of the ride
// sends it, nobody but an UPS daemon to init does, and Go's runtime
// ignores one it is not asked for (a stranger's, sent to the process,
// does nothing; one the thread takes while waiting is a wake for
// nothing). One queued at the thread is taken by that thread only.
const wakeSignal = syscall.SIGPWR

// sigsetSize is the size of the kernel's sigset_t, _NSIG/8: the size
// rt_sigtimedwait wants, not that of unix.Sigset_t.
const sigsetSize = 64 / 8

// Notify is signal.Notify's signature: NewIntake is given it, so that only
// a binary's main calls os/signal, and a test can stand in for it.
type Notify func(c chan<- os.Signal, sig ...os.Signal)

// Intake is where a role takes its signals: synchronously, on one thread,
// with sigtimedwait, the work done on that thread, as a C program with
// sigwaitinfo does; not through Go's handler, the os/signal goroutine and a
// channel, three threads and two hand-offs a signal.
//
// It takes a signal synchronously if the signal is blocked in every thread
// but while this one waits for it: then the kernel holds it pending until
// taken, with its sender (siginfo), whatever the role is doing, and a
// standard signal pending twice is merged into one, the last never lost.
// The runtime starts every thread from the mask the process had at exec,
// so a signal is held this way only if the role was started with it
// blocked (Blocked, which the launcher does) and nobody asks os/signal for
// it. SIGINT and SIGQUIT cannot be: the runtime unblocks the signals it
// would exit or throw on in every thread it starts (runtime.blockableSig).
// For those the Intake still waits on its thread, and, made on the main
// thread, still takes most of them first-hand: the kernel gives a signal
// sent to a process to its main thread when that thread wants it, as it
// does while waiting for it in sigtimedwait. One that comes while the
// thread is busy goes to another thread, the runtime's handler and
// os/signal (asked through Notify), and a goroutine of the Intake hands it
// over, waking the thread with wakeSignal. Either way it is taken once.
//
// Make it on the thread that will take the signals, with that goroutine
// locked to it (NewIntake locks it; for the main thread, lock it in an
// init function of package main), and call Next from that goroutine only.
type Intake struct {
	pid, tid int
	set      unix.Sigset_t    // what sigtimedwait takes: the role's signals and wakeSignal
	sigs     []syscall.Signal // the role's signals, as given
	held     []syscall.Signal // those blocked in every thread since exec

	// Next's own: what the pump handed over, not yet returned; and the
	// signals returned since Next last found none pending but them.
	queue []Signal
	taken uint64

	mu     sync.Mutex
	caught uint64 // a bit per signal that os/signal delivered and Next has not taken
	woken  bool   // a wakeSignal is on its way to the thread
}

// NewIntake makes the intake of sigs on the calling goroutine's thread,
// which it locks. It asks notify for those the process did not start with
// blocked, each on a channel of its own with room for one: a signal that
// finds its channel full is merged into the one there, as the kernel
// merges a pending signal, and never crowds out another signal.
func NewIntake(notify Notify, sigs ...syscall.Signal) *Intake {
	runtime.LockOSThread()
	in := &Intake{pid: unix.Getpid(), tid: unix.Gettid(), sigs: slices.Clone(sigs)}
	var mask unix.Sigset_t
	_ = unix.PthreadSigmask(unix.SIG_BLOCK, nil, &mask) // reading the mask cannot fail
	for _, s := range sigs {
		addSig(&in.set, s)
		if hasSig(&mask, s) {
			in.held = append(in.held, s)
			continue
		}
		c := make(chan os.Signal, 1)
		notify(c, s)
		go in.pump(c)
	}
	addSig(&in.set, wakeSignal)
	// This thread takes them only in sigtimedwait: never in the runtime's
	// handler, which would interrupt its work and send them the long way.
	_ = unix.PthreadSigmask(unix.SIG_BLOCK, &in.set, nil) // a valid set cannot fail
	return in
}

// Held are the signals the Intake takes first-hand, always: those the
// process started with blocked.
func (in *Intake) Held() []syscall.Signal { return slices.Clone(in.held) }

// pump hands the signals os/signal delivers on c to the thread.
func (in *Intake) pump(c <-chan os.Signal) {
	for s := range c {
		sig, ok := s.(syscall.Signal)
		if !ok {
			continue
		}
		in.mu.Lock()
		in.caught |= sigBit(sig)
		in.mu.Unlock()
		in.Wake()
	}
}

// Wake makes Next return, with the signals there are, perhaps none. Any
// goroutine may call it: Role.Loop does when the launcher is gone.
func (in *Intake) Wake() {
	in.mu.Lock()
	send := !in.woken
	in.woken = true
	in.mu.Unlock()
	if send {
		// A standard signal to a live thread: never refused. The thread
		// lives as long as the process.
		_ = unix.Tgkill(in.pid, in.tid, wakeSignal)
	}
}

// Next waits until a signal of the role is there, or Wake was called,
// and returns it (a zero Signal after a Wake with none). A signal once
// returned is not returned again while another is pending: Next looks for
// the others first, so a flood of one signal cannot hold back another.
// That look is a system call, made after the work on the signal returned
// before, not between a signal's arrival and its work. Call Next from the
// goroutine that made the Intake.
func (in *Intake) Next() Signal {
	for {
		if len(in.queue) > 0 {
			s := in.queue[0]
			in.queue = in.queue[1:]
			return s
		}
		var info siginfo
		sig := syscall.Signal(0)
		if in.taken != 0 {
			set := in.set
			set.Val[0] &^= in.taken
			if sig = in.wait(&set, &info, false); sig == 0 {
				in.taken = 0 // nothing else pending: any may come again
			}
		}
		if sig == 0 {
			sig = in.wait(&in.set, &info, true)
		}
		t := Now()
		// The wake too: it is queued at this thread, and the kernel hands
		// out a thread's own signals before the process's, so a stream of
		// wakes would otherwise hold back every held signal.
		in.taken |= sigBit(sig)
		switch {
		case sig == wakeSignal:
			in.queue = in.takeCaught(in.queue, t)
			if len(in.queue) == 0 {
				return Signal{T: t}
			}
		case slices.Contains(in.sigs, sig):
			return Signal{Sig: sig, From: info.from(), User: info.Code == siUser, T: t}
		}
	}
}

// Pending takes the role's signals pending now, without waiting, and
// returns them: those Next had yet to return, then those pending in the
// kernel, lowest number first, then those os/signal delivered that no wake
// has handed over yet. It takes each signal at most once, so a flood of
// one cannot keep it going: one sent again meanwhile is left pending. For
// a role's last look before it exits, when a wake may have been taken
// before a signal sent earlier (the kernel hands out the thread's own
// signals first). Call it from the goroutine that made the Intake.
func (in *Intake) Pending() []Signal {
	got := in.queue
	in.queue = nil
	set := in.set
	for {
		var info siginfo
		sig := in.wait(&set, &info, false)
		if sig == 0 {
			break
		}
		set.Val[0] &^= sigBit(sig)
		t := Now()
		switch {
		case sig == wakeSignal:
			got = in.takeCaught(got, t)
		case slices.Contains(in.sigs, sig):
			got = append(got, Signal{Sig: sig, From: info.from(), User: info.Code == siUser, T: t})
		}
	}
	// A wake still on its way finds nothing caught: Next returns it as a
	// wake for nothing.
	return in.takeCaught(got, Now())
}

// takeCaught appends what the pump handed over since the last wake, lowest
// number first.
func (in *Intake) takeCaught(queue []Signal, t int64) []Signal {
	in.mu.Lock()
	caught := in.caught
	in.caught, in.woken = 0, false
	in.mu.Unlock()
	for s := syscall.Signal(1); caught != 0; s++ {
		if caught&sigBit(s) != 0 {
			queue = append(queue, Signal{Sig: s, T: t})
			caught &^= sigBit(s)
		}
	}
	return queue
}

// wait takes one signal of set with rt_sigtimedwait: waiting for it when
// block is set, else only if one is pending (0 when none is).
func (in *Intake) wait(set *unix.Sigset_t, info *siginfo, block bool) syscall.Signal {
	var zero unix.Timespec
	ts := uintptr(unsafe.Pointer(&zero))
	for {
		var r uintptr
		var errno syscall.Errno
		if block {
			// Through the scheduler: the P goes to other goroutines while
			// this thread sleeps, and it wakes with no other thread's help.
			r, _, errno = syscall.Syscall6(unix.SYS_RT_SIGTIMEDWAIT, uintptr(unsafe.Pointer(set)), uintptr(unsafe.Pointer(info)), 0, sigsetSize, 0, 0)
		} else {
			r, _, errno = syscall.RawSyscall6(unix.SYS_RT_SIGTIMEDWAIT, uintptr(unsafe.Pointer(set)), uintptr(unsafe.Pointer(info)), ts, sigsetSize, 0, 0)
		}
		switch errno {
		case 0:
			return syscall.Signal(r)
		case unix.EINTR: // the runtime's handler ran on this thread (preemption, profiling)
			continue
		}
		return 0 // EAGAIN: none pending
	}
}

// siginfo is the kernel's siginfo_t as far as a signal sent by a process
// fills it: si_pid follows si_signo, si_errno and si_code.
type siginfo struct {
	Signo, Errno, Code int32
	_                  int32
	Pid                int32
	UID                uint32
	_                  [104]byte
}

// siUser is si_code's SI_USER, which only the kernel sets.
const siUser = 0

// from is the sender's pid when a process sent the signal: si_code is then
// SI_USER, SI_QUEUE, SI_TKILL or another value at or below 0; above 0 the
// kernel sent it (SI_KERNEL: a terminal's key), with no pid.
func (i *siginfo) from() int {
	if i.Code > 0 {
		return 0
	}
	return int(i.Pid)
}

// sigBit is s's bit in a mask of signals 1 to 64, the kernel's sigset_t
// on Linux (_NSIG is 64): the first word of a unix.Sigset_t.
func sigBit(s syscall.Signal) uint64 { return 1 << (uint(s) - 1) }

func addSig(set *unix.Sigset_t, s syscall.Signal)      { set.Val[0] |= sigBit(s) }
func hasSig(set *unix.Sigset_t, s syscall.Signal) bool { return set.Val[0]&sigBit(s) != 0 }
