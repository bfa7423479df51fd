// Package supervise is the supervision core that sigride's two supervisors,
// the ride's launcher and the file server's master, stand on. It starts
// children, owns all waiting for them, and stops them. It knows nothing of
// rides or file servers.
//
// Invariants:
//
//   - Every child is started on one OS thread, locked for the life of the
//     process (the spawner). A child's parent-death signal (PR_SET_PDEATHSIG)
//     fires when the thread that forked it exits, not the process (Go issue
//     27505); a Go thread exits when a goroutine locked to it ends, so a child
//     forked from an ordinary goroutine could be killed whenever some unrelated
//     locked goroutine ends on that thread. The spawner's thread never exits,
//     so the signal fires exactly when the supervisor dies.
//   - A child starts with the signal mask of the spawner's thread, plus
//     Spec.Blocked for that one fork: the runtime's BeforeFork saves the
//     forking thread's mask and the child restores it before exec. Only
//     the spawner's thread ever has its mask changed, and only around a
//     fork, so no signal meant for the supervisor waits on it.
//   - Each child is opened as a pidfd atomically with its creation
//     (CLONE_PIDFD). Every signal the supervisor sends goes through that pidfd,
//     and a pidfd handed to another process names the same process for ever:
//     a recycled PID can never receive it.
//   - One owner does all the waiting: Reap loops Wait4(-1, WNOHANG) and returns
//     every child that ended, ours or adopted as a subreaper. Nothing else may
//     wait (no exec.Cmd.Wait, no os.Process.Wait): two waiters race for the
//     same exit status and one of them loses it.
//   - Files are passed to a child as they are: starting one never switches
//     a shared socket to blocking mode (os.File.Fd does), which would leave
//     the other processes sharing it stuck in accept(2) or recv(2).
//   - A Group closes a child's pidfd only once that child is reaped.
//   - Every state a supervisor waits in has a deadline, kept by the Group:
//     Starting (the ready timeout), Running (the liveness timeout, renewed
//     by each heartbeat), Stopping (the grace). The loop selects on
//     Group.Deadline and calls Expired; a child overdue in Stopping is
//     killed there, the same for every supervisor; what an overdue
//     Starting or Running child means is the supervisor's policy. Stop with
//     no grace (SIGQUIT's "when done") is the one wait without a deadline.
//     A supervisor that comes to a Starting or Running deadline far past
//     it (it was stopped itself) renews it rather than blame the child.
//   - A child's control socket (Conn: a SOCK_SEQPACKET socketpair) carries
//     its readiness handshake; its EOF in the child means the supervisor is
//     gone, however it went: the backstop to the parent-death signal. The
//     supervisor reads each child's end with Conn.Watch, the child the
//     supervisor's with Conn.Backstop, written once for every supervisor.
//
// Only the caller's main may call signal.Notify; the supervisor's loop reads
// SIGCHLD from a channel it is given and calls Reap on each.
package supervise
