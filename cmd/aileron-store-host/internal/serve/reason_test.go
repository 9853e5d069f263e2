package serve

import (
	"fmt"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ALRubinger/aileron-store/core"
	"github.com/ALRubinger/aileron-store/sdk"
)

// Each sentinel reaches the client as a code and a reason, through wrapping.
func TestStatusReasons(t *testing.T) {
	for _, c := range []struct {
		err    error
		code   codes.Code
		reason string
	}{
		{core.ErrWrongPassphrase, codes.Unauthenticated, ReasonWrongPassphrase},
		{core.ErrLocked, codes.Unauthenticated, ReasonSessionEnded},
		{core.ErrNotMember, codes.PermissionDenied, ReasonNotMember},
		{ErrUnknownIdentity, codes.NotFound, ReasonUnknownIdentity},
		{core.ErrVaultNotFound, codes.NotFound, ReasonVaultNotFound},
		{core.ErrCredentialNotFound, codes.NotFound, ReasonCredentialNotFound},
		{core.ErrTampered, codes.DataLoss, ReasonTampered},
		{core.ErrRollback, codes.DataLoss, ReasonRollback},
		{sdk.ErrConflict, codes.Aborted, ReasonConflict},
		{sdk.ErrUnavailable, codes.Unavailable, ReasonUnavailable},
		{sdk.ErrPermissionDenied, codes.PermissionDenied, ReasonBackendDenied},
	} {
		err := toStatus(fmt.Errorf("vault %q: %w", "team", c.err))
		if status.Code(err) != c.code || reasonOf(err) != c.reason {
			t.Errorf("%v => %v %q, want %v %q", c.err, status.Code(err), reasonOf(err), c.code, c.reason)
		}
	}
	if reasonOf(errSession) != ReasonSessionEnded {
		t.Error("the session error has no reason")
	}
}
