package s3

import (
	"sync"

	"github.com/ALRubinger/aileron-store/sdk"
)

// Bounds of the written-values memory (see written).
const (
	writtenMaxBytes   = 8 << 20
	writtenMaxEntries = 1 << 16
)

// written remembers the values this Store wrote most recently, each with the
// version (ETag) its PutObject returned, so that a listing with values need
// not read back an object whose listed ETag is one this process wrote: every
// write carries a random nonce (see encodeValue), so an ETag names one write
// and thus one value. The core's sweep lists, page after page, the new copies
// it wrote for earlier pages; without this each one would cost a GetObject.
//
// It is bounded by writtenMaxBytes of values and writtenMaxEntries writes,
// forgetting the oldest write first; a forgotten value is read from the
// server as before. The values are what the core stored, already encrypted.
type written struct {
	mu    sync.Mutex
	m     map[string]writtenValue
	order []writtenRef // oldest first; refs to replaced or forgotten writes are skipped
	head  int          // order[:head] are consumed
	bytes int
}

type writtenValue struct {
	ver   sdk.Version
	value []byte
}

type writtenRef struct {
	key string
	ver sdk.Version
}

// add remembers that key holds a copy of value at ver.
func (w *written) add(key string, ver sdk.Version, value []byte) {
	if len(value) > writtenMaxBytes/16 {
		w.forget(key) // too large to be worth the memory
		return
	}
	v := writtenValue{ver: ver, value: append([]byte(nil), value...)}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.m == nil {
		w.m = make(map[string]writtenValue)
	}
	if old, ok := w.m[key]; ok {
		w.bytes -= len(old.value)
	}
	w.m[key] = v
	w.bytes += len(v.value)
	w.order = append(w.order, writtenRef{key, ver})
	for w.bytes > writtenMaxBytes || len(w.order)-w.head > writtenMaxEntries {
		r := w.order[w.head]
		w.order[w.head] = writtenRef{}
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

// forget drops what is remembered of key (after a delete or a write whose
// outcome is unknown).
func (w *written) forget(key string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if old, ok := w.m[key]; ok {
		delete(w.m, key)
		w.bytes -= len(old.value)
	}
}

// get returns a copy of the value key held at ver, if remembered.
func (w *written) get(key string, ver sdk.Version) ([]byte, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	v, ok := w.m[key]
	if !ok || v.ver != ver {
		return nil, false
	}
	return append([]byte(nil), v.value...), true
}
