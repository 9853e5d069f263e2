package bench_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/ALRubinger/aileron-store/internal/bench"
	"github.com/ALRubinger/aileron-store/internal/bench/floor"
	"github.com/ALRubinger/aileron-store/internal/bench/rawclient"
	"github.com/ALRubinger/aileron-store/internal/testenv"
	"github.com/ALRubinger/aileron-store/sdk"
)

// benchBinary is the bench binary: the floor process is the bench binary
// re-executed with floor.Arg.
const benchBinary = "./cmd/aileron-store-host/aileron-store-bench"

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
	raw, err := rawclient.Open(ctx, "fs", cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	fl, err := floor.Start(ctx, bench.WriteFloor("fs", raw), testenv.Binary(t, benchBinary), floor.Arg)
	if err != nil {
		t.Fatal(err)
	}
	defer fl.Close()
	var got []bench.Result
	err = bench.Run(ctx, bench.Env{Store: c, Ping: c.Ping, Floor: fl, Raw: raw, StateDir: t.TempDir()},
		bench.Params{Backend: "fs", N: 30, Concurrency: 2, Limits: bench.Limits{Ops: 60}, ValueSize: 256},
		func(r bench.Result) { got = append(got, r) })
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(bench.Workloads) {
		t.Fatalf("%d results, want %d", len(got), len(bench.Workloads))
	}
	for i, r := range got {
		if r.Workload != bench.Workloads[i] || r.Backend != "fs" || r.N != 30 || r.Concurrency != 2 {
			t.Errorf("result %d header = %+v", i, r)
		}
		if r.Ops <= 0 || r.OpsPerSec <= 0 || r.P50us <= 0 || r.P99us < r.P50us || r.BaselineOpsPerSec <= 0 || r.BaselineP50us <= 0 || r.PeakRSSBytes <= 0 {
			t.Errorf("%s: incomplete figures %+v", r.Workload, r)
		}
		if r.RatioP50 != r.P50us/r.BaselineP50us || r.RatioOps != r.OpsPerSec/r.BaselineOpsPerSec {
			t.Errorf("%s: ratios inconsistent %+v", r.Workload, r)
		}
		if (r.Workload == "ping" || r.Workload == "get" || r.Workload == "put") && r.IPCFloorP50us <= 0 {
			t.Errorf("%s: no IPC floor measured", r.Workload)
		}
		if r.Workload == "ping" && (r.TLSFloorP50us <= 0 || r.IPCFloorP50us != r.P50us) {
			t.Errorf("ping: floors incomplete %+v", r)
		}
		if (r.Workload == "put") != (r.BareWriteP50us > 0) {
			t.Errorf("%s: bare write floor %.1fus, want one on put only", r.Workload, r.BareWriteP50us)
		}
		// Every get, put and revoke makes at least one Store call per
		// operation: the count proves the calls went through the counter.
		if (r.Workload == "get" || r.Workload == "put" || r.Workload == "revoke") && r.CallsPerOp < 1 {
			t.Errorf("%s: %.2f Store calls per operation", r.Workload, r.CallsPerOp)
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
		if _, err := rawclient.Open(ctx, backend, cfg); err == nil {
			t.Errorf("rawclient.Open(%s, empty config) succeeded", backend)
		}
	}
}

// BenchmarkFloor is the bare gRPC call the ping workload compares the plugin
// Ping with (sdk's BenchmarkPing): a process of its own over a unix socket,
// without go-plugin, without and with mutual TLS.
func BenchmarkFloor(b *testing.B) {
	ctx := context.Background()
	fl, err := floor.Start(ctx, nil, testenv.Binary(b, benchBinary), floor.Arg)
	if err != nil {
		b.Fatal(err)
	}
	defer fl.Close()
	for name, call := range map[string]func(context.Context) error{"bare": fl.Bare, "mtls": fl.BareTLS} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := call(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
