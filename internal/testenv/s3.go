package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// S3Server is a local S3-compatible server (versitygw over a temporary
// directory, posix backend) shared by the tests of one process.
type S3Server struct {
	// Endpoint is the server's base URL, http://127.0.0.1:<port>.
	Endpoint  string
	Region    string
	AccessKey string
	SecretKey string
	// Dir is the directory the posix backend keeps buckets in.
	Dir string
}

var (
	s3Once sync.Once
	s3Srv  S3Server
	s3Err  error
)

// S3 returns the process's versitygw server, starting it on the first call on
// a free loopback port over a temporary directory with random root
// credentials. It is stopped by Main (AtExit). A test that cannot start it
// fails: versitygw is installed by scripts/test-deps-s3.sh.
func S3(t testing.TB) S3Server {
	t.Helper()
	bin := Tool(t, "versitygw")
	s3Once.Do(func() { s3Srv, s3Err = startS3(t, bin) })
	if s3Err != nil {
		t.Fatalf("starting versitygw: %v", s3Err)
	}
	return s3Srv
}

func startS3(t testing.TB, bin string) (S3Server, error) {
	dir := TempDir(t, "aileron-versitygw-")
	logf, err := os.Create(filepath.Join(dir, "versitygw.log"))
	if err != nil {
		return S3Server{}, err
	}
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		return S3Server{}, err
	}
	srv := S3Server{
		Region:    "us-east-1",
		AccessKey: "aileron" + randHex(6),
		SecretKey: randHex(20),
		Dir:       data,
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ { // the free port may be taken meanwhile
		port := freePort(t)
		addr := "127.0.0.1:" + strconv.Itoa(port)
		cmd := Command(bin,
			"--port", addr,
			"--region", srv.Region,
			"--quiet",
			"posix", data)
		// Credentials through the environment, not the command line (ps).
		cmd.Env = append(os.Environ(),
			"ROOT_ACCESS_KEY_ID="+srv.AccessKey,
			"ROOT_SECRET_ACCESS_KEY="+srv.SecretKey)
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			return S3Server{}, err
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		ready := make(chan error, 1)
		go func() { ready <- WaitTCP(addr, 30*time.Second) }()
		select {
		case err := <-ready:
			if err != nil {
				_ = cmd.Process.Kill()
				<-exited
				return S3Server{}, fmt.Errorf("%v (log: %s)", err, logf.Name())
			}
		case err := <-exited:
			lastErr = fmt.Errorf("versitygw exited at start: %v (log: %s)", err, logf.Name())
			continue
		}
		AtExit(func() {
			_ = cmd.Process.Kill()
			<-exited
			logf.Close()
		})
		srv.Endpoint = "http://" + addr
		return srv, nil
	}
	return S3Server{}, lastErr
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
