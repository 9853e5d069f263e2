// Package migrate copies every blob of one Store to another without
// decrypting anything, then verifies that both hold the same keys with the
// same SHA-256 hashes. A copy is resumable: a checkpoint file records the
// last key of each completed page, and a resumed copy skips keys the target
// already holds with identical bytes.
//
// Writers must be stopped for the duration (no serve, no CLI writes): the
// verification pass fails, naming the key, if the source changed under it.
package migrate

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/ALRubinger/aileron-store/sdk"
)

// Errors of a migration.
var (
	// ErrTargetNotEmpty: a fresh migration found keys in the target.
	ErrTargetNotEmpty = errors.New("target backend is not empty")
	// ErrInterrupted: a checkpoint of an earlier, unfinished migration to
	// the same target exists and --resume was not given.
	ErrInterrupted = errors.New("an earlier migration to this target was interrupted")
	// ErrMismatch: verification found a difference between source and
	// target.
	ErrMismatch = errors.New("source and target differ")
)

// Options configure Run.
type Options struct {
	// Checkpoint is the checkpoint file's path (required).
	Checkpoint string
	// Target describes the target in the checkpoint (e.g. its config file).
	Target string
	// Resume continues from the checkpoint (and tolerates a non-empty
	// target, whose keys must then match the source).
	Resume bool
	// PageSize is the listing page size; 0 means 200.
	PageSize int
	// Concurrency is the number of parallel writes; 0 means 8.
	Concurrency int
	// Progress is called as keys are copied and verified; op is "copy" or
	// "verify". May be nil.
	Progress func(op string, done, total int)
}

// Result summarises a completed migration.
type Result struct {
	Keys    int    // keys in source and target
	Copied  int    // keys written by this run
	Skipped int    // keys already present with identical bytes
	Bytes   int64  // total value bytes
	Digest  string // SHA-256 over every (key, SHA-256(value)) in order
	Resumed bool   // a checkpoint was resumed
}

type checkpoint struct {
	Target  string `json:"target"`
	LastKey string `json:"last_key"`
	Copied  int    `json:"copied"`
	Skipped int    `json:"skipped"`
}

// Run copies src to dst and verifies the result.
func Run(ctx context.Context, src, dst sdk.Store, opts Options) (*Result, error) {
	if opts.Checkpoint == "" {
		return nil, errors.New("migrate: no checkpoint path")
	}
	if opts.PageSize <= 0 || opts.PageSize > sdk.MaxListLimit {
		opts.PageSize = 200
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 8
	}
	progress := opts.Progress
	if progress == nil {
		progress = func(string, int, int) {}
	}

	cp, err := readCheckpoint(opts.Checkpoint)
	if err != nil {
		return nil, err
	}
	res := &Result{}
	switch {
	case cp != nil && !opts.Resume:
		return nil, fmt.Errorf("%w (checkpoint %s, %d keys copied, last %q): run again with --resume", ErrInterrupted, opts.Checkpoint, cp.Copied+cp.Skipped, cp.LastKey)
	case cp != nil:
		res.Resumed = true
		res.Copied, res.Skipped = cp.Copied, cp.Skipped
	case !opts.Resume:
		p, err := dst.List(ctx, sdk.ListOptions{Limit: 1})
		if err != nil {
			return nil, fmt.Errorf("listing target: %w", err)
		}
		if len(p.Entries) > 0 {
			return nil, fmt.Errorf("%w (it holds %q): migrate into an empty backend, or pass --resume to continue a copy into it", ErrTargetNotEmpty, p.Entries[0].Key)
		}
		cp = &checkpoint{Target: opts.Target}
	default:
		cp = &checkpoint{Target: opts.Target}
	}
	if err := writeCheckpoint(opts.Checkpoint, cp); err != nil {
		return nil, err
	}

	total, err := count(ctx, src, opts.PageSize)
	if err != nil {
		return nil, fmt.Errorf("counting source keys: %w", err)
	}

	// Copy.
	done := 0
	if cp.LastKey != "" {
		n, err := countUpTo(ctx, src, cp.LastKey, opts.PageSize)
		if err != nil {
			return nil, fmt.Errorf("counting source keys: %w", err)
		}
		done = n
	}
	progress("copy", done, total)
	after := cp.LastKey
	for {
		page, err := src.List(ctx, sdk.ListOptions{StartAfter: after, Limit: opts.PageSize, WithValues: true})
		if err != nil {
			return nil, fmt.Errorf("listing source after %q: %w", after, err)
		}
		copied, skipped, err := copyPage(ctx, dst, page.Entries, opts.Concurrency)
		if err != nil {
			return nil, err
		}
		res.Copied += copied
		res.Skipped += skipped
		done += len(page.Entries)
		if len(page.Entries) > 0 {
			after = page.Entries[len(page.Entries)-1].Key
			cp.LastKey, cp.Copied, cp.Skipped = after, res.Copied, res.Skipped
			if err := writeCheckpoint(opts.Checkpoint, cp); err != nil {
				return nil, err
			}
		}
		progress("copy", done, total)
		if !page.More {
			break
		}
	}

	// Verify.
	if err := verify(ctx, src, dst, opts.PageSize, total, progress, res); err != nil {
		return nil, err
	}
	if err := os.Remove(opts.Checkpoint); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("removing checkpoint: %w", err)
	}
	return res, nil
}

func copyPage(ctx context.Context, dst sdk.Store, entries []sdk.Entry, conc int) (copied, skipped int, err error) {
	var (
		mu    sync.Mutex
		first error
		wg    sync.WaitGroup
		sem   = make(chan struct{}, conc)
	)
	for _, e := range entries {
		e := e
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			wrote, err := copyOne(ctx, dst, e)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				if first == nil {
					first = err
				}
			case wrote:
				copied++
			default:
				skipped++
			}
		}()
	}
	wg.Wait()
	return copied, skipped, first
}

func copyOne(ctx context.Context, dst sdk.Store, e sdk.Entry) (bool, error) {
	_, err := dst.Put(ctx, e.Key, e.Value, sdk.IfAbsent())
	if err == nil {
		return true, nil
	}
	if !errors.Is(err, sdk.ErrConflict) {
		return false, fmt.Errorf("writing key %q to target: %w", e.Key, err)
	}
	have, _, err := dst.Get(ctx, e.Key)
	if err != nil {
		return false, fmt.Errorf("reading key %q from target: %w", e.Key, err)
	}
	if !bytes.Equal(have, e.Value) {
		return false, fmt.Errorf("%w: target already holds a different value at key %q", ErrMismatch, e.Key)
	}
	return false, nil
}

func count(ctx context.Context, s sdk.Store, pageSize int) (int, error) {
	n := 0
	after := ""
	for {
		p, err := s.List(ctx, sdk.ListOptions{StartAfter: after, Limit: pageSize})
		if err != nil {
			return 0, err
		}
		n += len(p.Entries)
		if len(p.Entries) > 0 {
			after = p.Entries[len(p.Entries)-1].Key
		}
		if !p.More {
			return n, nil
		}
	}
}

func countUpTo(ctx context.Context, s sdk.Store, last string, pageSize int) (int, error) {
	n := 0
	after := ""
	for {
		p, err := s.List(ctx, sdk.ListOptions{StartAfter: after, Limit: pageSize})
		if err != nil {
			return 0, err
		}
		for _, e := range p.Entries {
			if e.Key > last {
				return n, nil
			}
			n++
		}
		if len(p.Entries) > 0 {
			after = p.Entries[len(p.Entries)-1].Key
		}
		if !p.More {
			return n, nil
		}
	}
}

// pager walks a listing with values one entry at a time.
type pager struct {
	s        sdk.Store
	pageSize int
	buf      []sdk.Entry
	after    string
	more     bool
	name     string
}

func newPager(s sdk.Store, name string, pageSize int) *pager {
	return &pager{s: s, pageSize: pageSize, more: true, name: name}
}

// next returns the next entry, or nil at the end.
func (p *pager) next(ctx context.Context) (*sdk.Entry, error) {
	for len(p.buf) == 0 {
		if !p.more {
			return nil, nil
		}
		pg, err := p.s.List(ctx, sdk.ListOptions{StartAfter: p.after, Limit: p.pageSize, WithValues: true})
		if err != nil {
			return nil, fmt.Errorf("listing %s after %q: %w", p.name, p.after, err)
		}
		p.buf, p.more = pg.Entries, pg.More
		if len(pg.Entries) > 0 {
			p.after = pg.Entries[len(pg.Entries)-1].Key
		}
	}
	e := p.buf[0]
	p.buf = p.buf[1:]
	return &e, nil
}

func verify(ctx context.Context, src, dst sdk.Store, pageSize, total int, progress func(string, int, int), res *Result) error {
	sp, dp := newPager(src, "source", pageSize), newPager(dst, "target", pageSize)
	all := sha256.New()
	n := 0
	progress("verify", 0, total)
	for {
		se, err := sp.next(ctx)
		if err != nil {
			return err
		}
		de, err := dp.next(ctx)
		if err != nil {
			return err
		}
		switch {
		case se == nil && de == nil:
			res.Keys = n
			res.Digest = hex.EncodeToString(all.Sum(nil))
			progress("verify", n, total)
			if n != total {
				return fmt.Errorf("%w: source held %d keys when counted and %d when verified; stop all writers and run again with --resume", ErrMismatch, total, n)
			}
			return nil
		case se == nil:
			return fmt.Errorf("%w: key %q is in the target but not in the source", ErrMismatch, de.Key)
		case de == nil:
			return fmt.Errorf("%w: key %q is in the source but not in the target", ErrMismatch, se.Key)
		case se.Key < de.Key:
			return fmt.Errorf("%w: key %q is in the source but not in the target", ErrMismatch, se.Key)
		case se.Key > de.Key:
			return fmt.Errorf("%w: key %q is in the target but not in the source", ErrMismatch, de.Key)
		}
		sh, dh := sha256.Sum256(se.Value), sha256.Sum256(de.Value)
		if sh != dh {
			return fmt.Errorf("%w: key %q has sha256 %x in the source and %x in the target", ErrMismatch, se.Key, sh, dh)
		}
		all.Write([]byte(se.Key))
		all.Write([]byte{0})
		all.Write(sh[:])
		res.Bytes += int64(len(se.Value))
		n++
		if n%pageSize == 0 {
			progress("verify", n, total)
		}
	}
}

func readCheckpoint(path string) (*checkpoint, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading checkpoint: %w", err)
	}
	var cp checkpoint
	if err := json.Unmarshal(b, &cp); err != nil {
		return nil, fmt.Errorf("checkpoint %s is damaged (%v): delete it and migrate with --resume", path, err)
	}
	return &cp, nil
}

func writeCheckpoint(path string, cp *checkpoint) error {
	b, err := json.Marshal(cp)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("checkpoint directory: %w", err)
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("writing checkpoint: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("writing checkpoint: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("writing checkpoint: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing checkpoint: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("writing checkpoint: %w", err)
	}
	return nil
}
