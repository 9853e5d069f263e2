package wire

// Credential record layout (storage keys v/<vault>/r/<record id hex> and, for
// a quarantined record, v/<vault>/q/<record id hex>):
//
//	version 1: "ALCR" | u8 1 | u8 AEAD suite | 16 vault id | 32 record id | u64 epoch
//	           | nonce | ciphertext || 16 tag
//	version 2: "ALCR" | u8 2 | u8 AEAD suite | u8 kind (1 credential, 2 quarantined, 3 tombstone)
//	           | 16 vault id | 32 record id | u64 epoch | nonce | ciphertext || 16 tag
//
// The nonce is 12 bytes for AES-256-GCM, 24 for XChaCha20-Poly1305.
// Associated data = every byte before the ciphertext. Plaintext:
//
//	version 1: u8 1 | u16 len | name | u32 len | value | i64 modified (Unix ns)
//	version 2: u8 2 | u16 len | name | u32 len | value | i64 modified
//	           | 16 writer member id | 64 Ed25519 signature | zero padding
//
// A version-2 plaintext is padded with zero bytes to PaddedLen of its content.
// The signature is the writer's, over RecordSigMessage.
const (
	recordMagic = "ALCR"

	// RecordV1 and RecordV2 are the record format versions.
	RecordV1 uint8 = 1
	RecordV2 uint8 = 2

	// Record kinds of a version-2 record.
	RecordCredential  uint8 = 1
	RecordQuarantined uint8 = 2
	// RecordTombstone marks a credential deleted during a pending rotation
	// under its new record id, so that the sweep does not carry the old
	// copy forward. Its plaintext is a signed record with an empty value.
	RecordTombstone uint8 = 3

	AEADAES256GCM         uint8 = 1
	AEADXChaCha20Poly1305 uint8 = 2

	tagLen = 16

	// MinPadded is the smallest padded plaintext; MaxPadded the largest
	// (a record blob must fit the store's 1 MiB value limit).
	MinPadded = 256
	padStep   = 64 << 10
	MaxPadded = 1<<20 - 512
)

// NonceLen returns the nonce length of an AEAD suite, 0 if unknown.
func NonceLen(suite uint8) int {
	switch suite {
	case AEADAES256GCM:
		return 12
	case AEADXChaCha20Poly1305:
		return 24
	}
	return 0
}

// PaddedLen returns the bucket a version-2 plaintext of n content bytes is
// padded to: the next power of two from 256 B up to 64 KiB, then the next
// multiple of 64 KiB, at most MaxPadded. It returns -1 above MaxPadded.
func PaddedLen(n int) int {
	if n > MaxPadded {
		return -1
	}
	if n <= padStep {
		p := MinPadded
		for p < n {
			p <<= 1
		}
		return p
	}
	return min((n+padStep-1)/padStep*padStep, MaxPadded)
}

// Record is a decoded credential record envelope.
type Record struct {
	Version    uint8
	Suite      uint8
	Kind       uint8 // RecordCredential for version 1
	Vault      [IDLen]byte
	ID         [RecordIDLen]byte
	Epoch      uint64
	Nonce      []byte
	Ciphertext []byte
	header     []byte
}

// Header returns the associated data (everything before the ciphertext).
func (r *Record) Header() []byte {
	if r.header != nil {
		return r.header
	}
	w := writer{b: make([]byte, 0, 63+len(r.Nonce))}
	w.str(recordMagic)
	w.u8(r.Version)
	w.u8(r.Suite)
	if r.Version >= RecordV2 {
		w.u8(r.Kind)
	}
	w.raw(r.Vault[:])
	w.raw(r.ID[:])
	w.u64(r.Epoch)
	w.raw(r.Nonce)
	return w.b
}

// ParseRecord decodes a record envelope of either version. The returned
// slices alias b.
func ParseRecord(b []byte) (*Record, error) {
	r := newReader(b, "credential record")
	r.magic(recordMagic)
	rec := &Record{Version: r.u8("version"), Kind: RecordCredential}
	if r.err == nil && rec.Version != RecordV1 && rec.Version != RecordV2 {
		r.fail("has unsupported format version %d", rec.Version)
	}
	rec.Suite = r.u8("suite")
	nl := NonceLen(rec.Suite)
	if r.err == nil && nl == 0 {
		r.fail("has unknown AEAD suite %d", rec.Suite)
	}
	if rec.Version == RecordV2 {
		rec.Kind = r.u8("kind")
		if r.err == nil && (rec.Kind < RecordCredential || rec.Kind > RecordTombstone) {
			r.fail("has unknown kind %d", rec.Kind)
		}
	}
	r.fixed(rec.Vault[:], "vault id")
	r.fixed(rec.ID[:], "record id")
	rec.Epoch = r.u64("epoch")
	rec.Nonce = r.take(nl, "nonce")
	if r.err != nil {
		return nil, r.err
	}
	rec.header = b[:r.off:r.off]
	if len(b)-r.off < tagLen {
		return nil, malformed("credential record ciphertext is %d bytes, shorter than the tag", len(b)-r.off)
	}
	rec.Ciphertext = b[r.off:]
	return rec, nil
}

// RecordPlain is a decoded record plaintext. Name, Value and Signature alias
// the input. Writer and Signature are set for version 2 only.
type RecordPlain struct {
	Version   uint8
	Name      []byte
	Value     []byte
	Modified  int64
	Writer    [IDLen]byte
	Signature []byte
}

// MarshalRecordPlain encodes a version-1 plaintext into a fresh slice.
func MarshalRecordPlain(name string, value []byte, modified int64) []byte {
	w := writer{b: make([]byte, 0, 15+len(name)+len(value))}
	w.u8(RecordV1)
	w.bytes16([]byte(name))
	w.bytes32(value)
	w.u64(uint64(modified))
	return w.b
}

// Marshal encodes p as a version-2 plaintext, padded, into a fresh slice the
// caller must clear. It returns nil if the content exceeds MaxPadded.
func (p *RecordPlain) Marshal() []byte {
	n := 1 + 2 + len(p.Name) + 4 + len(p.Value) + 8 + IDLen + Ed25519SigLen
	padded := PaddedLen(n)
	if padded < 0 || len(p.Signature) != Ed25519SigLen {
		return nil
	}
	w := writer{b: make([]byte, 0, padded)}
	w.u8(RecordV2)
	w.bytes16(p.Name)
	w.bytes32(p.Value)
	w.u64(uint64(p.Modified))
	w.raw(p.Writer[:])
	w.raw(p.Signature)
	w.b = w.b[:padded] // capacity is padded; the tail of make is zero
	return w.b
}

// RecordSigMessage is what the writer of a version-2 record signs: the
// vault id and every plaintext field before the signature.
func RecordSigMessage(vault [IDLen]byte, name, value []byte, modified int64, writer [IDLen]byte) []byte {
	w := writerBuf(len(Label) + 64 + len(name) + len(value))
	w.str(Label + "record signature\x00")
	w.raw(vault[:])
	w.bytes16(name)
	w.bytes32(value)
	w.u64(uint64(modified))
	w.raw(writer[:])
	return w.b
}

func writerBuf(n int) *writer { return &writer{b: make([]byte, 0, n)} }

// ParseRecordPlain decodes a plaintext of either version.
func ParseRecordPlain(b []byte) (*RecordPlain, error) {
	r := newReader(b, "credential plaintext")
	p := &RecordPlain{Version: r.u8("version")}
	if r.err == nil && p.Version != RecordV1 && p.Version != RecordV2 {
		r.fail("has unsupported format version %d", p.Version)
	}
	nl := int(r.u16("name length"))
	if r.err == nil && (nl == 0 || nl > MaxNameLen) {
		r.fail("name length %d out of range", nl)
	}
	p.Name = r.take(nl, "name")
	vl := r.u32("value length")
	p.Value = r.take(int(min(vl, 1<<30)), "value")
	p.Modified = int64(r.u64("modified"))
	if p.Version == RecordV2 {
		r.fixed(p.Writer[:], "writer id")
		p.Signature = r.take(Ed25519SigLen, "signature")
		if r.err != nil {
			return nil, r.err
		}
		if want := PaddedLen(r.off); want != len(b) {
			return nil, malformed("credential plaintext is %d bytes, not the padded size %d of its content", len(b), want)
		}
		for _, c := range b[r.off:] {
			if c != 0 {
				return nil, malformed("credential plaintext has non-zero padding")
			}
		}
		r.off = len(b)
	}
	if err := r.end(); err != nil {
		return nil, err
	}
	return p, nil
}
