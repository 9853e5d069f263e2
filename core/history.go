package core

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/ALRubinger/aileron-store/core/internal/wire"
	"github.com/ALRubinger/aileron-store/sdk"
)

// ChangeKind names one change a head made to a vault.
type ChangeKind uint8

const (
	ChangeCreated        ChangeKind = iota + 1 // the vault was created (first head)
	ChangeGranted                              // Member was granted Role
	ChangeRevoked                              // Member was revoked (the key rotated)
	ChangeRotated                              // the key rotated without a revoke
	ChangeRotationDone                         // a pending rotation's sweep finished (min epoch raised)
	ChangeUpgraded                             // the vault's format was upgraded (FormatVersion says to what)
	ChangeOldKeysDeleted                       // a finished rotation's old key slots were deleted (the rotation is closed)
)

func (k ChangeKind) String() string {
	switch k {
	case ChangeCreated:
		return "created"
	case ChangeGranted:
		return "granted"
	case ChangeRevoked:
		return "revoked"
	case ChangeRotated:
		return "rotated"
	case ChangeRotationDone:
		return "rotation-done"
	case ChangeUpgraded:
		return "upgraded"
	case ChangeOldKeysDeleted:
		return "old-keys-deleted"
	}
	return fmt.Sprintf("change(%d)", uint8(k))
}

// Change is one change of a head.
type Change struct {
	Kind   ChangeKind
	Member string // member name for granted/revoked; "" otherwise
	Role   Role   // for granted
}

// HistoryEntry is one verified head of the vault's signed chain.
type HistoryEntry struct {
	Seq               uint64
	Epoch             uint64
	FormatVersion     int
	Time              time.Time // the head's signed time; zero for format-1 heads, which carry none
	Signer            string    // name of the admin who signed the head ("" if the reader cannot learn it)
	SignerFingerprint string    // fingerprint of the signer's recipient, always set
	Changes           []Change
	Hash              string // hex SHA-256 of the head, as pinned
}

// History returns the vault's chain of heads from the first to the current, each step verified
// (signature by an admin of the previous head, hash chain), oldest first. A chain that does not
// verify is an error wrapping ErrTampered or ErrRollback naming the head at fault; History never
// returns a partial chain with a nil error.
//
// Member names live in sealed metadata: a head's names are read where this
// session holds its epoch's key (the current and, during a rotation, the
// previous epoch), and otherwise from the names the current head gives the
// same member ids; a member the reader cannot name is shown by its
// recipient's fingerprint.
func (v *Vault) History(ctx context.Context) ([]HistoryEntry, error) {
	s, err := v.refresh(ctx)
	if err != nil {
		return nil, err
	}
	cur := s.head
	if cur.h.Seq > maxChainWalk {
		return nil, rollbackf(kindHead, headKey(v.id), "history of %d heads is too long to verify", cur.h.Seq)
	}
	names := map[[wire.IDLen]byte]string{}
	for id, n := range s.meta.Names {
		names[id] = n
	}
	var heads []*pinned
	var prev *pinned
	for seq := uint64(0); seq <= cur.h.Seq; seq++ {
		p := cur.pinned
		key := headKey(v.id)
		if seq < cur.h.Seq {
			key = logKey(v.id, seq)
			raw, _, err := v.e.store.Get(ctx, key)
			if errors.Is(err, sdk.ErrNotFound) {
				return nil, rollbackf(kindHead, key, "is missing from the head log, the chain cannot be verified")
			}
			if err != nil {
				return nil, fmt.Errorf("core: reading %s %q: %w", kindHead, key, err)
			}
			h, err := parseHeadAt(key, raw, v.id)
			if err != nil {
				return nil, err
			}
			p = pinned{raw: raw, h: h, hash: wire.HeadHash(raw)}
		}
		if err := verifyStep(key, prev, p.h); err != nil {
			return nil, err
		}
		// Names from the heads whose metadata this session can open.
		if k := s.key(p.h.Epoch); k != nil {
			if m, err := openMeta(k, v.id, p.h.Seq, p.h.Meta); err == nil {
				for id, n := range m.Names {
					if _, ok := names[id]; !ok {
						names[id] = n
					}
				}
			}
		}
		pp := p
		heads = append(heads, &pp)
		prev = &pp
	}
	out := make([]HistoryEntry, 0, len(heads))
	var before *wire.Head
	for _, p := range heads {
		h := p.h
		e := HistoryEntry{Seq: h.Seq, Epoch: h.Epoch, FormatVersion: int(h.Version), Hash: hex.EncodeToString(p.hash[:])}
		if h.Version >= wire.HeadV2 {
			e.Time = time.Unix(0, h.Time)
		}
		authority := h
		if before != nil {
			authority = before
		}
		if m := authority.Member(h.Signer); m != nil {
			e.SignerFingerprint = wire.Fingerprint(m.Recipient)
			e.Signer = names[h.Signer]
		}
		e.Changes = changes(before, h, func(m *wire.HeadMember) string {
			if n, ok := names[m.ID]; ok {
				return n
			}
			return wire.Fingerprint(m.Recipient)
		})
		out = append(out, e)
		before = h
	}
	return out, nil
}

// changes lists what h changed relative to its predecessor prev (nil for
// the genesis head).
func changes(prev, h *wire.Head, name func(*wire.HeadMember) string) []Change {
	if prev == nil {
		return []Change{{Kind: ChangeCreated}}
	}
	var out []Change
	if h.Version > prev.Version {
		out = append(out, Change{Kind: ChangeUpgraded})
	}
	for i := range h.Members {
		m := &h.Members[i]
		if prev.Member(m.ID) == nil {
			out = append(out, Change{Kind: ChangeGranted, Member: name(m), Role: Role(m.Role)})
		}
	}
	if h.Epoch > prev.Epoch {
		if h.Pending.Kind == wire.PendingRevoke {
			for _, id := range h.Pending.Revoked {
				if m := prev.Member(id); m != nil {
					out = append(out, Change{Kind: ChangeRevoked, Member: name(m)})
				}
			}
		} else {
			out = append(out, Change{Kind: ChangeRotated})
		}
	}
	if h.MinEpoch > prev.MinEpoch {
		out = append(out, Change{Kind: ChangeRotationDone})
	}
	if prev.Pending.Kind != wire.PendingNone && h.Pending.Kind == wire.PendingNone && h.Epoch == prev.Epoch {
		out = append(out, Change{Kind: ChangeOldKeysDeleted})
	}
	return out
}
