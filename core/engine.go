// Package core is the cryptographic engine of aileron-store: member
// identities, vaults whose credentials are encrypted under a per-epoch vault
// key wrapped once per member, and grant, revoke and rotate, all over an
// untrusted sdk.Store. docs/format.md specifies every byte it writes.
package core

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/ALRubinger/aileron-store/core/internal/wire"
	"github.com/ALRubinger/aileron-store/sdk"
	"github.com/hashicorp/go-hclog"
)

// RecordSuite is the AEAD that encrypts credential records.
type RecordSuite uint8

const (
	// RecordAES256GCM is the default record suite.
	RecordAES256GCM RecordSuite = RecordSuite(wire.AEADAES256GCM)
	// RecordXChaCha20Poly1305 is the alternative record suite.
	RecordXChaCha20Poly1305 RecordSuite = RecordSuite(wire.AEADXChaCha20Poly1305)
)

// Options configure an Engine. The zero value is usable.
type Options struct {
	// StateDir holds local state: one rollback pin per vault. "" keeps pins
	// in memory only (for the life of the Engine).
	StateDir string
	// Concurrency bounds the parallel re-encryptions of a sweep; 0 => 8.
	Concurrency int
	// Logger receives debug and warning lines (vault ids only, never names
	// or secrets); nil => no logging.
	Logger hclog.Logger
	// Progress, if set, is called during sweeps.
	Progress func(Progress)
	// SessionTTL is how long an unlocked Vault keeps its keys; 0 => 15m.
	SessionTTL time.Duration
	// WriteTimeout bounds a credential write on a store whose guard is not
	// atomic (S3, GCS), and a rotation there waits 1.5x it before its final
	// pass over records still under the old key. Every host sharing the
	// backend must use the same value (a writer with a longer one can land
	// a write after that pass). 0 => WriteTimeout (10 s).
	WriteTimeout time.Duration
	// RecordSuite is the AEAD for newly written records; 0 => AES-256-GCM.
	// Records of either suite are always readable.
	RecordSuite RecordSuite
}

// Progress reports sweep progress. Total is 0 while unknown.
type Progress struct {
	Op    string
	Vault string
	Done  int
	Total int
}

// Engine runs vault operations over one Store. It is safe for concurrent use.
type Engine struct {
	store       sdk.Store
	pins        *pinStore
	log         hclog.Logger
	concurrency int
	progress    func(Progress)
	ttl         time.Duration
	suite       uint8
	// atomic: the store checks a batch's guard atomically with its writes.
	atomic bool
	// writeTimeout bounds a guarded write when the guard is not atomic
	// (WriteTimeout; tests shorten it).
	writeTimeout time.Duration
	// headMaxAge is HeadMaxAge (tests change it).
	headMaxAge time.Duration
	// now is the clock of session expiry; tests replace it.
	now func() time.Time
}

// New returns an Engine over store.
func New(store sdk.Store, opts *Options) (*Engine, error) {
	if store == nil {
		return nil, errors.New("core: nil store")
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	e := &Engine{now: time.Now, store: store, pins: newPinStore(o.StateDir), log: o.Logger, concurrency: o.Concurrency,
		progress: o.Progress, ttl: o.SessionTTL, suite: uint8(o.RecordSuite), writeTimeout: staleWriteTimeout, headMaxAge: HeadMaxAge}
	if cr, ok := store.(sdk.CapabilityReporter); ok {
		e.atomic = cr.Capabilities().AtomicGuard
	}
	if e.log == nil {
		e.log = hclog.NewNullLogger()
	}
	if e.concurrency <= 0 {
		e.concurrency = 8
	}
	if o.WriteTimeout > 0 {
		e.writeTimeout = o.WriteTimeout
	}
	if e.ttl <= 0 {
		e.ttl = 15 * time.Minute
	}
	switch e.suite {
	case 0:
		e.suite = wire.AEADAES256GCM
	case wire.AEADAES256GCM, wire.AEADXChaCha20Poly1305:
	default:
		return nil, fmt.Errorf("core: unknown record suite %d", e.suite)
	}
	if o.StateDir != "" {
		if err := writeProbe(o.StateDir); err != nil {
			return nil, fmt.Errorf("core: state dir %s: %w", o.StateDir, err)
		}
	}
	return e, nil
}

func writeProbe(dir string) error { return mkdirPrivate(dir) }

func checkName(what, name string) error {
	if name == "" || len(name) > wire.MaxNameLen {
		return fmt.Errorf("core: %s name must be 1..%d bytes", what, wire.MaxNameLen)
	}
	return nil
}

// indexEntry is one vault this identity is listed in.
type indexEntry struct {
	vault [wire.IDLen]byte
	name  string
}

// memberIndex is an identity's member index: the entries that open, and
// an error naming each that does not (nil when all open). One corrupted
// entry must not hide the good ones and lock a member out of every vault.
type memberIndex struct {
	entries    []indexEntry
	unreadable error
}

// index lists and opens the identity's member index entries.
func (e *Engine) index(ctx context.Context, id *Identity) (memberIndex, error) {
	var idx memberIndex
	var bad []error
	err := sdk.Walk(ctx, e.store, indexPrefix(id.rcpt.ID()), true, func(en sdk.Entry) error {
		v, name, err := openIndex(id, en.Key, en.Value)
		if err != nil {
			e.log.Warn("unreadable index entry", "key", en.Key)
			bad = append(bad, err)
			return nil
		}
		idx.entries = append(idx.entries, indexEntry{vault: v, name: name})
		return nil
	})
	if err != nil {
		return memberIndex{}, fmt.Errorf("core: listing vaults of member %s: %w", id.rcpt.ID(), err)
	}
	idx.unreadable = errors.Join(bad...)
	return idx, nil
}

// CreateVault creates a vault with admin as its only member (an admin) and
// returns it unlocked. The name must be new among admin's vaults.
func (e *Engine) CreateVault(ctx context.Context, name string, admin *Identity, adminName string) (*Vault, error) {
	if err := admin.usable(); err != nil {
		return nil, err
	}
	if err := checkName("vault", name); err != nil {
		return nil, err
	}
	if err := checkName("member", adminName); err != nil {
		return nil, err
	}
	// A name this host has pinned to a vault that still exists is taken,
	// even if the backend no longer lists it for admin (a deleted index
	// entry must not make the host replace its pin silently).
	if pinned, ok, err := e.pins.vaultOf(admin.rcpt.id, name); err != nil {
		return nil, err
	} else if ok {
		_, _, err := e.store.Get(ctx, headKey(pinned))
		if err == nil {
			return nil, fmt.Errorf("%w: %q (this host has pinned the name to vault id %x)", ErrVaultExists, name, pinned[:])
		}
		if !errors.Is(err, sdk.ErrNotFound) {
			return nil, fmt.Errorf("core: reading %s %q: %w", kindHead, headKey(pinned), err)
		}
	}
	listed, err := e.index(ctx, admin)
	if err != nil {
		return nil, err
	}
	for _, en := range listed.entries {
		if en.name != name {
			continue
		}
		// A head means the vault exists; no head means an earlier create
		// crashed before its commit: the entry is garbage.
		_, _, err := e.store.Get(ctx, headKey(en.vault))
		if err == nil {
			return nil, fmt.Errorf("%w: %q", ErrVaultExists, name)
		}
		if !errors.Is(err, sdk.ErrNotFound) {
			return nil, fmt.Errorf("core: reading %s %q: %w", kindHead, headKey(en.vault), err)
		}
		if err := e.store.Delete(ctx, indexKey(admin.rcpt.ID(), en.vault), sdk.None); err != nil {
			return nil, fmt.Errorf("core: removing stale index entry: %w", err)
		}
	}

	vault := randomID()
	const epoch = 1
	key, naming := randomKey(), randomKey()
	defer clear(key)
	defer clear(naming)
	commit := commitment(vault, epoch, key, naming)
	slot, err := sealSlot(admin.rcpt, vault, epoch, commit, &wire.SlotPayload{EpochKey: key, NamingKey: naming})
	if err != nil {
		return nil, err
	}
	idx, err := sealIndex(admin.rcpt, vault, name)
	if err != nil {
		return nil, err
	}
	ek, err := newEpochKey(vault, epoch, key, naming)
	if err != nil {
		return nil, err
	}
	h := &wire.Head{Version: wire.HeadV2, Time: time.Now().UnixNano(), Vault: vault, Epoch: epoch, MinEpoch: epoch, Commitment: commit, Signer: admin.rcpt.id,
		Members: []wire.HeadMember{{ID: admin.rcpt.id, Role: wire.RoleAdmin, Recipient: admin.rcpt.bin}}}
	meta := &wire.Meta{VaultName: name, Names: map[[wire.IDLen]byte]string{admin.rcpt.id: adminName}}
	plain := meta.Marshal([][wire.IDLen]byte{admin.rcpt.id})
	h.Meta = sealMeta(ek, vault, 0, plain)
	clear(plain)
	h.Signature = signHead(admin, h)
	raw := h.Marshal()

	// Order: slot, index entry, head (the commit point). A crash before the
	// head leaves garbage that a retried create removes.
	if _, err := e.store.Put(ctx, slotKey(vault, epoch, commit, admin.rcpt.id), slot, sdk.None); err != nil {
		return nil, fmt.Errorf("core: writing %s: %w", kindSlot, err)
	}
	if _, err := e.store.Put(ctx, indexKey(admin.rcpt.ID(), vault), idx, sdk.None); err != nil {
		return nil, fmt.Errorf("core: writing %s: %w", kindIndex, err)
	}
	ver, err := e.store.Put(ctx, headKey(vault), raw, sdk.IfAbsent())
	if err != nil {
		return nil, fmt.Errorf("core: writing %s %q: %w", kindHead, headKey(vault), err)
	}
	hs := &headState{ver: ver}
	hs.raw, hs.h, hs.hash = raw, h, wire.HeadHash(raw)
	if err := e.pins.advance(&hs.pinned); err != nil {
		return nil, err
	}
	if _, err := e.store.Put(ctx, logKey(vault, 0), raw, sdk.None); err != nil {
		e.log.Debug("head log append failed", "vault", hex.EncodeToString(vault[:]), "error", err)
	}
	if err := e.pins.repinName(admin.rcpt.id, name, vault); err != nil {
		return nil, err
	}
	e.log.Debug("vault created", "vault", hex.EncodeToString(vault[:]))
	v := e.newVault(vault, name, admin)
	v.setSession(&session{head: hs, meta: meta, cur: ek})
	return v, nil
}

// UnlockOptions adjust Unlock. The zero value opens the vault by name.
type UnlockOptions struct {
	// Token, if set, is the grant token of the vault to open (from the
	// admin's Vault.Token after Grant). Unlock then opens only the vault it
	// names, and only if that vault's head chain contains the token's head
	// (an old state or a fork is refused with ErrRollback). It pins the
	// vault under vaultName on this host, replacing an earlier pin of that
	// name: use it for the first unlock of a vault on a host.
	Token *Token
}

// Unlock opens the vault named vaultName for id: it verifies the head
// (signature, chain, rollback pin), unwraps id's key slot and checks the key
// commitment. Not a member => ErrNotMember; no such vault => ErrVaultNotFound.
// opts is at most one UnlockOptions.
//
// Which vault a name means: the first Unlock of a name on a host (or one
// with a Token) pins the vault id it opened under (id, vaultName) in the
// state dir; later Unlocks of that name open only the pinned vault, and if
// the backend no longer lists it for id (its index entry is missing or does
// not open) they fail with ErrPinnedVault instead of opening another vault
// of that name. A host with no pin and no token trusts on first use the one
// vault of that name the backend lists for id; if it lists several, Unlock
// fails with ErrAmbiguousVault naming their ids.
func (e *Engine) Unlock(ctx context.Context, vaultName string, id *Identity, opts ...UnlockOptions) (*Vault, error) {
	if err := id.usable(); err != nil {
		return nil, err
	}
	if err := checkName("vault", vaultName); err != nil {
		return nil, err
	}
	var o UnlockOptions
	switch len(opts) {
	case 0:
	case 1:
		o = opts[0]
	default:
		return nil, errors.New("core: Unlock takes at most one UnlockOptions")
	}
	if o.Token != nil {
		return e.unlockToken(ctx, vaultName, id, o.Token)
	}
	pinned, ok, err := e.pins.vaultOf(id.rcpt.id, vaultName)
	if err != nil {
		return nil, err
	}
	if ok {
		return e.unlockPinned(ctx, vaultName, id, pinned)
	}
	return e.unlockFirst(ctx, vaultName, id)
}

// unlockToken opens the vault a grant token names and pins it under name.
func (e *Engine) unlockToken(ctx context.Context, name string, id *Identity, t *Token) (*Vault, error) {
	if err := e.indexEntryOf(ctx, name, id, t.vault, "the grant token names"); err != nil {
		return nil, err
	}
	if err := e.anchor(ctx, t); err != nil {
		return nil, err
	}
	v := e.newVault(t.vault, name, id)
	if _, err := v.unlockSession(ctx); err != nil {
		return nil, err
	}
	if prev, ok, _ := e.pins.vaultOf(id.rcpt.id, name); ok && prev != t.vault {
		e.log.Warn("grant token replaces the vault pinned under this name", "vault", v.ID(), "previous", hex.EncodeToString(prev[:]))
	}
	if err := e.pins.repinName(id.rcpt.id, name, t.vault); err != nil {
		v.Lock()
		return nil, err
	}
	return v, nil
}

// unlockPinned opens the vault pinned under name, and no other.
func (e *Engine) unlockPinned(ctx context.Context, name string, id *Identity, vault [wire.IDLen]byte) (*Vault, error) {
	if err := e.indexEntryOf(ctx, name, id, vault, "this host has pinned under that name"); err != nil {
		return nil, err
	}
	v := e.newVault(vault, name, id)
	if _, err := v.unlockSession(ctx); err != nil {
		return nil, err
	}
	return v, nil
}

// indexEntryOf checks that id's index entry for vault exists, opens, and
// names the vault name. what says why this vault is the one to open.
func (e *Engine) indexEntryOf(ctx context.Context, name string, id *Identity, vault [wire.IDLen]byte, what string) error {
	key := indexKey(id.rcpt.ID(), vault)
	data, _, err := e.store.Get(ctx, key)
	if errors.Is(err, sdk.ErrNotFound) {
		// A revoked member's host gets the clearer answer when the head
		// still verifies and no longer lists it.
		if hs, herr := e.loadHead(ctx, vault); herr == nil && hs.h.Member(id.rcpt.id) == nil {
			return fmt.Errorf("%w: vault %q (%x)", ErrNotMember, name, vault[:])
		}
		return fmt.Errorf("%w: vault %q: %s vault id %x, but this identity's %s %q for it is missing from the backend (deleted by someone with write access, or another backend is configured); not opening any other vault under this name%s",
			ErrPinnedVault, name, what, vault[:], kindIndex, key, e.othersNamed(ctx, name, id, vault))
	}
	if err != nil {
		return fmt.Errorf("core: reading %s %q: %w", kindIndex, key, err)
	}
	got, gotName, err := openIndex(id, key, data)
	if err != nil {
		return fmt.Errorf("%w: vault %q: %s vault id %x, but its index entry does not open: %w; not opening any other vault under this name%s",
			ErrPinnedVault, name, what, vault[:], err, e.othersNamed(ctx, name, id, vault))
	}
	if got != vault || gotName != name {
		return fmt.Errorf("%w: vault %q: %s vault id %x, but its %s %q names the vault %q", ErrPinnedVault, name, what, vault[:], kindIndex, key, gotName)
	}
	return nil
}

// othersNamed describes, for an error message, the other vaults the backend
// lists for id under name (a vault planted to take the pinned one's place).
func (e *Engine) othersNamed(ctx context.Context, name string, id *Identity, not [wire.IDLen]byte) string {
	idx, err := e.index(ctx, id)
	if err != nil {
		return ""
	}
	var ids []string
	for _, en := range idx.entries {
		if en.name == name && en.vault != not {
			ids = append(ids, hex.EncodeToString(en.vault[:]))
		}
	}
	if len(ids) == 0 {
		return ""
	}
	return fmt.Sprintf(" (the backend lists another vault of that name for this identity, NOT opened: %s)", strings.Join(ids, ", "))
}

// unlockFirst resolves a name this host has not pinned: trust on first use
// of the one vault of that name listed for id, which it then pins.
func (e *Engine) unlockFirst(ctx context.Context, vaultName string, id *Identity) (*Vault, error) {
	idx, err := e.index(ctx, id)
	if err != nil {
		return nil, err
	}
	firstErr := idx.unreadable
	var found []*Vault
	for _, en := range idx.entries {
		if en.name != vaultName {
			continue
		}
		v := e.newVault(en.vault, vaultName, id)
		if _, err := v.unlockSession(ctx); err != nil {
			if errors.Is(err, ErrVaultNotFound) {
				continue // garbage of a crashed create
			}
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		found = append(found, v)
	}
	switch len(found) {
	case 0:
		if firstErr != nil {
			return nil, firstErr
		}
		return nil, fmt.Errorf("%w: %q", ErrVaultNotFound, vaultName)
	case 1:
	default:
		ids := make([]string, len(found))
		for i, v := range found {
			ids[i] = v.ID()
			v.Lock()
		}
		sort.Strings(ids)
		return nil, fmt.Errorf("%w: identity is a member of %d vaults named %q (ids %s) and this host has opened none of them before; open the intended one with the grant token its admin was given by vault grant (its token names the vault id)",
			ErrAmbiguousVault, len(found), vaultName, strings.Join(ids, ", "))
	}
	v := found[0]
	if idx.unreadable != nil {
		e.log.Warn("opened the only readable vault of this name while other index entries do not open", "vault", v.ID(), "error", idx.unreadable)
	}
	if err := e.pins.pinName(id.rcpt.id, vaultName, v.id); err != nil {
		v.Lock()
		return nil, err
	}
	return v, nil
}

// Expires returns when the handle locks itself: its Unlock (or create)
// plus the engine's SessionTTL.
func (v *Vault) Expires() time.Time {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.expires
}

// ListVaults returns the sorted names of the vaults id is currently a member
// of (each verified like Unlock, without unwrapping keys).
func (e *Engine) ListVaults(ctx context.Context, id *Identity) ([]string, error) {
	if err := id.usable(); err != nil {
		return nil, err
	}
	idx, err := e.index(ctx, id)
	if err != nil {
		return nil, err
	}
	if idx.unreadable != nil {
		return nil, idx.unreadable
	}
	var names []string
	for _, en := range idx.entries {
		hs, err := e.loadHead(ctx, en.vault)
		if errors.Is(err, ErrVaultNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if hs.h.Member(id.rcpt.id) != nil {
			names = append(names, en.name)
		}
	}
	sort.Strings(names)
	return names, nil
}
