// Package postgres is the PostgreSQL storage plugin of aileron-store: an
// sdk.Store over one table, with compare-and-swap done in SQL.
//
// Configuration (see the Field* constants): dsn (required; TLS through its
// sslmode and certificate settings), schema, table, prefix, max_conns,
// statement_timeout, connect_timeout.
//
// New creates the schema and table when missing and migrates them, safely
// when several hosts start at once (a transaction-level advisory lock inside
// the migration transaction). Keys are text COLLATE "C", so listings are in
// byte order whatever the database's collation. Every write takes a new
// version from a sequence, so a version is never reused, even for identical
// bytes or after a delete and re-create. Versions are decimal strings.
//
// Errors: see classify for the mapping of PostgreSQL errors to the sdk
// sentinels. A lost connection, an unreachable server, a read-only or full
// database are ErrUnavailable (retryable); refused credentials are
// ErrPermissionDenied; no error holds the password.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"

	"github.com/ALRubinger/aileron-store/sdk"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Store is an sdk.Store over a PostgreSQL table. It is safe for concurrent
// use by many goroutines, processes and hosts.
type Store struct {
	pool     *pgxpool.Pool
	n        names
	addr     string // host:port, for messages
	password string // for scrub only
	prefix   string // the prefix field, applied by New with sdk.WithPrefix

	qGet, qPutNone, qPutAbsent, qPutVersion, qExists, qDelete, qDeleteVersion string
	qGuard, qBatchPutVersion, qBatchDeleteVersion                             string
}

var (
	_ sdk.Store              = (*Store)(nil)
	_ sdk.CapabilityReporter = (*Store)(nil)
	_ sdk.Factory            = New
)

// New is the plugin's sdk.Factory: it validates config, connects, and
// creates or migrates the schema. Errors name the config field at fault and
// never contain the DSN's password.
func New(ctx context.Context, config map[string]string) (sdk.Store, error) {
	s, err := open(ctx, config)
	if err != nil {
		return nil, err
	}
	return sdk.WithPrefix(s, s.prefix), nil
}

// open is New returning the concrete type.
func open(ctx context.Context, config map[string]string) (*Store, error) {
	c, err := parseConfig(config)
	if err != nil {
		return nil, err
	}
	cc := c.pool.ConnConfig
	s := &Store{
		n:        newNames(c.schema, c.table),
		addr:     net.JoinHostPort(cc.Host, strconv.Itoa(int(cc.Port))),
		password: cc.Password,
		prefix:   c.prefix,
	}
	if len(cc.Fallbacks) > 0 {
		s.addr += fmt.Sprintf(" (and %d fallback hosts)", len(cc.Fallbacks))
	}
	s.prepareSQL()
	s.pool, err = pgxpool.NewWithConfig(ctx, c.pool)
	if err != nil {
		return nil, s.classify(ctx, "connect", err)
	}
	if err := s.migrate(ctx); err != nil {
		s.pool.Close()
		return nil, err
	}
	return s, nil
}

func (s *Store) prepareSQL() {
	t, seq := s.n.qTable, s.n.seqRegclassText
	s.qGet = "SELECT value, version FROM " + t + " WHERE key = $1"
	s.qPutNone = "INSERT INTO " + t + " (key, value, version) VALUES ($1, $2, nextval(" + seq + "))" +
		" ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, version = nextval(" + seq + ") RETURNING version"
	s.qPutAbsent = "INSERT INTO " + t + " (key, value, version) VALUES ($1, $2, nextval(" + seq + "))" +
		" ON CONFLICT (key) DO NOTHING RETURNING version"
	s.qPutVersion = "UPDATE " + t + " SET value = $2, version = nextval(" + seq + ") WHERE key = $1 AND version = $3 RETURNING version"
	s.qExists = "SELECT EXISTS (SELECT 1 FROM " + t + " WHERE key = $1)"
	s.qDelete = "DELETE FROM " + t + " WHERE key = $1"
	s.qDeleteVersion = "DELETE FROM " + t + " WHERE key = $1 AND version = $2"
	s.prepareBatchSQL()
}

// Capabilities reports a native list-with-values (one query) and a batch
// whose guard holds atomically (one transaction, see WriteBatch).
func (s *Store) Capabilities() sdk.Capabilities {
	return sdk.Capabilities{MaxValueSize: sdk.MaxValueSize, NativeListValues: true, AtomicGuard: true}
}

// retry runs fn, again once when its error certainly happened before
// anything reached the server (a broken pooled connection), so a restart of
// the server costs no failed call.
func retry(ctx context.Context, fn func() error) error {
	err := fn()
	if err != nil && ctx.Err() == nil && pgconn.SafeToRetry(err) {
		err = fn()
	}
	return err
}

// Get implements sdk.Store.
func (s *Store) Get(ctx context.Context, key string) ([]byte, sdk.Version, error) {
	var value []byte
	var version int64
	err := retry(ctx, func() error {
		return s.pool.QueryRow(ctx, s.qGet, key).Scan(&value, &version)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, "", sdk.Errorf(sdk.ErrNotFound, "key %q", key)
	}
	if err != nil {
		return nil, "", s.classify(ctx, fmt.Sprintf("get key %q", key), err)
	}
	if value == nil {
		value = []byte{}
	}
	return value, formatVersion(version), nil
}

// Put implements sdk.Store.
func (s *Store) Put(ctx context.Context, key string, value []byte, cond sdk.Cond) (sdk.Version, error) {
	if value == nil {
		value = []byte{} // pgx sends a nil slice as NULL
	}
	what := fmt.Sprintf("put key %q (%s)", key, cond)
	var version int64
	var err error
	switch cond.Mode() {
	case sdk.CondNone:
		err = retry(ctx, func() error { return s.pool.QueryRow(ctx, s.qPutNone, key, value).Scan(&version) })
	case sdk.CondIfAbsent:
		err = retry(ctx, func() error { return s.pool.QueryRow(ctx, s.qPutAbsent, key, value).Scan(&version) })
		if errors.Is(err, pgx.ErrNoRows) {
			return "", sdk.Errorf(sdk.ErrConflict, "put key %q: if-absent: the key exists", key)
		}
	case sdk.CondIfVersion:
		want, ok := parseVersion(cond.Version())
		if ok {
			err = retry(ctx, func() error {
				return s.pool.QueryRow(ctx, s.qPutVersion, key, value, want).Scan(&version)
			})
		} else {
			err = pgx.ErrNoRows // a version this store never issued matches nothing
		}
		if errors.Is(err, pgx.ErrNoRows) {
			return "", s.condFailed(ctx, "put", key, cond)
		}
	}
	if err != nil {
		return "", s.classify(ctx, what, err)
	}
	return formatVersion(version), nil
}

// Delete implements sdk.Store. Deleting a missing key without a condition
// returns nil.
func (s *Store) Delete(ctx context.Context, key string, cond sdk.Cond) error {
	if cond.Mode() == sdk.CondNone {
		err := retry(ctx, func() error { _, err := s.pool.Exec(ctx, s.qDelete, key); return err })
		return s.classify(ctx, fmt.Sprintf("delete key %q", key), err)
	}
	want, ok := parseVersion(cond.Version())
	if ok {
		var tag pgconn.CommandTag
		err := retry(ctx, func() error {
			var err error
			tag, err = s.pool.Exec(ctx, s.qDeleteVersion, key, want)
			return err
		})
		if err != nil {
			return s.classify(ctx, fmt.Sprintf("delete key %q (%s)", key, cond), err)
		}
		if tag.RowsAffected() == 1 {
			return nil
		}
	}
	return s.condFailed(ctx, "delete", key, cond)
}

// condFailed explains a failed if-version: ErrNotFound when the key does not
// exist, else ErrConflict.
func (s *Store) condFailed(ctx context.Context, op, key string, cond sdk.Cond) error {
	var exists bool
	err := retry(ctx, func() error { return s.pool.QueryRow(ctx, s.qExists, key).Scan(&exists) })
	if err != nil {
		return s.classify(ctx, fmt.Sprintf("%s key %q (%s)", op, key, cond), err)
	}
	if !exists {
		return sdk.Errorf(sdk.ErrNotFound, "%s key %q (%s): the key does not exist", op, key, cond)
	}
	return sdk.Errorf(sdk.ErrConflict, "%s key %q (%s): the key has another version", op, key, cond)
}

// List implements sdk.Store with keyset pagination in one query, values
// included when asked. The prefix is a range condition (key >= prefix AND
// key < successor(prefix)), not LIKE, so '_' and '%' are plain bytes and the
// primary key index serves it.
func (s *Store) List(ctx context.Context, opts sdk.ListOptions) (sdk.Page, error) {
	cols := "key, version"
	if opts.WithValues {
		cols += ", value"
	}
	after, inclusive, none := lowerBound(opts.StartAfter)
	if none {
		return sdk.Page{}, nil
	}
	op := " > "
	if inclusive {
		op = " >= "
	}
	q := "SELECT " + cols + " FROM " + s.n.qTable + " WHERE key" + op + "$1 AND key >= $2"
	args := []any{after, opts.Prefix}
	if upper, ok := successor(opts.Prefix); ok {
		q += " AND key < $4"
		args = append(args, opts.Limit+1, upper)
	} else {
		args = append(args, opts.Limit+1)
	}
	q += " ORDER BY key LIMIT $3"

	var page sdk.Page
	err := retry(ctx, func() error {
		page = sdk.Page{}
		rows, err := s.pool.Query(ctx, q, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var e sdk.Entry
			var version int64
			if opts.WithValues {
				err = rows.Scan(&e.Key, &version, &e.Value)
				if e.Value == nil {
					e.Value = []byte{}
				}
			} else {
				err = rows.Scan(&e.Key, &version)
			}
			if err != nil {
				return err
			}
			e.Version = formatVersion(version)
			page.Entries = append(page.Entries, e)
		}
		return rows.Err()
	})
	if err != nil {
		return sdk.Page{}, s.classify(ctx, fmt.Sprintf("list prefix %q after %q", opts.Prefix, opts.StartAfter), err)
	}
	if len(page.Entries) > opts.Limit {
		page.Entries = page.Entries[:opts.Limit]
		page.More = true
	}
	return page, nil
}

// Close closes the connection pool. It is safe to call more than once.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// successor returns the smallest string greater than every string with
// prefix p, and false when there is none (p empty or all 0xff bytes).
func successor(p string) (string, bool) {
	b := []byte(p)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return string(b[:i+1]), true
		}
	}
	return "", false
}

// lowerBound turns a StartAfter, which may hold any bytes (even ones a
// PostgreSQL text cannot: NUL, invalid UTF-8), into a bound made of key
// bytes that selects the same keys: key > after, or key >= after when
// inclusive. none reports that no key can sort after startAfter.
func lowerBound(startAfter string) (after string, inclusive, none bool) {
	for i := 0; i < len(startAfter); i++ {
		c := startAfter[i]
		if c == '/' || sdk.KeyByte(c) {
			continue
		}
		// Keys cannot hold c, so a key above startAfter either agrees on the
		// first i bytes and continues with a key byte above c, or is above
		// those i bytes altogether.
		for v := int(c) + 1; v < 0x80; v++ {
			if v == '/' || sdk.KeyByte(byte(v)) {
				return startAfter[:i] + string(rune(v)), true, false
			}
		}
		up, ok := successor(startAfter[:i])
		return up, true, !ok
	}
	return startAfter, false, false
}

func formatVersion(v int64) sdk.Version { return sdk.Version(strconv.FormatInt(v, 10)) }

// parseVersion accepts only versions this store issues: canonical positive
// decimals.
func parseVersion(v sdk.Version) (int64, bool) {
	n, err := strconv.ParseInt(string(v), 10, 64)
	if err != nil || n <= 0 || strconv.FormatInt(n, 10) != string(v) {
		return 0, false
	}
	return n, true
}
