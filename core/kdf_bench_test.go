package core

import (
	"testing"

	"github.com/ALRubinger/aileron-store/core/internal/wire"
)

// BenchmarkParseIdentityAtCaps measures one passphrase attempt against an
// identity file whose Argon2id parameters are at the read caps: the most
// work an attacker-crafted file can demand of a host (serve runs one at a
// time). Run it with -benchtime=1x -benchmem; docs/operator.md quotes the
// figures.
func BenchmarkParseIdentityAtCaps(b *testing.B) {
	// The most memory, and as many passes over it as the work cap allows.
	caps := &KDFParams{Time: wire.MaxWorkKiB / wire.MaxMemoryKiB, MemoryKiB: wire.MaxMemoryKiB, Threads: wire.MaxThreads}
	benchParseIdentity(b, caps)
}

// BenchmarkParseIdentityDefault is the same attempt at the default
// parameters of new files (t=3, 64 MiB, p=4).
func BenchmarkParseIdentityDefault(b *testing.B) { benchParseIdentity(b, nil) }

func benchParseIdentity(b *testing.B, p *KDFParams) {
	id, err := NewIdentity(SuiteX25519)
	if err != nil {
		b.Fatal(err)
	}
	data, err := MarshalIdentity(id, []byte("pw"), p)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// A wrong passphrase costs the full derivation, as an attacker's
		// guess does.
		if _, err := ParseIdentity(data, func() ([]byte, error) { return []byte("guess"), nil }); err == nil {
			b.Fatal("wrong passphrase accepted")
		}
	}
}
