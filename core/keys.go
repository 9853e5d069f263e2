package core

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/ALRubinger/aileron-store/core/internal/wire"
)

// The storage-key layout (docs/format.md section 5) and its parsers. No key
// contains a vault, member or credential name, only random or derived ids.
//
//	v/<vault>/head                       current vault head
//	v/<vault>/h/<seq>                    head log
//	v/<vault>/s/<epoch>.<commit>/<member> key slot
//	v/<vault>/r/<record id>              credential record
//	v/<vault>/q/<record id>              quarantined record (format 2)
//	m/<member>/<vault>                   member index entry

func vaultPrefix(v [wire.IDLen]byte) string { return "v/" + hex.EncodeToString(v[:]) + "/" }
func headKey(v [wire.IDLen]byte) string     { return vaultPrefix(v) + "head" }
func logKey(v [wire.IDLen]byte, seq uint64) string {
	return fmt.Sprintf("%sh/%016x", vaultPrefix(v), seq)
}
func slotPrefix(v [wire.IDLen]byte) string { return vaultPrefix(v) + "s/" }
func slotDir(epoch uint64, c [wire.HashLen]byte) string {
	return fmt.Sprintf("%016x.%s", epoch, hex.EncodeToString(c[:8]))
}
func slotKey(v [wire.IDLen]byte, epoch uint64, c [wire.HashLen]byte, member [wire.IDLen]byte) string {
	return slotPrefix(v) + slotDir(epoch, c) + "/" + hex.EncodeToString(member[:])
}
func recordPrefix(v [wire.IDLen]byte) string     { return vaultPrefix(v) + "r/" }
func quarantinePrefix(v [wire.IDLen]byte) string { return vaultPrefix(v) + "q/" }
func recordKey(v [wire.IDLen]byte, rid [wire.RecordIDLen]byte) string {
	return recordPrefix(v) + hex.EncodeToString(rid[:])
}
func indexPrefix(member string) string { return "m/" + member + "/" }
func indexKey(member string, v [wire.IDLen]byte) string {
	return indexPrefix(member) + hex.EncodeToString(v[:])
}

// idKey returns prefix followed by the record id in hex.
func idKey(prefix string, rid [wire.RecordIDLen]byte) string {
	var buf [2 * wire.RecordIDLen]byte
	hex.Encode(buf[:], rid[:])
	return prefix + string(buf[:])
}

// parseIDKey parses prefix followed by a record id in hex.
func parseIDKey(prefix, key string) (rid [wire.RecordIDLen]byte, ok bool) {
	if len(key) != len(prefix)+2*wire.RecordIDLen || key[:len(prefix)] != prefix {
		return rid, false
	}
	n, err := hex.Decode(rid[:], []byte(key[len(prefix):]))
	return rid, err == nil && n == wire.RecordIDLen
}

// parseSlotEpoch returns the epoch of a slot key under prefix (slotPrefix).
func parseSlotEpoch(prefix, key string) (dir string, epoch uint64, ok bool) {
	dir, _, _ = strings.Cut(strings.TrimPrefix(key, prefix), "/")
	if len(dir) < 16 {
		return dir, 0, false
	}
	var ep [8]byte
	if n, err := hex.Decode(ep[:], []byte(dir[:16])); err != nil || n != 8 {
		return dir, 0, false
	}
	return dir, binary.BigEndian.Uint64(ep[:]), true
}
