// Package ride is the runtime the ride's two roles, the driver and the
// conductor, share, and the part of the protocol the launcher speaks with
// them.
//
// Invariants:
//
//   - Every line a role prints has the form "ROLE[PID]: TEXT\n" and goes out
//     in a single write(2), so lines from different processes sharing one
//     stdout never interleave (a pipe write of at most PIPE_BUF bytes is
//     atomic).
//   - A role talks to the launcher over one inherited control socket, always
//     at fd 3 (ControlFD): an AF_UNIX SOCK_SEQPACKET socketpair, so every
//     message is one packet, never split or merged, and a pidfd can travel
//     with it (SCM_RIGHTS). Messages are the text of Msg, parsed strictly.
//   - The launcher sends each role one "peer" message carrying the other
//     role's pidfd, opened by the launcher when it created that process. A
//     role signals its peer only through that pidfd: a pidfd names one
//     process for ever, so even if the peer has died and its PID been reused,
//     the signal can never reach a stranger. (Sending a PID instead would
//     race: the role could open or kill a PID the launcher has just reaped.)
//   - A role says "ready" only after its intake is made (NewIntake) and it
//     holds its peer: from then on no signal sent to it takes the default
//     action.
//   - A role takes its signals on one thread, its main one, in
//     sigtimedwait, and does the work there (the pidfd signal, the write).
//     The launcher starts it with Blocked blocked, which the runtime then
//     keeps blocked in every thread: those wait in the kernel, with their
//     sender, until taken, whatever the role is doing. Signals the runtime
//     unblocks everywhere (SIGINT, SIGQUIT) are taken there too when the
//     kernel gives them to the main thread, else through os/signal, on a
//     channel per signal, handed to the main thread by a wake (tgkill).
//   - No signal that reached the process is lost: a standard signal sent
//     while one of its kind is pending is merged into it, by the kernel
//     or by the intake, as the kernel does; the last one is always taken.
//     A signal the intake took is not taken again while another is
//     pending: a flood of one cannot hold back another. A role waiting
//     for its peer to get off first takes its signals meanwhile, and what
//     is pending once the peer is gone (Role.Await).
//   - When the control socket reaches EOF the launcher is gone, and the role
//     ends (the backstop to the parent-death signal).
//   - The runtime holds no policy of the binaries: how a command line is
//     parsed and a bad one reported, and which code an error exits with,
//     come in a Policy (cli.Policy), so it imports nothing of internal/cli.
//     A role's language is looked up once, by ParseFlags.
//   - On the path of a key press (signal in, signal out or one line out)
//     nothing else happens first: events are reported to the launcher after
//     the action, stamped with the CLOCK_MONOTONIC time of the signal's
//     arrival, so the launcher can order them across processes.
package ride
