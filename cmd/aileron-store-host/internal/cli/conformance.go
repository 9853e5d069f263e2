package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/ALRubinger/aileron-store/cmd/aileron-store-host/internal/config"
	"github.com/ALRubinger/aileron-store/cmd/aileron-store-host/internal/plugins"
	"github.com/ALRubinger/aileron-store/conformance"
	"github.com/ALRubinger/aileron-store/sdk"
)

func (a *App) conformanceCmd() *cobra.Command {
	var backend, runRE string
	var asJSON bool
	var timeout time.Duration
	c := &cobra.Command{
		Use:   "conformance [--config FILE] [--backend NAME] [--run REGEX] [--json]",
		Short: "Run the storage conformance suite against the configured plugin",
		Long: `Run the conformance suite (see docs/conformance.md) against the configured
backend's plugin binary, across the real plugin boundary, without writing any
Go. Every check gets a fresh, empty store inside the configured backend:

  fs        a new directory next to the configured data directory
  others    a new key prefix under the configured "prefix" config field
            (s3, gcs, postgres and any plugin that accepts one)

all named after a random run id (aileron-conformance-<id>), so a run never
touches existing data. What the checks write is deleted through the store as
they finish; the run's fs directory is removed at the end.

Prints a table of checks (status, time, reason), or JSON with --json, and
exits 1 if any check failed. A "known gap" is a behaviour the backend
declares it cannot enforce; it is never counted as a pass.`,
		Example: `  aileron-store-host conformance
  aileron-store-host conformance --config minio.yaml
  aileron-store-host conformance --config minio.yaml --run '^cas/'
  aileron-store-host conformance --config postgres.yaml --json > results.json`,
		Args: exactArgs(0, ""),
		RunE: run(func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			var filter *regexp.Regexp
			if runRE != "" {
				re, err := regexp.Compile(runRE)
				if err != nil {
					return usagef("--run %q: %v", runRE, err)
				}
				filter = re
			}
			if err := a.setup(); err != nil {
				return err
			}
			cfg := *a.cfg
			cfg.Storage.Config = maps.Clone(a.cfg.Storage.Config)
			if backend != "" && backend != cfg.Storage.Backend {
				// Another backend than the configured one: its config comes
				// from the AILERON_STORE_OPT_* environment only.
				cfg.Storage = config.Storage{Backend: backend, Config: map[string]string{}}
				for _, kv := range os.Environ() {
					if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, config.EnvOptPrefix) {
						cfg.Storage.Config[strings.ToLower(strings.TrimPrefix(k, config.EnvOptPrefix))] = v
					}
				}
				if backend == "fs" && cfg.Storage.Config[config.FSDirField] == "" {
					cfg.Storage.Config[config.FSDirField] = filepath.Join(a.home, "data")
				}
			}
			loc, err := a.finder().Find(cfg.Storage.Backend)
			if err != nil {
				return &backendError{backend: cfg.Storage.Backend, err: err}
			}
			if cfg.Storage.SHA256 != "" {
				if _, err := plugins.CheckPin(loc.Path, cfg.Storage.SHA256); err != nil {
					return &backendError{backend: cfg.Storage.Backend, err: err}
				}
			}
			fr, err := newFresh(cfg.Storage.Backend, cfg.Storage.Config)
			if err != nil {
				return &backendError{backend: cfg.Storage.Backend, err: err}
			}
			defer func() {
				if err := fr.cleanup(); err != nil {
					a.logger().Warn("conformance cleanup incomplete", "backend", cfg.Storage.Backend, "run", fr.run, "error", err)
					fmt.Fprintf(a.Stderr, "warning: cleanup of conformance run %s incomplete: %v\n", fr.run, err)
				}
			}()

			total := 0
			for _, ch := range conformance.Checks() {
				if filter == nil || filter.MatchString(ch.Name) {
					total++
				}
			}
			if total == 0 {
				return usagef("--run %q matches no check", runRE)
			}
			rep := a.progress()
			var done atomic.Int64
			h, stop := conformance.NewPluginHarness(conformance.PluginOptions{
				Binary: loc.Path,
				Fresh:  fr.next,
				Client: &sdk.ClientOptions{
					Name:   plugins.Prefix + cfg.Storage.Backend,
					SHA256: cfg.Storage.SHA256,
					Logger: a.logger(),
					Args:   loc.Args,
				},
				Timeout: timeout,
			})
			defer stop()
			h.TimeoutOption = "--check-timeout"
			// What the plugin found about the backend, from the first store.
			var (
				reportOnce sync.Once
				report     map[string]string
			)
			newStore := h.New
			h.New = func(ctx context.Context) (sdk.Store, error) {
				s, err := newStore(ctx)
				if err == nil {
					reportOnce.Do(func() {
						if cr, ok := s.(sdk.CapabilityReporter); ok {
							report = cr.Capabilities().Report
						}
					})
				}
				return s, err
			}
			h.Logf = func(format string, args ...any) {
				msg := fmt.Sprintf(format, args...)
				a.logger().Debug(msg)
				if !strings.HasSuffix(msg, ": running") {
					rep.Update("conformance "+cfg.Storage.Backend, int(done.Add(1)), total)
				}
			}
			a.logger().Info("conformance run", "backend", cfg.Storage.Backend, "plugin", loc.Path, "run", fr.run, "checks", total)
			start := time.Now()
			results := conformance.RunChecks(ctx, h, filter)
			rep.Finish()
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if asJSON {
				sum := conformance.Summary(results)
				out := struct {
					Backend  string                     `json:"backend"`
					Plugin   string                     `json:"plugin"`
					Run      string                     `json:"run"`
					Summary  map[conformance.Status]int `json:"summary"`
					Failed   bool                       `json:"failed"`
					Duration time.Duration              `json:"duration_ns"`
					Report   map[string]string          `json:"plugin_report,omitempty"`
					Results  []conformance.Result       `json:"results"`
				}{cfg.Storage.Backend, loc.Path, fr.run, sum, conformance.Failed(results), time.Since(start), report, results}
				enc := json.NewEncoder(a.Stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(out); err != nil {
					return err
				}
			} else {
				fmt.Fprintf(a.Stdout, "conformance of backend %q (plugin %s), run %s\n\n", cfg.Storage.Backend, loc.Path, fr.run)
				if err := conformance.WriteTable(a.Stdout, results); err != nil {
					return err
				}
				if r := formatReport(report, ""); r != "" {
					fmt.Fprintln(a.Stdout, r)
				}
			}
			if conformance.Failed(results) {
				s := conformance.Summary(results)
				return fmt.Errorf("backend %q failed %d of %d conformance checks", cfg.Storage.Backend, s[conformance.StatusFail], len(results))
			}
			return nil
		}),
	}
	c.Flags().StringVar(&backend, "backend", "", "check plugin `NAME` instead of the configured backend (its config from AILERON_STORE_OPT_*)")
	c.Flags().StringVar(&runRE, "run", "", "run only the checks whose name matches `REGEX` (e.g. '^cas/')")
	c.Flags().BoolVar(&asJSON, "json", false, "print the results as JSON")
	c.Flags().DurationVar(&timeout, "check-timeout", 2*time.Minute, "time allowed per check")
	return c
}

func init() {
	extraCommands = append(extraCommands, (*App).conformanceCmd)
}

// fresh makes the configuration of a fresh, empty store per check inside
// the configured backend, and removes the fs run's directory at the end.
// Every other backend gets a key prefix per check, which the checks empty
// through the Store as they finish.
type fresh struct {
	backend string
	base    map[string]string
	run     string
	dir     string // fs: the run's directory

	mu sync.Mutex
	n  int
}

func newFresh(backend string, base map[string]string) (*fresh, error) {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, err
	}
	f := &fresh{backend: backend, base: base, run: hex.EncodeToString(b[:])}
	if backend == "fs" {
		p := base[config.FSDirField]
		if p == "" {
			return nil, fmt.Errorf("config field %q: required", config.FSDirField)
		}
		f.dir = filepath.Join(filepath.Dir(filepath.Clean(p)), "aileron-conformance-"+f.run)
	}
	return f, nil
}

func (f *fresh) next(ctx context.Context) (map[string]string, error) {
	f.mu.Lock()
	f.n++
	n := f.n
	f.mu.Unlock()
	cfg := maps.Clone(f.base)
	if f.backend == "fs" {
		cfg[config.FSDirField] = filepath.Join(f.dir, fmt.Sprintf("c%03d", n))
		return cfg, nil
	}
	p := fmt.Sprintf("aileron-conformance-%s/c%03d", f.run, n)
	if old := strings.Trim(cfg["prefix"], "/"); old != "" {
		p = old + "/" + p
	}
	cfg["prefix"] = p
	return cfg, nil
}

func (f *fresh) cleanup() error {
	if f.dir == "" {
		return nil
	}
	return os.RemoveAll(f.dir)
}
