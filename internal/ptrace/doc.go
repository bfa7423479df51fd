// Package ptrace watches a program and every process it makes with
// ptrace(2), and says what each did: who it made, what it ran, which
// signals it took from whom and what became of them, how it ended. It is
// the only package of sigride that calls ptrace; the launcher stands on it
// to run a program it did not write as the ride ("launcher -- CMD").
//
// Where ptrace is refused (Seize fails: EPERM under a seccomp profile
// that denies it, Yama's ptrace_scope 3), Watch watches the
// same program without it, from /proc and pidfds: a Tracer all the same,
// its Events of the kinds /proc can tell (Spawn, Exec, Dispositions,
// Exit, Reaped), never those only a system call shows (Signal, Stop,
// Send, SendFailed, Print, Reap).
//
// Invariants:
//   - One thread does it all: a goroutine locked to its OS thread for the
//     life of the Tracer seizes the program, makes every ptrace request
//     (the kernel takes them from the tracer thread only) and is the only
//     waiter while it runs: wait4 by anyone else would take the tracees'
//     stops, and the exits of the supervisor's own children, from under
//     it. The supervisor's children that end (the program, orphans it
//     adopted as a subreaper) come out of the Tracer as Reaped events.
//     So a process runs one Tracer at a time, and nothing else of it
//     waits for a child meanwhile (supervise.Reap neither).
//   - PTRACE_SEIZE, never PTRACE_ATTACH or PTRACE_TRACEME: a tracee is
//     never stopped by the tracing itself, and a job-control stop (^Z, a
//     SIGSTOP) is a stop as without a tracer (PTRACE_LISTEN), reported.
//   - Every signal a tracee was about to take is given back to it as it
//     was (re-injected): the program runs as it would untraced, only
//     slower.
//   - The program is seized before it runs its first instruction: it is
//     started held (a shell that waits for a byte, then execs it), and
//     let go once seized, so its first fork is watched too. Every process
//     it makes is seized with it by the kernel (fork, vfork, clone).
//   - PTRACE_O_EXITKILL: if the supervisor dies, the kernel kills every
//     tracee; nothing runs on untraced, half-watched.
//   - A watcher (Watch) makes no ptrace request, and is the only waiter
//     as a Tracer is: it reaps the supervisor's children (wait4, WNOHANG)
//     and says them as Reaped. It looks every 5 ms while something
//     changes, up to every 20 ms while nothing does, and at once when a
//     process it knows ends (its pidfd): a look reads a few /proc files
//     per live process (status, cmdline, each thread's children), kept
//     open, and the supervisor's own children, so its work is bounded by
//     the processes alive. A process is kept by its pidfd from the
//     first look that finds it, so a pid used again is never taken for
//     it; one that lives less than a look may never be seen. The ends of
//     one look are said a child before its parent (a parent that reaped
//     its child ended after it), the supervisor's own children last. If
//     the supervisor dies, the program runs on: nothing kills it.
//   - A watcher's Blocked is the mask as the process set it: a process
//     waiting in sigwaitinfo or sigtimedwait has the signals it waits
//     for unblocked by the kernel for the wait, and /proc's SigBlk shows
//     them so; the watcher adds them back, read from /proc/PID/syscall
//     and the process's memory (/proc/PID/mem). Those files are read on
//     the terms of a ptrace attach (the same user; Yama's ptrace_scope 3
//     refuses them, a seccomp profile does not), but are no ptrace
//     request.
//   - Blocked is the process's, Tracer and watcher alike: what every one
//     of its threads blocks (a signal sent to a process goes to any thread
//     that does not block it), a thread in sigtimedwait counting what it
//     waits for.
package ptrace
