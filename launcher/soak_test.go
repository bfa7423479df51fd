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
	keys := 0
	start := time.Now()
	for range *rides {
		r := startRide(t, nil, "--lang", "en")
		for range rand.IntN(4) {
			r.kill(r.Conductor, []syscall.Signal{syscall.SIGINT, syscall.SIGQUIT}[rand.IntN(2)])
			keys++
		}
		r.checkNoZombies()
		end := ends[rand.IntN(len(ends))]
		counts[end.name]++
		end.do(r)
		if code := r.wait(); code != end.code {
			t.Fatalf("%s: exit %d, want %d\n%s", end.name, code, end.code, r.transcript())
		}
		for _, pid := range []int{r.Driver, r.Conductor} {
			if processAlive(pid) {
				t.Fatalf("%s: role %d left", end.name, pid)
			}
		}
	}
	var names []string
	for n := range counts {
		names = append(names, fmt.Sprintf("%s %d", n, counts[n]))
	}
	sort.Strings(names)
	fmt.Printf("\nride soak: %d rides in %v, %d keys; ends: %s; every one with the right exit code, no zombie, no role left\n",
		*rides, time.Since(start).Round(time.Millisecond), keys, strings.Join(names, ", "))
}
