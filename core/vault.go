package core

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
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

// RevokeReport tells which credentials a revoked member could read: rotate
// them at their source, since re-encryption cannot make anyone forget.
// Readable names every credential the sweep found (it reads each record
// once), so it may also name one created during the sweep; a credential
// deleted during the sweep before the sweep reached it is not named.
type RevokeReport struct {
	Member      string
	Readable    []string
	Reencrypted int
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
	head   *headState
	meta   *wire.Meta
	cur    *epochKey
	prev   *epochKey // previous epoch's key, while a rotation may be pending
	naming []byte
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

func (s *session) wipe() {
	s.cur.wipe()
	s.prev.wipe()
	clear(s.naming)
}

func (e *Engine) newVault(id [wire.IDLen]byte, name string, ident *Identity) *Vault {
	return &Vault{e: e, id: id, name: name, ident: ident, rprefx: recordPrefix(id), expires: e.now().Add(e.ttl)}
}

// Name returns the vault's name.
func (v *Vault) Name() string { return v.name }

// ID returns the vault's opaque id (hex), as used in storage keys.
func (v *Vault) ID() string { return hex.EncodeToString(v.id[:]) }

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

func (v *Vault) setSession(s *session) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.locked {
		s.wipe()
		return
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

// refresh reads the head and, when it changed, re-verifies membership,
// unwraps the slot of a new epoch and re-reads the metadata. With initial
// set it builds the first session of an Unlock.
func (v *Vault) refresh(ctx context.Context, initial bool) (*session, error) {
	var old *session
	if !initial {
		var err error
		if old, err = v.current(); err != nil {
			return nil, err
		}
	}
	id, err := v.identity()
	if err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		s, retry, err := v.refreshOnce(ctx, old, id)
		if retry && attempt < maxAttempts {
			continue
		}
		return s, err
	}
}

// refreshOnce is one attempt of refresh. retry reports that the slot of the
// head just read is gone because the head moved on meanwhile (a rotation
// completed and deleted the old slots): read it again.
func (v *Vault) refreshOnce(ctx context.Context, old *session, id *Identity) (*session, bool, error) {
	hs, err := v.e.loadHead(ctx, v.id)
	if err != nil {
		return nil, false, err
	}
	if old != nil && old.head.hash == hs.hash {
		if old.head.ver != hs.ver {
			ns := *old
			ns.head = hs
			v.setSession(&ns)
			return &ns, false, nil
		}
		return old, false, nil
	}
	h := hs.h
	if h.Member(id.rcpt.id) == nil {
		return nil, false, fmt.Errorf("%w: vault %q (%s)", ErrNotMember, v.name, v.ID())
	}
	ns := &session{head: hs}
	if old != nil && old.cur.epoch == h.Epoch && old.head.h.Commitment == h.Commitment {
		ns.cur, ns.prev, ns.naming = old.cur, old.prev, old.naming
	} else {
		skey := slotKey(v.id, h.Epoch, h.Commitment, id.rcpt.id)
		data, _, err := v.e.store.Get(ctx, skey)
		if errors.Is(err, sdk.ErrNotFound) {
			if cur, _, gerr := v.e.store.Get(ctx, headKey(v.id)); gerr == nil && wire.HeadHash(cur) != hs.hash {
				return nil, true, nil
			}
			return nil, false, tamperedf(kindSlot, skey, "is missing for a listed member")
		}
		if err != nil {
			return nil, false, fmt.Errorf("core: reading %s %q: %w", kindSlot, skey, err)
		}
		p, err := openSlot(id, skey, data, v.id, h.Epoch, h.Commitment)
		if err != nil {
			return nil, false, err
		}
		defer p.Wipe()
		if ns.cur, err = newEpochKey(v.id, h.Epoch, p.EpochKey); err != nil {
			return nil, false, err
		}
		if p.PrevKey != nil && h.Epoch > 0 {
			if ns.prev, err = newEpochKey(v.id, h.Epoch-1, p.PrevKey); err != nil {
				return nil, false, err
			}
		}
		ns.naming = append([]byte(nil), p.NamingKey...)
	}
	meta, err := openMeta(ns.cur, v.id, h.Seq, h.Meta)
	if err != nil {
		return nil, false, tampered(kindHead, headKey(v.id), err)
	}
	if meta.VaultName != v.name {
		return nil, false, tamperedf(kindHead, headKey(v.id), "vault is not named as the index entry says")
	}
	for _, m := range h.Members {
		if _, ok := meta.Names[m.ID]; !ok || len(meta.Names) != len(h.Members) {
			return nil, false, tamperedf(kindHead, headKey(v.id), "metadata does not name every member")
		}
	}
	ns.meta = meta
	v.setSession(ns)
	if _, err := v.current(); err != nil {
		return nil, false, err
	}
	return ns, false, nil
}

// record reads, decodes and decrypts one record. It returns the plaintext
// (caller clears), the decoded plaintext fields (aliasing it), the envelope
// and the version.
//
// want, if not empty, is the name the caller derived rid from: comparing it
// to the decrypted name spares a second HMAC on the Get path.
func (v *Vault) openAt(ctx context.Context, s *session, key string, rid [wire.RecordIDLen]byte, data []byte, want ...string) (*session, []byte, *wire.RecordPlain, *wire.Record, error) {
	rec, err := wire.ParseRecord(data)
	if err != nil {
		return s, nil, nil, nil, tampered(kindRecord, key, err)
	}
	if rec.Vault != v.id || rec.ID != rid {
		return s, nil, nil, nil, tamperedf(kindRecord, key, "belongs to another vault or record")
	}
	if rec.Epoch < s.head.h.MinEpoch {
		return s, nil, nil, nil, rollbackf(kindRecord, key, "epoch %d is below the vault's minimum epoch %d (replayed old blob)", rec.Epoch, s.head.h.MinEpoch)
	}
	k := s.key(rec.Epoch)
	if k == nil && rec.Epoch > s.head.h.Epoch {
		// Written after a rotation this session has not seen yet: re-read
		// the head once.
		if s, err = v.refresh(ctx, false); err != nil {
			return s, nil, nil, nil, err
		}
		if rec.Epoch < s.head.h.MinEpoch {
			return s, nil, nil, nil, rollbackf(kindRecord, key, "epoch %d is below the vault's minimum epoch %d (replayed old blob)", rec.Epoch, s.head.h.MinEpoch)
		}
		k = s.key(rec.Epoch)
	}
	if k == nil {
		return s, nil, nil, nil, tamperedf(kindRecord, key, "epoch %d has no key", rec.Epoch)
	}
	plain, err := openRecord(k, rec)
	if err != nil {
		return s, nil, nil, nil, tamperedf(kindRecord, key, "does not authenticate")
	}
	p, err := wire.ParseRecordPlain(plain)
	if err != nil {
		clear(plain)
		return s, nil, nil, nil, tampered(kindRecord, key, err)
	}
	if len(want) == 1 {
		if string(p.Name) != want[0] {
			clear(plain)
			return s, nil, nil, nil, tamperedf(kindRecord, key, "name does not match the record id")
		}
	} else if recordID(s.naming, string(p.Name)) != rid {
		clear(plain)
		return s, nil, nil, nil, tamperedf(kindRecord, key, "name does not match the record id")
	}
	return s, plain, p, rec, nil
}

func checkCredName(name string) error {
	if name == "" || len(name) > wire.MaxNameLen {
		return fmt.Errorf("core: credential name must be 1..%d bytes", wire.MaxNameLen)
	}
	return nil
}

// Get returns a copy of the credential's value. Missing => ErrCredentialNotFound.
// With the session unlocked it does one store read and one AEAD open: no
// KDF, no HPKE.
func (v *Vault) Get(ctx context.Context, name string) ([]byte, error) {
	if err := checkCredName(name); err != nil {
		return nil, err
	}
	s, err := v.current()
	if err != nil {
		return nil, err
	}
	rid := recordID(s.naming, name)
	key := v.recordKey(rid)
	data, _, err := v.e.store.Get(ctx, key)
	if errors.Is(err, sdk.ErrNotFound) {
		return nil, fmt.Errorf("%w: %q in vault %q", ErrCredentialNotFound, name, v.name)
	}
	if err != nil {
		return nil, fmt.Errorf("core: reading %s %q: %w", kindRecord, key, err)
	}
	_, plain, p, _, err := v.openAt(ctx, s, key, rid, data, name)
	if err != nil {
		return nil, err
	}
	out := append([]byte(nil), p.Value...)
	clear(plain)
	return out, nil
}

// Put stores value under name, encrypted under the current epoch key (the
// new one while a rotation is pending). After writing it re-reads the head:
// if a rotation committed meanwhile, it re-encrypts its own write under the
// new key with compare-and-swap, so a write racing a sweep is never left
// behind under a revoked key.
func (v *Vault) Put(ctx context.Context, name string, value []byte) error {
	if err := checkCredName(name); err != nil {
		return err
	}
	if len(value) > sdk.MaxValueSize-4096 {
		return fmt.Errorf("core: credential %q value is %d bytes, above the limit of %d", name, len(value), sdk.MaxValueSize-4096)
	}
	s, err := v.refresh(ctx, false)
	if err != nil {
		return err
	}
	rid := recordID(s.naming, name)
	key := v.recordKey(rid)
	plain := wire.MarshalRecordPlain(name, value, time.Now().UnixNano())
	defer clear(plain)
	blob := sealRecord(s.cur, v.e.suite, v.id, rid, plain)
	if _, err := v.e.store.Put(ctx, key, blob, sdk.None); err != nil {
		return fmt.Errorf("core: writing %s %q: %w", kindRecord, key, err)
	}
	return v.settle(ctx, s.cur.epoch, key, rid, plain)
}

// settle makes sure a record just written under epoch used does not stay
// behind an epoch that a rotation has moved past: a writer that read the
// head before a rotation committed, or a slow sweeper of an earlier rotation
// acting on that write, may leave it under an old key that a sweep already
// passed. While the head's epoch is newer than the stored record's, settle
// re-encrypts the stored record (its own plaintext if the stored one is no
// longer readable) with compare-and-swap.
func (v *Vault) settle(ctx context.Context, used uint64, key string, rid [wire.RecordIDLen]byte, mine []byte) error {
	for i := 0; i < 16; i++ {
		s, err := v.refresh(ctx, false)
		if err != nil {
			return err
		}
		if i == 0 && s.cur.epoch == used {
			return nil // no rotation committed since the write: any sweep sees it
		}
		data, ver, err := v.e.store.Get(ctx, key)
		if errors.Is(err, sdk.ErrNotFound) {
			return nil // deleted after the write
		}
		if err != nil {
			return fmt.Errorf("core: reading %s %q: %w", kindRecord, key, err)
		}
		rec, err := wire.ParseRecord(data)
		if err != nil {
			return tampered(kindRecord, key, err)
		}
		if rec.Epoch >= s.cur.epoch {
			return nil
		}
		plain := mine
		if rec.Epoch >= s.head.h.MinEpoch {
			_, p, _, _, err := v.openAt(ctx, s, key, rid, data)
			if err != nil {
				return err
			}
			defer clear(p)
			plain = p
		}
		blob := sealRecord(s.cur, rec.Suite, v.id, rid, plain)
		_, err = v.e.store.Put(ctx, key, blob, sdk.IfVersion(ver))
		if err != nil && !errors.Is(err, sdk.ErrConflict) && !errors.Is(err, sdk.ErrNotFound) {
			return fmt.Errorf("core: re-encrypting %s %q: %w", kindRecord, key, err)
		}
	}
	return fmt.Errorf("core: writing %s %q: %w: the vault kept rotating", kindRecord, key, sdk.ErrConflict)
}

// Delete removes the credential (compare-and-swap on the version read).
// Missing => ErrCredentialNotFound.
func (v *Vault) Delete(ctx context.Context, name string) error {
	if err := checkCredName(name); err != nil {
		return err
	}
	s, err := v.current()
	if err != nil {
		return err
	}
	key := v.recordKey(recordID(s.naming, name))
	for i := 0; i < 16; i++ {
		_, ver, err := v.e.store.Get(ctx, key)
		if errors.Is(err, sdk.ErrNotFound) {
			return fmt.Errorf("%w: %q in vault %q", ErrCredentialNotFound, name, v.name)
		}
		if err != nil {
			return fmt.Errorf("core: reading %s %q: %w", kindRecord, key, err)
		}
		err = v.e.store.Delete(ctx, key, sdk.IfVersion(ver))
		if err == nil || errors.Is(err, sdk.ErrNotFound) {
			return nil
		}
		if !errors.Is(err, sdk.ErrConflict) {
			return fmt.Errorf("core: deleting %s %q: %w", kindRecord, key, err)
		}
	}
	return fmt.Errorf("core: deleting %s %q: %w: too many concurrent writes", kindRecord, key, sdk.ErrConflict)
}

// List returns the sorted credential names (decrypting every record).
func (v *Vault) List(ctx context.Context) ([]string, error) {
	s, err := v.refresh(ctx, false)
	if err != nil {
		return nil, err
	}
	var names []string
	err = sdk.Walk(ctx, v.e.store, recordPrefix(v.id), true, func(en sdk.Entry) error {
		rid, ok := v.parseRecordKey(en.Key)
		if !ok {
			return tamperedf(kindRecord, en.Key, "key is not a record id")
		}
		var plain []byte
		var p *wire.RecordPlain
		var err error
		s, plain, p, _, err = v.openAt(ctx, s, en.Key, rid, en.Value)
		if err != nil {
			return err
		}
		names = append(names, string(p.Name))
		clear(plain)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("core: listing vault %q: %w", v.name, err)
	}
	sort.Strings(names)
	return names, nil
}

// recordKey returns the storage key of a record of this vault.
func (v *Vault) recordKey(rid [wire.RecordIDLen]byte) string {
	var buf [2 * wire.RecordIDLen]byte
	hex.Encode(buf[:], rid[:])
	return v.rprefx + string(buf[:])
}

func (v *Vault) parseRecordKey(key string) (rid [wire.RecordIDLen]byte, ok bool) {
	p := v.rprefx
	if len(key) != len(p)+2*wire.RecordIDLen || key[:len(p)] != p {
		return rid, false
	}
	n, err := hex.Decode(rid[:], []byte(key[len(p):]))
	return rid, err == nil && n == wire.RecordIDLen
}

// Members returns the vault's members sorted by name.
func (v *Vault) Members(ctx context.Context) ([]Member, error) {
	s, err := v.refresh(ctx, false)
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
	s, err := v.refresh(ctx, false)
	if err != nil {
		return false, err
	}
	return s.head.h.Pending.Kind != wire.PendingNone, nil
}
