package hostclient

import (
	"errors"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// FuzzMapErr feeds arbitrary encoded google.rpc.Status messages (what a
// server, or anything listening on the socket, sends back) to the error
// mapping: it never panics, always returns an error, and a decodable
// ErrorInfo of the domain with a known reason yields its sentinel.
func FuzzMapErr(f *testing.F) {
	seed := func(code codes.Code, reason string) []byte {
		info, _ := anypb.New(&errdetails.ErrorInfo{Reason: reason, Domain: "aileron-store.host"})
		b, _ := proto.Marshal(&spb.Status{Code: int32(code), Message: "m", Details: []*anypb.Any{info}})
		return b
	}
	f.Add(seed(codes.NotFound, "CREDENTIAL_NOT_FOUND"))
	f.Add(seed(codes.Unauthenticated, "SESSION_ENDED"))
	f.Add(seed(codes.Internal, "NO_SUCH_REASON"))
	f.Add([]byte{})
	f.Add([]byte{0x08, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		var st spb.Status
		if proto.Unmarshal(b, &st) != nil {
			return
		}
		if st.Code == 0 {
			st.Code = int32(codes.Unknown) // an OK status is not an error
		}
		err := mapErr(status.FromProto(&st).Err(), "get", "team")
		if err == nil {
			t.Fatal("nil error")
		}
		_ = err.Error()
		if len(st.Details) != 1 {
			return
		}
		var info errdetails.ErrorInfo
		if st.Details[0].UnmarshalTo(&info) != nil || info.Domain != "aileron-store.host" {
			return
		}
		if want := reasons[info.Reason]; want != nil && !errors.Is(err, want) {
			t.Fatalf("reason %q: %v does not wrap %v", info.Reason, err, want)
		}
	})
}
