// Package atomicfile is the one rule for every file a sigride binary
// writes (the client's -o, the launcher's --trace, --diagram and
// "diagram -o", pid files): a reader sees the old file or the whole new
// one, never a part, and nothing that is not a file of ours is replaced.
//
// Invariants:
//   - Resolve decides from what is at the path now: "-" is stdout; a new
//     name or a regular file is replaced atomically (a temp file in the
//     target's directory, renamed into place only once complete; on any
//     error nothing is left behind); a symlink to a regular file keeps
//     the link and its target is replaced; a FIFO, a character device or a
//     descriptor alias (/dev/stdout, /proc/self/fd/N) is written into,
//     never replaced; anything else (a directory, a socket, a block device,
//     a dangling or looping symlink) is refused with an error naming it.
//   - Rename checks again, just before the rename, that the name holds a
//     regular file or nothing: what appeared there since is refused.
//   - A FIFO is opened O_NONBLOCK: with no reader the open fails (ENXIO)
//     instead of waiting for ever, and its writes can take a deadline.
//   - A name that must be ours (a download's PATH.part) is opened with
//     O_NOFOLLOW and must be a regular file (OpenRegular).
//   - A pid file must be a regular file or a new name: a symlink or any
//     other file there is refused (WritePid).
//   - It imports nothing of sigride.
package atomicfile
