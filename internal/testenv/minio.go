package testenv

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// startMinIO starts the MinIO server binary (a test tool built by
// scripts/test-deps-minio.sh; no MinIO code is linked into this module) on
// one drive in a temporary directory, as docs/conformance.md tells a user to:
//
//	MINIO_ROOT_USER=... MINIO_ROOT_PASSWORD=... minio server DIR --address 127.0.0.1:PORT
//
// plus a loopback console address, no browser and no update checks. It
// returns once /minio/health/ready answers 200.
func startMinIO(t testing.TB, bin string) (S3Server, error) {
	dir := TempDir(t, "aileron-minio-")
	logf, err := os.Create(filepath.Join(dir, "minio.log"))
	if err != nil {
		return S3Server{}, err
	}
	data := filepath.Join(dir, "data")
	certs := filepath.Join(dir, "certs")
	for _, d := range []string{data, certs} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return S3Server{}, err
		}
	}
	srv := S3Server{
		Kind:      MinIO,
		Region:    "us-east-1",
		AccessKey: "aileron" + randHex(6),
		SecretKey: randHex(20),
		Dir:       data,
	}
	hc := &http.Client{Timeout: 2 * time.Second}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ { // the free ports may be taken meanwhile
		addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
		console := "127.0.0.1:" + strconv.Itoa(freePort(t))
		cmd := Command(bin, "server", data,
			"--address", addr,
			"--console-address", console,
			"--certs-dir", certs,
			"--quiet")
		// Credentials through the environment, not the command line (ps).
		cmd.Env = append(os.Environ(),
			"MINIO_ROOT_USER="+srv.AccessKey,
			"MINIO_ROOT_PASSWORD="+srv.SecretKey,
			"MINIO_REGION="+srv.Region,
			"MINIO_BROWSER=off",
			"MINIO_UPDATE=off",
			"MINIO_CALLHOME_ENABLE=off",
			"HOME="+dir)
		cmd.Stdout, cmd.Stderr = logf, logf
		ready := func() error {
			resp, err := hc.Get("http://" + addr + "/minio/health/ready")
			if err != nil {
				return err
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("/minio/health/ready answered %s", resp.Status)
			}
			return nil
		}
		endpoint, err := startServer(cmd, addr, ready, logf.Name())
		if err != nil {
			lastErr = err
			if errors.Is(err, errExitedAtStart) {
				continue
			}
			return S3Server{}, err
		}
		AtExit(func() { logf.Close() })
		srv.Endpoint = endpoint
		return srv, nil
	}
	return S3Server{}, lastErr
}
