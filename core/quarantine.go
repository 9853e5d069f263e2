package core

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/ALRubinger/aileron-store/core/internal/wire"
	"github.com/ALRubinger/aileron-store/sdk"
)

// QuarantinedRecord is a credential value a revoke's sweep could not
// attribute to a remaining member: its last writer is the revoked member,
// or nobody who is still a member (which cannot be told apart from a value
// the revoked member forged with the old key after the revoke began). It is
// kept, encrypted under the current key, out of Get and List, until an
// admin restores or drops it.
type QuarantinedRecord struct {
	Name string
	// Writer is the writer's member name if still a member, else its member
	// id (hex); "" if the record names no writer (format 1).
	Writer   string
	Modified time.Time
	// Reason says why it was quarantined (set in a RevokeReport only).
	Reason string
}

func (v *Vault) writerName(s *session, id [wire.IDLen]byte) string {
	if id == ([wire.IDLen]byte{}) {
		return ""
	}
	if n, ok := s.meta.Names[id]; ok {
		return n
	}
	return hexID(id)
}

// Quarantined lists the quarantined records, sorted by name.
func (v *Vault) Quarantined(ctx context.Context) ([]QuarantinedRecord, error) {
	s, err := v.refresh(ctx)
	if err != nil {
		return nil, err
	}
	var out []QuarantinedRecord
	err = v.walk(ctx, s, quarantinePrefix(v.id), wire.RecordQuarantined, func(key string, o *openedRecord, err error) error {
		if errors.Is(err, ErrRollback) {
			return nil
		}
		if err != nil {
			return err
		}
		out = append(out, QuarantinedRecord{Name: string(o.p.Name), Writer: v.writerName(s, o.p.Writer), Modified: time.Unix(0, o.p.Modified)})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("core: listing quarantine of vault %q: %w", v.name, err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// RestoreQuarantined makes a quarantined value the credential's value again,
// signed by the restoring admin (who thereby vouches for it). It fails with
// an error wrapping sdk.ErrConflict if the credential was written since.
// Admin only.
func (v *Vault) RestoreQuarantined(ctx context.Context, name string) error {
	return v.settleQuarantined(ctx, name, v.restoreQuarantined)
}

// DropQuarantined deletes a quarantined value. Admin only.
func (v *Vault) DropQuarantined(ctx context.Context, name string) error {
	return v.settleQuarantined(ctx, name, nil)
}

// settleQuarantined removes name's quarantined record after running before
// (if not nil) on it.
func (v *Vault) settleQuarantined(ctx context.Context, name string, before func(ctx context.Context, s *session, id *Identity, name string, rid [wire.RecordIDLen]byte, qkey string, data []byte) error) error {
	if err := checkCredName(name); err != nil {
		return err
	}
	s, id, err := v.settledAdmin(ctx)
	if err != nil {
		return err
	}
	rid, err := s.cur.rid(name)
	if err != nil {
		return err
	}
	qkey := idKey(quarantinePrefix(v.id), rid)
	data, ver, err := v.e.store.Get(ctx, qkey)
	if errors.Is(err, sdk.ErrNotFound) {
		return fmt.Errorf("%w: %q is not quarantined in vault %q", ErrCredentialNotFound, name, v.name)
	}
	if err != nil {
		return fmt.Errorf("core: reading %s %q: %w", kindRecord, qkey, err)
	}
	if before != nil {
		if err := before(ctx, s, id, name, rid, qkey, data); err != nil {
			return err
		}
	}
	if err := v.e.store.Delete(ctx, qkey, sdk.IfVersion(ver)); err != nil && !errors.Is(err, sdk.ErrNotFound) {
		return fmt.Errorf("core: deleting %s %q: %w", kindRecord, qkey, err)
	}
	return nil
}

// restoreQuarantined writes the quarantined value as the credential, signed
// by the restoring admin.
func (v *Vault) restoreQuarantined(ctx context.Context, s *session, id *Identity, name string, rid [wire.RecordIDLen]byte, qkey string, data []byte) error {
	o, err := v.open(ctx, s, lookup{key: qkey, rid: rid, kind: wire.RecordQuarantined}, data)
	if err != nil {
		return err
	}
	plain := v.signedPlain(s.version(), id, name, o.p.Value, time.Now().UnixNano())
	o.wipe()
	blob := sealRecord(s.cur, v.e.suite, s.version(), wire.RecordCredential, v.id, rid, plain)
	clear(plain)
	guard := &sdk.Guard{Key: headKey(v.id), Version: s.head.ver}
	res, err := v.e.writeBatch(ctx, guard, []sdk.Write{{Kind: sdk.WritePut, Key: v.recordKey(rid), Value: blob, Cond: sdk.IfAbsent()}})
	if err != nil {
		return fmt.Errorf("core: restoring %q in vault %q: %w", name, v.name, err)
	}
	if res[0].Err != nil {
		return fmt.Errorf("core: restoring %q in vault %q: the credential was written since it was quarantined (delete it or drop the quarantined value): %w", name, v.name, res[0].Err)
	}
	return nil
}
