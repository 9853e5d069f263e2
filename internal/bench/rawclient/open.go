// Package rawclient holds the bench's baselines: each backend's own client
// used directly, with no plugin and no crypto. It links the backends' SDKs,
// so only the bench binary (aileron-store-bench) imports it, never the host.
package rawclient

import (
	"context"
	"fmt"

	"github.com/ALRubinger/aileron-store/internal/bench"
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
