package trace

import (
	"slices"
	"strings"
	"testing"
)

func TestSummary(t *testing.T) {
	burst := []Event{{T: 0, Pid: 10, Role: "launcher", Event: Spawn}}
	for i := 0; i < 100; i++ {
		burst = append(burst, Event{T: 0.1, Pid: 10, Role: "launcher", Event: Send, Signal: "SIGINT", To: 11})
	}
	for i := 0; i < 3; i++ {
		burst = append(burst,
			Event{T: 0.2, Pid: 11, Role: "conductor", Event: Receive, Signal: "SIGINT"},
			Event{T: 0.2, Pid: 11, Role: "conductor", Event: Send, Signal: "SIGUSR1", To: 12})
	}
	for i := 0; i < 2; i++ {
		burst = append(burst,
			Event{T: 0.3, Pid: 12, Role: "driver", Event: Receive, Signal: "SIGUSR1"},
			Event{T: 0.3, Pid: 12, Role: "driver", Event: Print, Text: "老司机开车了"})
	}
	for _, tc := range []struct {
		name   string
		events []Event
		want   []string
	}{
		{"nothing", nil, nil},
		{"a plain ride from a terminal", ride(), []string{
			"SIGINT to conductor[11]: received 1 (sent from outside)",
			"SIGUSR1 to driver[12]: sent 1, received 1",
			"SIGTSTP to driver[12]: received 1 (sent from outside)",
			"SIGUSR1 to conductor[11]: sent 1, received 1",
			`driver printed "老司机开车了" 1 time`,
			`driver printed "系好安全带，车速有点快" 1 time`,
			`conductor printed "到站了，请下车 <&>" 1 time`,
		}},
		{"a burst coalesced", burst, []string{
			"SIGINT to conductor[11]: sent 100, received 3 (97 coalesced, or still pending at the end)",
			"SIGUSR1 to driver[12]: sent 3, received 2 (1 coalesced, or still pending at the end)",
			`driver printed "老司机开车了" 2 times`,
		}},
		{"a send nothing answered", []Event{
			{T: 0, Pid: 10, Role: "launcher", Event: Spawn},
			{T: 0.1, Pid: 10, Role: "launcher", Event: Send, Signal: "SIGTERM", To: 11},
			{T: 0.2, Pid: 11, Role: "conductor", Event: Reap, Signal: "SIGTERM"},
		}, []string{"SIGTERM to conductor[11]: sent 1, received 0"}},
		{"a stranger sends the peer's signal", []Event{
			{T: 0, Pid: 10, Role: "launcher", Event: Spawn},
			{T: 0.1, Pid: 11, Role: "conductor", Event: Receive, Signal: "SIGUSR1", From: 4242},
			{T: 0.2, Pid: 12, Role: "driver", Event: Send, Signal: "SIGUSR1", To: 11},
			{T: 0.3, Pid: 11, Role: "conductor", Event: Receive, Signal: "SIGUSR1"},
		}, []string{
			"SIGUSR1 to conductor[11]: received 1 (sent from outside, by pid 4242)",
			"SIGUSR1 to conductor[11]: sent 1, received 1",
		}},
		{"the launcher signals itself", []Event{
			{T: 0, Pid: 10, Role: "launcher", Event: Spawn},
			{T: 0.1, Pid: 10, Role: "launcher", Event: Send, Signal: "SIGTERM", To: 10},
			{T: 0.2, Pid: 10, Role: "launcher", Event: Receive, Signal: "SIGTERM"},
		}, []string{"SIGTERM to launcher[10]: sent 1, received 1"}},
		{"the receiver's role from its later events", []Event{
			{T: 0.1, Pid: 10, Role: "launcher", Event: Send, Signal: "SIGINT", To: 11},
			{T: 0.2, Pid: 11, Role: "conductor", Event: Ready},
		}, []string{"SIGINT to conductor[11]: sent 1, received 0"}},
	} {
		if got := Summary(tc.events); !slices.Equal(got, tc.want) {
			t.Errorf("%s:\n%s\nwant:\n%s", tc.name, strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
		}
	}
}
