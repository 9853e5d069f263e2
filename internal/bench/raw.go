package bench

import "context"

// Raw is a backend's own client used directly, with no plugin and no crypto:
// the best a user could do calling the backend by hand. Keys are plain
// '/'-separated paths under a prefix the bench owns. The implementations live
// in package rawclient, which only the bench binary links.
type Raw interface {
	Name() string
	Get(ctx context.Context, key string) ([]byte, error)
	Put(ctx context.Context, key string, value []byte) error
	Delete(ctx context.Context, key string) error
	// List counts the blobs under prefix, reading each value as a listing
	// that returns values would.
	List(ctx context.Context, prefix string) (int, error)
	// Cleanup removes every blob under prefix.
	Cleanup(ctx context.Context, prefix string) error
	Close() error
}

// RawOpener opens the raw client of a backend with the configuration map
// its plugin takes.
type RawOpener func(ctx context.Context, backend string, config map[string]string) (Raw, error)
