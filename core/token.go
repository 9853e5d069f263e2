package core

import (
	"context"
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/ALRubinger/aileron-store/core/internal/wire"
	"github.com/ALRubinger/aileron-store/sdk"
)

// TokenPrefix starts every printable grant token.
const TokenPrefix = "aileron-vault1"

// Grant token layout: TokenPrefix followed by the lower-case unpadded base32
// (alphabet a-z 2-7) of
//
//	u8 version=1 | 16 vault id | u64 head seq | 32 head hash | 4 checksum
//
// checksum = SHA-256(Label "grant token\x00" || the 57 bytes before it)[:4].
// The checksum catches a mistyped token; the token's authenticity comes from
// the channel it travels over (the admin hands it to the new member), like a
// recipient string's.
const (
	tokenVersion = 1
	tokenBodyLen = 1 + wire.IDLen + 8 + wire.HashLen
	tokenLen     = tokenBodyLen + 4
	// maxTokenString bounds the input ParseToken looks at.
	maxTokenString = 256
)

var tokenB32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// Token names one vault and one head of its chain: what an admin hands a new
// member with the grant (Vault.Token) so that the member's host opens that
// vault and no other under its name, and only a state whose head chain
// contains that head (UnlockOptions.Token).
type Token struct {
	vault [wire.IDLen]byte
	seq   uint64
	hash  [wire.HashLen]byte
}

// Token returns the token of the vault's current head as this handle last
// verified it (after Grant: the head that lists the new member).
// A locked handle => ErrLocked.
func (v *Vault) Token() (*Token, error) {
	s, err := v.current()
	if err != nil {
		return nil, err
	}
	return &Token{vault: v.id, seq: s.head.h.Seq, hash: s.head.hash}, nil
}

// ParseToken decodes a printable grant token ("aileron-vault1..."). Leading
// and trailing white space is ignored; anything else that is not a token
// (wrong prefix, bad base32, wrong length or version, checksum mismatch) is
// an error saying which.
func ParseToken(s string) (*Token, error) {
	s = strings.TrimSpace(s)
	if len(s) > maxTokenString {
		return nil, fmt.Errorf("core: grant token is %d characters, too long", len(s))
	}
	if !strings.HasPrefix(s, TokenPrefix) {
		return nil, fmt.Errorf("core: grant token does not start with %q", TokenPrefix)
	}
	raw, err := tokenB32.DecodeString(s[len(TokenPrefix):])
	if err != nil {
		return nil, errors.New("core: grant token is not valid base32 (a-z, 2-7)")
	}
	if len(raw) != tokenLen {
		return nil, fmt.Errorf("core: grant token holds %d bytes, want %d (truncated or mistyped?)", len(raw), tokenLen)
	}
	body, sum := raw[:tokenBodyLen], raw[tokenBodyLen:]
	if string(sum) != string(tokenChecksum(body)) {
		return nil, errors.New("core: grant token checksum mismatch (mistyped?)")
	}
	if body[0] != tokenVersion {
		return nil, fmt.Errorf("core: grant token has unsupported version %d", body[0])
	}
	t := &Token{}
	copy(t.vault[:], body[1:])
	t.seq = binary.BigEndian.Uint64(body[1+wire.IDLen:])
	copy(t.hash[:], body[1+wire.IDLen+8:])
	return t, nil
}

func tokenChecksum(body []byte) []byte {
	h := sha256.New()
	h.Write([]byte(wire.Label + "grant token\x00"))
	h.Write(body)
	return h.Sum(nil)[:4]
}

// String returns the printable form, TokenPrefix followed by base32.
func (t *Token) String() string {
	b := make([]byte, 0, tokenLen)
	b = append(b, tokenVersion)
	b = append(b, t.vault[:]...)
	b = binary.BigEndian.AppendUint64(b, t.seq)
	b = append(b, t.hash[:]...)
	b = append(b, tokenChecksum(b)...)
	return TokenPrefix + tokenB32.EncodeToString(b)
}

// VaultID returns the id of the vault the token names (hex, as Vault.ID).
func (t *Token) VaultID() string { return hex.EncodeToString(t.vault[:]) }

// Seq returns the sequence number of the head the token names.
func (t *Token) Seq() uint64 { return t.seq }

// anchor makes the head a token names the trust anchor of its vault on this
// host: the backend must still hold that exact head (at its sequence number
// in the head log, or as the current head), and the host's rollback pin, if
// any, must be on the same chain. Afterwards the vault's pin is at least the
// token's head, so loadHead accepts only heads that chain from it.
func (e *Engine) anchor(ctx context.Context, t *Token) error {
	vault := t.vault
	th, err := e.tokenHead(ctx, t)
	if err != nil {
		return err
	}
	pin, err := e.pins.load(vault, true)
	if err != nil {
		return err
	}
	switch {
	case pin == nil:
		// The token is the anchor: the admin vouched for this head.
	case pin.h.Seq == t.seq:
		if pin.hash != t.hash {
			return rollbackf(kindHead, headKey(vault), "this host pinned seq %d with another hash than the grant token's (fork)", t.seq)
		}
		return nil
	case pin.h.Seq > t.seq:
		// The pin must descend from the token's head.
		if err := e.verifyChain(ctx, vault, th, pin); err != nil {
			return fmt.Errorf("%w: vault %x: this host's pinned head (seq %d) does not descend from the grant token's head (seq %d): %w", ErrRollback, vault[:], pin.h.Seq, t.seq, err)
		}
		return nil
	default:
		// The token's head must descend from the pin.
		if err := e.verifyChain(ctx, vault, pin, th); err != nil {
			return err
		}
	}
	return e.pins.advance(th)
}

// tokenHead reads the head a token names and checks its hash.
func (e *Engine) tokenHead(ctx context.Context, t *Token) (*pinned, error) {
	vault := t.vault
	key := logKey(vault, t.seq)
	raw, _, err := e.store.Get(ctx, key)
	if errors.Is(err, sdk.ErrNotFound) {
		// The newest head may not be in the log yet (the log append follows
		// the commit): the current head then is the token's.
		key = headKey(vault)
		raw, _, err = e.store.Get(ctx, key)
		if errors.Is(err, sdk.ErrNotFound) {
			return nil, fmt.Errorf("%w: vault %x has no head: the vault of the grant token is not on this backend", ErrVaultNotFound, vault[:])
		}
	}
	if err != nil {
		return nil, fmt.Errorf("core: reading %s %q: %w", kindHead, key, err)
	}
	if wire.HeadHash(raw) != t.hash {
		return nil, rollbackf(kindHead, key, "is not the head of the grant token (seq %d): the backend serves another history of the vault (a fork) or lost that head", t.seq)
	}
	h, err := parseHeadAt(key, raw, vault)
	if err != nil {
		return nil, err
	}
	if h.Seq != t.seq {
		return nil, tamperedf(kindHead, key, "has seq %d, the grant token says %d", h.Seq, t.seq)
	}
	return &pinned{raw: raw, h: h, hash: t.hash}, nil
}
