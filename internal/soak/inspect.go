package soak

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/ALRubinger/aileron-store/sdk"
)

// The checker reads the fixed-offset headers of heads and records straight
// from the store, independently of the core's decoders, per the byte layouts
// of docs/format.md (core/internal/wire):
//
//	head:   "ALHD" | u8 version | 16 vault id | u64 seq | u64 epoch | u64 min epoch
//	        | 32 prev hash | 32 commitment | u8 pending kind | ...
//	record: "ALCR" | u8 version | u8 suite | [version 2: u8 kind] | 16 vault id | 32 record id | u64 epoch | ...
//
// It checks no signature and decrypts nothing: that is the core's job, which
// the checker exercises through core's API. This is a second, independent
// look at what is actually stored.

// RawHead is the fixed-offset prefix of a vault head.
type RawHead struct {
	Seq, Epoch, MinEpoch uint64
	Pending              uint8
}

// ParseRawHead decodes the fixed prefix of a head blob.
func ParseRawHead(b []byte) (RawHead, error) {
	const need = 4 + 1 + 16 + 8 + 8 + 8 + 32 + 32 + 1
	if len(b) < need || string(b[:4]) != "ALHD" {
		return RawHead{}, fmt.Errorf("head blob of %d bytes is not a head", len(b))
	}
	return RawHead{
		Seq:      binary.BigEndian.Uint64(b[21:]),
		Epoch:    binary.BigEndian.Uint64(b[29:]),
		MinEpoch: binary.BigEndian.Uint64(b[37:]),
		Pending:  b[109],
	}, nil
}

// Record kinds of a format-2 record (format 1 has only credentials).
const (
	KindCredential  = 1
	KindQuarantined = 2
	KindTombstone   = 3
)

// RecordEpoch decodes the epoch of a credential record blob and checks that
// it names the vault and record id of its storage key.
func RecordEpoch(key string, b []byte, vaultID string) (uint64, error) {
	ep, _, err := RecordHeader(key, b, vaultID)
	return ep, err
}

// RecordHeader decodes the epoch and kind of a record blob of either format
// and checks that it names the vault and record id of its storage key.
func RecordHeader(key string, b []byte, vaultID string) (epoch uint64, kind int, err error) {
	if len(b) < 5 || string(b[:4]) != "ALCR" {
		return 0, 0, fmt.Errorf("record %q: blob of %d bytes is not a record", key, len(b))
	}
	off, kind := 6, KindCredential
	switch b[4] {
	case 1:
	case 2:
		off = 7
		if len(b) > 6 {
			kind = int(b[6])
		}
	default:
		return 0, 0, fmt.Errorf("record %q: unknown format version %d", key, b[4])
	}
	if len(b) < off+16+32+8 {
		return 0, 0, fmt.Errorf("record %q: blob of %d bytes is not a record", key, len(b))
	}
	if hex.EncodeToString(b[off:off+16]) != vaultID {
		return 0, 0, fmt.Errorf("record %q: blob names vault %x", key, b[off:off+16])
	}
	if !strings.HasSuffix(key, "/"+hex.EncodeToString(b[off+16:off+48])) {
		return 0, 0, fmt.Errorf("record %q: blob names record %x", key, b[off+16:off+48])
	}
	return binary.BigEndian.Uint64(b[off+48:]), kind, nil
}

// Snapshot is what the store holds for one vault.
type Snapshot struct {
	Head        RawHead
	Records     map[string]uint64 // credential record key -> epoch
	Quarantined map[string]uint64 // quarantined record key -> epoch
	Tombstones  map[string]uint64 // tombstone key -> epoch
	SlotEpochs  map[uint64]int    // slot epoch -> number of slots
	HeadLog     int               // entries of the head log
	Keys        int               // every key under the vault's prefix
}

// Inspect lists every key of the vault (id in hex) with its value and decodes
// the headers.
func Inspect(ctx context.Context, st sdk.Store, vaultID string) (*Snapshot, error) {
	prefix := "v/" + vaultID + "/"
	snap := &Snapshot{Records: map[string]uint64{}, Quarantined: map[string]uint64{}, Tombstones: map[string]uint64{}, SlotEpochs: map[uint64]int{}}
	var headSeen bool
	err := sdk.Walk(ctx, st, prefix, true, func(e sdk.Entry) error {
		snap.Keys++
		rest := strings.TrimPrefix(e.Key, prefix)
		switch {
		case rest == "head":
			h, err := ParseRawHead(e.Value)
			if err != nil {
				return err
			}
			snap.Head, headSeen = h, true
		case strings.HasPrefix(rest, "r/"), strings.HasPrefix(rest, "q/"):
			ep, kind, err := RecordHeader(e.Key, e.Value, vaultID)
			if err != nil {
				return err
			}
			switch {
			case strings.HasPrefix(rest, "q/"):
				snap.Quarantined[e.Key] = ep
			case kind == KindTombstone:
				snap.Tombstones[e.Key] = ep
			default:
				snap.Records[e.Key] = ep
			}
		case strings.HasPrefix(rest, "s/"):
			dir, _, _ := strings.Cut(strings.TrimPrefix(rest, "s/"), "/")
			var ep [8]byte
			if len(dir) < 16 {
				return fmt.Errorf("slot key %q has no epoch", e.Key)
			}
			if _, err := hex.Decode(ep[:], []byte(dir[:16])); err != nil {
				return fmt.Errorf("slot key %q: %v", e.Key, err)
			}
			snap.SlotEpochs[binary.BigEndian.Uint64(ep[:])]++
		case strings.HasPrefix(rest, "h/"):
			snap.HeadLog++
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if !headSeen {
		return nil, fmt.Errorf("vault %s has no head", vaultID)
	}
	return snap, nil
}
