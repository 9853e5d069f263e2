package serve

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	hostapi "github.com/ALRubinger/aileron-store/api/hostapi/v1"
)

// gatedOpener's OpenIdentity blocks until released and records how many
// run at once; its vaults do nothing.
type gatedOpener struct {
	release         chan struct{}
	entered         chan struct{}
	running, maxRun atomic.Int32
	unlocked        atomic.Int32
	wiped           atomic.Int32
	expires         time.Time
}

type fakeIdentity struct{ o *gatedOpener }

func (i fakeIdentity) Wipe() { i.o.wiped.Add(1) }

type fakeVault struct{ exp time.Time }

func (fakeVault) Get(context.Context, string) ([]byte, error) { return nil, errors.New("none") }
func (fakeVault) Put(context.Context, string, []byte) error   { return nil }
func (fakeVault) List(context.Context) ([]string, error)      { return nil, nil }
func (fakeVault) Delete(context.Context, string) error        { return nil }
func (v fakeVault) Expires() time.Time                        { return v.exp }
func (fakeVault) Lock()                                       {}

func (o *gatedOpener) OpenIdentity(ctx context.Context, identity string, pass []byte) (Identity, error) {
	n := o.running.Add(1)
	defer o.running.Add(-1)
	for {
		m := o.maxRun.Load()
		if n <= m || o.maxRun.CompareAndSwap(m, n) {
			break
		}
	}
	o.entered <- struct{}{}
	select {
	case <-o.release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return fakeIdentity{o}, nil
}

func (o *gatedOpener) UnlockVault(ctx context.Context, vault string, id Identity) (Vault, error) {
	if vault == "bad" {
		return nil, errors.New("no such vault")
	}
	o.unlocked.Add(1)
	return fakeVault{exp: o.expires}, nil
}

// TestKDFSerialized: concurrent Unlocks run their identity KDFs one at a
// time; beyond MaxKDFWaiters waiting, an Unlock fails fast as busy.
func TestKDFSerialized(t *testing.T) {
	o := &gatedOpener{release: make(chan struct{}), entered: make(chan struct{}, 64), expires: time.Now().Add(time.Hour)}
	srv := New(o, &Options{TTL: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	const n = 1 + MaxKDFWaiters
	var wg sync.WaitGroup
	errs := make(chan error, n+1)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := srv.Unlock(ctx, &hostapi.UnlockRequest{Vault: "team", Identity: "alice", Passphrase: []byte("pw")})
			errs <- err
		}()
	}
	<-o.entered // one KDF runs; wait until the other n-1 queue behind it
	deadline := time.Now().Add(30 * time.Second)
	for srv.kdfWaiters.Load() != n-1 {
		if time.Now().After(deadline) {
			t.Fatalf("%d waiters, want %d", srv.kdfWaiters.Load(), n-1)
		}
		time.Sleep(time.Millisecond)
	}
	// One more: refused at once, not queued.
	_, err := srv.Unlock(ctx, &hostapi.UnlockRequest{Vault: "team", Identity: "alice", Passphrase: []byte("pw")})
	if code(err) != codes.ResourceExhausted {
		t.Fatalf("unlock beyond the queue: %v, want ResourceExhausted", err)
	}
	// Release them one by one: never two KDFs at once.
	for i := 0; i < n; i++ {
		if i > 0 {
			<-o.entered
		}
		if r := o.running.Load(); r != 1 {
			t.Fatalf("%d KDFs running at once", r)
		}
		o.release <- struct{}{}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("queued unlock: %v", err)
		}
	}
	if m := o.maxRun.Load(); m != 1 {
		t.Fatalf("at most %d KDFs ran at once, want 1", m)
	}
	if u := o.unlocked.Load(); u != n {
		t.Fatalf("%d vaults unlocked, want %d", u, n)
	}

	// A failed vault unlock wipes the identity it opened.
	go func() { <-o.entered; o.release <- struct{}{} }()
	if _, err := srv.Unlock(ctx, &hostapi.UnlockRequest{Vault: "bad", Identity: "alice"}); err == nil {
		t.Fatal("unlock of a bad vault succeeded")
	}
	if w := o.wiped.Load(); w != 1 {
		t.Fatalf("identity wiped %d times after a failed unlock, want 1", w)
	}
	// A waiter whose context ends leaves the queue.
	go func() { <-o.entered }()
	hold, holdCancel := context.WithCancel(ctx)
	go srv.Unlock(hold, &hostapi.UnlockRequest{Vault: "team", Identity: "alice"})
	for o.running.Load() != 1 {
		time.Sleep(time.Millisecond)
	}
	short, shortCancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer shortCancel()
	if _, err := srv.Unlock(short, &hostapi.UnlockRequest{Vault: "team", Identity: "alice"}); code(err) != codes.DeadlineExceeded {
		t.Fatalf("waiter past its deadline: %v", err)
	}
	if w := srv.kdfWaiters.Load(); w != 0 {
		t.Fatalf("%d waiters left", w)
	}
	holdCancel()
}

// TestSessionNeverOutlivesVault: a session's expiry is the earlier of the
// server's TTL and the vault handle's own.
func TestSessionNeverOutlivesVault(t *testing.T) {
	now := time.Unix(2_000_000_000, 0)
	o := &gatedOpener{release: make(chan struct{}, 2), entered: make(chan struct{}, 2), expires: now.Add(10 * time.Minute)}
	o.release <- struct{}{}
	o.release <- struct{}{}
	srv := New(o, &Options{TTL: time.Hour, Now: func() time.Time { return now }})
	ctx := context.Background()
	u, err := srv.Unlock(ctx, &hostapi.UnlockRequest{Vault: "team", Identity: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if want := now.Add(10 * time.Minute).Unix(); u.ExpiresUnix != want {
		t.Fatalf("expires %d, want the vault's %d", u.ExpiresUnix, want)
	}
	u, err = srv.Unlock(ctx, &hostapi.UnlockRequest{Vault: "team", Identity: "alice", TtlSeconds: 60})
	if err != nil {
		t.Fatal(err)
	}
	if want := now.Add(time.Minute).Unix(); u.ExpiresUnix != want {
		t.Fatalf("expires %d, want the requested %d", u.ExpiresUnix, want)
	}
}
