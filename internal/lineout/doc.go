// Package lineout writes lines to an output that may stop being read, or
// taking lines at all. It knows nothing of who writes them: the ride's
// roles and launcher write their lines through it, the file server's
// master and workers their log.
//
// Invariants:
//   - A line goes out in one write(2), whole, or not at all (but on a
//     regular file that fails mid-write, which may keep the part it took,
//     and a terminal or a pipe taking a line in parts as room comes).
//   - No writer waits more than Stall for an output nobody reads (a full
//     pipe, a stopped or unread terminal, a socket whose peer does not
//     read), and once a line was dropped the next ones wait not at all
//     until one goes: such an output costs a program at most Stall, once.
//     A closed pipe (EPIPE) drops lines too, and never kills: every write
//     is a system call of the package's own, never os.File's, which
//     raises SIGPIPE on fd 1 and 2.
//   - Write never fails: any error (a missing reader, ENOSPC, EIO) drops
//     the line, and Dropped counts every line not written; Why says why.
//   - A line an output has room for costs one write(2) (or send(2)):
//     poll(2) is called only for a line that has to wait.
//   - The non-blocking mode it needs is never forced on the other
//     processes sharing the output: a pipe or a terminal is written
//     through a descriptor of its own (a new open file description), a
//     socket with MSG_DONTWAIT. Where the pipe or terminal cannot be
//     opened again (another user's; no /proc), a goroutine of the Output
//     makes the blocking write and the writer waits for it at most Stall:
//     one thread may stay blocked, never the writer.
package lineout
