package postgres

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/ALRubinger/aileron-store/sdk"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

var _ sdk.Batcher = (*Store)(nil)

// guardFailed is the SQLSTATE the guard statement raises when the guard row
// is missing or at another version (division by zero, which nothing else in
// a batch can raise).
const guardFailed = "22012"

// prepareBatchSQL builds the statements of WriteBatch; see prepareSQL.
//
// The guard is atomic through advisory locks, not a row lock: every write
// holds its key's lock (keyLock) exclusively from before it touches the row
// until its transaction ends, and a guarded batch takes its guard key's lock
// shared in its first statement and checks the guard's version with a plain
// read in its last. That read's snapshot is taken after the lock is held, so
// a write that moved the guard either committed before the lock was granted
// (the read sees it, the batch fails) or cannot commit before the batch
// ends (it waits for the lock). Unlike SELECT ... FOR SHARE of the guard row,
// the shared lock writes nothing to the row (no dirtied page, no WAL, no
// MultiXact when many batches share one guard).
//
// Deadlocks: a batch takes all its advisory locks in its first statement, in
// one global order (by lock), shared and exclusive alike, one lock per
// distinct hash (exclusive when a written key has it), before any row lock;
// a Put or Delete takes its one lock before its row. So no transaction waits
// for an advisory lock while holding a row lock, advisory locks are taken in
// one order, and row locks in key order as before.
func (s *Store) prepareBatchSQL() {
	t, seq := s.n.qTable, s.n.seqRegclassText
	// The first item's statement takes the batch's locks: $n and $n+1 the
	// locks' halves, $n+2 whether each is exclusive, in that order (the
	// other items' statements get empty arrays).
	locks := func(p int) string {
		return fmt.Sprintf("(SELECT count(CASE WHEN x THEN pg_advisory_xact_lock(h, l) ELSE pg_advisory_xact_lock_shared(h, l) END)"+
			" FROM unnest($%d::int4[], $%d::int4[], $%d::bool[]) AS k(h, l, x)) >= 0", p, p+1, p+2)
	}
	s.qGuard = "SELECT 1 / count(*) FROM " + t + " WHERE key = $1 AND version = $2"
	s.qBatchPutNone = "INSERT INTO " + t + " (key, value, version) SELECT $1::text, $2::bytea, nextval(" + seq + ") WHERE " + locks(3) +
		" ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, version = nextval(" + seq + ") RETURNING version"
	s.qBatchPutAbsent = "INSERT INTO " + t + " (key, value, version) SELECT $1::text, $2::bytea, nextval(" + seq + ") WHERE " + locks(3) +
		" ON CONFLICT (key) DO NOTHING RETURNING version"
	// A conditional write that may match no row reports whether the key
	// existed (in the statement's snapshot), so that 0 rows tells a conflict
	// from a missing key without another round trip.
	s.qBatchPutVersion = "WITH u AS (UPDATE " + t + " SET value = $2, version = nextval(" + seq + ") WHERE key = $1 AND version = $3 AND " + locks(4) + " RETURNING version)" +
		" SELECT (SELECT version FROM u), EXISTS (SELECT 1 FROM " + t + " WHERE key = $1)"
	s.qBatchDelete = "DELETE FROM " + t + " WHERE key = $1 AND " + locks(2)
	s.qBatchDeleteVersion = "WITH d AS (DELETE FROM " + t + " WHERE key = $1 AND version = $2 AND " + locks(3) + " RETURNING 1)" +
		" SELECT EXISTS (SELECT 1 FROM d), EXISTS (SELECT 1 FROM " + t + " WHERE key = $1)"
}

// batchLocks returns the advisory locks of a batch in the order to take
// them: one per distinct hash, exclusive for written keys, shared for the
// guard key unless a written key has the same hash.
func (s *Store) batchLocks(guard *sdk.Guard, writes []sdk.Write) (hi, lo []int32, excl []bool) {
	type lk struct {
		h    int64
		excl bool
	}
	ls := make([]lk, 0, len(writes)+1)
	add := func(key string, x bool) {
		h, l := s.keyLock(key)
		ls = append(ls, lk{int64(h)<<32 | int64(uint32(l)), x})
	}
	if guard != nil {
		add(guard.Key, false)
	}
	for _, w := range writes {
		add(w.Key, true)
	}
	sort.Slice(ls, func(i, j int) bool {
		if ls[i].h != ls[j].h {
			return ls[i].h < ls[j].h
		}
		return ls[i].excl && !ls[j].excl // exclusive first, so it is the one kept
	})
	for i, l := range ls {
		if i > 0 && l.h == ls[i-1].h {
			continue
		}
		hi = append(hi, int32(l.h>>32))
		lo = append(lo, int32(l.h))
		excl = append(excl, l.excl)
	}
	return hi, lo, excl
}

// WriteBatch implements sdk.Batcher in one transaction sent as one pgx.Batch:
// one round trip to the server. The batch is one statement per item, in key
// order so that two batches lock rows in the same order, the first one also
// taking the batch's advisory locks, then the guard statement (see
// prepareBatchSQL). Every item has its own outcome, as
// Put and Delete would report it; a failed guard rolls everything back.
func (s *Store) WriteBatch(ctx context.Context, guard *sdk.Guard, writes []sdk.Write) ([]sdk.WriteResult, error) {
	if guard != nil {
		if _, ok := parseVersion(guard.Version); !ok {
			// A version this store never issued matches nothing.
			return nil, sdk.Errorf(sdk.ErrConflict, "batch guard key %q is not at version %q", guard.Key, guard.Version)
		}
	}
	order := make([]int, len(writes))
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(a, b int) bool { return writes[order[a]].Key < writes[order[b]].Key })

	var results []sdk.WriteResult
	err := retry(ctx, func() error {
		var err error
		results, err = s.sendBatch(ctx, guard, writes, order)
		return err
	})
	if err != nil {
		if sdk.Kind(err) != nil {
			return nil, err
		}
		what := fmt.Sprintf("write batch of %d", len(writes))
		if guard != nil {
			what += fmt.Sprintf(" guarded by key %q", guard.Key)
		}
		return nil, s.classify(ctx, what, err)
	}
	return results, nil
}

func (s *Store) sendBatch(ctx context.Context, guard *sdk.Guard, writes []sdk.Write, order []int) ([]sdk.WriteResult, error) {
	b := &pgx.Batch{}
	hi, lo, excl := s.batchLocks(guard, writes)
	for n, i := range order {
		w := writes[i]
		value := w.Value
		if value == nil {
			value = []byte{} // pgx sends a nil slice as NULL
		}
		want, ok := parseVersion(w.Cond.Version())
		if !ok {
			want = 0 // matches no row: versions start at 1
		}
		if n == 1 {
			hi, lo, excl = []int32{}, []int32{}, []bool{}
		}
		switch {
		case w.Kind == sdk.WritePut && w.Cond.Mode() == sdk.CondNone:
			b.Queue(s.qBatchPutNone, w.Key, value, hi, lo, excl)
		case w.Kind == sdk.WritePut && w.Cond.Mode() == sdk.CondIfAbsent:
			b.Queue(s.qBatchPutAbsent, w.Key, value, hi, lo, excl)
		case w.Kind == sdk.WritePut:
			b.Queue(s.qBatchPutVersion, w.Key, value, want, hi, lo, excl)
		case w.Cond.Mode() == sdk.CondNone:
			b.Queue(s.qBatchDelete, w.Key, hi, lo, excl)
		default:
			b.Queue(s.qBatchDeleteVersion, w.Key, want, hi, lo, excl)
		}
	}
	if guard != nil {
		v, _ := parseVersion(guard.Version)
		b.Queue(s.qGuard, guard.Key, v)
	}
	br := s.pool.SendBatch(ctx, b)
	defer br.Close()
	results := make([]sdk.WriteResult, len(writes))
	for _, i := range order {
		w := writes[i]
		r := &results[i]
		switch {
		case w.Kind == sdk.WritePut && w.Cond.Mode() != sdk.CondIfVersion:
			var version int64
			err := br.QueryRow().Scan(&version)
			if errors.Is(err, pgx.ErrNoRows) && w.Cond.Mode() == sdk.CondIfAbsent {
				r.Err = sdk.Errorf(sdk.ErrConflict, "put key %q: if-absent: the key exists", w.Key)
				continue
			}
			if err != nil {
				return nil, err
			}
			r.Version = formatVersion(version)
		case w.Kind == sdk.WritePut:
			var version *int64
			var exists bool
			if err := br.QueryRow().Scan(&version, &exists); err != nil {
				return nil, err
			}
			if version != nil {
				r.Version = formatVersion(*version)
			} else {
				r.Err = condError("put", w.Key, w.Cond, exists)
			}
		case w.Cond.Mode() == sdk.CondNone:
			if _, err := br.Exec(); err != nil {
				return nil, err
			}
		default:
			var deleted, exists bool
			if err := br.QueryRow().Scan(&deleted, &exists); err != nil {
				return nil, err
			}
			if !deleted {
				r.Err = condError("delete", w.Key, w.Cond, exists)
			}
		}
	}
	if guard != nil {
		var one int
		if err := br.QueryRow().Scan(&one); err != nil {
			var pgErr *pgconn.PgError
			if errors.As(err, &pgErr) && pgErr.Code == guardFailed {
				return nil, sdk.Errorf(sdk.ErrConflict, "batch guard key %q is missing or not at version %q", guard.Key, guard.Version)
			}
			return nil, err
		}
	}
	// Close reports the commit of the implicit transaction.
	if err := br.Close(); err != nil {
		return nil, err
	}
	return results, nil
}

// condError is the error of a failed if-version, as condFailed reports it.
func condError(op, key string, cond sdk.Cond, exists bool) error {
	if !exists {
		return sdk.Errorf(sdk.ErrNotFound, "%s key %q (%s): the key does not exist", op, key, cond)
	}
	return sdk.Errorf(sdk.ErrConflict, "%s key %q (%s): the key has another version", op, key, cond)
}
