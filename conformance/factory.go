package conformance

import (
	"context"
	"fmt"
	"maps"
	"reflect"
	"sync"
	"time"

	"github.com/ALRubinger/aileron-store/sdk"
)

// FactoryOptions describe a Store checked in process, made by its Factory.
type FactoryOptions struct {
	// Factory makes the stores.
	Factory sdk.Factory
	// Fresh returns the configuration of a fresh, empty store each time it is
	// called (a new directory, key prefix, schema, bucket); once per check.
	Fresh func(ctx context.Context) (map[string]string, error)
	// Gaps, Clients, Timeout and RequireAll are copied to the Harness. The
	// crash check is a gap unless Gaps names it: in process there is no
	// plugin process to kill.
	Gaps       map[string]string
	Clients    int
	Timeout    time.Duration
	RequireAll bool
}

// NewFactoryHarness returns a Harness whose stores o.Factory makes in this
// process: New over Fresh's configuration; Reopen closes a store and makes a
// new one over the same configuration, as a restarted host would; Attach
// makes another store over it, an independent client of the same data. The
// Factory's stores must be comparable (pointers, as usual), since the
// harness remembers each one's configuration.
func NewFactoryHarness(o FactoryOptions) Harness {
	var (
		mu      sync.Mutex
		configs = map[sdk.Store]map[string]string{}
	)
	open := func(ctx context.Context, cfg map[string]string) (sdk.Store, error) {
		s, err := o.Factory(ctx, maps.Clone(cfg))
		if err != nil {
			return nil, err
		}
		if !reflect.TypeOf(s).Comparable() {
			s.Close()
			return nil, fmt.Errorf("the factory's store %T is not comparable: return a pointer", s)
		}
		mu.Lock()
		configs[s] = cfg
		mu.Unlock()
		return s, nil
	}
	configOf := func(s sdk.Store) (map[string]string, error) {
		mu.Lock()
		defer mu.Unlock()
		cfg, ok := configs[s]
		if !ok {
			return nil, fmt.Errorf("store %T was not made by this harness", s)
		}
		return cfg, nil
	}
	gaps := maps.Clone(o.Gaps)
	if _, ok := gaps["crash/kill-during-writes"]; !ok {
		if gaps == nil {
			gaps = map[string]string{}
		}
		gaps["crash/kill-during-writes"] = "in process there is no plugin process to kill; run the suite against the plugin binary (PluginHarness) for this check"
	}
	return Harness{
		New: func(ctx context.Context) (sdk.Store, error) {
			cfg, err := o.Fresh(ctx)
			if err != nil {
				return nil, fmt.Errorf("fresh configuration: %w", err)
			}
			return open(ctx, cfg)
		},
		Reopen: func(ctx context.Context, s sdk.Store) (sdk.Store, error) {
			cfg, err := configOf(s)
			if err != nil {
				return nil, err
			}
			s.Close()
			mu.Lock()
			delete(configs, s)
			mu.Unlock()
			return open(ctx, cfg)
		},
		Attach: func(ctx context.Context, s sdk.Store) (sdk.Store, error) {
			cfg, err := configOf(s)
			if err != nil {
				return nil, err
			}
			return open(ctx, cfg)
		},
		Gaps:       gaps,
		Clients:    o.Clients,
		Timeout:    o.Timeout,
		RequireAll: o.RequireAll,
	}
}
