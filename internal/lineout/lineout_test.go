package lineout

import (
	"bufio"
	"os"
	"strings"
	"testing"
	"time"
)

// TestPipeNobodyReads: lines to a full pipe are dropped after Stall for
// the first and at once for the next, and counted; once the pipe is read
// again, the next line goes out whole. (After one drop, no line was ever
// written again: a write with a deadline already past is failed by the
// poller before it is tried.)
func TestPipeNobodyReads(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	o := New(w)
	defer o.Close()
	line := []byte(strings.Repeat("x", 99) + "\n")
	start := time.Now()
	for o.Dropped() == 0 {
		if _, err := o.Write(line); err != nil {
			t.Fatal(err)
		}
		if time.Since(start) > 10*time.Second {
			t.Fatal("the pipe never filled")
		}
	}
	t0 := time.Now()
	for range 100 {
		o.Write(line)
	}
	if d := time.Since(t0); d > Stall/2 {
		t.Errorf("100 lines to a full pipe took %v once one was dropped", d)
	}
	if o.Dropped() != 101 {
		t.Errorf("dropped %d, want 101", o.Dropped())
	}
	// Read what the pipe holds, then a line must get through whole.
	held := make([]byte, 1<<20)
	r.SetReadDeadline(time.Now().Add(time.Second))
	for {
		if _, err := r.Read(held); err != nil {
			break // the deadline: drained
		}
	}
	r.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := o.Write([]byte("after\n")); err != nil {
		t.Fatal(err)
	}
	got, err := bufio.NewReader(r).ReadString('\n')
	if err != nil || got != "after\n" {
		t.Errorf("after the pipe was read: %q, %v; dropped %d", got, err, o.Dropped())
	}
}
