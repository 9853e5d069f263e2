package sdk

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	plugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/ALRubinger/aileron-store/sdk/internal/storepb"
)

// ServeOptions tune Serve. The zero value (or nil) is right for most plugins.
type ServeOptions struct {
	// Name names the plugin in its logs; default the binary's base name.
	Name string
	// Logger receives the plugin's logs. Default: JSON lines on stderr, which
	// the host reads into its own structured log.
	Logger hclog.Logger
	// Debug serves without a host: the plugin prints a reattach line (JSON) on
	// stdout and serves until interrupted, so it can run under a debugger; a
	// host connects with ClientOptions.Reattach or AILERON_STORE_REATTACH.
	// Setting AILERON_STORE_PLUGIN_DEBUG=1 has the same effect.
	Debug bool
}

// Serve runs a storage plugin: it owns the handshake with the host, protocol
// negotiation, gRPC with explicit message-size limits, logging and shutdown.
// Call it from main; it returns only when the host is done with the plugin.
//
// factory builds the Store when the host sends the configuration. Serve wraps
// it with Checked, so the Store sees only valid keys, values, conditions, list
// options and batches.
//
// Started by hand rather than by a host, Serve prints a short explanation and
// exits with status 1. With AILERON_STORE_PLUGIN_CPUPROFILE=FILE in its
// environment, the plugin writes its CPU profile to FILE when the host closes
// it (for `go tool pprof`).
func Serve(factory Factory, opts *ServeOptions) {
	if opts == nil {
		opts = &ServeOptions{}
	}
	name := opts.Name
	if name == "" {
		name = baseName(os.Args[0])
	}
	logger := opts.Logger
	if logger == nil {
		logger = hclog.New(&hclog.LoggerOptions{Name: name, Output: os.Stderr, JSONFormat: true, Level: hclog.LevelFromString(os.Getenv("AILERON_STORE_PLUGIN_LOG_LEVEL"))})
	}
	srv := &server{factory: factory, log: logger}
	defer srv.close()
	cfg := &plugin.ServeConfig{
		HandshakeConfig:  handshake,
		VersionedPlugins: map[int]plugin.PluginSet{ProtocolVersion: {pluginName: &grpcPlugin{server: srv}}},
		GRPCServer: func(o []grpc.ServerOption) *grpc.Server {
			o = append(o, grpc.MaxRecvMsgSize(maxMessageSize), grpc.MaxSendMsgSize(maxMessageSize),
				// Serve calls on a pool of long-lived goroutines: a fresh
				// goroutine per call spent ~14% of a busy plugin's CPU growing
				// its stack (profile of fs get with 8 clients).
				grpc.NumStreamWorkers(uint32(4*runtime.GOMAXPROCS(0))))
			return grpc.NewServer(o...)
		},
		Logger: logger,
	}
	if opts.Debug || os.Getenv("AILERON_STORE_PLUGIN_DEBUG") == "1" {
		serveDebug(cfg, logger)
		return
	}
	if os.Getenv(magicKey) != magicValue {
		fmt.Fprintf(os.Stderr, "%s is an aileron-store storage plugin: aileron-store-host starts it; it is not meant to be run by hand.\n"+
			"To run it under a debugger, set AILERON_STORE_PLUGIN_DEBUG=1 and give the printed line to the host as AILERON_STORE_REATTACH.\n", name)
		os.Exit(1)
	}
	go watchParent(logger)
	if path := os.Getenv("AILERON_STORE_PLUGIN_CPUPROFILE"); path != "" {
		// For measuring a plugin: the profile covers the plugin's life
		// and is written when the host closes it.
		if stop, err := startCPUProfile(path); err != nil {
			logger.Warn("cpu profile not started", "path", path, "error", err)
		} else {
			defer stop()
		}
	}
	plugin.Serve(cfg)
}

func startCPUProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// watchParent ends the plugin when its host dies, even by SIGKILL: the host's
// pid then stops being our parent.
func watchParent(logger hclog.Logger) {
	parent := os.Getppid()
	for range time.Tick(250 * time.Millisecond) {
		if os.Getppid() != parent {
			logger.Warn("host process is gone; plugin exiting", "host_pid", parent)
			os.Exit(2)
		}
	}
}

var handshake = plugin.HandshakeConfig{
	ProtocolVersion:  ProtocolVersion,
	MagicCookieKey:   magicKey,
	MagicCookieValue: magicValue,
}

// grpcPlugin is the go-plugin glue for both sides.
type grpcPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	server *server
}

func (p *grpcPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	storepb.RegisterStoreServer(s, p.server)
	return nil
}

func (p *grpcPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, cc *grpc.ClientConn) (any, error) {
	return storepb.NewStoreClient(cc), nil
}

// server adapts a Store, wrapped with Checked, to the gRPC service.
type server struct {
	storepb.UnimplementedStoreServer
	factory Factory
	log     hclog.Logger

	mu    sync.RWMutex
	store Store
}

func (s *server) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.store != nil {
		if err := s.store.Close(); err != nil {
			s.log.Warn("closing store", "error", err)
		}
		s.store = nil
	}
}

func (s *server) get() (Store, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.store == nil {
		return nil, &kindError{kind: ErrUnavailable, msg: errNotConfigured.Error()}
	}
	return s.store, nil
}

func (s *server) Configure(ctx context.Context, req *storepb.ConfigureRequest) (*storepb.ConfigureResponse, error) {
	st, err := s.factory(ctx, req.GetConfig())
	if err != nil {
		// The host reports the error to its user; a louder line here would
		// only repeat it.
		s.log.Debug("configuration refused", "error", err)
		return nil, toStatus(err)
	}
	st = Checked(st)
	s.mu.Lock()
	old := s.store
	s.store = st
	s.mu.Unlock()
	if old != nil {
		old.Close()
	}
	s.log.Debug("configured")
	return &storepb.ConfigureResponse{}, nil
}

func (s *server) Capabilities(context.Context, *storepb.CapabilitiesRequest) (*storepb.CapabilitiesResponse, error) {
	caps := Capabilities{MaxValueSize: MaxValueSize}
	if st, err := s.get(); err == nil {
		caps = capabilitiesOf(st)
	}
	return &storepb.CapabilitiesResponse{MaxValueSize: int64(caps.MaxValueSize), NativeListValues: caps.NativeListValues, Protocol: ProtocolVersion, Report: boundReport(caps.Report)}, nil
}

// boundReport returns a copy of r within MaxReportEntries entries (the first
// by name) of at most MaxReportLen bytes each, names and values cut to valid
// UTF-8; nil for an empty report.
func boundReport(r map[string]string) map[string]string {
	if len(r) == 0 {
		return nil
	}
	names := make([]string, 0, len(r))
	for n := range r {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(names) > MaxReportEntries {
		names = names[:MaxReportEntries]
	}
	cut := func(s string) string {
		if len(s) > MaxReportLen {
			s = s[:MaxReportLen]
		}
		return strings.ToValidUTF8(s, "")
	}
	out := make(map[string]string, len(names))
	for _, n := range names {
		out[cut(n)] = cut(r[n])
	}
	return out
}

func (s *server) Ping(context.Context, *storepb.PingRequest) (*storepb.PingResponse, error) {
	return &storepb.PingResponse{}, nil
}

func (s *server) Get(ctx context.Context, req *storepb.GetRequest) (*storepb.GetResponse, error) {
	st, err := s.get()
	if err != nil {
		return nil, toStatus(err)
	}
	v, ver, err := st.Get(ctx, req.GetKey())
	if err != nil {
		return nil, toStatus(err)
	}
	return &storepb.GetResponse{Value: v, Version: string(ver)}, nil
}

func (s *server) Put(ctx context.Context, req *storepb.PutRequest) (*storepb.PutResponse, error) {
	st, err := s.get()
	if err != nil {
		return nil, toStatus(err)
	}
	cond, err := condFromPB(req.GetCond())
	if err != nil {
		return nil, toStatus(err)
	}
	ver, err := st.Put(ctx, req.GetKey(), req.GetValue(), cond)
	if err != nil {
		return nil, toStatus(err)
	}
	return &storepb.PutResponse{Version: string(ver)}, nil
}

func (s *server) Delete(ctx context.Context, req *storepb.DeleteRequest) (*storepb.DeleteResponse, error) {
	st, err := s.get()
	if err != nil {
		return nil, toStatus(err)
	}
	cond, err := condFromPB(req.GetCond())
	if err != nil {
		return nil, toStatus(err)
	}
	return &storepb.DeleteResponse{}, toStatus(st.Delete(ctx, req.GetKey(), cond))
}

func (s *server) List(ctx context.Context, req *storepb.ListRequest) (*storepb.ListResponse, error) {
	st, err := s.get()
	if err != nil {
		return nil, toStatus(err)
	}
	page, err := st.List(ctx, ListOptions{Prefix: req.GetPrefix(), StartAfter: req.GetStartAfter(), Limit: int(req.GetLimit()), WithValues: req.GetWithValues()})
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &storepb.ListResponse{More: page.More, Entries: make([]*storepb.Entry, 0, len(page.Entries))}
	size := 0
	for _, e := range page.Entries {
		size += len(e.Key) + len(e.Version) + len(e.Value) + 16
		if size > listPageBudget && len(resp.Entries) > 0 {
			// Cut the page so it fits one message; the host continues after
			// the last entry sent.
			resp.More = true
			break
		}
		resp.Entries = append(resp.Entries, &storepb.Entry{Key: e.Key, Version: string(e.Version), Value: e.Value})
	}
	return resp, nil
}

func capabilitiesOf(st Store) Capabilities {
	caps := Capabilities{}
	if r, ok := st.(CapabilityReporter); ok {
		caps = r.Capabilities()
	}
	if caps.MaxValueSize <= 0 || caps.MaxValueSize > MaxValueSize {
		caps.MaxValueSize = MaxValueSize
	}
	return caps
}

func baseName(p string) string {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] == '/' {
			return p[i+1:]
		}
	}
	return p
}
