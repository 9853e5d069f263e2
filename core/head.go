package core

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"

	"github.com/ALRubinger/aileron-store/core/internal/wire"
	"github.com/ALRubinger/aileron-store/sdk"
)

// maxChainWalk bounds how many heads a host verifies to catch up with a
// vault's history.
const maxChainWalk = 100000

// headState is a verified head as read from the store.
type headState struct {
	pinned
	ver sdk.Version
}

func parseHeadAt(key string, raw []byte, vault [wire.IDLen]byte) (*wire.Head, error) {
	h, err := wire.ParseHead(raw)
	if err != nil {
		return nil, tampered(kindHead, key, err)
	}
	if h.Vault != vault {
		return nil, tamperedf(kindHead, key, "belongs to another vault")
	}
	return h, nil
}

// verifyStep checks that next is a valid successor of prev (nil: next is the
// genesis head): chain hash, sequence, monotone epochs, and a signature by an
// admin of prev (of next itself for the genesis head).
func verifyStep(key string, prev *pinned, next *wire.Head) error {
	authority := next
	if prev == nil {
		if next.Seq != 0 || next.Prev != ([wire.HashLen]byte{}) || next.Pending.Kind != wire.PendingNone {
			return tamperedf(kindHead, key, "genesis head has a predecessor")
		}
	} else {
		switch {
		case next.Seq != prev.h.Seq+1:
			return rollbackf(kindHead, key, "seq %d does not follow %d", next.Seq, prev.h.Seq)
		case next.Prev != prev.hash:
			return rollbackf(kindHead, key, "seq %d does not chain to the verified head %d", next.Seq, prev.h.Seq)
		case next.Epoch < prev.h.Epoch || next.MinEpoch < prev.h.MinEpoch:
			return rollbackf(kindHead, key, "seq %d lowers the epoch", next.Seq)
		case next.Version < prev.h.Version:
			return rollbackf(kindHead, key, "seq %d lowers the format version", next.Seq)
		case next.Version >= wire.HeadV2 && prev.h.Version >= wire.HeadV2 && next.Time < prev.h.Time:
			return rollbackf(kindHead, key, "seq %d is signed with a time before its predecessor's", next.Seq)
		}
		authority = prev.h
	}
	m := authority.Member(next.Signer)
	if m == nil || m.Role != wire.RoleAdmin {
		return tamperedf(kindHead, key, "seq %d is signed by a non-admin", next.Seq)
	}
	r, err := wire.ParseRecipientBytes(m.Recipient)
	if err != nil {
		return tampered(kindHead, key, err)
	}
	if !ed25519.Verify(ed25519.PublicKey(r.Ed), next.SignatureMessage(), next.Signature) {
		return tamperedf(kindHead, key, "seq %d has a bad signature", next.Seq)
	}
	return nil
}

// loadHead reads the current head of a vault and verifies it against the
// rollback pin (walking the head log from the pin, or from the genesis head
// when this host has no pin), then advances the pin.
func (e *Engine) loadHead(ctx context.Context, vault [wire.IDLen]byte) (*headState, error) {
	// The pin is read before the head: a head committed by this host (or
	// read by another goroutine) after this point may advance the pin, and
	// must not make the head read below look like a rollback.
	pin, err := e.pins.load(vault, false)
	if err != nil {
		return nil, err
	}
	hs, err := e.readHead(ctx, vault, pin)
	if err != nil || hs.h != nil {
		return hs, err
	}
	// The head changed since this engine last saw it. Another process
	// sharing the state dir, or another goroutine, may have pinned a newer
	// head: if the pin moved, read the head again against it.
	fresh, err := e.pins.load(vault, true)
	if err != nil {
		return nil, err
	}
	if fresh != pin {
		pin = fresh
		if hs, err = e.readHead(ctx, vault, pin); err != nil || hs.h != nil {
			return hs, err
		}
	}
	return e.verifyHead(ctx, vault, pin, hs)
}

// readHead reads the head. When it is the pinned head it returns it parsed
// (hs.h set); otherwise hs.h is nil and the caller verifies it.
func (e *Engine) readHead(ctx context.Context, vault [wire.IDLen]byte, pin *pinned) (*headState, error) {
	key := headKey(vault)
	raw, ver, err := e.store.Get(ctx, key)
	if errors.Is(err, sdk.ErrNotFound) {
		if pin == nil {
			if pin, err = e.pins.load(vault, true); err != nil {
				return nil, err
			}
		}
		if pin != nil {
			return nil, rollbackf(kindHead, key, "is missing but this host has seen seq %d", pin.h.Seq)
		}
		return nil, fmt.Errorf("%w: vault %x has no head", ErrVaultNotFound, vault[:])
	}
	if err != nil {
		return nil, fmt.Errorf("core: reading %s %q: %w", kindHead, key, err)
	}
	hs := &headState{ver: ver}
	hs.raw, hs.hash = raw, wire.HeadHash(raw)
	if pin != nil && pin.hash == hs.hash {
		hs.h = pin.h
	}
	return hs, nil
}

// verifyHead parses hs and verifies it against pin, then advances the pin.
func (e *Engine) verifyHead(ctx context.Context, vault [wire.IDLen]byte, pin *pinned, hs *headState) (*headState, error) {
	key := headKey(vault)
	var err error
	if hs.h, err = parseHeadAt(key, hs.raw, vault); err != nil {
		return nil, err
	}
	if pin != nil {
		if hs.h.Seq < pin.h.Seq {
			return nil, rollbackf(kindHead, key, "seq %d is older than the pinned seq %d", hs.h.Seq, pin.h.Seq)
		}
		if hs.h.Seq == pin.h.Seq {
			return nil, rollbackf(kindHead, key, "seq %d differs from the pinned head of the same seq (fork)", hs.h.Seq)
		}
	}
	if err := e.verifyChain(ctx, vault, pin, &hs.pinned); err != nil {
		return nil, err
	}
	if err := e.checkLog(ctx, vault, hs); err != nil {
		return nil, err
	}
	if err := e.pins.advance(&hs.pinned); err != nil {
		return nil, err
	}
	return hs, nil
}

// checkLog compares a newly verified head with the head log around it: a log
// entry of the same seq that differs (a fork: for example a revoked admin
// signing a successor of the last head where it was admin, while the log
// holds the genuine successor that removed it), or a valid successor in the
// log while the head key still holds this head (newer heads withheld), is
// ErrRollback. Two reads, only when the head changed. A backend that also
// rewrites or deletes the log defeats it; see docs/format.md.
func (e *Engine) checkLog(ctx context.Context, vault [wire.IDLen]byte, hs *headState) error {
	key := logKey(vault, hs.h.Seq)
	raw, _, err := e.store.Get(ctx, key)
	switch {
	case err == nil:
		if wire.HeadHash(raw) != hs.hash {
			return rollbackf(kindHead, headKey(vault), "seq %d differs from the head log's entry of the same seq (fork)", hs.h.Seq)
		}
	case !errors.Is(err, sdk.ErrNotFound):
		return fmt.Errorf("core: reading %s %q: %w", kindHead, key, err)
	}
	key = logKey(vault, hs.h.Seq+1)
	raw, _, err = e.store.Get(ctx, key)
	if errors.Is(err, sdk.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("core: reading %s %q: %w", kindHead, key, err)
	}
	h, err := parseHeadAt(key, raw, vault)
	if err != nil || verifyStep(key, &hs.pinned, h) != nil {
		return nil // not a valid successor: garbage in the log, not a newer head
	}
	// A successor was committed: the head key must have moved on since it
	// was read (a concurrent commit), or it is being withheld.
	cur, _, err := e.store.Get(ctx, headKey(vault))
	if err != nil {
		return fmt.Errorf("core: reading %s %q: %w", kindHead, headKey(vault), err)
	}
	if wire.HeadHash(cur) == hs.hash {
		return rollbackf(kindHead, headKey(vault), "seq %d is served as current while the head log holds its signed successor (newer heads withheld)", hs.h.Seq)
	}
	return nil
}

// verifyChain verifies the heads from pin (exclusive; nil = from genesis) to
// target using the head log v/<vault>/h/<seq>.
func (e *Engine) verifyChain(ctx context.Context, vault [wire.IDLen]byte, pin *pinned, target *pinned) error {
	start := uint64(0)
	if pin != nil {
		start = pin.h.Seq + 1
	}
	if target.h.Seq-start > maxChainWalk {
		return rollbackf(kindHead, headKey(vault), "history of %d heads is too long to verify", target.h.Seq-start)
	}
	prev := pin
	for seq := start; seq < target.h.Seq; seq++ {
		key := logKey(vault, seq)
		raw, _, err := e.store.Get(ctx, key)
		if errors.Is(err, sdk.ErrNotFound) {
			return rollbackf(kindHead, key, "is missing from the head log, the chain cannot be verified")
		}
		if err != nil {
			return fmt.Errorf("core: reading %s %q: %w", kindHead, key, err)
		}
		h, err := parseHeadAt(key, raw, vault)
		if err != nil {
			return err
		}
		if err := verifyStep(key, prev, h); err != nil {
			return err
		}
		prev = &pinned{raw: raw, h: h, hash: wire.HeadHash(raw)}
	}
	return verifyStep(headKey(vault), prev, target.h)
}

// commitHead signs next as the successor of cur and writes it with
// compare-and-swap. It first makes sure cur is in the head log (a crash after
// the previous commit may have left it out), and appends next to the log
// after the commit. A lost race returns an error wrapping sdk.ErrConflict.
func (e *Engine) commitHead(ctx context.Context, cur *headState, next *wire.Head, signer *Identity, meta *wire.Meta, k *epochKey) (*headState, error) {
	vault := cur.h.Vault
	next.Vault = vault
	next.Seq = cur.h.Seq + 1
	next.Prev = cur.hash
	next.Signer = signer.rcpt.id
	if next.Version >= wire.HeadV2 {
		// The signed time never goes backwards along the chain, whatever
		// the signers' clocks say.
		next.Time = max(time.Now().UnixNano(), cur.h.Time)
	}
	ids := make([][wire.IDLen]byte, len(next.Members))
	for i, m := range next.Members {
		ids[i] = m.ID
	}
	plain := meta.Marshal(ids)
	next.Meta = sealMeta(k, vault, next.Seq, plain)
	clear(plain)
	next.Signature = ed25519.Sign(signer.sign, next.SignatureMessage())
	raw := next.Marshal()
	if len(raw) > sdk.MaxValueSize {
		return nil, fmt.Errorf("core: vault head would be %d bytes, above the store limit", len(raw))
	}
	if _, err := e.store.Put(ctx, logKey(vault, cur.h.Seq), cur.raw, sdk.None); err != nil {
		return nil, fmt.Errorf("core: writing head log %q: %w", logKey(vault, cur.h.Seq), err)
	}
	ver, err := e.store.Put(ctx, headKey(vault), raw, sdk.IfVersion(cur.ver))
	if err != nil {
		if errors.Is(err, sdk.ErrNotFound) {
			err = fmt.Errorf("%w: head disappeared: %w", sdk.ErrConflict, err)
		}
		return nil, fmt.Errorf("core: committing %s %q: %w", kindHead, headKey(vault), err)
	}
	hs := &headState{ver: ver}
	hs.raw, hs.h, hs.hash = raw, next, wire.HeadHash(raw)
	if err := e.pins.advance(&hs.pinned); err != nil {
		return nil, err
	}
	if _, err := e.store.Put(ctx, logKey(vault, next.Seq), raw, sdk.None); err != nil {
		// Not fatal: the next commit writes it before it commits.
		e.log.Debug("head log append failed", "vault", fmt.Sprintf("%x", vault[:]), "seq", next.Seq, "error", err)
	}
	return hs, nil
}

// copyHead returns a deep-enough copy of h for building a successor.
func copyHead(h *wire.Head) *wire.Head {
	n := *h
	n.Members = append([]wire.HeadMember(nil), h.Members...)
	n.Pending.Revoked = append([][wire.IDLen]byte(nil), h.Pending.Revoked...)
	n.Meta, n.Signature = nil, nil
	return &n
}

func signHead(id *Identity, h *wire.Head) []byte {
	return ed25519.Sign(id.sign, h.SignatureMessage())
}
