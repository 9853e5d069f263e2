package postgres

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ALRubinger/aileron-store/internal/testenv"
	"github.com/ALRubinger/aileron-store/sdk"
	"github.com/jackc/pgx/v5"
)

const (
	envMigrateDSN    = "AILERON_PG_MIGRATE_DSN"
	envMigrateSchema = "AILERON_PG_MIGRATE_SCHEMA"
	envMigrateAt     = "AILERON_PG_MIGRATE_AT"
)

// migrateConcurrently opens stores on a fresh schema from n goroutines at
// once and writes one key from each.
func migrateConcurrently(ctx context.Context, dsn, schema string, n int, tag string) error {
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			st, err := New(ctx, map[string]string{"dsn": dsn, "schema": schema, "max_conns": "2"})
			if err != nil {
				errs[i] = err
				return
			}
			defer st.Close()
			_, errs[i] = st.Put(ctx, fmt.Sprintf("%s/%d", tag, i), []byte(tag), sdk.IfAbsent())
		}(i)
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// TestMigrateHelperProcess is the body of the child processes of
// TestMigrateConcurrentProcesses; run directly it does nothing.
func TestMigrateHelperProcess(t *testing.T) {
	dsn := os.Getenv(envMigrateDSN)
	if dsn == "" {
		return
	}
	at, err := strconv.ParseInt(os.Getenv(envMigrateAt), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Until(time.Unix(0, at)))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := migrateConcurrently(ctx, dsn, os.Getenv(envMigrateSchema), 4, fmt.Sprintf("proc%d", os.Getpid())); err != nil {
		t.Fatal(err)
	}
}

func checkMigrated(t *testing.T, db testDB, schema string, wantKeys int) {
	t.Helper()
	c := db.conn(t)
	var v, rows, keys int
	if err := c.QueryRow(ctxT(t), "SELECT version FROM "+pgx.Identifier{schema, "schema_version"}.Sanitize()+" WHERE table_name = 'blobs'").Scan(&v); err != nil || v != SchemaVersion {
		t.Fatalf("schema %s: version %d %v, want %d", schema, v, err, SchemaVersion)
	}
	if err := c.QueryRow(ctxT(t), "SELECT count(*) FROM "+pgx.Identifier{schema, "schema_version"}.Sanitize()).Scan(&rows); err != nil || rows != 1 {
		t.Fatalf("schema %s: %d schema_version rows %v, want 1", schema, rows, err)
	}
	if err := c.QueryRow(ctxT(t), "SELECT count(*) FROM "+pgx.Identifier{schema, "blobs"}.Sanitize()).Scan(&keys); err != nil || keys != wantKeys {
		t.Fatalf("schema %s: %d keys %v, want %d", schema, keys, err, wantKeys)
	}
}

// TestMigrateConcurrentProcesses starts two OS processes (this test binary
// re-executed) that each open four stores at the same instant on a schema
// that does not exist yet, in three rounds: all succeed, the schema is at
// SchemaVersion, and every write landed.
func TestMigrateConcurrentProcesses(t *testing.T) {
	db := newTestDB(t, nil)
	for round := 0; round < 3; round++ {
		schema := fmt.Sprintf("procs_%d", round)
		at := time.Now().Add(700 * time.Millisecond).UnixNano()
		type result struct {
			out []byte
			err error
		}
		results := make(chan result, 2)
		start := time.Now()
		for p := 0; p < 2; p++ {
			cmd := testenv.Command(os.Args[0], "-test.run=^TestMigrateHelperProcess$", "-test.count=1", "-test.v")
			cmd.Env = append(os.Environ(), envMigrateDSN+"="+db.dsn, envMigrateSchema+"="+schema, envMigrateAt+"="+strconv.FormatInt(at, 10))
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			go func() {
				done := make(chan error, 1)
				go func() { done <- cmd.Wait() }()
				select {
				case err := <-done:
					results <- result{out.Bytes(), err}
				case <-time.After(90 * time.Second):
					cmd.Process.Kill()
					<-done
					results <- result{out.Bytes(), fmt.Errorf("timed out")}
				}
			}()
		}
		for p := 0; p < 2; p++ {
			r := <-results
			if r.err != nil || !bytes.Contains(r.out, []byte("--- PASS: TestMigrateHelperProcess")) {
				t.Fatalf("round %d: migrating process: %v\n%s", round, r.err, r.out)
			}
		}
		checkMigrated(t, db, schema, 8)
		t.Logf("round %d: two processes x four stores migrated %s in %v", round, schema, time.Since(start))
	}
}

// TestMigrateConcurrentInProcess: eight stores of one process open at once
// on a schema that does not exist yet.
func TestMigrateConcurrentInProcess(t *testing.T) {
	db := newTestDB(t, nil)
	for round := 0; round < 3; round++ {
		schema := fmt.Sprintf("goroutines_%d", round)
		if err := migrateConcurrently(ctxT(t), db.dsn, schema, 8, "g"); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		checkMigrated(t, db, schema, 8)
	}
}
