package conformance

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ALRubinger/aileron-store/internal/pluginproc"
	"github.com/ALRubinger/aileron-store/sdk"
)

// PluginOptions describe a plugin binary to check across the process
// boundary.
type PluginOptions struct {
	// Binary is the path of the plugin binary.
	Binary string
	// Fresh returns the configuration of a fresh, empty store each time it is
	// called: a new directory, a new key prefix, a new schema. It is called
	// once per check.
	Fresh func(ctx context.Context) (map[string]string, error)
	// Client tunes sdk.Open (nil: defaults).
	Client *sdk.ClientOptions
	// MaxAttached caps the plugin processes Attach starts for one check
	// (default 32, enough for one process per racing client). Further
	// clients share the attached processes round-robin.
	MaxAttached int
	// Gaps, Clients, Timeout and RequireAll are copied to the Harness.
	Gaps       map[string]string
	Clients    int
	Timeout    time.Duration
	RequireAll bool
}

// NewPluginHarness returns a Harness whose stores are plugin processes
// started with sdk.Open: New starts one over Fresh's configuration, Reopen
// stops it and starts a new process over the same configuration, Kill sends
// it SIGKILL, and Attach starts further processes over the same
// configuration, so that compare-and-swap is checked between processes. The
// returned function stops every plugin process the harness still runs.
func NewPluginHarness(o PluginOptions) (Harness, func()) {
	var (
		mu      sync.Mutex
		configs = map[*sdk.Client]map[string]string{}
		shares  = map[*sdk.Client][]*sdk.Client{} // primary -> attached
		next    = map[*sdk.Client]int{}
	)
	maxAttached := o.MaxAttached
	if maxAttached <= 0 {
		maxAttached = 32
	}
	open := func(ctx context.Context, cfg map[string]string) (*sdk.Client, error) {
		c, err := sdk.Open(ctx, o.Binary, cfg, o.Client)
		if err != nil {
			return nil, fmt.Errorf("starting plugin %s: %w", o.Binary, err)
		}
		mu.Lock()
		configs[c] = cfg
		mu.Unlock()
		return c, nil
	}
	client := func(s sdk.Store) (*sdk.Client, map[string]string, error) {
		c, ok := s.(*sdk.Client)
		if !ok {
			if sh, ok := s.(shared); ok {
				c = sh.Client
			} else {
				return nil, nil, fmt.Errorf("store %T was not made by this harness", s)
			}
		}
		mu.Lock()
		defer mu.Unlock()
		cfg, ok := configs[c]
		if !ok {
			return nil, nil, fmt.Errorf("plugin client was not made by this harness")
		}
		return c, cfg, nil
	}
	forget := func(c *sdk.Client) {
		mu.Lock()
		delete(configs, c)
		delete(shares, c)
		delete(next, c)
		mu.Unlock()
	}
	h := Harness{
		New: func(ctx context.Context) (sdk.Store, error) {
			cfg, err := o.Fresh(ctx)
			if err != nil {
				return nil, fmt.Errorf("fresh configuration: %w", err)
			}
			c, err := open(ctx, cfg)
			if err != nil {
				return nil, err
			}
			return closing{c, forget}, nil
		},
		Reopen: func(ctx context.Context, s sdk.Store) (sdk.Store, error) {
			c, cfg, err := client(unwrap(s))
			if err != nil {
				return nil, err
			}
			c.Close()
			forget(c)
			n, err := open(ctx, cfg)
			if err != nil {
				return nil, err
			}
			return closing{n, forget}, nil
		},
		Kill: func(s sdk.Store) error {
			c, _, err := client(unwrap(s))
			if err != nil {
				return err
			}
			return pluginproc.Kill(c)
		},
		Attach: func(ctx context.Context, s sdk.Store) (sdk.Store, error) {
			c, cfg, err := client(unwrap(s))
			if err != nil {
				return nil, err
			}
			mu.Lock()
			if len(shares[c]) >= maxAttached {
				a := shares[c][next[c]%len(shares[c])]
				next[c]++
				mu.Unlock()
				return shared{a}, nil
			}
			mu.Unlock()
			a, err := open(ctx, cfg)
			if err != nil {
				return nil, err
			}
			mu.Lock()
			shares[c] = append(shares[c], a)
			mu.Unlock()
			return closing{a, forget}, nil
		},
		Gaps:       o.Gaps,
		Clients:    o.Clients,
		Timeout:    o.Timeout,
		RequireAll: o.RequireAll,
	}
	stop := func() {
		mu.Lock()
		var all []*sdk.Client
		for c := range configs {
			all = append(all, c)
		}
		configs = map[*sdk.Client]map[string]string{}
		mu.Unlock()
		for _, c := range all {
			c.Close()
		}
	}
	return h, stop
}

// closing is a plugin client that the harness forgets when it is closed.
type closing struct {
	*sdk.Client
	forget func(*sdk.Client)
}

func (c closing) Close() error {
	err := c.Client.Close()
	c.forget(c.Client)
	return err
}

// shared is an attached client handed out more than once; closing it is
// left to its first holder.
type shared struct{ *sdk.Client }

func (shared) Close() error { return nil }

func unwrap(s sdk.Store) sdk.Store {
	if c, ok := s.(closing); ok {
		return c.Client
	}
	return s
}

// PluginHarness is NewPluginHarness for tests: the plugin processes stop
// when t ends. fresh returns the configuration of a fresh, empty store.
//
//	bin := testenv.Binary(t, "./plugins/fs/cmd/aileron-store-fs")
//	conformance.Run(t, conformance.PluginHarness(t, bin, func() map[string]string {
//		return map[string]string{"path": newDir()}
//	}))
func PluginHarness(t testing.TB, binary string, fresh func() map[string]string) Harness {
	t.Helper()
	h, stop := NewPluginHarness(PluginOptions{
		Binary: binary,
		Fresh:  func(context.Context) (map[string]string, error) { return fresh(), nil },
	})
	t.Cleanup(stop)
	return h
}
