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
func (s *Store) prepareBatchSQL() {
	t, seq := s.n.qTable, s.n.seqRegclassText
	// The guard row is locked FOR SHARE until the batch's transaction ends,
	// so a concurrent compare-and-swap of the guard (an UPDATE) waits for it;
	// when the row is missing or at another version (also after such an
	// UPDATE committed while this waited: READ COMMITTED re-checks the row),
	// the count is 0 and the statement fails, which aborts the transaction.
	s.qGuard = "SELECT 1 / count(*) FROM (SELECT 1 FROM " + t + " WHERE key = $1 AND version = $2 FOR SHARE) AS guard"
	// A conditional write that may match no row reports whether the key
	// existed (in the statement's snapshot), so that 0 rows tells a conflict
	// from a missing key without another round trip.
	s.qBatchPutVersion = "WITH u AS (UPDATE " + t + " SET value = $2, version = nextval(" + seq + ") WHERE key = $1 AND version = $3 RETURNING version)" +
		" SELECT (SELECT version FROM u), EXISTS (SELECT 1 FROM " + t + " WHERE key = $1)"
	s.qBatchDeleteVersion = "WITH d AS (DELETE FROM " + t + " WHERE key = $1 AND version = $2 RETURNING 1)" +
		" SELECT EXISTS (SELECT 1 FROM d), EXISTS (SELECT 1 FROM " + t + " WHERE key = $1)"
}

// WriteBatch implements sdk.Batcher in one transaction sent as one pgx.Batch:
// one round trip to the server. The batch is the guard statement (see
// prepareBatchSQL) and one statement per item, in key order so that two
// batches lock rows in the same order. Every item has its own outcome, as
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
	if guard != nil {
		v, _ := parseVersion(guard.Version)
		b.Queue(s.qGuard, guard.Key, v)
	}
	for _, i := range order {
		w := writes[i]
		value := w.Value
		if value == nil {
			value = []byte{} // pgx sends a nil slice as NULL
		}
		want, ok := parseVersion(w.Cond.Version())
		if !ok {
			want = 0 // matches no row: versions start at 1
		}
		switch {
		case w.Kind == sdk.WritePut && w.Cond.Mode() == sdk.CondNone:
			b.Queue(s.qPutNone, w.Key, value)
		case w.Kind == sdk.WritePut && w.Cond.Mode() == sdk.CondIfAbsent:
			b.Queue(s.qPutAbsent, w.Key, value)
		case w.Kind == sdk.WritePut:
			b.Queue(s.qBatchPutVersion, w.Key, value, want)
		case w.Cond.Mode() == sdk.CondNone:
			b.Queue(s.qDelete, w.Key)
		default:
			b.Queue(s.qBatchDeleteVersion, w.Key, want)
		}
	}
	br := s.pool.SendBatch(ctx, b)
	defer br.Close()
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
