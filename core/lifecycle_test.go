package core

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/ALRubinger/aileron-store/sdk/memstore"
)

func TestMain(m *testing.M) { testMainHook(m) }

func TestSmoke(t *testing.T) {
	ctx := context.Background()
	st := memstore.New()
	e, err := New(st, &Options{StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	alice, _ := NewIdentity(SuiteMLKEM768X25519)
	bob, _ := NewIdentity(SuiteX25519)
	v, err := e.CreateVault(ctx, "prod", alice, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Put(ctx, "db", []byte("s3cret")); err != nil {
		t.Fatal(err)
	}
	got, err := v.Get(ctx, "db")
	if err != nil || !bytes.Equal(got, []byte("s3cret")) {
		t.Fatalf("get: %q %v", got, err)
	}
	if err := v.Grant(ctx, bob.Recipient(), "bob", RoleMember); err != nil {
		t.Fatal(err)
	}
	e2, _ := New(st, nil)
	vb, err := e2.Unlock(ctx, "prod", bob)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := vb.Get(ctx, "db"); err != nil || string(got) != "s3cret" {
		t.Fatalf("bob get: %q %v", got, err)
	}
	if err := vb.Grant(ctx, bob.Recipient(), "x", RoleMember); !errors.Is(err, ErrNotAdmin) {
		t.Fatalf("bob grant: %v", err)
	}
	rep, err := v.Revoke(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rep.Readable, []string{"db"}) || rep.Reencrypted != 1 {
		t.Fatalf("report %+v", rep)
	}
	if _, err := vb.Get(ctx, "db"); !errors.Is(err, ErrNotMember) {
		t.Fatalf("revoked get: %v", err)
	}
	if _, err := e2.Unlock(ctx, "prod", bob); !errors.Is(err, ErrNotMember) {
		t.Fatalf("revoked unlock: %v", err)
	}
	names, err := v.List(ctx)
	if err != nil || !slices.Equal(names, []string{"db"}) {
		t.Fatalf("list %v %v", names, err)
	}
}
