package wire

// Rollback pin layout (local file <state dir>/pins/<vault id hex>):
//
//	"ALPN" | u8 version=1 | 16 vault id | u64 seq | 32 head hash | u32 len | head encoding
const (
	pinMagic   = "ALPN"
	pinVersion = 1
)

// Pin is the highest verified head a host has seen of a vault.
type Pin struct {
	Vault [IDLen]byte
	Seq   uint64
	Hash  [HashLen]byte
	Head  []byte
}

// Marshal encodes the pin.
func (p *Pin) Marshal() []byte {
	w := writer{}
	w.str(pinMagic)
	w.u8(pinVersion)
	w.raw(p.Vault[:])
	w.u64(p.Seq)
	w.raw(p.Hash[:])
	w.bytes32(p.Head)
	return w.b
}

// ParsePin decodes a pin and checks that the embedded head matches it.
func ParsePin(b []byte) (*Pin, error) {
	r := newReader(b, "rollback pin")
	r.magic(pinMagic)
	r.version(pinVersion)
	p := &Pin{}
	r.fixed(p.Vault[:], "vault id")
	p.Seq = r.u64("seq")
	r.fixed(p.Hash[:], "head hash")
	n := r.u32("head length")
	if r.err == nil && n > 2<<20 {
		r.fail("head length %d too large", n)
	}
	p.Head = r.copyN(int(n), "head")
	if err := r.end(); err != nil {
		return nil, err
	}
	h, err := ParseHead(p.Head)
	if err != nil {
		return nil, err
	}
	if h.Vault != p.Vault || h.Seq != p.Seq || HeadHash(p.Head) != p.Hash {
		return nil, malformed("rollback pin does not match its head")
	}
	return p, nil
}
