package sdk

import (
	"errors"
	"fmt"
)

// The sentinel errors of the Store contract. A Store wraps exactly one of them
// (with fmt.Errorf and %w) in every error it returns, adding the key or config
// field at fault to the message, or returns context.Canceled or
// context.DeadlineExceeded when its context ends. Errors that wrap none of them
// are reported to the host as ErrUnavailable.
var (
	// ErrNotFound: the key does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict: a precondition failed; the stored value is unchanged.
	ErrConflict = errors.New("conflict")
	// ErrInvalidArgument: a bad key, value, condition, list option or
	// configuration field. Retrying the same call cannot succeed.
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrUnavailable: the backend could not be reached or failed in a way that
	// a later retry may fix.
	ErrUnavailable = errors.New("unavailable")
	// ErrPermissionDenied: the backend refused the credentials or the action.
	ErrPermissionDenied = errors.New("permission denied")
)

// Kind returns the sentinel that err wraps (one of the Err* values of this
// package, context.Canceled or context.DeadlineExceeded), or nil when err
// wraps none of them.
func Kind(err error) error {
	for _, k := range kinds {
		if errors.Is(err, k) {
			return k
		}
	}
	return nil
}

// Errorf returns an error that wraps kind and reads as the formatted message.
// It is a convenience for plugin authors:
//
//	return sdk.Errorf(sdk.ErrNotFound, "key %q", key)
//
// reads as `not found: key "a/b"`.
func Errorf(kind error, format string, args ...any) error {
	return &kindError{kind: kind, msg: kind.Error() + ": " + fmt.Sprintf(format, args...)}
}

type kindError struct {
	kind error
	msg  string
}

func (e *kindError) Error() string { return e.msg }
func (e *kindError) Unwrap() error { return e.kind }
