package sdk

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	plugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ALRubinger/aileron-store/internal/pluginproc"
	"github.com/ALRubinger/aileron-store/sdk/internal/storepb"
)

// ClientOptions tune Open. A nil *ClientOptions means the defaults.
type ClientOptions struct {
	// Name names the plugin in errors and logs; default the binary's base
	// name (e.g. "aileron-store-s3").
	Name string
	// SHA256 pins the plugin binary: when set (hex, optionally prefixed with
	// "sha256:"), a binary whose SHA-256 differs is refused before it starts.
	SHA256 string
	// StartTimeout bounds how long the plugin may take to start and
	// handshake; default 20s.
	StartTimeout time.Duration
	// Logger receives the plugin's logs (its stderr) and the client's own.
	// Default: no logging.
	Logger hclog.Logger
	// Args are passed to the plugin binary, e.g. to make a host binary
	// re-execute itself as a built-in plugin.
	Args []string
	// Env adds variables to the plugin's environment. The plugin inherits the
	// host's environment except variables that may hold secrets
	// (AILERON_VAULT_PASSPHRASE and any listed in HideEnv).
	Env []string
	// HideEnv names further host environment variables the plugin must not
	// see.
	HideEnv []string
	// Reattach connects to a plugin already running in debug mode (the JSON
	// line it printed, see ServeOptions.Debug) instead of starting one. When
	// empty, AILERON_STORE_REATTACH is used if set.
	Reattach string
}

// Client is the host's handle on a plugin process. It implements Store: each
// call crosses the process boundary over gRPC with mutual TLS. If the plugin
// process dies, the call in flight returns an error wrapping ErrUnavailable
// that says so, and the next call starts a fresh process and configures it
// again. Close stops the process; a plugin also exits by itself when its
// host dies.
type Client struct {
	path   string
	config map[string]string
	opts   ClientOptions
	name   string
	log    hclog.Logger

	mu     sync.Mutex
	pc     *plugin.Client
	rpc    storepb.StoreClient
	caps   Capabilities
	closed bool
}

var _ Store = (*Client)(nil)

// checksArguments marks Client as checking its arguments before a call
// leaves the host (see Checked).
func (c *Client) checksArguments() {}

// Open starts the plugin binary at path, checks its pin, handshakes, and
// sends it config. Errors from the plugin's configuration wrap
// ErrInvalidArgument and name the field at fault.
func Open(ctx context.Context, path string, config map[string]string, opts *ClientOptions) (*Client, error) {
	c := &Client{path: path, config: config}
	if opts != nil {
		c.opts = *opts
	}
	if c.opts.Reattach == "" {
		c.opts.Reattach = os.Getenv("AILERON_STORE_REATTACH")
	}
	c.name = c.opts.Name
	if c.name == "" {
		c.name = baseName(path)
	}
	c.log = c.opts.Logger
	if c.log == nil {
		c.log = hclog.NewNullLogger()
	}
	if c.opts.StartTimeout <= 0 {
		c.opts.StartTimeout = 20 * time.Second
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.start(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// FileSHA256 returns the hex SHA-256 of the file at path, as ClientOptions
// SHA256 expects it.
func FileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// start launches (or reattaches to) the plugin and configures it; c.mu held.
func (c *Client) start(ctx context.Context) error {
	cfg := &plugin.ClientConfig{
		HandshakeConfig:  handshake,
		VersionedPlugins: map[int]plugin.PluginSet{ProtocolVersion: {pluginName: &grpcPlugin{}}},
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		Managed:          true,
		StartTimeout:     c.opts.StartTimeout,
		Logger:           c.log.Named(c.name),
		GRPCDialOptions: []grpc.DialOption{grpc.WithDefaultCallOptions(
			grpc.MaxCallRecvMsgSize(maxMessageSize), grpc.MaxCallSendMsgSize(maxMessageSize))},
	}
	if c.opts.Reattach != "" {
		rc, err := parseReattach(c.opts.Reattach)
		if err != nil {
			return err
		}
		cfg.Reattach = rc
		// go-plugin negotiates the plugin set only when it starts the
		// process; a reattached plugin needs it given.
		cfg.Plugins = cfg.VersionedPlugins[rc.ProtocolVersion]
	} else {
		want := strings.ToLower(strings.TrimPrefix(strings.TrimSpace(c.opts.SHA256), "sha256:"))
		if want != "" {
			sum, err := hex.DecodeString(want)
			if err != nil || len(sum) != sha256.Size {
				return Errorf(ErrInvalidArgument, "plugin %s: the sha256 pin %q is not 64 hex digits", c.name, c.opts.SHA256)
			}
			got, err := FileSHA256(c.path)
			if err != nil {
				return Errorf(ErrUnavailable, "plugin %s: reading %s: %v", c.name, c.path, err)
			}
			if got != want {
				return Errorf(ErrPermissionDenied, "plugin %s: binary %s has SHA-256 %s but the configuration pins %s; refusing to start it", c.name, c.path, got, want)
			}
			cfg.SecureConfig = &plugin.SecureConfig{Checksum: sum, Hash: sha256.New()}
		}
		cmd := exec.Command(c.path, c.opts.Args...)
		cmd.Env = append(pluginEnv(c.opts.HideEnv), c.opts.Env...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		cfg.Cmd = cmd
		cfg.SkipHostEnv = true
		cfg.AutoMTLS = true
	}
	pc := plugin.NewClient(cfg)
	proto, err := pc.Client()
	if err != nil {
		pc.Kill()
		return Errorf(ErrUnavailable, "plugin %s (%s) did not start: %v", c.name, c.path, err)
	}
	raw, err := proto.Dispense(pluginName)
	if err != nil {
		pc.Kill()
		return Errorf(ErrUnavailable, "plugin %s: %v", c.name, err)
	}
	rpc := raw.(storepb.StoreClient)
	if _, err := rpc.Configure(ctx, &storepb.ConfigureRequest{Config: c.config}); err != nil {
		pc.Kill()
		return fromStatus(err, "plugin "+c.name)
	}
	caps, err := rpc.Capabilities(ctx, &storepb.CapabilitiesRequest{})
	if err != nil {
		pc.Kill()
		return fromStatus(err, "plugin "+c.name)
	}
	c.caps = Capabilities{MaxValueSize: int(caps.GetMaxValueSize()), NativeListValues: caps.GetNativeListValues(), Report: boundReport(caps.GetReport())}
	if c.caps.MaxValueSize <= 0 || c.caps.MaxValueSize > MaxValueSize {
		c.caps.MaxValueSize = MaxValueSize
	}
	c.pc, c.rpc = pc, rpc
	c.log.Debug("plugin started", "plugin", c.name, "pid", c.pidLocked())
	return nil
}

// pluginEnv is the host environment minus variables that may hold secrets.
func pluginEnv(hide []string) []string {
	hidden := map[string]bool{"AILERON_VAULT_PASSPHRASE": true, "AILERON_STORE_REATTACH": true}
	for _, h := range hide {
		hidden[h] = true
	}
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if !hidden[k] {
			env = append(env, kv)
		}
	}
	return env
}

type reattachJSON struct {
	Protocol        string `json:"protocol"`
	ProtocolVersion int    `json:"protocol_version"`
	Network         string `json:"network"`
	Addr            string `json:"addr"`
	Pid             int    `json:"pid"`
}

func parseReattach(s string) (*plugin.ReattachConfig, error) {
	var r reattachJSON
	if err := json.Unmarshal([]byte(s), &r); err != nil {
		return nil, Errorf(ErrInvalidArgument, "reattach line: %v", err)
	}
	var addr net.Addr
	var err error
	switch r.Network {
	case "unix":
		addr, err = net.ResolveUnixAddr("unix", r.Addr)
	case "tcp":
		addr, err = net.ResolveTCPAddr("tcp", r.Addr)
	default:
		return nil, Errorf(ErrInvalidArgument, "reattach line: unknown network %q", r.Network)
	}
	if err != nil {
		return nil, Errorf(ErrInvalidArgument, "reattach line: address %q: %v", r.Addr, err)
	}
	if r.ProtocolVersion != ProtocolVersion {
		return nil, Errorf(ErrInvalidArgument, "reattach line: protocol version %d, this host speaks %d", r.ProtocolVersion, ProtocolVersion)
	}
	return &plugin.ReattachConfig{Protocol: plugin.ProtocolGRPC, ProtocolVersion: r.ProtocolVersion, Addr: addr, Pid: r.Pid, Test: true}, nil
}

// conn returns the RPC client of a live plugin, restarting the plugin if it
// has exited.
func (c *Client) conn(ctx context.Context) (storepb.StoreClient, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, Errorf(ErrUnavailable, "plugin %s: client is closed", c.name)
	}
	if c.pc != nil && c.pc.Exited() {
		c.log.Warn("plugin exited; restarting it", "plugin", c.name)
		c.pc.Kill()
		c.pc, c.rpc = nil, nil
	}
	if c.pc == nil {
		if err := c.start(ctx); err != nil {
			return nil, err
		}
	}
	return c.rpc, nil
}

// callErr converts an RPC error, telling a dead plugin from a backend error.
func (c *Client) callErr(err error, op, key string) error {
	if err == nil {
		return nil
	}
	if st, ok := status.FromError(err); ok && st.Code() == codes.Unavailable && !fromStore(err) {
		if c.waitExited(500 * time.Millisecond) {
			return Errorf(ErrUnavailable, "plugin %s exited during %s %q; it will be restarted on the next call", c.name, op, key)
		}
	}
	return fromStatus(err, "plugin "+c.name)
}

func (c *Client) waitExited(d time.Duration) bool {
	c.mu.Lock()
	pc := c.pc
	c.mu.Unlock()
	if pc == nil {
		return true
	}
	deadline := time.Now().Add(d)
	for !pc.Exited() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true
}

// Get implements Store.
func (c *Client) Get(ctx context.Context, key string) ([]byte, Version, error) {
	if err := ValidateKey(key); err != nil {
		return nil, "", err
	}
	rpc, err := c.conn(ctx)
	if err != nil {
		return nil, "", err
	}
	resp, err := rpc.Get(ctx, &storepb.GetRequest{Key: key})
	if err != nil {
		return nil, "", c.callErr(err, "get", key)
	}
	if resp.GetVersion() == "" {
		return nil, "", c.badReply("get %q: empty version", key)
	}
	if len(resp.GetValue()) > c.maxValue() {
		return nil, "", c.badReply("get %q: value of %d bytes exceeds the maximum of %d", key, len(resp.GetValue()), c.maxValue())
	}
	return resp.GetValue(), Version(resp.GetVersion()), nil
}

// Put implements Store.
func (c *Client) Put(ctx context.Context, key string, value []byte, cond Cond) (Version, error) {
	if err := validatePut(key, value, cond, c.maxValue()); err != nil {
		return "", err
	}
	rpc, err := c.conn(ctx)
	if err != nil {
		return "", err
	}
	resp, err := rpc.Put(ctx, &storepb.PutRequest{Key: key, Value: value, Cond: condToPB(cond)})
	if err != nil {
		return "", c.callErr(err, "put", key)
	}
	if resp.GetVersion() == "" {
		return "", c.badReply("put %q: empty version", key)
	}
	return Version(resp.GetVersion()), nil
}

// Delete implements Store.
func (c *Client) Delete(ctx context.Context, key string, cond Cond) error {
	if err := validateDelete(key, cond); err != nil {
		return err
	}
	rpc, err := c.conn(ctx)
	if err != nil {
		return err
	}
	_, err = rpc.Delete(ctx, &storepb.DeleteRequest{Key: key, Cond: condToPB(cond)})
	return c.callErr(err, "delete", key)
}

// List implements Store. It checks the plugin's page against the contract
// (order, prefix, cursor, size) and refuses a page that breaks it.
func (c *Client) List(ctx context.Context, opts ListOptions) (Page, error) {
	opts, err := ValidateListOptions(opts)
	if err != nil {
		return Page{}, err
	}
	rpc, err := c.conn(ctx)
	if err != nil {
		return Page{}, err
	}
	resp, err := rpc.List(ctx, &storepb.ListRequest{Prefix: opts.Prefix, StartAfter: opts.StartAfter, Limit: int32(opts.Limit), WithValues: opts.WithValues})
	if err != nil {
		return Page{}, c.callErr(err, "list", opts.Prefix)
	}
	if len(resp.GetEntries()) > opts.Limit {
		return Page{}, c.badReply("list %q: %d entries for a limit of %d", opts.Prefix, len(resp.GetEntries()), opts.Limit)
	}
	page := Page{More: resp.GetMore(), Entries: make([]Entry, len(resp.GetEntries()))}
	prev := opts.StartAfter
	for i, e := range resp.GetEntries() {
		switch {
		case !strings.HasPrefix(e.GetKey(), opts.Prefix):
			return Page{}, c.badReply("list %q: key %q is outside the prefix", opts.Prefix, e.GetKey())
		case e.GetKey() <= prev && (i > 0 || prev != ""):
			return Page{}, c.badReply("list %q: key %q is not after %q", opts.Prefix, e.GetKey(), prev)
		case e.GetVersion() == "":
			return Page{}, c.badReply("list %q: key %q has an empty version", opts.Prefix, e.GetKey())
		case len(e.GetValue()) > c.maxValue():
			return Page{}, c.badReply("list %q: value of key %q exceeds the maximum size", opts.Prefix, e.GetKey())
		case !opts.WithValues && len(e.GetValue()) > 0:
			return Page{}, c.badReply("list %q: values sent without being asked for", opts.Prefix)
		}
		if err := ValidateKey(e.GetKey()); err != nil {
			return Page{}, c.badReply("list %q: invalid key: %v", opts.Prefix, err)
		}
		page.Entries[i] = Entry{Key: e.GetKey(), Version: Version(e.GetVersion()), Value: e.GetValue()}
		prev = e.GetKey()
	}
	return page, nil
}

func (c *Client) badReply(format string, args ...any) error {
	return Errorf(ErrUnavailable, "plugin %s sent a reply that breaks the Store contract: %s", c.name, fmt.Sprintf(format, args...))
}

func (c *Client) maxValue() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.caps.MaxValueSize > 0 {
		return c.caps.MaxValueSize
	}
	return MaxValueSize
}

// Capabilities implements CapabilityReporter with what the plugin reported.
func (c *Client) Capabilities() Capabilities {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.caps
}

// Ping makes one empty round trip to the plugin process: the floor of any
// call's cost across the boundary.
func (c *Client) Ping(ctx context.Context) error {
	rpc, err := c.conn(ctx)
	if err != nil {
		return err
	}
	_, err = rpc.Ping(ctx, &storepb.PingRequest{})
	return c.callErr(err, "ping", "")
}

func init() {
	pluginproc.Register(
		func(s any) (bool, error) {
			c, ok := s.(*Client)
			if !ok {
				return false, nil
			}
			return true, c.kill()
		},
		func(s any) (bool, int) {
			c, ok := s.(*Client)
			if !ok {
				return false, 0
			}
			return true, c.pid()
		})
}

// pid returns the plugin's process id, or 0 when no process is running.
func (c *Client) pid() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pidLocked()
}

func (c *Client) pidLocked() int {
	if c.pc == nil || c.pc.Exited() {
		return 0
	}
	if rc := c.pc.ReattachConfig(); rc != nil {
		return rc.Pid
	}
	return 0
}

// kill sends SIGKILL to the plugin process and waits until it is gone, as a
// crash would; the next call starts a new one. For tests and chaos runs,
// through internal/pluginproc.
func (c *Client) kill() error {
	pid := c.pid()
	if pid == 0 {
		return nil
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		return fmt.Errorf("kill plugin %s (pid %d): %w", c.name, pid, err)
	}
	if !c.waitExited(5 * time.Second) {
		return fmt.Errorf("plugin %s (pid %d) still running 5s after SIGKILL", c.name, pid)
	}
	return nil
}

// Close stops the plugin process. It is safe to call more than once.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	if c.pc != nil {
		c.pc.Kill()
		c.pc, c.rpc = nil, nil
	}
	return nil
}

// CleanupPlugins stops every plugin process this host started. Call it on
// every way out of a host's main (normal return, error exit, SIGINT/SIGTERM)
// so that no plugin outlives its host.
func CleanupPlugins() { plugin.CleanupClients() }
