package core

import (
	"context"
	"strings"
	"sync"

	"github.com/ALRubinger/aileron-store/sdk"
)

// keyFault fails writes to keys under a prefix (for targeted interruptions).
type keyFault struct {
	sdk.Store
	mu     sync.Mutex
	prefix string
}

func newFault(st sdk.Store) *keyFault { return &keyFault{Store: st} }

func (f *keyFault) failOnKeyPrefix(p string) {
	f.mu.Lock()
	f.prefix = p
	f.mu.Unlock()
}

func (f *keyFault) hit(key string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.prefix != "" && strings.HasPrefix(key, f.prefix)
}

func (f *keyFault) Put(ctx context.Context, key string, value []byte, cond sdk.Cond) (sdk.Version, error) {
	if f.hit(key) {
		return "", sdk.Errorf(sdk.ErrUnavailable, "injected failure writing %q", key)
	}
	return f.Store.Put(ctx, key, value, cond)
}
