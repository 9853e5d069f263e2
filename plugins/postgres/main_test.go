package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/ALRubinger/aileron-store/internal/testenv"
	"github.com/ALRubinger/aileron-store/sdk"
	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// testDB is a fresh database on the test cluster.
type testDB struct {
	srv  testenv.PGServer
	name string
	dsn  string
}

func newTestDB(t testing.TB, opts *testenv.PGDatabaseOptions) testDB {
	t.Helper()
	srv := testenv.Postgres(t)
	name, dsn := srv.NewDatabase(t, opts)
	return testDB{srv: srv, name: name, dsn: dsn}
}

// open opens a Store on db with extra config fields, closed when t ends.
func (db testDB) open(t testing.TB, extra map[string]string) *Store {
	t.Helper()
	cfg := map[string]string{"dsn": db.dsn}
	for k, v := range extra {
		cfg[k] = v
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	st, err := New(ctx, cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st.(*Store)
}

// conn opens a superuser connection to db, closed when t ends.
func (db testDB) conn(t *testing.T) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, db.dsn)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func mustPut(t *testing.T, s sdk.Store, key string, value []byte, cond sdk.Cond) sdk.Version {
	t.Helper()
	v, err := s.Put(ctxT(t), key, value, cond)
	if err != nil {
		t.Fatalf("Put(%q, %s): %v", key, cond, err)
	}
	if v == "" {
		t.Fatalf("Put(%q) returned an empty version", key)
	}
	return v
}
