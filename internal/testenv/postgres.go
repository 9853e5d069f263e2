package testenv

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// PGServer is a throwaway PostgreSQL cluster started by Postgres. It listens
// on 127.0.0.1 only and dies with the test process.
type PGServer struct {
	// DSN connects as the cluster's superuser to the "postgres" database over
	// TCP with a password (scram-sha-256), like a production deployment.
	DSN string
	// Host and Port are the loopback address the cluster listens on.
	Host string
	Port int
	// User and Password are the superuser's credentials. The password is
	// random per test process.
	User     string
	Password string
	// BinDir is the directory of the PostgreSQL server binaries used.
	BinDir string
	// CAFile is the PEM file of the CA that signed the server's TLS
	// certificate (valid for 127.0.0.1 and localhost). The server accepts TLS
	// (sslmode=require or verify-full with sslrootcert=CAFile) and plain
	// connections alike.
	CAFile string
}

// PGDatabaseOptions shape a database made by PGServer.NewDatabase.
type PGDatabaseOptions struct {
	// ICULocale, when set, makes the database's default collation the ICU
	// collation of that locale (for example "en-US"), whose order differs
	// from byte order.
	ICULocale string
}

var (
	pgMu     sync.Mutex
	pgServer *PGServer
	pgErr    error
	pgDBSeq  atomic.Int64
)

// pgInstallHint says how to get the PostgreSQL server binaries.
const pgInstallHint = "install PostgreSQL with `scripts/test-deps-postgres.sh` (apt-get install -y postgresql), or set AILERON_PG_BINDIR to the directory holding initdb and postgres"

// Postgres returns the throwaway PostgreSQL cluster of this test process,
// starting it on first use: initdb into a temporary directory (as the
// postgres user when the tests run as root, since PostgreSQL refuses to run
// as root), then the postmaster on a free loopback port with its Unix socket
// in the same directory, fsync off. The server is stopped (immediate
// shutdown) when Main returns, and the kernel kills it if the test process
// dies first. It fails t (never skips) when the binaries are missing or the
// server does not start.
func Postgres(t testing.TB) PGServer {
	t.Helper()
	pgMu.Lock()
	defer pgMu.Unlock()
	if pgServer == nil && pgErr == nil {
		pgServer, pgErr = startPostgres()
	}
	if pgErr != nil {
		t.Fatalf("testenv: PostgreSQL test cluster: %v", pgErr)
	}
	return *pgServer
}

// PGBinDir returns the directory of the PostgreSQL server binaries:
// $AILERON_PG_BINDIR, else the directory of initdb found on PATH (symlinks
// resolved), else the newest /usr/lib/postgresql/*/bin.
func PGBinDir() (string, error) {
	var tried []string
	ok := func(dir string) bool {
		tried = append(tried, dir)
		for _, b := range []string{"initdb", "postgres"} {
			if fi, err := os.Stat(filepath.Join(dir, b)); err != nil || fi.IsDir() {
				return false
			}
		}
		return true
	}
	if d := os.Getenv("AILERON_PG_BINDIR"); d != "" {
		if ok(d) {
			return d, nil
		}
		return "", fmt.Errorf("AILERON_PG_BINDIR=%s holds no initdb and postgres", d)
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		if r, err := filepath.EvalSymlinks(p); err == nil && ok(filepath.Dir(r)) {
			return filepath.Dir(r), nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return pgMajor(dirs[i]) > pgMajor(dirs[j]) })
	for _, d := range dirs {
		if ok(d) {
			return d, nil
		}
	}
	return "", fmt.Errorf("initdb and postgres not found (looked on PATH and in %v): %s", tried, pgInstallHint)
}

func pgMajor(bindir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(bindir)))
	return n
}

func startPostgres() (*PGServer, error) {
	bindir, err := PGBinDir()
	if err != nil {
		return nil, err
	}
	sweepStalePG()
	dir, err := os.MkdirTemp("", "aileron-pg-")
	if err != nil {
		return nil, fmt.Errorf("temp dir: %v", err)
	}
	AtExit(func() { os.RemoveAll(dir) })

	// PostgreSQL refuses to run as root: run it as the postgres user then.
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("tests run as root and there is no postgres user to run the server as (%v): %s", err, pgInstallHint)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}
		if err := os.Chown(dir, uid, gid); err != nil {
			return nil, fmt.Errorf("chown %s to postgres: %v", dir, err)
		}
	}

	pw := make([]byte, 16)
	if _, err := rand.Read(pw); err != nil {
		return nil, err
	}
	password := hex.EncodeToString(pw)
	pwfile := filepath.Join(dir, "pwfile")
	if err := os.WriteFile(pwfile, []byte(password+"\n"), 0o600); err != nil {
		return nil, err
	}
	if cred != nil {
		if err := os.Chown(pwfile, int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, err
		}
	}

	caFile, certFile, keyFile, err := writeTestTLS(dir, cred)
	if err != nil {
		return nil, fmt.Errorf("TLS certificate: %v", err)
	}

	data := filepath.Join(dir, "data")
	initdb := exec.Command(filepath.Join(bindir, "initdb"),
		"-D", data, "-U", "postgres", "--pwfile", pwfile,
		"--auth-host=scram-sha-256", "--auth-local=trust",
		"-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGKILL}
	initdb.Dir = dir
	out, err := initdb.CombinedOutput()
	os.Remove(pwfile)
	if err != nil {
		return nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}

	logPath := filepath.Join(dir, "postgres.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close()

	var srv *PGServer
	for attempt := 0; ; attempt++ {
		port := freePortErr()
		if port == 0 {
			return nil, errors.New("no free loopback port")
		}
		cmd := Command(filepath.Join(bindir, "postgres"),
			"-D", data, "-p", strconv.Itoa(port),
			"-c", "listen_addresses=127.0.0.1",
			"-c", "unix_socket_directories="+dir,
			"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
			"-c", "max_connections=200", "-c", "shared_buffers=32MB",
			"-c", "logging_collector=off", "-c", "log_min_messages=warning",
			"-c", "ssl=on", "-c", "ssl_cert_file="+certFile, "-c", "ssl_key_file="+keyFile)
		cmd.SysProcAttr.Credential = cred
		cmd.Stdout, cmd.Stderr = logf, logf
		cmd.Dir = dir
		if err := cmd.Start(); err != nil {
			return nil, fmt.Errorf("start postgres: %v", err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()

		srv = &PGServer{Host: "127.0.0.1", Port: port, User: "postgres", Password: password, BinDir: bindir, CAFile: caFile}
		srv.DSN = srv.DSNFor("postgres")
		err := waitPostgres(srv.DSN, exited, 60*time.Second)
		if err == nil {
			pid := cmd.Process.Pid
			AtExit(func() {
				// Immediate shutdown, what `pg_ctl stop -m immediate` sends.
				syscall.Kill(pid, syscall.SIGQUIT)
				select {
				case <-exited:
				case <-time.After(10 * time.Second):
					syscall.Kill(-pid, syscall.SIGKILL)
					<-exited
				}
			})
			return srv, nil
		}
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
		log, _ := os.ReadFile(logPath)
		// Another process may have taken the port between FreePort and bind.
		if attempt < 2 && strings.Contains(string(log), "could not bind") {
			continue
		}
		return nil, fmt.Errorf("postgres did not become ready: %v\nserver log:\n%s", err, log)
	}
}

// sweepStalePG removes the directories of test clusters left behind by test
// processes that were killed (their servers died with them, but their
// directories stay): those older than an hour whose postmaster is not
// running.
func sweepStalePG() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "aileron-pg-*"))
	for _, d := range dirs {
		fi, err := os.Stat(d)
		if err != nil || !fi.IsDir() || time.Since(fi.ModTime()) < time.Hour {
			continue
		}
		if b, err := os.ReadFile(filepath.Join(d, "data", "postmaster.pid")); err == nil {
			line, _, _ := strings.Cut(string(b), "\n")
			if pid, err := strconv.Atoi(strings.TrimSpace(line)); err == nil && pid > 0 {
				if err := syscall.Kill(pid, 0); err == nil || errors.Is(err, syscall.EPERM) {
					continue // still running
				}
			}
		}
		os.RemoveAll(d)
	}
}

func freePortErr() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func waitPostgres(dsn string, exited <-chan error, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("server exited: %v", err)
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		c, err := pgx.Connect(ctx, dsn)
		if err == nil {
			err = c.Ping(ctx)
			c.Close(ctx)
		}
		cancel()
		if err == nil {
			return nil
		}
		last = err
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("not ready within %v: %v", timeout, last)
}

// DSNFor returns a URL connection string for database as the superuser.
func (s PGServer) DSNFor(database string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(s.User, s.Password),
		Host:     net.JoinHostPort(s.Host, strconv.Itoa(s.Port)),
		Path:     "/" + database,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// Exec runs sql in database as the superuser, failing t on error.
func (s PGServer) Exec(t testing.TB, database, sql string, args ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, s.DSNFor(database))
	if err != nil {
		t.Fatalf("testenv: connect to database %q: %v", database, err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, sql, args...); err != nil {
		t.Fatalf("testenv: %s: %v", sql, err)
	}
}

// NewDatabase creates a fresh, empty database for t (dropped when t ends)
// and returns its name and a DSN that connects to it as the superuser.
func (s PGServer) NewDatabase(t testing.TB, opts *PGDatabaseOptions) (name, dsn string) {
	t.Helper()
	name = fmt.Sprintf("aileron_t%d_%d", os.Getpid(), pgDBSeq.Add(1))
	q := "CREATE DATABASE " + pgx.Identifier{name}.Sanitize()
	if opts != nil && opts.ICULocale != "" {
		q += " TEMPLATE template0 ENCODING 'UTF8' LOCALE_PROVIDER icu ICU_LOCALE " + quoteLiteral(opts.ICULocale)
	}
	s.Exec(t, "postgres", q)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if c, err := pgx.Connect(ctx, s.DSN); err == nil {
			c.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
			c.Close(ctx)
		}
	})
	return name, s.DSNFor(name)
}

func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// writeTestTLS writes a throwaway CA and a server certificate for 127.0.0.1
// and localhost signed by it into dir, readable by the server's user.
func writeTestTLS(dir string, cred *syscall.Credential) (caFile, certFile, keyFile string, err error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "aileron-store test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return
	}
	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return
	}
	srvTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, ca, &srvKey.PublicKey, caKey)
	if err != nil {
		return
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(srvKey)
	if err != nil {
		return
	}
	caFile, certFile, keyFile = filepath.Join(dir, "ca.pem"), filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key")
	for _, f := range []struct {
		path string
		typ  string
		der  []byte
	}{{caFile, "CERTIFICATE", caDER}, {certFile, "CERTIFICATE", srvDER}, {keyFile, "PRIVATE KEY", keyDER}} {
		if err = os.WriteFile(f.path, pem.EncodeToMemory(&pem.Block{Type: f.typ, Bytes: f.der}), 0o600); err != nil {
			return
		}
		if cred != nil {
			if err = os.Chown(f.path, int(cred.Uid), int(cred.Gid)); err != nil {
				return
			}
		}
	}
	// The CA file is read by the tests' client, whoever runs them.
	err = os.Chmod(caFile, 0o644)
	return
}
