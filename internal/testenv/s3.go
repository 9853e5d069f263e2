package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// S3Kind names one S3-compatible server (and mode) the tests run against.
type S3Kind string

const (
	// Versitygw is versitygw's posix backend with its metadata in extended
	// attributes (its default).
	Versitygw S3Kind = "versitygw"
	// VersitygwSidecar is versitygw's posix backend with its metadata in a
	// sidecar directory (--sidecar DIR), the mode for filesystems without
	// extended attributes.
	VersitygwSidecar S3Kind = "versitygw-sidecar"
	// MinIO is the MinIO server on one drive (see minio.go).
	MinIO S3Kind = "minio"
)

// S3Kinds lists every S3 server the test command provisions, in the order
// the tests that loop over them run.
var S3Kinds = []S3Kind{Versitygw, VersitygwSidecar, MinIO}

// S3Server is a local S3-compatible server (versitygw over a temporary
// directory in one of its metadata modes, or MinIO) shared by the tests of
// one process.
type S3Server struct {
	// Kind says which server this is.
	Kind S3Kind
	// Endpoint is the server's base URL, http://127.0.0.1:<port>.
	Endpoint  string
	Region    string
	AccessKey string
	SecretKey string
	// Dir is the directory the server keeps buckets in.
	Dir string
}

type s3Started struct {
	once sync.Once
	srv  S3Server
	err  error
}

var s3Servers = map[S3Kind]*s3Started{
	Versitygw:        {},
	VersitygwSidecar: {},
	MinIO:            {},
}

// S3 returns the process's versitygw server (extended-attribute metadata);
// see S3Of.
func S3(t testing.TB) S3Server {
	t.Helper()
	return S3Of(t, Versitygw)
}

// S3Of returns the process's server of the given kind, starting it on the
// first call on a free loopback port over a temporary directory with random
// root credentials. It is stopped by Main (AtExit). A test that cannot start
// it fails: scripts/test-deps-s3.sh installs versitygw and
// scripts/test-deps-minio.sh installs MinIO.
func S3Of(t testing.TB, kind S3Kind) S3Server {
	t.Helper()
	st, ok := s3Servers[kind]
	if !ok {
		t.Fatalf("testenv: unknown S3 server kind %q", kind)
	}
	var bin string
	switch kind {
	case MinIO:
		bin = Tool(t, "minio")
	default:
		bin = Tool(t, "versitygw")
	}
	st.once.Do(func() {
		if kind == MinIO {
			st.srv, st.err = startMinIO(t, bin)
		} else {
			st.srv, st.err = startVersitygw(t, bin, kind)
		}
	})
	if st.err != nil {
		t.Fatalf("starting %s: %v", kind, st.err)
	}
	return st.srv
}

func startVersitygw(t testing.TB, bin string, kind S3Kind) (S3Server, error) {
	dir := TempDir(t, "aileron-"+string(kind)+"-")
	logf, err := os.Create(filepath.Join(dir, "versitygw.log"))
	if err != nil {
		return S3Server{}, err
	}
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		return S3Server{}, err
	}
	posix := []string{"posix"}
	if kind == VersitygwSidecar {
		side := filepath.Join(dir, "meta")
		if err := os.Mkdir(side, 0o700); err != nil {
			return S3Server{}, err
		}
		posix = append(posix, "--sidecar", side)
	}
	posix = append(posix, data)
	srv := S3Server{
		Kind:      kind,
		Region:    "us-east-1",
		AccessKey: "aileron" + randHex(6),
		SecretKey: randHex(20),
		Dir:       data,
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ { // the free port may be taken meanwhile
		port := freePort(t)
		addr := "127.0.0.1:" + strconv.Itoa(port)
		args := append([]string{
			"--port", addr,
			"--region", srv.Region,
			"--quiet",
		}, posix...)
		cmd := Command(bin, args...)
		// Credentials through the environment, not the command line (ps).
		cmd.Env = append(os.Environ(),
			"ROOT_ACCESS_KEY_ID="+srv.AccessKey,
			"ROOT_SECRET_ACCESS_KEY="+srv.SecretKey)
		cmd.Stdout, cmd.Stderr = logf, logf
		endpoint, err := startServer(cmd, addr, nil, logf.Name())
		if errors.Is(err, errExitedAtStart) {
			lastErr = err
			continue
		}
		if err != nil {
			return S3Server{}, err
		}
		AtExit(func() { logf.Close() })
		srv.Endpoint = endpoint
		return srv, nil
	}
	return S3Server{}, lastErr
}

var errExitedAtStart = errors.New("exited at start")

// startServer starts cmd, waits until addr accepts connections and ready (if
// set) reports nil, and registers the process's end with AtExit. An error
// wrapping errExitedAtStart means the process exited at start (perhaps
// because the free port was taken meanwhile): the caller may try another
// port.
func startServer(cmd *exec.Cmd, addr string, ready func() error, log string) (string, error) {
	if err := cmd.Start(); err != nil {
		return "", err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	up := make(chan error, 1)
	go func() {
		err := WaitTCP(addr, 60*time.Second)
		for deadline := time.Now().Add(60 * time.Second); err == nil && ready != nil; {
			if err = ready(); err == nil || time.Now().After(deadline) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		up <- err
	}()
	select {
	case err := <-up:
		if err != nil {
			_ = cmd.Process.Kill()
			<-exited
			return "", fmt.Errorf("%s: %v (log: %s)", filepath.Base(cmd.Path), err, log)
		}
	case err := <-exited:
		return "", fmt.Errorf("%s %w: %v (log: %s)", filepath.Base(cmd.Path), errExitedAtStart, err, log)
	}
	// Another process may have taken the port between FreePort and the
	// bind: then the server exits while the port answers.
	select {
	case err := <-exited:
		return "", fmt.Errorf("%s %w: %v (log: %s)", filepath.Base(cmd.Path), errExitedAtStart, err, log)
	case <-time.After(150 * time.Millisecond):
	}
	AtExit(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	return "http://" + addr, nil
}

// Client returns a minio-go client for harness chores (buckets) on s.
func (s S3Server) Client(t testing.TB) *minio.Client {
	t.Helper()
	u, err := url.Parse(s.Endpoint)
	if err != nil {
		t.Fatalf("S3 endpoint %q: %v", s.Endpoint, err)
	}
	c, err := minio.New(u.Host, &minio.Options{
		Creds:        credentials.NewStaticV4(s.AccessKey, s.SecretKey, ""),
		Secure:       u.Scheme == "https",
		Region:       s.Region,
		BucketLookup: minio.BucketLookupPath,
	})
	if err != nil {
		t.Fatalf("S3 client for %s: %v", s.Endpoint, err)
	}
	return c
}

// NewBucket creates a bucket with a fresh random name and returns the name.
// It is removed, with its objects, when t ends.
func (s S3Server) NewBucket(t testing.TB) string {
	t.Helper()
	c := s.Client(t)
	name := "aileron-test-" + randHex(8)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.MakeBucket(ctx, name, minio.MakeBucketOptions{Region: s.Region}); err != nil {
		t.Fatalf("creating bucket %q on %s: %v", name, s.Endpoint, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		for o := range c.ListObjects(ctx, name, minio.ListObjectsOptions{Recursive: true}) {
			if o.Err != nil {
				break
			}
			_ = c.RemoveObject(ctx, name, o.Key, minio.RemoveObjectOptions{})
		}
		if err := c.RemoveBucket(ctx, name); err != nil {
			t.Logf("removing bucket %q: %v", name, err)
		}
	})
	return name
}

// Config returns the S3 plugin configuration for bucket on s (static
// credentials, path-style, one retry).
func (s S3Server) Config(bucket string) map[string]string {
	return map[string]string{
		"bucket":            bucket,
		"endpoint":          s.Endpoint,
		"region":            s.Region,
		"path_style":        "true",
		"access_key_id":     s.AccessKey,
		"secret_access_key": s.SecretKey,
	}
}

func randHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("testenv: crypto/rand: " + err.Error())
	}
	return hex.EncodeToString(b)
}
