package postgres

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ALRubinger/aileron-store/internal/testenv"
	"github.com/ALRubinger/aileron-store/sdk"
	"github.com/jackc/pgx/v5"
)

// lockRow holds a row lock on key in db's default table until t ends, so
// that a write of key by the store blocks.
func lockRow(t *testing.T, db testDB, key string) pgx.Tx {
	t.Helper()
	c := db.conn(t)
	ctx := ctxT(t)
	tx, err := c.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM (SELECT 1 FROM aileron_store.blobs WHERE key = $1 FOR UPDATE) l`, key).Scan(&n); err != nil || n != 1 {
		t.Fatalf("locking %q: %d rows, %v", key, n, err)
	}
	t.Cleanup(func() { tx.Rollback(context.Background()) })
	return tx
}

// waiterPID waits until a session of the store waits on a lock in db and
// returns its backend pid.
func waiterPID(t *testing.T, db testDB) int {
	t.Helper()
	c := db.conn(t)
	deadline := time.Now().Add(10 * time.Second)
	for {
		var pid int
		err := c.QueryRow(ctxT(t), `SELECT pid FROM pg_stat_activity
			WHERE datname = $1 AND application_name = 'aileron-store' AND wait_event_type = 'Lock' LIMIT 1`, db.name).Scan(&pid)
		if err == nil {
			return pid
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatal("no statement of the store waits on the lock")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestLostConnection: the server terminates the store's backend in the middle
// of a statement (pg_terminate_backend, as an administrator or a failover
// would): the call fails with ErrUnavailable, and the next call works on a
// new connection.
func TestLostConnection(t *testing.T) {
	db := newTestDB(t, nil)
	s := db.open(t, nil)
	v1 := mustPut(t, s, "k", []byte("before"), sdk.None)
	tx := lockRow(t, db, "k")

	errc := make(chan error, 1)
	go func() {
		_, err := s.Put(ctxT(t), "k", []byte("after"), sdk.None)
		errc <- err
	}()
	pid := waiterPID(t, db)
	var ok bool
	if err := db.conn(t).QueryRow(ctxT(t), "SELECT pg_terminate_backend($1)", pid).Scan(&ok); err != nil || !ok {
		t.Fatalf("pg_terminate_backend(%d): %v %v", pid, ok, err)
	}
	var err error
	select {
	case err = <-errc:
	case <-time.After(20 * time.Second):
		t.Fatal("Put did not return after its connection was terminated")
	}
	wantKind(t, "Put on a terminated connection", err, sdk.ErrUnavailable)
	if !strings.Contains(err.Error(), `"k"`) {
		t.Errorf("error %q does not name the key", err)
	}
	t.Logf("lost connection: %v", err)
	tx.Rollback(ctxT(t))

	wantValue(t, s, "k", []byte("before"), v1)
	v2 := mustPut(t, s, "k", []byte("after"), sdk.IfVersion(v1))
	wantValue(t, s, "k", []byte("after"), v2)

	// Every idle connection of the pool killed at once: calls still work
	// (a broken idle connection is retried when nothing reached the server,
	// or the pool pings it first).
	if _, err := db.conn(t).Exec(ctxT(t), `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = $1 AND application_name = 'aileron-store'`, db.name); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond) // past pgxpool's idle ping threshold
	wantValue(t, s, "k", []byte("after"), v2)
}

// TestStatementTimeout: the statement_timeout field reaches the server; a
// statement that runs past it is ErrUnavailable (retryable), not a context
// error.
func TestStatementTimeout(t *testing.T) {
	db := newTestDB(t, nil)
	s := db.open(t, map[string]string{"statement_timeout": "200ms"})
	v1 := mustPut(t, s, "k", []byte("before"), sdk.None)
	tx := lockRow(t, db, "k")
	start := time.Now()
	_, err := s.Put(ctxT(t), "k", []byte("after"), sdk.None)
	wantKind(t, "Put past statement_timeout", err, sdk.ErrUnavailable)
	if !strings.Contains(err.Error(), "57014") || time.Since(start) > 10*time.Second {
		t.Fatalf("error %v after %v, want SQLSTATE 57014 soon after 200ms", err, time.Since(start))
	}
	tx.Rollback(ctxT(t))
	wantValue(t, s, "k", []byte("before"), v1)
}

// TestReadOnlyDatabase: a database that refuses writes gives a clear,
// retryable error on writes while reads and listing keep working.
func TestReadOnlyDatabase(t *testing.T) {
	db := newTestDB(t, nil)
	s := db.open(t, nil)
	v1 := mustPut(t, s, "k", []byte("v"), sdk.None)
	s.Close()
	db.srv.Exec(t, "postgres", "ALTER DATABASE "+pgx.Identifier{db.name}.Sanitize()+" SET default_transaction_read_only = on")

	// New needs no write when the schema is current.
	s = db.open(t, nil)
	wantValue(t, s, "k", []byte("v"), v1)
	if p, err := sdk.Checked(s).List(ctxT(t), sdk.ListOptions{WithValues: true}); err != nil || len(p.Entries) != 1 {
		t.Fatalf("List on a read-only database: %+v %v", p, err)
	}
	_, err := s.Put(ctxT(t), "k", []byte("w"), sdk.None)
	wantKind(t, "Put on a read-only database", err, sdk.ErrUnavailable)
	for _, want := range []string{"read-only", "25006", `"k"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	err = s.Delete(ctxT(t), "k", sdk.IfVersion(v1))
	wantKind(t, "Delete on a read-only database", err, sdk.ErrUnavailable)
	wantValue(t, s, "k", []byte("v"), v1)

	// A fresh table cannot be created there: the migration says why.
	_, err = New(ctxT(t), map[string]string{"dsn": db.dsn, "table": "other"})
	wantKind(t, "New needing a migration on a read-only database", err, sdk.ErrUnavailable)
	if !strings.Contains(err.Error(), "read-only") || !strings.Contains(err.Error(), `"other"`) {
		t.Errorf("migration error %q does not say read-only and name the table", err)
	}
}

func dsnWith(srv testenv.PGServer, host string, port int, password, database string) string {
	u := url.URL{Scheme: "postgres", User: url.UserPassword(srv.User, password),
		Host: fmt.Sprintf("%s:%d", host, port), Path: "/" + database, RawQuery: "sslmode=disable"}
	return u.String()
}

func TestConnectFailures(t *testing.T) {
	srv := testenv.Postgres(t)
	const wrong = "wrong-Passw0rd-zebra"

	// Refused credentials: permission denied, no password in the message.
	_, err := New(ctxT(t), map[string]string{"dsn": dsnWith(srv, srv.Host, srv.Port, wrong, "postgres")})
	wantKind(t, "wrong password", err, sdk.ErrPermissionDenied)
	if strings.Contains(err.Error(), wrong) || strings.Contains(err.Error(), srv.Password) {
		t.Fatalf("error holds a password: %q", err)
	}
	t.Logf("wrong password: %v", err)

	// Nothing listening: unavailable, naming host:port, not the password.
	port := testenv.FreePort(t)
	start := time.Now()
	_, err = New(ctxT(t), map[string]string{"dsn": dsnWith(srv, "127.0.0.1", port, wrong, "postgres"), "connect_timeout": "3s"})
	wantKind(t, "unreachable server", err, sdk.ErrUnavailable)
	if !strings.Contains(err.Error(), fmt.Sprintf("127.0.0.1:%d", port)) || strings.Contains(err.Error(), wrong) {
		t.Fatalf("unreachable error %q: want host:port and no password", err)
	}
	if time.Since(start) > 15*time.Second {
		t.Fatalf("unreachable server took %v", time.Since(start))
	}
	t.Logf("unreachable: %v", err)

	// A database that does not exist: the dsn field is at fault.
	_, err = New(ctxT(t), map[string]string{"dsn": dsnWith(srv, srv.Host, srv.Port, srv.Password, "no_such_db")})
	wantKind(t, "missing database", err, sdk.ErrInvalidArgument)
	if !strings.Contains(err.Error(), `"dsn"`) || strings.Contains(err.Error(), srv.Password) {
		t.Fatalf("missing database error %q", err)
	}

	// Keyword/value DSN form with a wrong password too.
	kv := fmt.Sprintf("host=%s port=%d user=%s password=%s dbname=postgres sslmode=disable", srv.Host, srv.Port, srv.User, wrong)
	_, err = New(ctxT(t), map[string]string{"dsn": kv})
	wantKind(t, "wrong password (keyword DSN)", err, sdk.ErrPermissionDenied)
	if strings.Contains(err.Error(), wrong) {
		t.Fatalf("error holds the password: %q", err)
	}

	// A context that ends while connecting is the context's error.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = New(ctx, map[string]string{"dsn": srv.DSN})
	if sdk.Kind(err) != context.Canceled {
		t.Fatalf("New with a canceled context: %v", err)
	}
}

// TestPrefix: stores with different prefixes share one table without seeing
// each other's keys; the table holds prefix/key.
func TestPrefix(t *testing.T) {
	db := newTestDB(t, nil)
	whole := db.open(t, nil)
	open := func(prefix string) sdk.Store {
		st, err := New(ctxT(t), map[string]string{"dsn": db.dsn, "prefix": prefix})
		if err != nil {
			t.Fatalf("New with prefix %q: %v", prefix, err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	a, b := open("run/a"), open("run/b")
	mustPut(t, a, "k", []byte("a"), sdk.None)
	mustPut(t, b, "k", []byte("b"), sdk.None)
	for st, want := range map[sdk.Store]string{a: "a", b: "b", whole: ""} {
		v, _, err := st.Get(ctxT(t), "k")
		if want == "" {
			wantKind(t, "the unprefixed store's k", err, sdk.ErrNotFound)
		} else if err != nil || string(v) != want {
			t.Fatalf("prefixed k: %q %v, want %q", v, err, want)
		}
	}
	if got := keysOf(listAll(t, whole, "run/", 10, false)); strings.Join(got, " ") != "run/a/k run/b/k" {
		t.Errorf("the table holds %v, want run/a/k run/b/k", got)
	}
	if got := keysOf(listAll(t, a, "", 10, false)); strings.Join(got, " ") != "k" {
		t.Errorf("prefixed listing %v, want [k]", got)
	}
}

// TestSchemaAndTable: custom schema and tables are created and versioned,
// tables in one schema are independent, and a schema newer than the plugin
// is refused.
func TestSchemaAndTable(t *testing.T) {
	db := newTestDB(t, nil)
	a := db.open(t, map[string]string{"schema": "tenant_a", "table": "vault_one", "max_conns": "2"})
	b := db.open(t, map[string]string{"schema": "tenant_a", "table": "vault_two"})
	d := db.open(t, nil)
	if got := a.pool.Config().MaxConns; got != 2 {
		t.Errorf("max_conns 2 gave a pool of %d", got)
	}
	mustPut(t, a, "k", []byte("a"), sdk.None)
	mustPut(t, b, "k", []byte("b"), sdk.None)
	for st, want := range map[*Store]string{a: "a", b: "b"} {
		v, _, err := st.Get(ctxT(t), "k")
		if err != nil || string(v) != want {
			t.Fatalf("table %s: %q %v, want %q", st.n.table, v, err, want)
		}
	}
	_, _, err := d.Get(ctxT(t), "k")
	wantKind(t, "default table is separate", err, sdk.ErrNotFound)

	c := db.conn(t)
	for _, st := range []struct{ schema, table string }{{"tenant_a", "vault_one"}, {"tenant_a", "vault_two"}, {"aileron_store", "blobs"}} {
		var v int
		var coll string
		if err := c.QueryRow(ctxT(t), "SELECT version FROM "+pgx.Identifier{st.schema, "schema_version"}.Sanitize()+" WHERE table_name = $1", st.table).Scan(&v); err != nil || v != SchemaVersion {
			t.Errorf("%s.%s schema version %d %v, want %d", st.schema, st.table, v, err, SchemaVersion)
		}
		if err := c.QueryRow(ctxT(t), `SELECT collation_name FROM information_schema.columns
			WHERE table_schema = $1 AND table_name = $2 AND column_name = 'key'`, st.schema, st.table).Scan(&coll); err != nil || coll != "C" {
			t.Errorf("%s.%s key collation %q %v, want C", st.schema, st.table, coll, err)
		}
	}

	if _, err := c.Exec(ctxT(t), `UPDATE tenant_a.schema_version SET version = 99 WHERE table_name = 'vault_one'`); err != nil {
		t.Fatal(err)
	}
	_, err = New(ctxT(t), map[string]string{"dsn": db.dsn, "schema": "tenant_a", "table": "vault_one"})
	wantKind(t, "schema newer than the plugin", err, sdk.ErrInvalidArgument)
	if !strings.Contains(err.Error(), "99") || !strings.Contains(err.Error(), `"vault_one"`) {
		t.Errorf("error %q", err)
	}
}

// TestTLS: TLS is configured through the DSN; verify-full against the test
// CA encrypts the store's connections, and a server the client cannot verify
// is refused with a clear error.
func TestTLS(t *testing.T) {
	db := newTestDB(t, nil)
	tlsDSN := db.dsn[:strings.Index(db.dsn, "?")] + "?sslmode=verify-full&sslrootcert=" + url.QueryEscape(db.srv.CAFile)
	s, err := New(ctxT(t), map[string]string{"dsn": tlsDSN})
	if err != nil {
		t.Fatalf("New over TLS: %v", err)
	}
	defer s.Close()
	mustPut(t, s, "k", []byte("v"), sdk.None)
	var n int
	if err := db.conn(t).QueryRow(ctxT(t), `SELECT count(*) FROM pg_stat_ssl JOIN pg_stat_activity USING (pid)
		WHERE datname = $1 AND application_name = 'aileron-store' AND ssl`, db.name).Scan(&n); err != nil || n == 0 {
		t.Fatalf("%d TLS connections of the store (%v), want at least 1", n, err)
	}

	// verify-full without the test CA: the system roots do not know it.
	bad := db.dsn[:strings.Index(db.dsn, "?")] + "?sslmode=verify-full"
	_, err = New(ctxT(t), map[string]string{"dsn": bad, "connect_timeout": "3s"})
	if err == nil || !strings.Contains(err.Error(), "certificate") || strings.Contains(err.Error(), db.srv.Password) {
		t.Fatalf("verify-full against an unknown CA: %v", err)
	}
	t.Logf("unknown CA: %v", err)
}
