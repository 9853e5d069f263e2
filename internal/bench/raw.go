package bench

import (
	"context"
	"fmt"
)

// Raw is a backend's own client used directly, with no plugin and no crypto:
// the best a user could do calling the backend by hand. Keys are plain
// '/'-separated paths under a prefix the bench owns.
type Raw interface {
	Name() string
	Get(ctx context.Context, key string) ([]byte, error)
	Put(ctx context.Context, key string, value []byte) error
	// List counts the blobs under prefix, reading each value as a listing
	// that returns values would.
	List(ctx context.Context, prefix string) (int, error)
	// Cleanup removes every blob under prefix.
	Cleanup(ctx context.Context, prefix string) error
	Close() error
}

// OpenRaw opens the raw client of backend with the same configuration map
// the backend's plugin takes.
func OpenRaw(ctx context.Context, backend string, config map[string]string) (Raw, error) {
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
