package conformance

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ALRubinger/aileron-store/sdk"
)

// Soak bounds: operations per client and total time.
const (
	soakOps  = 150
	soakTime = 20 * time.Second
)

func checkSoak(e *env) {
	n := max(2, e.h.clients()/4)
	clients := e.clients(n)
	keys := make([]string, 8)
	for i := range keys {
		keys[i] = fmt.Sprintf("soak/k%d", i)
	}
	var issued sync.Map // "writer/seq" -> key
	var counts [6]atomic.Int64
	deadline := time.Now().Add(soakTime)
	if d, ok := e.ctx.Deadline(); ok && d.Add(-10*time.Second).Before(deadline) {
		deadline = d.Add(-10 * time.Second)
	}
	large := min(128<<10, e.maxValue())

	verify := func(key string, b []byte) error {
		w, seq, err := unstamp(key, b)
		if err != nil {
			return fmt.Errorf("read of %q: %w", key, err)
		}
		if k, ok := issued.Load(fmt.Sprintf("%d/%d", w, seq)); !ok || k != key {
			return fmt.Errorf("read of %q returned write %d/%d, which was never issued for it", key, w, seq)
		}
		return nil
	}
	allow := func(op, key string, err error, kinds ...error) error {
		if err == nil {
			return nil
		}
		for _, k := range kinds {
			if errors.Is(err, k) {
				return nil
			}
		}
		return fmt.Errorf("%s(%q): unexpected error: %w", op, key, err)
	}

	errs := parallel(n, func(c int) error {
		s := clients[c]
		r := rand.New(rand.NewPCG(uint64(c), 0x50a4))
		vers := map[string]sdk.Version{}
		for seq := 0; seq < soakOps && time.Now().Before(deadline); seq++ {
			key := keys[r.IntN(len(keys))]
			size := r.IntN(2048)
			if r.IntN(20) == 0 {
				size = large
			}
			write := func() []byte {
				issued.Store(fmt.Sprintf("%d/%d", c, seq), key)
				return stamp(key, c, seq, size)
			}
			switch x := r.IntN(100); {
			case x < 30:
				counts[0].Add(1)
				b, v, err := s.Get(e.ctx, key)
				if err != nil {
					if err := allow("Get", key, err, sdk.ErrNotFound); err != nil {
						return err
					}
					delete(vers, key)
					continue
				}
				if err := verify(key, b); err != nil {
					return err
				}
				vers[key] = v
			case x < 55:
				counts[1].Add(1)
				v, err := s.Put(e.ctx, key, write(), sdk.None)
				if err != nil {
					return fmt.Errorf("Put(%q): %w", key, err)
				}
				vers[key] = v
			case x < 70:
				counts[2].Add(1)
				old, ok := vers[key]
				if !ok {
					old = "never-a-version"
				}
				v, err := s.Put(e.ctx, key, write(), sdk.IfVersion(old))
				if err := allow("Put if-version", key, err, sdk.ErrConflict, sdk.ErrNotFound); err != nil {
					return err
				}
				if err == nil {
					vers[key] = v
				}
			case x < 80:
				counts[3].Add(1)
				v, err := s.Put(e.ctx, key, write(), sdk.IfAbsent())
				if err := allow("Put if-absent", key, err, sdk.ErrConflict); err != nil {
					return err
				}
				if err == nil {
					vers[key] = v
				}
			case x < 90:
				counts[4].Add(1)
				cond := sdk.None
				if v, ok := vers[key]; ok && r.IntN(2) == 0 {
					cond = sdk.IfVersion(v)
				}
				err := s.Delete(e.ctx, key, cond)
				if err := allow("Delete", key, err, sdk.ErrConflict, sdk.ErrNotFound); err != nil {
					return err
				}
				delete(vers, key)
			default:
				counts[5].Add(1)
				p, err := s.List(e.ctx, sdk.ListOptions{Prefix: "soak/", Limit: 1 + r.IntN(8), WithValues: true})
				if err != nil {
					return fmt.Errorf("List: %w", err)
				}
				prev := ""
				for _, en := range p.Entries {
					if en.Key <= prev {
						return fmt.Errorf("List returned %q after %q", en.Key, prev)
					}
					prev = en.Key
					if err := verify(en.Key, en.Value); err != nil {
						return fmt.Errorf("List with values: %w", err)
					}
				}
			}
		}
		return nil
	})
	for c, err := range errs {
		if err != nil {
			e.fatalf("client %d of %d: %v", c, n, err)
		}
	}
	e.logf("%d clients (%d attached stores): %d gets, %d puts, %d if-version puts, %d if-absent puts, %d deletes, %d lists",
		n, len(e.attached), counts[0].Load(), counts[1].Load(), counts[2].Load(), counts[3].Load(), counts[4].Load(), counts[5].Load())

	// At rest, every client sees the same state, and listings agree with Get.
	entries := e.listAll(e.s, "soak/", 0, true)
	for _, en := range entries {
		if err := verify(en.Key, en.Value); err != nil {
			e.fatalf("at rest: %v", err)
		}
	}
	e.wantEntriesMatchGet(entries, keysOf(entries))
	for c, s := range clients {
		for _, en := range entries {
			b, v, err := s.Get(e.ctx, en.Key)
			if err != nil || v != en.Version || !bytes.Equal(b, en.Value) {
				e.fatalf("at rest, client %d reads %q as (%s, %q, %v), the first client as (%s, %q)", c, en.Key, describe(b), v, err, describe(en.Value), en.Version)
			}
		}
	}
}
