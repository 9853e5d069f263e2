package postgres

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/ALRubinger/aileron-store/conformance"
	"github.com/ALRubinger/aileron-store/internal/testenv"
	"github.com/ALRubinger/aileron-store/sdk"
	"github.com/jackc/pgx/v5"
)

// conformanceConfigs returns a function that makes the configuration of a
// fresh, empty store per call: a new schema in one database made for t, so
// that every check also exercises the schema migration.
func conformanceConfigs(t *testing.T) func() map[string]string {
	db := newTestDB(t, nil)
	var n atomic.Int64
	return func() map[string]string {
		i := n.Add(1)
		return map[string]string{"dsn": db.dsn, "schema": fmt.Sprintf("conf_%d", i), "max_conns": "4"}
	}
}

// TestConformanceAcrossProcesses runs the shared conformance suite against
// the plugin binary through sdk.Open: attached clients are further plugin
// processes on the same schema, Kill is SIGKILL of the plugin.
func TestConformanceAcrossProcesses(t *testing.T) {
	bin := testenv.Binary(t, pluginPkg)
	fresh := conformanceConfigs(t)
	h, stop := conformance.NewPluginHarness(conformance.PluginOptions{
		Binary:      bin,
		Fresh:       func(context.Context) (map[string]string, error) { return fresh(), nil },
		MaxAttached: 8,
		Clients:     16,
	})
	t.Cleanup(stop)
	conformance.Run(t, h)
}

// inProc is a Store opened in this process by the in-process harness; its
// connections carry their own application_name so Kill can sever them in
// the server.
type inProc struct {
	*Store
	cfg map[string]string
	app string
}

// TestConformanceInProcess runs the shared conformance suite against the
// Store in this process. Reopen opens a new pool on the same schema; Attach
// opens further pools (separate "hosts"); Kill terminates the store's server
// connections with pg_terminate_backend while its writes are in flight, as
// the death of its host would, then drops the pool.
func TestConformanceInProcess(t *testing.T) {
	srv := testenv.Postgres(t)
	fresh := conformanceConfigs(t)
	var (
		n      atomic.Int64
		mu     sync.Mutex
		opened []*Store
	)
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, s := range opened {
			s.Close()
		}
	})
	start := func(ctx context.Context, cfg map[string]string) (sdk.Store, error) {
		app := fmt.Sprintf("aileron_conf_%d", n.Add(1))
		c := map[string]string{}
		for k, v := range cfg {
			c[k] = v
		}
		c["dsn"] = cfg["dsn"] + "&application_name=" + app
		s, err := open(ctx, c)
		if err != nil {
			return nil, err
		}
		mu.Lock()
		opened = append(opened, s)
		mu.Unlock()
		return &inProc{Store: s, cfg: cfg, app: app}, nil
	}
	h := conformance.Harness{
		New: func(ctx context.Context) (sdk.Store, error) { return start(ctx, fresh()) },
		Reopen: func(ctx context.Context, s sdk.Store) (sdk.Store, error) {
			p := s.(*inProc)
			p.Close()
			return start(ctx, p.cfg)
		},
		Kill: func(s sdk.Store) error {
			p := s.(*inProc)
			ctx := context.Background()
			c, err := pgx.Connect(ctx, srv.DSN)
			if err != nil {
				return err
			}
			defer c.Close(ctx)
			if _, err := c.Exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1", p.app); err != nil {
				return err
			}
			p.Close()
			return nil
		},
		Attach: func(ctx context.Context, s sdk.Store) (sdk.Store, error) {
			return start(ctx, s.(*inProc).cfg)
		},
		Clients: 16,
	}
	conformance.Run(t, h)
}
