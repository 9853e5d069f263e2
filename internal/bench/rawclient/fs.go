package rawclient

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/ALRubinger/aileron-store/internal/bench"
)

// rawFS reads and writes plain files beside the fs backend's data directory
// (same file system), each write as durable as the plugin's: temporary file,
// fsync, rename, directory fsync.
type rawFS struct{ dir string }

// sharedDirKey is the configuration field with which another process (the
// bare write floor's) opens the raw client onto an existing directory of
// blobs: the one SharedConfig names.
const sharedDirKey = "bench_raw_dir"

func openRawFS(config map[string]string) (bench.Raw, error) {
	if dir := config[sharedDirKey]; dir != "" {
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			return nil, fmt.Errorf("fs baseline: config field %q: %q is not a directory", sharedDirKey, dir)
		}
		return &rawFS{dir: dir}, nil
	}
	p := config["path"]
	if p == "" {
		return nil, fmt.Errorf("fs baseline: config field \"path\" is required")
	}
	parent := filepath.Dir(filepath.Clean(p))
	dir, err := os.MkdirTemp(parent, ".aileron-bench-raw-")
	if err != nil {
		return nil, fmt.Errorf("fs baseline: %w", err)
	}
	return &rawFS{dir: dir}, nil
}

func (r *rawFS) Name() string { return "file" }

// SharedConfig opens, in another process, a client onto this one's
// directory. That client must not Cleanup: the directory is this one's.
func (r *rawFS) SharedConfig() map[string]string {
	return map[string]string{sharedDirKey: r.dir}
}

func (r *rawFS) path(key string) string { return filepath.Join(r.dir, filepath.FromSlash(key)) }

func (r *rawFS) Get(_ context.Context, key string) ([]byte, error) { return os.ReadFile(r.path(key)) }

func (r *rawFS) Put(_ context.Context, key string, value []byte) error {
	p := r.path(key)
	dir := filepath.Dir(p)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(value); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), p); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Delete removes the file and syncs its directory, as durable as the
// plugin's delete.
func (r *rawFS) Delete(_ context.Context, key string) error {
	p := r.path(key)
	if err := os.Remove(p); err != nil {
		return err
	}
	d, err := os.Open(filepath.Dir(p))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func (r *rawFS) List(_ context.Context, prefix string) (int, error) {
	ents, err := os.ReadDir(r.path(prefix))
	if err != nil {
		return 0, err
	}
	n := 0
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".tmp-") {
			continue
		}
		if _, err := os.ReadFile(filepath.Join(r.path(prefix), e.Name())); err != nil {
			return 0, err
		}
		n++
	}
	return n, nil
}

func (r *rawFS) Cleanup(context.Context, string) error { return os.RemoveAll(r.dir) }

func (r *rawFS) Close() error { return nil }
