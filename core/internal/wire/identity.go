package wire

import (
	"crypto/rand"
	"errors"
	"fmt"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/chacha20poly1305"
)

// Identity file layout (see docs/format.md):
//
//	"ALID" | u8 version=1 | u16 suite | u16 len | canonical recipient | u8 mode
//	mode 0 (plain):  64 secret
//	mode 1 (sealed): u32 time | u32 memory KiB | u8 threads | 16 salt | 24 nonce | 80 sealed secret
//
// secret = 32 HPKE private key || 32 Ed25519 seed. Sealed: XChaCha20-Poly1305
// under Argon2id(passphrase, salt, time, memory, threads, 32), associated
// data = every byte before the sealed secret.
const (
	identityMagic   = "ALID"
	identityVersion = 1
	modePlain       = 0
	modeArgon2id    = 1
	// SecretLen is the length of an identity's private part.
	SecretLen = PrivateKeyLen + 32
	saltLen   = 16
)

// KDF parameter caps enforced when reading (and writing): a file cannot
// demand more work. They sit well above the default (t=3, 64 MiB, p=4) and
// bound what an attacker-crafted file costs a host per passphrase attempt:
// at most 256 MiB of memory and t x m <= 1 GiB-pass of work (for example
// t=4 at 256 MiB), 5.3 times the default's 192 MiB-passes. The caps of
// format v1 (t <= 10, 1 GiB, p <= 16) let one file cost about 33 s and
// 1 GiB per attempt.
const (
	MaxTime      = 10
	MaxMemoryKiB = 256 << 10 // 256 MiB
	MaxThreads   = 8
	// MaxWorkKiB caps Time x MemoryKiB.
	MaxWorkKiB = 1 << 20
)

// KDFParams are the Argon2id parameters of a sealed identity.
type KDFParams struct {
	Time      uint32
	MemoryKiB uint32
	Threads   uint8
}

// DefaultKDF is t=3, m=64 MiB, p=4.
var DefaultKDF = KDFParams{Time: 3, MemoryKiB: 64 << 10, Threads: 4}

// ErrKDFParams is wrapped when stored KDF parameters exceed the caps.
var ErrKDFParams = errors.New("identity KDF parameters outside the allowed range")

// ErrPassphrase is wrapped when the sealed secret does not open.
var ErrPassphrase = errors.New("wrong passphrase")

// Check reports whether p is within the caps.
func (p KDFParams) Check() error {
	switch {
	case p.Time < 1 || p.Time > MaxTime:
		return fmt.Errorf("%w: time %d not in 1..%d", ErrKDFParams, p.Time, MaxTime)
	case p.Threads < 1 || p.Threads > MaxThreads:
		return fmt.Errorf("%w: threads %d not in 1..%d", ErrKDFParams, p.Threads, MaxThreads)
	case p.MemoryKiB < 8*uint32(p.Threads) || p.MemoryKiB > MaxMemoryKiB:
		return fmt.Errorf("%w: memory %d KiB not in %d..%d", ErrKDFParams, p.MemoryKiB, 8*uint32(p.Threads), MaxMemoryKiB)
	case uint64(p.Time)*uint64(p.MemoryKiB) > MaxWorkKiB:
		return fmt.Errorf("%w: time %d x memory %d KiB is above %d", ErrKDFParams, p.Time, p.MemoryKiB, MaxWorkKiB)
	}
	return nil
}

// IdentityFile is a decoded identity file; Secret is set only once opened.
type IdentityFile struct {
	Suite     uint16
	Recipient []byte // canonical recipient encoding
	Sealed    bool
	KDF       KDFParams
	salt      []byte
	nonce     []byte
	body      []byte // plain secret or sealed secret
	header    []byte // associated data of the seal
}

func identityHeader(suite uint16, rcpt []byte, sealed bool, p KDFParams, salt, nonce []byte) []byte {
	w := writer{}
	w.str(identityMagic)
	w.u8(identityVersion)
	w.u16(suite)
	w.bytes16(rcpt)
	if !sealed {
		w.u8(modePlain)
		return w.b
	}
	w.u8(modeArgon2id)
	w.u32(p.Time)
	w.u32(p.MemoryKiB)
	w.u8(p.Threads)
	w.raw(salt)
	w.raw(nonce)
	return w.b
}

// MarshalIdentity encodes an identity file. passphrase nil => plain.
func MarshalIdentity(suite uint16, rcpt, secret, passphrase []byte, p *KDFParams) ([]byte, error) {
	if len(secret) != SecretLen {
		return nil, fmt.Errorf("identity secret is %d bytes, want %d", len(secret), SecretLen)
	}
	if passphrase == nil {
		return append(identityHeader(suite, rcpt, false, KDFParams{}, nil, nil), secret...), nil
	}
	params := DefaultKDF
	if p != nil {
		params = *p
	}
	if err := params.Check(); err != nil {
		return nil, err
	}
	salt := make([]byte, saltLen)
	nonce := make([]byte, chacha20poly1305.NonceSizeX)
	rand.Read(salt)
	rand.Read(nonce)
	hdr := identityHeader(suite, rcpt, true, params, salt, nonce)
	key := argon2.IDKey(passphrase, salt, params.Time, params.MemoryKiB, params.Threads, KeyLen)
	defer clear(key)
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, err
	}
	return aead.Seal(hdr, nonce, secret, hdr), nil
}

// ParseIdentity decodes an identity file without opening it.
func ParseIdentity(b []byte) (*IdentityFile, error) {
	r := newReader(b, "identity file")
	r.magic(identityMagic)
	r.version(identityVersion)
	f := &IdentityFile{Suite: r.u16("suite")}
	n := int(r.u16("recipient length"))
	f.Recipient = r.copyN(n, "recipient")
	mode := r.u8("mode")
	if r.err != nil {
		return nil, r.err
	}
	rc, err := ParseRecipientBytes(f.Recipient)
	if err != nil {
		return nil, fmt.Errorf("identity file: %w", err)
	}
	if rc.Suite != f.Suite {
		return nil, malformed("identity file suite %#04x does not match its recipient's %#04x", f.Suite, rc.Suite)
	}
	switch mode {
	case modePlain:
		f.body = r.copyN(SecretLen, "secret")
	case modeArgon2id:
		f.Sealed = true
		f.KDF.Time = r.u32("kdf time")
		f.KDF.MemoryKiB = r.u32("kdf memory")
		f.KDF.Threads = r.u8("kdf threads")
		f.salt = r.copyN(saltLen, "salt")
		f.nonce = r.copyN(chacha20poly1305.NonceSizeX, "nonce")
		f.body = r.copyN(SecretLen+chacha20poly1305.Overhead, "sealed secret")
	default:
		r.fail("has unknown protection mode %d", mode)
	}
	if err := r.end(); err != nil {
		return nil, err
	}
	f.header = b[:len(b)-len(f.body)]
	return f, nil
}

// Open returns the 64-byte secret. For a sealed file it derives the key from
// passphrase after checking the KDF caps.
func (f *IdentityFile) Open(passphrase []byte) ([]byte, error) {
	if !f.Sealed {
		return append([]byte(nil), f.body...), nil
	}
	if err := f.KDF.Check(); err != nil {
		return nil, err
	}
	key := argon2.IDKey(passphrase, f.salt, f.KDF.Time, f.KDF.MemoryKiB, f.KDF.Threads, KeyLen)
	defer clear(key)
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, err
	}
	secret, err := aead.Open(nil, f.nonce, f.body, f.header)
	if err != nil {
		return nil, ErrPassphrase
	}
	return secret, nil
}

// Wipe clears the secret (plain) or sealed secret held by f.
func (f *IdentityFile) Wipe() { clear(f.body) }
