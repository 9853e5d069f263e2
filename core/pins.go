package core

import (
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
// in memory, and in <StateDir>/pins/<vault id> when a state dir is set.
type pinStore struct {
	dir string
	mu  sync.Mutex
	mem map[[wire.IDLen]byte]*pinned
}

// pinned is a verified head.
type pinned struct {
	raw  []byte
	h    *wire.Head
	hash [wire.HashLen]byte
}

func newPinStore(dir string) *pinStore {
	return &pinStore{dir: dir, mem: map[[wire.IDLen]byte]*pinned{}}
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

// writeFileAtomic writes data to path via a synced temporary file and rename.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
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
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

func mkdirPrivate(dir string) error { return os.MkdirAll(dir, 0o700) }
