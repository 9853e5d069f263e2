package bench

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ALRubinger/aileron-store/internal/testenv"
)

// backendConfigs provisions each backend the test command provides and
// returns its plugin config.
func backendConfigs(t *testing.T) map[string]map[string]string {
	s3 := testenv.S3(t)
	gcs := testenv.GCS(t)
	pg := testenv.Postgres(t)
	_, dsn := pg.NewDatabase(t, nil)
	return map[string]map[string]string{
		"fs":       {"path": filepath.Join(t.TempDir(), "data")},
		"s3":       s3.Config(s3.NewBucket(t)),
		"gcs":      {"bucket": gcs.NewBucket(t), "endpoint": gcs.Endpoint},
		"postgres": {"dsn": dsn},
	}
}

// The bench binary runs every workload on every backend through the real
// plugin binaries, and prints complete JSON and every target. With
// AILERON_BENCH_FULL=1 it makes the longer run whose table goes into
// docs/benchmarks.md (written to $AILERON_BENCH_OUT when set).
func TestBenchCommandAllBackends(t *testing.T) {
	pluginDir := t.TempDir()
	benchBin := testenv.Binary(t, "./cmd/aileron-store-host/aileron-store-bench")
	for _, p := range []string{"fs", "s3", "gcs", "postgres"} {
		bin := testenv.Binary(t, "./plugins/"+p+"/cmd/aileron-store-"+p)
		if err := os.Symlink(bin, filepath.Join(pluginDir, filepath.Base(bin))); err != nil {
			t.Fatal(err)
		}
	}
	full := os.Getenv("AILERON_BENCH_FULL") == "1"
	argsFor := func(backend string) []string {
		if !full {
			return []string{"--n", "40", "--ops", "100", "--concurrency", "2"}
		}
		// AILERON_BENCH_N_<BACKEND> overrides the credential count for one
		// backend (fake-gcs-server slows down with the object count, which
		// says nothing about the plugin).
		n := envOr("AILERON_BENCH_N_"+strings.ToUpper(backend), envOr("AILERON_BENCH_N", "10000"))
		// AILERON_BENCH_ARGS adds flags, e.g. --cpuprofile FILE (the
		// plugin's profile: AILERON_STORE_PLUGIN_CPUPROFILE=FILE).
		return append([]string{"--n", n, "--ops", envOr("AILERON_BENCH_OPS", "5000"), "--concurrency", envOr("AILERON_BENCH_CONCURRENCY", "1,8"),
			"--workload", envOr("AILERON_BENCH_WORKLOADS", strings.Join(Workloads, ","))}, strings.Fields(os.Getenv("AILERON_BENCH_ARGS"))...)
	}
	configs := backendConfigs(t)
	names := make([]string, 0, len(configs))
	for name := range configs {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			cfgFile := filepath.Join(t.TempDir(), "config.yaml")
			var y strings.Builder
			fmt.Fprintf(&y, "storage:\n  backend: %s\n  config:\n", name)
			for k, v := range configs[name] {
				fmt.Fprintf(&y, "    %s: %q\n", k, v)
			}
			fmt.Fprintf(&y, "plugin_dir: %q\n", pluginDir)
			if err := os.WriteFile(cfgFile, []byte(y.String()), 0o600); err != nil {
				t.Fatal(err)
			}
			// A home that does not exist yet: the host creates it owner-only (and
			// refuses an existing one that others can read, as t.TempDir is).
			home := filepath.Join(t.TempDir(), "home")
			args := argsFor(name)
			cmd := exec.Command(benchBin, append([]string{"--config", cfgFile, "--home", home, "--json"}, args...)...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			start := time.Now()
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("bench on %s: %v\nstderr:\n%s", name, err, stderr.String())
			}
			t.Logf("bench on %s took %v", name, time.Since(start).Round(time.Millisecond))
			var results []Result
			var targets []Target
			sc := bufio.NewScanner(bytes.NewReader(out))
			for sc.Scan() {
				line := sc.Bytes()
				if bytes.Contains(line, []byte(`"workload"`)) {
					var r Result
					if err := json.Unmarshal(line, &r); err != nil {
						t.Fatalf("bad JSON line %q: %v", line, err)
					}
					results = append(results, r)
				} else {
					var tg Target
					if err := json.Unmarshal(line, &tg); err != nil || tg.Name == "" {
						t.Fatalf("bad JSON line %q: %v", line, err)
					}
					targets = append(targets, tg)
				}
			}
			levels := strings.Count(args[5], ",") + 1
			want := len(Workloads) * levels
			if full {
				want = (strings.Count(envOr("AILERON_BENCH_WORKLOADS", strings.Join(Workloads, ",")), ",") + 1) * levels
			}
			if len(results) != want {
				t.Fatalf("%d results on %s, want %d:\n%s", len(results), name, want, out)
			}
			for _, r := range results {
				if r.Backend != name || r.Ops <= 0 || r.OpsPerSec <= 0 || r.P50us <= 0 || r.BaselineP50us <= 0 || r.PeakRSSBytes <= 0 {
					t.Errorf("incomplete result on %s: %+v", name, r)
				}
				if (r.Workload == "ping" || r.Workload == "get" || r.Workload == "put") && r.IPCFloorP50us <= 0 {
					t.Errorf("%s/%s: no IPC floor", name, r.Workload)
				}
				if r.Workload == "ping" && r.TLSFloorP50us <= 0 {
					t.Errorf("%s/ping: no bare gRPC floor with mutual TLS", name)
				}
				if r.Workload == "put" && bareWrite[name] && r.BareWriteP50us <= 0 {
					t.Errorf("%s/put c=%d: no bare write floor", name, r.Concurrency)
				}
				if (r.Workload == "get" || r.Workload == "put") && r.CallsPerOp < 1 {
					t.Errorf("%s/%s: %.2f Store calls per operation", name, r.Workload, r.CallsPerOp)
				}
				// The sweep moves a page of records per call. Without batches
				// it would make at least two calls per credential (the new
				// copy, the removal of the old one); a short run's fixed calls
				// (head, slots, listings) come to about one per credential.
				if r.Workload == "revoke" && (r.CallsPerOp <= 0 || r.CallsPerOp >= 2) {
					t.Errorf("%s/revoke: %.3f Store calls per credential, want some but fewer than two (batched)", name, r.CallsPerOp)
				}
			}
			// Every target of issue 15 that the run's workloads allow is
			// reported: the ping floor, put's added latency and round trips,
			// the revoke against raw read+write+delete.
			seen := map[string]bool{}
			for _, tg := range targets {
				if bareWrite[name] && strings.Contains(tg.Name, "/put c=") && strings.Contains(tg.Name, "added p50") &&
					!strings.Contains(tg.Detail, "a bare gRPC server doing only the raw put adds") {
					t.Errorf("%s: target %q does not give the bare write floor: %s", name, tg.Name, tg.Detail)
				}
				for _, kind := range []string{"/ping c=", "/put c=", "round trips per put", "/revoke n=", "raw read+write+delete"} {
					if strings.Contains(tg.Name, kind) {
						seen[kind] = true
					}
				}
			}
			if !full {
				for _, kind := range []string{"/ping c=", "/put c=", "round trips per put", "/revoke n=", "raw read+write+delete"} {
					if !seen[kind] {
						t.Errorf("%s: no target %q reported", name, kind)
					}
				}
			}
			if full {
				// Appended per backend, so a long run keeps what it measured.
				var report bytes.Buffer
				writeReport(&report, name, results, targets)
				t.Logf("\n%s", report.String())
				if out := os.Getenv("AILERON_BENCH_OUT"); out != "" {
					f, err := os.OpenFile(out, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
					if err != nil {
						t.Fatal(err)
					}
					f.Write(report.Bytes())
					f.Close()
				}
			}
		})
	}
}

// bareWrite is the backends whose put the bench times against the bare write
// floor too (where put's added latency is a target of issue 15).
var bareWrite = map[string]bool{"fs": true, "postgres": true}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// writeReport appends a markdown table of one backend's run.
func writeReport(w *bytes.Buffer, backend string, results []Result, targets []Target) {
	fmt.Fprintf(w, "\n### %s\n\n", backend)
	fmt.Fprintln(w, "| workload | n | conc | ops | ops/s | p50 us | p99 us | peak RSS MiB | baseline ops/s | baseline p50 us | IPC floor p50 us | bare write p50 us | ratio p50 | ratio ops | calls/op |")
	fmt.Fprintln(w, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	for _, r := range results {
		fmt.Fprintf(w, "| %s | %d | %d | %d | %.0f | %.1f | %.1f | %.1f | %.0f | %.1f | %.1f | %s | %.2f | %.2f | %.2f |\n",
			r.Workload, r.N, r.Concurrency, r.Ops, r.OpsPerSec, r.P50us, r.P99us, float64(r.PeakRSSBytes)/(1<<20),
			r.BaselineOpsPerSec, r.BaselineP50us, r.IPCFloorP50us, BareWriteColumn(r), r.RatioP50, r.RatioOps, r.CallsPerOp)
	}
	fmt.Fprintln(w)
	for _, tg := range targets {
		mark := "met"
		if !tg.Met {
			mark = "**missed**"
		}
		fmt.Fprintf(w, "- %s: %s (%s)\n", tg.Name, mark, tg.Detail)
	}
}
