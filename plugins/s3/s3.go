package s3

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/ALRubinger/aileron-store/internal/written"
	"github.com/ALRubinger/aileron-store/sdk"
)

// Store is an sdk.Store over one S3 bucket (and optional prefix).
type Store struct {
	cfg       *config
	client    *s3.Client
	httpc     *awshttp.BuildableClient
	objPrefix string         // cfg.prefix + "/", or ""
	delMode   delMode        // how Delete with IfVersion works (see Delete)
	md5ETags  bool           // the server's ETags are the MD5 of the body (see tornRead)
	recent    written.Memory // the values written last, by version (see List)

	mu     sync.Mutex
	closed bool
}

var (
	_ sdk.Store              = (*Store)(nil)
	_ sdk.CapabilityReporter = (*Store)(nil)
	_ sdk.Factory            = New
)

// delMode is how Delete implements IfVersion on the server at hand.
type delMode int

const (
	delIfMatch delMode = iota
	delTombThenDelete
	delTombstone
)

func (m delMode) String() string {
	return [...]string{"delete-if-match", "tombstone-then-delete-if-match", "tombstone"}[m]
}

// New is the sdk.Factory of the S3 plugin. It validates config (see the
// package documentation for the fields), then checks the bucket: it writes,
// conditionally rewrites and deletes a probe object under the prefix, and
// refuses a server that does not honour If-None-Match and If-Match on
// PutObject. Errors name the field at fault: a missing bucket is
// ErrInvalidArgument naming "bucket", rejected credentials are
// ErrPermissionDenied, an unreachable endpoint is ErrUnavailable naming it.
func New(ctx context.Context, config map[string]string) (sdk.Store, error) {
	s, err := open(ctx, config)
	if err != nil {
		return nil, err // not a nil *Store in a non-nil sdk.Store
	}
	return s, nil
}

func open(ctx context.Context, config map[string]string) (*Store, error) {
	cfg, err := parseConfig(config)
	if err != nil {
		return nil, err
	}
	s := &Store{cfg: cfg}
	if cfg.prefix != "" {
		s.objPrefix = cfg.prefix + "/"
	}

	var tlsConf *tls.Config
	if cfg.insecureTLS || cfg.caPEM != nil {
		tlsConf = &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: cfg.insecureTLS} //nolint:gosec // operator opt-in
		if cfg.caPEM != nil {
			pool := x509.NewCertPool()
			pool.AppendCertsFromPEM(cfg.caPEM)
			tlsConf.RootCAs = pool
		}
	}
	s.httpc = awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
		if tlsConf != nil {
			tr.TLSClientConfig = tlsConf
		}
		tr.MaxIdleConnsPerHost = cfg.maxConcurrency + 4
	})

	opts := []func(*awsconfig.LoadOptions) error{
		awsconfig.WithRegion(cfg.region),
		awsconfig.WithHTTPClient(s.httpc),
		awsconfig.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = cfg.maxRetries + 1
				o.RateLimiter = ratelimit.None
			})
		}),
		// Checksums only where S3 requires them: several S3-compatible
		// servers reject the SDK's default trailing CRC checksums. TLS
		// protects the transfer; the core authenticates every value.
		awsconfig.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
		awsconfig.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired),
	}
	if cfg.accessKeyID != "" {
		opts = append(opts, awsconfig.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(cfg.accessKeyID, cfg.secretAccessKey, "")))
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, sdk.Errorf(sdk.ErrInvalidArgument, "loading the AWS configuration (region, credential chain): %v", err)
	}
	s.client = s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		if cfg.endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.endpoint)
		}
		o.UsePathStyle = cfg.pathStyle
	})
	if err := s.probe(ctx); err != nil {
		s.httpc.GetTransport().CloseIdleConnections()
		return nil, err
	}
	return s, nil
}

// where describes the server for error messages.
func (s *Store) where() string {
	if s.cfg.endpoint != "" {
		return s.cfg.endpoint
	}
	return "AWS S3 (" + s.cfg.region + ")"
}

// Capabilities implements sdk.CapabilityReporter. Its Report says what New's
// probe found about the server (see report).
func (s *Store) Capabilities() sdk.Capabilities {
	return sdk.Capabilities{MaxValueSize: sdk.MaxValueSize, NativeListValues: false, Report: s.report()}
}

// report describes what the probe found and how the store works with it.
func (s *Store) report() map[string]string {
	r := map[string]string{}
	switch s.delMode {
	case delIfMatch:
		r["conditional_delete"] = "delete-if-match: the server honours If-Match on DeleteObject and answers 404 or 412 for a missing object"
	case delTombThenDelete:
		r["conditional_delete"] = "tombstone-then-delete-if-match: the server honours If-Match on DeleteObject but answers 204 for a missing object, so a conditional Delete first replaces the object by a tombstone (PutObject If-Match), then deletes that"
	case delTombstone:
		if s.cfg.deleteMode == deleteTombstone {
			r["conditional_delete"] = "tombstone (conditional_delete=tombstone): a conditional Delete replaces the object by a tombstone with PutObject If-Match"
		} else {
			r["conditional_delete"] = "tombstone: the server ignores If-Match on DeleteObject (it deleted the probe object with a wrong ETag), so a conditional Delete replaces the object by a tombstone with PutObject If-Match"
		}
	}
	if s.md5ETags {
		r["etag"] = "the MD5 of the body: every read is checked against it, and a torn read (an ETag published apart from its data, as versitygw --sidecar does during an overwrite) is read again"
	} else {
		r["etag"] = "not the MD5 of the body: reads are checked only for a missing ETag"
	}
	r["listing"] = "after a start-after name, one directory level at a time, so servers that walk directories (MinIO) list exactly"
	return r
}

// Close implements sdk.Store.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		s.httpc.GetTransport().CloseIdleConnections()
	}
	return nil
}

func (s *Store) check(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return sdk.Errorf(sdk.ErrUnavailable, "s3 store for bucket %q is closed", s.cfg.bucket)
	}
	return nil
}

// call runs one S3 operation under the configured per-request timeout.
func call[T any](ctx context.Context, s *Store, fn func(ctx context.Context) (T, error)) (T, error) {
	cctx, cancel := context.WithTimeout(ctx, s.cfg.timeout)
	defer cancel()
	return fn(cctx)
}

// Get implements sdk.Store.
func (s *Store) Get(ctx context.Context, key string) ([]byte, sdk.Version, error) {
	if err := s.check(ctx); err != nil {
		return nil, "", err
	}
	v, ver, kind, err := s.get(ctx, key)
	if err != nil {
		return nil, "", err
	}
	if kind == objTombstone {
		return nil, "", sdk.Errorf(sdk.ErrNotFound, "key %q", key)
	}
	return v, ver, nil
}

// get reads the object of key and returns its value (for objValue), version
// and kind. A missing object is ErrNotFound; a corrupt one ErrUnavailable.
func (s *Store) get(ctx context.Context, key string) ([]byte, sdk.Version, objKind, error) {
	type result struct {
		body []byte
		etag string
	}
	var r result
	for attempt := 1; ; attempt++ {
		var err error
		r, err = call(ctx, s, func(ctx context.Context) (result, error) {
			out, err := s.client.GetObject(ctx, &s3.GetObjectInput{
				Bucket: aws.String(s.cfg.bucket),
				Key:    aws.String(s.objectName(key)),
			})
			if err != nil {
				return result{}, err
			}
			defer out.Body.Close()
			// Read one byte past the largest valid object to detect oversize.
			b, err := io.ReadAll(io.LimitReader(out.Body, headerLen+sdk.MaxValueSize+1))
			if err != nil {
				return result{}, err
			}
			return result{b, aws.ToString(out.ETag)}, nil
		})
		if err != nil {
			return nil, "", 0, s.mapErr(ctx, "get", key, err)
		}
		torn := s.tornRead(r.etag, r.body)
		if torn == "" {
			break
		}
		clear(r.body)
		if err := s.tornWait(ctx, "get", key, torn, attempt); err != nil {
			return nil, "", 0, err
		}
	}
	kind, value := decode(r.body)
	switch {
	case kind == objCorrupt:
		return nil, "", 0, sdk.Errorf(sdk.ErrUnavailable, "key %q: object %q in bucket %q was not written by aileron-store (no header; %d bytes)", key, s.objectName(key), s.cfg.bucket, len(r.body))
	case len(value) > sdk.MaxValueSize:
		return nil, "", 0, sdk.Errorf(sdk.ErrUnavailable, "key %q: object %q in bucket %q holds more than %d bytes", key, s.objectName(key), s.cfg.bucket, sdk.MaxValueSize)
	}
	ver, err := s.version(key, r.etag)
	if err != nil {
		return nil, "", 0, err
	}
	out := make([]byte, len(value))
	copy(out, value)
	clear(r.body)
	return out, ver, kind, nil
}

// version turns an ETag into a Version. Versions are ETags without their
// surrounding quotes (ListObjectsV2, GetObject and PutObject agree on that
// form, while some servers differ in quoting).
func (s *Store) version(key, etag string) (sdk.Version, error) {
	v := strings.Trim(etag, `"`)
	if v == "" {
		return "", sdk.Errorf(sdk.ErrUnavailable, "key %q: %s returned no ETag for object %q", key, s.where(), s.objectName(key))
	}
	return sdk.Version(v), nil
}

// ifMatch renders v as an If-Match header value, reporting false when v
// cannot be an ETag of ours (then no object can match it).
func ifMatch(v sdk.Version) (string, bool) {
	if len(v) == 0 || len(v) > 256 {
		return "", false
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x21 || c > 0x7e || c == '"' {
			return "", false
		}
	}
	return `"` + string(v) + `"`, true
}

// Put implements sdk.Store.
func (s *Store) Put(ctx context.Context, key string, value []byte, cond sdk.Cond) (sdk.Version, error) {
	if err := s.check(ctx); err != nil {
		return "", err
	}
	body, err := encodeValue(value)
	if err != nil {
		return "", err
	}
	defer clear(body)
	var ver sdk.Version
	switch cond.Mode() {
	case sdk.CondIfAbsent:
		ver, err = s.putIfAbsent(ctx, key, body)
	case sdk.CondIfVersion:
		ver, err = s.putIfMatch(ctx, key, body, cond.Version())
	default:
		ver, err = s.putObject(ctx, key, body, nil, nil)
	}
	s.recent.Wrote(key, ver, value, err)
	return ver, err
}

// putIfAbsent writes body if key has no object or only a tombstone.
func (s *Store) putIfAbsent(ctx context.Context, key string, body []byte) (sdk.Version, error) {
	for range maxTombstoneRounds {
		ver, err := s.putObject(ctx, key, body, nil, aws.String("*"))
		if !errors.Is(err, sdk.ErrConflict) {
			return ver, err
		}
		// The object exists. A tombstone counts as absent: replace it,
		// conditionally on its ETag.
		etag, kind, err := s.head(ctx, key)
		switch {
		case errors.Is(err, sdk.ErrNotFound):
			continue // deleted meanwhile: try the create again
		case err != nil:
			return "", err
		case kind != objTombstone:
			return "", sdk.Errorf(sdk.ErrConflict, "put if-absent of key %q: the key exists", key)
		}
		ver, err = s.putObject(ctx, key, body, aws.String(etag), nil)
		if errors.Is(err, sdk.ErrConflict) || errors.Is(err, sdk.ErrNotFound) {
			continue // the tombstone changed meanwhile: look again
		}
		return ver, err
	}
	return "", sdk.Errorf(sdk.ErrUnavailable, "put if-absent of key %q: the key changed concurrently %d times in a row", key, maxTombstoneRounds)
}

const maxTombstoneRounds = 5

// putIfMatch writes body if key's version is v.
func (s *Store) putIfMatch(ctx context.Context, key string, body []byte, v sdk.Version) (sdk.Version, error) {
	im, ok := ifMatch(v)
	if !ok {
		return "", s.condFailed(ctx, "put", key, v)
	}
	ver, err := s.putObject(ctx, key, body, aws.String(im), nil)
	if errors.Is(err, sdk.ErrConflict) {
		return "", s.condFailed(ctx, "put", key, v)
	}
	return ver, err
}

// condFailed classifies a failed If-Match: ErrNotFound when the key has no
// live object (S3 answers 412 rather than 404 on some servers, and a
// tombstone is no live object), else ErrConflict.
func (s *Store) condFailed(ctx context.Context, op, key string, v sdk.Version) error {
	_, kind, err := s.head(ctx, key)
	switch {
	case errors.Is(err, sdk.ErrNotFound) || err == nil && kind == objTombstone:
		return sdk.Errorf(sdk.ErrNotFound, "%s if-version(%s) of key %q: the key does not exist", op, v, key)
	case err != nil:
		return err
	}
	return sdk.Errorf(sdk.ErrConflict, "%s if-version(%s) of key %q: the key has another version", op, v, key)
}

// putObject writes body under key with the given preconditions. A failed
// precondition (412) is ErrConflict; a missing key under If-Match (404) is
// ErrNotFound; 409 ConditionalRequestConflict is retried a bounded number of
// times, then ErrUnavailable.
func (s *Store) putObject(ctx context.Context, key string, body []byte, ifMatch, ifNoneMatch *string) (sdk.Version, error) {
	var etag string
	err := s.retryConflict(ctx, func(ctx context.Context) error {
		out, err := s.client.PutObject(ctx, &s3.PutObjectInput{
			Bucket:        aws.String(s.cfg.bucket),
			Key:           aws.String(s.objectName(key)),
			Body:          bytes.NewReader(body),
			ContentLength: aws.Int64(int64(len(body))),
			ContentType:   aws.String("application/octet-stream"),
			IfMatch:       ifMatch,
			IfNoneMatch:   ifNoneMatch,
		})
		if err == nil {
			etag = aws.ToString(out.ETag)
		}
		return err
	})
	if err != nil {
		return "", s.mapErr(ctx, "put", key, err)
	}
	return s.version(key, etag)
}

// retryConflict runs fn under the per-request timeout, retrying a 409
// ConditionalRequestConflict (a concurrent conditional write on the same
// key) with a short backoff.
func (s *Store) retryConflict(ctx context.Context, fn func(ctx context.Context) error) error {
	const attempts = 5
	var err error
	for i := range attempts {
		_, err = call(ctx, s, func(ctx context.Context) (struct{}, error) { return struct{}{}, fn(ctx) })
		if !isCode(err, "ConditionalRequestConflict") {
			return err
		}
		if i == attempts-1 {
			break
		}
		t := time.NewTimer(time.Duration(20<<i) * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
	return &conflictRetryError{err: err, attempts: attempts}
}

type conflictRetryError struct {
	err      error
	attempts int
}

func (e *conflictRetryError) Error() string {
	return fmt.Sprintf("409 ConditionalRequestConflict %d times in a row", e.attempts)
}
func (e *conflictRetryError) Unwrap() error { return e.err }

// Torn reads. A server that stores an object's ETag apart from its data
// can answer a read, during a concurrent overwrite, with no ETag or with
// the ETag of one write and the body of another: versitygw with --sidecar
// metadata stores the new ETag before it moves the new data into place, and
// its early, unlocked If-Match check already sees it. Such a read is never
// returned: when the probe found ETags to be the MD5 of the body (s.md5ETags),
// every read checks that, and an empty ETag is always refused. The read is
// repeated, backing off up to 200 ms, for about 2.9 s in all (an overwrite
// ends within milliseconds, but eight clients overwriting one key keep it
// torn much of the time); a server that keeps answering so is reported as
// what it is.
const maxTornReads = 20

// tornRead returns why a read of body with etag is not consistent, or "".
func (s *Store) tornRead(etag string, body []byte) string {
	e := strings.Trim(etag, `"`)
	if e == "" {
		return "no ETag"
	}
	if s.md5ETags {
		sum := md5.Sum(body)
		if !strings.EqualFold(e, hex.EncodeToString(sum[:])) {
			return "an ETag that is not the MD5 of the body it sent"
		}
	}
	return ""
}

// tornWait waits before read attempt+1 after a torn read, or returns the
// error that reports the server's behaviour after maxTornReads attempts.
func (s *Store) tornWait(ctx context.Context, op, key, why string, attempt int) error {
	if attempt >= maxTornReads {
		return sdk.Errorf(sdk.ErrUnavailable, "s3 %s of key %q: %s answered object %q with %s %d times in a row: the server does not publish an object's ETag atomically with its data (versitygw with --sidecar metadata stores the ETag before the data while an object is overwritten); the key may be under heavy concurrent writes, retry", op, key, s.where(), s.objectName(key), why, attempt)
	}
	t := time.NewTimer(time.Duration(min(5<<attempt, 200)) * time.Millisecond)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return fmt.Errorf("s3 %s of key %q: %w", op, key, ctx.Err())
	case <-t.C:
		return nil
	}
}

// head returns the ETag and kind of key's object. Value objects are at least
// headerLen bytes; a tombstone-sized object is classified as a tombstone.
// On a server with MD5 ETags it reads the object (see tornRead): a HEAD
// cannot tell a torn answer (another write's ETag and size) from a true one.
func (s *Store) head(ctx context.Context, key string) (string, objKind, error) {
	if s.md5ETags {
		_, ver, kind, err := s.get(ctx, key)
		return `"` + string(ver) + `"`, kind, err
	}
	type result struct {
		etag string
		size int64
	}
	r, err := call(ctx, s, func(ctx context.Context) (result, error) {
		out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{
			Bucket: aws.String(s.cfg.bucket),
			Key:    aws.String(s.objectName(key)),
		})
		if err != nil {
			return result{}, err
		}
		return result{aws.ToString(out.ETag), aws.ToInt64(out.ContentLength)}, nil
	})
	if err != nil {
		return "", 0, s.mapErr(ctx, "head", key, err)
	}
	if r.size == tombstoneLen {
		return r.etag, objTombstone, nil
	}
	return r.etag, objValue, nil
}

// Delete implements sdk.Store.
//
// An unconditional Delete of a missing key returns nil. Delete with
// IfVersion(v) depends on what New's probe found the server to do:
//
//   - delIfMatch (AWS): DeleteObject with If-Match: v. 412 means another
//     version or no key (told apart with a HEAD); 404 means no key.
//   - delTombThenDelete (versitygw): the server honours If-Match on
//     DeleteObject but answers 204, not 404, for a missing key, so a
//     successful delete cannot tell "deleted" from "was not there". Delete
//     first replaces the object, with PutObject If-Match: v (which does
//     answer 404), by a 16-byte tombstone, then deletes the tombstone with
//     DeleteObject If-Match: <tombstone ETag>.
//   - delTombstone (MinIO, which ignores If-Match on DeleteObject): only the
//     tombstone write. Get, List and Put treat a tombstone as absence, and
//     the next unconditional Delete of the key removes it.
func (s *Store) Delete(ctx context.Context, key string, cond sdk.Cond) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	s.recent.Forget(key)
	if cond.Mode() != sdk.CondIfVersion {
		if err := s.deleteObject(ctx, key, nil); err != nil && !errors.Is(err, sdk.ErrNotFound) {
			return err
		}
		return nil
	}
	v := cond.Version()
	im, ok := ifMatch(v)
	if !ok {
		return s.condFailed(ctx, "delete", key, v)
	}
	var err error
	var tombETag string
	if s.delMode == delIfMatch {
		err = s.deleteObject(ctx, key, aws.String(im))
	} else {
		var tomb []byte
		if tomb, err = encodeTombstone(); err != nil {
			return err
		}
		var tv sdk.Version
		tv, err = s.putObject(ctx, key, tomb, aws.String(im), nil)
		tombETag = string(tv)
	}
	switch {
	case errors.Is(err, sdk.ErrConflict):
		return s.condFailed(ctx, "delete", key, v)
	case errors.Is(err, sdk.ErrNotFound):
		return sdk.Errorf(sdk.ErrNotFound, "delete if-version(%s) of key %q: the key does not exist", v, key)
	case err != nil:
		return err
	}
	if s.delMode == delTombThenDelete {
		// The delete took effect with the tombstone write; removing the
		// tombstone is housekeeping. A concurrent writer may have replaced
		// it already (then If-Match fails and its value stays).
		tm, _ := ifMatch(sdk.Version(tombETag))
		_ = s.deleteObject(context.WithoutCancel(ctx), key, aws.String(tm))
	}
	return nil
}

// deleteObject sends DeleteObject, with If-Match when ifMatch is set.
func (s *Store) deleteObject(ctx context.Context, key string, ifMatch *string) error {
	err := s.retryConflict(ctx, func(ctx context.Context) error {
		_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{
			Bucket:  aws.String(s.cfg.bucket),
			Key:     aws.String(s.objectName(key)),
			IfMatch: ifMatch,
		})
		return err
	})
	if err != nil {
		return s.mapErr(ctx, "delete", key, err)
	}
	return nil
}
