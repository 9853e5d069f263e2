package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ALRubinger/aileron-store/internal/bench"
	"github.com/ALRubinger/aileron-store/internal/bench/floor"
)

// benchMovedCmd is what is left of the bench in the host: a pointer to the
// bench binary, which links the backends' own clients for its baselines so
// that the host links none.
func benchMovedCmd() *cobra.Command {
	return &cobra.Command{
		Use:                "bench",
		Short:              "Moved to its own binary: aileron-store-bench",
		Hidden:             true,
		DisableFlagParsing: true,
		RunE: func(*cobra.Command, []string) error {
			return usagef("the bench is its own binary, so that the host links no backend's client: run aileron-store-bench [--config FILE] [flags] (make build puts it in bin/)")
		},
	}
}

// benchRootCmd is the command line of the bench binary.
func (a *App) benchRootCmd() *cobra.Command {
	var (
		workloads   string
		n           int
		concurrency string
		duration    time.Duration
		ops         int
		valueSize   int
		asJSON      bool
		cpuProfile  string
	)
	c := &cobra.Command{
		SilenceErrors: true,
		SilenceUsage:  true,
		Use:           "aileron-store-bench [--config FILE] [--workload LIST] [--n N] [--concurrency LIST] [--ops N | --duration D] [--value-size BYTES] [--json]",
		Short:         "Measure the configured backend through the host against its raw client",
		Long: `Measure the vault operations on the configured backend, through the plugin
process and the encryption, against a baseline run in the same process: the
same backend operations through the backend's own client with no plugin and
no crypto (plain files for fs, aws-sdk-go-v2 for s3, the GCS client for gcs,
pgx for postgres). The empty round trip to the plugin process is measured
too (the IPC floor), and beside it the same empty gRPC call to a bare server
in a process of its own over a unix socket, without go-plugin, with and
without mutual TLS. On fs and postgres, put is also timed through that bare
server doing only the raw put (the bare write floor): what crossing a
process costs a call that waits on the write. The Store calls the engine
makes per operation are counted: over a plugin, each is one round trip.

This binary is aileron-store-host's bench: it takes the host's global flags
and configuration, and links the backends' own clients for the baselines so
that the host binary links none.

Workloads:
  ping    the plugin's empty call vs the bare gRPC call (the floor's layers)
  get     read one credential from an unlocked vault (cached key)
  put     overwrite one credential
  list    list every credential name (each record is decrypted)
  grant   grant a new member to a vault of N credentials, vs one of 10
  revoke  revoke a member: rotate and re-encrypt N credentials, vs a raw
          read, write under a new key and delete of N blobs at the same
          concurrency

The run creates its own vaults (named bench-<id>) and raw blobs, and removes
the raw blobs at the end; run it against a scratch backend, not production.
--concurrency takes a list (e.g. 1,8): each workload runs once per value.
The table ends with the performance targets this run allows checking.`,
		Example: `  aileron-store-bench --n 1000 --ops 5000
  aileron-store-bench --workload ping,get --concurrency 1,8 --duration 10s --json
  aileron-store-bench --config pg.yaml --workload revoke --n 100000 --concurrency 8
  aileron-store-bench --workload get --concurrency 8 --cpuprofile get.prof`,
		Args: exactArgs(0, ""),
		RunE: run(func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			sel, err := parseWorkloads(workloads)
			if err != nil {
				return err
			}
			levels, err := parseInts("--concurrency", concurrency)
			if err != nil {
				return err
			}
			if n < 1 || ops < 0 || valueSize < 1 || valueSize > 512<<10 || duration < 0 {
				return usagef("--n must be >= 1, --ops >= 0, --duration >= 0 and --value-size between 1 and 524288")
			}
			if err := a.setup(); err != nil {
				return err
			}
			b, err := a.openBackend(ctx, a.cfg)
			if err != nil {
				return err
			}
			defer b.Close()
			raw, err := a.openRaw(ctx, b.name, a.cfg.Storage.Config)
			if err != nil {
				return &backendError{backend: b.name, err: err}
			}
			defer raw.Close()
			fl, err := floor.Start(ctx, bench.WriteFloor(b.name, raw), a.HostPath, floor.Arg)
			if err != nil {
				return err
			}
			defer fl.Close()
			if cpuProfile != "" {
				f, err := os.Create(cpuProfile)
				if err != nil {
					return fmt.Errorf("--cpuprofile: %w", err)
				}
				defer f.Close()
				if err := pprof.StartCPUProfile(f); err != nil {
					return fmt.Errorf("--cpuprofile: %w", err)
				}
				defer pprof.StopCPUProfile()
			}
			state, err := os.MkdirTemp("", "aileron-bench-state-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(state)
			rep := a.progress()
			var results []bench.Result
			out := a.Stdout
			enc := json.NewEncoder(out)
			for _, c := range levels {
				p := bench.Params{
					Backend: b.name, Workloads: sel, N: n, Concurrency: c, ValueSize: valueSize,
					Limits:   bench.Limits{Ops: ops, Duration: duration},
					Progress: func(format string, args ...any) { a.logger().Info("bench: " + fmt.Sprintf(format, args...)) },
				}
				err := bench.Run(ctx, bench.Env{Store: b.client, Ping: b.client.Ping, Floor: fl, Raw: raw, StateDir: state}, p, func(r bench.Result) {
					results = append(results, r)
					if asJSON {
						enc.Encode(r)
					}
					rep.Update("bench", len(results), len(sel)*len(levels))
				})
				if err != nil {
					rep.Finish()
					return err
				}
			}
			rep.Finish()
			targets := bench.Evaluate(results)
			if asJSON {
				for _, t := range targets {
					enc.Encode(t)
				}
				return nil
			}
			printBench(out, results, targets)
			return nil
		}),
	}
	a.globalFlags(c)
	f := c.Flags()
	f.StringVar(&workloads, "workload", strings.Join(bench.Workloads, ","), "comma-separated `LIST` of workloads")
	f.IntVar(&n, "n", 1000, "credentials in the vault")
	f.StringVar(&concurrency, "concurrency", "1", "comma-separated `LIST` of client counts")
	f.DurationVar(&duration, "duration", 0, "time bound of each timed loop (0: --ops only)")
	f.IntVar(&ops, "ops", 2000, "operations per timed loop (0: --duration only)")
	f.IntVar(&valueSize, "value-size", 1024, "credential value size in `BYTES`")
	f.BoolVar(&asJSON, "json", false, "print one JSON object per workload, then one per target")
	f.StringVar(&cpuProfile, "cpuprofile", "", "write the host process's CPU profile to `FILE` (go tool pprof FILE)")
	return c
}

func parseWorkloads(s string) ([]string, error) {
	known := map[string]bool{}
	for _, w := range bench.Workloads {
		known[w] = true
	}
	var sel []string
	for _, w := range strings.Split(s, ",") {
		w = strings.TrimSpace(w)
		if !known[w] {
			return nil, usagef("--workload: unknown workload %q (known: %s)", w, strings.Join(bench.Workloads, ", "))
		}
		sel = append(sel, w)
	}
	return sel, nil
}

func parseInts(flag, s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || v < 1 || v > 256 {
			return nil, usagef("%s: %q is not a number between 1 and 256", flag, f)
		}
		out = append(out, v)
	}
	return out, nil
}

func printBench(w interface{ Write([]byte) (int, error) }, results []bench.Result, targets []bench.Target) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "workload\tbackend\tn\tconc\tops\tops/s\tp50 us\tp99 us\tpeak RSS MiB\tbase ops/s\tbase p50 us\tipc p50 us\tbare write p50 us\tratio p50\tratio ops\tcalls/op\t")
	for _, r := range results {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%.0f\t%.1f\t%.1f\t%.1f\t%.0f\t%.1f\t%.1f\t%s\t%.2f\t%.2f\t%.2f\t\n",
			r.Workload, r.Backend, r.N, r.Concurrency, r.Ops, r.OpsPerSec, r.P50us, r.P99us, float64(r.PeakRSSBytes)/(1<<20),
			r.BaselineOpsPerSec, r.BaselineP50us, r.IPCFloorP50us, bench.BareWriteColumn(r), r.RatioP50, r.RatioOps, r.CallsPerOp)
	}
	tw.Flush()
	fmt.Fprintln(w)
	for _, t := range targets {
		mark := "MET   "
		if !t.Met {
			mark = "MISSED"
		}
		fmt.Fprintf(w, "%s %s: %s\n", mark, t.Name, t.Detail)
	}
}
