package sdk

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// Batch limits. A batch is at most one listing page of writes, and its values
// fit the plugin boundary's message budget.
const (
	// MaxBatchWrites is the largest number of writes in one WriteBatch call.
	MaxBatchWrites = MaxListLimit
	// MaxBatchBytes is the largest sum of value sizes in one WriteBatch call.
	MaxBatchBytes = 8 << 20
)

// WriteKind says what one item of a batch does.
type WriteKind uint8

const (
	// WritePut stores Write.Value under Write.Key if Write.Cond holds, as Put.
	WritePut WriteKind = iota + 1
	// WriteDelete removes Write.Key if Write.Cond holds, as Delete.
	WriteDelete
)

// String names k for error messages.
func (k WriteKind) String() string {
	switch k {
	case WritePut:
		return "put"
	case WriteDelete:
		return "delete"
	default:
		return fmt.Sprintf("write-kind(%d)", uint8(k))
	}
}

// Write is one item of a WriteBatch: a Put or a Delete with its own condition.
type Write struct {
	Kind  WriteKind
	Key   string
	Value []byte // WritePut only; nil for WriteDelete
	Cond  Cond
}

// Guard conditions a whole batch on another key's version: the batch applies
// only while Key is stored at Version. A typical guard is a vault's head, so
// that a write never lands under a head that has moved on.
type Guard struct {
	Key     string
	Version Version
}

// WriteResult is the outcome of one Write of a batch.
type WriteResult struct {
	// Version is the new version of a successful WritePut; empty otherwise.
	Version Version
	// Err is nil when the write took effect, else it wraps the sentinel that
	// Put or Delete would have returned for this item alone (ErrConflict,
	// ErrNotFound, ...), naming the item's key.
	Err error
}

// Batcher is an optional capability of a Store: many conditional writes in one
// call (one round trip to a plugin, and to the backend where it allows), all
// under an optional guard.
//
// Contract for implementers:
//   - writes hold 1..MaxBatchWrites items whose values add up to at most
//     MaxBatchBytes, no key twice, and the guard key (if any) is not among
//     them; the SDK checks this before a call reaches a Store (see
//     ValidateBatch).
//   - If guard is non-nil and guard.Key is missing or not at guard.Version,
//     WriteBatch applies no item and returns an error wrapping ErrConflict
//     that names guard.Key; results is nil.
//   - Otherwise it returns exactly len(writes) results, results[i] being the
//     outcome of writes[i] with the meaning of Put and Delete for that item
//     alone. Items are independent: one failed condition does not stop the
//     others, and they may take effect in any order. A batch is not a
//     transaction across its items.
//   - A Store whose Capabilities report AtomicGuard checks the guard
//     atomically with every item it applies: no item takes effect after a
//     concurrent write has moved guard.Key to another version (fs holds the
//     guard key's lock across the batch; PostgreSQL locks the guard row in
//     the batch's transaction). Without AtomicGuard the guard is checked once,
//     before the items (the SDK's emulation, see WriteBatch).
//   - A non-nil error with nil results (context canceled, backend
//     unavailable) means any item may or may not have taken effect, as for a
//     single Put or Delete that failed that way.
type Batcher interface {
	WriteBatch(ctx context.Context, guard *Guard, writes []Write) ([]WriteResult, error)
}

// ValidateBatch checks a batch against the limits above and each item against
// the contract of Put and Delete (maxValue is the store's value limit, 0
// meaning MaxValueSize). Errors wrap ErrInvalidArgument and name the item.
func ValidateBatch(guard *Guard, writes []Write, maxValue int) error {
	if len(writes) == 0 || len(writes) > MaxBatchWrites {
		return fmt.Errorf("%w: a batch holds 1 to %d writes, got %d", ErrInvalidArgument, MaxBatchWrites, len(writes))
	}
	if guard != nil {
		if err := ValidateKey(guard.Key); err != nil {
			return fmt.Errorf("batch guard: %w", err)
		}
		if guard.Version == "" {
			return fmt.Errorf("%w: batch guard on key %q has an empty version", ErrInvalidArgument, guard.Key)
		}
	}
	seen := make(map[string]struct{}, len(writes))
	total := 0
	for i, w := range writes {
		if err := ValidateKey(w.Key); err != nil {
			return fmt.Errorf("batch write %d: %w", i, err)
		}
		if _, dup := seen[w.Key]; dup {
			return fmt.Errorf("%w: batch write %d: key %q appears twice", ErrInvalidArgument, i, w.Key)
		}
		seen[w.Key] = struct{}{}
		if guard != nil && w.Key == guard.Key {
			return fmt.Errorf("%w: batch write %d: key %q is the guard key", ErrInvalidArgument, i, w.Key)
		}
		switch w.Kind {
		case WritePut:
			if err := ValidateValue(w.Key, w.Value, maxValue); err != nil {
				return fmt.Errorf("batch write %d: %w", i, err)
			}
			total += len(w.Value)
		case WriteDelete:
			if w.Value != nil {
				return fmt.Errorf("%w: batch write %d: delete of key %q carries a value", ErrInvalidArgument, i, w.Key)
			}
		default:
			return fmt.Errorf("%w: batch write %d: unknown kind %d", ErrInvalidArgument, i, w.Kind)
		}
		if err := ValidateCond(w.Key, w.Cond, w.Kind == WriteDelete); err != nil {
			return fmt.Errorf("batch write %d: %w", i, err)
		}
	}
	if total > MaxBatchBytes {
		return fmt.Errorf("%w: batch values add up to %d bytes, over %d", ErrInvalidArgument, total, MaxBatchBytes)
	}
	return nil
}

// emulationConcurrency bounds the calls an emulated batch has in flight.
const emulationConcurrency = 16

// WriteBatch applies a batch to any Store: natively when st implements
// Batcher, else by emulation with the Store's own methods (the guard read once
// with Get before the items, the items applied with bounded concurrency).
// Callers use it rather than asserting Batcher themselves.
func WriteBatch(ctx context.Context, st Store, guard *Guard, writes []Write) ([]WriteResult, error) {
	if b, ok := st.(Batcher); ok {
		return b.WriteBatch(ctx, guard, writes)
	}
	return EmulateBatch(ctx, st, guard, writes)
}

// EmulateBatch applies a batch with st's Get, Put and Delete: the guard is
// checked once before the items (not atomically with them), then the items run
// with bounded concurrency. It is what WriteBatch does for a Store that is not
// a Batcher, and what a plugin's Serve does for one. Like a Store, it assumes
// a valid batch (see Checked).
func EmulateBatch(ctx context.Context, st Store, guard *Guard, writes []Write) ([]WriteResult, error) {
	if guard != nil {
		if err := checkGuard(ctx, st, guard); err != nil {
			return nil, err
		}
	}
	results := make([]WriteResult, len(writes))
	if len(writes) == 1 {
		results[0] = applyWrite(ctx, st, writes[0])
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		return results, nil
	}
	sem := make(chan struct{}, emulationConcurrency)
	var wg sync.WaitGroup
	for i := range writes {
		sem <- struct{}{}
		wg.Add(1)
		go func(i int) {
			defer func() { <-sem; wg.Done() }()
			results[i] = applyWrite(ctx, st, writes[i])
		}(i)
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return results, nil
}

func checkGuard(ctx context.Context, st Store, g *Guard) error {
	_, v, err := st.Get(ctx, g.Key)
	if errors.Is(err, ErrNotFound) {
		return fmt.Errorf("%w: batch guard key %q does not exist", ErrConflict, g.Key)
	}
	if err != nil {
		return err
	}
	if v != g.Version {
		return fmt.Errorf("%w: batch guard key %q has another version", ErrConflict, g.Key)
	}
	return nil
}

func applyWrite(ctx context.Context, st Store, w Write) WriteResult {
	switch w.Kind {
	case WritePut:
		v, err := st.Put(ctx, w.Key, w.Value, w.Cond)
		return WriteResult{Version: v, Err: err}
	case WriteDelete:
		return WriteResult{Err: st.Delete(ctx, w.Key, w.Cond)}
	default:
		return WriteResult{Err: fmt.Errorf("%w: unknown write kind %d for key %q", ErrInvalidArgument, w.Kind, w.Key)}
	}
}
