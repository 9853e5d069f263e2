package serve

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	hostapi "github.com/ALRubinger/aileron-store/api/hostapi/v1"
)

// The access log of serve mode (serve --audit-log FILE): one JSON object per
// line for every call of the local API, written before the call's result
// leaves the server. A call whose line cannot be written is refused
// (INTERNAL, reason AUDIT_LOG_FAILED): an access the log does not show does
// not happen. Put and Delete change the backend, so they write a "started"
// line before they touch it (refused if that fails) and their outcome line
// after; the other calls write one line after the work and withhold its
// result (the value read, the new session) when that line fails.
//
// Durability: each line is one write(2) on a file opened O_APPEND; on a
// regular file it is fsync'd before the call returns, so a logged call
// survives a crash of the host. A pipe or device (a log collector's FIFO)
// gets the write only.
//
// No secret is written: not the passphrase, the value, the session token
// (only the first 16 bytes of its SHA-256, to correlate the calls of a
// session) or a credential's name, which is written as an HMAC-SHA256 under
// the host's audit key (<home>/state/audit.key): `aileron-store-host audit
// hash NAME` computes it, so the log can be searched for a known name but
// does not list names in clear.

// AuditKeyFile is the name of the audit key in the host's state directory.
const AuditKeyFile = "audit.key"

const auditKeyLen = 32

// AuditKey returns the HMAC key of the access log kept in stateDir, creating
// it (32 random bytes, mode 0600) on first use.
func AuditKey(stateDir string) ([]byte, error) {
	key, err := ReadAuditKey(stateDir)
	if !errors.Is(err, fs.ErrNotExist) {
		return key, err
	}
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return nil, fmt.Errorf("audit key: %w", err)
	}
	tmp, err := os.CreateTemp(stateDir, ".audit.key-*")
	if err != nil {
		return nil, fmt.Errorf("audit key: %w", err)
	}
	defer os.Remove(tmp.Name())
	key = make([]byte, auditKeyLen)
	rand.Read(key)
	_, werr := tmp.Write(key)
	if err := errors.Join(werr, tmp.Chmod(0o600), tmp.Sync(), tmp.Close()); err != nil {
		clear(key)
		return nil, fmt.Errorf("audit key: writing %s: %w", tmp.Name(), err)
	}
	// Link fails if another process created the key meanwhile: use theirs.
	if err := os.Link(tmp.Name(), filepath.Join(stateDir, AuditKeyFile)); err != nil {
		clear(key)
		if errors.Is(err, fs.ErrExist) {
			return ReadAuditKey(stateDir)
		}
		return nil, fmt.Errorf("audit key: %w", err)
	}
	return key, nil
}

// ReadAuditKey returns the audit key of stateDir; a missing key is an error
// wrapping fs.ErrNotExist.
func ReadAuditKey(stateDir string) ([]byte, error) {
	p := filepath.Join(stateDir, AuditKeyFile)
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("audit key: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("audit key %s: %w", p, err)
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("audit key %s: must be a regular file only its owner can access (mode %v): chmod 600 it", p, fi.Mode())
	}
	key := make([]byte, auditKeyLen+1)
	n, _ := f.Read(key)
	if n != auditKeyLen {
		clear(key)
		return nil, fmt.Errorf("audit key %s: %d bytes, want %d: the file is damaged; move it away to start a new key (earlier log lines then no longer match `audit hash`)", p, n, auditKeyLen)
	}
	return key[:auditKeyLen], nil
}

// HashName returns the form in which the access log writes credential
// name: "hmac-sha256:" and the hex HMAC-SHA256 of name under key.
func HashName(key []byte, name string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(name))
	return "hmac-sha256:" + hex.EncodeToString(m.Sum(nil))
}

// AuditLog is an open access log. It is safe for concurrent use.
type AuditLog struct {
	path string
	key  []byte
	sync bool // fsync after each line (regular files)

	mu     sync.Mutex
	f      *os.File
	broken bool // the last write was partial: start the next on a new line
}

// OpenAuditLog opens (creating it 0600 if missing) the access log at path
// for appending; names are hashed under key. An existing regular file that
// other users can access is refused.
func OpenAuditLog(path string, key []byte) (*AuditLog, error) {
	if len(key) != auditKeyLen {
		return nil, fmt.Errorf("access log: key of %d bytes, want %d", len(key), auditKeyLen)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("access log: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("access log %s: %w", path, err)
	}
	if fi.Mode().IsRegular() && fi.Mode().Perm()&0o077 != 0 {
		f.Close()
		return nil, fmt.Errorf("access log %s is accessible by other users (mode %v): chmod 600 it", path, fi.Mode().Perm())
	}
	return &AuditLog{path: path, key: append([]byte(nil), key...), sync: fi.Mode().IsRegular(), f: f}, nil
}

// Path returns the log's path.
func (l *AuditLog) Path() string { return l.path }

// Close closes the log and clears its key.
func (l *AuditLog) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	clear(l.key)
	return l.f.Close()
}

// AuditEvent is one line of the access log.
type AuditEvent struct {
	Time string `json:"time"` // RFC 3339, UTC, nanoseconds
	// UID and PID of the calling process (SO_PEERCRED; -1 if unknown).
	UID int `json:"uid"`
	PID int `json:"pid"`
	// Identity and Vault of the call: from the request for Unlock, from
	// the session otherwise ("" for an unknown session).
	Identity string `json:"identity,omitempty"`
	Vault    string `json:"vault,omitempty"`
	// Op is unlock, get, put, list, delete or lock.
	Op string `json:"op"`
	// Outcome is "ok", "error", or "started" (Put and Delete, before they
	// touch the backend).
	Outcome string `json:"outcome"`
	// Code and Reason of an error: the gRPC status code (NOT_FOUND) and
	// the ErrorInfo reason (CREDENTIAL_NOT_FOUND). The error's message is
	// not logged: it may name the credential.
	Code   string `json:"code,omitempty"`
	Reason string `json:"reason,omitempty"`
	// Name is the credential's name as HashName writes it.
	Name string `json:"name,omitempty"`
	// Session is the first 16 bytes of the SHA-256 of the session token
	// (hex): the same for every call of one session.
	Session string `json:"session,omitempty"`
	// Count is the number of names a successful List returned.
	Count *int `json:"count,omitempty"`
}

// append writes ev as one line.
func (l *AuditLog) append(ev *AuditEvent) error {
	line, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	line = append(line, '\n')
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.broken {
		line = append([]byte{'\n'}, line...)
	}
	n, err := l.f.Write(line)
	if err != nil || n != len(line) {
		l.broken = n > 0
		if err == nil {
			err = errors.New("short write")
		}
		return fmt.Errorf("writing access log %s: %w", l.path, err)
	}
	l.broken = false
	if l.sync {
		if err := l.f.Sync(); err != nil {
			return fmt.Errorf("syncing access log %s: %w", l.path, err)
		}
	}
	return nil
}

// grpcOptions are the server options of Run: the caller's credentials on
// every call and, with an access log, the interceptor that writes it.
func (s *Server) grpcOptions() []grpc.ServerOption {
	opts := []grpc.ServerOption{grpc.Creds(peerCreds{})}
	if s.audit != nil {
		opts = append(opts, grpc.UnaryInterceptor(s.audited))
	}
	return opts
}

var ops = map[string]string{
	hostapi.Vault_Unlock_FullMethodName: "unlock",
	hostapi.Vault_Get_FullMethodName:    "get",
	hostapi.Vault_Put_FullMethodName:    "put",
	hostapi.Vault_List_FullMethodName:   "list",
	hostapi.Vault_Delete_FullMethodName: "delete",
	hostapi.Vault_Lock_FullMethodName:   "lock",
}

func sessionTag(token string) string {
	if token == "" {
		return ""
	}
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:16])
}

// sessionOwner returns the vault and identity of a live session, without
// expiring it.
func (s *Server) sessionOwner(token string) (vault, identity string) {
	key := sha256.Sum256([]byte(token))
	s.mu.Lock()
	defer s.mu.Unlock()
	if se, ok := s.sessions[key]; ok {
		return se.name, se.identity
	}
	return "", ""
}

// audited is the unary interceptor that writes the access log.
func (s *Server) audited(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	op, ok := ops[info.FullMethod]
	if !ok {
		return nil, status.Error(codes.Unimplemented, "unknown method")
	}
	p := peerOf(ctx)
	ev := &AuditEvent{UID: p.UID, PID: p.PID, Op: op}
	switch r := req.(type) {
	case *hostapi.UnlockRequest:
		// Names the client sent: bounded, since nothing checked them yet.
		ev.Vault, ev.Identity = bounded(r.GetVault()), bounded(r.GetIdentity())
	case interface{ GetSession() string }:
		ev.Session = sessionTag(r.GetSession())
		ev.Vault, ev.Identity = s.sessionOwner(r.GetSession())
	}
	if r, ok := req.(interface{ GetName() string }); ok && r.GetName() != "" {
		ev.Name = HashName(s.audit.key, r.GetName())
	}
	if op == "put" || op == "delete" {
		ev.Time, ev.Outcome = s.now().UTC().Format(time.RFC3339Nano), "started"
		if err := s.audit.append(ev); err != nil {
			return nil, s.auditFailed(op, err)
		}
	}
	resp, err := handler(ctx, req)
	ev.Time = s.now().UTC().Format(time.RFC3339Nano)
	if err != nil {
		st := status.Convert(err)
		ev.Outcome, ev.Code = "error", codeName(st.Code())
		for _, d := range st.Details() {
			if ei, ok := d.(*errdetails.ErrorInfo); ok {
				ev.Reason = ei.GetReason()
			}
		}
	} else {
		ev.Outcome = "ok"
		switch r := resp.(type) {
		case *hostapi.UnlockResponse:
			ev.Session = sessionTag(r.GetSession())
		case *hostapi.ListResponse:
			n := len(r.GetNames())
			ev.Count = &n
		}
	}
	if werr := s.audit.append(ev); werr != nil {
		if err == nil {
			s.withhold(resp)
		}
		return nil, s.auditFailed(op, werr)
	}
	return resp, err
}

// withhold undoes what a successful call handed out when its log line
// failed: the value read is cleared, the new session locked.
func (s *Server) withhold(resp any) {
	switch r := resp.(type) {
	case *hostapi.GetResponse:
		clear(r.GetValue())
	case *hostapi.UnlockResponse:
		key := sha256.Sum256([]byte(r.GetSession()))
		s.mu.Lock()
		se, ok := s.sessions[key]
		delete(s.sessions, key)
		s.mu.Unlock()
		if ok {
			se.vault.Lock()
		}
	}
}

func (s *Server) auditFailed(op string, err error) error {
	s.log.Error("access log write failed; call refused", "op", op, "error", err)
	return statusOf(codes.Internal, ReasonAuditLog, fmt.Sprintf("%s refused: the access log could not record it: %v", op, err))
}

// maxLoggedName bounds a client-supplied name in a log line (the longest
// valid name is 1024 bytes).
const maxLoggedName = 1024

func bounded(s string) string {
	if len(s) > maxLoggedName {
		return s[:maxLoggedName] + "...(truncated)"
	}
	return s
}

// codeName spells a status code as the proto does: NOT_FOUND.
func codeName(c codes.Code) string {
	s := c.String()
	var b strings.Builder
	for i, r := range s {
		if i > 0 && r >= 'A' && r <= 'Z' && s[i-1] >= 'a' && s[i-1] <= 'z' {
			b.WriteByte('_')
		}
		b.WriteRune(r)
	}
	return strings.ToUpper(b.String())
}
