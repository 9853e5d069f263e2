// Package written is the memory of the values a plugin process wrote last,
// by version, which the S3 and GCS plugins use to serve a listing with
// values without reading back what they wrote.
package written

import (
	"errors"
	"sync"

	"github.com/ALRubinger/aileron-store/sdk"
)

// Bounds of a Memory.
const (
	MaxBytes   = 8 << 20 // of values held
	MaxEntries = 1 << 16 // writes remembered
	// MaxValue is the largest value remembered: a larger one is forgotten
	// rather than held.
	MaxValue = MaxBytes / 16
)

// Memory remembers the values a Store wrote most recently, each with the
// version its write returned, so that a listing with values need not read
// back an object listed at a version this process wrote. That is sound only
// on a backend where a version names one write of a key: an S3 ETag of an
// object whose body carries a random nonce, a GCS generation. The core's
// sweep lists, page after page, the new copies it wrote for earlier pages;
// without a Memory each costs a read.
//
// It holds at most MaxBytes of values and MaxEntries writes, forgetting the
// oldest write first; a forgotten value is read from the backend as before.
// The values are what the core stored, already encrypted. The zero Memory is
// empty and ready; a Memory is safe for concurrent use.
type Memory struct {
	mu    sync.Mutex
	m     map[string]value
	order []ref // oldest first; refs to replaced or forgotten writes are skipped
	head  int   // order[:head] are consumed
	bytes int
}

type value struct {
	ver   sdk.Version
	value []byte
}

type ref struct {
	key string
	ver sdk.Version
}

// Add remembers that key holds val (copied) at ver.
func (w *Memory) Add(key string, ver sdk.Version, val []byte) {
	if len(val) > MaxValue {
		w.Forget(key)
		return
	}
	v := value{ver: ver, value: append([]byte(nil), val...)}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.m == nil {
		w.m = make(map[string]value)
	}
	if old, ok := w.m[key]; ok {
		w.bytes -= len(old.value)
	}
	w.m[key] = v
	w.bytes += len(v.value)
	w.order = append(w.order, ref{key, ver})
	for w.bytes > MaxBytes || len(w.order)-w.head > MaxEntries {
		r := w.order[w.head]
		w.order[w.head] = ref{}
		w.head++
		if cur, ok := w.m[r.key]; ok && cur.ver == r.ver {
			delete(w.m, r.key)
			w.bytes -= len(cur.value)
		}
	}
	if w.head > len(w.order)/2 {
		w.order = append(w.order[:0], w.order[w.head:]...)
		w.head = 0
	}
}

// Wrote records the outcome of a write of val under key, as the Store's Put
// returned it: on success it remembers val at ver; on an error that may
// hide a write that landed (anything but a failed condition) it forgets key.
func (w *Memory) Wrote(key string, ver sdk.Version, val []byte, err error) {
	switch {
	case err == nil:
		w.Add(key, ver, val)
	case !errors.Is(err, sdk.ErrConflict) && !errors.Is(err, sdk.ErrNotFound):
		w.Forget(key)
	}
}

// Forget drops what is remembered of key: after a delete, or a write whose
// outcome is unknown.
func (w *Memory) Forget(key string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if old, ok := w.m[key]; ok {
		delete(w.m, key)
		w.bytes -= len(old.value)
	}
}

// Get returns a copy of the value key held at ver, if remembered.
func (w *Memory) Get(key string, ver sdk.Version) ([]byte, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	v, ok := w.m[key]
	if !ok || v.ver != ver {
		return nil, false
	}
	return append([]byte(nil), v.value...), true
}
