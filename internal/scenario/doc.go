// Package scenario parses the ride's scenario language: one step a line,
// run in order by the launcher (see docs/scenarios.md).
//
// Invariants:
//   - Parse accepts a file whole or not at all: the first problem is returned
//     as an *Error naming FILE:LINE, and no step is returned with it.
//   - Every step carries the FILE:LINE it came from, for the runner's reports.
//   - Roles, signals and durations are checked here, so the runner never
//     meets a step it cannot carry out. A signal is stored as its number.
//   - It knows no process: it imports nothing of sigride but internal/vocab,
//     whose names of signals and roles it reads and writes.
package scenario
