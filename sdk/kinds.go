package sdk

import "context"

// kinds lists every error kind that crosses the plugin boundary, most specific
// first.
var kinds = []error{
	context.Canceled,
	context.DeadlineExceeded,
	ErrNotFound,
	ErrConflict,
	ErrInvalidArgument,
	ErrPermissionDenied,
	ErrUnavailable,
}
