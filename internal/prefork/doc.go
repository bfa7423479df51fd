// Package prefork is a pre-fork worker pool on top of supervise: a master
// that owns one listening socket and keeps N worker processes accepting on
// it, run by signals the way nginx and unicorn are run.
//
// Invariants:
//   - Workers are the master's own binary re-executed (Go cannot fork
//     without exec) with the listening socket, a control socket and
//     Config.Extra inherited, each found by its name (FilesEnv, File), not
//     by a fixed number (a successor master gets the same). Their
//     configuration (Config.Settings) crosses exec whole, in JSON, as the
//     first message on the control socket: nothing is formatted back into
//     argv. They share the one socket (no SO_REUSEPORT): a worker's death
//     loses no connection queued on it.
//   - A worker counts as serving only once it said "ready" on its control
//     socket; it ends when that socket reaches EOF (the master is gone) or
//     on SIGTERM, SIGINT or SIGQUIT (stop accepting, finish what is in
//     flight, exit).
//   - No wait is without a deadline but SIGQUIT's: a worker (or successor
//     master) not ready within ReadyTimeout is killed, a worker as dying
//     young; a ready worker beats on its control socket (the period is
//     the master's first message to it) and one silent for WorkerTimeout
//     is killed and replaced; a worker retired (SIGHUP, SIGTTOU) or stopped
//     by SIGTERM or SIGINT, and every worker of a master that handed over,
//     is killed after Grace. A start that fails backs off like a worker
//     that dies young.
//   - Ready is called once as many workers are ready as the pool wants at
//     that moment (SIGTTOU may lower it, to zero even, as unicorn allows).
//   - The pool loop is the master's only waiter (supervise.Reap on SIGCHLD).
//   - The pool is level-triggered: after every change (a signal, a worker
//     ready or reaped, the back-off over) one function, reconcile, compares
//     the workers there are with the size wanted and starts or retires
//     workers to match, so no order of events leaves the pool off its size
//     or a SIGHUP half done. A worker that dies unasked is replaced at
//     once, or after a back-off that doubles while workers die young, up to
//     MaxBackoff.
//   - SIGTTIN adds a worker, SIGTTOU retires one (gracefully: an old one
//     during a SIGHUP, else one still starting, else the newest), except
//     while the pool stops (or drains after a hand-over): no worker is
//     started then, for none would be asked to stop. SIGHUP replaces
//     every worker, one at a time, retiring an old worker only once a new
//     one accepts in its place; a new worker that dies before it accepts
//     is replaced like any other.
//     SIGTERM and SIGINT stop the pool within the grace time, SIGQUIT
//     without one.
//   - SIGUSR2 starts a successor master from the binary on disk, handing it
//     the listening socket (and no parent-death signal: it must outlive its
//     predecessor). Only once the successor's workers accept does the old
//     master drain and exit; if the successor dies first, the old one
//     serves on. The listening socket is never closed in between, so no
//     connection is refused. A master refuses SIGUSR2 until it serves (a
//     successor handing over before it told its own predecessor would
//     leave two masters serving), and a stop before the hand-over stops
//     the successor too, and waits for it.
package prefork
