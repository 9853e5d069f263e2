// Command aileron-store-jsonfile is an example third-party storage plugin for
// aileron-store: every key lives in one JSON file. Each call takes an
// exclusive lock on a lock file beside it (so that compare-and-swap holds
// between processes too), reads the file, and a write replaces it
// atomically (temporary file, fsync, rename). Simple, and slow for big data:
// a model to copy, not a backend to run.
//
// Configuration: "file", the path of the JSON file (required).
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/ALRubinger/aileron-store/sdk"
)

func main() { sdk.Serve(New, nil) }

// New is the plugin's sdk.Factory: it validates the configuration.
func New(_ context.Context, config map[string]string) (sdk.Store, error) {
	for k := range config {
		if k != "file" {
			return nil, sdk.Errorf(sdk.ErrInvalidArgument, "config field %q: unknown field", k)
		}
	}
	file := config["file"]
	if file == "" {
		return nil, sdk.Errorf(sdk.ErrInvalidArgument, "config field \"file\": required")
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return nil, sdk.Errorf(sdk.ErrInvalidArgument, "config field \"file\": %v", err)
	}
	return &store{file: file}, nil
}

type store struct{ file string }

type record struct {
	Value   []byte      `json:"value"`
	Version sdk.Version `json:"version"`
}

// Serve checks keys, values, conditions and list options before they reach
// the store, so the methods below only implement the semantics.

func (s *store) Get(ctx context.Context, key string) ([]byte, sdk.Version, error) {
	var r record
	err := s.locked(ctx, func(m map[string]record) (bool, error) {
		var ok bool
		if r, ok = m[key]; !ok {
			return false, sdk.Errorf(sdk.ErrNotFound, "key %q", key)
		}
		return false, nil
	})
	return r.Value, r.Version, err
}

func (s *store) Put(ctx context.Context, key string, value []byte, cond sdk.Cond) (sdk.Version, error) {
	v := newVersion()
	err := s.locked(ctx, func(m map[string]record) (bool, error) {
		if err := holds(m, key, cond); err != nil {
			return false, err
		}
		m[key] = record{Value: value, Version: v}
		return true, nil
	})
	if err != nil {
		return "", err
	}
	return v, nil
}

func (s *store) Delete(ctx context.Context, key string, cond sdk.Cond) error {
	return s.locked(ctx, func(m map[string]record) (bool, error) {
		if err := holds(m, key, cond); err != nil {
			return false, err
		}
		_, ok := m[key]
		delete(m, key)
		return ok, nil
	})
}

func (s *store) List(ctx context.Context, opts sdk.ListOptions) (sdk.Page, error) {
	var p sdk.Page
	err := s.locked(ctx, func(m map[string]record) (bool, error) {
		var keys []string
		for k := range m {
			if strings.HasPrefix(k, opts.Prefix) && k > opts.StartAfter {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		if len(keys) > opts.Limit {
			keys, p.More = keys[:opts.Limit], true
		}
		for _, k := range keys {
			e := sdk.Entry{Key: k, Version: m[k].Version}
			if opts.WithValues {
				e.Value = m[k].Value
			}
			p.Entries = append(p.Entries, e)
		}
		return false, nil
	})
	return p, err
}

func (s *store) Close() error { return nil }

// holds checks a Put or Delete condition against the current records.
func holds(m map[string]record, key string, cond sdk.Cond) error {
	r, ok := m[key]
	switch cond.Mode() {
	case sdk.CondIfAbsent:
		if ok {
			return sdk.Errorf(sdk.ErrConflict, "key %q exists", key)
		}
	case sdk.CondIfVersion:
		if !ok {
			return sdk.Errorf(sdk.ErrNotFound, "key %q", key)
		}
		if r.Version != cond.Version() {
			return sdk.Errorf(sdk.ErrConflict, "key %q has another version", key)
		}
	}
	return nil
}

// newVersion returns a random version: two writes never share one, even of
// identical bytes.
func newVersion() sdk.Version {
	b := make([]byte, 16)
	rand.Read(b)
	return sdk.Version(hex.EncodeToString(b))
}

// locked runs fn on the records under an exclusive lock and, if fn reports a
// change, replaces the file atomically.
func (s *store) locked(ctx context.Context, fn func(map[string]record) (bool, error)) error {
	lock, err := os.OpenFile(s.file+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return sdk.Errorf(sdk.ErrUnavailable, "opening lock file: %v", err)
	}
	defer lock.Close() // releases the lock
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return sdk.Errorf(sdk.ErrUnavailable, "locking %s: %v", s.file, err)
	}
	if err := ctx.Err(); err != nil {
		return err // canceled while waiting: nothing done
	}
	m := map[string]record{}
	b, err := os.ReadFile(s.file)
	if err == nil {
		err = json.Unmarshal(b, &m)
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return sdk.Errorf(sdk.ErrUnavailable, "reading %s: %v", s.file, err)
	}
	changed, err := fn(m)
	if err != nil || !changed {
		return err
	}
	return writeAtomic(s.file, m)
}

func writeAtomic(file string, m map[string]record) error {
	b, err := json.Marshal(m)
	if err != nil {
		return sdk.Errorf(sdk.ErrUnavailable, "encoding: %v", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(file), ".tmp-*")
	if err != nil {
		return sdk.Errorf(sdk.ErrUnavailable, "writing %s: %v", file, err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename this fails harmlessly
	if _, err := tmp.Write(b); err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), file)
	}
	if err != nil {
		return sdk.Errorf(sdk.ErrUnavailable, "writing %s: %v", file, err)
	}
	if d, err := os.Open(filepath.Dir(file)); err == nil {
		d.Sync() // make the rename durable
		d.Close()
	}
	return nil
}
