package fs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"syscall"

	"github.com/ALRubinger/aileron-store/sdk"
)

var _ sdk.Batcher = (*Store)(nil)

// batchWriters bounds the temporary files a batch writes at once.
const batchWriters = 16

// WriteBatch implements sdk.Batcher with the guard checked atomically:
//
//  1. Without any lock, each put's data file is written to a temporary file
//     in its key's directory and fsynced, concurrently.
//  2. The lock stripes of the guard key and of every item are taken in
//     ascending stripe order (each once, however many keys share it), so two
//     batches, or a batch and single writes, never wait on each other in a
//     cycle, between goroutines or processes. An item's stripe is taken
//     exclusively; the guard's, unless an item shares it, shared: batches
//     guarded by one key run side by side.
//  3. Under them the guard's version is checked, then each item's condition,
//     and each put is renamed into place or each delete removes its file.
//  4. The guard's stripe is released (unless an item shares it), every
//     directory that changed is fsynced once, then the items' stripes are
//     released: when WriteBatch returns, each applied item is as durable as
//     a Put or Delete that returned.
//
// A concurrent Put or Delete of the guard key waits for the guard's stripe
// (it takes it exclusively), so no item takes effect after the guard has
// moved. Temporary files of items
// whose condition failed are removed.
func (s *Store) WriteBatch(ctx context.Context, guard *sdk.Guard, writes []sdk.Write) ([]sdk.WriteResult, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	paths := make([]string, len(writes))
	for i, w := range writes {
		paths[i] = s.pathOf(w.Key)
	}
	tokens, temps, err := s.writeTemps(ctx, writes, paths)
	defer func() {
		for _, t := range temps {
			if t != "" {
				os.Remove(t)
			}
		}
	}()
	if err != nil {
		return nil, err
	}

	var need [lockStripe]bool
	for _, w := range writes {
		need[stripeOf(w.Key)] = true
	}
	guardStripe := -1
	if guard != nil {
		guardStripe = stripeOf(guard.Key)
	}
	// The guard's stripe, when no item needs it, is held shared (the guard
	// key must not change, which a write of it, exclusive, would) and
	// released as soon as the items are in place, before the directories
	// are synced: concurrent batches of one vault share a guard, and they
	// need not wait for each other's checks, renames or fsyncs.
	var unlocks []func()
	unlockGuard := func() {}
	defer func() {
		unlockGuard()
		for i := len(unlocks) - 1; i >= 0; i-- {
			unlocks[i]()
		}
	}()
	for i := range need {
		if !need[i] && i != guardStripe {
			continue
		}
		lock := s.locks[i].Lock
		if !need[i] {
			lock = s.locks[i].RLock // the guard's stripe alone
		}
		unlock, err := lock(ctx)
		if err != nil {
			return nil, err
		}
		if need[i] {
			unlocks = append(unlocks, unlock)
		} else {
			unlockGuard = unlock
		}
	}

	if guard != nil {
		ver, err := version(s.pathOf(guard.Key), guard.Key)
		switch {
		case errors.Is(err, sdk.ErrNotFound):
			return nil, sdk.Errorf(sdk.ErrConflict, "batch guard key %q does not exist", guard.Key)
		case err != nil:
			return nil, err
		case ver != guard.Version:
			return nil, sdk.Errorf(sdk.ErrConflict, "batch guard key %q is at another version than %q", guard.Key, guard.Version)
		}
	}
	// The last moment to give up: after this the writes happen.
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	results := make([]sdk.WriteResult, len(writes))
	dirs := map[string]bool{}
	for i, w := range writes {
		p := paths[i]
		if err := check(p, w.Key, w.Cond); err != nil {
			if sdk.Kind(err) != sdk.ErrConflict && sdk.Kind(err) != sdk.ErrNotFound {
				// The disk failed, not the condition: earlier items may have
				// been applied, so the batch as a whole failed.
				return nil, s.syncAfterFailure(dirs, err)
			}
			results[i].Err = err
			continue
		}
		dir := filepath.Dir(p)
		if w.Kind == sdk.WriteDelete {
			if err := os.Remove(p); err != nil {
				if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
					continue
				}
				return nil, s.syncAfterFailure(dirs, fsErr(err, "deleting key %q", w.Key))
			}
			s.noteRemoved(dir, filepath.Base(p))
			dirs[dir] = true
			continue
		}
		created := w.Cond.Mode() == sdk.CondIfAbsent
		if w.Cond.Mode() == sdk.CondNone {
			_, err := os.Lstat(p)
			created = err != nil
		}
		if err := os.Rename(temps[i], p); err != nil {
			return nil, s.syncAfterFailure(dirs, fsErr(err, "renaming key %q into place", w.Key))
		}
		temps[i] = ""
		if created {
			s.noteCreated(dir, filepath.Base(p))
		}
		dirs[dir] = true
		results[i].Version = sdk.Version(hex.EncodeToString(tokens[i][:]))
	}
	// Every item is in place: a write of the guard key may go ahead.
	unlockGuard()
	unlockGuard = func() {}
	for dir := range dirs {
		if err := syncDir(dir); err != nil {
			return nil, err
		}
	}
	return results, nil
}

// syncAfterFailure makes what a failing batch already applied durable, as
// far as it can, and returns err.
func (s *Store) syncAfterFailure(dirs map[string]bool, err error) error {
	for dir := range dirs {
		syncDir(dir)
	}
	return err
}

// writeTemps writes the temporary data file of every put, with a fresh
// version token each, batchWriters at a time. temps[i] is "" for a delete.
func (s *Store) writeTemps(ctx context.Context, writes []sdk.Write, paths []string) ([][tokenLen]byte, []string, error) {
	tokens := make([][tokenLen]byte, len(writes))
	temps := make([]string, len(writes))
	errs := make([]error, len(writes))
	if len(writes) == 1 {
		// One put (a credential write): no goroutine to hand it to.
		if writes[0].Kind == sdk.WritePut {
			if _, err := rand.Read(tokens[0][:]); err != nil {
				return tokens, temps, sdk.Errorf(sdk.ErrUnavailable, "random version for key %q: %v", writes[0].Key, err)
			}
			temps[0], errs[0] = s.writeTemp(paths[0], writes[0].Key, tokens[0][:], writes[0].Value)
		}
		return tokens, temps, errs[0]
	}
	sem := make(chan struct{}, batchWriters)
	var wg sync.WaitGroup
	for i, w := range writes {
		if w.Kind != sdk.WritePut {
			continue
		}
		if _, err := rand.Read(tokens[i][:]); err != nil {
			return tokens, temps, sdk.Errorf(sdk.ErrUnavailable, "random version for key %q: %v", w.Key, err)
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if ctx.Err() != nil {
				return
			}
			temps[i], errs[i] = s.writeTemp(paths[i], w.Key, tokens[i][:], w.Value)
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return tokens, temps, err
	}
	for _, err := range errs {
		if err != nil {
			return tokens, temps, err
		}
	}
	return tokens, temps, nil
}
