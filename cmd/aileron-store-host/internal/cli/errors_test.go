package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ALRubinger/aileron-store/cmd/aileron-store-host/internal/plugins"
	"github.com/ALRubinger/aileron-store/core"
	"github.com/ALRubinger/aileron-store/sdk"
)

func TestDescribeDistinctMessages(t *testing.T) {
	a := &App{}
	ve := func(err error) error { return &vaultError{vault: "team", as: "bob", backend: "s3", err: err} }
	cases := []struct {
		err  error
		want []string
	}{
		{&identityError{name: "alice", err: fmt.Errorf("x: %w", core.ErrWrongPassphrase)}, []string{`wrong passphrase for identity "alice"`}},
		{ve(core.ErrNotMember), []string{`not a member: identity "bob" is not a member of vault "team"`}},
		{ve(core.ErrNotAdmin), []string{`not an admin`, `"bob"`, `"team"`}},
		{ve(fmt.Errorf("%w: credential record %q: does not authenticate", core.ErrTampered, "v/ab/r/cd")), []string{`tampered data: `, `backend "s3"`, `"v/ab/r/cd"`}},
		{ve(fmt.Errorf("%w: head of vault %q: epoch 3 < pinned 5", core.ErrRollback, "ab")), []string{`rolled-back data: `, `backend "s3"`, `epoch 3 < pinned 5`}},
		{ve(&conflictError{attempts: 4, err: sdk.ErrConflict}), []string{`conflict: vault "team"`, `after 4 attempts`}},
		{ve(sdk.Errorf(sdk.ErrUnavailable, "dial tcp 127.0.0.1:1: connection refused")), []string{`backend "s3" unreachable: `, `connection refused`}},
		{&backendError{backend: "postgres", err: sdk.Errorf(sdk.ErrUnavailable, "no route")}, []string{`backend "postgres" unreachable: unavailable: no route`}},
		{&backendError{backend: "s3", err: sdk.Errorf(sdk.ErrPermissionDenied, "403")}, []string{`backend "s3" refused access`}},
		{&backendError{backend: "s3", err: fmt.Errorf("%w: x", plugins.ErrPinMismatch)}, []string{`plugin pin mismatch`}},
		{&backendError{backend: "acme", err: fmt.Errorf("%w: no executable", plugins.ErrNotFound)}, []string{`backend "acme"`, `aileron-store-acme`}},
		{ve(core.ErrVaultNotFound), []string{`vault "team" not found for identity "bob"`}},
		{ve(context.Canceled), []string{`interrupted`}},
	}
	seen := map[string]bool{}
	for _, c := range cases {
		got := a.describe(c.err)
		for _, w := range c.want {
			if !strings.Contains(got, w) {
				t.Errorf("describe(%v) = %q, want it to contain %q", c.err, got, w)
			}
		}
		class := strings.SplitN(got, ":", 2)[0]
		seen[class] = true
	}
	for _, class := range []string{"wrong passphrase for identity \"alice\"", "not a member", "tampered data", "rolled-back data", "conflict"} {
		if !seen[class] {
			t.Errorf("no message starts with %q", class)
		}
	}
}

func TestRetryConflict(t *testing.T) {
	var calls atomic.Int32
	err := retryConflict(context.Background(), func() error {
		if calls.Add(1) < 3 {
			return sdk.Errorf(sdk.ErrConflict, "head changed")
		}
		return nil
	})
	if err != nil || calls.Load() != 3 {
		t.Fatalf("err %v after %d calls", err, calls.Load())
	}
	calls.Store(0)
	err = retryConflict(context.Background(), func() error { calls.Add(1); return sdk.Errorf(sdk.ErrConflict, "head changed") })
	var ce *conflictError
	if !errors.As(err, &ce) || ce.attempts != conflictAttempts || int(calls.Load()) != conflictAttempts || !errors.Is(err, sdk.ErrConflict) {
		t.Fatalf("err %v after %d calls", err, calls.Load())
	}
	calls.Store(0)
	other := errors.New("boom")
	if err := retryConflict(context.Background(), func() error { calls.Add(1); return other }); err != other || calls.Load() != 1 {
		t.Fatalf("non-conflict retried: %v %d", err, calls.Load())
	}
}
