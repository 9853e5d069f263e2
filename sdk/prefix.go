package sdk

import (
	"context"
	"strings"
)

// WithPrefix returns a Store that keeps every key k of its callers in st as
// prefix/k, so that several stores share one backend (a file, a bucket, a
// table) without seeing each other's keys: the `prefix` configuration field
// most plugins offer, and that the host's conformance command sets to give
// every check a fresh store. prefix is "" (WithPrefix returns st) or a valid
// key (ConfigReader.KeyPrefix reads one). List strips the prefix again; errors
// from st name the full key.
//
// The keys st receives are up to len(prefix)+1 bytes longer than MaxKeyLen,
// and are otherwise valid when the caller's were. The result reports st's
// Capabilities and passes WriteBatch on to st's own (see WriteBatch).
func WithPrefix(st Store, prefix string) Store {
	if prefix == "" {
		return st
	}
	return &prefixed{st: st, p: prefix + "/"}
}

type prefixed struct {
	st Store
	p  string // ends with '/'
}

func (s *prefixed) Get(ctx context.Context, key string) ([]byte, Version, error) {
	return s.st.Get(ctx, s.p+key)
}

func (s *prefixed) Put(ctx context.Context, key string, value []byte, cond Cond) (Version, error) {
	return s.st.Put(ctx, s.p+key, value, cond)
}

func (s *prefixed) Delete(ctx context.Context, key string, cond Cond) error {
	return s.st.Delete(ctx, s.p+key, cond)
}

func (s *prefixed) List(ctx context.Context, opts ListOptions) (Page, error) {
	opts.Prefix = s.p + opts.Prefix
	if opts.StartAfter != "" {
		opts.StartAfter = s.p + opts.StartAfter
	}
	page, err := s.st.List(ctx, opts)
	if err != nil {
		return Page{}, err
	}
	for i, e := range page.Entries {
		k, ok := strings.CutPrefix(e.Key, s.p)
		if !ok {
			return Page{}, Errorf(ErrUnavailable, "store listed key %q outside the prefix %q", e.Key, s.p)
		}
		page.Entries[i].Key = k
	}
	return page, nil
}

func (s *prefixed) WriteBatch(ctx context.Context, guard *Guard, writes []Write) ([]WriteResult, error) {
	if guard != nil {
		guard = &Guard{Key: s.p + guard.Key, Version: guard.Version}
	}
	inner := make([]Write, len(writes))
	for i, w := range writes {
		w.Key = s.p + w.Key
		inner[i] = w
	}
	return WriteBatch(ctx, s.st, guard, inner)
}

func (s *prefixed) Capabilities() Capabilities {
	if r, ok := s.st.(CapabilityReporter); ok {
		return r.Capabilities()
	}
	return Capabilities{}
}

func (s *prefixed) Close() error { return s.st.Close() }
