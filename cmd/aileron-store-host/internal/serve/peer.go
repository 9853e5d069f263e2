package serve

import (
	"context"
	"net"
	"syscall"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
)

// Peer is who called: the credentials of the process at the other end of
// the unix socket (SO_PEERCRED), as the kernel recorded them when that
// process connected.
type Peer struct {
	credentials.CommonAuthInfo
	UID, PID int
}

// AuthType implements credentials.AuthInfo.
func (Peer) AuthType() string { return "unix-peercred" }

// peerCreds is the transport credentials of the local API: no encryption
// (the socket's permissions protect the channel) but the caller's
// SO_PEERCRED attached to every call as its Peer.
type peerCreds struct{}

func (peerCreds) ServerHandshake(c net.Conn) (net.Conn, credentials.AuthInfo, error) {
	p := Peer{CommonAuthInfo: credentials.CommonAuthInfo{SecurityLevel: credentials.NoSecurity}, UID: -1, PID: -1}
	if uc, ok := c.(*net.UnixConn); ok {
		if cred, err := peerCred(uc); err == nil {
			p.UID, p.PID = int(cred.Uid), int(cred.Pid)
		}
	}
	return c, p, nil
}

func (peerCreds) ClientHandshake(_ context.Context, _ string, c net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return c, Peer{CommonAuthInfo: credentials.CommonAuthInfo{SecurityLevel: credentials.NoSecurity}, UID: -1, PID: -1}, nil
}

func (peerCreds) Info() credentials.ProtocolInfo {
	return credentials.ProtocolInfo{SecurityProtocol: "insecure"}
}

func (peerCreds) Clone() credentials.TransportCredentials { return peerCreds{} }

func (peerCreds) OverrideServerName(string) error { return nil }

// peerOf returns the caller of the call ctx belongs to (UID and PID -1 when
// unknown).
func peerOf(ctx context.Context) Peer {
	if p, ok := peer.FromContext(ctx); ok {
		if pi, ok := p.AuthInfo.(Peer); ok {
			return pi
		}
	}
	return Peer{UID: -1, PID: -1}
}

func peerCred(c *net.UnixConn) (*syscall.Ucred, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	var cred *syscall.Ucred
	var serr error
	if err := raw.Control(func(fd uintptr) {
		cred, serr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil {
		return nil, err
	}
	return cred, serr
}
