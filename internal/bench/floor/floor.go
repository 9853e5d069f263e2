// Package floor is the bench's bare gRPC floor: a server in a process of its
// own, reached over a unix socket without go-plugin, with and without mutual
// TLS, to compare the plugin's empty call with; and, given a raw baseline
// client, the bare write floor: the same server doing only the raw baseline's
// write, to compare the plugin's put with.
package floor

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/emptypb"

	hostapiv1 "github.com/ALRubinger/aileron-store/api/hostapi/v1"
)

// Arg is the argument with which the bench binary re-executes itself as
// the bare gRPC server of the floor measurement (see Start).
const Arg = "__bench-floor"

// The floor service, registered without generated code: Ping, one unary
// method with empty messages, the same shape as the plugin's Ping; and Put,
// the raw baseline's write of one blob. Put's request is a message of the
// plugin Put's shape (a key and a value) from a package the bench already
// links: the host API's PutRequest, its name the key.
const (
	floorMethod    = "/aileron.store.bench.v1.Floor/Ping"
	floorPutMethod = "/aileron.store.bench.v1.Floor/Put"
)

type floorServer interface{}

var floorService = grpc.ServiceDesc{
	ServiceName: "aileron.store.bench.v1.Floor",
	HandlerType: (*floorServer)(nil),
	Methods: []grpc.MethodDesc{{
		MethodName: "Ping",
		Handler: func(_ any, _ context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
			if err := dec(new(emptypb.Empty)); err != nil {
				return nil, err
			}
			return new(emptypb.Empty), nil
		},
	}, {
		MethodName: "Put",
		Handler: func(srv any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
			req := new(hostapiv1.PutRequest)
			if err := dec(req); err != nil {
				return nil, err
			}
			w := srv.(*server).raw
			if w == nil {
				return nil, errors.New("floor: Put: the floor process was started without a raw client")
			}
			if err := w.Put(ctx, req.Name, req.Value); err != nil {
				return nil, fmt.Errorf("floor: raw put of %s: %w", req.Name, err)
			}
			return new(emptypb.Empty), nil
		},
	}},
	Metadata: "floor",
}

// server is what the floor service's handlers serve from.
type server struct{ raw Writer }

// Writer is the part of a raw baseline client the bare write floor uses.
type Writer interface {
	Put(ctx context.Context, key string, value []byte) error
	Close() error
}

// Opener opens a raw baseline client in the floor process (the bench's raw
// opener, which the floor package cannot import).
type Opener func(ctx context.Context, backend string, config map[string]string) (Writer, error)

// RawConfig says which raw baseline client the floor process opens for Put:
// the backend and the configuration map with which the bench's own raw
// client was opened, so that both write the same blobs.
type RawConfig struct {
	Backend string            `json:"backend"`
	Config  map[string]string `json:"config"`
}

// floorSetup is what the bench sends the floor process on its stdin.
type floorSetup struct {
	Dir        string     `json:"dir"`           // owner-only directory for the sockets
	ServerCert []byte     `json:"server_cert"`   // PEM
	ServerKey  []byte     `json:"server_key"`    // PEM
	ClientCert []byte     `json:"client_cert"`   // PEM: the only client accepted
	Raw        *RawConfig `json:"raw,omitempty"` // the raw client for Put; none without
}

const (
	floorPlainSock = "plain.sock"
	floorTLSSock   = "tls.sock"
)

// Serve runs the floor server process: it reads its setup from stdin, opens
// the setup's raw client with open if the setup names one, serves the floor
// service on two unix sockets in the setup's directory, one plain and one
// with mutual TLS (certificates as go-plugin's AutoMTLS makes them), prints
// "ready" on stdout, and returns when its stdin closes (the bench finished or
// died).
func Serve(open Opener) error {
	in := bufio.NewReader(os.Stdin)
	line, err := in.ReadBytes('\n')
	if err != nil {
		return fmt.Errorf("floor: reading setup: %w", err)
	}
	s, cert, clients, err := parseFloorSetup(line)
	clear(line)
	if err != nil {
		return err
	}
	var srv server
	if s.Raw != nil {
		if srv.raw, err = open(context.Background(), s.Raw.Backend, s.Raw.Config); err != nil {
			return fmt.Errorf("floor: opening the %s raw client: %w", s.Raw.Backend, err)
		}
		defer srv.raw.Close()
	}
	plainL, err := listenOwnerOnly(filepath.Join(s.Dir, floorPlainSock))
	if err != nil {
		return err
	}
	tlsL, err := listenOwnerOnly(filepath.Join(s.Dir, floorTLSSock))
	if err != nil {
		plainL.Close()
		return err
	}
	plain := grpc.NewServer()
	plain.RegisterService(&floorService, &srv)
	withTLS := grpc.NewServer(grpc.Creds(credentials.NewTLS(&tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    clients,
		MinVersion:   tls.VersionTLS12,
	})))
	withTLS.RegisterService(&floorService, &srv)
	go plain.Serve(plainL)
	go withTLS.Serve(tlsL)
	fmt.Println("ready")
	io.Copy(io.Discard, in) // until the bench closes our stdin
	plain.Stop()
	withTLS.Stop()
	return nil
}

// parseFloorSetup decodes the setup line the bench sends: the socket
// directory, the server's certificate and key, and the one client
// certificate to accept.
func parseFloorSetup(line []byte) (floorSetup, tls.Certificate, *x509.CertPool, error) {
	var s floorSetup
	if err := json.Unmarshal(line, &s); err != nil {
		return floorSetup{}, tls.Certificate{}, nil, fmt.Errorf("floor: setup: %w", err)
	}
	defer clear(s.ServerKey)
	if s.Raw != nil && s.Raw.Backend == "" {
		return floorSetup{}, tls.Certificate{}, nil, errors.New("floor: setup field \"raw\": no backend")
	}
	if s.Dir == "" || !filepath.IsAbs(s.Dir) {
		return floorSetup{}, tls.Certificate{}, nil, fmt.Errorf("floor: setup field \"dir\": want an absolute path, got %q", s.Dir)
	}
	cert, err := tls.X509KeyPair(s.ServerCert, s.ServerKey)
	if err != nil {
		return floorSetup{}, tls.Certificate{}, nil, fmt.Errorf("floor: setup field \"server_cert\"/\"server_key\": %w", err)
	}
	clients := x509.NewCertPool()
	if !clients.AppendCertsFromPEM(s.ClientCert) {
		return floorSetup{}, tls.Certificate{}, nil, errors.New("floor: setup field \"client_cert\": no PEM certificate")
	}
	return s, cert, clients, nil
}

func listenOwnerOnly(path string) (net.Listener, error) {
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("floor: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, fmt.Errorf("floor: %w", err)
	}
	return l, nil
}

// Floor is a running floor server process and a client connection to each
// of its sockets.
type Floor struct {
	writes       bool // the process has a raw client: Put works
	cmd          *exec.Cmd
	stdin        io.WriteCloser
	dir          string
	plain, mtls  *grpc.ClientConn
	waitDone     chan struct{}
	processError error
}

// Start starts the floor server (the program exe with args, which must
// call Serve) and connects to it. With raw set, the process opens that raw
// client and Put writes through it; with nil, Put fails. Close stops it.
func Start(ctx context.Context, raw *RawConfig, exe string, args ...string) (*Floor, error) {
	dir, err := os.MkdirTemp("", "aileron-bench-floor-")
	if err != nil {
		return nil, fmt.Errorf("floor: %w", err)
	}
	f := &Floor{writes: raw != nil, dir: dir, waitDone: make(chan struct{})}
	if err := f.start(ctx, raw, exe, args); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

func (f *Floor) start(ctx context.Context, raw *RawConfig, exe string, args []string) error {
	serverCert, serverKey, err := selfSignedCert()
	if err != nil {
		return err
	}
	clientCert, clientKey, err := selfSignedCert()
	if err != nil {
		return err
	}
	setup, err := json.Marshal(floorSetup{Dir: f.dir, ServerCert: serverCert, ServerKey: serverKey, ClientCert: clientCert, Raw: raw})
	clear(serverKey)
	if err != nil {
		return err
	}
	defer clear(setup)
	f.cmd = exec.Command(exe, args...)
	f.cmd.Stderr = os.Stderr
	if f.stdin, err = f.cmd.StdinPipe(); err != nil {
		return err
	}
	stdout, err := f.cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := f.cmd.Start(); err != nil {
		return fmt.Errorf("floor: starting %s: %w", exe, err)
	}
	go func() { f.processError = f.cmd.Wait(); close(f.waitDone) }()
	if _, err := f.stdin.Write(append(setup, '\n')); err != nil {
		return fmt.Errorf("floor: sending setup: %w", err)
	}
	ready := make(chan error, 1)
	go func() {
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if err == nil && strings.TrimSpace(line) != "ready" {
			err = fmt.Errorf("unexpected line %q", line)
		}
		ready <- err
	}()
	select {
	case err := <-ready:
		if err != nil {
			return fmt.Errorf("floor: %s did not start: %w", exe, err)
		}
	case <-time.After(20 * time.Second):
		return fmt.Errorf("floor: %s did not start within 20s", exe)
	case <-ctx.Done():
		return ctx.Err()
	}
	if f.plain, err = grpc.NewClient("unix:"+filepath.Join(f.dir, floorPlainSock), grpc.WithTransportCredentials(insecure.NewCredentials())); err != nil {
		return fmt.Errorf("floor: %w", err)
	}
	pair, err := tls.X509KeyPair(clientCert, clientKey)
	clear(clientKey)
	if err != nil {
		return fmt.Errorf("floor: client certificate: %w", err)
	}
	servers := x509.NewCertPool()
	servers.AppendCertsFromPEM(serverCert)
	creds := credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{pair}, RootCAs: servers, ServerName: "localhost", MinVersion: tls.VersionTLS12})
	if f.mtls, err = grpc.NewClient("unix:"+filepath.Join(f.dir, floorTLSSock), grpc.WithTransportCredentials(creds)); err != nil {
		return fmt.Errorf("floor: %w", err)
	}
	// Connect both now: the handshakes are not part of any call measured.
	if err := f.Bare(ctx); err != nil {
		return err
	}
	return f.BareTLS(ctx)
}

// Bare makes one empty unary call to the floor process over a unix socket,
// with no TLS and no go-plugin.
func (f *Floor) Bare(ctx context.Context) error {
	return f.plain.Invoke(ctx, floorMethod, &emptypb.Empty{}, &emptypb.Empty{})
}

// BareTLS is Bare over mutual TLS with certificates like go-plugin's.
func (f *Floor) BareTLS(ctx context.Context) error {
	return f.mtls.Invoke(ctx, floorMethod, &emptypb.Empty{}, &emptypb.Empty{})
}

// Writes reports whether the floor process has a raw client, so that Put
// works.
func (f *Floor) Writes() bool { return f.writes }

// Put is the bare write floor: one unary call to the floor process over the
// plain unix socket (no TLS, no go-plugin) in which the process writes value
// under key through its raw client, as the bench's raw baseline would.
func (f *Floor) Put(ctx context.Context, key string, value []byte) error {
	if err := f.plain.Invoke(ctx, floorPutMethod, &hostapiv1.PutRequest{Name: key, Value: value}, &emptypb.Empty{}); err != nil {
		return fmt.Errorf("bare write floor: put %s: %w", key, err)
	}
	return nil
}

// Close stops the floor process and removes its sockets.
func (f *Floor) Close() error {
	if f.plain != nil {
		f.plain.Close()
	}
	if f.mtls != nil {
		f.mtls.Close()
	}
	if f.stdin != nil {
		f.stdin.Close()
	}
	if f.cmd != nil && f.cmd.Process != nil {
		select {
		case <-f.waitDone:
		case <-time.After(5 * time.Second):
			f.cmd.Process.Kill()
			<-f.waitDone
		}
	}
	return os.RemoveAll(f.dir)
}

// selfSignedCert makes a certificate and key like go-plugin's AutoMTLS does
// (ECDSA P-521, self-signed, for "localhost"), PEM encoded.
func selfSignedCert() (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	sn, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: "localhost"},
		DNSNames:              []string{"localhost"},
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment | x509.KeyUsageKeyAgreement | x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		SerialNumber:          sn,
		NotBefore:             time.Now().Add(-30 * time.Second),
		NotAfter:              time.Now().Add(24 * time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, nil, err
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	defer clear(kder)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), nil
}
