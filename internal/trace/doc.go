// Package trace is the ride's event model: what happened, in which process,
// when. The launcher collects events and writes them as JSON Lines; this
// package also renders them as a sequence diagram, SVG or Mermaid.
//
// Invariants:
//   - Write puts events out in time order (stable for equal times), one
//     JSON object a line, whatever order they were collected in: reports
//     from different processes reach the launcher out of order.
//   - Read accepts exactly what Write produces, checked: known events,
//     known fields only, bounded lines.
//   - Renderers are pure functions of the events: no external tool, no
//     external reference in the output.
//   - It knows no process: it imports nothing of sigride.
package trace
