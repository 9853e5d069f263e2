package wire

// Key slot layout (storage key v/<vault>/s/<epoch>.<commit16>/<member>):
//
//	"ALSL" | u8 version=1 | u16 KEM suite | 16 vault id | u64 epoch | 16 member id
//	| 32 key commitment | u32 len | HPKE enc || ciphertext
//
// The HPKE info string is Label "slot\x00" || header (every byte before the
// u32 length), so a slot opens only for the vault, epoch, member and key
// commitment it was written for.
const (
	slotMagic   = "ALSL"
	slotVersion = 1
	// MaxHPKECiphertext bounds the sealed part of slots and index entries.
	MaxHPKECiphertext = 4096
)

// Slot is a decoded key slot.
type Slot struct {
	Suite      uint16
	Vault      [IDLen]byte
	Epoch      uint64
	Member     [IDLen]byte
	Commitment [HashLen]byte
	Sealed     []byte
}

// Header returns the bytes bound into the HPKE info.
func (s *Slot) Header() []byte {
	w := writer{}
	w.str(slotMagic)
	w.u8(slotVersion)
	w.u16(s.Suite)
	w.raw(s.Vault[:])
	w.u64(s.Epoch)
	w.raw(s.Member[:])
	w.raw(s.Commitment[:])
	return w.b
}

// Info returns the HPKE info string of the slot.
func (s *Slot) Info() []byte { return append([]byte(Label+"slot\x00"), s.Header()...) }

// Marshal encodes the slot.
func (s *Slot) Marshal() []byte {
	w := writer{b: s.Header()}
	w.bytes32(s.Sealed)
	return w.b
}

// ParseSlot decodes a slot.
func ParseSlot(b []byte) (*Slot, error) {
	r := newReader(b, "key slot")
	r.magic(slotMagic)
	r.version(slotVersion)
	s := &Slot{Suite: r.u16("suite")}
	if r.err == nil && PublicKeyLen(s.Suite) == 0 {
		r.fail("has unknown suite %#04x", s.Suite)
	}
	r.fixed(s.Vault[:], "vault id")
	s.Epoch = r.u64("epoch")
	r.fixed(s.Member[:], "member id")
	r.fixed(s.Commitment[:], "key commitment")
	n := r.u32("sealed length")
	if r.err == nil && (n == 0 || n > MaxHPKECiphertext) {
		r.fail("sealed length %d out of range", n)
	}
	s.Sealed = r.copyN(int(n), "sealed key")
	if err := r.end(); err != nil {
		return nil, err
	}
	return s, nil
}

// SlotPayload is the plaintext of a key slot.
//
//	u8 flags (bit 0: previous key present, bit 1: previous naming key present,
//	only with bit 0) | 32 epoch key | 32 naming key | [32 previous epoch key]
//	| [32 previous naming key]
type SlotPayload struct {
	EpochKey   []byte
	NamingKey  []byte
	PrevKey    []byte // nil if absent
	PrevNaming []byte // nil if absent; only with PrevKey
}

// Marshal encodes the payload into a fresh slice the caller must clear.
func (p *SlotPayload) Marshal() []byte {
	b := make([]byte, 0, 1+4*KeyLen)
	var flags byte
	if p.PrevKey != nil {
		flags |= 1
		if p.PrevNaming != nil {
			flags |= 2
		}
	}
	b = append(b, flags)
	b = append(b, p.EpochKey...)
	b = append(b, p.NamingKey...)
	if p.PrevKey != nil {
		b = append(b, p.PrevKey...)
		if p.PrevNaming != nil {
			b = append(b, p.PrevNaming...)
		}
	}
	return b
}

// ParseSlotPayload decodes a payload; the keys are copies.
func ParseSlotPayload(b []byte) (*SlotPayload, error) {
	r := newReader(b, "key slot payload")
	flags := r.u8("flags")
	if r.err == nil && flags != 0 && flags != 1 && flags != 3 {
		r.fail("has unknown flags %#x", flags)
	}
	p := &SlotPayload{EpochKey: r.copyN(KeyLen, "epoch key"), NamingKey: r.copyN(KeyLen, "naming key")}
	if flags&1 != 0 {
		p.PrevKey = r.copyN(KeyLen, "previous key")
	}
	if flags&2 != 0 {
		p.PrevNaming = r.copyN(KeyLen, "previous naming key")
	}
	if err := r.end(); err != nil {
		p.Wipe()
		return nil, err
	}
	return p, nil
}

// Wipe clears the keys.
func (p *SlotPayload) Wipe() {
	clear(p.EpochKey)
	clear(p.NamingKey)
	clear(p.PrevKey)
	clear(p.PrevNaming)
}
