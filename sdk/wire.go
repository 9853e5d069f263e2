package sdk

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ALRubinger/aileron-store/internal/pluginproc"
	"github.com/ALRubinger/aileron-store/sdk/internal/storepb"
)

// Protocol constants shared by Serve and Open.
const (
	// ProtocolVersion is the newest plugin protocol this SDK speaks. Version
	// 2 adds WriteBatch; Serve and Open also speak version 1, so a host and a
	// plugin built on different SDKs agree on the newer one both know (an
	// old plugin's batches are emulated by the host with single calls).
	ProtocolVersion = 2
	// protocolV1 is the protocol without WriteBatch.
	protocolV1 = 1
	pluginName = "store"
	magicKey   = pluginproc.CookieKey
	magicValue = pluginproc.CookieValue
	// maxMessageSize bounds every gRPC message in both directions: a value of
	// MaxValueSize plus framing fits with room to spare, and a list page is
	// cut to listPageBudget bytes of values before it is sent.
	maxMessageSize = 16 << 20
	// streamWindow and connWindow are the HTTP/2 flow-control windows of
	// the plugin connection, per call and in all, set on both sides. Setting
	// them turns off gRPC's bandwidth-delay estimation, which otherwise sends
	// a PING frame and reads its ack on the back of calls: an extra frame
	// each way, two wake-ups per call on a local socket where the
	// bandwidth-delay product is tiny (docs/benchmarks.md, "The floor"). A
	// message larger than the stream window still flows, in window-sized
	// steps.
	streamWindow   = 4 << 20
	connWindow     = 16 << 20
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
	code, kind := codeAndKind(err)
	st := status.New(code, err.Error())
	if d, derr := st.WithDetails(&storepb.StoreError{Kind: kind}); derr == nil {
		st = d
	}
	return st.Err()
}

// codeAndKind returns the gRPC code that carries err's sentinel and the
// sentinel's name; an error without one is unavailable.
func codeAndKind(err error) (codes.Code, string) {
	if k := Kind(err); k != nil {
		return codeOf[k], k.Error()
	}
	return codes.Unavailable, "unavailable"
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

func batchToPB(guard *Guard, writes []Write) *storepb.WriteBatchRequest {
	req := &storepb.WriteBatchRequest{Writes: make([]*storepb.Write, len(writes))}
	if guard != nil {
		req.Guard = &storepb.Guard{Key: guard.Key, Version: string(guard.Version)}
	}
	for i, w := range writes {
		kind := storepb.Write_KIND_UNSPECIFIED
		switch w.Kind {
		case WritePut:
			kind = storepb.Write_KIND_PUT
		case WriteDelete:
			kind = storepb.Write_KIND_DELETE
		}
		req.Writes[i] = &storepb.Write{Kind: kind, Key: w.Key, Value: w.Value, Cond: condToPB(w.Cond)}
	}
	return req
}

// batchFromPB decodes a request; ValidateBatch checks what it returns (an
// unknown kind decodes to a WriteKind that ValidateBatch refuses).
func batchFromPB(req *storepb.WriteBatchRequest) (*Guard, []Write, error) {
	var guard *Guard
	if g := req.GetGuard(); g != nil {
		guard = &Guard{Key: g.GetKey(), Version: Version(g.GetVersion())}
	}
	writes := make([]Write, len(req.GetWrites()))
	for i, w := range req.GetWrites() {
		cond, err := condFromPB(w.GetCond())
		if err != nil {
			return nil, nil, Errorf(ErrInvalidArgument, "batch write %d (key %q): unknown condition mode %d", i, w.GetKey(), w.GetCond().GetMode())
		}
		var kind WriteKind
		switch w.GetKind() {
		case storepb.Write_KIND_PUT:
			kind = WritePut
		case storepb.Write_KIND_DELETE:
			kind = WriteDelete
		}
		value := w.GetValue()
		if kind == WritePut && value == nil {
			value = []byte{} // proto3 does not tell an empty value from none
		}
		writes[i] = Write{Kind: kind, Key: w.GetKey(), Value: value, Cond: cond}
	}
	return guard, writes, nil
}

// resultToPB encodes one write's outcome. An error travels as the code of its
// sentinel and its message, which is made to name the key if the Store's
// error did not.
func resultToPB(key string, r WriteResult) *storepb.WriteResult {
	if r.Err == nil {
		return &storepb.WriteResult{Version: string(r.Version)}
	}
	code, _ := codeAndKind(r.Err)
	msg := r.Err.Error()
	if !strings.Contains(msg, key) {
		msg = fmt.Sprintf("key %q: %s", key, msg)
	}
	return &storepb.WriteResult{Code: uint32(code), Message: msg}
}

// resultErrFromPB decodes the error of one write's outcome (nil for code OK)
// into the sentinel its code stands for, as fromStatus does for a call.
func resultErrFromPB(r *storepb.WriteResult, prefix string) error {
	if codes.Code(r.GetCode()) == codes.OK {
		return nil
	}
	return fromStatus(status.Error(codes.Code(r.GetCode()), r.GetMessage()), prefix)
}

var errNotConfigured = errors.New("plugin not configured: the host must call Configure first")
