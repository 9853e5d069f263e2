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
	"sync/atomic"
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
	// Expires is when the vault locks itself (its engine's session TTL);
	// a session never outlives it.
	Expires() time.Time
	Lock()
}

// Identity is an opened member identity (*core.Identity).
type Identity interface {
	// Wipe clears its private keys.
	Wipe()
}

// Opener opens identities and vaults for the server, in two steps so that
// the server can run the expensive one (the passphrase's Argon2id) one at a
// time.
type Opener interface {
	// OpenIdentity opens the identity named identity with passphrase (nil
	// or empty for an unsealed identity): the step that runs the passphrase
	// KDF. The server runs at most one OpenIdentity at a time. It must not
	// keep passphrase. An identity that does not exist => ErrUnknownIdentity.
	OpenIdentity(ctx context.Context, identity string, passphrase []byte) (Identity, error)
	// UnlockVault opens vault as id (an Identity from OpenIdentity). On
	// success the returned Vault owns id and wipes it on Lock; on error the
	// server wipes id.
	UnlockVault(ctx context.Context, vault string, id Identity) (Vault, error)
}

// ErrUnknownIdentity is returned by an UnlockFunc for an identity that does
// not exist; it maps to NOT_FOUND.
var ErrUnknownIdentity = errors.New("unknown identity")

// ErrBusy is returned (RESOURCE_EXHAUSTED) by an Unlock that finds
// MaxKDFWaiters unlocks already waiting for the key-derivation step.
var ErrBusy = errors.New("busy")

// MaxKDFWaiters bounds the Unlock calls that wait while another runs its
// passphrase KDF; one more fails at once with ErrBusy rather than queue.
const MaxKDFWaiters = 8

// Options configure a Server.
type Options struct {
	// TTL is the longest session lifetime; 0 means 15 minutes. The engine
	// behind the Opener must keep unlocked vaults at least as long.
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
	open  Opener
	ttl   time.Duration
	log   hclog.Logger
	now   func() time.Time
	audit *AuditLog

	// kdf admits one OpenIdentity at a time; kdfWaiters counts the
	// Unlocks waiting for it.
	kdf        chan struct{}
	kdfWaiters atomic.Int32

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
func New(open Opener, opts *Options) *Server {
	if opts == nil {
		opts = &Options{}
	}
	s := &Server{open: open, ttl: opts.TTL, log: opts.Logger, now: opts.Now, audit: opts.Audit, sessions: map[[32]byte]*session{}, kdf: make(chan struct{}, 1)}
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
	v, err := s.unlockVault(ctx, req.GetVault(), req.GetIdentity(), pass)
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
	if ve := v.Expires(); ve.Before(exp) {
		exp = ve
	}
	s.mu.Lock()
	s.sessions[sha256.Sum256([]byte(token))] = &session{vault: v, name: req.GetVault(), identity: req.GetIdentity(), expires: exp}
	s.mu.Unlock()
	s.log.Info("vault unlocked", "vault", req.GetVault(), "identity", req.GetIdentity(), "expires", exp.UTC().Format(time.RFC3339))
	return &hostapi.UnlockResponse{Session: token, ExpiresUnix: exp.Unix()}, nil
}

// unlockVault opens the identity (one KDF at a time) and then the vault.
func (s *Server) unlockVault(ctx context.Context, vault, identity string, pass []byte) (Vault, error) {
	id, err := s.openIdentity(ctx, identity, pass)
	if err != nil {
		return nil, err
	}
	v, err := s.open.UnlockVault(ctx, vault, id)
	if err != nil {
		id.Wipe()
		return nil, err
	}
	return v, nil
}

// openIdentity runs OpenIdentity when no other one runs, waiting behind at
// most MaxKDFWaiters others: an Argon2id derivation takes up to a few
// seconds and 256 MiB, so parallel ones would only let a client exhaust the
// host's memory and CPU.
func (s *Server) openIdentity(ctx context.Context, identity string, pass []byte) (Identity, error) {
	select {
	case s.kdf <- struct{}{}:
	default:
		if n := s.kdfWaiters.Add(1); n > MaxKDFWaiters {
			s.kdfWaiters.Add(-1)
			return nil, fmt.Errorf("%w: %d unlocks are already waiting for the passphrase key derivation, which runs one at a time; retry in a few seconds", ErrBusy, MaxKDFWaiters)
		}
		select {
		case s.kdf <- struct{}{}:
			s.kdfWaiters.Add(-1)
		case <-ctx.Done():
			s.kdfWaiters.Add(-1)
			return nil, ctx.Err()
		}
	}
	defer func() { <-s.kdf }()
	return s.open.OpenIdentity(ctx, identity, pass)
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
