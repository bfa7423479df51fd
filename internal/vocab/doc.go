// Package vocab holds the names sigride writes in more than one place:
// signals, the ride's roles, and counts of things ("1 worker"). Every report, line, trace and scenario
// spells them through here, so a name cannot drift between the package
// that writes it and the one that reads it back.
//
// Invariants:
//
//   - It imports nothing of sigride: it is the floor beneath the
//     foundations, so supervise, scenario and trace may use it and the
//     arrows still point down.
//   - A signal's name is the kernel's, without the SIG prefix, as kill -l
//     and the "signal=NAME" of an exit write it; a signal without a name is
//     its number. Where the full name is wanted ("SIGUSR1", in traces and
//     logs), it is "SIG" + SignalName.
//   - The role names are the only ones the ride knows: the scenario language
//     accepts them, the roles print them, the launcher reports with them.
package vocab
