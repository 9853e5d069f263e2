package bench

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/ALRubinger/aileron-store/internal/testenv"
	"github.com/ALRubinger/aileron-store/sdk"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// Every workload runs over the real fs plugin process with the raw file
// baseline and produces complete, consistent figures. No timing is asserted:
// speed targets are checked by the bench command, not by unit tests.
func TestRunAllWorkloadsOverFSPlugin(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "data")
	cfg := map[string]string{"path": dir}
	c, err := sdk.Open(ctx, testenv.Binary(t, "./plugins/fs/cmd/aileron-store-fs"), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	raw, err := OpenRaw(ctx, "fs", cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var got []Result
	err = Run(ctx, Env{Store: c, Ping: c.Ping, Raw: raw, StateDir: t.TempDir()},
		Params{Backend: "fs", N: 30, Concurrency: 2, Limits: Limits{Ops: 60}, ValueSize: 256},
		func(r Result) { got = append(got, r) })
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(Workloads) {
		t.Fatalf("%d results, want %d", len(got), len(Workloads))
	}
	for i, r := range got {
		if r.Workload != Workloads[i] || r.Backend != "fs" || r.N != 30 || r.Concurrency != 2 {
			t.Errorf("result %d header = %+v", i, r)
		}
		if r.Ops <= 0 || r.OpsPerSec <= 0 || r.P50us <= 0 || r.P99us < r.P50us || r.BaselineOpsPerSec <= 0 || r.BaselineP50us <= 0 || r.PeakRSSBytes <= 0 {
			t.Errorf("%s: incomplete figures %+v", r.Workload, r)
		}
		if r.RatioP50 != r.P50us/r.BaselineP50us || r.RatioOps != r.OpsPerSec/r.BaselineOpsPerSec {
			t.Errorf("%s: ratios inconsistent %+v", r.Workload, r)
		}
		if (r.Workload == "get" || r.Workload == "put") && r.IPCFloorP50us <= 0 {
			t.Errorf("%s: no IPC floor measured", r.Workload)
		}
	}
	// The baseline cleaned up after itself.
	if n, err := raw.List(ctx, "bench-raw-x"); err == nil || n != 0 {
		t.Errorf("raw baseline directory still listable after the run: %d, %v", n, err)
	}
}

func TestOpenRawErrors(t *testing.T) {
	ctx := context.Background()
	for backend, cfg := range map[string]map[string]string{"fs": {}, "s3": {}, "gcs": {}, "postgres": {}, "nope": {}} {
		if _, err := OpenRaw(ctx, backend, cfg); err == nil {
			t.Errorf("OpenRaw(%s, empty config) succeeded", backend)
		}
	}
}
