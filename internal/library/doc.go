// Package library is the file server's store: a directory whose files are
// listed, read and written by name, safely. Both protocols use it; neither
// touches the disk itself. It knows no protocol.
//
// Invariants:
//   - Every name from a client passes CheckName, then is resolved beneath
//     the root through os.Root: no name, and no symlink, ever reaches a file
//     outside the root.
//   - Nothing but a regular file or a directory is ever opened, so no
//     request waits in open(2) and none acts on a device: a name is
//     resolved to an O_PATH descriptor (which opens nothing), its type read
//     with fstat, and only a regular file is opened for reading, through
//     /proc/self/fd (the very inode checked, whatever the name leads to by
//     then; the library needs /proc). A symlink at the end of a name is
//     followed one hop at a time, each hop so checked. Directories are
//     opened O_DIRECTORY, which fails on anything else unopened. A FIFO,
//     socket or device, directly or through a symlink, is ErrNotAFile.
//   - An upload is written to a temp file (TempPrefix) in its target's
//     directory, fsynced, checked against its SHA-256, and only then renamed
//     into place: a reader sees the old file or the whole new one, never a
//     part. Two uploads of one name: the last rename wins, whole; the
//     other's file is unlinked, never left at a temp name.
//   - An upload leaves no directory behind unless it commits: the ones
//     Create made for its name are its own, and Abort (or a failed Commit)
//     removes those left empty, deepest first, with rmdir(2) only (never
//     what took a name's place). One another upload filled meanwhile stays;
//     one removed under an upload's Create is made again (createTries).
//   - An upload never replaces what is not a regular file: a name that is a
//     directory, FIFO, socket, device or symlink is ErrNotAFile at Create,
//     before any byte. At Commit the rename itself decides, so no instant
//     is left between a check and the rename: a free name is taken with
//     renameat2(RENAME_NOREPLACE), a taken one exchanged with
//     RENAME_EXCHANGE, and what the exchange brought back to the temp
//     name is what was replaced. A regular file is unlinked; anything else
//     is exchanged back at once and the upload refused as ErrNotAFile (the
//     new file held the name for that instant, whole). A name that
//     vanishes between the two is tried again, commitTries times in all.
//     Where the filesystem takes no renameat2 flags (EINVAL), Commit falls
//     back to rename(2) after an lstat: there, a FIFO, socket or symlink
//     made between the two is replaced, inside the root only.
//   - A listing is bounded, whatever is on disk: its walk reads at most
//     ListLimit.Visits directory entries (MaxListVisits by default), listed
//     or not, a directory at most listDirBatch entries at a time, and the
//     listed entries cost at most ListLimit.Bytes; past either it stops
//     with ErrTooLarge. A name CheckName refuses (longer than MaxName, not
//     UTF-8, a control character...) is neither listed nor walked beneath,
//     only counted: a listing names only what a client can ask for. It
//     holds one sorted directory's names per level.
//   - With a floor set (SetMinFree), an upload is let in only if the
//     filesystem's free space (statfs f_bavail, of its temp file) less
//     what this library's other uploads announced and have not yet
//     written, less what it still lacks, stays at or above the floor
//     (Upload.Reserve); Commit and Abort release it. Only this process's
//     uploads are counted: other processes' show once written.
//   - Temp files are never listed and never served; CleanTemp, called once
//     by the master before any worker starts, removes those a crash left.
//   - A small file (SmallMax bytes or fewer) is served from memory, and only
//     while its name still leads to the inode it was read from through
//     os.Root, unchanged (device, inode, size, mtime, ctime): one fstatat
//     per download checks it. The memory is bounded per library: each entry
//     is charged its content, its name and a fixed cost (cacheEntryCost)
//     against CacheBudget, and there are at most cacheMaxEntries, so
//     endless names of one empty file (through links to ".") cost no more.
//   - A larger file's SHA-256 is kept in the sums directory (sumsDir,
//     reserved: no client reaches it, List skips it), one entry per inode,
//     with the size, mtime and ctime it was computed for, and used only
//     while all three are the same: a file rewritten in place with its
//     size and mtime set back has a new ctime, and is hashed again. The
//     stamp is taken after whatever moves ctime (an upload's rename), and
//     nothing is written to the file itself. Every worker and every later
//     run share the entries; a download of an unchanged file does not hash.
//     Entries are bounded by the library's large files, exactly, however
//     commits race: a commit unlinks the very inode the exchange gave back
//     and then, if that was its last link, drops its entry; whoever keeps
//     a sum (a commit, a download) checks the file's link count after
//     writing the entry and drops it if 0, so an entry written after the
//     drop that was meant for it goes too. CleanTemp drops those of files
//     deleted behind the server's back (and, without renameat2 flags,
//     those two commits replaced between one's lstat and rename). A
//     process keeps at most sumsInMemory in front.
package library
