package wire

import (
	"bytes"
	"crypto/sha256"
)

// Vault head layout (storage keys v/<vault>/head and v/<vault>/h/<seq>):
//
//	"ALHD" | u8 version=1 | 16 vault id | u64 seq | u64 epoch | u64 min epoch
//	| 32 previous head hash | 32 key commitment
//	| u8 pending kind (0 none, 1 rotate, 2 revoke)
//	  [kind != 0: u64 old epoch | u8 phase (1 sweep, 2 cleanup) | u16 n | n x 16 revoked member ids]
//	| u16 member count | members sorted by id: 16 member id | u8 role | u16 len | canonical recipient
//	| u32 len | sealed metadata
//	| [version 2: i64 time (Unix ns, the signer's clock)]
//	| 16 signer id | 64 Ed25519 signature
//
// The signature covers Label "head\x00" || every byte before it. The head hash
// is SHA-256 of the whole encoding.
const (
	headMagic = "ALHD"
	// HeadV1 and HeadV2 are the head format versions; a vault's format
	// version is its head's.
	HeadV1 uint8 = 1
	HeadV2 uint8 = 2
	// MaxMembers bounds the member list.
	MaxMembers = 512
	// MaxMetaLen bounds the sealed metadata.
	MaxMetaLen = 256 << 10
)

// Roles.
const (
	RoleMember uint8 = 1
	RoleAdmin  uint8 = 2
)

// Pending kinds and phases.
const (
	PendingNone   uint8 = 0
	PendingRotate uint8 = 1
	PendingRevoke uint8 = 2

	PhaseSweep   uint8 = 1
	PhaseCleanup uint8 = 2
)

// HeadMember is one member entry of a head.
type HeadMember struct {
	ID        [IDLen]byte
	Role      uint8
	Recipient []byte // canonical encoding
}

// Pending describes an in-flight rotation.
type Pending struct {
	Kind     uint8
	OldEpoch uint64
	Phase    uint8
	Revoked  [][IDLen]byte
}

// Head is a decoded vault head.
type Head struct {
	Version    uint8 // HeadV1 or HeadV2
	Vault      [IDLen]byte
	Seq        uint64
	Epoch      uint64
	MinEpoch   uint64
	Prev       [HashLen]byte
	Commitment [HashLen]byte
	Pending    Pending
	Members    []HeadMember
	Meta       []byte
	Time       int64 // version 2: signed time, Unix ns
	Signer     [IDLen]byte
	Signature  []byte
}

// SignedBytes returns the encoding up to (excluding) the signature.
func (h *Head) SignedBytes() []byte {
	w := writer{}
	w.str(headMagic)
	w.u8(h.Version)
	w.raw(h.Vault[:])
	w.u64(h.Seq)
	w.u64(h.Epoch)
	w.u64(h.MinEpoch)
	w.raw(h.Prev[:])
	w.raw(h.Commitment[:])
	w.u8(h.Pending.Kind)
	if h.Pending.Kind != PendingNone {
		w.u64(h.Pending.OldEpoch)
		w.u8(h.Pending.Phase)
		w.u16(uint16(len(h.Pending.Revoked)))
		for _, id := range h.Pending.Revoked {
			w.raw(id[:])
		}
	}
	w.u16(uint16(len(h.Members)))
	for _, m := range h.Members {
		w.raw(m.ID[:])
		w.u8(m.Role)
		w.bytes16(m.Recipient)
	}
	w.bytes32(h.Meta)
	if h.Version >= HeadV2 {
		w.u64(uint64(h.Time))
	}
	w.raw(h.Signer[:])
	return w.b
}

// SignatureMessage is what the signer signs.
func (h *Head) SignatureMessage() []byte {
	return append([]byte(Label+"head\x00"), h.SignedBytes()...)
}

// Marshal encodes the head including its signature.
func (h *Head) Marshal() []byte { return append(h.SignedBytes(), h.Signature...) }

// HeadHash is SHA-256 of an encoded head.
func HeadHash(b []byte) [HashLen]byte { return sha256.Sum256(b) }

// ParseHead decodes a head and checks its structure (not its signature).
func ParseHead(b []byte) (*Head, error) {
	r := newReader(b, "vault head")
	r.magic(headMagic)
	h := &Head{Version: r.u8("version")}
	if r.err == nil && h.Version != HeadV1 && h.Version != HeadV2 {
		r.fail("has unsupported format version %d", h.Version)
	}
	r.fixed(h.Vault[:], "vault id")
	h.Seq = r.u64("seq")
	h.Epoch = r.u64("epoch")
	h.MinEpoch = r.u64("min epoch")
	r.fixed(h.Prev[:], "previous hash")
	r.fixed(h.Commitment[:], "key commitment")
	h.Pending.Kind = r.u8("pending kind")
	switch h.Pending.Kind {
	case PendingNone:
	case PendingRotate, PendingRevoke:
		h.Pending.OldEpoch = r.u64("pending old epoch")
		h.Pending.Phase = r.u8("pending phase")
		if r.err == nil && h.Pending.Phase != PhaseSweep && h.Pending.Phase != PhaseCleanup {
			r.fail("has unknown pending phase %d", h.Pending.Phase)
		}
		n := int(r.u16("revoked count"))
		if r.err == nil && n > MaxMembers {
			r.fail("revokes %d members, more than %d", n, MaxMembers)
		}
		for i := 0; i < n && r.err == nil; i++ {
			var id [IDLen]byte
			r.fixed(id[:], "revoked id")
			h.Pending.Revoked = append(h.Pending.Revoked, id)
		}
		if r.err == nil && h.Pending.OldEpoch >= h.Epoch {
			r.fail("pending old epoch %d is not below epoch %d", h.Pending.OldEpoch, h.Epoch)
		}
	default:
		r.fail("has unknown pending kind %d", h.Pending.Kind)
	}
	n := int(r.u16("member count"))
	if r.err == nil && (n == 0 || n > MaxMembers) {
		r.fail("has %d members (allowed 1..%d)", n, MaxMembers)
	}
	for i := 0; i < n && r.err == nil; i++ {
		var m HeadMember
		r.fixed(m.ID[:], "member id")
		m.Role = r.u8("member role")
		rl := int(r.u16("recipient length"))
		m.Recipient = r.copyN(rl, "member recipient")
		if r.err != nil {
			break
		}
		if m.Role != RoleMember && m.Role != RoleAdmin {
			r.fail("member %d has unknown role %d", i, m.Role)
		} else if _, err := ParseRecipientBytes(m.Recipient); err != nil {
			r.fail("member %d: %v", i, err)
		} else if MemberID(m.Recipient) != m.ID {
			r.fail("member %d id does not match its keys", i)
		} else if i > 0 && bytes.Compare(h.Members[i-1].ID[:], m.ID[:]) >= 0 {
			r.fail("members are not sorted and unique")
		}
		h.Members = append(h.Members, m)
	}
	ml := r.u32("metadata length")
	if r.err == nil && ml > MaxMetaLen {
		r.fail("metadata is %d bytes, more than %d", ml, MaxMetaLen)
	}
	h.Meta = r.copyN(int(ml), "metadata")
	if h.Version >= HeadV2 {
		h.Time = int64(r.u64("time"))
	}
	r.fixed(h.Signer[:], "signer id")
	h.Signature = r.copyN(Ed25519SigLen, "signature")
	if r.err == nil && h.MinEpoch > h.Epoch {
		r.fail("min epoch %d above epoch %d", h.MinEpoch, h.Epoch)
	}
	if err := r.end(); err != nil {
		return nil, err
	}
	return h, nil
}

// Member returns the member with id, or nil.
func (h *Head) Member(id [IDLen]byte) *HeadMember {
	for i := range h.Members {
		if h.Members[i].ID == id {
			return &h.Members[i]
		}
	}
	return nil
}

// Meta is the plaintext of a head's sealed metadata:
//
//	u8 version=1 | u16 len | vault name | u16 n | n x (16 member id | u16 len | member name)
type Meta struct {
	VaultName string
	Names     map[[IDLen]byte]string
}

const metaVersion = 1

// Marshal encodes the metadata with member names in id order of ids.
func (m *Meta) Marshal(ids [][IDLen]byte) []byte {
	w := writer{}
	w.u8(metaVersion)
	w.bytes16([]byte(m.VaultName))
	w.u16(uint16(len(ids)))
	for _, id := range ids {
		w.raw(id[:])
		w.bytes16([]byte(m.Names[id]))
	}
	return w.b
}

// ParseMeta decodes metadata.
func ParseMeta(b []byte) (*Meta, error) {
	r := newReader(b, "head metadata")
	r.version(metaVersion)
	m := &Meta{Names: map[[IDLen]byte]string{}}
	vl := int(r.u16("vault name length"))
	if r.err == nil && (vl == 0 || vl > MaxNameLen) {
		r.fail("vault name length %d out of range", vl)
	}
	m.VaultName = string(r.take(vl, "vault name"))
	n := int(r.u16("member count"))
	if r.err == nil && n > MaxMembers {
		r.fail("names %d members", n)
	}
	for i := 0; i < n && r.err == nil; i++ {
		var id [IDLen]byte
		r.fixed(id[:], "member id")
		l := int(r.u16("member name length"))
		if r.err == nil && (l == 0 || l > MaxNameLen) {
			r.fail("member name length %d out of range", l)
		}
		name := string(r.take(l, "member name"))
		if _, dup := m.Names[id]; dup && r.err == nil {
			r.fail("names member %x twice", id)
		}
		m.Names[id] = name
	}
	if err := r.end(); err != nil {
		return nil, err
	}
	return m, nil
}
