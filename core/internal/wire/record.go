package wire

// Credential record layout (storage key v/<vault>/r/<record id hex>):
//
//	"ALCR" | u8 version=1 | u8 AEAD suite | 16 vault id | 32 record id | u64 epoch
//	| nonce (12 for AES-256-GCM, 24 for XChaCha20-Poly1305) | ciphertext || 16 tag
//
// Associated data = every byte before the ciphertext. Plaintext:
//
//	u8 version=1 | u16 len | name | u32 len | value | i64 modified (Unix ns)
const (
	recordMagic   = "ALCR"
	recordVersion = 1

	AEADAES256GCM         uint8 = 1
	AEADXChaCha20Poly1305 uint8 = 2

	tagLen = 16
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

// Record is a decoded credential record envelope.
type Record struct {
	Suite      uint8
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
	w := writer{b: make([]byte, 0, 62+len(r.Nonce))}
	w.str(recordMagic)
	w.u8(recordVersion)
	w.u8(r.Suite)
	w.raw(r.Vault[:])
	w.raw(r.ID[:])
	w.u64(r.Epoch)
	w.raw(r.Nonce)
	return w.b
}

// ParseRecord decodes a record envelope. The returned slices alias b.
func ParseRecord(b []byte) (*Record, error) {
	r := newReader(b, "credential record")
	r.magic(recordMagic)
	r.version(recordVersion)
	rec := &Record{Suite: r.u8("suite")}
	nl := NonceLen(rec.Suite)
	if r.err == nil && nl == 0 {
		r.fail("has unknown AEAD suite %d", rec.Suite)
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

// RecordPlain is a decoded record plaintext. Name and Value alias the input.
type RecordPlain struct {
	Name     []byte
	Value    []byte
	Modified int64
}

// MarshalRecordPlain encodes the plaintext into a fresh slice.
func MarshalRecordPlain(name string, value []byte, modified int64) []byte {
	w := writer{b: make([]byte, 0, 15+len(name)+len(value))}
	w.u8(recordVersion)
	w.bytes16([]byte(name))
	w.bytes32(value)
	w.u64(uint64(modified))
	return w.b
}

// ParseRecordPlain decodes a plaintext.
func ParseRecordPlain(b []byte) (*RecordPlain, error) {
	r := newReader(b, "credential plaintext")
	r.version(recordVersion)
	p := &RecordPlain{}
	nl := int(r.u16("name length"))
	if r.err == nil && (nl == 0 || nl > MaxNameLen) {
		r.fail("name length %d out of range", nl)
	}
	p.Name = r.take(nl, "name")
	vl := r.u32("value length")
	p.Value = r.take(int(min(vl, 1<<30)), "value")
	p.Modified = int64(r.u64("modified"))
	if err := r.end(); err != nil {
		return nil, err
	}
	return p, nil
}
