package core

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/ALRubinger/aileron-store/core/internal/wire"
	"github.com/ALRubinger/aileron-store/sdk"
)

// maxAttempts bounds the retries of an admin operation that loses a
// compare-and-swap race on the head.
const maxAttempts = 8

// Stale writers on a store without an atomic guard (see docs/format.md,
// "Stale writers"): a credential write is bounded by WriteTimeout, and a
// rotation waits 1.5 x WriteTimeout (the timeout and a margin of half of
// it) after it first saw the new epoch committed before its final pass over
// records still under the old key.
const (
	// WriteTimeout bounds every guarded credential write on a store whose
	// guard is not atomic (S3, GCS): the write's context deadline.
	WriteTimeout = 10 * time.Second
	// HeadMaxAge bounds how old the vault head a Get trusts may be: a read
	// on a session whose head was read longer ago re-reads it first. A host
	// that has not seen a revoke commit accepts what the revoked member
	// writes under the old key (it cannot tell it from a member's write), so
	// this is the window in which a stale reader can be fooled.
	HeadMaxAge = time.Second
)

// staleWriteTimeout is WriteTimeout; the tests shorten it so that a sweep
// over a store without an atomic guard does not wait 15 s.
var staleWriteTimeout = WriteTimeout

// requireAdmin returns a fresh session after checking that the caller is an
// admin.
func (v *Vault) requireAdmin(ctx context.Context) (*session, *Identity, error) {
	s, err := v.refresh(ctx)
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
	return s, id, nil
}

// settledAdmin is requireAdmin after completing any pending rotation: a
// change is never built on a head with a rotation in flight.
func (v *Vault) settledAdmin(ctx context.Context) (*session, *Identity, error) {
	for i := 0; ; i++ {
		s, id, err := v.requireAdmin(ctx)
		if err != nil || s.head.h.Pending.Kind == wire.PendingNone {
			return s, id, err
		}
		// Another admin may start a new rotation meanwhile: check again.
		if i == maxAttempts {
			return nil, nil, fmt.Errorf("core: vault %q: %w: rotations keep starting", v.name, sdk.ErrConflict)
		}
		if _, err := v.resume(ctx); err != nil {
			return nil, nil, err
		}
	}
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

// GrantOptions adjust a grant. The zero value (or nil) is the default.
type GrantOptions struct {
	// AllowClassical permits granting a recipient of the classical X25519
	// suite into a vault whose members all use the hybrid post-quantum
	// suite. Without it such a grant fails with ErrClassicalRecipient: the
	// vault key would then be wrapped to a key a quantum adversary can
	// break, which drops the vault's post-quantum protection.
	AllowClassical bool
}

// Grant adds a member: it seals the current epoch key to r, writes r's index
// entry and commits a head listing r. O(1) in the number of credentials.
// It refuses, before writing anything, a grant that would take the vault
// past the head's limits (wire.MaxMembers members, wire.MaxMetaLen bytes of
// sealed metadata). Admin only.
func (v *Vault) Grant(ctx context.Context, r *Recipient, memberName string, role Role, opts *GrantOptions) error {
	if r == nil || r.bin == nil {
		return errors.New("core: grant: nil recipient")
	}
	if err := checkName("member", memberName); err != nil {
		return err
	}
	if role != RoleMember && role != RoleAdmin {
		return fmt.Errorf("core: grant: unknown role %d", role)
	}
	var o GrantOptions
	if opts != nil {
		o = *opts
	}
	for attempt := 0; ; attempt++ {
		s, id, err := v.settledAdmin(ctx)
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
		if r.Suite() == SuiteX25519 && !o.AllowClassical && allHybrid(h) {
			return fmt.Errorf("%w: %s into vault %q", ErrClassicalRecipient, r.Fingerprint(), v.name)
		}
		next := copyHead(h)
		next.Members = append(next.Members, wire.HeadMember{ID: r.id, Role: uint8(role), Recipient: r.bin})
		sortMembers(next.Members)
		meta := copyMeta(s.meta)
		meta.Names[r.id] = memberName
		if err := checkHeadLimits(v.name, next, meta); err != nil {
			return err
		}
		var slot []byte
		err = s.cur.use(func(key, naming []byte) (err error) {
			slot, err = sealSlot(r, v.id, h.Epoch, h.Commitment, &wire.SlotPayload{EpochKey: key, NamingKey: naming})
			return err
		})
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
		hs, err := v.e.commitHead(ctx, s.head, next, id, meta, s.cur)
		if errors.Is(err, sdk.ErrConflict) && attempt < maxAttempts {
			continue
		}
		if err != nil {
			return err
		}
		v.setSession(&session{head: hs, meta: meta, cur: s.cur, prev: s.prev})
		v.e.log.Debug("member granted", "vault", v.ID(), "member", r.ID())
		return nil
	}
}

// allHybrid reports whether every member of h uses the hybrid suite.
func allHybrid(h *wire.Head) bool {
	for _, m := range h.Members {
		r, err := wire.ParseRecipientBytes(m.Recipient)
		if err != nil || r.Suite != uint16(SuiteMLKEM768X25519) {
			return false
		}
	}
	return true
}

// checkHeadLimits refuses a head the decoder would refuse: too many members
// or too much metadata (so no legal operation commits a head no host parses).
func checkHeadLimits(vault string, h *wire.Head, meta *wire.Meta) error {
	if len(h.Members) > wire.MaxMembers {
		return fmt.Errorf("%w: vault %q would have %d members, the limit is %d", ErrVaultFull, vault, len(h.Members), wire.MaxMembers)
	}
	ids := make([][wire.IDLen]byte, len(h.Members))
	for i, m := range h.Members {
		ids[i] = m.ID
	}
	plain := meta.Marshal(ids)
	n := len(plain) + 12 + 16 // nonce and tag of the sealed metadata
	clear(plain)
	if n > wire.MaxMetaLen {
		return fmt.Errorf("%w: vault %q would have %d bytes of sealed metadata (member names), the limit is %d", ErrVaultFull, vault, n, wire.MaxMetaLen)
	}
	return nil
}

func sortMembers(ms []wire.HeadMember) {
	sort.Slice(ms, func(i, j int) bool { return bytes.Compare(ms[i].ID[:], ms[j].ID[:]) < 0 })
}

// Revoke removes a member: next-epoch key slots for the remaining members,
// commit of the next epoch (with a fresh naming key), sweep moving every
// old-epoch record to the new key and record id, raise of the minimum
// epoch, deletion of the old slots. It reports the credentials the member
// could read, and the records the sweep quarantined or discarded. A
// format-1 vault is first upgraded by a plain rotation (so that every record
// the revoke carries forward names its writer). Admin only; an interruption
// is completed by Resume from any remaining admin.
func (v *Vault) Revoke(ctx context.Context, memberName string) (*RevokeReport, error) {
	if err := checkName("member", memberName); err != nil {
		return nil, err
	}
	s, _, err := v.settledAdmin(ctx)
	if err != nil {
		return nil, err
	}
	if s.head.h.Version < wire.HeadV2 {
		if s.memberByName(memberName) == nil {
			return nil, fmt.Errorf("%w: %q in vault %q", ErrMemberNotFound, memberName, v.name)
		}
		if _, err := v.rotate(ctx, ""); err != nil {
			return nil, fmt.Errorf("core: upgrading vault %q to format 2 before the revoke: %w", v.name, err)
		}
	}
	return v.rotate(ctx, memberName)
}

// Rotate moves the vault to a fresh epoch key and naming key (a revoke
// without removing anyone), upgrading a format-1 vault to format 2. Admin
// only.
func (v *Vault) Rotate(ctx context.Context) (*RevokeReport, error) {
	return v.rotate(ctx, "")
}

// rotate starts a rotation that removes the member named revokee ("" for a
// plain rotation) and completes it.
func (v *Vault) rotate(ctx context.Context, revokee string) (*RevokeReport, error) {
	for attempt := 0; ; attempt++ {
		s, id, err := v.settledAdmin(ctx)
		if err != nil {
			return nil, err
		}
		h := s.head.h
		next := copyHead(h)
		next.Version = wire.HeadV2
		meta := copyMeta(s.meta)
		next.Pending = wire.Pending{Kind: wire.PendingRotate, OldEpoch: h.Epoch, Phase: wire.PhaseSweep}
		if revokee != "" {
			if err := removeMember(s, id, next, meta, revokee, v.name); err != nil {
				return nil, err
			}
		}
		epoch := h.Epoch + 1
		key, naming := randomKey(), randomKey()
		ek, err := newEpochKey(v.id, epoch, key, naming)
		next.Epoch = epoch
		next.Commitment = commitment(v.id, epoch, key, naming)
		clear(key)
		clear(naming)
		if err != nil {
			return nil, err
		}
		// (1) next-epoch slots for the remaining members, carrying the old
		// keys so reads keep working while the sweep runs.
		if err := v.writeRotationSlots(ctx, s, next, ek); err != nil {
			ek.wipe()
			return nil, err
		}
		// (2) commit: from here on writers use the new keys.
		hs, err := v.e.commitHead(ctx, s.head, next, id, meta, ek)
		if errors.Is(err, sdk.ErrConflict) && attempt < maxAttempts {
			ek.wipe()
			continue
		}
		if err != nil {
			ek.wipe()
			return nil, err
		}
		ns := &session{head: hs, meta: meta, cur: ek, prev: s.cur}
		v.setSession(ns)
		v.e.log.Debug("rotation committed", "vault", v.ID(), "epoch", epoch)
		// (3)-(5) sweep, raise the minimum epoch, delete the old slots.
		rep, err := v.resume(ctx)
		if err != nil {
			return nil, err
		}
		rep.Member = revokee
		return rep, nil
	}
}

// removeMember takes the member named name out of next and meta and marks
// next as a revoke.
func removeMember(s *session, id *Identity, next *wire.Head, meta *wire.Meta, name, vault string) error {
	m := s.memberByName(name)
	if m == nil {
		return fmt.Errorf("%w: %q in vault %q", ErrMemberNotFound, name, vault)
	}
	gone := m.ID
	if gone == id.rcpt.id {
		return fmt.Errorf("core: revoke %q: an admin cannot revoke itself; another admin must", name)
	}
	admins := 0
	next.Members = next.Members[:0]
	for _, hm := range s.head.h.Members {
		if hm.ID == gone {
			continue
		}
		if hm.Role == wire.RoleAdmin {
			admins++
		}
		next.Members = append(next.Members, hm)
	}
	if admins == 0 {
		return fmt.Errorf("core: revoke %q: the vault would have no admin left", name)
	}
	delete(meta.Names, gone)
	next.Pending.Kind = wire.PendingRevoke
	next.Pending.Revoked = [][wire.IDLen]byte{gone}
	return nil
}

func (v *Vault) writeRotationSlots(ctx context.Context, s *session, next *wire.Head, ek *epochKey) error {
	return ek.use(func(key, naming []byte) error {
		return s.cur.use(func(oldKey, oldNaming []byte) error {
			for _, m := range next.Members {
				r, err := recipientFromBytes(m.Recipient)
				if err != nil {
					return tampered(kindHead, headKey(v.id), err)
				}
				slot, err := sealSlot(r, v.id, next.Epoch, next.Commitment, &wire.SlotPayload{EpochKey: key, NamingKey: naming, PrevKey: oldKey, PrevNaming: oldNaming})
				if err != nil {
					return err
				}
				skey := slotKey(v.id, next.Epoch, next.Commitment, m.ID)
				if _, err := v.e.store.Put(ctx, skey, slot, sdk.None); err != nil {
					return fmt.Errorf("core: writing %s %q: %w", kindSlot, skey, err)
				}
			}
			return nil
		})
	})
}

// Resume completes an interrupted revoke or rotation and reports what its
// sweep did; with none pending it does nothing. Admin only.
func (v *Vault) Resume(ctx context.Context) (*RevokeReport, error) {
	if _, _, err := v.requireAdmin(ctx); err != nil {
		return nil, err
	}
	return v.resume(ctx)
}

// sweepState collects what a sweep finds, across passes and goroutines.
type sweepState struct {
	mu  sync.Mutex
	rep *RevokeReport
	// readable collects the names of the records the sweep could read,
	// repeats and all (sorted and compacted once at the end: a slice costs a
	// third of a map's memory for a million names).
	readable []string
	swept    bool
	// seen fingerprints the blobs of the current sweep's earlier passes
	// for its final pass (nil outside a sweep, and on an atomic store).
	seen *sweepSeen
}

func (st *sweepState) note(f func()) {
	st.mu.Lock()
	defer st.mu.Unlock()
	f()
}

func (v *Vault) resume(ctx context.Context) (*RevokeReport, error) {
	st := &sweepState{rep: &RevokeReport{}}
	var since time.Time
	for attempt := 0; attempt < 4*maxAttempts; attempt++ {
		s, id, err := v.requireAdmin(ctx)
		if err != nil {
			return nil, err
		}
		h := s.head.h
		if h.Pending.Kind == wire.PendingNone {
			if !st.swept && st.rep.Member == "" {
				// Another admin's host did the whole sweep: read the names.
				if st.readable, err = v.names(ctx, s, st.readable); err != nil {
					return nil, err
				}
			}
			sort.Strings(st.readable)
			st.rep.Readable, st.readable = slices.Compact(st.readable), nil
			return st.rep, nil
		}
		next := copyHead(h)
		switch h.Pending.Phase {
		case wire.PhaseSweep:
			// (3) sweep, then (4) raise the minimum epoch.
			old := s.pendingPrev()
			if old == nil {
				return nil, tamperedf(kindSlot, slotKey(v.id, h.Epoch, h.Commitment, id.rcpt.id), "carries no key for the pending epoch %d", h.Pending.OldEpoch)
			}
			if since.IsZero() {
				since = v.e.now()
			}
			err := v.sweep(ctx, s, old, st, since)
			if errors.Is(err, sdk.ErrConflict) || errors.Is(err, errKeyWiped) {
				continue // the head moved on (another admin progressed): re-read
			}
			if err != nil {
				return nil, err
			}
			st.swept = true
			next.MinEpoch = h.Epoch
			next.Pending.Phase = wire.PhaseCleanup
		case wire.PhaseCleanup:
			// (5) delete the old slots (and garbage of lost attempts).
			if err := v.deleteOldSlots(ctx, h); err != nil {
				return nil, err
			}
			next.Pending = wire.Pending{}
		}
		hs, err := v.e.commitHead(ctx, s.head, next, id, s.meta, s.cur)
		if errors.Is(err, sdk.ErrConflict) {
			continue // another admin progressed; re-read
		}
		if err != nil {
			return nil, err
		}
		v.setSession(&session{head: hs, meta: s.meta, cur: s.cur, prev: s.prev})
	}
	return nil, fmt.Errorf("core: resuming rotation of vault %q: %w: too many concurrent changes", v.name, sdk.ErrConflict)
}

// deleteOldSlots removes every slot not of the head's current epoch and key,
// except slots of later epochs (a concurrent rotation attempt's).
func (v *Vault) deleteOldSlots(ctx context.Context, h *wire.Head) error {
	keep := slotDir(h.Epoch, h.Commitment)
	prefix := slotPrefix(v.id)
	var doomed []sdk.Write
	flush := func() error {
		if len(doomed) == 0 {
			return nil
		}
		res, err := v.e.writeBatch(ctx, nil, doomed)
		if err != nil {
			return fmt.Errorf("core: deleting %ss of vault %q: %w", kindSlot, v.name, err)
		}
		for i, r := range res {
			if r.Err != nil && !errors.Is(r.Err, sdk.ErrNotFound) {
				return fmt.Errorf("core: deleting %s %q: %w", kindSlot, doomed[i].Key, r.Err)
			}
		}
		doomed = doomed[:0]
		return nil
	}
	err := sdk.Walk(ctx, v.e.store, prefix, false, func(en sdk.Entry) error {
		dir, epoch, ok := parseSlotEpoch(prefix, en.Key)
		if dir == keep || !ok || epoch > h.Epoch {
			return nil
		}
		doomed = append(doomed, sdk.Write{Kind: sdk.WriteDelete, Key: en.Key})
		if len(doomed) >= sdk.MaxBatchWrites {
			return flush()
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("core: listing slots of vault %q: %w", v.name, err)
	}
	return flush()
}

// names appends the names of every readable record to out.
func (v *Vault) names(ctx context.Context, s *session, out []string) ([]string, error) {
	err := v.walk(ctx, s, recordPrefix(v.id), wire.RecordCredential, func(key string, o *openedRecord, err error) error {
		if err != nil {
			v.e.log.Warn("unreadable record skipped", "key", key, "error", err)
			return nil
		}
		out = append(out, string(o.p.Name))
		return nil
	})
	if err != nil {
		return out, fmt.Errorf("core: listing vault %q: %w", v.name, err)
	}
	return out, nil
}

func hexID(id [wire.IDLen]byte) string { return hex.EncodeToString(id[:]) }
