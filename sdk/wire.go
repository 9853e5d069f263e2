package sdk

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ALRubinger/aileron-store/internal/pluginproc"
	"github.com/ALRubinger/aileron-store/sdk/internal/storepb"
)

// Protocol constants shared by Serve and Open.
const (
	// ProtocolVersion is the newest plugin protocol this SDK speaks.
	ProtocolVersion = 1
	pluginName      = "store"
	magicKey        = pluginproc.CookieKey
	magicValue      = pluginproc.CookieValue
	// maxMessageSize bounds every gRPC message in both directions: a value of
	// MaxValueSize plus framing fits with room to spare, and a list page is
	// cut to listPageBudget bytes of values before it is sent.
	maxMessageSize = 16 << 20
	listPageBudget = 8 << 20
)

var codeOf = map[error]codes.Code{
	context.Canceled:         codes.Canceled,
	context.DeadlineExceeded: codes.DeadlineExceeded,
	ErrNotFound:              codes.NotFound,
	ErrConflict:              codes.FailedPrecondition,
	ErrInvalidArgument:       codes.InvalidArgument,
	ErrPermissionDenied:      codes.PermissionDenied,
	ErrUnavailable:           codes.Unavailable,
}

// toStatus turns a Store error into a gRPC status error carrying its kind as
// the code and its message as the status message.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	code, kind := codes.Unavailable, "unavailable"
	if k := Kind(err); k != nil {
		code, kind = codeOf[k], k.Error()
	}
	st := status.New(code, err.Error())
	if d, derr := st.WithDetails(&storepb.StoreError{Kind: kind}); derr == nil {
		st = d
	}
	return st.Err()
}

// fromStore reports whether a status error came from the plugin's Store (or
// its request validation) rather than from the transport.
func fromStore(err error) bool {
	st, ok := status.FromError(err)
	if !ok {
		return false
	}
	for _, d := range st.Details() {
		if _, ok := d.(*storepb.StoreError); ok {
			return true
		}
	}
	return false
}

// fromStatus turns a gRPC error back into an error wrapping the sentinel its
// code stands for. prefix names the plugin for errors the transport made.
func fromStatus(err error, prefix string) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		if Kind(err) != nil {
			return err
		}
		return &kindError{kind: ErrUnavailable, msg: prefix + ": " + err.Error()}
	}
	msg := st.Message()
	switch st.Code() {
	case codes.Canceled:
		return &kindError{kind: context.Canceled, msg: msg}
	case codes.DeadlineExceeded:
		return &kindError{kind: context.DeadlineExceeded, msg: msg}
	case codes.NotFound:
		return &kindError{kind: ErrNotFound, msg: msg}
	case codes.FailedPrecondition, codes.Aborted, codes.AlreadyExists:
		return &kindError{kind: ErrConflict, msg: msg}
	case codes.InvalidArgument, codes.OutOfRange:
		return &kindError{kind: ErrInvalidArgument, msg: msg}
	case codes.PermissionDenied, codes.Unauthenticated:
		return &kindError{kind: ErrPermissionDenied, msg: msg}
	default:
		return &kindError{kind: ErrUnavailable, msg: prefix + ": " + msg}
	}
}

func condToPB(c Cond) *storepb.Cond {
	switch c.mode {
	case CondIfAbsent:
		return &storepb.Cond{Mode: storepb.Cond_MODE_IF_ABSENT}
	case CondIfVersion:
		return &storepb.Cond{Mode: storepb.Cond_MODE_IF_VERSION, Version: string(c.version)}
	default:
		return nil
	}
}

func condFromPB(c *storepb.Cond) (Cond, error) {
	switch c.GetMode() {
	case storepb.Cond_MODE_NONE:
		return None, nil
	case storepb.Cond_MODE_IF_ABSENT:
		return IfAbsent(), nil
	case storepb.Cond_MODE_IF_VERSION:
		return IfVersion(Version(c.GetVersion())), nil
	default:
		return None, Errorf(ErrInvalidArgument, "unknown condition mode %d", c.GetMode())
	}
}

var errNotConfigured = errors.New("plugin not configured: the host must call Configure first")
