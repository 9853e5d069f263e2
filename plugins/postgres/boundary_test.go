package postgres

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ALRubinger/aileron-store/internal/pluginproc"
	"github.com/ALRubinger/aileron-store/internal/testenv"
	"github.com/ALRubinger/aileron-store/sdk"
	"github.com/hashicorp/go-hclog"
)

const pluginPkg = "./plugins/postgres/cmd/aileron-store-postgres"

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// openPlugin starts the plugin binary with config through sdk.Open, its logs
// (at debug level) going to logs.
func openPlugin(t *testing.T, config map[string]string, logs *syncBuffer) (*sdk.Client, error) {
	t.Helper()
	bin := testenv.Binary(t, pluginPkg)
	logger := hclog.New(&hclog.LoggerOptions{Output: logs, Level: hclog.Trace})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := sdk.Open(ctx, bin, config, &sdk.ClientOptions{
		Logger: logger,
		Env:    []string{"AILERON_STORE_PLUGIN_LOG_LEVEL=trace"},
	})
	if err == nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, err
}

// TestAcrossProcessBoundary drives the plugin binary through the SDK's
// client: compare-and-swap, listing with values, errors, cancellation and a
// lost connection all come back to the host as the same sentinels, and no
// password reaches an error or a log line.
func TestAcrossProcessBoundary(t *testing.T) {
	db := newTestDB(t, nil)
	logs := &syncBuffer{}
	c, err := openPlugin(t, map[string]string{"dsn": db.dsn, "statement_timeout": "30s"}, logs)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if caps := c.Capabilities(); !caps.NativeListValues || caps.MaxValueSize != sdk.MaxValueSize {
		t.Fatalf("capabilities across the boundary: %+v", caps)
	}
	ctx := ctxT(t)

	v1 := mustPut(t, c, "vault/a", []byte("one"), sdk.IfAbsent())
	_, err = c.Put(ctx, "vault/a", []byte("x"), sdk.IfAbsent())
	wantKind(t, "IfAbsent on existing", err, sdk.ErrConflict)
	v2 := mustPut(t, c, "vault/a", []byte("one"), sdk.IfVersion(v1))
	if v2 == v1 {
		t.Fatal("rewrite kept the version")
	}
	_, err = c.Put(ctx, "vault/a", []byte("x"), sdk.IfVersion(v1))
	wantKind(t, "stale IfVersion", err, sdk.ErrConflict)
	_, err = c.Put(ctx, "vault/missing", []byte("x"), sdk.IfVersion(v1))
	wantKind(t, "IfVersion on missing", err, sdk.ErrNotFound)
	wantKind(t, "Delete stale", c.Delete(ctx, "vault/a", sdk.IfVersion(v1)), sdk.ErrConflict)
	if err := c.Delete(ctx, "vault/missing", sdk.None); err != nil {
		t.Fatalf("unconditional delete of a missing key: %v", err)
	}
	vb := mustPut(t, c, "vault/b", nil, sdk.None)
	vc := mustPut(t, c, "vault_c", bytes.Repeat([]byte{7}, sdk.MaxValueSize), sdk.None)
	p, err := c.List(ctx, sdk.ListOptions{Prefix: "vault", WithValues: true, Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Entries) != 2 || !p.More || p.Entries[0].Key != "vault/a" || p.Entries[0].Version != v2 ||
		string(p.Entries[0].Value) != "one" || p.Entries[1].Key != "vault/b" || p.Entries[1].Version != vb || len(p.Entries[1].Value) != 0 {
		t.Fatalf("page 1: %+v", p)
	}
	p, err = c.List(ctx, sdk.ListOptions{Prefix: "vault", WithValues: true, Limit: 2, StartAfter: "vault/b"})
	if err != nil || len(p.Entries) != 1 || p.More || p.Entries[0].Key != "vault_c" || p.Entries[0].Version != vc || len(p.Entries[0].Value) != sdk.MaxValueSize {
		t.Fatalf("page 2: %d entries more=%v err=%v", len(p.Entries), p.More, err)
	}
	_, err = c.Put(ctx, "Bad Key", []byte("x"), sdk.None)
	wantKind(t, "bad key", err, sdk.ErrInvalidArgument)

	// A deadline crosses the boundary and cancels the query in the server.
	tx := lockRow(t, db, "vault/a")
	short, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = c.Put(short, "vault/a", []byte("late"), sdk.None)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Put past its deadline across the boundary: %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatalf("deadline noticed after %v", time.Since(start))
	}
	waitNoLockWaiter(t, db.conn(t), db.name)

	// A connection lost in the plugin is ErrUnavailable on the host.
	errc := make(chan error, 1)
	go func() {
		_, err := c.Put(ctxT(t), "vault/a", []byte("late"), sdk.None)
		errc <- err
	}()
	pid := waiterPID(t, db)
	if _, err := db.conn(t).Exec(ctxT(t), "SELECT pg_terminate_backend($1)", pid); err != nil {
		t.Fatal(err)
	}
	select {
	case err = <-errc:
	case <-time.After(20 * time.Second):
		t.Fatal("Put did not return after its connection was terminated")
	}
	wantKind(t, "lost connection across the boundary", err, sdk.ErrUnavailable)
	tx.Rollback(ctxT(t))
	wantValue(t, c, "vault/a", []byte("one"), v2)

	// A killed plugin is restarted by the next call, which finds the schema
	// in place.
	if err := pluginproc.Kill(c); err != nil {
		t.Fatal(err)
	}
	var got []byte
	for i := 0; i < 3; i++ { // the call in flight when the plugin died may fail
		got, _, err = c.Get(ctx, "vault/a")
		if err == nil {
			break
		}
	}
	if err != nil || string(got) != "one" {
		t.Fatalf("Get after the plugin was killed: %q %v", got, err)
	}

	if l := logs.String(); strings.Contains(l, db.srv.Password) {
		t.Fatalf("plugin logs hold the password:\n%s", l)
	}
}

// TestConfigErrorsAcrossProcessBoundary: configuration errors name the field
// on the host, and neither they nor the plugin's logs hold a password.
func TestConfigErrorsAcrossProcessBoundary(t *testing.T) {
	srv := testenv.Postgres(t)
	const wrong = "wrong-Passw0rd-zebra"
	logs := &syncBuffer{}
	for _, tc := range []struct {
		name   string
		config map[string]string
		kind   error
		says   string
	}{
		{"unknown field", map[string]string{"dsn": srv.DSN, "tabel": "x"}, sdk.ErrInvalidArgument, `config field "tabel"`},
		{"missing dsn", map[string]string{}, sdk.ErrInvalidArgument, `config field "dsn": required`},
		{"bad schema", map[string]string{"dsn": srv.DSN, "schema": "Nope"}, sdk.ErrInvalidArgument, `config field "schema"`},
		{"bad max_conns", map[string]string{"dsn": srv.DSN, "max_conns": "0"}, sdk.ErrInvalidArgument, `config field "max_conns"`},
		{"wrong password", map[string]string{"dsn": dsnWith(srv, srv.Host, srv.Port, wrong, "postgres")}, sdk.ErrPermissionDenied, "28P01"},
		{"unreachable", map[string]string{"dsn": dsnWith(srv, "127.0.0.1", testenv.FreePort(t), wrong, "postgres"), "connect_timeout": "3s"}, sdk.ErrUnavailable, "127.0.0.1:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := openPlugin(t, tc.config, logs)
			wantKind(t, tc.name, err, tc.kind)
			if !strings.Contains(err.Error(), tc.says) {
				t.Errorf("error %q does not say %q", err, tc.says)
			}
			if strings.Contains(err.Error(), wrong) || strings.Contains(err.Error(), srv.Password) {
				t.Errorf("error holds a password: %q", err)
			}
		})
	}
	l := logs.String()
	if strings.Contains(l, wrong) || strings.Contains(l, srv.Password) {
		t.Fatalf("plugin logs hold a password:\n%s", l)
	}
	if !strings.Contains(l, "configuration refused") {
		t.Errorf("the plugin's logs did not reach the host's logger:\n%s", l)
	}
}
