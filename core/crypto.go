package core

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/hpke"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"

	"github.com/ALRubinger/aileron-store/core/internal/wire"
	"golang.org/x/crypto/chacha20poly1305"
)

// KDF and domain-separation labels (docs/format.md lists them all).
const (
	labelCommit   = wire.Label + "key commitment\x00"
	labelRecordID = wire.Label + "record id\x00"
	labelRecord   = wire.Label + "record key"
	labelMeta     = wire.Label + "head meta"
)

// HPKE cipher suite parts shared by slots and index entries.
var (
	hpkeKDF  = hpke.HKDFSHA256()
	hpkeAEAD = hpke.AES256GCM()
)

func randomKey() []byte {
	k := make([]byte, wire.KeyLen)
	rand.Read(k)
	return k
}

func randomID() (id [wire.IDLen]byte) {
	rand.Read(id[:])
	return id
}

// commitment = SHA-256(label || vault id || u64 epoch || epoch key || naming key).
func commitment(vault [wire.IDLen]byte, epoch uint64, epochKey, namingKey []byte) (c [wire.HashLen]byte) {
	h := sha256.New()
	h.Write([]byte(labelCommit))
	h.Write(vault[:])
	h.Write(binary.BigEndian.AppendUint64(nil, epoch))
	h.Write(epochKey)
	h.Write(namingKey)
	h.Sum(c[:0])
	return c
}

// recordID = HMAC-SHA-256(naming key, label || name).
func recordID(namingKey []byte, name string) (id [wire.RecordIDLen]byte) {
	m := hmac.New(sha256.New, namingKey)
	m.Write([]byte(labelRecordID))
	m.Write([]byte(name))
	m.Sum(id[:0])
	return id
}

// epochKey holds one epoch's key and the ciphers derived from it.
type epochKey struct {
	// mu guards key and naming against wipe while a caller uses them.
	mu     sync.RWMutex
	wiped  bool
	epoch  uint64
	key    []byte
	naming []byte      // the epoch's naming key (one per vault in format 1)
	aes    cipher.AEAD // records, suite 1
	xc     cipher.AEAD // records, suite 2
	meta   cipher.AEAD // head metadata
}

// deriveKey = HKDF-SHA-256(ikm=epoch key, salt=vault id, info=label [|| suite]).
func deriveKey(key []byte, vault [wire.IDLen]byte, info string) ([]byte, error) {
	return hkdf.Key(sha256.New, key, vault[:], info, wire.KeyLen)
}

func newEpochKey(vault [wire.IDLen]byte, epoch uint64, key, naming []byte) (*epochKey, error) {
	ek := &epochKey{epoch: epoch, key: append([]byte(nil), key...), naming: append([]byte(nil), naming...)}
	k1, err := deriveKey(key, vault, labelRecord+"\x01")
	if err != nil {
		return nil, err
	}
	defer clear(k1)
	k2, err := deriveKey(key, vault, labelRecord+"\x02")
	if err != nil {
		return nil, err
	}
	defer clear(k2)
	k3, err := deriveKey(key, vault, labelMeta)
	if err != nil {
		return nil, err
	}
	defer clear(k3)
	if ek.aes, err = newGCM(k1); err != nil {
		return nil, err
	}
	if ek.xc, err = chacha20poly1305.NewX(k2); err != nil {
		return nil, err
	}
	if ek.meta, err = newGCM(k3); err != nil {
		return nil, err
	}
	return ek, nil
}

func newGCM(k []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(k)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

func (k *epochKey) wipe() {
	if k != nil {
		k.mu.Lock()
		k.wiped = true
		clear(k.key)
		clear(k.naming)
		k.mu.Unlock()
	}
}

// errKeyWiped: the session's keys were wiped (the vault moved to a new epoch
// or was locked) while a caller was about to use them: read the head again.
var errKeyWiped = errors.New("the session's keys were replaced")

// rid returns the record id of name under the epoch's naming key.
func (k *epochKey) rid(name string) ([wire.RecordIDLen]byte, error) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	if k.wiped {
		return [wire.RecordIDLen]byte{}, errKeyWiped
	}
	return recordID(k.naming, name), nil
}

// use calls fn with the raw epoch and naming keys, unless they were wiped.
func (k *epochKey) use(fn func(key, naming []byte) error) error {
	k.mu.RLock()
	defer k.mu.RUnlock()
	if k.wiped {
		return errKeyWiped
	}
	return fn(k.key, k.naming)
}

func (k *epochKey) aead(suite uint8) cipher.AEAD {
	if suite == wire.AEADXChaCha20Poly1305 {
		return k.xc
	}
	return k.aes
}

// sealRecord encrypts one credential record of the plaintext's version
// (kind is ignored for version 1).
func sealRecord(k *epochKey, suite, version, kind uint8, vault [wire.IDLen]byte, rid [wire.RecordIDLen]byte, plain []byte) []byte {
	if version == wire.RecordV1 {
		kind = wire.RecordCredential
	}
	rec := wire.Record{Version: version, Suite: suite, Kind: kind, Vault: vault, ID: rid, Epoch: k.epoch, Nonce: make([]byte, wire.NonceLen(suite))}
	rand.Read(rec.Nonce)
	hdr := rec.Header()
	a := k.aead(suite)
	out := make([]byte, len(hdr), len(hdr)+len(plain)+a.Overhead())
	copy(out, hdr)
	return a.Seal(out, rec.Nonce, plain, hdr)
}

// openRecord authenticates and decrypts a record envelope into a fresh
// plaintext the caller must clear.
func openRecord(k *epochKey, rec *wire.Record) ([]byte, error) {
	return k.aead(rec.Suite).Open(nil, rec.Nonce, rec.Ciphertext, rec.Header())
}

// metaAD = label || vault id || u64 seq || u64 epoch.
func metaAD(vault [wire.IDLen]byte, seq, epoch uint64) []byte {
	b := append([]byte(labelMeta), vault[:]...)
	b = binary.BigEndian.AppendUint64(b, seq)
	return binary.BigEndian.AppendUint64(b, epoch)
}

func sealMeta(k *epochKey, vault [wire.IDLen]byte, seq uint64, plain []byte) []byte {
	nonce := make([]byte, 12, 12+len(plain)+16)
	rand.Read(nonce)
	return k.meta.Seal(nonce, nonce, plain, metaAD(vault, seq, k.epoch))
}

func openMeta(k *epochKey, vault [wire.IDLen]byte, seq uint64, sealed []byte) (*wire.Meta, error) {
	if len(sealed) < 12+16 {
		return nil, fmt.Errorf("metadata is %d bytes, too short", len(sealed))
	}
	plain, err := k.meta.Open(nil, sealed[:12], sealed[12:], metaAD(vault, seq, k.epoch))
	if err != nil {
		return nil, fmt.Errorf("metadata does not authenticate")
	}
	return wire.ParseMeta(plain)
}

// sealSlot seals an epoch's keys to a recipient.
func sealSlot(r *Recipient, vault [wire.IDLen]byte, epoch uint64, commit [wire.HashLen]byte, p *wire.SlotPayload) ([]byte, error) {
	pub, err := r.publicKey()
	if err != nil {
		return nil, err
	}
	s := wire.Slot{Suite: r.w.Suite, Vault: vault, Epoch: epoch, Member: r.id, Commitment: commit}
	plain := p.Marshal()
	defer clear(plain)
	if s.Sealed, err = hpke.Seal(pub, hpkeKDF, hpkeAEAD, s.Info(), plain); err != nil {
		return nil, fmt.Errorf("core: sealing key slot: %w", err)
	}
	return s.Marshal(), nil
}

// openSlot decodes and opens a slot written for (vault, epoch, member, commit).
func openSlot(id *Identity, key string, data []byte, vault [wire.IDLen]byte, epoch uint64, commit [wire.HashLen]byte) (*wire.SlotPayload, error) {
	s, err := wire.ParseSlot(data)
	if err != nil {
		return nil, tampered(kindSlot, key, err)
	}
	if s.Vault != vault || s.Epoch != epoch || s.Member != id.rcpt.id || s.Commitment != commit || s.Suite != uint16(id.suite) {
		return nil, tamperedf(kindSlot, key, "header names another vault, epoch, member or key")
	}
	plain, err := hpke.Open(id.hpke, hpkeKDF, hpkeAEAD, s.Info(), s.Sealed)
	if err != nil {
		return nil, tamperedf(kindSlot, key, "does not open with this identity")
	}
	defer clear(plain)
	p, err := wire.ParseSlotPayload(plain)
	if err != nil {
		return nil, tampered(kindSlot, key, err)
	}
	if commitment(vault, epoch, p.EpochKey, p.NamingKey) != commit {
		p.Wipe()
		return nil, tamperedf(kindSlot, key, "key does not match the head's key commitment")
	}
	return p, nil
}

func sealIndex(r *Recipient, vault [wire.IDLen]byte, vaultName string) ([]byte, error) {
	pub, err := r.publicKey()
	if err != nil {
		return nil, err
	}
	e := wire.IndexEntry{Suite: r.w.Suite, Member: r.id, Vault: vault}
	if e.Sealed, err = hpke.Seal(pub, hpkeKDF, hpkeAEAD, e.Info(), wire.MarshalName(vaultName)); err != nil {
		return nil, fmt.Errorf("core: sealing index entry: %w", err)
	}
	return e.Marshal(), nil
}

func openIndex(id *Identity, key string, data []byte) ([wire.IDLen]byte, string, error) {
	e, err := wire.ParseIndexEntry(data)
	if err != nil {
		return e0, "", tampered(kindIndex, key, err)
	}
	if e.Member != id.rcpt.id || e.Suite != uint16(id.suite) || indexKey(hex.EncodeToString(e.Member[:]), e.Vault) != key {
		return e0, "", tamperedf(kindIndex, key, "header names another member or vault")
	}
	plain, err := hpke.Open(id.hpke, hpkeKDF, hpkeAEAD, e.Info(), e.Sealed)
	if err != nil {
		return e0, "", tamperedf(kindIndex, key, "does not open with this identity")
	}
	name, err := wire.ParseName(plain)
	if err != nil {
		return e0, "", tampered(kindIndex, key, err)
	}
	return e.Vault, name, nil
}

var e0 [wire.IDLen]byte
