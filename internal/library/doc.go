// Package library is the file server's store: a directory whose files are
// listed, read and written by name, safely. Both protocols use it; neither
// touches the disk itself. It knows no protocol.
//
// Invariants:
//   - Every name from a client passes CheckName, then is resolved beneath
//     the root through os.Root: no name, and no symlink, ever reaches a file
//     outside the root.
//   - An upload is written to a temp file (TempPrefix) in its target's
//     directory, fsynced, checked against its SHA-256, and only then renamed
//     into place: a reader sees the old file or the whole new one, never a
//     part. Two uploads of one name: the last rename wins, whole.
//   - Temp files are never listed and never served; CleanTemp, called once
//     by the master before any worker starts, removes those a crash left.
//   - A small file (SmallMax bytes or fewer) is served from memory, and only
//     while its name still leads to the inode it was read from through
//     os.Root, unchanged (device, inode, size, mtime, ctime): one fstatat
//     per download checks it. The memory is bounded per library.
//   - A larger file's SHA-256 is kept beside it (the user.sigride.sha256 xattr,
//     falling back to memory) with the size and mtime it was computed for,
//     and recomputed only when those changed: a download does not hash.
package library
