package core

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"sync"
	"time"

	"github.com/ALRubinger/aileron-store/core/internal/wire"
	"github.com/ALRubinger/aileron-store/sdk"
	"golang.org/x/sync/errgroup"
)

// maxSweepPasses bounds the passes of a sweep that keeps meeting concurrent
// writers.
const maxSweepPasses = 8

// What the sweep does with one listed blob.
type sweepAction uint8

const (
	sweepKeep       sweepAction = iota // already under the current key: authenticated, left
	sweepMove                          // under the old key, attributed: re-encrypted to its new id
	sweepQuarantine                    // under the old key, not attributed: moved to quarantine
	sweepDiscard                       // readable by no member: deleted and reported
	sweepDrop                          // a tombstone of an earlier rotation: deleted
)

// sweepItem is the sweep's decision about one listed blob.
type sweepItem struct {
	en     sdk.Entry
	action sweepAction
	newKey string // sweepMove, sweepQuarantine
	blob   []byte // sweepMove, sweepQuarantine
	reason string // sweepQuarantine, sweepDiscard
	// outcome of the put (sweepMove, sweepQuarantine)
	putVer sdk.Version
	putOK  bool
	kept   bool // sweepKeep decided on en's blob (not a key gone meanwhile)
}

// sweep moves every record (and quarantined record) below the head's epoch
// to the current key and naming key, page by page, each page in two batches
// (the new copies, then the removal of the old ones), guarded by the head.
// It never stops on a bad blob: it reports and deletes what no member can
// read, and quarantines what it cannot attribute to a current member.
//
// On a store whose guard is not atomic, a writer that checked its guard
// before the rotation committed may land its write under the old key up to
// WriteTimeout later: the sweep waits until 1.5 x WriteTimeout
// after since (when this host first saw the rotation committed) and makes a
// final pass. The final pass (and any pass it makes repeat) lists keys and
// versions only and reads just the blobs that are not, at the version seen,
// ones the earlier passes kept or wrote (see sweepSeen): a stale write lands
// under an old-epoch record id, which no earlier pass kept, and any rewrite
// of a kept blob changes its version.
func (v *Vault) sweep(ctx context.Context, s *session, old *epochKey, st *sweepState, since time.Time) error {
	final := v.e.atomic
	if !final {
		st.seen = newSweepSeen()
		defer func() { st.seen = nil }()
	}
	for pass := 0; ; pass++ {
		raced := false
		for _, p := range []struct {
			prefix string
			kind   uint8
		}{{recordPrefix(v.id), wire.RecordCredential}, {quarantinePrefix(v.id), wire.RecordQuarantined}} {
			r, err := v.sweepPrefix(ctx, s, old, st, p.prefix, p.kind)
			if err != nil {
				return err
			}
			raced = raced || r
		}
		switch {
		case raced && pass < maxSweepPasses:
			continue
		case raced:
			return fmt.Errorf("core: sweeping vault %q: %w: too many concurrent writes", v.name, sdk.ErrConflict)
		case !final:
			wait := since.Add(v.e.writeTimeout + v.e.writeTimeout/2).Sub(v.e.now())
			if wait > 0 {
				v.e.log.Debug("waiting out stale writers before the final pass", "vault", v.ID(), "wait", wait)
				t := time.NewTimer(wait)
				select {
				case <-ctx.Done():
					t.Stop()
					return ctx.Err()
				case <-t.C:
				}
			}
			final = true
			st.seen.keysOnly = true
			continue
		}
		if v.e.progress != nil {
			v.e.progress(Progress{Op: "sweep", Vault: v.name, Done: st.rep.Reencrypted, Total: st.rep.Reencrypted})
		}
		return nil
	}
}

// sweepPrefix makes one pass over the blobs under prefix. raced reports a
// concurrent writer met on the way (the pass must be repeated). From the
// final pass on (st.seen.keysOnly) it lists keys and versions only, skips
// the blobs st.seen holds at the listed version and reads each other one (a
// key gone meanwhile is skipped).
//
// The pass is a two-stage pipeline: while one page's decisions are applied
// (two or three batches of writes), the next page is listed, read and
// decided, so that a store's reads and writes overlap instead of taking
// turns. At most three pages are in memory: the one being applied, the next
// one decided and waiting, and the listing in hand. A page listed while the
// page before it is applied may or may not show that page's new copies
// (they sort anywhere under the prefix): either way it keeps them, as a
// sequential pass does with those that sort after its page.
func (v *Vault) sweepPrefix(ctx context.Context, s *session, old *epochKey, st *sweepState, prefix string, kind uint8) (raced bool, err error) {
	g, gctx := errgroup.WithContext(ctx)
	pages := make(chan []*sweepItem)
	g.Go(func() error {
		defer close(pages)
		keysOnly := st.seen.keysOnlyPass()
		opts := sdk.ListOptions{Prefix: prefix, WithValues: !keysOnly, Limit: sdk.MaxListLimit}
		for {
			page, err := v.e.store.List(gctx, opts)
			if err != nil {
				return fmt.Errorf("core: listing records of vault %q: %w", v.name, err)
			}
			items, err := v.decidePage(gctx, s, old, st, prefix, kind, page.Entries, keysOnly)
			if err != nil {
				return err
			}
			select {
			case pages <- items:
			case <-gctx.Done():
				return gctx.Err()
			}
			if !page.More {
				return nil
			}
			if len(page.Entries) > 0 {
				opts.StartAfter = page.Entries[len(page.Entries)-1].Key
			}
		}
	})
	g.Go(func() error {
		for items := range pages {
			for _, it := range items {
				if it.kept {
					st.seen.add(it.en.Key, it.en.Version)
				}
			}
			r, err := v.applySweep(gctx, s, st, items)
			if err != nil {
				return err
			}
			raced = raced || r
			if v.e.progress != nil {
				v.e.progress(Progress{Op: "sweep", Vault: v.name, Done: st.rep.Reencrypted})
			}
		}
		return nil
	})
	err = g.Wait()
	return raced, err
}

// decidePage decides what the sweep does with each blob of one listed page,
// v.e.concurrency at a time. With keysOnly the page has no values: the blobs
// st.seen holds at the listed version are left out and every other one is
// read (a key gone meanwhile is left alone).
func (v *Vault) decidePage(ctx context.Context, s *session, old *epochKey, st *sweepState, prefix string, kind uint8, entries []sdk.Entry, keysOnly bool) ([]*sweepItem, error) {
	todo := entries
	if keysOnly {
		todo = nil
		for _, en := range entries {
			if !st.seen.has(en.Key, en.Version) {
				todo = append(todo, en)
			}
		}
	}
	items := make([]*sweepItem, len(todo))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(v.e.concurrency)
	for i, en := range todo {
		g.Go(func() error {
			en := en // reassigned below: keeps the loop's en captured by value
			if keysOnly {
				data, ver, err := v.e.store.Get(gctx, en.Key)
				if errors.Is(err, sdk.ErrNotFound) {
					items[i] = &sweepItem{en: en} // gone meanwhile: nothing to do
					return nil
				}
				if err != nil {
					return fmt.Errorf("core: reading %s %q: %w", kindRecord, en.Key, err)
				}
				en = sdk.Entry{Key: en.Key, Value: data, Version: ver}
			}
			it, err := v.decide(gctx, s, old, st, prefix, kind, en)
			if err == nil && it.action == sweepDiscard {
				// Read it again before deleting it: a listing that
				// lied in transit must not cost a record.
				it, err = v.redecide(gctx, s, old, st, prefix, kind, it)
			}
			items[i] = it
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return items, nil
}

// decide opens one listed blob and says what the sweep does with it.
func (v *Vault) decide(ctx context.Context, s *session, old *epochKey, st *sweepState, prefix string, kind uint8, en sdk.Entry) (*sweepItem, error) {
	it := &sweepItem{en: en}
	discard := func(why string) (*sweepItem, error) {
		it.action, it.reason = sweepDiscard, why
		return it, nil
	}
	rid, ok := parseIDKey(prefix, en.Key)
	if !ok {
		return discard("key is not a record id")
	}
	rec, err := wire.ParseRecord(en.Value)
	if err != nil {
		return discard(err.Error())
	}
	if rec.Epoch < old.epoch {
		return discard(fmt.Sprintf("epoch %d is below the minimum epoch %d (replayed, or written late by a writer past its write timeout)", rec.Epoch, old.epoch))
	}
	l := lookup{key: en.Key, rid: rid, kind: kind, trustPrev: true}
	o, err := v.open(ctx, s, l, en.Value)
	if errors.Is(err, errKeyWiped) {
		return nil, err
	}
	if err != nil {
		return discard(err.Error())
	}
	defer o.wipe()
	name := string(o.p.Name)
	if o.rec.Kind == wire.RecordTombstone {
		if o.k != old {
			it.kept = true
			return it, nil // sweepKeep: a deletion of this rotation
		}
		it.action = sweepDrop // a deletion of an earlier rotation: done
		return it, nil
	}
	st.note(func() { st.readable = append(st.readable, name) })
	if o.k != old {
		it.kept = true
		return it, nil // sweepKeep: under the current key (or a newer one), authenticated
	}
	plain := o.plain
	ver := s.version()
	writer := o.p.Writer
	if kind == wire.RecordCredential && s.head.h.Pending.Kind == wire.PendingRevoke {
		if err := v.attribute(s, o.p); err != nil {
			it.action, kind = sweepQuarantine, wire.RecordQuarantined
			it.reason = "written under the previous key by no current member: " + err.Error()
			if isRevoked(s.head.h, writer) {
				it.reason = "last written by the revoked member"
			}
			prefix = quarantinePrefix(v.id)
		}
	}
	if it.action != sweepQuarantine {
		it.action = sweepMove
	}
	if o.p.Version < ver {
		// A format-1 record carried into format 2. Under a plain rotation
		// it is attributed to the admin who upgrades; under a revoke it is
		// quarantined (it names no writer) and keeps no writer.
		id, err := v.identity()
		if err != nil {
			return nil, err
		}
		if it.action == sweepQuarantine {
			q := &wire.RecordPlain{Name: o.p.Name, Value: o.p.Value, Modified: o.p.Modified, Signature: make([]byte, wire.Ed25519SigLen)}
			plain = q.Marshal()
		} else {
			plain = v.signedPlain(ver, id, name, o.p.Value, o.p.Modified)
		}
		defer clear(plain)
	}
	newRID, err := s.cur.rid(name)
	if err != nil {
		return nil, err
	}
	it.newKey = idKey(prefix, newRID)
	it.blob = sealRecord(s.cur, rec.Suite, ver, kind, v.id, newRID, plain)
	if it.action == sweepQuarantine {
		st.note(func() {
			st.rep.Quarantined = append(st.rep.Quarantined, QuarantinedRecord{Name: name, Writer: v.writerName(s, writer), Modified: time.Unix(0, o.p.Modified), Reason: it.reason})
		})
	}
	return it, nil
}

// redecide reads a blob the sweep would discard once more and decides on
// what is stored now.
func (v *Vault) redecide(ctx context.Context, s *session, old *epochKey, st *sweepState, prefix string, kind uint8, it *sweepItem) (*sweepItem, error) {
	data, ver, err := v.e.store.Get(ctx, it.en.Key)
	if errors.Is(err, sdk.ErrNotFound) {
		return &sweepItem{en: it.en}, nil // gone meanwhile: nothing to do
	}
	if err != nil {
		return nil, fmt.Errorf("core: reading %s %q: %w", kindRecord, it.en.Key, err)
	}
	if ver == it.en.Version && bytes.Equal(data, it.en.Value) {
		return it, nil
	}
	return v.decide(ctx, s, old, st, prefix, kind, sdk.Entry{Key: it.en.Key, Value: data, Version: ver})
}

func isRevoked(h *wire.Head, id [wire.IDLen]byte) bool {
	for _, r := range h.Pending.Revoked {
		if r == id {
			return true
		}
	}
	return false
}

// applySweep carries out the decisions of one page: the new copies (moves
// with if-absent, quarantines, discards), then the removal of the old
// copies whose new copy is in place, then the undoing of a new copy whose
// old copy changed meanwhile (a concurrent delete or stale write).
func (v *Vault) applySweep(ctx context.Context, s *session, st *sweepState, items []*sweepItem) (raced bool, err error) {
	guard := &sdk.Guard{Key: headKey(v.id), Version: s.head.ver}
	var first []sdk.Write
	var firstItems []*sweepItem
	for _, it := range items {
		switch it.action {
		case sweepMove:
			first = append(first, sdk.Write{Kind: sdk.WritePut, Key: it.newKey, Value: it.blob, Cond: sdk.IfAbsent()})
		case sweepQuarantine:
			first = append(first, sdk.Write{Kind: sdk.WritePut, Key: it.newKey, Value: it.blob})
		case sweepDiscard, sweepDrop:
			first = append(first, sdk.Write{Kind: sdk.WriteDelete, Key: it.en.Key, Cond: sdk.IfVersion(it.en.Version)})
		default:
			continue
		}
		firstItems = append(firstItems, it)
	}
	res, err := v.batches(ctx, guard, first)
	if err != nil {
		return false, err
	}
	var second []sdk.Write
	var secondItems []*sweepItem
	for i, it := range firstItems {
		r := res[i]
		switch {
		case it.action == sweepDrop:
			continue
		case it.action == sweepDiscard:
			if r.Err != nil && !errors.Is(r.Err, sdk.ErrNotFound) {
				raced = raced || errors.Is(r.Err, sdk.ErrConflict)
				if !errors.Is(r.Err, sdk.ErrConflict) {
					return raced, fmt.Errorf("core: deleting %s %q: %w", kindRecord, it.en.Key, r.Err)
				}
				continue
			}
			st.note(func() {
				st.rep.Discarded = append(st.rep.Discarded, DiscardedBlob{Kind: kindRecord, Key: it.en.Key, Reason: it.reason})
			})
			v.e.log.Warn("sweep discarded a blob no member can read", "key", it.en.Key, "reason", it.reason)
			continue
		case r.Err == nil:
			it.putOK, it.putVer = true, r.Version
		case errors.Is(r.Err, sdk.ErrConflict):
			// A writer put the credential under its new id first: that
			// copy is newer. Make sure it reads before dropping the old.
			if !v.readable(ctx, s, it.newKey) {
				raced = true
				continue
			}
		default:
			return raced, fmt.Errorf("core: writing %s %q: %w", kindRecord, it.newKey, r.Err)
		}
		second = append(second, sdk.Write{Kind: sdk.WriteDelete, Key: it.en.Key, Cond: sdk.IfVersion(it.en.Version)})
		secondItems = append(secondItems, it)
	}
	if len(second) == 0 {
		return raced, nil
	}
	if res, err = v.batches(ctx, guard, second); err != nil {
		return raced, err
	}
	var undo []sdk.Write
	for i, it := range secondItems {
		r := res[i]
		switch {
		case r.Err == nil:
			if it.action == sweepMove {
				st.note(func() { st.rep.Reencrypted++ })
			}
			if it.putOK {
				st.seen.add(it.newKey, it.putVer)
			}
		case errors.Is(r.Err, sdk.ErrNotFound):
			// Deleted meanwhile: by another admin's sweep that found the new
			// copy in place, or by a writer, which leaves the new id taken
			// (its own value, or a tombstone) so this copy never outlives it.
			if it.putOK {
				st.seen.add(it.newKey, it.putVer)
			}
		case errors.Is(r.Err, sdk.ErrConflict):
			// Rewritten after it was listed (a writer that read the head
			// before the rotation, on a store without an atomic guard): the
			// new copy must not outlive the newer value, which the next
			// pass moves.
			raced = true
			if it.putOK {
				undo = append(undo, sdk.Write{Kind: sdk.WriteDelete, Key: it.newKey, Cond: sdk.IfVersion(it.putVer)})
			}
		default:
			return raced, fmt.Errorf("core: deleting %s %q: %w", kindRecord, it.en.Key, r.Err)
		}
	}
	if len(undo) > 0 {
		if res, err = v.batches(ctx, guard, undo); err != nil {
			return raced, err
		}
		for i, r := range res {
			if r.Err != nil && !errors.Is(r.Err, sdk.ErrNotFound) && !errors.Is(r.Err, sdk.ErrConflict) {
				return raced, fmt.Errorf("core: deleting %s %q: %w", kindRecord, undo[i].Key, r.Err)
			}
		}
	}
	return raced, nil
}

// readable reports whether the blob at key opens under the session.
func (v *Vault) readable(ctx context.Context, s *session, key string) bool {
	data, _, err := v.e.store.Get(ctx, key)
	if err != nil {
		return false
	}
	prefix, kind := recordPrefix(v.id), wire.RecordCredential
	if len(key) > len(prefix) && key[:len(prefix)] != prefix {
		prefix, kind = quarantinePrefix(v.id), wire.RecordQuarantined
	}
	rid, ok := parseIDKey(prefix, key)
	if !ok {
		return false
	}
	o, err := v.open(ctx, s, lookup{key: key, rid: rid, kind: kind}, data)
	if err != nil {
		return false
	}
	o.wipe()
	return true
}

// batches applies writes in batches within the store's limits. A guard
// conflict is returned as an error wrapping sdk.ErrConflict.
func (v *Vault) batches(ctx context.Context, guard *sdk.Guard, ws []sdk.Write) ([]sdk.WriteResult, error) {
	out := make([]sdk.WriteResult, 0, len(ws))
	for len(ws) > 0 {
		n, size := 0, 0
		for n < len(ws) && n < sdk.MaxBatchWrites && size+len(ws[n].Value) <= sdk.MaxBatchBytes {
			size += len(ws[n].Value)
			n++
		}
		res, err := v.e.writeBatch(ctx, guard, ws[:n])
		if err != nil {
			return nil, fmt.Errorf("core: sweeping vault %q: %w", v.name, err)
		}
		out = append(out, res...)
		ws = ws[n:]
	}
	return out, nil
}

// sweepSeen remembers, for the final pass of a sweep on a store whose guard
// is not atomic, every blob an earlier pass kept (authenticated under the
// current key) or wrote (a moved or quarantined copy, at the version its put
// returned): a map from a hash of the key to a hash of the version. The
// final pass skips a listed key whose version hashes to the remembered one
// and reads every other blob.
//
// The hashes are keyed with a seed drawn for each sweep, so no one can choose
// a key (or a value, which on S3 makes the version) that collides with a
// remembered one; a collision by chance (about n*m/2^64 for n remembered
// and m new blobs) would leave one blob of the final pass unread. A skipped
// blob is one decided before at the same version, and versions change with
// every write (S3: a random nonce in every object; GCS: the generation), so
// the decision would be the same.
//
// Cost: 16 bytes of key and value per record in a Swiss-table map, with its
// control bytes and load factor (7/8 at most, about half after a table
// splits) some 19 to 40 bytes per record: under 40 MiB for 1,000,000
// records. The map starts at one listing page and grows table by table, so
// no growth step copies the whole map at once. It lives for one sweep.
type sweepSeen struct {
	seed maphash.Seed
	// mu guards m: a pass adds what it applies while it decides the next
	// page (see sweepPrefix).
	mu sync.Mutex
	m  map[uint64]uint64
	// keysOnly is set for the final pass and any pass it makes repeat
	// (between passes, by the sweep's own goroutine).
	keysOnly bool
}

func newSweepSeen() *sweepSeen {
	return &sweepSeen{seed: maphash.MakeSeed(), m: make(map[uint64]uint64, sdk.MaxListLimit)}
}

// add remembers key at version ver. A nil sweepSeen (a store with an
// atomic guard: no final pass) remembers nothing.
func (f *sweepSeen) add(key string, ver sdk.Version) {
	if f == nil {
		return
	}
	k, h := maphash.String(f.seed, key), maphash.String(f.seed, string(ver))
	f.mu.Lock()
	f.m[k] = h
	f.mu.Unlock()
}

// has reports whether key was remembered at version ver.
func (f *sweepSeen) has(key string, ver sdk.Version) bool {
	if f == nil {
		return false
	}
	k, h := maphash.String(f.seed, key), maphash.String(f.seed, string(ver))
	f.mu.Lock()
	got, ok := f.m[k]
	f.mu.Unlock()
	return ok && got == h
}

// keysOnlyPass reports whether the pass lists keys and versions only (the
// final pass on a store without an atomic guard, and any pass it repeats).
func (f *sweepSeen) keysOnlyPass() bool {
	return f != nil && f.keysOnly
}
