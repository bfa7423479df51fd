// Package atomicfile writes small files (pid files, traces, diagrams) so
// that a reader sees the old file or the whole new one, never a part.
//
// Invariants:
//   - The content goes to a temp file in the target's directory, renamed
//     into place only once complete; on any error nothing is left behind.
//   - It imports nothing of sigride.
package atomicfile
