package postgres

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"

	"github.com/ALRubinger/aileron-store/sdk"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// SchemaVersion is the version of the table layout this package creates and
// expects. It is recorded per table in <schema>.schema_version.
const SchemaVersion = 1

// The layout, version 1:
//
//	<schema>.schema_version (table_name text PRIMARY KEY, version integer, updated_at timestamptz)
//	<schema>.<table>_version_seq: a bigint sequence; every write takes a new
//	    value, so a version is never reused, not even after delete and re-create.
//	<schema>.<table> (
//	    key     text COLLATE "C" PRIMARY KEY,  -- byte order whatever the database collation
//	    version bigint NOT NULL,
//	    value   bytea NOT NULL)                -- stored uncompressed (values are ciphertext)

// names holds the quoted identifiers the SQL uses.
type names struct {
	schema, table   string // raw
	qSchema         string // "schema"
	qTable          string // "schema"."table"
	qSeq            string // "schema"."table_version_seq"
	qVersions       string // "schema"."schema_version"
	seqRegclassText string // schema.table_version_seq quoted, as a text literal for nextval
}

func newNames(schema, table string) names {
	n := names{schema: schema, table: table}
	n.qSchema = pgx.Identifier{schema}.Sanitize()
	n.qTable = pgx.Identifier{schema, table}.Sanitize()
	n.qSeq = pgx.Identifier{schema, table + "_version_seq"}.Sanitize()
	n.qVersions = pgx.Identifier{schema, "schema_version"}.Sanitize()
	n.seqRegclassText = "'" + n.qSeq + "'"
	return n
}

// migrations[i] takes a table from version i to version i+1.
var migrations = []func(n names) []string{
	func(n names) []string {
		return []string{
			"CREATE SEQUENCE IF NOT EXISTS " + n.qSeq + " AS bigint",
			"CREATE TABLE IF NOT EXISTS " + n.qTable + ` (
				key     text COLLATE "C" NOT NULL PRIMARY KEY,
				version bigint NOT NULL,
				value   bytea NOT NULL)`,
			"ALTER TABLE " + n.qTable + " ALTER COLUMN value SET STORAGE EXTERNAL",
			"ALTER SEQUENCE " + n.qSeq + " OWNED BY " + n.qTable + ".version",
		}
	},
}

// lockKey is the advisory lock that serializes migrations of one schema
// across hosts. It covers the schema, not just the table, because creating
// the schema and its schema_version table races between tables too.
func lockKey(schema string) int64 {
	h := fnv.New64a()
	h.Write([]byte("aileron-store/postgres/migrate/" + schema))
	return int64(h.Sum64())
}

// migrate brings the table to SchemaVersion. When it is already there (the
// common case) it costs one read and needs no privilege beyond SELECT.
// Otherwise it migrates in one transaction holding a transaction-level
// advisory lock, so that hosts starting together migrate one after another
// and the lock dies with the transaction, never staying on a pooled
// connection.
func (s *Store) migrate(ctx context.Context) error {
	what := fmt.Sprintf("schema %q table %q: migrate", s.n.schema, s.n.table)
	v, err := s.currentVersion(ctx, s.pool)
	if err != nil {
		return s.classify(ctx, what, err)
	}
	if v == SchemaVersion {
		return nil
	}
	if v > SchemaVersion {
		return s.tooNew(v)
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", lockKey(s.n.schema)); err != nil {
			return err
		}
		var exists bool
		if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", s.n.schema).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			// CREATE SCHEMA IF NOT EXISTS needs CREATE on the database even
			// when the schema exists, hence the check.
			if _, err := tx.Exec(ctx, "CREATE SCHEMA "+s.n.qSchema); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, "CREATE TABLE IF NOT EXISTS "+s.n.qVersions+` (
			table_name text PRIMARY KEY,
			version    integer NOT NULL,
			updated_at timestamptz NOT NULL DEFAULT now())`); err != nil {
			return err
		}
		v, err := s.currentVersion(ctx, tx)
		if err != nil {
			return err
		}
		if v > SchemaVersion {
			return s.tooNew(v)
		}
		for ; v < SchemaVersion; v++ {
			for _, stmt := range migrations[v](s.n) {
				if _, err := tx.Exec(ctx, stmt); err != nil {
					return fmt.Errorf("migration to version %d: %w", v+1, err)
				}
			}
		}
		_, err = tx.Exec(ctx, "INSERT INTO "+s.n.qVersions+` (table_name, version) VALUES ($1, $2)
			ON CONFLICT (table_name) DO UPDATE SET version = EXCLUDED.version, updated_at = now()`,
			s.n.table, SchemaVersion)
		return err
	})
	if err != nil {
		if sdk.Kind(err) != nil {
			return err
		}
		return s.classify(ctx, what, err)
	}
	return nil
}

func (s *Store) tooNew(v int) error {
	return sdk.Errorf(sdk.ErrInvalidArgument, "config field %q: table %q in schema %q has schema version %d, newer than this plugin's %d: upgrade the plugin",
		FieldTable, s.n.table, s.n.schema, v, SchemaVersion)
}

type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// currentVersion reads the table's schema version; 0 when the schema, the
// schema_version table or the row does not exist.
func (s *Store) currentVersion(ctx context.Context, q querier) (int, error) {
	var v int
	err := q.QueryRow(ctx, "SELECT version FROM "+s.n.qVersions+" WHERE table_name = $1", s.n.table).Scan(&v)
	var pgErr *pgconn.PgError
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return 0, nil
	case errors.As(err, &pgErr) && (pgErr.Code == "42P01" || pgErr.Code == "3F000"): // undefined table / schema
		return 0, nil
	case err != nil:
		return 0, err
	}
	return v, nil
}
