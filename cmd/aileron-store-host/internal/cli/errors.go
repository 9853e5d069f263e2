package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/ALRubinger/aileron-store/cmd/aileron-store-host/internal/plugins"
	"github.com/ALRubinger/aileron-store/core"
	"github.com/ALRubinger/aileron-store/sdk"
)

// describe turns an error into the one plain line printed after "error: ".
// Each class an operator must tell apart has its own wording (see
// docs/operator.md, "Error messages"); none includes a secret, because no
// error in this program carries one.
func (a *App) describe(err error) string {
	var (
		ie *identityError
		ve *vaultError
		be *backendError
		ce *conflictError
	)
	errors.As(err, &ie)
	errors.As(err, &ve)
	errors.As(err, &be)
	errors.As(err, &ce)
	vault, as, backendName := "", "", ""
	if ve != nil {
		vault, as, backendName = ve.vault, ve.as, ve.backend
	}
	if be != nil && backendName == "" {
		backendName = be.backend
	}
	if backendName == "" && a.cfg != nil {
		backendName = a.cfg.Storage.Backend
	}
	inner := err
	if ve != nil {
		inner = ve.err
	}

	switch {
	case errors.Is(err, core.ErrTampered) && ie != nil:
		return fmt.Sprintf("identity %q: the identity file is damaged or was modified: %v", ie.name, ie.err)
	case errors.Is(err, core.ErrWrongPassphrase) && ie != nil:
		return fmt.Sprintf("wrong passphrase for identity %q", ie.name)
	case errors.Is(err, core.ErrWrongPassphrase):
		return "wrong passphrase"
	case errors.Is(err, core.ErrNotMember):
		return fmt.Sprintf("not a member: identity %q is not a member of vault %q (an admin must grant it access first)", as, vault)
	case errors.Is(err, core.ErrNotAdmin):
		return fmt.Sprintf("not an admin: identity %q is a member of vault %q but only admins can grant, revoke and rotate", as, vault)
	case errors.Is(err, core.ErrPinnedVault):
		return fmt.Sprintf("%v; if an admin deliberately replaced the vault, open the new one with its grant token: aileron-store-host vault join %s TOKEN --as %s", inner, shellQuote(vault), as)
	case errors.Is(err, core.ErrAmbiguousVault):
		return fmt.Sprintf("%v; run: aileron-store-host vault join %s TOKEN --as %s", inner, shellQuote(vault), as)
	case errors.Is(err, core.ErrRollback):
		return fmt.Sprintf("rolled-back data: the backend %q served an older state than this host has already seen (%v); do not trust it until you know why", backendName, inner)
	case errors.Is(err, core.ErrTampered):
		return fmt.Sprintf("tampered data: a record from backend %q failed authentication (%v); it was modified or corrupted outside aileron-store", backendName, inner)
	case ce != nil:
		what := "the operation"
		if vault != "" {
			what = fmt.Sprintf("vault %q", vault)
		}
		return fmt.Sprintf("conflict: %s kept changing under concurrent writers; gave up after %d attempts, try again", what, ce.attempts)
	case errors.Is(err, plugins.ErrPinMismatch):
		return fmt.Sprintf("plugin pin mismatch: %v; the binary is not the one storage.sha256 trusts", unwrapBackend(err))
	case errors.Is(err, plugins.ErrNotFound):
		return fmt.Sprintf("backend %q: %v (build or install aileron-store-%s, or set plugin_dir)", backendName, unwrapBackend(err), backendName)
	case errors.Is(err, sdk.ErrUnavailable):
		return fmt.Sprintf("backend %q unreachable: %v", backendName, unwrapBackend(inner))
	case errors.Is(err, sdk.ErrPermissionDenied):
		return fmt.Sprintf("backend %q refused access: %v (check its credentials and permissions)", backendName, unwrapBackend(inner))
	case errors.Is(err, context.Canceled):
		return "interrupted"
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Sprintf("timed out: %v", err)
	case errors.Is(err, core.ErrCredentialNotFound):
		return fmt.Sprintf("credential not found in vault %q: %v", vault, inner)
	case errors.Is(err, core.ErrVaultNotFound) && as != "":
		return fmt.Sprintf("vault %q not found for identity %q on backend %q: it does not exist, or %q is not a member (an admin grants access with: aileron-store-host vault grant)", vault, as, backendName, as)
	case errors.Is(err, core.ErrVaultNotFound):
		return fmt.Sprintf("vault %q not found on backend %q (create it with: aileron-store-host vault create %s --as NAME)", vault, backendName, vault)
	case errors.Is(err, sdk.ErrInvalidArgument) && be != nil:
		return fmt.Sprintf("backend %q configuration: %v", backendName, unwrapBackend(err))
	}
	return err.Error()
}

// unwrapBackend drops the "backend NAME:" prefix that backendError adds.
func unwrapBackend(err error) error {
	var be *backendError
	if errors.As(err, &be) {
		return be.err
	}
	return err
}
