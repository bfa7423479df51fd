// Package fileserve is the server of the file server's TCP protocol
// (internal/wire, docs/protocol.md): a Server serves LIST, GET and PUT
// from a Store, the library, one goroutine a connection, shaped like
// net/http's: Serve(listener), Shutdown(ctx). It also gives the TFTP
// server the same library (TFTPStore). It knows no process and no signal:
// the worker wires it to its inherited listener and to its stop.
//
// Invariants:
//   - Every wait on a peer has a deadline: a request's header must come
//     whole within Idle of the wait's start (trickling it does not extend
//     it), answered 24 timeout past it; every other read and every write
//     (replies, bodies by sendfile and splice) fails once no byte has moved
//     for Idle (internal/peerio). A connection so cut is logged, one line,
//     once it is closed and its slot free.
//   - At most MaxConns connections hold a slot at once; one more is
//     answered 23 busy and closed at once. Out of file descriptors, a
//     client is still answered busy, from a descriptor kept in reserve.
//   - LIST is bounded: at most maxListings listings alive at once, built or
//     being sent, each one walk of the Store shared by every LIST that
//     arrives while it is built; a LIST beyond waits at most Idle, then is
//     answered 23 busy. A listing is built in pieces, never past what a
//     client accepts (wire.MaxListBody): a larger library is answered 25
//     at once, no body sent.
//   - Nothing partial is visible: a PUT's size is checked against
//     MaxUpload, and its name and the free space by the Store, before
//     CONTINUE, so a refused body is never read; the body goes to a temp
//     file, committed only if its SHA-256 matches, and nothing is left on
//     any failure. A disk that fills mid-body is said to the client, the
//     rest of the body discarded so that it reads the answer.
//   - A GET sends no byte through user space but a small file's, which
//     goes with its header in one writev; a larger one goes by sendfile.
//   - An error answered leaves the stream whole and the connection open;
//     one that leaves it in doubt (a malformed request, a body cut short)
//     closes the connection.
//   - Shutdown leaves no accepted connection unread: it stops accepting
//     and waits for Serve to return, so every connection accepted is
//     counted; a connection idle between requests is closed at once, one
//     that has carried no request yet has its first served, a busy one
//     finishes its request, within the same deadlines; Shutdown returns
//     once all are closed (or its ctx ends).
//   - It touches no disk itself: every name, file and upload goes through
//     the Store, whose checks (names beneath the root, regular files only,
//     atomic commits, the free-space floor) both protocols share.
package fileserve
