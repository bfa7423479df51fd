// Package cli holds what every sigride binary does the same way between its
// main and its logic: parsing flags into a config through a local
// pflag.FlagSet (with the flag types they share, such as Size), turning
// the error that run returns into an exit code, and a transfer's progress
// bar on a terminal (Bar). Policy is the parsing and the codes as a value,
// for a library that applies a binary's policy without importing this
// package.
//
// Invariants:
//   - Nothing in this package calls os.Exit; main alone does, with Code(err).
//   - A usage error (bad flag, missing or extra argument) prints the error and
//     the usage to stderr and maps to exit code 2; --help prints the usage to
//     stdout and maps to 0.
//   - An error wrapped in an *ExitError carries its own code; any other non-nil
//     error maps to 1.
//   - A Bar draws only on a terminal and only when not asked to be quiet:
//     output piped or redirected carries no bar.
package cli
