// Package fs is the filesystem storage backend of aileron-store: the default,
// needing nothing but a directory.
//
// # Layout
//
// Under the data directory, a key's segments are path elements: a key
// "v/abc/r/x" is the file "v+/abc+/r+/x". A directory's name is its segment
// followed by '+', a character keys cannot contain, so that the key "a" (the
// file "a") and the key "a/b" (the file "b" in the directory "a+") coexist.
// Names that start with '#' are the store's own (temporary files, locks).
//
// A data file is the 4 bytes "ASF1", a 16-byte random version token, then the
// value. The version is the token in hex: every write draws a new one, so a
// rewrite of identical bytes gets a new version and a deleted-then-recreated
// key never repeats one.
//
// # Crash safety and concurrency
//
// A write goes to a temporary file in the key's directory, is fsynced, and is
// renamed over the old file, and then the directory is fsynced: a reader or a
// crash sees the old value or the new one, never a mix. Conditional writes
// and deletes hold one of 64 lock files (chosen by a hash of the key) with
// flock(2) while they check the version and write, so compare-and-swap holds
// between goroutines and between processes sharing the directory. Reads take
// no lock. Directories are created 0700 and files 0600; an existing data
// directory that others can read is made owner-only (0700) when opened.
package fs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/ALRubinger/aileron-store/sdk"
	"github.com/ALRubinger/aileron-store/sdk/filelock"
)

const (
	magic      = "ASF1"
	tokenLen   = 16
	headerLen  = len(magic) + tokenLen
	dirSuffix  = "+"
	ownPrefix  = "#"
	lockDir    = "#locks"
	lockStripe = 64
)

// Store is a Store over a directory. Create it with New or Open. As the
// contract allows, it does not check its arguments (sdk.Serve does, with
// sdk.Checked): a key is a path below the directory only when it is valid, so
// in-process callers with untrusted keys must go through sdk.Checked.
type Store struct {
	root  string
	locks [lockStripe]*filelock.Lock
}

var _ sdk.Store = (*Store)(nil)

// New is the plugin's sdk.Factory. Config fields:
//
//	path   the data directory (required); created 0700 if missing.
func New(_ context.Context, config map[string]string) (sdk.Store, error) {
	r := sdk.ReadConfig(config, "path")
	p := r.Required("path")
	if err := r.Err(); err != nil {
		return nil, err
	}
	st, err := Open(p)
	if err != nil {
		return nil, err // not a nil *Store in a non-nil sdk.Store
	}
	return st, nil
}

// Open opens (creating if needed) the data directory dir.
func Open(dir string) (*Store, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, sdk.Errorf(sdk.ErrInvalidArgument, "config field \"path\": %v", err)
	}
	if err := os.MkdirAll(filepath.Join(abs, lockDir), 0o700); err != nil {
		return nil, fsErr(err, "config field \"path\": creating data directory %s", abs)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return nil, fsErr(err, "config field \"path\": %s", abs)
	}
	if !fi.IsDir() {
		return nil, sdk.Errorf(sdk.ErrInvalidArgument, "config field \"path\": %s is not a directory", abs)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(abs, 0o700); err != nil {
			return nil, fsErr(err, "config field \"path\": making %s owner-only", abs)
		}
	}
	s := &Store{root: abs}
	for i := range s.locks {
		l, err := filelock.Open(filepath.Join(abs, lockDir, fmt.Sprintf("%02d", i)))
		if err != nil {
			s.Close()
			return nil, fsErr(err, "opening lock file in %s", abs)
		}
		s.locks[i] = l
	}
	return s, nil
}

// Root returns the absolute path of the data directory.
func (s *Store) Root() string { return s.root }

// Capabilities implements sdk.CapabilityReporter.
func (s *Store) Capabilities() sdk.Capabilities {
	return sdk.Capabilities{MaxValueSize: sdk.MaxValueSize, NativeListValues: true}
}

// fsErr maps an OS error to a Store error naming what was being done.
func fsErr(err error, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	case errors.Is(err, os.ErrPermission), errors.Is(err, syscall.EROFS):
		return sdk.Errorf(sdk.ErrPermissionDenied, "%s: %v", msg, err)
	default:
		return sdk.Errorf(sdk.ErrUnavailable, "%s: %v", msg, err)
	}
}

// pathOf returns the file path of key.
func (s *Store) pathOf(key string) string {
	segs := strings.Split(key, "/")
	for i := range segs[:len(segs)-1] {
		segs[i] += dirSuffix
	}
	return filepath.Join(s.root, filepath.Join(segs...))
}

// lock takes the lock stripe of key, waiting at most until ctx ends.
func (s *Store) lock(ctx context.Context, key string) (func(), error) {
	h := fnv.New32a()
	h.Write([]byte(key))
	return s.locks[h.Sum32()%lockStripe].Lock(ctx)
}

// read returns the value and version in the file at p.
func read(p, key string) ([]byte, sdk.Version, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) || errors.Is(err, syscall.EISDIR) {
			return nil, "", sdk.Errorf(sdk.ErrNotFound, "key %q", key)
		}
		return nil, "", fsErr(err, "reading key %q", key)
	}
	if len(b) < headerLen || string(b[:len(magic)]) != magic {
		return nil, "", sdk.Errorf(sdk.ErrUnavailable, "key %q: data file %s is corrupt (bad header)", key, p)
	}
	return b[headerLen:], sdk.Version(hex.EncodeToString(b[len(magic):headerLen])), nil
}

// version returns the version in the header of the file at p, reading only
// the header; a missing file is ErrNotFound.
func version(p, key string) (sdk.Version, error) {
	f, err := os.Open(p)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return "", sdk.Errorf(sdk.ErrNotFound, "key %q", key)
		}
		return "", fsErr(err, "reading key %q", key)
	}
	defer f.Close()
	var hdr [headerLen]byte
	if _, err := io.ReadFull(f, hdr[:]); err != nil || string(hdr[:len(magic)]) != magic {
		if errors.Is(err, syscall.EISDIR) {
			return "", sdk.Errorf(sdk.ErrNotFound, "key %q", key)
		}
		return "", sdk.Errorf(sdk.ErrUnavailable, "key %q: data file %s is corrupt (bad header)", key, p)
	}
	return sdk.Version(hex.EncodeToString(hdr[len(magic):])), nil
}

// Get implements sdk.Store.
func (s *Store) Get(ctx context.Context, key string) ([]byte, sdk.Version, error) {
	if err := ctx.Err(); err != nil {
		return nil, "", err
	}
	return read(s.pathOf(key), key)
}

// check verifies cond against the current file at p; the key's lock is held.
func check(p, key string, cond sdk.Cond) error {
	if cond.Mode() == sdk.CondNone {
		return nil
	}
	ver, err := version(p, key)
	if err != nil && !errors.Is(err, sdk.ErrNotFound) {
		return err
	}
	return sdk.CheckCond(key, cond, err == nil, ver)
}

// Put implements sdk.Store.
func (s *Store) Put(ctx context.Context, key string, value []byte, cond sdk.Cond) (sdk.Version, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	var token [tokenLen]byte
	if _, err := rand.Read(token[:]); err != nil {
		return "", sdk.Errorf(sdk.ErrUnavailable, "random version for key %q: %v", key, err)
	}
	p := s.pathOf(key)
	unlock, err := s.lock(ctx, key)
	if err != nil {
		return "", err
	}
	defer unlock()
	if err := check(p, key, cond); err != nil {
		return "", err
	}
	// The last moment to give up: after this the write happens.
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if err := s.writeFile(p, key, token[:], value); err != nil {
		return "", err
	}
	return sdk.Version(hex.EncodeToString(token[:])), nil
}

// writeFile atomically replaces the file at p.
func (s *Store) writeFile(p, key string, token, value []byte) error {
	dir := filepath.Dir(p)
	var f *os.File
	var err error
	for attempt := 0; ; attempt++ {
		if err = s.mkdirs(dir); err == nil {
			f, err = os.CreateTemp(dir, ownPrefix+"tmp-*")
		}
		// A concurrent delete may remove an empty directory between
		// mkdirs and CreateTemp; try again.
		if err == nil || !errors.Is(err, os.ErrNotExist) || attempt == 3 {
			break
		}
	}
	if err != nil {
		return fsErr(err, "writing key %q", key)
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	buf := make([]byte, 0, headerLen+len(value))
	buf = append(append(append(buf, magic...), token...), value...)
	if _, err := f.Write(buf); err != nil {
		return fsErr(err, "writing key %q", key)
	}
	if err := f.Sync(); err != nil {
		return fsErr(err, "syncing key %q", key)
	}
	if err := f.Close(); err != nil {
		return fsErr(err, "closing key %q", key)
	}
	if err := os.Rename(tmp, p); err != nil {
		return fsErr(err, "renaming key %q into place", key)
	}
	ok = true
	return syncDir(dir)
}

// mkdirs creates dir and missing parents (0700), fsyncing each parent that
// gained an entry so the new directory survives a crash.
func (s *Store) mkdirs(dir string) error {
	if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
		return nil
	}
	parent := filepath.Dir(dir)
	if parent != dir && len(parent) >= len(s.root) {
		if err := s.mkdirs(parent); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	return syncDir(parent)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fsErr(err, "opening directory %s", dir)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fsErr(err, "syncing directory %s", dir)
	}
	return nil
}

// Delete implements sdk.Store.
func (s *Store) Delete(ctx context.Context, key string, cond sdk.Cond) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p := s.pathOf(key)
	unlock, err := s.lock(ctx, key)
	if err != nil {
		return err
	}
	defer unlock()
	if err := check(p, key, cond); err != nil {
		return err
	}
	if err := os.Remove(p); err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return nil
		}
		return fsErr(err, "deleting key %q", key)
	}
	return syncDir(filepath.Dir(p))
}

// List implements sdk.Store: a walk of the directory tree in key order.
func (s *Store) List(ctx context.Context, opts sdk.ListOptions) (sdk.Page, error) {
	// The directory that holds every key with the prefix, and the part of
	// the prefix that names entries inside it.
	base, rest := "", opts.Prefix
	if i := strings.LastIndexByte(opts.Prefix, '/'); i >= 0 {
		base, rest = opts.Prefix[:i+1], opts.Prefix[i+1:]
	}
	dir := s.root
	if base != "" {
		dir = filepath.Dir(s.pathOf(base + "x"))
	}
	w := &walker{ctx: ctx, opts: opts, want: opts.Limit + 1}
	if err := w.walk(dir, base, rest); err != nil {
		return sdk.Page{}, err
	}
	page := sdk.Page{Entries: w.out}
	if len(page.Entries) > opts.Limit {
		page.Entries, page.More = page.Entries[:opts.Limit], true
	}
	return page, nil
}

type walker struct {
	ctx  context.Context
	opts sdk.ListOptions
	want int
	out  []sdk.Entry
}

type child struct {
	name string // file or directory name on disk
	key  string // the key (file) or key prefix ending in '/' (directory)
	dir  bool
}

// walk lists dir, whose keys start with base, keeping names that start with
// namePrefix.
func (w *walker) walk(dir, base, namePrefix string) error {
	if err := w.ctx.Err(); err != nil {
		return err
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return nil
		}
		return fsErr(err, "listing %q", base)
	}
	kids := make([]child, 0, len(ents))
	sa := w.opts.StartAfter
	for _, e := range ents {
		name := e.Name()
		if strings.HasPrefix(name, ownPrefix) {
			continue
		}
		c := child{name: name}
		if e.IsDir() {
			seg, ok := strings.CutSuffix(name, dirSuffix)
			if !ok {
				continue
			}
			c.key, c.dir = base+seg+"/", true
			if !strings.HasPrefix(seg, namePrefix) {
				continue
			}
			// Skip a subtree whose keys all sort at or before StartAfter.
			if sa >= c.key && !strings.HasPrefix(sa, c.key) {
				continue
			}
		} else {
			if !strings.HasPrefix(name, namePrefix) {
				continue
			}
			c.key = base + name
			if c.key <= sa {
				continue
			}
		}
		kids = append(kids, c)
	}
	sort.Slice(kids, func(i, j int) bool { return kids[i].key < kids[j].key })
	for _, c := range kids {
		if len(w.out) >= w.want {
			return nil
		}
		p := filepath.Join(dir, c.name)
		if c.dir {
			if err := w.walk(p, c.key, ""); err != nil {
				return err
			}
			continue
		}
		if err := w.entry(p, c.key); err != nil {
			return err
		}
	}
	return nil
}

func (w *walker) entry(p, key string) error {
	if !w.opts.WithValues {
		ver, err := version(p, key)
		if errors.Is(err, sdk.ErrNotFound) {
			return nil // deleted since the directory was read
		}
		if err != nil {
			return err
		}
		w.out = append(w.out, sdk.Entry{Key: key, Version: ver})
		return nil
	}
	v, ver, err := read(p, key)
	if errors.Is(err, sdk.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	w.out = append(w.out, sdk.Entry{Key: key, Version: ver, Value: v})
	return nil
}

// Close implements sdk.Store.
func (s *Store) Close() error {
	for i, l := range s.locks {
		if l != nil {
			l.Close()
			s.locks[i] = nil
		}
	}
	return nil
}
