// Package proctest holds what the tests of sigride's binaries share: they
// run the real binaries as real processes.
//
// Invariants:
//   - Build builds the binaries once per test binary, into a temp dir.
//   - Subreaper makes the test process a child subreaper, so the processes
//     a test orphans on purpose are re-parented to it and reaped, not left
//     to a PID 1 that may not reap.
//   - Lines keeps what a process printed and lets a test wait until n
//     lines match: tests synchronise on what a process says, never on a
//     sleep, and a wait that times out fails with the lines it saw.
//   - Only tests import it.
package proctest
