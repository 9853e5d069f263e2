package conformance_test

import (
	"context"
	"os"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/ALRubinger/aileron-store/conformance"
	"github.com/ALRubinger/aileron-store/internal/pluginproc"
	"github.com/ALRubinger/aileron-store/internal/testenv"
	"github.com/ALRubinger/aileron-store/plugins/fs"
	"github.com/ALRubinger/aileron-store/sdk"
)

const fsPlugin = "./plugins/fs/cmd/aileron-store-fs"

// freshDirs returns a function that makes a new empty data directory per
// call, all removed when t ends.
func freshDirs(t *testing.T) func() map[string]string {
	base := t.TempDir()
	n := 0
	return func() map[string]string {
		n++
		d, err := os.MkdirTemp(base, "store-")
		if err != nil {
			panic("conformance test: " + err.Error())
		}
		return map[string]string{"path": d}
	}
}

// TestFSPlugin runs the whole suite against the fs plugin binary across the
// gRPC boundary: attached clients are separate plugin processes sharing the
// directory, and the crash check SIGKILLs the plugin.
func TestFSPlugin(t *testing.T) {
	bin := testenv.Binary(t, fsPlugin)
	conformance.Run(t, conformance.PluginHarness(t, bin, freshDirs(t)))
}

// TestFSInProcess runs the suite against fs.New in this process, through
// NewFactoryHarness: Reopen and Attach make new stores over the same
// directory.
func TestFSInProcess(t *testing.T) {
	fresh := freshDirs(t)
	conformance.Run(t, conformance.NewFactoryHarness(conformance.FactoryOptions{
		Factory: fs.New,
		Fresh:   func(context.Context) (map[string]string, error) { return fresh(), nil },
	}))
}

// relayEnv, when set in a test binary started as a plugin, makes it a second
// host: it serves the Store protocol by opening the fs plugin binary named
// by the variable, so the calls it relays come from another host process
// with its own plugin process.
const relayEnv = "AILERON_CONFORMANCE_RELAY_TO"

func relayMain() bool {
	bin := os.Getenv(relayEnv)
	if bin == "" || !pluginproc.LaunchedAsPlugin() {
		return false
	}
	sdk.Serve(func(ctx context.Context, config map[string]string) (sdk.Store, error) {
		return sdk.Open(ctx, bin, config, nil)
	}, &sdk.ServeOptions{Name: "conformance-relay"})
	return true
}

// TestFSTwoHosts runs the multi-client checks with clients in two host processes sharing
// one fs directory: this test process (host A, with its own fs plugin
// processes) and copies of the test binary re-executed as host B, each of
// which starts its own fs plugin process. Attached clients alternate between
// the hosts, so the race and soak checks cross host processes.
func TestFSTwoHosts(t *testing.T) {
	bin := testenv.Binary(t, fsPlugin)
	self, err := os.Executable()
	if err != nil {
		t.Fatalf("finding the test binary: %v", err)
	}
	fresh := freshDirs(t)
	var (
		mu   sync.Mutex
		cfgs = map[sdk.Store]map[string]string{}
		all  []*sdk.Client
		n    int
	)
	open := func(ctx context.Context, path string, cfg map[string]string, opts *sdk.ClientOptions) (sdk.Store, error) {
		c, err := sdk.Open(ctx, path, cfg, opts)
		if err != nil {
			return nil, err
		}
		mu.Lock()
		cfgs[c] = cfg
		all = append(all, c)
		mu.Unlock()
		return c, nil
	}
	cfgOf := func(s sdk.Store) map[string]string {
		mu.Lock()
		defer mu.Unlock()
		return cfgs[s]
	}
	t.Cleanup(func() {
		for _, c := range all {
			c.Close()
		}
	})
	relay := &sdk.ClientOptions{Name: "host-b", Env: []string{relayEnv + "=" + bin}}
	h := conformance.Harness{
		New: func(ctx context.Context) (sdk.Store, error) { return open(ctx, bin, fresh(), nil) },
		Reopen: func(ctx context.Context, s sdk.Store) (sdk.Store, error) {
			s.Close()
			return open(ctx, bin, cfgOf(s), nil)
		},
		Kill: func(s sdk.Store) error { return pluginproc.Kill(s) },
		Attach: func(ctx context.Context, s sdk.Store) (sdk.Store, error) {
			mu.Lock()
			n++
			viaB := n%2 == 1
			mu.Unlock()
			if viaB {
				return open(ctx, self, cfgOf(s), relay)
			}
			return open(ctx, bin, cfgOf(s), nil)
		},
		Clients: 16,
	}
	// Only the checks with several clients reach host B; the others would
	// repeat TestFSPlugin exactly.
	results := conformance.RunChecks(t.Context(), h, regexp.MustCompile(`^(cas/race-one-winner|soak/|vault/)`))
	if len(results) < 4 {
		t.Fatalf("%d checks ran, want the race, the soak and the vault checks", len(results))
	}
	for _, r := range results {
		t.Run(r.Name, func(t *testing.T) {
			t.Logf("%s in %v", r.Status, r.Duration.Round(time.Millisecond))
			for _, l := range r.Log {
				t.Log(l)
			}
			if r.Status != conformance.StatusPass {
				t.Fatalf("%s: %s: %s", r.Name, r.Status, r.Reason)
			}
		})
	}
	if n < 2 {
		t.Errorf("only %d attached clients: no client ran in the second host", n)
	}
}
