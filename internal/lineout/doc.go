// Package lineout writes lines to an output that may stop being read, or
// taking lines at all. It knows nothing of who writes them: the ride's
// roles and launcher write their lines through it, the file server's
// master and workers their log.
//
// Invariants:
//   - A line goes out in one write(2), whole, or not at all (but on a
//     regular file that fails mid-write, which may keep the part it took).
//   - No writer waits more than Stall for a pipe nobody reads, and once a
//     line was dropped the next ones wait not at all until one goes:
//     a full pipe costs a program at most Stall, once. A closed pipe
//     (EPIPE) drops lines too, and never kills.
//   - Write never fails: any error (a missing reader, ENOSPC, EIO) drops
//     the line, and Dropped counts every line not written; Why says why.
//   - A line a pipe has room for costs one write(2): a deadline is set only
//     for a line that has to wait.
//   - The descriptor it writes a pipe through is its own (a new open file
//     description on the same pipe): the non-blocking mode it needs is
//     never forced on the other processes sharing the output.
package lineout
