package core

import (
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/hpke"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/ALRubinger/aileron-store/core/internal/wire"
)

// Suite is the KEM suite of an identity (its HPKE KEM identifier).
type Suite uint16

const (
	// SuiteMLKEM768X25519 is the default: hybrid ML-KEM-768 + X25519.
	SuiteMLKEM768X25519 Suite = Suite(wire.SuiteMLKEM768X25519)
	// SuiteX25519 is the compatibility suite: DHKEM(X25519, HKDF-SHA256).
	SuiteX25519 Suite = Suite(wire.SuiteX25519)
)

func (s Suite) String() string {
	switch s {
	case SuiteMLKEM768X25519:
		return "mlkem768x25519"
	case SuiteX25519:
		return "x25519"
	}
	return fmt.Sprintf("suite(%#04x)", uint16(s))
}

func (s Suite) kem() (hpke.KEM, error) {
	switch s {
	case SuiteMLKEM768X25519:
		return hpke.MLKEM768X25519(), nil
	case SuiteX25519:
		return hpke.DHKEM(ecdh.X25519()), nil
	}
	return nil, fmt.Errorf("core: unknown identity suite %#04x", uint16(s))
}

// KDFParams are Argon2id parameters for sealing an identity file. Reading
// (and writing) refuses parameters above Time 10, MemoryKiB 256 MiB,
// Threads 8, or Time x MemoryKiB above 1 GiB (2^20 KiB): what an
// attacker-crafted file can cost per passphrase attempt.
type KDFParams struct {
	Time      uint32
	MemoryKiB uint32
	Threads   uint8
}

// Identity is a member keypair: an HPKE private key for receiving vault keys
// and an Ed25519 key for signing vault heads.
type Identity struct {
	suite  Suite
	secret []byte // 32 HPKE private key || 32 Ed25519 seed
	hpke   hpke.PrivateKey
	sign   ed25519.PrivateKey
	rcpt   *Recipient
}

// NewIdentity generates a fresh identity of the suite.
func NewIdentity(suite Suite) (*Identity, error) {
	kem, err := suite.kem()
	if err != nil {
		return nil, err
	}
	k, err := kem.GenerateKey()
	if err != nil {
		return nil, fmt.Errorf("core: generating HPKE key: %w", err)
	}
	kb, err := k.Bytes()
	if err != nil {
		return nil, fmt.Errorf("core: serializing HPKE key: %w", err)
	}
	secret := make([]byte, 0, wire.SecretLen)
	secret = append(secret, kb...)
	clear(kb)
	seed := make([]byte, ed25519.SeedSize)
	rand.Read(seed)
	secret = append(secret, seed...)
	clear(seed)
	return identityFromSecret(suite, secret)
}

// identityFromSecret takes ownership of secret.
func identityFromSecret(suite Suite, secret []byte) (*Identity, error) {
	kem, err := suite.kem()
	if err != nil {
		return nil, err
	}
	if len(secret) != wire.SecretLen {
		clear(secret)
		return nil, errors.New("core: identity secret has the wrong length")
	}
	k, err := kem.NewPrivateKey(secret[:wire.PrivateKeyLen])
	if err != nil {
		clear(secret)
		return nil, fmt.Errorf("%w: identity private key is invalid", ErrTampered)
	}
	id := &Identity{suite: suite, secret: secret, hpke: k, sign: ed25519.NewKeyFromSeed(secret[wire.PrivateKeyLen:])}
	id.rcpt = &Recipient{w: wire.Recipient{
		Suite: uint16(suite),
		HPKE:  k.PublicKey().Bytes(),
		Ed:    append([]byte(nil), id.sign.Public().(ed25519.PublicKey)...),
	}}
	id.rcpt.init()
	return id, nil
}

// Suite returns the identity's KEM suite.
func (id *Identity) Suite() Suite { return id.suite }

// Recipient returns the public half.
func (id *Identity) Recipient() *Recipient { return id.rcpt }

// Wipe clears the private key material it owns. The identity is unusable
// afterwards. (The HPKE library keeps its own expanded copy that Go cannot
// clear; it becomes garbage with the Identity.)
func (id *Identity) Wipe() {
	clear(id.secret)
	clear(id.sign)
	id.hpke = nil
}

func (id *Identity) usable() error {
	if id == nil || id.hpke == nil {
		return errors.New("core: identity is nil or wiped")
	}
	return nil
}

// MarshalIdentity encodes an identity file. passphrase nil => unsealed;
// otherwise the private part is sealed under Argon2id (params nil => t=3,
// m=64 MiB, p=4) and XChaCha20-Poly1305.
func MarshalIdentity(id *Identity, passphrase []byte, params *KDFParams) ([]byte, error) {
	if err := id.usable(); err != nil {
		return nil, err
	}
	var p *wire.KDFParams
	if params != nil {
		p = &wire.KDFParams{Time: params.Time, MemoryKiB: params.MemoryKiB, Threads: params.Threads}
	}
	b, err := wire.MarshalIdentity(uint16(id.suite), id.rcpt.bin, id.secret, passphrase, p)
	if err != nil {
		return nil, fmt.Errorf("core: %w", err)
	}
	return b, nil
}

// ParseIdentity decodes an identity file; passphrase is called only if the
// file is sealed. A wrong passphrase => ErrWrongPassphrase. KDF parameters
// above the caps => an error saying so (before any work is done).
func ParseIdentity(data []byte, passphrase func() ([]byte, error)) (*Identity, error) {
	f, err := wire.ParseIdentity(data)
	if err != nil {
		return nil, fmt.Errorf("%w: identity file: %v", ErrTampered, err)
	}
	var pass []byte
	if f.Sealed {
		if err := f.KDF.Check(); err != nil {
			return nil, fmt.Errorf("core: identity file: %w", err)
		}
		if passphrase == nil {
			return nil, errors.New("core: identity file is sealed and no passphrase was given")
		}
		if pass, err = passphrase(); err != nil {
			return nil, fmt.Errorf("core: reading passphrase: %w", err)
		}
		defer clear(pass)
	}
	secret, err := f.Open(pass)
	f.Wipe()
	if errors.Is(err, wire.ErrPassphrase) {
		return nil, fmt.Errorf("%w for the identity file", ErrWrongPassphrase)
	} else if err != nil {
		return nil, fmt.Errorf("core: identity file: %w", err)
	}
	id, err := identityFromSecret(Suite(f.Suite), secret)
	if err != nil {
		return nil, err
	}
	if string(id.rcpt.bin) != string(f.Recipient) {
		id.Wipe()
		return nil, fmt.Errorf("%w: identity file: public key does not match the private key", ErrTampered)
	}
	return id, nil
}

// IdentityIsSealed reports whether an identity file is passphrase-sealed.
func IdentityIsSealed(data []byte) (bool, error) {
	f, err := wire.ParseIdentity(data)
	if err != nil {
		return false, fmt.Errorf("%w: identity file: %v", ErrTampered, err)
	}
	return f.Sealed, nil
}

// IdentityRecipient returns the public recipient stored in an identity file
// without opening it (no passphrase needed).
func IdentityRecipient(data []byte) (*Recipient, error) {
	f, err := wire.ParseIdentity(data)
	if err != nil {
		return nil, fmt.Errorf("%w: identity file: %v", ErrTampered, err)
	}
	return recipientFromBytes(f.Recipient)
}

// Recipient is the public half of an identity: what an admin needs to grant
// it access.
type Recipient struct {
	w   wire.Recipient
	bin []byte
	id  [wire.IDLen]byte
	pub hpke.PublicKey
	ed  ed25519.PublicKey
}

func (r *Recipient) init() {
	r.bin = r.w.Marshal()
	r.id = wire.MemberID(r.bin)
	r.ed = ed25519.PublicKey(r.w.Ed)
}

func recipientFromBytes(b []byte) (*Recipient, error) {
	w, err := wire.ParseRecipientBytes(b)
	if err != nil {
		return nil, err
	}
	return recipientFromWire(w)
}

func recipientFromWire(w *wire.Recipient) (*Recipient, error) {
	r := &Recipient{w: *w}
	kem, err := Suite(w.Suite).kem()
	if err != nil {
		return nil, err
	}
	if r.pub, err = kem.NewPublicKey(w.HPKE); err != nil {
		return nil, fmt.Errorf("%w: recipient public key is invalid", wire.ErrMalformed)
	}
	r.init()
	return r, nil
}

// ParseRecipient decodes a printable recipient string ("aileron1...").
func ParseRecipient(s string) (*Recipient, error) {
	w, err := wire.ParseRecipientString(s)
	if err != nil {
		return nil, fmt.Errorf("core: recipient: %w", err)
	}
	r, err := recipientFromWire(w)
	if err != nil {
		return nil, fmt.Errorf("core: recipient: %w", err)
	}
	return r, nil
}

func (r *Recipient) publicKey() (hpke.PublicKey, error) {
	if r.pub != nil {
		return r.pub, nil
	}
	kem, err := Suite(r.w.Suite).kem()
	if err != nil {
		return nil, err
	}
	return kem.NewPublicKey(r.w.HPKE)
}

// String returns the printable recipient string.
func (r *Recipient) String() string { return r.w.String() }

// Suite returns the recipient's KEM suite.
func (r *Recipient) Suite() Suite { return Suite(r.w.Suite) }

// Fingerprint returns a short human-comparable digest, e.g. "3f9a-c21b-77d0-e4a8".
func (r *Recipient) Fingerprint() string { return wire.Fingerprint(r.bin) }

// ID returns the stable member id derived from the public keys (32 hex
// characters, safe in storage keys).
func (r *Recipient) ID() string { return hex.EncodeToString(r.id[:]) }

// Equal reports whether two recipients hold the same keys.
func (r *Recipient) Equal(o *Recipient) bool { return o != nil && string(r.bin) == string(o.bin) }
