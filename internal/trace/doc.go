// Package trace is the ride's event model: what happened, in which process,
// when. The launcher collects events and writes them as JSON Lines; this
// package also renders them as a sequence diagram, SVG or Mermaid, and
// counts them into the summary a scenario ends with.
//
// Invariants:
//   - Write puts events out in time order (stable for equal times), one
//     JSON object a line, whatever order they were collected in: reports
//     from different processes reach the launcher out of order.
//   - Read accepts exactly what Write produces, checked: known events,
//     known fields only, bounded lines.
//   - Renderers and Summary are pure functions of the events; the
//     renderers use no external tool and put no external reference in
//     their output.
//   - It knows no process: it imports nothing of sigride but vocab (counts, keys).
package trace
