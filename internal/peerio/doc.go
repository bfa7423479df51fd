// Package peerio moves bytes between this process and a TCP peer under a
// progress deadline: an operation fails once its peer has let Idle pass
// without a byte moving, whatever the operation's total length, and
// however slowly the bytes come.
//
// Invariants:
//   - Every wait on the peer (a read, a write, a sendfile, a splice) has a
//     deadline: the last byte moved, or the start of the wait if later,
//     plus Idle. Only a byte moved renews it. A peer that stops reading or
//     sending is cut within Idle of the last byte; one that moves a byte
//     per Idle is not cut (bounding the whole transfer is the caller's
//     business).
//   - The deadline is armed only when a wait begins and cleared when it
//     ends: a call that finds the socket ready costs no timer, and no
//     deadline left over from one call can cut the next.
//   - A read deadline the caller fixes (SetReadDeadline) replaces the
//     progress deadline for reads until it is cleared; a deadline set on
//     the net.Conn meanwhile (to wake a reader) is left alone.
//   - Zero copy: a file goes out by sendfile(2) and comes in by splice(2)
//     through a pipe, never through user space. The socket is
//     non-blocking: each call moves what the socket takes or holds, so the
//     deadline is checked between calls.
//   - A silence is a *SilenceError, which wraps os.ErrDeadlineExceeded. A
//     write silence means the peer reads nothing more: only a close is
//     left to say to it.
//   - It knows no protocol: it imports nothing of sigride.
package peerio
