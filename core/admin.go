package core

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/ALRubinger/aileron-store/core/internal/wire"
	"github.com/ALRubinger/aileron-store/sdk"
	"golang.org/x/sync/errgroup"
)

// maxAttempts bounds the retries of an admin operation that loses a
// compare-and-swap race on the head.
const maxAttempts = 8

// admin returns a fresh session after checking that the caller is an admin,
// completing any pending rotation first when finish is set.
func (v *Vault) admin(ctx context.Context, finish bool) (*session, *Identity, error) {
	s, err := v.refresh(ctx, false)
	if err != nil {
		return nil, nil, err
	}
	id, err := v.identity()
	if err != nil {
		return nil, nil, err
	}
	if m := s.head.h.Member(id.rcpt.id); m == nil || m.Role != wire.RoleAdmin {
		return nil, nil, fmt.Errorf("%w: vault %q", ErrNotAdmin, v.name)
	}
	for i := 0; finish && s.head.h.Pending.Kind != wire.PendingNone; i++ {
		// Complete the pending rotation first; another admin may start a new
		// one meanwhile, so check again (a change must never be built on a
		// head with a rotation in flight).
		if i == maxAttempts {
			return nil, nil, fmt.Errorf("core: vault %q: %w: rotations keep starting", v.name, sdk.ErrConflict)
		}
		if _, _, err := v.resume(ctx); err != nil {
			return nil, nil, err
		}
		if s, err = v.refresh(ctx, false); err != nil {
			return nil, nil, err
		}
		if m := s.head.h.Member(id.rcpt.id); m == nil || m.Role != wire.RoleAdmin {
			return nil, nil, fmt.Errorf("%w: vault %q", ErrNotAdmin, v.name)
		}
	}
	return s, id, nil
}

func copyMeta(m *wire.Meta) *wire.Meta {
	n := &wire.Meta{VaultName: m.VaultName, Names: make(map[[wire.IDLen]byte]string, len(m.Names))}
	for k, v := range m.Names {
		n.Names[k] = v
	}
	return n
}

func (s *session) memberByName(name string) *wire.HeadMember {
	for i, m := range s.head.h.Members {
		if s.meta.Names[m.ID] == name {
			return &s.head.h.Members[i]
		}
	}
	return nil
}

// Grant adds a member: it seals the current epoch key to r, writes r's index
// entry and commits a head listing r. O(1) in the number of credentials.
// Admin only.
func (v *Vault) Grant(ctx context.Context, r *Recipient, memberName string, role Role) error {
	if r == nil || r.bin == nil {
		return errors.New("core: grant: nil recipient")
	}
	if err := checkName("member", memberName); err != nil {
		return err
	}
	if role != RoleMember && role != RoleAdmin {
		return fmt.Errorf("core: grant: unknown role %d", role)
	}
	for attempt := 0; ; attempt++ {
		s, id, err := v.admin(ctx, true)
		if err != nil {
			return err
		}
		h := s.head.h
		if h.Member(r.id) != nil {
			return fmt.Errorf("%w: recipient %s in vault %q", ErrMemberExists, r.Fingerprint(), v.name)
		}
		if s.memberByName(memberName) != nil {
			return fmt.Errorf("%w: member name %q in vault %q", ErrMemberExists, memberName, v.name)
		}
		slot, err := sealSlot(r, v.id, h.Epoch, h.Commitment, &wire.SlotPayload{EpochKey: s.cur.key, NamingKey: s.naming})
		if err != nil {
			return err
		}
		idx, err := sealIndex(r, v.id, v.name)
		if err != nil {
			return err
		}
		skey := slotKey(v.id, h.Epoch, h.Commitment, r.id)
		if _, err := v.e.store.Put(ctx, skey, slot, sdk.None); err != nil {
			return fmt.Errorf("core: writing %s %q: %w", kindSlot, skey, err)
		}
		ikey := indexKey(r.ID(), v.id)
		if _, err := v.e.store.Put(ctx, ikey, idx, sdk.None); err != nil {
			return fmt.Errorf("core: writing %s %q: %w", kindIndex, ikey, err)
		}
		next := copyHead(h)
		next.Members = append(next.Members, wire.HeadMember{ID: r.id, Role: uint8(role), Recipient: r.bin})
		sortMembers(next.Members)
		meta := copyMeta(s.meta)
		meta.Names[r.id] = memberName
		hs, err := v.e.commitHead(ctx, s.head, next, id, meta, s.cur)
		if errors.Is(err, sdk.ErrConflict) && attempt < maxAttempts {
			continue
		}
		if err != nil {
			return err
		}
		v.setSession(&session{head: hs, meta: meta, cur: s.cur, prev: s.prev, naming: s.naming})
		v.e.log.Debug("member granted", "vault", v.ID(), "member", r.ID())
		return nil
	}
}

func sortMembers(ms []wire.HeadMember) {
	sort.Slice(ms, func(i, j int) bool { return bytes.Compare(ms[i].ID[:], ms[j].ID[:]) < 0 })
}

// Revoke removes a member: next-epoch key slots for the remaining members,
// commit of the next epoch, sweep re-encrypting every old-epoch record,
// raise of the minimum epoch, deletion of the old slots. It reports the
// credentials the member could read. Admin only; an interruption is
// completed by Resume from any remaining admin.
func (v *Vault) Revoke(ctx context.Context, memberName string) (*RevokeReport, error) {
	rep, err := v.rotate(ctx, memberName, true)
	if err != nil {
		return nil, err
	}
	return rep, nil
}

// Rotate moves the vault to a fresh epoch key (a revoke without removing
// anyone). Admin only.
func (v *Vault) Rotate(ctx context.Context) error {
	_, err := v.rotate(ctx, "", false)
	return err
}

func (v *Vault) rotate(ctx context.Context, memberName string, revoke bool) (*RevokeReport, error) {
	for attempt := 0; ; attempt++ {
		s, id, err := v.admin(ctx, true)
		if err != nil {
			return nil, err
		}
		h := s.head.h
		next := copyHead(h)
		meta := copyMeta(s.meta)
		next.Pending = wire.Pending{Kind: wire.PendingRotate, OldEpoch: h.Epoch, Phase: wire.PhaseSweep}
		if revoke {
			m := s.memberByName(memberName)
			if m == nil {
				return nil, fmt.Errorf("%w: %q in vault %q", ErrMemberNotFound, memberName, v.name)
			}
			gone := m.ID
			if gone == id.rcpt.id {
				return nil, fmt.Errorf("core: revoke %q: an admin cannot revoke itself; another admin must", memberName)
			}
			admins := 0
			next.Members = next.Members[:0]
			for _, hm := range h.Members {
				if hm.ID == gone {
					continue
				}
				if hm.Role == wire.RoleAdmin {
					admins++
				}
				next.Members = append(next.Members, hm)
			}
			if admins == 0 {
				return nil, fmt.Errorf("core: revoke %q: the vault would have no admin left", memberName)
			}
			delete(meta.Names, gone)
			next.Pending.Kind = wire.PendingRevoke
			next.Pending.Revoked = [][wire.IDLen]byte{gone}
		}
		epoch := h.Epoch + 1
		key := randomKey()
		ek, err := newEpochKey(v.id, epoch, key)
		if err != nil {
			clear(key)
			return nil, err
		}
		next.Epoch = epoch
		next.Commitment = commitment(v.id, epoch, key, s.naming)
		clear(key)
		// (1) next-epoch slots for the remaining members, carrying the old
		// key so reads keep working while the sweep runs.
		for _, m := range next.Members {
			r, err := recipientFromBytes(m.Recipient)
			if err != nil {
				return nil, tampered(kindHead, headKey(v.id), err)
			}
			slot, err := sealSlot(r, v.id, epoch, next.Commitment, &wire.SlotPayload{EpochKey: ek.key, NamingKey: s.naming, PrevKey: s.cur.key})
			if err != nil {
				return nil, err
			}
			skey := slotKey(v.id, epoch, next.Commitment, m.ID)
			if _, err := v.e.store.Put(ctx, skey, slot, sdk.None); err != nil {
				return nil, fmt.Errorf("core: writing %s %q: %w", kindSlot, skey, err)
			}
		}
		// (2) commit: from here on writers use the new key.
		hs, err := v.e.commitHead(ctx, s.head, next, id, meta, ek)
		if errors.Is(err, sdk.ErrConflict) && attempt < maxAttempts {
			continue
		}
		if err != nil {
			return nil, err
		}
		ns := &session{head: hs, meta: meta, cur: ek, prev: s.cur, naming: s.naming}
		v.setSession(ns)
		v.e.log.Debug("rotation committed", "vault", v.ID(), "epoch", epoch)
		// (3)-(5) sweep, raise the minimum epoch, delete the old slots. The
		// sweep opens every record of the vault (re-encrypting the old ones,
		// authenticating the rest) and so learns every name the revoked
		// member could read; it may also name a credential created during
		// the sweep, which errs on the side of rotating one secret too many.
		rep, swept, err := v.resume(ctx)
		if err != nil {
			return nil, err
		}
		if revoke && !swept {
			// Another admin's host did the whole sweep: read the names.
			readable, err := v.names(ctx, ns)
			if err != nil {
				return nil, err
			}
			rep.Readable = mergeSorted(rep.Readable, readable)
		}
		rep.Member = memberName
		return rep, nil
	}
}

// Resume completes an interrupted revoke or rotation; it is a no-op when
// none is pending. Admin only.
func (v *Vault) Resume(ctx context.Context) error {
	if _, _, err := v.admin(ctx, false); err != nil {
		return err
	}
	_, _, err := v.resume(ctx)
	return err
}

func (v *Vault) resume(ctx context.Context) (rep *RevokeReport, swept bool, err error) {
	rep = &RevokeReport{}
	readable := map[string]bool{}
	for attempt := 0; attempt < 4*maxAttempts; attempt++ {
		s, id, err := v.admin(ctx, false)
		if err != nil {
			return nil, swept, err
		}
		h := s.head.h
		if h.Pending.Kind == wire.PendingNone {
			for n := range readable {
				rep.Readable = append(rep.Readable, n)
			}
			sort.Strings(rep.Readable)
			return rep, swept, nil
		}
		next := copyHead(h)
		switch h.Pending.Phase {
		case wire.PhaseSweep:
			// (3) sweep, then (4) raise the minimum epoch.
			old := s.key(h.Pending.OldEpoch)
			if old == nil {
				return nil, swept, tamperedf(kindSlot, slotKey(v.id, h.Epoch, h.Commitment, id.rcpt.id), "carries no key for the pending epoch %d", h.Pending.OldEpoch)
			}
			n, err := v.sweep(ctx, s, old, readable)
			if err != nil {
				return nil, swept, err
			}
			rep.Reencrypted += n
			swept = true
			next.MinEpoch = h.Epoch
			next.Pending.Phase = wire.PhaseCleanup
		case wire.PhaseCleanup:
			// (5) delete the old slots (and garbage of lost attempts).
			if err := v.deleteOldSlots(ctx, h); err != nil {
				return nil, swept, err
			}
			next.Pending = wire.Pending{}
		}
		hs, err := v.e.commitHead(ctx, s.head, next, id, s.meta, s.cur)
		if errors.Is(err, sdk.ErrConflict) {
			continue // another admin progressed; re-read
		}
		if err != nil {
			return nil, swept, err
		}
		v.setSession(&session{head: hs, meta: s.meta, cur: s.cur, prev: s.prev, naming: s.naming})
	}
	return nil, swept, fmt.Errorf("core: resuming rotation of vault %q: %w: too many concurrent changes", v.name, sdk.ErrConflict)
}

// deleteOldSlots removes every slot not of the head's current epoch and key,
// except slots of later epochs (a concurrent rotation attempt's).
func (v *Vault) deleteOldSlots(ctx context.Context, h *wire.Head) error {
	keep := slotDir(h.Epoch, h.Commitment)
	prefix := slotPrefix(v.id)
	var doomed []string
	flush := func() error {
		for _, k := range doomed {
			if err := v.e.store.Delete(ctx, k, sdk.None); err != nil {
				return fmt.Errorf("core: deleting %s %q: %w", kindSlot, k, err)
			}
		}
		doomed = doomed[:0]
		return nil
	}
	err := sdk.Walk(ctx, v.e.store, prefix, false, func(en sdk.Entry) error {
		dir, _, _ := strings.Cut(en.Key[len(prefix):], "/")
		if dir == keep || len(dir) < 16 {
			return nil
		}
		var ep [8]byte
		if n, err := hex.Decode(ep[:], []byte(dir[:16])); err != nil || n != 8 {
			return nil
		}
		epoch := uint64(ep[0])<<56 | uint64(ep[1])<<48 | uint64(ep[2])<<40 | uint64(ep[3])<<32 | uint64(ep[4])<<24 | uint64(ep[5])<<16 | uint64(ep[6])<<8 | uint64(ep[7])
		if epoch > h.Epoch {
			return nil
		}
		doomed = append(doomed, en.Key)
		if len(doomed) >= 256 {
			return flush()
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("core: listing slots of vault %q: %w", v.name, err)
	}
	return flush()
}

// sweep re-encrypts every record below the head's epoch under the current
// key, page by page, with compare-and-swap and bounded concurrency. Names of
// the records found under the old key go into readable. It repeats while a
// pass met concurrent writers, so nothing is left behind.
func (v *Vault) sweep(ctx context.Context, s *session, old *epochKey, readable map[string]bool) (int, error) {
	var mu sync.Mutex
	total := 0
	for pass := 0; pass < 4; pass++ {
		raced := false
		// The largest page the contract allows (about 1 MiB of values): a
		// backend that pays per listing call (fs reads the whole directory)
		// pays it 4x less often than with pages of 256.
		opts := sdk.ListOptions{Prefix: recordPrefix(v.id), WithValues: true, Limit: sdk.MaxListLimit}
		for {
			page, err := v.e.store.List(ctx, opts)
			if err != nil {
				return total, fmt.Errorf("core: listing records of vault %q: %w", v.name, err)
			}
			g, gctx := errgroup.WithContext(ctx)
			g.SetLimit(v.e.concurrency)
			for _, en := range page.Entries {
				g.Go(func() error {
					n, name, r, err := v.sweepOne(gctx, s, old, en)
					mu.Lock()
					defer mu.Unlock()
					total += n
					if name != "" {
						readable[name] = true
					}
					raced = raced || r
					return err
				})
			}
			if err := g.Wait(); err != nil {
				return total, err
			}
			if v.e.progress != nil {
				v.e.progress(Progress{Op: "sweep", Vault: v.name, Done: total})
			}
			if !page.More {
				break
			}
			if len(page.Entries) > 0 {
				opts.StartAfter = page.Entries[len(page.Entries)-1].Key
			}
		}
		if !raced {
			break
		}
	}
	if v.e.progress != nil {
		v.e.progress(Progress{Op: "sweep", Vault: v.name, Done: total, Total: total})
	}
	return total, nil
}

// sweepOne re-encrypts one record if it is below the current epoch. It
// returns the count re-encrypted (0 or 1), the record's name if it was under
// the old key, and whether it lost a race to a writer.
func (v *Vault) sweepOne(ctx context.Context, s *session, old *epochKey, en sdk.Entry) (int, string, bool, error) {
	rid, ok := v.parseRecordKey(en.Key)
	if !ok {
		return 0, "", false, tamperedf(kindRecord, en.Key, "key is not a record id")
	}
	data, ver := en.Value, en.Version
	for try := 0; try < 8; try++ {
		rec, err := wire.ParseRecord(data)
		if err != nil {
			return 0, "", false, tampered(kindRecord, en.Key, err)
		}
		if rec.Epoch < s.head.h.MinEpoch {
			// Below the minimum epoch: unreadable to everyone. Either a
			// replayed blob, or a writer that read the head before the last
			// rotation and is about to re-encrypt its own write (see Put).
			// Not this sweep's to fix.
			v.e.log.Warn("sweep skipped a record below the minimum epoch", "key", en.Key, "epoch", rec.Epoch)
			return 0, "", true, nil
		}
		if rec.Epoch >= s.cur.epoch {
			// Already under this rotation's key or a later one (a writer,
			// an earlier sweep, or a newer rotation by another admin got
			// there). Authenticate it before leaving it (openAt re-reads
			// the head for an epoch it does not know yet): otherwise a
			// backend could make the sweep skip a record by lying about its
			// epoch, and the real record would end below the minimum epoch.
			_, plain, p, _, err := v.openAt(ctx, s, en.Key, rid, data)
			if errors.Is(err, ErrRollback) && try < 7 {
				// The vault moved on since this page was listed (another
				// admin's newer rotation raised the minimum epoch past this
				// copy): read the record again. A replayed blob keeps
				// failing and is reported on the last try.
				data, ver, err = v.e.store.Get(ctx, en.Key)
				if errors.Is(err, sdk.ErrNotFound) {
					return 0, "", true, nil
				}
				if err != nil {
					return 0, "", false, fmt.Errorf("core: reading %s %q: %w", kindRecord, en.Key, err)
				}
				continue
			}
			if err != nil {
				return 0, "", false, err
			}
			name := string(p.Name)
			clear(plain)
			return 0, name, try > 0, nil
		}
		_, plain, p, _, err := v.openAt(ctx, s, en.Key, rid, data)
		if err != nil {
			return 0, "", false, err
		}
		name := string(p.Name)
		blob := sealRecord(s.cur, rec.Suite, v.id, rid, plain)
		clear(plain)
		_, err = v.e.store.Put(ctx, en.Key, blob, sdk.IfVersion(ver))
		if err == nil {
			return 1, name, try > 0, nil
		}
		if errors.Is(err, sdk.ErrNotFound) {
			return 0, name, true, nil // deleted meanwhile: nothing to resurrect
		}
		if !errors.Is(err, sdk.ErrConflict) {
			return 0, name, false, fmt.Errorf("core: re-encrypting %s %q: %w", kindRecord, en.Key, err)
		}
		data, ver, err = v.e.store.Get(ctx, en.Key)
		if errors.Is(err, sdk.ErrNotFound) {
			return 0, name, true, nil
		}
		if err != nil {
			return 0, name, false, fmt.Errorf("core: reading %s %q: %w", kindRecord, en.Key, err)
		}
	}
	return 0, "", true, fmt.Errorf("core: re-encrypting %s %q: %w: too many concurrent writes", kindRecord, en.Key, sdk.ErrConflict)
}

// names returns the sorted names of every readable record, skipping records
// below the minimum epoch (unreadable to everyone).
func (v *Vault) names(ctx context.Context, s *session) ([]string, error) {
	var out []string
	err := sdk.Walk(ctx, v.e.store, recordPrefix(v.id), true, func(en sdk.Entry) error {
		rid, ok := v.parseRecordKey(en.Key)
		if !ok {
			return tamperedf(kindRecord, en.Key, "key is not a record id")
		}
		_, plain, p, _, err := v.openAt(ctx, s, en.Key, rid, en.Value)
		if errors.Is(err, ErrRollback) {
			return nil
		}
		if err != nil {
			return err
		}
		out = append(out, string(p.Name))
		clear(plain)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("core: listing vault %q: %w", v.name, err)
	}
	sort.Strings(out)
	return out, nil
}

func mergeSorted(a, b []string) []string {
	set := map[string]bool{}
	for _, x := range a {
		set[x] = true
	}
	for _, x := range b {
		set[x] = true
	}
	out := make([]string, 0, len(set))
	for x := range set {
		out = append(out, x)
	}
	sort.Strings(out)
	return out
}
