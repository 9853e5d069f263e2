package core

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ALRubinger/aileron-store/core/internal/wire"
	"github.com/ALRubinger/aileron-store/internal/testenv"
	"github.com/ALRubinger/aileron-store/plugins/fs"
	"github.com/ALRubinger/aileron-store/sdk"
	"github.com/ALRubinger/aileron-store/sdk/memstore"
)

// storeFactories are the backends the scenario helpers run over. Every
// scenario takes an sdk.Store, so adding a backend (a plugin client from
// sdk.Open, a filesystem store) is one more entry here.
var storeFactories = map[string]func(t *testing.T) sdk.Store{
	"mem": func(t *testing.T) sdk.Store { return atomicGuard(memstore.New()) },
	"fs": func(t *testing.T) sdk.Store {
		st, err := fs.Open(stateDir(t))
		if err != nil {
			t.Fatal(err)
		}
		return atomicGuard(st)
	},
	// The fs plugin binary across the gRPC boundary, as the host runs it.
	"fs-plugin": func(t *testing.T) sdk.Store {
		bin := testenv.Binary(t, "./plugins/fs/cmd/aileron-store-fs")
		c, err := sdk.Open(context.Background(), bin, map[string]string{"path": stateDir(t)}, nil)
		if err != nil {
			t.Fatalf("starting the fs plugin: %v", err)
		}
		return atomicGuard(c)
	},
}

func init() {
	// A sweep over a store without an atomic guard waits 1.5x this before
	// its final pass (the scenario stores are atomic; the tests of the
	// non-atomic path use their own engines).
	staleWriteTimeout = 2 * time.Second
	// Any plugin binary can be put through the scenarios without code
	// changes: AILERON_CORE_TEST_PLUGIN=<binary> and
	// AILERON_CORE_TEST_PLUGIN_CONFIG='{"field":"value"}' (an empty backend).
	bin := os.Getenv("AILERON_CORE_TEST_PLUGIN")
	if bin == "" {
		return
	}
	storeFactories["env-plugin"] = func(t *testing.T) sdk.Store {
		config := map[string]string{}
		if c := os.Getenv("AILERON_CORE_TEST_PLUGIN_CONFIG"); c != "" {
			if err := json.Unmarshal([]byte(c), &config); err != nil {
				t.Fatalf("AILERON_CORE_TEST_PLUGIN_CONFIG: %v", err)
			}
		}
		c, err := sdk.Open(context.Background(), bin, config, nil)
		if err != nil {
			t.Fatalf("starting plugin %s: %v", bin, err)
		}
		return c
	}
}

// crashFactories are the backends of the crash test, which needs a fresh
// store for each of its hundred-odd runs (no plugin process per run).
var crashFactories = []string{"mem", "fs"}

// overStores runs fn once per backend.
func overStores(t *testing.T, fn func(t *testing.T, st sdk.Store)) {
	for name, f := range storeFactories {
		t.Run(name, func(t *testing.T) {
			st := f(t)
			t.Cleanup(func() { st.Close() })
			fn(t, st)
		})
	}
}

var (
	idOnce  sync.Once
	idCache = map[string]*Identity{}
)

// testIdentity returns a per-process identity for a role name. Alice uses the
// default hybrid suite, everyone else X25519 (faster, and it mixes suites).
func testIdentity(t testing.TB, who string) *Identity {
	t.Helper()
	idOnce.Do(func() {
		for _, n := range []string{"alice", "bob", "carol", "dave", "mallory"} {
			s := SuiteX25519
			if n == "alice" || n == "carol" {
				s = SuiteMLKEM768X25519
			}
			id, err := NewIdentity(s)
			if err != nil {
				panic(err)
			}
			idCache[n] = id
		}
	})
	id := idCache[who]
	if id == nil {
		t.Fatalf("no test identity %q", who)
	}
	return id
}

// newEngine returns an engine with its own state dir.
func newEngine(t testing.TB, st sdk.Store, opts *Options) *Engine {
	t.Helper()
	o := Options{StateDir: stateDir(t)}
	if opts != nil {
		o = *opts
	}
	e, err := New(st, &o)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// wantErr fails unless err wraps every sentinel and mentions every fragment.
func wantErr(t testing.TB, err error, sentinel error, fragments ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %v", sentinel)
	}
	if !errors.Is(err, sentinel) {
		t.Fatalf("got %v, want an error wrapping %v", err, sentinel)
	}
	for _, f := range fragments {
		if !strings.Contains(err.Error(), f) {
			t.Fatalf("error %q does not mention %q", err, f)
		}
	}
}

// dump returns every key and value of a store.
func dump(t testing.TB, st sdk.Store) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := sdk.Walk(context.Background(), st, "", true, func(e sdk.Entry) error {
		out[e.Key] = e.Value
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// keysWith returns the keys of st under prefix containing part.
func keysWith(t testing.TB, st sdk.Store, prefix, part string) []string {
	t.Helper()
	var out []string
	for k := range dump(t, st) {
		if strings.HasPrefix(k, prefix) && strings.Contains(k, part) {
			out = append(out, k)
		}
	}
	return out
}

func put(t testing.TB, st sdk.Store, key string, val []byte) {
	t.Helper()
	if _, err := st.Put(context.Background(), key, val, sdk.None); err != nil {
		t.Fatal(err)
	}
}

func get(t testing.TB, st sdk.Store, key string) []byte {
	t.Helper()
	b, _, err := st.Get(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// heldKeys returns the epoch keys a vault handle holds (what a member that
// is later revoked walks away with).
func heldKeys(v *Vault) []*epochKey {
	s, err := v.current()
	if err != nil {
		return nil
	}
	var out []*epochKey
	for _, k := range []*epochKey{s.cur, s.prev} {
		if k != nil {
			c, _ := newEpochKey(v.id, k.epoch, k.key, k.naming)
			out = append(out, c)
		}
	}
	return out
}

// assertOldKeysUseless checks that no record in the store decrypts under any
// of keys, and that id opens no key slot in the store.
func assertOldKeysUseless(t testing.TB, st sdk.Store, vault *Vault, keys []*epochKey, id *Identity) {
	t.Helper()
	for k, val := range dump(t, st) {
		switch {
		case strings.HasPrefix(k, recordPrefix(vault.id)):
			rec, err := parseRecordForTest(val)
			if err != nil {
				t.Fatalf("record %s: %v", k, err)
			}
			for _, ek := range keys {
				if _, err := openRecord(ek, rec); err == nil {
					t.Fatalf("record %s (epoch %d) still decrypts under a revoked member's key of epoch %d", k, rec.Epoch, ek.epoch)
				}
			}
		case strings.HasPrefix(k, slotPrefix(vault.id)):
			s, err := parseSlotForTest(val)
			if err != nil {
				t.Fatalf("slot %s: %v", k, err)
			}
			if _, err := openSlot(id, k, val, s.Vault, s.Epoch, s.Commitment); err == nil {
				t.Fatalf("revoked identity opens slot %s", k)
			}
		}
	}
}

func parseRecordForTest(b []byte) (*wire.Record, error) { return wire.ParseRecord(b) }
func parseSlotForTest(b []byte) (*wire.Slot, error)     { return wire.ParseSlot(b) }

// stateDir returns a temporary state directory, on tmpfs when the machine
// has one: pins are fsynced on every head change, and the crash test makes
// thousands of them.
func stateDir(t testing.TB) string {
	t.Helper()
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		if d, err := os.MkdirTemp("/dev/shm", "aileron-core-test-"); err == nil {
			t.Cleanup(func() { os.RemoveAll(d) })
			return d
		}
	}
	return t.TempDir()
}

// classicalOK lets the tests grant X25519 members (bob, dave, mallory) into
// alice's hybrid vaults.
var classicalOK = &GrantOptions{AllowClassical: true}

// errOf drops a report.
func errOf(_ *RevokeReport, err error) error { return err }
