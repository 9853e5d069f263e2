// Package serve is the host's local API: the hostapi.Vault gRPC service on a
// unix socket that only the host's user can reach. A client unlocks a vault
// once (identity and passphrase) and gets a session token; later calls use
// the unlocked vault, whose key is cached until the session's TTL passes or
// the client locks it.
package serve

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	hostapi "github.com/ALRubinger/aileron-store/api/hostapi/v1"
	"github.com/ALRubinger/aileron-store/sdk"
)

// Vault is an unlocked vault (*core.Vault).
type Vault interface {
	Get(ctx context.Context, name string) ([]byte, error)
	Put(ctx context.Context, name string, value []byte) error
	List(ctx context.Context) ([]string, error)
	Delete(ctx context.Context, name string) error
	Lock()
}

// UnlockFunc opens vault as identity with passphrase (nil or empty for an
// unsealed identity). It must not keep passphrase.
type UnlockFunc func(ctx context.Context, vault, identity string, passphrase []byte) (Vault, error)

// ErrUnknownIdentity is returned by an UnlockFunc for an identity that does
// not exist; it maps to NOT_FOUND.
var ErrUnknownIdentity = errors.New("unknown identity")

// Options configure a Server.
type Options struct {
	// TTL is the longest session lifetime; 0 means 15 minutes.
	TTL time.Duration
	// Logger; nil means none.
	Logger hclog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Audit, if set, is the access log every call is written to
	// (audit.go); the caller closes it after Run.
	Audit *AuditLog
}

// Server implements hostapi.VaultServer.
type Server struct {
	hostapi.UnimplementedVaultServer
	unlock UnlockFunc
	ttl    time.Duration
	log    hclog.Logger
	now    func() time.Time
	audit  *AuditLog

	mu       sync.Mutex
	sessions map[[32]byte]*session
}

type session struct {
	vault    Vault
	name     string
	identity string
	expires  time.Time
}

// New returns a Server.
func New(unlock UnlockFunc, opts *Options) *Server {
	if opts == nil {
		opts = &Options{}
	}
	s := &Server{unlock: unlock, ttl: opts.TTL, log: opts.Logger, now: opts.Now, audit: opts.Audit, sessions: map[[32]byte]*session{}}
	if s.ttl <= 0 {
		s.ttl = 15 * time.Minute
	}
	if s.log == nil {
		s.log = hclog.NewNullLogger()
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s
}

// Unlock implements hostapi.VaultServer.
func (s *Server) Unlock(ctx context.Context, req *hostapi.UnlockRequest) (*hostapi.UnlockResponse, error) {
	pass := req.GetPassphrase()
	defer clear(pass)
	if req.GetVault() == "" || req.GetIdentity() == "" {
		return nil, status.Error(codes.InvalidArgument, "vault and identity are required")
	}
	v, err := s.unlock(ctx, req.GetVault(), req.GetIdentity(), pass)
	if err != nil {
		s.log.Info("unlock refused", "vault", req.GetVault(), "identity", req.GetIdentity(), "error", err)
		return nil, toStatus(err)
	}
	ttl := s.ttl
	if t := time.Duration(req.GetTtlSeconds()) * time.Second; t > 0 && t < ttl {
		ttl = t
	}
	var tok [32]byte
	if _, err := rand.Read(tok[:]); err != nil {
		v.Lock()
		return nil, status.Error(codes.Internal, "no randomness for a session token")
	}
	token := base64.RawURLEncoding.EncodeToString(tok[:])
	exp := s.now().Add(ttl)
	s.mu.Lock()
	s.sessions[sha256.Sum256([]byte(token))] = &session{vault: v, name: req.GetVault(), identity: req.GetIdentity(), expires: exp}
	s.mu.Unlock()
	s.log.Info("vault unlocked", "vault", req.GetVault(), "identity", req.GetIdentity(), "ttl", ttl.String())
	return &hostapi.UnlockResponse{Session: token, ExpiresUnix: exp.Unix()}, nil
}

var errSession = statusOf(codes.Unauthenticated, ReasonSessionEnded, "session unknown, expired or locked: unlock the vault again")

func (s *Server) session(token string) (*session, error) {
	key := sha256.Sum256([]byte(token))
	s.mu.Lock()
	defer s.mu.Unlock()
	se, ok := s.sessions[key]
	if !ok {
		return nil, errSession
	}
	if !s.now().Before(se.expires) {
		delete(s.sessions, key)
		se.vault.Lock()
		s.log.Info("session expired", "vault", se.name, "identity", se.identity)
		return nil, errSession
	}
	return se, nil
}

// Get implements hostapi.VaultServer.
func (s *Server) Get(ctx context.Context, req *hostapi.GetRequest) (*hostapi.GetResponse, error) {
	se, err := s.session(req.GetSession())
	if err != nil {
		return nil, err
	}
	v, err := se.vault.Get(ctx, req.GetName())
	if err != nil {
		return nil, toStatus(err)
	}
	// The response owns v; gRPC marshals it before this handler's caller
	// returns, and the bytes are not retained by the server.
	return &hostapi.GetResponse{Value: v}, nil
}

// Put implements hostapi.VaultServer.
func (s *Server) Put(ctx context.Context, req *hostapi.PutRequest) (*hostapi.PutResponse, error) {
	defer clear(req.GetValue())
	se, err := s.session(req.GetSession())
	if err != nil {
		return nil, err
	}
	if err := se.vault.Put(ctx, req.GetName(), req.GetValue()); err != nil {
		return nil, toStatus(err)
	}
	return &hostapi.PutResponse{}, nil
}

// List implements hostapi.VaultServer.
func (s *Server) List(ctx context.Context, req *hostapi.ListRequest) (*hostapi.ListResponse, error) {
	se, err := s.session(req.GetSession())
	if err != nil {
		return nil, err
	}
	names, err := se.vault.List(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	return &hostapi.ListResponse{Names: names}, nil
}

// Delete implements hostapi.VaultServer.
func (s *Server) Delete(ctx context.Context, req *hostapi.DeleteRequest) (*hostapi.DeleteResponse, error) {
	se, err := s.session(req.GetSession())
	if err != nil {
		return nil, err
	}
	if err := se.vault.Delete(ctx, req.GetName()); err != nil {
		return nil, toStatus(err)
	}
	return &hostapi.DeleteResponse{}, nil
}

// Lock implements hostapi.VaultServer.
func (s *Server) Lock(ctx context.Context, req *hostapi.LockRequest) (*hostapi.LockResponse, error) {
	key := sha256.Sum256([]byte(req.GetSession()))
	s.mu.Lock()
	se, ok := s.sessions[key]
	delete(s.sessions, key)
	s.mu.Unlock()
	if ok {
		se.vault.Lock()
		s.log.Info("vault locked", "vault", se.name, "identity", se.identity)
	}
	return &hostapi.LockResponse{}, nil
}

// Expire locks every session past its TTL and returns how many it locked.
func (s *Server) Expire() int {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for k, se := range s.sessions {
		if !now.Before(se.expires) {
			delete(s.sessions, k)
			se.vault.Lock()
			n++
		}
	}
	return n
}

// LockAll ends every session.
func (s *Server) LockAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, se := range s.sessions {
		delete(s.sessions, k)
		se.vault.Lock()
	}
}

// toStatus maps an error to a gRPC status with an ErrorInfo reason
// (reason.go); the message is the error's text, which never holds a secret.
func toStatus(err error) error {
	code, reason := classify(err)
	return statusOf(code, reason, err.Error())
}

// MaxMessageSize bounds gRPC messages: a maximum-size value plus framing.
const MaxMessageSize = sdk.MaxValueSize + 64<<10

// Listen creates the unix socket at path, owner-only: its directory must be
// accessible by this user alone (it is created 0700 if missing) and the
// socket is 0600. A stale socket is replaced; a live one is an error.
// Connections from other users are refused as they arrive.
func Listen(path string) (net.Listener, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	dir := filepath.Dir(abs)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("socket directory: %w", err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("socket directory: %w", err)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Getuid() {
		return nil, fmt.Errorf("socket directory %s belongs to another user (uid %d); use a directory you own and only you can access", dir, st.Uid)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("socket directory %s is accessible by other users (mode %o); use a directory only you can access (chmod 700), e.g. the default <home>/serve.sock", dir, fi.Mode().Perm())
	}
	if fi, err := os.Lstat(abs); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("%s exists and is not a socket", abs)
		}
		if c, err := net.DialTimeout("unix", abs, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("another server is already listening on %s", abs)
		}
		if err := os.Remove(abs); err != nil {
			return nil, fmt.Errorf("removing stale socket %s: %w", abs, err)
		}
	}
	old := syscall.Umask(0o177)
	l, err := net.Listen("unix", abs)
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", abs, err)
	}
	if err := os.Chmod(abs, 0o600); err != nil {
		l.Close()
		return nil, fmt.Errorf("socket permissions: %w", err)
	}
	return &ownerListener{Listener: l, uid: os.Getuid()}, nil
}

// ownerListener drops connections whose peer is another user.
type ownerListener struct {
	net.Listener
	uid int
}

func (l *ownerListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if uc, ok := c.(*net.UnixConn); ok {
			if uid, err := peerUID(uc); err != nil || uid != l.uid {
				c.Close()
				continue
			}
		}
		return c, nil
	}
}

func peerUID(c *net.UnixConn) (int, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return -1, err
	}
	uid := -1
	var serr error
	err = raw.Control(func(fd uintptr) {
		cred, err := syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
		if err != nil {
			serr = err
			return
		}
		uid = int(cred.Uid)
	})
	if err != nil {
		return -1, err
	}
	return uid, serr
}

// Run serves s on l until ctx ends, then stops gracefully and locks every
// session.
func Run(ctx context.Context, l net.Listener, s *Server) error {
	gs := grpc.NewServer(append(s.grpcOptions(), grpc.MaxRecvMsgSize(MaxMessageSize), grpc.MaxSendMsgSize(MaxMessageSize))...)
	hostapi.RegisterVaultServer(gs, s)
	done := make(chan struct{})
	defer close(done)
	go func() {
		t := time.NewTicker(15 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				stopped := make(chan struct{})
				go func() { gs.GracefulStop(); close(stopped) }()
				select {
				case <-stopped:
				case <-time.After(5 * time.Second):
					gs.Stop()
				}
				return
			case <-done:
				return
			case <-t.C:
				if n := s.Expire(); n > 0 {
					s.log.Info("sessions expired", "count", n)
				}
			}
		}
	}()
	err := gs.Serve(l)
	s.LockAll()
	if errors.Is(err, grpc.ErrServerStopped) || ctx.Err() != nil {
		return nil
	}
	return err
}
