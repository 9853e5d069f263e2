package sdk_test

import (
	"context"

	"github.com/ALRubinger/aileron-store/sdk"
	"github.com/ALRubinger/aileron-store/sdk/memstore"
)

// newStore is a plugin's sdk.Factory: it validates the configuration the
// host sends (errors wrap sdk.ErrInvalidArgument and name the field) and
// returns the Store. An in-memory store stands in for yours here; see
// conformance/example/jsonfile for a complete plugin with its tests.
func newStore(_ context.Context, config map[string]string) (sdk.Store, error) {
	for k := range config {
		if k != "namespace" {
			return nil, sdk.Errorf(sdk.ErrInvalidArgument, "config field %q: unknown field", k)
		}
	}
	return memstore.New(), nil
}

// The main of a storage plugin binary (named aileron-store-NAME, so that the
// host finds it for `storage.backend: NAME`) is one call: Serve does the
// handshake, protocol versions, mutual TLS, limits, logging and shutdown.
// This example is compiled, not run: Serve only serves a host that started
// the binary.
func ExampleServe() {
	sdk.Serve(newStore, nil)
}
