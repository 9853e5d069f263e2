package s3

import (
	"bytes"
	"testing"
)

// FuzzObjectBody: any object body (written by another program, or a bucket
// that lies) decodes as a value, a tombstone or corrupt, never panics, and
// encodeValue/decode round-trips.
func FuzzObjectBody(f *testing.F) {
	v, _ := encodeValue([]byte("value"))
	tomb, _ := encodeTombstone()
	f.Add(v)
	f.Add(tomb)
	f.Add(tomb[:10])
	f.Add(append(append([]byte(nil), tomb...), 0))
	f.Add([]byte("aS3"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		kind, val := decode(b)
		switch kind {
		case objValue:
			if len(b) < headerLen || string(b[:3]) != "aS3" || b[3] != kindValue || !bytes.Equal(val, b[headerLen:]) {
				t.Fatalf("decode(%x) = value %x", b, val)
			}
		case objTombstone:
			if len(b) != tombstoneLen || b[3] != kindTomb || val != nil {
				t.Fatalf("decode(%x) = tombstone", b)
			}
		case objCorrupt:
			if val != nil {
				t.Fatalf("decode(%x) = corrupt with a value", b)
			}
		default:
			t.Fatalf("decode(%x): unknown kind %d", b, kind)
		}
		enc, err := encodeValue(b)
		if err != nil {
			t.Fatal(err)
		}
		if k, got := decode(enc); k != objValue || !bytes.Equal(got, b) {
			t.Fatalf("round trip of %x: kind %d value %x", b, k, got)
		}
	})
}
