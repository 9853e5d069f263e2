package s3

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/ALRubinger/aileron-store/sdk"
)

// fakeS3 is a minimal path-style S3 server (PUT, GET, HEAD, DELETE of
// objects in one bucket) whose handling of conditional requests is
// configurable, to check New's probe and the error mapping against the
// behaviours of servers this repository cannot run: AWS, MinIO, Ceph, and
// servers without conditional writes. It does not check signatures.
type fakeS3 struct {
	ignoreIfNoneMatch   bool // PUT If-None-Match ignored
	ignoreIfMatch       bool // PUT If-Match ignored
	ifMatchCreates      bool // PUT If-Match on a missing object creates it (minio/minio#21526)
	ifMatchMissing412   bool // PUT/DELETE If-Match on a missing object: 412 (Ceph) instead of 404
	ignoreDeleteIfMatch bool // DELETE If-Match ignored (MinIO)
	deleteMissing204    bool // DELETE If-Match on a missing object: 204 (versitygw) instead of 404 (AWS)
	conflicts409        int  // answer this many PUTs with 409 ConditionalRequestConflict
	status              int  // answer every request with this status (0: serve normally)
	tornGets            int  // answer this many GETs of keys' objects with another body's ETag (versitygw --sidecar mid-overwrite)
	noETagGets          int  // then answer this many GETs of keys' objects with no ETag

	mu      sync.Mutex
	objects map[string][]byte
	puts    int
}

func (f *fakeS3) etag(b []byte) string {
	sum := md5.Sum(b)
	return `"` + hex.EncodeToString(sum[:]) + `"`
}

func s3Error(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>%s</Message></Error>`, code, code)
}

func (f *fakeS3) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.status != 0 {
		s3Error(w, f.status, http.StatusText(f.status))
		return
	}
	parts := strings.SplitN(strings.TrimPrefix(r.URL.Path, "/"), "/", 2)
	if len(parts) != 2 || parts[0] != "fake-bucket" {
		s3Error(w, http.StatusNotFound, "NoSuchBucket")
		return
	}
	key := parts[1]
	cur, exists := f.objects[key]
	im, inm := r.Header.Get("If-Match"), r.Header.Get("If-None-Match")
	switch r.Method {
	case http.MethodPut:
		body, _ := io.ReadAll(r.Body)
		if f.puts++; f.puts <= f.conflicts409 {
			s3Error(w, http.StatusConflict, "ConditionalRequestConflict")
			return
		}
		if inm == "*" && exists && !f.ignoreIfNoneMatch {
			s3Error(w, http.StatusPreconditionFailed, "PreconditionFailed")
			return
		}
		if im != "" && !f.ignoreIfMatch {
			switch {
			case !exists && f.ifMatchCreates:
			case !exists && f.ifMatchMissing412:
				s3Error(w, http.StatusPreconditionFailed, "PreconditionFailed")
				return
			case !exists:
				s3Error(w, http.StatusNotFound, "NoSuchKey")
				return
			case im != f.etag(cur):
				s3Error(w, http.StatusPreconditionFailed, "PreconditionFailed")
				return
			}
		}
		f.objects[key] = body
		w.Header().Set("ETag", f.etag(body))
		w.WriteHeader(http.StatusOK)
	case http.MethodGet, http.MethodHead:
		if !exists {
			s3Error(w, http.StatusNotFound, "NoSuchKey")
			return
		}
		etag := f.etag(cur)
		if r.Method == http.MethodGet && !strings.Contains(key, probeName) {
			switch {
			case f.tornGets > 0:
				f.tornGets--
				etag = f.etag(append([]byte("another write "), cur...))
			case f.noETagGets > 0:
				f.noETagGets--
				etag = ""
			}
		}
		if etag != "" {
			w.Header().Set("ETag", etag)
		}
		w.Header().Set("Content-Length", fmt.Sprint(len(cur)))
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodGet {
			w.Write(cur)
		}
	case http.MethodDelete:
		if im != "" && !f.ignoreDeleteIfMatch {
			switch {
			case !exists && f.deleteMissing204:
				w.WriteHeader(http.StatusNoContent)
				return
			case !exists && f.ifMatchMissing412:
				s3Error(w, http.StatusPreconditionFailed, "PreconditionFailed")
				return
			case !exists:
				s3Error(w, http.StatusNotFound, "NoSuchKey")
				return
			case im != f.etag(cur):
				s3Error(w, http.StatusPreconditionFailed, "PreconditionFailed")
				return
			}
		}
		delete(f.objects, key)
		w.WriteHeader(http.StatusNoContent)
	default:
		s3Error(w, http.StatusNotImplemented, "NotImplemented")
	}
}

func startFake(t *testing.T, f *fakeS3) (map[string]string, *fakeS3) {
	t.Helper()
	f.objects = map[string][]byte{}
	srv := httptest.NewServer(f) // listens on 127.0.0.1
	t.Cleanup(srv.Close)
	return map[string]string{
		"bucket": "fake-bucket", "endpoint": srv.URL, "access_key_id": "fake",
		"secret_access_key": "fake-secret", "max_retries": "0",
	}, f
}

// TestProbeRefusesServersWithoutConditionalWrites: New refuses, naming the
// endpoint and the missing behaviour, a server that would turn
// compare-and-swap into blind overwrites, and leaves no object behind.
func TestProbeRefusesServersWithoutConditionalWrites(t *testing.T) {
	cases := []struct {
		name string
		f    *fakeS3
		want string
	}{
		{"ignores If-None-Match", &fakeS3{ignoreIfNoneMatch: true, ignoreIfMatch: true, ignoreDeleteIfMatch: true}, "If-None-Match: * on PutObject"},
		{"ignores If-Match on put", &fakeS3{ignoreIfMatch: true}, "If-Match on PutObject"},
		{"If-Match creates missing objects", &fakeS3{ifMatchCreates: true}, "missing object"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, f := startFake(t, tc.f)
			_, err := New(context.Background(), cfg)
			wantErr(t, "New", err, sdk.ErrInvalidArgument)
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), `config field "endpoint"`) || !strings.Contains(err.Error(), cfg["endpoint"]) {
				t.Fatalf("err %q does not name the endpoint and %q", err, tc.want)
			}
			if n := len(f.objects); n != 0 {
				t.Fatalf("%d probe objects left: %v", n, f.objects)
			}
		})
	}
	t.Run("native conditional delete required", func(t *testing.T) {
		cfg, _ := startFake(t, &fakeS3{ignoreDeleteIfMatch: true})
		cfg["conditional_delete"] = "native"
		_, err := New(context.Background(), cfg)
		wantErr(t, "New", err, sdk.ErrInvalidArgument)
		if !strings.Contains(err.Error(), "DeleteObject") {
			t.Fatalf("err %q", err)
		}
	})
}

// TestProbeDeleteModes: New picks the conditional-delete strategy from the
// server's behaviour, and each strategy keeps the contract on that server.
func TestProbeDeleteModes(t *testing.T) {
	cases := []struct {
		name string
		f    *fakeS3
		want delMode
	}{
		{"AWS", &fakeS3{}, delIfMatch},
		{"Ceph (412 for missing)", &fakeS3{ifMatchMissing412: true}, delIfMatch},
		{"versitygw (204 for missing)", &fakeS3{deleteMissing204: true}, delTombThenDelete},
		{"MinIO (ignores delete If-Match)", &fakeS3{ignoreDeleteIfMatch: true}, delTombstone},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, f := startFake(t, tc.f)
			s, err := open(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if s.delMode != tc.want {
				t.Fatalf("mode %v, want %v", s.delMode, tc.want)
			}
			ctx := context.Background()
			v1 := mustPut(t, s, "k", "one", sdk.IfAbsent())
			v2 := mustPut(t, s, "k", "one", sdk.IfVersion(v1))
			_, err = s.Put(ctx, "k", []byte("x"), sdk.IfVersion(v1))
			wantErr(t, "stale put", err, sdk.ErrConflict)
			wantErr(t, "stale delete", s.Delete(ctx, "k", sdk.IfVersion(v1)), sdk.ErrConflict)
			_, err = s.Put(ctx, "nokey", []byte("x"), sdk.IfVersion(v1))
			wantErr(t, "put missing", err, sdk.ErrNotFound)
			wantErr(t, "delete missing", s.Delete(ctx, "nokey", sdk.IfVersion(v1)), sdk.ErrNotFound)
			if err := s.Delete(ctx, "k", sdk.IfVersion(v2)); err != nil {
				t.Fatal(err)
			}
			_, _, err = s.Get(ctx, "k")
			wantErr(t, "get deleted", err, sdk.ErrNotFound)
			wantErr(t, "delete deleted", s.Delete(ctx, "k", sdk.IfVersion(v2)), sdk.ErrNotFound)
			_, err = s.Put(ctx, "k", []byte("x"), sdk.IfVersion(v2))
			wantErr(t, "put deleted", err, sdk.ErrNotFound)
			mustPut(t, s, "k", "again", sdk.IfAbsent())
			wantGet(t, s, "k", "again", "")
			f.mu.Lock()
			n := len(f.objects)
			f.mu.Unlock()
			if n != 1 {
				t.Fatalf("%d objects on the server, want 1", n)
			}
		})
	}
}

// TestConditionalRequestConflict: 409 ConditionalRequestConflict is retried,
// then reported as ErrUnavailable.
func TestConditionalRequestConflict(t *testing.T) {
	cfg, f := startFake(t, &fakeS3{})
	s, err := open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	f.mu.Lock()
	f.puts, f.conflicts409 = 0, 2
	f.mu.Unlock()
	v := mustPut(t, s, "k", "v", sdk.IfAbsent())
	wantGet(t, s, "k", "v", v)
	f.mu.Lock()
	f.puts, f.conflicts409 = 0, 100
	f.mu.Unlock()
	_, err = s.Put(context.Background(), "k", []byte("w"), sdk.IfVersion(v))
	wantErr(t, "persistent 409", err, sdk.ErrUnavailable)
	if !strings.Contains(err.Error(), "ConditionalRequestConflict") || !strings.Contains(err.Error(), `"k"`) {
		t.Fatalf("err %q", err)
	}
	wantGet(t, s, "k", "v", v)
}

// TestServerErrors: HTTP statuses map to the contract's kinds.
func TestServerErrors(t *testing.T) {
	cfg, f := startFake(t, &fakeS3{})
	s, err := open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for status, kind := range map[int]error{503: sdk.ErrUnavailable, 500: sdk.ErrUnavailable, 403: sdk.ErrPermissionDenied, 400: sdk.ErrUnavailable} {
		f.mu.Lock()
		f.status = status
		f.mu.Unlock()
		_, _, err := s.Get(context.Background(), "k")
		if !errors.Is(err, kind) || !strings.Contains(err.Error(), `"k"`) {
			t.Errorf("HTTP %d: err %v, want %v naming the key", status, err, kind)
		}
	}
}

// TestTornReads: a GET whose ETag is missing or is not the MD5 of the body
// it came with (a server that publishes the ETag apart from the data, as
// versitygw --sidecar does during an overwrite) is read again, and a server
// that keeps answering so is reported as such, never returned.
func TestTornReads(t *testing.T) {
	ctx := context.Background()
	cfg, f := startFake(t, &fakeS3{})
	s, err := open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !s.md5ETags {
		t.Fatal("the probe did not find the fake's ETags to be MD5s")
	}
	v, err := s.Put(ctx, "k", []byte("value"), sdk.None)
	if err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	f.tornGets, f.noETagGets = 3, 2
	f.mu.Unlock()
	b, got, err := s.Get(ctx, "k")
	if err != nil || string(b) != "value" || got != v {
		t.Fatalf("Get after 5 torn answers = %q, %q, %v; want %q, %q", b, got, err, "value", v)
	}
	f.mu.Lock()
	f.tornGets = 1000
	f.mu.Unlock()
	_, _, err = s.Get(ctx, "k")
	if !errors.Is(err, sdk.ErrUnavailable) || !strings.Contains(err.Error(), "not the MD5") || !strings.Contains(err.Error(), "atomically") {
		t.Fatalf("Get against a server that always tears reads: %v, want ErrUnavailable naming the behaviour", err)
	}
	// A failed If-Match is classified by a verified read too: the torn
	// answer would show the value still there ("another version").
	f.mu.Lock()
	f.tornGets = 2
	f.mu.Unlock()
	if err := s.Delete(ctx, "k", sdk.IfVersion("00000000000000000000000000000001")); !errors.Is(err, sdk.ErrConflict) {
		t.Fatalf("Delete with a wrong version: %v, want ErrConflict", err)
	}
}
