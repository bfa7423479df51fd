package main

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

// rides is how many rides TestRideSoak runs: `make soak` runs 500 (--rides
// 500), `make test` the default.
var rides = flag.Int("rides", 20, "rides TestRideSoak runs back to back")

// TestRideSoak runs rides back to back, each with random keys (^C and ^\
// to the conductor) then a random end: ^Z to the driver (exit 0), kill -9
// of a role (exit 1), SIGTERM or SIGHUP to the launcher (143, 129). Each
// must end with the right exit code, no zombie, and no role left: the
// harness checks /proc after each.
func TestRideSoak(t *testing.T) {
	ends := []struct {
		name string
		code int
		do   func(r *rideProc)
	}{
		{"^Z", 0, func(r *rideProc) { r.kill(r.Driver, syscall.SIGTSTP) }},
		{"kill -9 driver", 1, func(r *rideProc) { r.kill(r.Driver, syscall.SIGKILL) }},
		{"kill -9 conductor", 1, func(r *rideProc) { r.kill(r.Conductor, syscall.SIGKILL) }},
		{"SIGTERM", 143, func(r *rideProc) { r.kill(r.cmd.Process.Pid, syscall.SIGTERM) }},
		{"SIGHUP", 129, func(r *rideProc) { r.kill(r.cmd.Process.Pid, syscall.SIGHUP) }},
	}
	counts := map[string]int{}
	keys, wrongCodes, zombiesSeen, rolesLeft := 0, 0, 0, 0
	start := time.Now()
	for range *rides {
		r := startRide(t, nil, "--lang", "en")
		for range rand.IntN(4) {
			r.kill(r.Conductor, []syscall.Signal{syscall.SIGINT, syscall.SIGQUIT}[rand.IntN(2)])
			keys++
		}
		zombiesSeen += r.checkNoZombies()
		end := ends[rand.IntN(len(ends))]
		counts[end.name]++
		end.do(r)
		if code := r.wait(); code != end.code {
			wrongCodes++
			t.Errorf("%s: exit %d, want %d\n%s", end.name, code, end.code, r.transcript())
		}
		for _, pid := range []int{r.Driver, r.Conductor} {
			if processAlive(pid) {
				rolesLeft++
				t.Errorf("%s: role %d left", end.name, pid)
			}
		}
		if t.Failed() && wrongCodes+zombiesSeen+rolesLeft > 10 {
			break // enough to see the pattern
		}
	}
	// The report, laid out like the file server's soak (make soak prints both).
	var b strings.Builder
	line := func(k string, v any) { fmt.Fprintf(&b, "%-44s %v\n", k, v) }
	fmt.Fprintf(&b, "\nride soak: %d rides back to back, random keys, a random end each\n", *rides)
	done := 0
	for _, n := range counts {
		done += n
	}
	line("rides", fmt.Sprintf("%d in %v", done, time.Since(start).Round(time.Millisecond)))
	line("keys sent (^C, ^\\ to the conductor)", keys)
	var names []string
	for n := range counts {
		names = append(names, n)
	}
	sort.Strings(names)
	line("ends, by kind", "")
	for _, n := range names {
		line("  "+n, counts[n])
	}
	line("wrong exit codes", wrongCodes)
	line("zombies seen mid-ride", zombiesSeen)
	line("roles left after the end", rolesLeft)
	fmt.Print(b.String())
}
