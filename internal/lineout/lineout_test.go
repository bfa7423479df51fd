package lineout

import (
	"bufio"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
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

// stalls writes lines to o until one is dropped, and checks that it took
// about Stall, no more, and that the next line is dropped at once.
func stalls(t *testing.T, o *Output) {
	t.Helper()
	line := []byte(strings.Repeat("x", 99) + "\n")
	deadline := time.Now().Add(20 * time.Second)
	for o.Dropped() == 0 {
		t0 := time.Now()
		o.Write(line)
		if d := time.Since(t0); d > Stall+Stall/2 {
			t.Fatalf("a line waited %v", d)
		}
		if time.Now().After(deadline) {
			t.Fatal("the output never filled")
		}
	}
	t0 := time.Now()
	o.Write(line)
	if d := time.Since(t0); d > Stall/2 || o.Dropped() != 2 {
		t.Errorf("the line after a drop took %v, dropped %d (want at once, 2)", d, o.Dropped())
	}
}

// TestTerminal: a terminal stopped by ^S (XOFF), and one nobody reads,
// hold no writer longer than Stall; once it goes again, so do lines.
func TestTerminal(t *testing.T) {
	for _, stop := range []bool{true, false} {
		t.Run(map[bool]string{true: "stopped", false: "not read"}[stop], func(t *testing.T) {
			ptmx, tty, err := pty.Open()
			if err != nil {
				t.Fatal(err)
			}
			defer ptmx.Close()
			defer tty.Close()
			o := New(tty)
			defer o.Close()
			if o.mode != nonblocking {
				t.Fatalf("a terminal written in mode %d", o.mode)
			}
			if stop {
				if _, err := ptmx.Write([]byte{0x13}); err != nil { // ^S
					t.Fatal(err)
				}
				// The line discipline acts on ^S when it reads it: a
				// line written before that would go through.
				waitStopped(t, o)
			}
			stalls(t, o)
			if stop {
				ptmx.Write([]byte{0x11}) // ^Q
			}
			got := make(chan struct{})
			go func() {
				// Read until the marker: the terminal holds the lines
				// written before the stop.
				var all []byte
				buf := make([]byte, 1<<16)
				for !strings.Contains(string(all), "after") { // ONLCR: "after\r\n"
					n, err := ptmx.Read(buf)
					if err != nil {
						return
					}
					all = append(all, buf[:n]...)
				}
				close(got)
			}()
			// Dropped at once while the terminal is still full: written
			// again until it goes.
			for deadline := time.Now().Add(10 * time.Second); ; {
				o.Write([]byte("after\n"))
				select {
				case <-got:
					return
				case <-time.After(10 * time.Millisecond):
				}
				if time.Now().After(deadline) {
					t.Fatal("the line after the stop never came")
				}
			}
		})
	}
}

// waitStopped writes single bytes until the terminal stops taking them.
func waitStopped(t *testing.T, o *Output) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := unix.Write(o.fd, []byte{'.'}); err == unix.EAGAIN {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the terminal never stopped on ^S")
		}
		time.Sleep(time.Millisecond) // the line discipline reads ^S on its own time, bounded
	}
}

// TestSocket: a socket whose peer does not read holds no writer longer
// than Stall; one whose peer is gone drops lines (EPIPE) and never kills.
func TestSocket(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	ours, peer := os.NewFile(uintptr(fds[0]), "ours"), os.NewFile(uintptr(fds[1]), "peer")
	defer ours.Close()
	o := New(ours)
	if o.mode != socket {
		t.Fatalf("a socket written in mode %d", o.mode)
	}
	stalls(t, o)
	peer.Close()
	o.Write([]byte("gone\n"))
	if o.Dropped() != 3 || o.Why("stdout") != "stdout is not read" {
		t.Errorf("to a closed peer: dropped %d (%s), want 3, not read", o.Dropped(), o.Why("stdout"))
	}
}

// TestGuarded: an output that cannot be opened again is written by a
// goroutine; a pipe nobody reads costs the writer Stall once, the line
// that stalled goes when the pipe is read, and is not counted dropped.
func TestGuarded(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	o := &Output{f: w, fd: int(w.Fd())}
	o.guard()
	defer o.Close()
	stalls(t, o)
	go io.Copy(io.Discard, r)
	// The line that stalled goes once the pipe is read: no longer counted,
	// even with no line after it (the last line of a process).
	for deadline := time.Now().Add(10 * time.Second); o.Dropped() != 1; {
		if time.Now().After(deadline) {
			t.Fatalf("dropped %d once the pipe was read, want 1", o.Dropped())
		}
		time.Sleep(time.Millisecond) // the writer goroutine's late answer, bounded
	}
	o.Write([]byte("again\n"))
	if o.Dropped() != 1 {
		t.Errorf("dropped %d after a line to a pipe that is read, want 1", o.Dropped())
	}
}

// TestGuardedNonblocking: an output someone made non-blocking, written by
// the goroutine, waits for a slow reader as a blocking one would: no line
// is dropped for an EAGAIN.
func TestGuardedNonblocking(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	fill(t, w)
	if err := unix.SetNonblock(int(w.Fd()), true); err != nil {
		t.Fatal(err)
	}
	o := &Output{f: w, fd: int(w.Fd())}
	o.guard()
	defer o.Close()
	go func() {
		time.Sleep(Stall / 10) // a slow reader, well within Stall: the line meets a full pipe first
		io.Copy(io.Discard, r)
	}()
	o.Write([]byte("slow\n"))
	if o.Dropped() != 0 {
		t.Errorf("dropped %d: %s", o.Dropped(), o.Why("stdout"))
	}
}

// fill writes into w until the pipe is full.
func fill(t *testing.T, w *os.File) {
	t.Helper()
	fd := int(w.Fd())
	unix.SetNonblock(fd, true)
	defer unix.SetNonblock(fd, false)
	junk := make([]byte, 4096)
	for {
		if _, err := unix.Write(fd, junk); err != nil {
			if err == unix.EAGAIN {
				return
			}
			t.Fatal(err)
		}
	}
}

// TestNotTheSame: outputs /proc would open as something else. A pty's
// master opened again is a new terminal: lines written to the master must
// reach its slave. A read-only descriptor is no output: lines fail,
// counted, and never go to the file it reads.
func TestNotTheSame(t *testing.T) {
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer ptmx.Close()
	defer tty.Close()
	o := New(ptmx)
	defer o.Close()
	o.Write([]byte("through the master\n"))
	buf := make([]byte, 100)
	tty.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := tty.Read(buf); err != nil || !strings.Contains(string(buf[:n]), "through the master") {
		t.Errorf("the slave read %q, %v; dropped %d", buf[:n], err, o.Dropped())
	}

	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	ro := New(r)
	ro.Write([]byte("into a read end\n"))
	if ro.Dropped() != 1 || ro.Why("stdout") != "stdout: bad file descriptor" {
		t.Errorf("a read end: dropped %d (%s), want 1, bad file descriptor", ro.Dropped(), ro.Why("stdout"))
	}
	ro.Close()
}
