package wire

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// seeds adds the testdata/core/wire.json vectors of a kind to f's corpus.
func seeds(f *testing.F, kind string) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "..", "testdata", "core", "wire.json"))
	if err != nil {
		f.Fatalf("seed corpus: %v", err)
	}
	var vecs []struct {
		Kind string `json:"kind"`
		Hex  string `json:"hex"`
	}
	if err := json.Unmarshal(raw, &vecs); err != nil {
		f.Fatal(err)
	}
	n := 0
	for _, v := range vecs {
		if v.Kind == kind {
			b, err := hex.DecodeString(v.Hex)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
			n++
		}
	}
	if n == 0 {
		f.Fatalf("no seed vectors for %s", kind)
	}
}

func FuzzIdentity(f *testing.F) {
	seeds(f, "identity")
	f.Fuzz(func(t *testing.T, b []byte) {
		id, err := ParseIdentity(b)
		if err != nil {
			return
		}
		if _, err := ParseRecipientBytes(id.Recipient); err != nil {
			t.Fatalf("parsed identity has a bad recipient: %v", err)
		}
		if id.Sealed && id.KDF.Check() == nil && id.KDF.MemoryKiB <= 1024 && id.KDF.Time <= 2 {
			if _, err := id.Open([]byte("x")); err == nil {
				t.Fatal("a fuzzed sealed identity opened")
			}
		}
	})
}

func FuzzRecipient(f *testing.F) {
	seeds(f, "recipient")
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseRecipientBytes(b)
		if err != nil {
			return
		}
		if !bytes.Equal(r.Marshal(), b) {
			t.Fatal("recipient does not round-trip")
		}
	})
}

func FuzzRecipientString(f *testing.F) {
	seeds(f, "recipient-string")
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseRecipientString(string(b))
		if err != nil {
			return
		}
		r2, err := ParseRecipientString(r.String())
		if err != nil || !bytes.Equal(r2.Marshal(), r.Marshal()) {
			t.Fatalf("recipient string does not round-trip: %v", err)
		}
		if !strings.HasPrefix(r.String(), RecipientPrefix) {
			t.Fatal("no prefix")
		}
	})
}

func FuzzSlot(f *testing.F) {
	seeds(f, "slot")
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseSlot(b)
		if err != nil {
			return
		}
		if !bytes.Equal(s.Marshal(), b) {
			t.Fatal("slot does not round-trip")
		}
	})
}

func FuzzSlotPayload(f *testing.F) {
	seeds(f, "slot-payload")
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParseSlotPayload(b)
		if err != nil {
			return
		}
		if !bytes.Equal(p.Marshal(), b) {
			t.Fatal("slot payload does not round-trip")
		}
	})
}

func FuzzIndexEntry(f *testing.F) {
	seeds(f, "index")
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := ParseIndexEntry(b)
		if err != nil {
			return
		}
		if !bytes.Equal(e.Marshal(), b) {
			t.Fatal("index entry does not round-trip")
		}
	})
}

func FuzzName(f *testing.F) {
	seeds(f, "name")
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := ParseName(b)
		if err != nil {
			return
		}
		if !bytes.Equal(MarshalName(n), b) {
			t.Fatal("name does not round-trip")
		}
	})
}

func FuzzHead(f *testing.F) {
	seeds(f, "head")
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseHead(b)
		if err != nil {
			return
		}
		if !bytes.Equal(h.Marshal(), b) {
			t.Fatal("head does not round-trip")
		}
	})
}

func FuzzMeta(f *testing.F) {
	seeds(f, "meta")
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseMeta(b)
		if err != nil {
			return
		}
		var ids [][IDLen]byte
		for id := range m.Names {
			ids = append(ids, id)
		}
		m2, err := ParseMeta(m.Marshal(ids))
		if err != nil || m2.VaultName != m.VaultName || len(m2.Names) != len(m.Names) {
			t.Fatalf("meta does not round-trip: %v", err)
		}
	})
}

func FuzzRecord(f *testing.F) {
	seeds(f, "record")
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseRecord(b)
		if err != nil {
			return
		}
		if !bytes.Equal(append(append([]byte(nil), r.Header()...), r.Ciphertext...), b) {
			t.Fatal("record does not round-trip")
		}
		r.header = nil // rebuild the header from the fields
		if !bytes.Equal(append(r.Header(), r.Ciphertext...), b) {
			t.Fatal("record header does not rebuild")
		}
	})
}

func FuzzRecordPlain(f *testing.F) {
	seeds(f, "record-plain")
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParseRecordPlain(b)
		if err != nil {
			return
		}
		re := MarshalRecordPlain(string(p.Name), p.Value, p.Modified)
		if p.Version == RecordV2 {
			re = p.Marshal()
		}
		if !bytes.Equal(re, b) {
			t.Fatal("record plaintext does not round-trip")
		}
	})
}

func FuzzPin(f *testing.F) {
	seeds(f, "pin")
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParsePin(b)
		if err != nil {
			return
		}
		if !bytes.Equal(p.Marshal(), b) {
			t.Fatal("pin does not round-trip")
		}
	})
}

// TestDecodeUnknownKind covers the dispatcher's error path.
func TestDecodeUnknownKind(t *testing.T) {
	if err := Decode("nope", nil); err == nil {
		t.Fatal("unknown kind decoded")
	}
}
