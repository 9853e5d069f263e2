package wire

import (
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"strings"
)

// KEM suites (the HPKE KEM identifiers of RFC 9180 and its registry).
const (
	SuiteMLKEM768X25519 uint16 = 0x647a
	SuiteX25519         uint16 = 0x0020
)

// PublicKeyLen returns the HPKE public key length of a suite, 0 if unknown.
func PublicKeyLen(suite uint16) int {
	switch suite {
	case SuiteMLKEM768X25519:
		return 1216
	case SuiteX25519:
		return 32
	}
	return 0
}

// PrivateKeyLen is the serialized HPKE private key length of both suites.
const PrivateKeyLen = 32

// RecipientPrefix starts every printable recipient string.
const RecipientPrefix = "aileron1"

const recipientVersion = 1

var b32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// Recipient is the public half of an identity.
type Recipient struct {
	Suite uint16
	HPKE  []byte // HPKE public key (SerializePublicKey)
	Ed    []byte // Ed25519 public key
}

// Marshal returns the canonical binary encoding:
// u8 version | u16 suite | u16 len | HPKE public key | 32 Ed25519 public key.
func (r *Recipient) Marshal() []byte {
	w := writer{b: make([]byte, 0, 5+len(r.HPKE)+len(r.Ed))}
	w.u8(recipientVersion)
	w.u16(r.Suite)
	w.bytes16(r.HPKE)
	w.raw(r.Ed)
	return w.b
}

// ParseRecipientBytes decodes the canonical binary encoding.
func ParseRecipientBytes(b []byte) (*Recipient, error) {
	rd := newReader(b, "recipient")
	rd.version(recipientVersion)
	r := &Recipient{Suite: rd.u16("suite")}
	n := int(rd.u16("public key length"))
	if rd.err == nil {
		if want := PublicKeyLen(r.Suite); want == 0 {
			rd.fail("has unknown suite %#04x", r.Suite)
		} else if n != want {
			rd.fail("public key is %d bytes, suite %#04x needs %d", n, r.Suite, want)
		}
	}
	r.HPKE = rd.copyN(n, "public key")
	r.Ed = rd.copyN(Ed25519PubLen, "signing key")
	if err := rd.end(); err != nil {
		return nil, err
	}
	return r, nil
}

func recipientChecksum(bin []byte) []byte {
	h := sha256.New()
	h.Write([]byte(Label + "recipient checksum\x00"))
	h.Write(bin)
	return h.Sum(nil)[:4]
}

// String returns "aileron1" followed by the lower-case unpadded base32 of the
// canonical encoding and a 4-byte checksum.
func (r *Recipient) String() string {
	bin := r.Marshal()
	return RecipientPrefix + b32.EncodeToString(append(bin, recipientChecksum(bin)...))
}

// ParseRecipientString decodes the printable form.
func ParseRecipientString(s string) (*Recipient, error) {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, RecipientPrefix) {
		return nil, malformed("recipient string does not start with %q", RecipientPrefix)
	}
	if len(s) > 4096 {
		return nil, malformed("recipient string is %d characters, too long", len(s))
	}
	raw, err := b32.DecodeString(s[len(RecipientPrefix):])
	if err != nil || len(raw) < 5 {
		return nil, malformed("recipient string is not valid base32")
	}
	bin, sum := raw[:len(raw)-4], raw[len(raw)-4:]
	if string(sum) != string(recipientChecksum(bin)) {
		return nil, malformed("recipient string checksum mismatch (mistyped?)")
	}
	return ParseRecipientBytes(bin)
}

// MemberID is the stable 16-byte member id of a recipient:
// SHA-256(Label "member id\x00" || canonical)[:16].
func MemberID(canonical []byte) [IDLen]byte {
	h := sha256.New()
	h.Write([]byte(Label + "member id\x00"))
	h.Write(canonical)
	var id [IDLen]byte
	copy(id[:], h.Sum(nil))
	return id
}

// Fingerprint is SHA-256(Label "fingerprint\x00" || canonical)[:8] in hex,
// grouped by four characters.
func Fingerprint(canonical []byte) string {
	h := sha256.New()
	h.Write([]byte(Label + "fingerprint\x00"))
	h.Write(canonical)
	x := hex.EncodeToString(h.Sum(nil)[:8])
	return x[0:4] + "-" + x[4:8] + "-" + x[8:12] + "-" + x[12:16]
}
