package core

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/ALRubinger/aileron-store/sdk"
)

// atomicStore makes any Store a Batcher with an atomic guard for the tests
// (what fs and PostgreSQL do natively): every write of the process goes
// through one mutex, and a batch checks its guard and applies its items
// under it. It also serves as the native path of sdk.WriteBatch until the
// stores under test implement it themselves.
type atomicStore struct {
	sdk.Store
	mu sync.Mutex
}

func atomicGuard(st sdk.Store) *atomicStore { return &atomicStore{Store: st} }

func (a *atomicStore) Put(ctx context.Context, key string, v []byte, c sdk.Cond) (sdk.Version, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.Store.Put(ctx, key, v, c)
}

func (a *atomicStore) Delete(ctx context.Context, key string, c sdk.Cond) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.Store.Delete(ctx, key, c)
}

func (a *atomicStore) Capabilities() sdk.Capabilities {
	var c sdk.Capabilities
	if cr, ok := a.Store.(sdk.CapabilityReporter); ok {
		c = cr.Capabilities()
	}
	c.AtomicGuard = true
	return c
}

func (a *atomicStore) WriteBatch(ctx context.Context, guard *sdk.Guard, ws []sdk.Write) ([]sdk.WriteResult, error) {
	if err := sdk.ValidateBatch(guard, ws, 0); err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if guard != nil {
		_, v, err := a.Store.Get(ctx, guard.Key)
		if errors.Is(err, sdk.ErrNotFound) || err == nil && v != guard.Version {
			return nil, fmt.Errorf("%w: batch guard key %q moved", sdk.ErrConflict, guard.Key)
		}
		if err != nil {
			return nil, err
		}
	}
	res := make([]sdk.WriteResult, len(ws))
	for i, w := range ws {
		if w.Kind == sdk.WritePut {
			res[i].Version, res[i].Err = a.Store.Put(ctx, w.Key, w.Value, w.Cond)
		} else {
			res[i].Err = a.Store.Delete(ctx, w.Key, w.Cond)
		}
	}
	return res, nil
}
