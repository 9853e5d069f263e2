package serve

import (
	"context"
	"errors"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ALRubinger/aileron-store/core"
	"github.com/ALRubinger/aileron-store/sdk"
)

// ErrorDomain is the domain of the google.rpc.ErrorInfo detail that every
// error status of the local API carries (see api/hostapi/v1/hostapi.proto).
const ErrorDomain = "aileron-store.host"

// Reasons of the ErrorInfo detail: finer than the status code, so a client
// can tell, say, an unknown identity from an unknown vault.
const (
	ReasonWrongPassphrase    = "WRONG_PASSPHRASE"
	ReasonSessionEnded       = "SESSION_ENDED"
	ReasonNotMember          = "NOT_MEMBER"
	ReasonNotAdmin           = "NOT_ADMIN"
	ReasonUnknownIdentity    = "UNKNOWN_IDENTITY"
	ReasonVaultNotFound      = "VAULT_NOT_FOUND"
	ReasonCredentialNotFound = "CREDENTIAL_NOT_FOUND"
	ReasonTampered           = "TAMPERED"
	ReasonRollback           = "ROLLBACK"
	ReasonConflict           = "CONFLICT"
	ReasonUnavailable        = "BACKEND_UNAVAILABLE"
	ReasonBackendDenied      = "BACKEND_PERMISSION_DENIED"
	ReasonBackendNotFound    = "BACKEND_NOT_FOUND"
	ReasonInvalidArgument    = "INVALID_ARGUMENT"
	ReasonAuditLog           = "AUDIT_LOG_FAILED"
	ReasonBusy               = "BUSY"
	ReasonPinnedVault        = "PINNED_VAULT"
	ReasonAmbiguousVault     = "AMBIGUOUS_VAULT"
)

// classify returns the status code and reason of err ("" when none fits).
func classify(err error) (codes.Code, string) {
	switch {
	case errors.Is(err, context.Canceled):
		return codes.Canceled, ""
	case errors.Is(err, context.DeadlineExceeded):
		return codes.DeadlineExceeded, ""
	case errors.Is(err, ErrBusy):
		return codes.ResourceExhausted, ReasonBusy
	case errors.Is(err, core.ErrPinnedVault):
		return codes.DataLoss, ReasonPinnedVault
	case errors.Is(err, core.ErrAmbiguousVault):
		return codes.FailedPrecondition, ReasonAmbiguousVault
	case errors.Is(err, core.ErrWrongPassphrase):
		return codes.Unauthenticated, ReasonWrongPassphrase
	case errors.Is(err, core.ErrLocked):
		return codes.Unauthenticated, ReasonSessionEnded
	case errors.Is(err, core.ErrNotMember):
		return codes.PermissionDenied, ReasonNotMember
	case errors.Is(err, core.ErrNotAdmin):
		return codes.PermissionDenied, ReasonNotAdmin
	case errors.Is(err, core.ErrTampered):
		return codes.DataLoss, ReasonTampered
	case errors.Is(err, core.ErrRollback):
		return codes.DataLoss, ReasonRollback
	case errors.Is(err, ErrUnknownIdentity):
		return codes.NotFound, ReasonUnknownIdentity
	case errors.Is(err, core.ErrVaultNotFound):
		return codes.NotFound, ReasonVaultNotFound
	case errors.Is(err, core.ErrCredentialNotFound):
		return codes.NotFound, ReasonCredentialNotFound
	case errors.Is(err, sdk.ErrNotFound):
		return codes.NotFound, ReasonBackendNotFound
	case errors.Is(err, sdk.ErrConflict):
		return codes.Aborted, ReasonConflict
	case errors.Is(err, sdk.ErrInvalidArgument):
		return codes.InvalidArgument, ReasonInvalidArgument
	case errors.Is(err, sdk.ErrPermissionDenied):
		return codes.PermissionDenied, ReasonBackendDenied
	case errors.Is(err, sdk.ErrUnavailable):
		return codes.Unavailable, ReasonUnavailable
	}
	return codes.Unknown, ""
}

// statusOf builds the status of code with message msg and, when reason is
// set, an ErrorInfo detail naming it.
func statusOf(code codes.Code, reason, msg string) error {
	st := status.New(code, msg)
	if reason == "" {
		return st.Err()
	}
	if d, err := st.WithDetails(&errdetails.ErrorInfo{Reason: reason, Domain: ErrorDomain}); err == nil {
		st = d
	}
	return st.Err()
}
