package conformance

import (
	"bytes"
	"context"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"slices"
	"sync"

	"github.com/ALRubinger/aileron-store/sdk"
)

var _ sdk.Batcher = (*Spy)(nil)

// Spy is an sdk.Store that passes every call to the Store it wraps and
// records every key, list prefix, start-after and value that crosses into
// it, so that a test can prove what a backend (or a plugin) gets to see.
// It is safe for concurrent use.
type Spy struct {
	sdk.Store

	mu     sync.Mutex
	keys   []string
	values map[string][][]byte // key -> values written
	calls  int
}

// NewSpy wraps s.
func NewSpy(s sdk.Store) *Spy { return &Spy{Store: s, values: map[string][][]byte{}} }

func (s *Spy) key(keys ...string) {
	s.mu.Lock()
	s.calls++
	s.keys = append(s.keys, keys...)
	s.mu.Unlock()
}

// Get implements sdk.Store.
func (s *Spy) Get(ctx context.Context, key string) ([]byte, sdk.Version, error) {
	s.key(key)
	return s.Store.Get(ctx, key)
}

// Put implements sdk.Store.
func (s *Spy) Put(ctx context.Context, key string, value []byte, cond sdk.Cond) (sdk.Version, error) {
	s.key(key)
	s.mu.Lock()
	s.values[key] = append(s.values[key], bytes.Clone(value))
	s.mu.Unlock()
	return s.Store.Put(ctx, key, value, cond)
}

// Delete implements sdk.Store.
func (s *Spy) Delete(ctx context.Context, key string, cond sdk.Cond) error {
	s.key(key)
	return s.Store.Delete(ctx, key, cond)
}

// WriteBatch implements sdk.Batcher: it records every item's key and value
// and passes the batch on (natively where the wrapped Store batches, so that
// an atomic guard stays atomic through the spy).
func (s *Spy) WriteBatch(ctx context.Context, guard *sdk.Guard, writes []sdk.Write) ([]sdk.WriteResult, error) {
	s.mu.Lock()
	s.calls++
	if guard != nil {
		s.keys = append(s.keys, guard.Key)
	}
	for _, w := range writes {
		s.keys = append(s.keys, w.Key)
		if w.Kind == sdk.WritePut {
			s.values[w.Key] = append(s.values[w.Key], bytes.Clone(w.Value))
		}
	}
	s.mu.Unlock()
	return sdk.WriteBatch(ctx, s.Store, guard, writes)
}

// List implements sdk.Store.
func (s *Spy) List(ctx context.Context, opts sdk.ListOptions) (sdk.Page, error) {
	s.key(opts.Prefix, opts.StartAfter)
	return s.Store.List(ctx, opts)
}

// Capabilities reports the wrapped Store's capabilities.
func (s *Spy) Capabilities() sdk.Capabilities {
	if cr, ok := s.Store.(sdk.CapabilityReporter); ok {
		return cr.Capabilities()
	}
	return sdk.Capabilities{}
}

// Stats returns how many calls, distinct keys and written values the spy
// recorded.
func (s *Spy) Stats() (calls, keys, values int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	distinct := map[string]bool{}
	for _, k := range s.keys {
		distinct[k] = true
	}
	for _, vs := range s.values {
		values += len(vs)
	}
	return s.calls, len(distinct), values
}

// Leak is one sighting of a watched string in what crossed into the store.
// It names the watched string by its label, never by its content.
type Leak struct {
	Label    string // the label the caller gave the watched string
	Where    string // e.g. `key "v/3f.../h"` or `value written to key "..."`
	Encoding string // raw, lower-case, hex, base64, base64url, base32
}

func (l Leak) String() string {
	return fmt.Sprintf("%s appears (%s) in the %s", l.Label, l.Encoding, l.Where)
}

// Find reports every place where one of the watched strings (label ->
// content) appears in a recorded key or value: as is, lower-cased (keys are
// lower case), or encoded as hex, base64 (standard or URL, any alignment) or
// base32. Watched strings should be at least 12 bytes, so that a match in
// random ciphertext is practically impossible.
func (s *Spy) Find(watched map[string][]byte) []Leak {
	s.mu.Lock()
	defer s.mu.Unlock()
	var leaks []Leak
	labels := make([]string, 0, len(watched))
	for l := range watched {
		labels = append(labels, l)
	}
	slices.Sort(labels)
	seen := map[Leak]bool{}
	add := func(l Leak) {
		if !seen[l] {
			seen[l] = true
			leaks = append(leaks, l)
		}
	}
	for _, label := range labels {
		forms := encodings(watched[label])
		// Keys are shown with every watched string redacted, so that a
		// report never repeats a secret.
		redact := func(k string) string {
			for _, l := range labels {
				for _, f := range encodings(watched[l]) {
					k = string(bytes.ReplaceAll([]byte(k), f.b, []byte("<"+l+">")))
				}
			}
			return k
		}
		for _, k := range s.keys {
			for _, f := range forms {
				if bytes.Contains([]byte(k), f.b) {
					add(Leak{Label: label, Where: fmt.Sprintf("key %q", redact(k)), Encoding: f.name})
				}
			}
		}
		for k, vs := range s.values {
			for _, v := range vs {
				for _, f := range forms {
					if bytes.Contains(v, f.b) {
						add(Leak{Label: label, Where: fmt.Sprintf("value written to key %q", redact(k)), Encoding: f.name})
					}
				}
			}
		}
	}
	return leaks
}

type form struct {
	name string
	b    []byte
}

// encodings returns the forms in which secret could appear inside a longer
// encoded string.
func encodings(secret []byte) []form {
	out := []form{{"raw", secret}, {"lower-case", bytes.ToLower(secret)}, {"upper-case", bytes.ToUpper(secret)},
		{"hex", []byte(hex.EncodeToString(secret))}, {"hex", bytes.ToUpper([]byte(hex.EncodeToString(secret)))}}
	// Inside a longer base64 string the secret may start at any offset mod 3:
	// the fully aligned groups after its first 0-2 bytes are stable.
	for skip := 0; skip < 3; skip++ {
		if len(secret)-skip < 6 {
			break
		}
		part := secret[skip:]
		part = part[:len(part)/3*3]
		out = append(out,
			form{"base64", []byte(base64.RawStdEncoding.EncodeToString(part))},
			form{"base64url", []byte(base64.RawURLEncoding.EncodeToString(part))})
	}
	for skip := 0; skip < 5; skip++ {
		if len(secret)-skip < 10 {
			break
		}
		part := secret[skip:]
		part = part[:len(part)/5*5]
		enc := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(part)
		out = append(out, form{"base32", []byte(enc)}, form{"base32", bytes.ToLower([]byte(enc))})
	}
	return out
}
