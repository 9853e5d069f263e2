package serve

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	hostapi "github.com/ALRubinger/aileron-store/api/hostapi/v1"
	"github.com/ALRubinger/aileron-store/core"
	"github.com/ALRubinger/aileron-store/sdk/memstore"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type fixture struct {
	client hostapi.VaultClient
	srv    *Server
	clock  *clock
	socket string
}

// start serves a vault "team" owned by identity "alice" (passphrase "pw")
// over a real core engine on an in-memory store.
func start(t testing.TB) *fixture { t.Helper(); return startWith(t, nil) }

// startWith is start with an access log.
func startWith(t testing.TB, audit *AuditLog) *fixture {
	t.Helper()
	ctx := context.Background()
	eng, err := core.New(memstore.New(), nil)
	if err != nil {
		t.Fatal(err)
	}
	alice, err := core.NewIdentity(core.SuiteX25519)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := core.MarshalIdentity(alice, []byte("pw"), &core.KDFParams{Time: 1, MemoryKiB: 8 << 10, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	v, err := eng.CreateVault(ctx, "team", alice, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Put(ctx, "seed", []byte("s33d")); err != nil {
		t.Fatal(err)
	}
	v.Lock()
	c := &clock{t: time.Unix(1_000_000, 0)}
	srv := New(&coreOpener{eng: eng, sealed: sealed}, &Options{TTL: time.Minute, Now: c.now, Audit: audit})

	dir := filepath.Join(t.TempDir(), "run")
	sock := filepath.Join(dir, "s.sock")
	l, err := Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- Run(sctx, l, srv) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not stop")
		}
	})
	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &fixture{client: hostapi.NewVaultClient(conn), srv: srv, clock: c, socket: sock}
}

// coreOpener opens the one identity "alice" from sealed, and vaults of eng.
type coreOpener struct {
	eng    *core.Engine
	sealed []byte
}

func (o *coreOpener) OpenIdentity(ctx context.Context, identity string, pass []byte) (Identity, error) {
	if identity != "alice" {
		return nil, ErrUnknownIdentity
	}
	return core.ParseIdentity(o.sealed, func() ([]byte, error) { return append([]byte(nil), pass...), nil })
}

func (o *coreOpener) UnlockVault(ctx context.Context, vault string, id Identity) (Vault, error) {
	return o.eng.Unlock(ctx, vault, id.(*core.Identity))
}

func code(err error) codes.Code { return status.Code(err) }

func TestSocketPermissions(t *testing.T) {
	f := start(t)
	fi, err := os.Stat(f.socket)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode %v, want socket 0600", fi.Mode())
	}
	di, _ := os.Stat(filepath.Dir(f.socket))
	if di.Mode().Perm() != 0o700 {
		t.Errorf("socket dir mode %o, want 700", di.Mode().Perm())
	}
}

func TestSessionLifecycle(t *testing.T) {
	f := start(t)
	ctx := context.Background()
	c := f.client

	_, err := c.Unlock(ctx, &hostapi.UnlockRequest{Vault: "team", Identity: "alice", Passphrase: []byte("nope")})
	if code(err) != codes.Unauthenticated {
		t.Fatalf("wrong passphrase: %v", err)
	}
	_, err = c.Unlock(ctx, &hostapi.UnlockRequest{Vault: "team", Identity: "mallory", Passphrase: []byte("pw")})
	if code(err) != codes.NotFound {
		t.Fatalf("unknown identity: %v", err)
	}
	_, err = c.Unlock(ctx, &hostapi.UnlockRequest{Vault: "other", Identity: "alice", Passphrase: []byte("pw")})
	if code(err) != codes.NotFound {
		t.Fatalf("unknown vault: %v", err)
	}
	_, err = c.Unlock(ctx, &hostapi.UnlockRequest{Vault: "team"})
	if code(err) != codes.InvalidArgument {
		t.Fatalf("missing identity: %v", err)
	}

	u, err := c.Unlock(ctx, &hostapi.UnlockRequest{Vault: "team", Identity: "alice", Passphrase: []byte("pw")})
	if err != nil {
		t.Fatal(err)
	}
	if len(u.Session) < 40 || u.ExpiresUnix != f.clock.now().Add(time.Minute).Unix() {
		t.Fatalf("unlock response %v", u)
	}
	s := u.Session

	g, err := c.Get(ctx, &hostapi.GetRequest{Session: s, Name: "seed"})
	if err != nil || string(g.Value) != "s33d" {
		t.Fatalf("get seed: %v %v", g, err)
	}
	val := make([]byte, 256)
	for i := range val {
		val[i] = byte(i)
	}
	if _, err := c.Put(ctx, &hostapi.PutRequest{Session: s, Name: "bytes", Value: val}); err != nil {
		t.Fatal(err)
	}
	g, err = c.Get(ctx, &hostapi.GetRequest{Session: s, Name: "bytes"})
	if err != nil || string(g.Value) != string(val) {
		t.Fatalf("get bytes: %v", err)
	}
	l, err := c.List(ctx, &hostapi.ListRequest{Session: s})
	if err != nil || len(l.Names) != 2 || l.Names[0] != "bytes" || l.Names[1] != "seed" {
		t.Fatalf("list: %v %v", l, err)
	}
	if _, err := c.Delete(ctx, &hostapi.DeleteRequest{Session: s, Name: "bytes"}); err != nil {
		t.Fatal(err)
	}
	_, err = c.Get(ctx, &hostapi.GetRequest{Session: s, Name: "bytes"})
	if code(err) != codes.NotFound {
		t.Fatalf("get deleted: %v", err)
	}
	_, err = c.Get(ctx, &hostapi.GetRequest{Session: "forged", Name: "seed"})
	if code(err) != codes.Unauthenticated {
		t.Fatalf("forged session: %v", err)
	}

	if _, err := c.Lock(ctx, &hostapi.LockRequest{Session: s}); err != nil {
		t.Fatal(err)
	}
	_, err = c.Get(ctx, &hostapi.GetRequest{Session: s, Name: "seed"})
	if code(err) != codes.Unauthenticated {
		t.Fatalf("after lock: %v", err)
	}
	if _, err := c.Lock(ctx, &hostapi.LockRequest{Session: s}); err != nil {
		t.Fatalf("second lock: %v", err)
	}
}

func TestSessionTTL(t *testing.T) {
	f := start(t)
	ctx := context.Background()
	u, err := f.client.Unlock(ctx, &hostapi.UnlockRequest{Vault: "team", Identity: "alice", Passphrase: []byte("pw"), TtlSeconds: 10})
	if err != nil {
		t.Fatal(err)
	}
	long, err := f.client.Unlock(ctx, &hostapi.UnlockRequest{Vault: "team", Identity: "alice", Passphrase: []byte("pw"), TtlSeconds: 3600})
	if err != nil {
		t.Fatal(err)
	}
	if long.ExpiresUnix != f.clock.now().Add(time.Minute).Unix() {
		t.Errorf("requested TTL above the server's was not capped: %v", long)
	}
	f.clock.add(9 * time.Second)
	if _, err := f.client.Get(ctx, &hostapi.GetRequest{Session: u.Session, Name: "seed"}); err != nil {
		t.Fatalf("before expiry: %v", err)
	}
	f.clock.add(2 * time.Second)
	if _, err := f.client.Get(ctx, &hostapi.GetRequest{Session: u.Session, Name: "seed"}); code(err) != codes.Unauthenticated {
		t.Fatalf("after expiry: %v", err)
	}
	f.clock.add(time.Minute)
	if n := f.srv.Expire(); n != 1 {
		t.Fatalf("Expire locked %d sessions, want 1 (the long one)", n)
	}
	if _, err := f.client.Get(ctx, &hostapi.GetRequest{Session: long.Session, Name: "seed"}); code(err) != codes.Unauthenticated {
		t.Fatalf("expired by janitor: %v", err)
	}
}

func TestListenRefusesOpenDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "open")
	os.Mkdir(dir, 0o755)
	os.Chmod(dir, 0o755)
	_, err := Listen(filepath.Join(dir, "s.sock"))
	if err == nil {
		t.Fatal("socket in a 0755 directory accepted")
	}
}

func TestListenStaleAndLiveSocket(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "d")
	sock := filepath.Join(dir, "s.sock")
	l, err := Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Listen(sock); err == nil {
		t.Fatal("second listener on a live socket accepted")
	}
	// A stale socket file (no listener) is replaced.
	ul := l.(*ownerListener).Listener.(*net.UnixListener)
	ul.SetUnlinkOnClose(false)
	l.Close()
	if _, err := os.Stat(sock); err != nil {
		t.Fatalf("stale socket not left behind: %v", err)
	}
	l2, err := Listen(sock)
	if err != nil {
		t.Fatalf("stale socket: %v", err)
	}
	l2.Close()
	// A regular file is not replaced.
	os.WriteFile(sock, []byte("x"), 0o600)
	if _, err := Listen(sock); err == nil {
		t.Fatal("regular file replaced")
	}
}

func TestToStatus(t *testing.T) {
	for _, c := range []struct {
		err  error
		code codes.Code
	}{
		{core.ErrWrongPassphrase, codes.Unauthenticated},
		{core.ErrNotMember, codes.PermissionDenied},
		{core.ErrTampered, codes.DataLoss},
		{core.ErrRollback, codes.DataLoss},
		{core.ErrCredentialNotFound, codes.NotFound},
		{context.DeadlineExceeded, codes.DeadlineExceeded},
		{errors.New("other"), codes.Unknown},
	} {
		if got := status.Code(toStatus(c.err)); got != c.code {
			t.Errorf("%v => %v, want %v", c.err, got, c.code)
		}
	}
}
