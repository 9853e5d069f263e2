package core

// THROWAWAY (branch h17): the History API of /work/issues/HISTORY_API.md
// over today's format-1 heads, which carry no time, so that the host's
// `vault history` can be built and tested. hcore implements it for real
// (format v2, signed head time); at merge the lead takes hcore's file.

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
	ChangeCreated      ChangeKind = iota + 1 // the vault was created (first head)
	ChangeGranted                            // Member was granted Role
	ChangeRevoked                            // Member was revoked (the key rotated)
	ChangeRotated                            // the key rotated without a revoke
	ChangeRotationDone                       // a pending rotation's sweep finished (min epoch raised)
	ChangeUpgraded                           // the vault's format was upgraded (FormatVersion says to what)
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

// History returns the vault's chain of heads from the first to the current,
// each step verified (signature by an admin of the previous head, hash
// chain), oldest first. A chain that does not verify is an error wrapping
// ErrTampered or ErrRollback naming the head at fault; History never returns
// a partial chain with a nil error.
//
// Member names live in encrypted payloads; where the reader cannot decrypt
// an old head's names it shows the member's fingerprint in Member instead.
func (v *Vault) History(ctx context.Context) ([]HistoryEntry, error) {
	s, err := v.refresh(ctx, false)
	if err != nil {
		return nil, err
	}
	cur := &s.head.pinned
	if cur.h.Seq > maxChainWalk {
		return nil, rollbackf(kindHead, headKey(v.id), "history of %d heads is too long to verify", cur.h.Seq)
	}
	chain := make([]*pinned, 0, cur.h.Seq+1)
	var prev *pinned
	for seq := uint64(0); seq < cur.h.Seq; seq++ {
		key := logKey(v.id, seq)
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
		if err := verifyStep(key, prev, h); err != nil {
			return nil, err
		}
		prev = &pinned{raw: raw, h: h, hash: wire.HeadHash(raw)}
		chain = append(chain, prev)
	}
	if err := verifyStep(headKey(v.id), prev, cur.h); err != nil {
		return nil, err
	}
	chain = append(chain, cur)

	// Names from every head whose metadata this reader's keys open.
	names := map[[wire.IDLen]byte]string{}
	for _, p := range chain {
		k := s.key(p.h.Epoch)
		if k == nil {
			continue
		}
		if m, err := openMeta(k, v.id, p.h.Seq, p.h.Meta); err == nil {
			for id, n := range m.Names {
				names[id] = n
			}
		}
	}
	nameOf := func(m *wire.HeadMember) string {
		if n, ok := names[m.ID]; ok {
			return n
		}
		return wire.Fingerprint(m.Recipient)
	}

	out := make([]HistoryEntry, 0, len(chain))
	for i, p := range chain {
		h := p.h
		authority := h
		var before *wire.Head
		if i > 0 {
			before = chain[i-1].h
			authority = before
		}
		e := HistoryEntry{Seq: h.Seq, Epoch: h.Epoch, FormatVersion: 1, Hash: hex.EncodeToString(p.hash[:])}
		if sm := authority.Member(h.Signer); sm != nil {
			e.SignerFingerprint = wire.Fingerprint(sm.Recipient)
			e.Signer = names[sm.ID]
		}
		if before == nil {
			e.Changes = append(e.Changes, Change{Kind: ChangeCreated})
			for j := range h.Members {
				if h.Members[j].ID != h.Signer {
					e.Changes = append(e.Changes, Change{Kind: ChangeGranted, Member: nameOf(&h.Members[j]), Role: Role(h.Members[j].Role)})
				}
			}
		} else {
			revoked := false
			for j := range before.Members {
				if h.Member(before.Members[j].ID) == nil {
					e.Changes = append(e.Changes, Change{Kind: ChangeRevoked, Member: nameOf(&before.Members[j])})
					revoked = true
				}
			}
			for j := range h.Members {
				m := &h.Members[j]
				if old := before.Member(m.ID); old == nil || old.Role != m.Role {
					e.Changes = append(e.Changes, Change{Kind: ChangeGranted, Member: nameOf(m), Role: Role(m.Role)})
				}
			}
			if h.Epoch > before.Epoch && !revoked {
				e.Changes = append(e.Changes, Change{Kind: ChangeRotated})
			}
			if h.MinEpoch > before.MinEpoch {
				e.Changes = append(e.Changes, Change{Kind: ChangeRotationDone})
			}
		}
		out = append(out, e)
	}
	return out, nil
}
