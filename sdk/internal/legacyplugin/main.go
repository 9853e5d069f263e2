// Command legacyplugin is a storage plugin as one built on the SDK of
// protocol version 1 is seen by a host: it negotiates only protocol 1 and has
// no WriteBatch. It is written against go-plugin and the wire types directly
// (with the handshake an old SDK has baked in) so that the SDK's tests can
// check that a host of protocol 2 still works with such a plugin, emulating
// batches with single calls.
package main

import (
	"context"
	"errors"

	plugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ALRubinger/aileron-store/sdk"
	"github.com/ALRubinger/aileron-store/sdk/internal/storepb"
	"github.com/ALRubinger/aileron-store/sdk/memstore"
)

// v1 serves the protocol-1 methods; WriteBatch stays unimplemented, as in a
// binary whose generated code predates it.
type v1 struct {
	storepb.UnimplementedStoreServer
	st *memstore.Store
}

func statusOf(err error) error {
	if err == nil {
		return nil
	}
	code := codes.Unavailable
	switch {
	case errors.Is(err, sdk.ErrNotFound):
		code = codes.NotFound
	case errors.Is(err, sdk.ErrConflict):
		code = codes.FailedPrecondition
	case errors.Is(err, sdk.ErrInvalidArgument):
		code = codes.InvalidArgument
	case errors.Is(err, context.Canceled):
		code = codes.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		code = codes.DeadlineExceeded
	}
	st := status.New(code, err.Error())
	if d, derr := st.WithDetails(&storepb.StoreError{Kind: code.String()}); derr == nil {
		st = d
	}
	return st.Err()
}

func cond(c *storepb.Cond) sdk.Cond {
	switch c.GetMode() {
	case storepb.Cond_MODE_IF_ABSENT:
		return sdk.IfAbsent()
	case storepb.Cond_MODE_IF_VERSION:
		return sdk.IfVersion(sdk.Version(c.GetVersion()))
	}
	return sdk.None
}

func (s *v1) Configure(context.Context, *storepb.ConfigureRequest) (*storepb.ConfigureResponse, error) {
	return &storepb.ConfigureResponse{}, nil
}

func (s *v1) Capabilities(context.Context, *storepb.CapabilitiesRequest) (*storepb.CapabilitiesResponse, error) {
	return &storepb.CapabilitiesResponse{MaxValueSize: sdk.MaxValueSize, NativeListValues: true, Protocol: 1}, nil
}

func (s *v1) Ping(context.Context, *storepb.PingRequest) (*storepb.PingResponse, error) {
	return &storepb.PingResponse{}, nil
}

func (s *v1) Get(ctx context.Context, req *storepb.GetRequest) (*storepb.GetResponse, error) {
	v, ver, err := s.st.Get(ctx, req.GetKey())
	if err != nil {
		return nil, statusOf(err)
	}
	return &storepb.GetResponse{Value: v, Version: string(ver)}, nil
}

func (s *v1) Put(ctx context.Context, req *storepb.PutRequest) (*storepb.PutResponse, error) {
	ver, err := s.st.Put(ctx, req.GetKey(), req.GetValue(), cond(req.GetCond()))
	if err != nil {
		return nil, statusOf(err)
	}
	return &storepb.PutResponse{Version: string(ver)}, nil
}

func (s *v1) Delete(ctx context.Context, req *storepb.DeleteRequest) (*storepb.DeleteResponse, error) {
	return &storepb.DeleteResponse{}, statusOf(s.st.Delete(ctx, req.GetKey(), cond(req.GetCond())))
}

func (s *v1) List(ctx context.Context, req *storepb.ListRequest) (*storepb.ListResponse, error) {
	page, err := s.st.List(ctx, sdk.ListOptions{Prefix: req.GetPrefix(), StartAfter: req.GetStartAfter(), Limit: int(req.GetLimit()), WithValues: req.GetWithValues()})
	if err != nil {
		return nil, statusOf(err)
	}
	resp := &storepb.ListResponse{More: page.More}
	for _, e := range page.Entries {
		resp.Entries = append(resp.Entries, &storepb.Entry{Key: e.Key, Version: string(e.Version), Value: e.Value})
	}
	return resp, nil
}

type grpcPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	srv *v1
}

func (p *grpcPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	storepb.RegisterStoreServer(s, p.srv)
	return nil
}

func (p *grpcPlugin) GRPCClient(context.Context, *plugin.GRPCBroker, *grpc.ClientConn) (any, error) {
	return nil, errors.New("server only")
}

func main() {
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: plugin.HandshakeConfig{
			ProtocolVersion:  1,
			MagicCookieKey:   "AILERON_STORE_PLUGIN",
			MagicCookieValue: "7d1f0c9e-aileron-store-plugin-v1",
		},
		VersionedPlugins: map[int]plugin.PluginSet{1: {"store": &grpcPlugin{srv: &v1{st: memstore.New()}}}},
		GRPCServer:       plugin.DefaultGRPCServer,
	})
}
