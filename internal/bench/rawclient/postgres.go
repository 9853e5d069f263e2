package rawclient

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ALRubinger/aileron-store/internal/bench"
)

// rawPostgres is pgx used directly on a table of its own in the same
// database: SELECT by primary key, upsert, and a range scan.
type rawPostgres struct {
	pool   *pgxpool.Pool
	table  string
	config map[string]string // what it was opened with (SharedConfig)
}

func openRawPostgres(ctx context.Context, cfg map[string]string) (bench.Raw, error) {
	if cfg["dsn"] == "" {
		return nil, fmt.Errorf("postgres baseline: config field \"dsn\" is required")
	}
	pc, err := pgxpool.ParseConfig(cfg["dsn"])
	if err != nil {
		return nil, fmt.Errorf("postgres baseline: config field \"dsn\" does not parse")
	}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("postgres baseline: %w", err)
	}
	schema := cfg["schema"]
	if schema == "" {
		schema = "aileron_store"
	}
	table := pgx.Identifier{schema, "bench_raw"}.Sanitize()
	for _, q := range []string{
		"CREATE SCHEMA IF NOT EXISTS " + pgx.Identifier{schema}.Sanitize(),
		"CREATE TABLE IF NOT EXISTS " + table + ` (key text COLLATE "C" PRIMARY KEY, value bytea NOT NULL)`,
	} {
		if _, err := pool.Exec(ctx, q); err != nil {
			pool.Close()
			return nil, fmt.Errorf("postgres baseline: %w", err)
		}
	}
	return &rawPostgres{pool: pool, table: table, config: map[string]string{"dsn": cfg["dsn"], "schema": schema}}, nil
}

func (r *rawPostgres) Name() string { return "pgx" }

// SharedConfig opens, in another process, a client onto the same table.
func (r *rawPostgres) SharedConfig() map[string]string { return r.config }

func (r *rawPostgres) Get(ctx context.Context, key string) ([]byte, error) {
	var v []byte
	err := r.pool.QueryRow(ctx, "SELECT value FROM "+r.table+" WHERE key = $1", key).Scan(&v)
	return v, err
}

func (r *rawPostgres) Put(ctx context.Context, key string, value []byte) error {
	_, err := r.pool.Exec(ctx, "INSERT INTO "+r.table+" (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value", key, value)
	return err
}

func (r *rawPostgres) Delete(ctx context.Context, key string) error {
	_, err := r.pool.Exec(ctx, "DELETE FROM "+r.table+" WHERE key = $1", key)
	return err
}

func (r *rawPostgres) List(ctx context.Context, prefix string) (int, error) {
	rows, err := r.pool.Query(ctx, "SELECT key, value FROM "+r.table+" WHERE key > $1 AND key < $2 ORDER BY key", prefix+"/", prefix+"0")
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		n++
	}
	return n, rows.Err()
}

func (r *rawPostgres) Cleanup(ctx context.Context, prefix string) error {
	_, err := r.pool.Exec(ctx, "DELETE FROM "+r.table+" WHERE key > $1 AND key < $2", prefix+"/", prefix+"0")
	return err
}

func (r *rawPostgres) Close() error { r.pool.Close(); return nil }
