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

// TestWriteErrors: an output that fails every write (a full disk, a pipe
// with no reader left) never fails a line's writer: each line is dropped,
// counted, and Why names the cause.
func TestWriteErrors(t *testing.T) {
	full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
	if err != nil {
		t.Skipf("no /dev/full: %v", err)
	}
	defer full.Close()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	r.Close()
	for _, tc := range []struct {
		name string
		f    *os.File
		why  string
	}{
		{"/dev/full", full, "stdout: no space left on device"},
		{"a pipe with no reader", w, "stdout is not read"},
	} {
		o := New(tc.f)
		for range 3 {
			if n, err := o.Write([]byte("a line\n")); n != 7 || err != nil {
				t.Errorf("%s: Write = %d, %v; want 7, nil", tc.name, n, err)
			}
		}
		if o.Dropped() != 3 || o.Why("stdout") != tc.why {
			t.Errorf("%s: dropped %d (%s), want 3 (%s)", tc.name, o.Dropped(), o.Why("stdout"), tc.why)
		}
		o.Close()
	}
}
