package bench

import (
	"context"

	"github.com/ALRubinger/aileron-store/internal/bench/floor"
)

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

// SharedRaw is a Raw that another process can open onto the same blobs: the
// RawOpener, given the same backend and SharedConfig's map, opens there a
// client that writes where this one does, with the same code.
type SharedRaw interface {
	Raw
	SharedConfig() map[string]string
}

// WriteFloor is the raw client setup with which floor.Start serves the put
// workload's bare write floor (the raw put done in a bare gRPC server's
// process): nil when raw cannot be shared with another process, and the put
// workload then runs without it.
func WriteFloor(backend string, raw Raw) *floor.RawConfig {
	s, ok := raw.(SharedRaw)
	if !ok {
		return nil
	}
	return &floor.RawConfig{Backend: backend, Config: s.SharedConfig()}
}
