package core

import (
	"errors"
	"testing"
)

// FuzzParseRecipient: the public recipient parser never panics and what it
// accepts round-trips.
func FuzzParseRecipient(f *testing.F) {
	f.Add(testIdentity(f, "alice").Recipient().String())
	f.Add(testIdentity(f, "bob").Recipient().String())
	f.Add("aileron1")
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRecipient(s)
		if err != nil {
			return
		}
		r2, err := ParseRecipient(r.String())
		if err != nil || !r2.Equal(r) || r2.ID() != r.ID() {
			t.Fatalf("recipient does not round-trip: %v", err)
		}
	})
}

// FuzzParseIdentity: the public identity parser never panics; for sealed
// files it stops at the passphrase callback (no KDF work on fuzzed input).
func FuzzParseIdentity(f *testing.F) {
	for _, pass := range [][]byte{nil, []byte("pw")} {
		b, err := MarshalIdentity(testIdentity(f, "bob"), pass, fastKDF)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	stop := errors.New("stop")
	f.Fuzz(func(t *testing.T, b []byte) {
		id, err := ParseIdentity(b, func() ([]byte, error) { return nil, stop })
		if err != nil {
			return
		}
		data, err := MarshalIdentity(id, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		id2, err := ParseIdentity(data, nil)
		if err != nil || !id2.Recipient().Equal(id.Recipient()) {
			t.Fatalf("identity does not round-trip: %v", err)
		}
	})
}
