package core

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/ALRubinger/aileron-store/core/internal/wire"
	"github.com/ALRubinger/aileron-store/sdk"
)

// Role is a member's role in a vault.
type Role uint8

const (
	// RoleMember reads and writes credentials.
	RoleMember Role = Role(wire.RoleMember)
	// RoleAdmin also grants, revokes and rotates.
	RoleAdmin Role = Role(wire.RoleAdmin)
)

func (r Role) String() string {
	switch r {
	case RoleMember:
		return "member"
	case RoleAdmin:
		return "admin"
	}
	return fmt.Sprintf("role(%d)", uint8(r))
}

// Member is one member of a vault.
type Member struct {
	Name      string
	Role      Role
	Recipient *Recipient
}

// RevokeReport is the outcome of a revoke, rotate or resume.
//
// Readable names every credential the sweep found (it reads each record
// once), so it may also name one created during the sweep; a credential
// deleted during the sweep before the sweep reached it is not named. The
// revoked member could read them all: rotate them at their source, since
// re-encryption cannot make anyone forget.
type RevokeReport struct {
	Member      string
	Readable    []string
	Reencrypted int
	// Quarantined lists the records the sweep moved to quarantine: their
	// last writer is the revoked member (or they were written under the old
	// key by no current member, which cannot be told apart from a forgery
	// by the revoked member). Only remaining members can read them; an
	// admin restores (RestoreQuarantined) or drops (DropQuarantined) each.
	Quarantined []QuarantinedRecord
	// Discarded lists the blobs the sweep deleted because no member can
	// read them (they fail decoding or authentication, sit under a record
	// id that is not theirs, or lie below the minimum epoch).
	Discarded []DiscardedBlob
}

// DiscardedBlob is a stored blob the sweep deleted: what it was stored as,
// where, and why.
type DiscardedBlob struct {
	Kind   string
	Key    string
	Reason string
}

// Vault is an unlocked vault handle. It caches the current epoch key until
// the session TTL passes or Lock is called. It is safe for concurrent use.
type Vault struct {
	e      *Engine
	id     [wire.IDLen]byte
	name   string
	ident  *Identity
	rprefx string // recordPrefix(id), cached for the hot paths

	mu      sync.Mutex
	s       *session
	expires time.Time
	locked  bool
}

// session is an immutable snapshot of a verified head and its keys.
type session struct {
	// checked is when the head was last read from the store.
	checked time.Time
	head    *headState
	meta    *wire.Meta
	cur     *epochKey
	prev    *epochKey // previous epoch's keys, while a rotation may be pending
}

func (s *session) key(epoch uint64) *epochKey {
	if s.cur != nil && s.cur.epoch == epoch {
		return s.cur
	}
	if s.prev != nil && s.prev.epoch == epoch {
		return s.prev
	}
	return nil
}

// pendingPrev returns the previous epoch's keys while a rotation is pending
// and records may still sit under them, else nil.
func (s *session) pendingPrev() *epochKey {
	h := s.head.h
	if h.Pending.Kind == wire.PendingNone || h.MinEpoch >= h.Epoch || s.prev == nil || s.prev.epoch != h.Pending.OldEpoch {
		return nil
	}
	return s.prev
}

// version is the record format the session writes: its head's.
func (s *session) version() uint8 {
	if s.head.h.Version >= wire.HeadV2 {
		return wire.RecordV2
	}
	return wire.RecordV1
}

// live reports that none of the session's keys was wiped: a session built
// on a stale snapshot may carry keys a newer session replaced and wiped.
func (s *session) live() bool {
	for _, k := range []*epochKey{s.cur, s.prev} {
		if k != nil {
			k.mu.RLock()
			w := k.wiped
			k.mu.RUnlock()
			if w {
				return false
			}
		}
	}
	return true
}

func (s *session) wipe() {
	s.cur.wipe()
	s.prev.wipe()
}

func (e *Engine) newVault(id [wire.IDLen]byte, name string, ident *Identity) *Vault {
	return &Vault{e: e, id: id, name: name, ident: ident, rprefx: recordPrefix(id), expires: e.now().Add(e.ttl)}
}

// Name returns the vault's name.
func (v *Vault) Name() string { return v.name }

// ID returns the vault's opaque id (hex), as used in storage keys.
func (v *Vault) ID() string { return hex.EncodeToString(v.id[:]) }

// HeadTime returns the signed time of the newest vault head this handle has
// verified (zero for a format-1 head, which carries none, or when locked).
// Its age tells how stale this host's view may be: a host kept away from
// newer heads (offline, or by a backend withholding them) sees it grow.
func (v *Vault) HeadTime() time.Time {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.s == nil || v.s.head.h.Version < wire.HeadV2 {
		return time.Time{}
	}
	return time.Unix(0, v.s.head.h.Time)
}

// FormatVersion returns the vault's storage format version (its head's).
func (v *Vault) FormatVersion() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.s == nil {
		return 0
	}
	return int(v.s.head.h.Version)
}

// Lock clears the cached keys; later calls return ErrLocked.
func (v *Vault) Lock() {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.lockLocked()
}

func (v *Vault) lockLocked() {
	if v.s != nil {
		v.s.wipe()
	}
	v.s, v.locked, v.ident = nil, true, nil
}

// current returns the session snapshot, or ErrLocked.
func (v *Vault) current() (*session, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if !v.locked && v.e.now().After(v.expires) {
		v.lockLocked()
	}
	if v.locked || v.s == nil {
		return nil, fmt.Errorf("%w: vault %q", ErrLocked, v.name)
	}
	return v.s, nil
}

// setSession installs s. Keys of the replaced session that s does not carry
// over are wiped: a session moving to a new epoch must not leave the
// replaced epoch's keys in memory. Readers holding the old snapshot may
// still be using it; they fail authentication rather than read wrong data.
func (v *Vault) setSession(s *session) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.locked {
		s.wipe()
		return
	}
	if old := v.s; old != nil && old != s {
		for _, k := range []*epochKey{old.cur, old.prev} {
			if k != nil && k != s.cur && k != s.prev {
				k.wipe()
			}
		}
	}
	v.s = s
}

func (v *Vault) identity() (*Identity, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.locked || v.ident == nil {
		return nil, fmt.Errorf("%w: vault %q", ErrLocked, v.name)
	}
	return v.ident, nil
}

// unlockSession builds the first session of an Unlock.
func (v *Vault) unlockSession(ctx context.Context) (*session, error) {
	return v.load(ctx, nil)
}

// refresh reads the head and, when it changed, re-verifies membership,
// unwraps the slot of a new epoch and re-reads the metadata.
func (v *Vault) refresh(ctx context.Context) (*session, error) {
	old, err := v.current()
	if err != nil {
		return nil, err
	}
	return v.load(ctx, old)
}

// load reads the head and builds a session on it, reusing old's keys when
// the epoch did not change. It retries when the slot of the head just read
// is gone because the head moved on meanwhile (a rotation completed and
// deleted the old slots).
func (v *Vault) load(ctx context.Context, old *session) (*session, error) {
	id, err := v.identity()
	if err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		s, err := v.loadOnce(ctx, old, id)
		if errors.Is(err, errSlotRaced) && attempt < maxAttempts {
			continue
		}
		return s, err
	}
}

// errSlotRaced: the slot of the head just read is gone and the head moved on.
var errSlotRaced = errors.New("the vault head moved on while its key slot was read")

func (v *Vault) loadOnce(ctx context.Context, old *session, id *Identity) (*session, error) {
	hs, err := v.e.loadHead(ctx, v.id)
	if err != nil {
		return nil, err
	}
	if old != nil && !old.live() {
		old = nil // rebuild from the slot
	}
	now := v.e.now()
	if old != nil && old.head.hash == hs.hash {
		ns := *old
		ns.head, ns.checked = hs, now
		v.setSession(&ns)
		return &ns, nil
	}
	h := hs.h
	if h.Member(id.rcpt.id) == nil {
		return nil, fmt.Errorf("%w: vault %q (%s)", ErrNotMember, v.name, v.ID())
	}
	ns := &session{head: hs, checked: now}
	if old != nil && old.cur.epoch == h.Epoch && old.head.h.Commitment == h.Commitment {
		ns.cur, ns.prev = old.cur, old.prev
	} else {
		skey := slotKey(v.id, h.Epoch, h.Commitment, id.rcpt.id)
		data, _, err := v.e.store.Get(ctx, skey)
		if errors.Is(err, sdk.ErrNotFound) {
			if cur, _, gerr := v.e.store.Get(ctx, headKey(v.id)); gerr == nil && wire.HeadHash(cur) != hs.hash {
				return nil, errSlotRaced
			}
			return nil, tamperedf(kindSlot, skey, "is missing for a listed member")
		}
		if err != nil {
			return nil, fmt.Errorf("core: reading %s %q: %w", kindSlot, skey, err)
		}
		p, err := openSlot(id, skey, data, v.id, h.Epoch, h.Commitment)
		if err != nil {
			return nil, err
		}
		defer p.Wipe()
		if ns.cur, err = newEpochKey(v.id, h.Epoch, p.EpochKey, p.NamingKey); err != nil {
			return nil, err
		}
		if p.PrevKey != nil && h.Epoch > 0 {
			naming := p.PrevNaming
			if naming == nil {
				naming = p.NamingKey // format 1: one naming key per vault
			}
			if ns.prev, err = newEpochKey(v.id, h.Epoch-1, p.PrevKey, naming); err != nil {
				return nil, err
			}
		}
	}
	meta, err := openMeta(ns.cur, v.id, h.Seq, h.Meta)
	if err != nil {
		return nil, tampered(kindHead, headKey(v.id), err)
	}
	if meta.VaultName != v.name {
		return nil, tamperedf(kindHead, headKey(v.id), "vault is not named as the index entry says")
	}
	for _, m := range h.Members {
		if _, ok := meta.Names[m.ID]; !ok || len(meta.Names) != len(h.Members) {
			return nil, tamperedf(kindHead, headKey(v.id), "metadata does not name every member")
		}
	}
	ns.meta = meta
	v.setSession(ns)
	if _, err := v.current(); err != nil {
		return nil, err
	}
	return ns, nil
}

// errUnattributed is wrapped (with ErrTampered) by the error of a record
// written under the previous key of a pending revoke by no current member:
// the revoked member may have written it after the revoke began.
var errUnattributed = errors.New("written under the previous key by no current member")

// lookup says which record a caller reads.
type lookup struct {
	key  string
	rid  [wire.RecordIDLen]byte
	kind uint8 // wire.RecordCredential or wire.RecordQuarantined
	// name, if set, is the name the caller derived rid from with the
	// naming key of by: when the record is of by's epoch, comparing names
	// spares an HMAC on the Get path.
	name string
	by   *epochKey
	// trustPrev: the caller checks the attribution of a record under a
	// pending revoke's previous key itself (the sweep).
	trustPrev bool
}

// openedRecord is a decrypted record. The caller clears plain (p aliases it).
type openedRecord struct {
	s     *session // the session after any head re-read
	plain []byte
	p     *wire.RecordPlain
	rec   *wire.Record
	k     *epochKey
}

func (o *openedRecord) wipe() { clear(o.plain) }

// open decodes, authenticates and decrypts one record. A record under the
// current epoch's key needs nothing more: only current members hold it. A
// record under the previous key of a pending revoke is accepted only with a
// valid signature by a member of the current head (errUnattributed).
func (v *Vault) open(ctx context.Context, s *session, l lookup, data []byte) (*openedRecord, error) {
	rec, err := wire.ParseRecord(data)
	if err != nil {
		return nil, tampered(kindRecord, l.key, err)
	}
	if rec.Vault != v.id || rec.ID != l.rid {
		return nil, tamperedf(kindRecord, l.key, "belongs to another vault or record")
	}
	if rec.Kind != l.kind && (l.kind != wire.RecordCredential || rec.Kind != wire.RecordTombstone) {
		return nil, tamperedf(kindRecord, l.key, "is of another kind (quarantined or not) than its key says")
	}
	if rec.Epoch < s.head.h.MinEpoch {
		return nil, rollbackf(kindRecord, l.key, "epoch %d is below the vault's minimum epoch %d (replayed or late old blob)", rec.Epoch, s.head.h.MinEpoch)
	}
	k := s.key(rec.Epoch)
	if k == nil && rec.Epoch > s.head.h.Epoch {
		// Written after a rotation this session has not seen yet: re-read
		// the head once.
		if s, err = v.refresh(ctx); err != nil {
			return nil, err
		}
		if rec.Epoch < s.head.h.MinEpoch {
			return nil, rollbackf(kindRecord, l.key, "epoch %d is below the vault's minimum epoch %d (replayed or late old blob)", rec.Epoch, s.head.h.MinEpoch)
		}
		k = s.key(rec.Epoch)
	}
	if k == nil {
		return nil, tamperedf(kindRecord, l.key, "epoch %d has no key", rec.Epoch)
	}
	plain, err := openRecord(k, rec)
	if err != nil {
		return nil, tamperedf(kindRecord, l.key, "does not authenticate")
	}
	o := &openedRecord{s: s, plain: plain, rec: rec, k: k}
	if o.p, err = wire.ParseRecordPlain(plain); err != nil {
		o.wipe()
		return nil, tampered(kindRecord, l.key, err)
	}
	if o.p.Version != rec.Version {
		o.wipe()
		return nil, tamperedf(kindRecord, l.key, "plaintext version %d differs from the envelope's %d", o.p.Version, rec.Version)
	}
	if l.name != "" && l.by == k {
		if string(o.p.Name) != l.name {
			o.wipe()
			return nil, tamperedf(kindRecord, l.key, "name does not match the record id")
		}
	} else if rid, err := k.rid(string(o.p.Name)); err != nil || rid != l.rid {
		o.wipe()
		if err != nil {
			return nil, err
		}
		return nil, tamperedf(kindRecord, l.key, "name does not match the record id")
	}
	if k != s.cur && s.head.h.Pending.Kind == wire.PendingRevoke && rec.Kind != wire.RecordQuarantined && !l.trustPrev {
		if err := v.attribute(s, o.p); err != nil {
			o.wipe()
			return nil, fmt.Errorf("%w: %s %q: %w (%v)", ErrTampered, kindRecord, l.key, errUnattributed, err)
		}
	}
	return o, nil
}

// attribute checks a version-2 plaintext's signature by its writer, who must
// be a member of the session's head.
func (v *Vault) attribute(s *session, p *wire.RecordPlain) error {
	if p.Version < wire.RecordV2 {
		return errors.New("a format-1 record names no writer")
	}
	m := s.head.h.Member(p.Writer)
	if m == nil {
		return fmt.Errorf("writer %x is not a member", p.Writer[:])
	}
	r, err := wire.ParseRecipientBytes(m.Recipient)
	if err != nil {
		return err
	}
	if !ed25519.Verify(ed25519.PublicKey(r.Ed), wire.RecordSigMessage(v.id, p.Name, p.Value, p.Modified, p.Writer), p.Signature) {
		return fmt.Errorf("bad signature by writer %x", p.Writer[:])
	}
	return nil
}

// signedPlain builds the plaintext of a record of version ver written by id.
func (v *Vault) signedPlain(ver uint8, id *Identity, name string, value []byte, modified int64) []byte {
	if ver == wire.RecordV1 {
		return wire.MarshalRecordPlain(name, value, modified)
	}
	p := &wire.RecordPlain{Name: []byte(name), Value: value, Modified: modified, Writer: id.rcpt.id}
	p.Signature = ed25519.Sign(id.sign, wire.RecordSigMessage(v.id, p.Name, value, modified, p.Writer))
	return p.Marshal()
}

func checkCredName(name string) error {
	if name == "" || len(name) > wire.MaxNameLen {
		return fmt.Errorf("core: credential name must be 1..%d bytes", wire.MaxNameLen)
	}
	return nil
}

// maxCredValue is the largest credential value.
const maxCredValue = sdk.MaxValueSize - 4096

// Get returns a copy of the credential's value. Missing => ErrCredentialNotFound.
// With the session unlocked it does one store read and one AEAD open: no
// KDF, no HPKE; once per HeadMaxAge it also re-reads the vault head. While a revoke is pending, a credential not yet moved by the
// sweep costs a second read (its previous record id) and one signature check.
func (v *Vault) Get(ctx context.Context, name string) ([]byte, error) {
	if err := checkCredName(name); err != nil {
		return nil, err
	}
	s, err := v.current()
	if err != nil {
		return nil, err
	}
	if v.e.now().Sub(s.checked) > v.e.headMaxAge {
		// A session whose head is older than headMaxAge may have missed a
		// revoke, and would then accept what the revoked member writes
		// under the old key: read the head again (amortized over the
		// reads of that interval).
		if s, err = v.refresh(ctx); err != nil {
			return nil, err
		}
	}
	for attempt := 0; ; attempt++ {
		out, err := v.get(ctx, s, name)
		stale := errors.Is(err, ErrCredentialNotFound)
		if (stale || errors.Is(err, errKeyWiped)) && attempt < maxAttempts {
			// The session moved to a new epoch meanwhile, or (on a miss)
			// the vault did: after a rotation the name has a new record
			// id. One head read tells.
			ns, rerr := v.refresh(ctx)
			if rerr != nil {
				return nil, rerr
			}
			if stale && ns.cur == s.cur {
				return nil, err
			}
			s = ns
			continue
		}
		return out, err
	}
}

func (v *Vault) get(ctx context.Context, s *session, name string) ([]byte, error) {
	var first [wire.RecordIDLen]byte
	for i, k := range []*epochKey{s.cur, s.pendingPrev()} {
		if k == nil {
			continue
		}
		rid, err := k.rid(name)
		if err != nil {
			return nil, err
		}
		if i == 1 && rid == first {
			break // format 1: the naming key does not rotate
		}
		first = rid
		l := lookup{rid: rid, key: v.recordKey(rid), kind: wire.RecordCredential, name: name, by: k}
		data, _, err := v.e.store.Get(ctx, l.key)
		if errors.Is(err, sdk.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("core: reading %s %q: %w", kindRecord, l.key, err)
		}
		o, err := v.open(ctx, s, l, data)
		if err != nil {
			return nil, err
		}
		if o.rec.Kind == wire.RecordTombstone {
			o.wipe()
			break // deleted during the pending rotation
		}
		out := append([]byte(nil), o.p.Value...)
		o.wipe()
		return out, nil
	}
	return nil, fmt.Errorf("%w: %q in vault %q", ErrCredentialNotFound, name, v.name)
}

// Put stores value under name, encrypted under the current epoch key (the
// new one while a rotation is pending). The write carries the vault head's
// version as its guard: one store round trip, and on a store with an atomic
// guard it can never land under a head that has moved on (a conflict
// re-reads the head, re-encrypts and retries). On other stores the guarded
// write is bounded by the write timeout (see Engine), which a revoke waits
// out before its final pass.
func (v *Vault) Put(ctx context.Context, name string, value []byte) error {
	if err := checkCredName(name); err != nil {
		return err
	}
	if len(value) > maxCredValue {
		return fmt.Errorf("core: credential %q value is %d bytes, above the limit of %d", name, len(value), maxCredValue)
	}
	id, err := v.identity()
	if err != nil {
		return err
	}
	return v.guarded(ctx, func(s *session) ([]sdk.Write, error) {
		rid, err := s.cur.rid(name)
		if err != nil {
			return nil, err
		}
		plain := v.signedPlain(s.version(), id, name, value, time.Now().UnixNano())
		defer clear(plain)
		ws := []sdk.Write{{Kind: sdk.WritePut, Key: v.recordKey(rid), Value: sealRecord(s.cur, v.e.suite, s.version(), wire.RecordCredential, v.id, rid, plain)}}
		return v.prevDelete(s, name, rid, ws)
	}, func(res []sdk.WriteResult) error {
		if res[0].Err != nil {
			return fmt.Errorf("core: writing %s: %w", kindRecord, res[0].Err)
		}
		return nil
	})
}

// prevDelete appends to ws, while a rotation is pending, the deletion of
// name's copy under the previous record id (a reader on a stale session
// would still find it there). The sweep never resurrects it: it moves a copy
// only to a new id that is free, and drops the old copy when the new id is
// taken.
func (v *Vault) prevDelete(s *session, name string, rid [wire.RecordIDLen]byte, ws []sdk.Write) ([]sdk.Write, error) {
	p := s.pendingPrev()
	if p == nil {
		return ws, nil
	}
	old, err := p.rid(name)
	if err != nil || old == rid { // format 1: the naming key does not rotate
		return ws, err
	}
	return append(ws, sdk.Write{Kind: sdk.WriteDelete, Key: v.recordKey(old)}), nil
}

// guarded runs a batch built by build on the current session with the head
// as guard, and hands the results to check. A guard conflict (the head
// moved on) re-reads the head and rebuilds the batch: the one retry layer of
// a credential write.
func (v *Vault) guarded(ctx context.Context, build func(*session) ([]sdk.Write, error), check func([]sdk.WriteResult) error) error {
	s, err := v.current()
	if err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		ws, err := build(s)
		var res []sdk.WriteResult
		if err == nil {
			res, err = v.e.writeBatch(ctx, &sdk.Guard{Key: headKey(v.id), Version: s.head.ver}, ws)
		}
		if (errKeyWiped == err || errors.Is(err, sdk.ErrConflict) && res == nil) && attempt < 4*maxAttempts {
			if s, err = v.refresh(ctx); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("core: writing to vault %q: %w", v.name, err)
		}
		return check(res)
	}
}

// writeBatch applies a batch, bounding it by the write timeout on a store
// whose guard is not atomic (the revoke's final pass relies on that bound).
func (e *Engine) writeBatch(ctx context.Context, guard *sdk.Guard, ws []sdk.Write) ([]sdk.WriteResult, error) {
	if !e.atomic {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, e.writeTimeout)
		defer cancel()
	}
	res, err := sdk.WriteBatch(ctx, e.store, guard, ws)
	if err == nil && len(res) != len(ws) {
		return nil, fmt.Errorf("core: the store answered %d results for a batch of %d writes", len(res), len(ws))
	}
	return res, err
}

// Delete removes the credential (compare-and-swap on the version read, in a
// batch guarded by the head). While a rotation is pending it also leaves a
// tombstone under the new record id, so that the sweep, which may have
// listed the old copy already, does not carry it forward. Missing =>
// ErrCredentialNotFound.
func (v *Vault) Delete(ctx context.Context, name string) error {
	if err := checkCredName(name); err != nil {
		return err
	}
	id, err := v.identity()
	if err != nil {
		return err
	}
	s, err := v.current()
	if err != nil {
		return err
	}
	for attempt := 0; attempt < 4*maxAttempts; attempt++ {
		ws, err := v.deletes(ctx, s, id, name)
		if err == errKeyWiped {
			if s, err = v.refresh(ctx); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		if len(ws) == 0 {
			// A miss: after a rotation the name has a new record id.
			ns, err := v.refresh(ctx)
			if err != nil {
				return err
			}
			if ns.cur == s.cur {
				return fmt.Errorf("%w: %q in vault %q", ErrCredentialNotFound, name, v.name)
			}
			s = ns
			continue
		}
		res, err := v.e.writeBatch(ctx, &sdk.Guard{Key: headKey(v.id), Version: s.head.ver}, ws)
		if errors.Is(err, sdk.ErrConflict) && res == nil {
			if s, err = v.refresh(ctx); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("core: deleting %s from vault %q: %w", kindRecord, v.name, err)
		}
		again := false
		for i, r := range res {
			switch {
			case r.Err == nil || errors.Is(r.Err, sdk.ErrNotFound) && ws[i].Kind == sdk.WriteDelete:
			case errors.Is(r.Err, sdk.ErrConflict) || errors.Is(r.Err, sdk.ErrNotFound):
				again = true // written or deleted since it was read
			default:
				return fmt.Errorf("core: deleting %s %q: %w", kindRecord, ws[i].Key, r.Err)
			}
		}
		if !again {
			return nil
		}
	}
	return fmt.Errorf("core: deleting %q from vault %q: %w: too many concurrent writes", name, v.name, sdk.ErrConflict)
}

// deletes reads name's records (under the current record id, and the
// previous one while a rotation is pending) and returns the writes that
// delete them: conditional deletions, and while a rotation is pending a
// tombstone under the new id. None: nothing to delete.
func (v *Vault) deletes(ctx context.Context, s *session, id *Identity, name string) ([]sdk.Write, error) {
	rid, err := s.cur.rid(name)
	if err != nil {
		return nil, err
	}
	key := v.recordKey(rid)
	cur, curVer, err := v.readKind(ctx, key)
	if err != nil {
		return nil, err
	}
	p := s.pendingPrev()
	var old [wire.RecordIDLen]byte
	if p != nil {
		if old, err = p.rid(name); err != nil {
			return nil, err
		}
	}
	if p == nil || old == rid { // no rotation pending, or format 1 (the naming key does not rotate)
		if cur == 0 || cur == wire.RecordTombstone {
			return nil, nil
		}
		return []sdk.Write{{Kind: sdk.WriteDelete, Key: key, Cond: sdk.IfVersion(curVer)}}, nil
	}
	// A rotation is pending: a sweep may have listed the old copy and be
	// about to move it to the new id; a tombstone there stops it.
	prevKey := v.recordKey(old)
	prev, prevVer, err := v.readKind(ctx, prevKey)
	if err != nil {
		return nil, err
	}
	if prev == 0 && (cur == 0 || cur == wire.RecordTombstone) {
		return nil, nil
	}
	plain := v.signedPlain(s.version(), id, name, nil, time.Now().UnixNano())
	defer clear(plain)
	cond := sdk.IfAbsent()
	if cur != 0 {
		cond = sdk.IfVersion(curVer)
	}
	ws := []sdk.Write{{Kind: sdk.WritePut, Key: key, Value: sealRecord(s.cur, v.e.suite, s.version(), wire.RecordTombstone, v.id, rid, plain), Cond: cond}}
	if prev != 0 {
		ws = append(ws, sdk.Write{Kind: sdk.WriteDelete, Key: prevKey, Cond: sdk.IfVersion(prevVer)})
	}
	return ws, nil
}

// readKind returns the kind (0: absent) and version of the record at key.
// The kind is read from the unauthenticated header: it only chooses which
// deletion to attempt.
func (v *Vault) readKind(ctx context.Context, key string) (uint8, sdk.Version, error) {
	data, ver, err := v.e.store.Get(ctx, key)
	if errors.Is(err, sdk.ErrNotFound) {
		return 0, "", nil
	}
	if err != nil {
		return 0, "", fmt.Errorf("core: reading %s %q: %w", kindRecord, key, err)
	}
	if rec, err := wire.ParseRecord(data); err == nil {
		return rec.Kind, ver, nil
	}
	return wire.RecordCredential, ver, nil
}

// List returns the sorted credential names (decrypting every record).
// Records no member may accept (below the minimum epoch: a replayed or late
// old blob; or unattributed under a pending revoke's previous key) are
// skipped with a warning: the next sweep reports and removes them.
func (v *Vault) List(ctx context.Context) ([]string, error) {
	s, err := v.refresh(ctx)
	if err != nil {
		return nil, err
	}
	// While a rotation is pending its sweep moves records to new ids, which
	// sort anywhere: a listing can pass a record's new id before the copy is
	// there and reach its old id after the copy left. A record moves once
	// per rotation, so a walk made while records may move is followed by
	// another, and the two together are complete when no further rotation
	// committed during the second.
	var prev map[string]bool
	for walk := 0; walk < maxListWalks; walk++ {
		names, err := v.listOnce(ctx, s)
		if err != nil {
			return nil, fmt.Errorf("core: listing vault %q: %w", v.name, err)
		}
		after, err := v.refresh(ctx)
		if err != nil {
			return nil, err
		}
		b, a := s.head.h, after.head.h
		moving := b.Pending.Kind != wire.PendingNone || a.Pending.Kind != wire.PendingNone || a.Epoch != b.Epoch
		if !moving || prev != nil && a.Epoch == b.Epoch {
			for n := range prev {
				names[n] = true
			}
			return slices.Sorted(maps.Keys(names)), nil
		}
		prev, s = names, after
	}
	return nil, fmt.Errorf("core: listing vault %q: %w: rotations kept moving its records during %d listings", v.name, sdk.ErrConflict, maxListWalks)
}

// maxListWalks bounds the walks of a List that keeps meeting rotations.
const maxListWalks = 4

// listOnce walks the vault's records once and returns the names of the live
// ones.
func (v *Vault) listOnce(ctx context.Context, s *session) (map[string]bool, error) {
	set := map[string]bool{}
	err := v.walk(ctx, s, recordPrefix(v.id), wire.RecordCredential, func(key string, o *openedRecord, err error) error {
		if errors.Is(err, ErrRollback) || errors.Is(err, errUnattributed) {
			v.e.log.Warn("list skipped a record no member accepts", "key", key, "error", err)
			return nil
		}
		if err != nil {
			return err
		}
		if o.rec.Kind != wire.RecordTombstone {
			set[string(o.p.Name)] = true
		}
		return nil
	})
	return set, err
}

// walk opens every record under prefix and calls fn with it (wiped after fn
// returns) or with the error that refused it.
func (v *Vault) walk(ctx context.Context, s *session, prefix string, kind uint8, fn func(key string, o *openedRecord, err error) error) error {
	return sdk.Walk(ctx, v.e.store, prefix, true, func(en sdk.Entry) error {
		rid, ok := parseIDKey(prefix, en.Key)
		if !ok {
			return fn(en.Key, nil, tamperedf(kindRecord, en.Key, "key is not a record id"))
		}
		o, err := v.open(ctx, s, lookup{key: en.Key, rid: rid, kind: kind}, en.Value)
		if err != nil {
			return fn(en.Key, nil, err)
		}
		s = o.s
		defer o.wipe()
		return fn(en.Key, o, nil)
	})
}

// recordKey returns the storage key of a record of this vault.
func (v *Vault) recordKey(rid [wire.RecordIDLen]byte) string { return idKey(v.rprefx, rid) }

// Members returns the vault's members sorted by name.
func (v *Vault) Members(ctx context.Context) ([]Member, error) {
	s, err := v.refresh(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Member, 0, len(s.head.h.Members))
	for _, m := range s.head.h.Members {
		r, err := recipientFromBytes(m.Recipient)
		if err != nil {
			return nil, tampered(kindHead, headKey(v.id), err)
		}
		out = append(out, Member{Name: s.meta.Names[m.ID], Role: Role(m.Role), Recipient: r})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Pending reports whether a revoke or rotation is in flight.
func (v *Vault) Pending(ctx context.Context) (bool, error) {
	s, err := v.refresh(ctx)
	if err != nil {
		return false, err
	}
	return s.head.h.Pending.Kind != wire.PendingNone, nil
}
