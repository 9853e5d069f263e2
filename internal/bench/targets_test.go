package bench

import "testing"

func TestEvaluate(t *testing.T) {
	res := []Result{
		{Workload: "get", Backend: "fs", Concurrency: 1, OpsPerSec: 1000, P50us: 60, BaselineP50us: 10, IPCFloorP50us: 30, AddedP50us: 50},
		{Workload: "get", Backend: "fs", Concurrency: 8, OpsPerSec: 1500, P50us: 80, BaselineP50us: 10, IPCFloorP50us: 30, AddedP50us: 70},
		{Workload: "grant", Backend: "fs", N: 10000, P50us: 1100, BaselineP50us: 1000, RatioP50: 1.1},
		{Workload: "revoke", Backend: "fs", N: 100000, P50us: 2e6, BaselineP50us: 1e6, RatioP50: 2, PeakRSSBytes: 100 << 20},
	}
	got := map[string]bool{}
	for _, tg := range Evaluate(res) {
		got[tg.Name] = tg.Met
	}
	want := map[string]bool{
		"fs/get c=1: added p50 <= 1.5 x IPC floor + 10us":          true,  // 50 <= 55
		"fs/get c=8: added p50 <= 1.5 x IPC floor + 10us":          false, // 70 > 55
		"fs/grant n=10000: p50 <= 1.2 x grant with 10 credentials": true,
		"fs/revoke n=100000 c=0: sweep <= 1.5 x raw read+write":    false,
		"fs/revoke n=100000: peak RSS < 256 MiB":                   true,
		"fs/get: throughput at c=8 >= 1.6 x c=1":                   false, // 1.5x
	}
	if len(got) != len(want) {
		t.Fatalf("targets %v, want %v", got, want)
	}
	for name, met := range want {
		if m, ok := got[name]; !ok || m != met {
			t.Errorf("%s: met=%v (present %v), want %v", name, m, ok, met)
		}
	}
}
