package core

import (
	"errors"
	"strings"
	"testing"

	"github.com/ALRubinger/aileron-store/core/internal/wire"
)

var fastKDF = &KDFParams{Time: 1, MemoryKiB: 64, Threads: 1}

func TestIdentityRoundTrip(t *testing.T) {
	for _, suite := range []Suite{SuiteMLKEM768X25519, SuiteX25519} {
		t.Run(suite.String(), func(t *testing.T) {
			id, err := NewIdentity(suite)
			must(t, err)
			for _, pass := range [][]byte{nil, []byte("correct horse")} {
				data, err := MarshalIdentity(id, pass, fastKDF)
				must(t, err)
				sealed, err := IdentityIsSealed(data)
				must(t, err)
				if sealed != (pass != nil) {
					t.Fatalf("sealed = %v for passphrase %v", sealed, pass != nil)
				}
				if pass != nil && strings.Contains(string(data), string(id.secret[:8])) {
					t.Fatal("sealed identity file contains the raw private key")
				}
				called := false
				back, err := ParseIdentity(data, func() ([]byte, error) { called = true; return []byte("correct horse"), nil })
				must(t, err)
				if called != (pass != nil) {
					t.Fatalf("passphrase callback called=%v for sealed=%v", called, pass != nil)
				}
				if !back.Recipient().Equal(id.Recipient()) || back.Suite() != suite {
					t.Fatal("parsed identity has other keys")
				}
				r, err := IdentityRecipient(data)
				must(t, err)
				if !r.Equal(id.Recipient()) {
					t.Fatal("IdentityRecipient differs")
				}
			}
			// Recipient string round trip, fingerprint and id.
			s := id.Recipient().String()
			if !strings.HasPrefix(s, "aileron1") || strings.ToLower(s) != s {
				t.Fatalf("recipient string %.20q...", s)
			}
			r, err := ParseRecipient(s)
			must(t, err)
			if !r.Equal(id.Recipient()) || r.Fingerprint() != id.Recipient().Fingerprint() || r.ID() != id.Recipient().ID() {
				t.Fatal("parsed recipient differs")
			}
			if len(r.Fingerprint()) != 19 || len(r.ID()) != 32 {
				t.Fatalf("fingerprint %q id %q", r.Fingerprint(), r.ID())
			}
			// A typo is caught by the checksum.
			b := []byte(s)
			i := len(b) / 2
			if b[i] == 'a' {
				b[i] = 'b'
			} else {
				b[i] = 'a'
			}
			if _, err := ParseRecipient(string(b)); err == nil || !strings.Contains(err.Error(), "checksum") {
				t.Fatalf("mistyped recipient: %v", err)
			}
			if _, err := ParseRecipient(s[:len(s)-3]); err == nil {
				t.Fatal("truncated recipient parsed")
			}
		})
	}
}

func TestIdentityWrongPassphrase(t *testing.T) {
	id := testIdentity(t, "bob")
	data, err := MarshalIdentity(id, []byte("right"), fastKDF)
	must(t, err)
	_, err = ParseIdentity(data, func() ([]byte, error) { return []byte("wrong"), nil })
	if !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("wrong passphrase: %v", err)
	}
	if strings.Contains(err.Error(), "wrong\"") || strings.Contains(err.Error(), "right") {
		t.Fatalf("error leaks the passphrase: %v", err)
	}
	if _, err := ParseIdentity(data, nil); err == nil {
		t.Fatal("sealed identity opened without a passphrase")
	}
	boom := errors.New("no tty")
	if _, err := ParseIdentity(data, func() ([]byte, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Fatalf("passphrase callback error: %v", err)
	}
}

func TestIdentityDefaultKDF(t *testing.T) {
	if testing.Short() {
		t.Skip("64 MiB Argon2id")
	}
	id := testIdentity(t, "bob")
	data, err := MarshalIdentity(id, []byte("pw"), nil)
	must(t, err)
	if _, err := ParseIdentity(data, func() ([]byte, error) { return []byte("pw"), nil }); err != nil {
		t.Fatal(err)
	}
}

// TestIdentityKDFCaps: a file demanding more work than the caps is refused
// before any work, with an error that says so.
func TestIdentityKDFCaps(t *testing.T) {
	id := testIdentity(t, "bob")
	data, err := MarshalIdentity(id, []byte("pw"), fastKDF)
	must(t, err)
	// The KDF fields follow magic(4) version(1) suite(2) len(2) recipient mode(1).
	off := 4 + 1 + 2 + 2 + len(id.rcpt.bin) + 1
	cases := map[string]func(b []byte){
		"time":    func(b []byte) { b[off], b[off+1], b[off+2], b[off+3] = 0, 0, 0, 11 },
		"memory":  func(b []byte) { b[off+4], b[off+5], b[off+6], b[off+7] = 0, 0x10, 0, 1 },
		"threads": func(b []byte) { b[off+8] = 17 },
		// Within the caps of format v1, above today's.
		"memory-v1":  func(b []byte) { b[off+4], b[off+5], b[off+6], b[off+7] = 0, 0x04, 0, 1 }, // 256 MiB + 1 KiB
		"threads-v1": func(b []byte) { b[off+8] = 9 },
		"work":       func(b []byte) { b[off+3], b[off+4], b[off+5], b[off+6], b[off+7] = 5, 0, 0x04, 0, 0 }, // t=5 at 256 MiB
		"zero":       func(b []byte) { b[off], b[off+1], b[off+2], b[off+3] = 0, 0, 0, 0 },
	}
	for name, mut := range cases {
		b := append([]byte(nil), data...)
		mut(b)
		called := false
		_, err := ParseIdentity(b, func() ([]byte, error) { called = true; return []byte("pw"), nil })
		if err == nil || !strings.Contains(err.Error(), "KDF parameters") || called {
			t.Fatalf("%s above cap: err=%v, passphrase asked=%v", name, err, called)
		}
	}
	if _, err := MarshalIdentity(id, []byte("pw"), &KDFParams{Time: 100, MemoryKiB: 64, Threads: 1}); err == nil {
		t.Fatal("marshal accepted params above the caps")
	}
	// The largest accepted file: most memory, most passes the work cap allows.
	// (Checked without running the KDF: BenchmarkParseIdentityAtCaps does.)
	if err := (wire.KDFParams{Time: 4, MemoryKiB: 256 << 10, Threads: 8}).Check(); err != nil {
		t.Fatalf("params at the caps refused: %v", err)
	}
}

func TestWipedIdentity(t *testing.T) {
	id, err := NewIdentity(SuiteX25519)
	must(t, err)
	id.Wipe()
	for _, b := range id.secret {
		if b != 0 {
			t.Fatal("secret not cleared")
		}
	}
	if _, err := MarshalIdentity(id, nil, nil); err == nil {
		t.Fatal("marshal of a wiped identity succeeded")
	}
}
