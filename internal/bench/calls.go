package bench

import (
	"context"
	"sync/atomic"

	"github.com/ALRubinger/aileron-store/sdk"
)

// countingStore counts the calls the engine makes to its Store. Over the
// plugin Client every call is one round trip to the plugin process, so the
// count per operation is the round trips per operation. It forwards the
// optional capabilities (Capabilities, WriteBatch) so the engine takes the
// same paths as over the bare Client.
type countingStore struct {
	sdk.Store
	calls atomic.Int64
	// written is the size of the last value the engine wrote (a record, padded
	// as the format pads it), so that the raw baseline writes blobs of the
	// same size.
	written atomic.Int64
}

func (s *countingStore) Get(ctx context.Context, key string) ([]byte, sdk.Version, error) {
	s.calls.Add(1)
	return s.Store.Get(ctx, key)
}

func (s *countingStore) Put(ctx context.Context, key string, value []byte, cond sdk.Cond) (sdk.Version, error) {
	s.calls.Add(1)
	s.written.Store(int64(len(value)))
	return s.Store.Put(ctx, key, value, cond)
}

func (s *countingStore) Delete(ctx context.Context, key string, cond sdk.Cond) error {
	s.calls.Add(1)
	return s.Store.Delete(ctx, key, cond)
}

func (s *countingStore) List(ctx context.Context, opts sdk.ListOptions) (sdk.Page, error) {
	s.calls.Add(1)
	return s.Store.List(ctx, opts)
}

// Capabilities forwards the wrapped Store's.
func (s *countingStore) Capabilities() sdk.Capabilities {
	if cr, ok := s.Store.(sdk.CapabilityReporter); ok {
		return cr.Capabilities()
	}
	return sdk.Capabilities{}
}

// WriteBatch is one call when the wrapped Store batches natively; otherwise
// it is emulated over this wrapper, so each of the emulation's calls counts.
func (s *countingStore) WriteBatch(ctx context.Context, guard *sdk.Guard, writes []sdk.Write) ([]sdk.WriteResult, error) {
	if len(writes) > 0 && writes[0].Kind == sdk.WritePut {
		s.written.Store(int64(len(writes[0].Value)))
	}
	if b, ok := s.Store.(sdk.Batcher); ok {
		s.calls.Add(1)
		return b.WriteBatch(ctx, guard, writes)
	}
	return sdk.EmulateBatch(ctx, s, guard, writes)
}
