package core

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/ALRubinger/aileron-store/core/internal/wire"
)

// pinStore keeps, per vault, the highest verified head this host has seen:
// in memory, and in <StateDir>/pins/<vault id> when a state dir is set; and,
// per member and vault name, the vault id opened under that name (below).
type pinStore struct {
	dir   string
	mu    sync.Mutex
	mem   map[[wire.IDLen]byte]*pinned
	names map[nameKey][wire.IDLen]byte
}

// pinned is a verified head.
type pinned struct {
	raw  []byte
	h    *wire.Head
	hash [wire.HashLen]byte
}

func newPinStore(dir string) *pinStore {
	return &pinStore{dir: dir, mem: map[[wire.IDLen]byte]*pinned{}, names: map[nameKey][wire.IDLen]byte{}}
}

func (p *pinStore) path(v [wire.IDLen]byte) string {
	return filepath.Join(p.dir, "pins", hex.EncodeToString(v[:]))
}

// load returns the pin of a vault, nil if none. With fresh set it also
// reads the pin file, which another process sharing the state dir may have
// advanced.
func (p *pinStore) load(v [wire.IDLen]byte, fresh bool) (*pinned, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if pn := p.mem[v]; pn != nil && (!fresh || p.dir == "") {
		return pn, nil
	}
	if p.dir == "" {
		return nil, nil
	}
	path := p.path(v)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("core: reading rollback pin %s: %w", path, err)
	}
	pin, err := wire.ParsePin(b)
	if err != nil || pin.Vault != v {
		return nil, fmt.Errorf("%w: %s %s: unreadable (%v); remove it only if you trust the backend", ErrTampered, kindPin, path, err)
	}
	if cur := p.mem[v]; cur != nil && cur.h.Seq >= pin.Seq {
		return cur, nil
	}
	h, _ := wire.ParseHead(pin.Head) // checked by ParsePin
	pn := &pinned{raw: pin.Head, h: h, hash: pin.Hash}
	p.mem[v] = pn
	return pn, nil
}

// advance records pn if it is newer than the current pin.
func (p *pinStore) advance(pn *pinned) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	v := pn.h.Vault
	if cur := p.mem[v]; cur != nil && cur.h.Seq >= pn.h.Seq {
		return nil
	}
	if p.dir != "" {
		// Another process sharing the state dir may have pinned a newer
		// head: never move the file backwards.
		if b, err := os.ReadFile(p.path(v)); err == nil {
			if cur, err := wire.ParsePin(b); err == nil && cur.Vault == v && cur.Seq >= pn.h.Seq {
				if h, err := wire.ParseHead(cur.Head); err == nil {
					p.mem[v] = &pinned{raw: cur.Head, h: h, hash: cur.Hash}
				}
				return nil
			}
		}
		pin := wire.Pin{Vault: v, Seq: pn.h.Seq, Hash: pn.hash, Head: pn.raw}
		if err := writeFileAtomic(p.path(v), pin.Marshal()); err != nil {
			return fmt.Errorf("core: writing rollback pin: %w", err)
		}
	}
	p.mem[v] = pn
	return nil
}

// writeFileAtomic writes data to path via a synced temporary file renamed
// into place, so a reader sees the old file or the new one, never a part.
func writeFileAtomic(path string, data []byte) error {
	return placeSynced(path, data, os.Rename)
}

// placeSynced writes data to a synced temporary file in path's directory
// (created 0700 when missing), moves it to path with place (os.Rename or
// os.Link), removes the temporary name and syncs the directory.
func placeSynced(path string, data []byte, place func(tmp, path string) error) error {
	dir := filepath.Dir(path)
	if err := mkdirPrivate(dir); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".pin-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := place(tmp, path); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

func mkdirPrivate(dir string) error { return os.MkdirAll(dir, 0o700) }

// Name pins. A host records, per member identity and vault name, the id of
// the vault it opened under that name, in memory and in
// <StateDir>/names/<member id>/<first 16 bytes of SHA-256(name), hex>. Unlock
// by name then opens only that vault (docs/operator.md, "Pins and grant
// tokens").
//
// File layout: "ALNM" | u8 version=1 | 16 member id | 16 vault id |
// u16 len | vault name.
const (
	namePinMagic   = "ALNM"
	namePinVersion = 1
)

// nameKey identifies a name pin.
type nameKey struct {
	member [wire.IDLen]byte
	name   string
}

func marshalNamePin(member, vault [wire.IDLen]byte, name string) []byte {
	b := make([]byte, 0, len(namePinMagic)+1+2*wire.IDLen+2+len(name))
	b = append(b, namePinMagic...)
	b = append(b, namePinVersion)
	b = append(b, member[:]...)
	b = append(b, vault[:]...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(name)))
	return append(b, name...)
}

// parseNamePin decodes a name pin file strictly (exact length, known
// version, a name of 1..MaxNameLen bytes).
func parseNamePin(b []byte) (member, vault [wire.IDLen]byte, name string, err error) {
	const fixed = len(namePinMagic) + 1 + 2*wire.IDLen + 2
	switch {
	case len(b) < fixed:
		return member, vault, "", fmt.Errorf("%w: name pin is %d bytes, shorter than its %d-byte header", wire.ErrMalformed, len(b), fixed)
	case string(b[:len(namePinMagic)]) != namePinMagic:
		return member, vault, "", fmt.Errorf("%w: name pin has wrong magic", wire.ErrMalformed)
	case b[len(namePinMagic)] != namePinVersion:
		return member, vault, "", fmt.Errorf("%w: name pin has unsupported format version %d", wire.ErrMalformed, b[len(namePinMagic)])
	}
	off := len(namePinMagic) + 1
	copy(member[:], b[off:])
	copy(vault[:], b[off+wire.IDLen:])
	n := int(binary.BigEndian.Uint16(b[fixed-2:]))
	if n == 0 || n > wire.MaxNameLen || len(b) != fixed+n {
		return member, vault, "", fmt.Errorf("%w: name pin has a name of %d bytes in %d bytes of data (want 1..%d)", wire.ErrMalformed, n, len(b)-fixed, wire.MaxNameLen)
	}
	return member, vault, string(b[fixed:]), nil
}

func (p *pinStore) namePath(k nameKey) string {
	sum := sha256.Sum256([]byte(k.name))
	return filepath.Join(p.dir, "names", hex.EncodeToString(k.member[:]), hex.EncodeToString(sum[:16]))
}

// readNameFile returns the vault id pinned in the file of k, ok=false if
// there is none.
func (p *pinStore) readNameFile(k nameKey) (vault [wire.IDLen]byte, ok bool, err error) {
	path := p.namePath(k)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return vault, false, nil
	}
	if err != nil {
		return vault, false, fmt.Errorf("core: reading name pin %s: %w", path, err)
	}
	member, vault, name, err := parseNamePin(b)
	if err == nil && (member != k.member || name != k.name) {
		err = errors.New("it belongs to another member or name")
	}
	if err != nil {
		return vault, false, fmt.Errorf("%w: name pin %s of vault %q: unreadable (%v); remove it only if you trust the backend (the next unlock then trusts whatever vault the backend lists under that name)", ErrTampered, path, k.name, err)
	}
	return vault, true, nil
}

// vaultOf returns the vault id pinned for (member, name), ok=false if none.
// It reads the file each time: another process sharing the state dir may
// have pinned the name.
func (p *pinStore) vaultOf(member [wire.IDLen]byte, name string) (vault [wire.IDLen]byte, ok bool, err error) {
	k := nameKey{member, name}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.dir == "" {
		vault, ok = p.names[k]
		return vault, ok, nil
	}
	if vault, ok, err = p.readNameFile(k); err != nil || !ok {
		return vault, ok, err
	}
	p.names[k] = vault
	return vault, true, nil
}

// pinName records vault under (member, name) unless the name is already
// pinned: then the pin must name the same vault, else ErrPinnedVault (a
// concurrent first unlock, in this or another process, chose another vault).
func (p *pinStore) pinName(member [wire.IDLen]byte, name string, vault [wire.IDLen]byte) error {
	k := nameKey{member, name}
	p.mu.Lock()
	defer p.mu.Unlock()
	cur, ok := p.names[k]
	if p.dir != "" {
		path := p.namePath(k)
		err := createFileExclusive(path, marshalNamePin(member, vault, name))
		if err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("core: writing name pin %s: %w", path, err)
		}
		var exists bool
		if cur, exists, err = p.readNameFile(k); err != nil {
			return err
		}
		ok = exists
	}
	if ok && cur != vault {
		return fmt.Errorf("%w: vault %q: this host has pinned the name to vault id %x, not %x", ErrPinnedVault, name, cur[:], vault[:])
	}
	p.names[k] = vault
	return nil
}

// repinName records vault under (member, name), replacing any earlier pin
// (opening with a grant token is an explicit choice of vault).
func (p *pinStore) repinName(member [wire.IDLen]byte, name string, vault [wire.IDLen]byte) error {
	k := nameKey{member, name}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.dir != "" {
		if err := writeFileAtomic(p.namePath(k), marshalNamePin(member, vault, name)); err != nil {
			return fmt.Errorf("core: writing name pin %s: %w", p.namePath(k), err)
		}
	}
	p.names[k] = vault
	return nil
}

// createFileExclusive writes data to path only if path does not exist yet
// (fs.ErrExist otherwise): a synced temporary file hard-linked into place,
// so a reader never sees a partial file and of two concurrent writers
// exactly one wins.
func createFileExclusive(path string, data []byte) error {
	return placeSynced(path, data, os.Link)
}
