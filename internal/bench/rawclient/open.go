// Package rawclient holds the bench's baselines: each backend's own client
// used directly, with no plugin and no crypto. It links the backends' SDKs,
// so only the bench binary (aileron-store-bench) imports it, never the host.
package rawclient

import (
	"context"
	"fmt"

	"github.com/ALRubinger/aileron-store/internal/bench"
	"golang.org/x/sync/errgroup"
)

// Open opens the raw client of backend with the same configuration map the
// backend's plugin takes. It is a bench.RawOpener.
func Open(ctx context.Context, backend string, config map[string]string) (bench.Raw, error) {
	switch backend {
	case "fs":
		return openRawFS(config)
	case "s3":
		return openRawS3(ctx, config)
	case "gcs":
		return openRawGCS(ctx, config)
	case "postgres":
		return openRawPostgres(ctx, config)
	default:
		return nil, fmt.Errorf("no raw baseline for backend %q (have fs, s3, gcs, postgres)", backend)
	}
}

// The baselines whose put the bare write floor can make in its own process.
var (
	_ bench.SharedRaw = (*rawFS)(nil)
	_ bench.SharedRaw = (*rawPostgres)(nil)
)

// forEach calls fn for every key from at most 16 goroutines (what a client
// listing with values does) and returns the first error.
func forEach(ctx context.Context, keys []string, fn func(ctx context.Context, key string) error) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for _, k := range keys {
		g.Go(func() error { return fn(ctx, k) })
	}
	return g.Wait()
}
