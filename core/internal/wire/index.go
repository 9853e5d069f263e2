package wire

// Member index entry layout (storage key m/<member>/<vault>):
//
//	"ALIX" | u8 version=1 | u16 KEM suite | 16 member id | 16 vault id | u32 len | HPKE enc || ciphertext
//
// HPKE info = Label "index\x00" || header; plaintext = u16 len | vault name.
const (
	indexMagic   = "ALIX"
	indexVersion = 1
	// MaxNameLen bounds vault, member and credential names.
	MaxNameLen = 1024
)

// IndexEntry is a decoded member index entry.
type IndexEntry struct {
	Suite  uint16
	Member [IDLen]byte
	Vault  [IDLen]byte
	Sealed []byte
}

// Header returns the bytes bound into the HPKE info.
func (e *IndexEntry) Header() []byte {
	w := writer{}
	w.str(indexMagic)
	w.u8(indexVersion)
	w.u16(e.Suite)
	w.raw(e.Member[:])
	w.raw(e.Vault[:])
	return w.b
}

// Info returns the HPKE info string.
func (e *IndexEntry) Info() []byte { return append([]byte(Label+"index\x00"), e.Header()...) }

// Marshal encodes the entry.
func (e *IndexEntry) Marshal() []byte {
	w := writer{b: e.Header()}
	w.bytes32(e.Sealed)
	return w.b
}

// ParseIndexEntry decodes an entry.
func ParseIndexEntry(b []byte) (*IndexEntry, error) {
	r := newReader(b, "index entry")
	r.magic(indexMagic)
	r.version(indexVersion)
	e := &IndexEntry{Suite: r.u16("suite")}
	if r.err == nil && PublicKeyLen(e.Suite) == 0 {
		r.fail("has unknown suite %#04x", e.Suite)
	}
	r.fixed(e.Member[:], "member id")
	r.fixed(e.Vault[:], "vault id")
	n := r.u32("sealed length")
	if r.err == nil && (n == 0 || n > MaxHPKECiphertext) {
		r.fail("sealed length %d out of range", n)
	}
	e.Sealed = r.copyN(int(n), "sealed name")
	if err := r.end(); err != nil {
		return nil, err
	}
	return e, nil
}

// MarshalName encodes a name as u16 len | bytes.
func MarshalName(name string) []byte {
	w := writer{}
	w.bytes16([]byte(name))
	return w.b
}

// ParseName decodes u16 len | bytes.
func ParseName(b []byte) (string, error) {
	r := newReader(b, "name")
	n := int(r.u16("length"))
	if r.err == nil && (n == 0 || n > MaxNameLen) {
		r.fail("length %d out of range", n)
	}
	s := r.take(n, "bytes")
	if err := r.end(); err != nil {
		return "", err
	}
	return string(s), nil
}
