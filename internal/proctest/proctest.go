package proctest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// Build builds the packages (paths relative to dir, e.g. "./launcher") into
// a new temp dir and returns it. The caller removes it. It builds them as
// make build does, without cgo: statically linked (see the Makefile).
func Build(dir string, pkgs ...string) (string, error) {
	out, err := os.MkdirTemp("", "sigride-bin-")
	if err != nil {
		return "", err
	}
	cmd := exec.Command("go", append([]string{"build", "-o", out + "/"}, pkgs...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		os.RemoveAll(out)
		return "", fmt.Errorf("build: %v\n%s", err, msg)
	}
	return out, nil
}

// Subreaper makes the test process a child subreaper.
func Subreaper() error {
	return unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
}

// ExitCode is a finished command's exit code as a shell reports it:
// 128+N for a process killed by signal N, -1 if it did not run.
func ExitCode(err error) int {
	if err == nil {
		return 0
	}
	if ee, ok := err.(*exec.ExitError); ok {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ee.ExitCode()
	}
	return -1
}

// Machine describes this machine for a benchmark's report: CPU model,
// cores, kernel and Go version.
func Machine() string {
	cpu := "unknown CPU"
	info, _ := os.ReadFile("/proc/cpuinfo")
	for _, line := range strings.Split(string(info), "\n") {
		if name, ok := strings.CutPrefix(line, "model name"); ok {
			cpu = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(name), ":"))
			break
		}
	}
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	return fmt.Sprintf("%s, %d cores, Linux %s, %s", cpu, runtime.NumCPU(), strings.TrimSpace(string(kernel)), runtime.Version())
}

// Stat reads a process's parent and state ('R', 'S', 'T', 'Z' ...) from
// /proc/PID/stat; ok is false when there is no such process.
func Stat(pid int) (ppid int, state byte, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, false
	}
	// "pid (comm) state ppid ...": comm may hold spaces and parentheses.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 2 {
		return 0, 0, false
	}
	ppid, _ = strconv.Atoi(f[1])
	return ppid, f[0][0], true
}

// FakeServer serves each connection accepted on ln with serve, in a
// goroutine of its own, then holds it open, silent, until the test ends:
// a peer that stops talking, for tests of the client's deadlines. ln is
// closed when the test ends.
func FakeServer(t testing.TB, ln net.Listener, serve func(c net.Conn)) {
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); close(done) })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				serve(c)
				<-done
			}()
		}
	}()
}
