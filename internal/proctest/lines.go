package proctest

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"
	"time"
)

// Lines is what a process under test has printed, line by line, for tests
// to wait on: they synchronise on what a process says, not on sleeps. It is
// safe for concurrent use.
type Lines struct {
	mu      sync.Mutex
	lines   []string
	changed chan struct{} // a token whenever a line is added
}

// NewLines returns an empty Lines.
func NewLines() *Lines { return &Lines{changed: make(chan struct{}, 1)} }

// Add appends one line.
func (l *Lines) Add(line string) {
	l.mu.Lock()
	l.lines = append(l.lines, line)
	l.mu.Unlock()
	select {
	case l.changed <- struct{}{}:
	default:
	}
}

// Follow adds every line read from r until it ends.
func (l *Lines) Follow(r io.Reader) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		l.Add(sc.Text())
	}
}

// Changed receives a token after lines were added: a waiter re-checks then.
func (l *Lines) Changed() <-chan struct{} { return l.changed }

// Matching returns the lines that match re, in order.
func (l *Lines) Matching(re *regexp.Regexp) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var got []string
	for _, line := range l.lines {
		if re.MatchString(line) {
			got = append(got, line)
		}
	}
	return got
}

// Wait waits until n lines match re and returns them, or fails after
// timeout saying what was there.
func (l *Lines) Wait(re *regexp.Regexp, n int, timeout time.Duration) ([]string, error) {
	deadline := time.After(timeout)
	for {
		if got := l.Matching(re); len(got) >= n {
			return got, nil
		}
		select {
		case <-l.changed:
		case <-deadline:
			return nil, fmt.Errorf("fewer than %d lines matching %s within %v:\n%s", n, re, timeout, l)
		}
	}
}

// String is every line so far, one a line.
func (l *Lines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}
