// Package wire is the file server's TCP protocol: the framing of requests
// and responses, their strict parsing and their encoding (docs/protocol.md).
//
// Invariants:
//   - Every message starts with the protocol version (Version); a reader
//     refuses any other before it reads further.
//   - Every length read from the peer is bounded (MaxName, MaxMessage,
//     MaxListBody) before any memory is allocated for it: the parser is the
//     one place untrusted bytes enter, and it is fuzzed.
//   - Reserved fields must be zero: a v1 reader refuses what it does not
//     understand rather than guess.
//   - Every transfer carries its length and a SHA-256, so each side detects
//     truncation or corruption.
//   - It knows no disk and no process: it imports nothing of sigride.
package wire
