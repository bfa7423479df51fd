// Package tftp is a TFTP server (RFC 1350) with option negotiation
// (RFC 2347 OACK, RFC 2348 blksize, RFC 2349 timeout and tsize, RFC 7440
// windowsize), for the file server's worker pool: it reads requests from
// a UDP socket it is given (the workers share one) and serves each on a
// socket of its own. It knows no file system: a Store gives it files to
// send and uploads to commit. docs/tftp.md is the long form.
//
// Invariants:
//   - The packet parsers (ParseRequest, ParsePacket) are the only entry of
//     untrusted bytes: strict, bounded (MaxRequest, MaxBlockSize), fuzzed.
//     A malformed request is answered with ERROR 4; a malformed packet
//     during a transfer is dropped; an ERROR is never answered.
//   - Serve takes a transfer slot before it starts a goroutine or opens a
//     socket: whatever the flood, a Server holds at most MaxTransfers
//     goroutines and sockets beside its own. A request past the limit is
//     answered ERROR 0 BusyMessage from the shared socket (if it is a
//     well-formed request; junk gets nothing), never waiting more than
//     busyReplyWait, and the refusals are logged at most one line every
//     busyLogEvery, with their count.
//   - Each transfer has its own socket, bound to the listener's address on
//     a port of the PortRange (its TID) and connected to the client's:
//     the kernel drops packets from anyone else.
//   - A duplicate ACK never causes a resend (the Sorcerer's Apprentice bug):
//     only a timeout resends, from the first block not acknowledged, at most
//     Retries times in a row; then the transfer is given up.
//   - A write request's bytes go to Store.Create's Upload; the last block is
//     acknowledged only once Commit returned: a client told "done" finds the
//     file whole, and a transfer given up or refused commits nothing.
//     Store.Create is told the WRQ's tsize (-1 without), so a store can
//     refuse a file it has no room for before the first ACK.
//   - Every wait of a transfer (the OACK's, a window's, a block's, the
//     dally) goes through transfer.read, which ends it at Idle without
//     progress (a new block acknowledged, or received in order), whatever
//     the timeout option, the retries or the packets that came: a transfer
//     holds its slot, socket and thread at most Idle past its last block.
//   - Block numbers roll over from 65535 to 0. A window is lowered to what
//     the receiver's socket buffer holds (WindowFor: the kernel's charge
//     per datagram, MaxWindowBlocks, WindowBytes of payload); a sender
//     holds it and one block more in one buffer (ringBytes): at most
//     WindowBytes + MaxBlockSize + 4 bytes a datagram, whatever was asked,
//     so a worker's transfers hold at most MaxTransfers times that.
//   - A receiver holds a read buffer of one block and 5 bytes (a DATA
//     header and a byte to tell an oversized block), and the Upload what
//     it buffers (the file server's: 16 KiB): an upload at blksize 65464
//     about 82 KiB, MaxTransfers times that a Server.
//   - Unknown options, and options with values out of range, are left out of
//     the OACK and have no effect (RFC 2347); only a WRQ's tsize over the
//     upload limit is refused (ERROR 3).
package tftp
