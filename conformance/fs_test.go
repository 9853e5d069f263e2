package conformance_test

import (
	"context"
	"os"
	"sync"
	"testing"

	"github.com/ALRubinger/aileron-store/conformance"
	"github.com/ALRubinger/aileron-store/internal/testenv"
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

// relayEnv, when set in a test binary started as a plugin, makes it a second
// host: it serves the Store protocol by opening the fs plugin binary named
// by the variable, so the calls it relays come from another host process
// with its own plugin process.
const relayEnv = "AILERON_CONFORMANCE_RELAY_TO"

func relayMain() bool {
	bin := os.Getenv(relayEnv)
	if bin == "" || !sdk.LaunchedAsPlugin() {
		return false
	}
	sdk.Serve(func(ctx context.Context, config map[string]string) (sdk.Store, error) {
		return sdk.Open(ctx, bin, config, nil)
	}, &sdk.ServeOptions{Name: "conformance-relay"})
	return true
}

// TestFSTwoHosts runs the suite with clients in two host processes sharing
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
		Kill: func(s sdk.Store) error { return s.(*sdk.Client).Kill() },
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
	conformance.Run(t, h)
	if n < 2 {
		t.Errorf("only %d attached clients: no client ran in the second host", n)
	}
}
