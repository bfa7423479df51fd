// Package fileclient is the client side of the file server's TCP protocol
// (docs/protocol.md): connecting, a request and its answer, and the three
// transfers (a listing, a download, an upload), for every command that
// talks to the server (fileserver ls, get, put and bench) and the soak.
// It prints nothing: it returns what it fetched, or an error of one line
// in the words the commands print.
//
// Invariants:
//   - Every wait has a deadline. Connecting, and every silence of the
//     server after it (the answer, and every moment of a transfer either
//     way), end after Client.Timeout as a *SilenceError, "no answer from
//     ADDR for DUR". It bounds silence, not length: a transfer that keeps
//     moving is not cut however long it takes (peerio's progress
//     deadline).
//   - Every transfer is checked, its length and its SHA-256: a listing
//     before it is parsed, a download before it is made visible, an
//     upload by the server's answer, which must echo the size and the sum
//     sent. Drain alone, a benchmark's load, checks only the length, so
//     that what it measures is the server.
//   - Nothing partial is visible at a download's destination. A new name
//     or a regular file (atomicfile's rule) gets the bytes in PATH.part,
//     renamed over PATH only once whole and its sum checked. A wrong sum
//     removes PATH.part (a corrupt one must not be resumed); a connection
//     lost or silent, or a resume answered from another offset, keeps it
//     to resume. A FIFO, a device or stdout takes the bytes as they come,
//     and a wrong sum is an error once they are out.
//   - A size announced larger than the room beside PATH.part is refused
//     before a byte is written, a listing over wire.MaxListBody before it
//     is read.
//   - The server's words never reach an error raw: an error's message
//     from the server is passed through Printable. A listing's names are
//     returned as they came; whoever prints them prints Printable(name).
//   - Whatever fails, what was opened is closed: the connection, the file
//     sent, PATH.part.
package fileclient
