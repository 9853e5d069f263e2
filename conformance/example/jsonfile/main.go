// Command aileron-store-jsonfile is an example third-party storage plugin for
// aileron-store: every key lives in one JSON file. Each call takes an
// exclusive lock on a lock file beside it (so that compare-and-swap holds
// between processes too), reads the file, and a write replaces it
// atomically (temporary file, fsync, rename). Simple, and slow for big data:
// a model to copy, not a backend to run.
//
// Configuration: "file", the path of the JSON file (required), and "prefix"
// (optional), a key prefix that gives this store its own namespace in the
// file, as the host's conformance command and installations sharing one file
// use it.
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

	"github.com/ALRubinger/aileron-store/sdk"
	"github.com/ALRubinger/aileron-store/sdk/filelock"
)

func main() { sdk.Serve(New, nil) }

// New is the plugin's sdk.Factory: it reads the configuration with
// sdk.ReadConfig, which refuses unknown fields and names the field at fault.
func New(_ context.Context, config map[string]string) (sdk.Store, error) {
	r := sdk.ReadConfig(config, "file", "prefix")
	file, prefix := r.Required("file"), r.KeyPrefix("prefix", 256)
	if err := r.Err(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return nil, sdk.ConfigError("file", "%v", err)
	}
	lock, err := filelock.Open(file + ".lock")
	if err != nil {
		return nil, sdk.ConfigError("file", "%v", err)
	}
	// WithPrefix keeps every key k as prefix/k in the file.
	return sdk.WithPrefix(&store{file: file, lock: lock}, prefix), nil
}

type store struct {
	file string
	lock *filelock.Lock
}

type record struct {
	Value   []byte      `json:"value"`
	Version sdk.Version `json:"version"`
}

// Serve checks keys, values, conditions and list options (sdk.Checked) before
// they reach the store, so the methods below only implement the semantics.

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
			r := m[k]
			e := sdk.Entry{Key: k, Version: r.Version}
			if opts.WithValues {
				e.Value = r.Value
			}
			p.Entries = append(p.Entries, e)
		}
		return false, nil
	})
	return p, err
}

func (s *store) Close() error { return s.lock.Close() }

// holds checks a Put or Delete condition against the current records.
// sdk.CheckCond returns the errors the contract names.
func holds(m map[string]record, key string, cond sdk.Cond) error {
	r, ok := m[key]
	return sdk.CheckCond(key, cond, ok, r.Version)
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
	unlock, err := s.lock.Lock(ctx)
	if err != nil {
		return err // ctx ended while waiting, or flock failed: nothing done
	}
	defer unlock()
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
