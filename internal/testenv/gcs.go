package testenv

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"
)

// GCSServer is a fake-gcs-server (github.com/fsouza/fake-gcs-server, BSD)
// listening on loopback, shared by the tests of one process.
type GCSServer struct {
	// Endpoint is the server's base URL, "http://127.0.0.1:PORT": the
	// "endpoint" config of the GCS plugin, or STORAGE_EMULATOR_HOST.
	Endpoint string
	// Project is the project ID buckets are created in.
	Project string
}

var (
	gcsOnce sync.Once
	gcsSrv  GCSServer
	gcsErr  error
)

// GCS returns the process's fake-gcs-server, starting it on first use on
// 127.0.0.1 with the in-memory backend. It stops when Main returns. The
// binary comes from Tool(t, "fake-gcs-server") (scripts/test-deps-gcs.sh
// installs it); when it is missing or does not start, t fails.
func GCS(t testing.TB) GCSServer {
	t.Helper()
	bin := Tool(t, "fake-gcs-server")
	gcsOnce.Do(func() { gcsSrv, gcsErr = startGCS(t, bin) })
	if gcsErr != nil {
		t.Fatalf("fake-gcs-server: %v", gcsErr)
	}
	if gcsSrv.Endpoint == "" {
		t.Fatalf("fake-gcs-server: an earlier start failed")
	}
	return gcsSrv
}

func startGCS(t testing.TB, bin string) (GCSServer, error) {
	var lastErr error
	// A free port can be taken between FreePort and the server's bind; try
	// a few.
	for attempt := 0; attempt < 3; attempt++ {
		port := FreePort(t)
		logf, err := os.CreateTemp("", "fake-gcs-server-*.log")
		if err != nil {
			return GCSServer{}, err
		}
		cmd := Command(bin,
			"-scheme", "http",
			"-host", "127.0.0.1",
			"-port", strconv.Itoa(port),
			"-backend", "memory",
			"-external-url", fmt.Sprintf("http://127.0.0.1:%d", port),
			"-log-level", "warn",
		)
		cmd.Stdout, cmd.Stderr = logf, logf
		cmd.Env = append(os.Environ(), "STORAGE_EMULATOR_HOST=") // the server itself talks to no GCS
		if err := cmd.Start(); err != nil {
			logf.Close()
			os.Remove(logf.Name())
			return GCSServer{}, fmt.Errorf("starting %s: %w", bin, err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		stop := func() {
			cmd.Process.Kill()
			<-exited
			logf.Close()
			os.Remove(logf.Name())
		}
		srv := GCSServer{Endpoint: fmt.Sprintf("http://127.0.0.1:%d", port), Project: "aileron-test"}
		if err := waitGCS(srv.Endpoint, exited, 30*time.Second); err != nil {
			b, _ := os.ReadFile(logf.Name())
			stop()
			lastErr = fmt.Errorf("%v; server log:\n%s", err, b)
			continue
		}
		AtExit(stop)
		return srv, nil
	}
	return GCSServer{}, lastErr
}

// waitGCS waits until the JSON API answers a bucket listing.
func waitGCS(endpoint string, exited <-chan struct{}, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	c := &http.Client{Timeout: time.Second}
	for {
		select {
		case <-exited:
			return fmt.Errorf("the server exited before it was ready")
		default:
		}
		resp, err := c.Get(endpoint + "/storage/v1/b")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("GET /storage/v1/b: HTTP %d", resp.StatusCode)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready at %s within %v: %v", endpoint, timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// NewBucket creates a bucket with a fresh random name and returns the name.
func (s GCSServer) NewBucket(t testing.TB) string {
	t.Helper()
	var b [6]byte
	rand.Read(b[:])
	name := "aileron-test-" + hex.EncodeToString(b[:])
	s.CreateBucket(t, name)
	return name
}

// NewVersionedBucket is NewBucket for a bucket with object versioning on.
func (s GCSServer) NewVersionedBucket(t testing.TB) string {
	t.Helper()
	var b [6]byte
	rand.Read(b[:])
	name := "aileron-test-" + hex.EncodeToString(b[:])
	s.createBucket(t, map[string]any{"name": name, "versioning": map[string]bool{"enabled": true}})
	return name
}

// CreateBucket creates the bucket name through the JSON API.
func (s GCSServer) CreateBucket(t testing.TB, name string) {
	t.Helper()
	s.createBucket(t, map[string]any{"name": name})
}

func (s GCSServer) createBucket(t testing.TB, spec map[string]any) {
	t.Helper()
	name := spec["name"]
	body, _ := json.Marshal(spec)
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Post(s.Endpoint+"/storage/v1/b?project="+s.Project, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("creating bucket %q on fake-gcs-server: %v", name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		t.Fatalf("creating bucket %q on fake-gcs-server: HTTP %d: %s", name, resp.StatusCode, msg)
	}
}
