package cli

import (
	"context"
	"fmt"
	"strings"
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
		{ve(fmt.Errorf("core: writing record %q: %w: the vault kept rotating", "v/ab/r/cd", sdk.ErrConflict)), []string{`conflict: vault "team" kept changing`, `try again`}},
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
