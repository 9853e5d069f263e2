// Package gcs is the Google Cloud Storage backend of aileron-store: an
// sdk.Store over cloud.google.com/go/storage, one object per key.
//
// # Objects and versions
//
// Key k is stored as the object named prefix+k (see KeyPrefix) in the
// configured bucket. A key's version is the object's generation as a decimal
// string; GCS gives every write of an object a new generation, also a
// rewrite of identical bytes.
//
// # Compare-and-swap
//
// Conditions map to GCS generation preconditions, which the service checks
// atomically with the write:
//
//   - Put IfAbsent: ifGenerationMatch=0 (storage.Conditions{DoesNotExist: true}).
//   - Put and Delete IfVersion(v): ifGenerationMatch=v.
//   - On a bucket without object versioning, Delete IfVersion(v) also names
//     the generation (generation=v): the delete then removes exactly that
//     generation, and only while it is live, even on a server that ignores
//     ifGenerationMatch on delete (fake-gcs-server). On a versioned bucket a
//     delete naming a generation would remove that version for good instead
//     of making it noncurrent, so there the precondition alone is sent. New
//     reads the bucket's versioning setting; when it may not (no
//     storage.buckets.get permission) it sends the precondition alone.
//
// A failed precondition (HTTP 412) is sdk.ErrConflict. When the key does not
// exist at all, GCS answers 412 to ifGenerationMatch=v as well; the store then
// checks the object's existence and returns sdk.ErrNotFound, as the contract
// asks. A version that is not a decimal generation cannot match any object
// and is treated the same way (ErrConflict or ErrNotFound).
//
// # Retries
//
// The client library's retry policy RetryIdempotent is used, bounded by
// max_retries and by the timeout of each call. Under it the library retries
// reads, listings and every request that carries a generation precondition
// (conditional Put and Delete: GCS documents them as "conditionally
// idempotent", because a retried request can never apply twice). An
// unconditional Put or Delete is not retried. One ambiguity remains and is
// resolved here: when a conditional Put was retried after a transient error,
// its first attempt may have succeeded with the response lost, so the retry
// sees 412. The store then reads the object's MD5: if it is the MD5 of the
// value being written, the write is reported as done with the object's
// generation; otherwise ErrConflict. (The core writes ciphertexts with random
// nonces, so two writers never store identical bytes.) Likewise, a
// conditional Delete that was retried and then finds the key gone reports
// success: its earlier attempt removed the key, or a concurrent delete of the
// same version did, which leaves the same state.
//
// # Listing
//
// List pages through the objects under prefix+opts.Prefix in name order
// (GCS lists in byte-wise UTF-8 order, which is the contract's order for
// keys). StartOffset is inclusive in GCS, so the store asks from the
// start-after key and drops that key itself. With values, entries are read
// by at most max_concurrency concurrent Gets; an entry deleted in between is
// dropped, and each value and version is what a Get returns at that moment.
// An entry listed at a generation that this process's own last write of the
// key returned is not read: the Store keeps the values it wrote last (up to
// 8 MiB and 65,536 writes) and serves that write's value.
// Objects under the prefix whose names are not valid keys are skipped.
package gcs

import (
	"bytes"
	"context"
	"crypto/md5"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"cloud.google.com/go/auth"
	"cloud.google.com/go/storage"
	"github.com/ALRubinger/aileron-store/internal/written"
	"github.com/ALRubinger/aileron-store/sdk"
	gax "github.com/googleapis/gax-go/v2"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"
)

// Store is an sdk.Store over one GCS bucket (and optional object-name
// prefix).
type Store struct {
	cfg     *config
	client  *storage.Client
	bucket  *storage.BucketHandle
	delMode delMode
	closed  atomic.Bool
	recent  written.Memory // the values written last, by generation (see fill)
}

// delMode is how Delete IfVersion names the generation it removes.
type delMode int

const (
	// delPrecondition sends ifGenerationMatch=v alone (versioned buckets,
	// or versioning unknown).
	delPrecondition delMode = iota
	// delGeneration also sends generation=v (buckets without versioning).
	delGeneration
)

func (m delMode) String() string {
	return [...]string{"ifGenerationMatch", "generation+ifGenerationMatch"}[m]
}

var (
	_ sdk.Store              = (*Store)(nil)
	_ sdk.CapabilityReporter = (*Store)(nil)
	_ sdk.Factory            = New
)

// New is the sdk.Factory of the GCS plugin. It validates config (see the
// Key* constants), creates the client and checks that the bucket is
// reachable and listable with the configured credentials.
func New(ctx context.Context, config map[string]string) (sdk.Store, error) {
	s, err := open(ctx, config)
	if err != nil {
		return nil, err
	}
	return s, nil
}

func open(ctx context.Context, m map[string]string) (*Store, error) {
	cfg, err := parseConfig(m)
	if err != nil {
		return nil, err
	}
	opts := []option.ClientOption{
		storage.WithJSONReads(),
		storage.WithDisabledClientMetrics(),
		option.WithTelemetryDisabled(),
	}
	switch {
	case cfg.endpoint != "" && cfg.plaintext:
		opts = append(opts, option.WithEndpoint(cfg.endpoint), option.WithoutAuthentication())
	case cfg.endpoint != "":
		opts = append(opts, option.WithEndpoint(cfg.endpoint))
	}
	if cfg.credentialsFile != "" {
		opts = append(opts, option.WithAuthCredentialsFile(cfg.credentialsType, cfg.credentialsFile))
	}
	client, err := storage.NewClient(ctx, opts...)
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return nil, sdk.Errorf(cerr, "creating the GCS client")
		}
		// Errors from credential loading name the file, not its content.
		if cfg.credentialsFile != "" {
			return nil, sdk.Errorf(sdk.ErrInvalidArgument, "config field %q: creating the GCS client: %v", KeyCredentialsFile, err)
		}
		return nil, sdk.Errorf(sdk.ErrUnavailable, "creating the GCS client (application default credentials; set %q to use a file): %v", KeyCredentialsFile, err)
	}
	client.SetRetry(
		storage.WithPolicy(storage.RetryIdempotent),
		storage.WithMaxAttempts(cfg.maxRetries+1),
		storage.WithBackoff(gax.Backoff{Initial: 100 * time.Millisecond, Max: 5 * time.Second, Multiplier: 2}),
	)
	s := &Store{cfg: cfg, client: client, bucket: client.Bucket(cfg.bucket)}
	if err := s.check(ctx); err != nil {
		client.Close()
		return nil, err
	}
	s.delMode = s.probeVersioning(ctx)
	return s, nil
}

// probeVersioning reads the bucket's versioning setting: delGeneration on a
// bucket without versioning, else (versioned, or the setting unreadable)
// delPrecondition, which is exact on GCS itself.
func (s *Store) probeVersioning(ctx context.Context) delMode {
	ctx, cancel := context.WithTimeoutCause(ctx, s.cfg.timeout, errTimeout)
	defer cancel()
	a, err := s.bucket.Attrs(ctx)
	if err != nil || a.VersioningEnabled {
		return delPrecondition
	}
	return delGeneration
}

// check lists at most one object under the prefix: it needs only the
// storage.objects.list permission (which List needs anyway), not
// storage.buckets.get, so least-privilege credentials pass it.
func (s *Store) check(ctx context.Context) error {
	ctx, cancel := context.WithTimeoutCause(ctx, s.cfg.timeout, errTimeout)
	defer cancel()
	it := s.bucket.Objects(ctx, &storage.Query{Prefix: s.cfg.prefix, Projection: storage.ProjectionNoACL})
	it.PageInfo().MaxSize = 1
	_, err := it.Next()
	if err == nil || errors.Is(err, iterator.Done) {
		return nil
	}
	if isStatus(err, http.StatusNotFound) || errors.Is(err, storage.ErrBucketNotExist) {
		return sdk.Errorf(sdk.ErrInvalidArgument, "config field %q: bucket %q does not exist at %s", KeyBucket, s.cfg.bucket, s.cfg.endpointShown)
	}
	return s.mapErr(ctx, err, "listing objects to check access")
}

// Capabilities implements sdk.CapabilityReporter.
func (s *Store) Capabilities() sdk.Capabilities {
	r := map[string]string{}
	switch s.delMode {
	case delGeneration:
		r["conditional_delete"] = "generation+ifGenerationMatch: the bucket has no object versioning, so a conditional Delete names the generation it removes (exact even where ifGenerationMatch on delete is ignored, as fake-gcs-server does)"
	default:
		r["conditional_delete"] = "ifGenerationMatch: the bucket has object versioning (or its setting could not be read), so a conditional Delete sends the precondition alone"
	}
	return sdk.Capabilities{MaxValueSize: sdk.MaxValueSize, Report: r}
}

// Close implements sdk.Store.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	return s.client.Close()
}

func (s *Store) begin(ctx context.Context) (context.Context, context.CancelFunc, error) {
	if s.closed.Load() {
		return ctx, func() {}, sdk.Errorf(sdk.ErrUnavailable, "GCS store for bucket %q is closed", s.cfg.bucket)
	}
	if err := ctx.Err(); err != nil {
		return ctx, func() {}, sdk.Errorf(err, "GCS bucket %q", s.cfg.bucket)
	}
	ctx, cancel := context.WithTimeoutCause(ctx, s.cfg.timeout, errTimeout)
	return ctx, cancel, nil
}

// errTimeout is the cause of a call's context when the configured timeout
// (not the caller's deadline) ends it.
var errTimeout = errors.New("configured timeout")

func (s *Store) object(key string) *storage.ObjectHandle {
	return s.bucket.Object(s.cfg.prefix + key)
}

// parseVersion returns the generation of v, or ok=false when v cannot be a
// generation of this store.
func parseVersion(v sdk.Version) (int64, bool) {
	g, err := strconv.ParseInt(string(v), 10, 64)
	if err != nil || g <= 0 || strconv.FormatInt(g, 10) != string(v) {
		return 0, false
	}
	return g, true
}

func version(gen int64) sdk.Version { return sdk.Version(strconv.FormatInt(gen, 10)) }

// Get implements sdk.Store.
func (s *Store) Get(ctx context.Context, key string) ([]byte, sdk.Version, error) {
	ctx, cancel, err := s.begin(ctx)
	defer cancel()
	if err != nil {
		return nil, "", err
	}
	return s.get(ctx, key)
}

func (s *Store) get(ctx context.Context, key string) ([]byte, sdk.Version, error) {
	r, err := s.object(key).NewReader(ctx)
	if err != nil {
		return nil, "", s.mapKeyErr(ctx, err, "get", key)
	}
	defer r.Close()
	// A stored object larger than the contract allows was not written by a
	// Store; refuse it rather than read an unbounded body.
	if r.Attrs.Size > sdk.MaxValueSize {
		return nil, "", sdk.Errorf(sdk.ErrUnavailable, "get key %q: object %q is %d bytes, more than the maximum value size %d", key, s.cfg.prefix+key, r.Attrs.Size, sdk.MaxValueSize)
	}
	buf := make([]byte, 0, r.Attrs.Size)
	b := bytes.NewBuffer(buf)
	if _, err := io.Copy(b, io.LimitReader(r, sdk.MaxValueSize+1)); err != nil {
		return nil, "", s.mapKeyErr(ctx, err, "get", key)
	}
	if b.Len() > sdk.MaxValueSize {
		return nil, "", sdk.Errorf(sdk.ErrUnavailable, "get key %q: object is more than the maximum value size %d", key, sdk.MaxValueSize)
	}
	gen := r.Attrs.Generation
	if gen <= 0 {
		return nil, "", sdk.Errorf(sdk.ErrUnavailable, "get key %q: the service returned no generation", key)
	}
	return b.Bytes(), version(gen), nil
}

// Put implements sdk.Store.
func (s *Store) Put(ctx context.Context, key string, value []byte, cond sdk.Cond) (sdk.Version, error) {
	ver, err := s.put(ctx, key, value, cond)
	s.recent.Wrote(key, ver, value, err)
	return ver, err
}

func (s *Store) put(ctx context.Context, key string, value []byte, cond sdk.Cond) (sdk.Version, error) {
	ctx, cancel, err := s.begin(ctx)
	defer cancel()
	if err != nil {
		return "", err
	}
	obj := s.object(key)
	switch cond.Mode() {
	case sdk.CondIfAbsent:
		obj = obj.If(storage.Conditions{DoesNotExist: true})
	case sdk.CondIfVersion:
		gen, ok := parseVersion(cond.Version())
		if !ok {
			return "", s.noMatch(ctx, "put", key, cond)
		}
		obj = obj.If(storage.Conditions{GenerationMatch: gen})
	}
	// Record whether the library retried, to resolve a lost response (see
	// the package documentation).
	var retried atomic.Bool
	obj = obj.Retryer(storage.WithErrorFuncWithContext(func(err error, rc *storage.RetryContext) bool {
		ok := storage.ShouldRetry(err)
		if ok {
			retried.Store(true)
		}
		return ok
	}))

	w := obj.NewWriter(ctx)
	// One request (a multipart upload) whose buffer lets the library retry
	// it: the chunk is larger than any value.
	w.ChunkSize = sdk.MaxValueSize + 256<<10
	w.ContentType = "application/octet-stream"
	w.SendCRC32C = true
	w.CRC32C = crc32.Checksum(value, crc32.MakeTable(crc32.Castagnoli))
	if _, err := w.Write(value); err != nil {
		w.CloseWithError(err)
		return s.putErr(ctx, err, key, value, cond, retried.Load())
	}
	if err := w.Close(); err != nil {
		return s.putErr(ctx, err, key, value, cond, retried.Load())
	}
	a := w.Attrs()
	if a == nil || a.Generation <= 0 {
		return "", sdk.Errorf(sdk.ErrUnavailable, "put key %q: the service returned no generation", key)
	}
	return version(a.Generation), nil
}

// putErr maps a failed write. It returns a version and no error only when
// a retried conditional write turns out to have taken effect.
func (s *Store) putErr(ctx context.Context, err error, key string, value []byte, cond sdk.Cond, retried bool) (sdk.Version, error) {
	if cond.Mode() != sdk.CondNone && isStatus(err, http.StatusPreconditionFailed) && ctx.Err() == nil {
		if retried {
			// Our own earlier attempt may be what fails the precondition.
			a, aerr := s.object(key).Attrs(ctx)
			if aerr == nil {
				sum := md5.Sum(value)
				if bytes.Equal(a.MD5, sum[:]) && a.Generation > 0 {
					return version(a.Generation), nil
				}
			}
		}
		return "", s.condFailed(ctx, "put", key, cond)
	}
	if isStatus(err, http.StatusNotFound) && ctx.Err() == nil {
		// Uploads answer 404 only for a missing bucket.
		return "", sdk.Errorf(sdk.ErrNotFound, "put key %q: bucket %q does not exist", key, s.cfg.bucket)
	}
	return "", s.mapKeyErr(ctx, err, "put", key)
}

// Delete implements sdk.Store.
func (s *Store) Delete(ctx context.Context, key string, cond sdk.Cond) error {
	ctx, cancel, err := s.begin(ctx)
	defer cancel()
	if err != nil {
		return err
	}
	s.recent.Forget(key)
	obj := s.object(key)
	if cond.Mode() == sdk.CondIfVersion {
		gen, ok := parseVersion(cond.Version())
		if !ok {
			return s.noMatch(ctx, "delete", key, cond)
		}
		if s.delMode == delGeneration {
			obj = obj.Generation(gen)
		}
		obj = obj.If(storage.Conditions{GenerationMatch: gen})
	}
	var retried atomic.Bool
	obj = obj.Retryer(storage.WithErrorFuncWithContext(func(err error, rc *storage.RetryContext) bool {
		ok := storage.ShouldRetry(err)
		if ok {
			retried.Store(true)
		}
		return ok
	}))
	err = obj.Delete(ctx)
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return s.mapKeyErr(ctx, err, "delete", key)
	case isStatus(err, http.StatusNotFound) || errors.Is(err, storage.ErrObjectNotExist):
		if cond.Mode() == sdk.CondNone || retried.Load() {
			// Unconditional: idempotent. Retried: an earlier attempt whose
			// answer was lost removed the key (see the package doc).
			return nil
		}
		if s.delMode == delGeneration {
			// That generation is not live: the key is missing or at
			// another generation.
			return s.noMatch(ctx, "delete", key, cond)
		}
		return sdk.Errorf(sdk.ErrNotFound, "delete key %q (%s)", key, cond)
	case isStatus(err, http.StatusPreconditionFailed):
		if retried.Load() {
			if _, aerr := s.object(key).Attrs(ctx); errors.Is(aerr, storage.ErrObjectNotExist) {
				return nil
			}
		}
		return s.condFailed(ctx, "delete", key, cond)
	default:
		return s.mapKeyErr(ctx, err, "delete", key)
	}
}

// condFailed turns a 412 into ErrNotFound when the key is missing (the
// contract's answer for IfVersion on a missing key) and ErrConflict
// otherwise.
func (s *Store) condFailed(ctx context.Context, op, key string, cond sdk.Cond) error {
	if cond.Mode() == sdk.CondIfAbsent {
		return sdk.Errorf(sdk.ErrConflict, "%s key %q (%s): the key already exists", op, key, cond)
	}
	return s.noMatch(ctx, op, key, cond)
}

// noMatch reports an IfVersion condition that does not hold: ErrNotFound
// when the key is missing, else ErrConflict.
func (s *Store) noMatch(ctx context.Context, op, key string, cond sdk.Cond) error {
	a, err := s.object(key).Attrs(ctx)
	switch {
	case err == nil:
		return sdk.Errorf(sdk.ErrConflict, "%s key %q (%s): the key is at version %d", op, key, cond, a.Generation)
	case ctx.Err() == nil && (errors.Is(err, storage.ErrObjectNotExist) || isStatus(err, http.StatusNotFound)):
		return sdk.Errorf(sdk.ErrNotFound, "%s key %q (%s)", op, key, cond)
	default:
		return s.mapKeyErr(ctx, err, op, key)
	}
}

// List implements sdk.Store.
func (s *Store) List(ctx context.Context, opts sdk.ListOptions) (sdk.Page, error) {
	ctx, cancel, err := s.begin(ctx)
	defer cancel()
	if err != nil {
		return sdk.Page{}, err
	}
	page, err := s.listKeys(ctx, opts)
	if err != nil {
		return sdk.Page{}, err
	}
	if opts.WithValues && len(page.Entries) > 0 {
		if page.Entries, err = s.fill(ctx, page.Entries); err != nil {
			return sdk.Page{}, err
		}
	}
	return page, nil
}

// maxListRequests bounds the GCS list requests of one List call; a page cut
// short by it has More set, which the contract allows.
const maxListRequests = 4

func (s *Store) listKeys(ctx context.Context, opts sdk.ListOptions) (sdk.Page, error) {
	q := &storage.Query{
		Prefix:     s.cfg.prefix + opts.Prefix,
		Projection: storage.ProjectionNoACL,
	}
	if err := q.SetAttrSelection([]string{"Name", "Generation"}); err != nil {
		return sdk.Page{}, sdk.Errorf(sdk.ErrUnavailable, "list: %v", err)
	}
	if opts.StartAfter > opts.Prefix {
		q.StartOffset = s.cfg.prefix + startOffset(opts.StartAfter)
	}
	it := s.bucket.Objects(ctx, q)
	// One more than the limit: the start-after key itself may come first.
	pageSize := min(opts.Limit+1, 1000)
	pager := iterator.NewPager(it, pageSize, "")
	var page sdk.Page
	for req := 0; ; req++ {
		if req == maxListRequests {
			page.More = true
			return page, nil
		}
		var objs []*storage.ObjectAttrs
		token, err := pager.NextPage(&objs)
		if err != nil {
			if isStatus(err, http.StatusNotFound) || errors.Is(err, storage.ErrBucketNotExist) {
				return sdk.Page{}, sdk.Errorf(sdk.ErrNotFound, "list %q: bucket %q does not exist", opts.Prefix, s.cfg.bucket)
			}
			return sdk.Page{}, s.mapErr(ctx, err, "list %q", opts.Prefix)
		}
		for _, o := range objs {
			key, ok := strings.CutPrefix(o.Name, s.cfg.prefix)
			if !ok || key <= opts.StartAfter || !strings.HasPrefix(key, opts.Prefix) || sdk.ValidateKey(key) != nil {
				continue
			}
			if len(page.Entries) > 0 && key <= page.Entries[len(page.Entries)-1].Key {
				return sdk.Page{}, sdk.Errorf(sdk.ErrUnavailable, "list %q: the service listed %q out of order", opts.Prefix, o.Name)
			}
			if len(page.Entries) == opts.Limit {
				page.More = true
				return page, nil
			}
			page.Entries = append(page.Entries, sdk.Entry{Key: key, Version: version(o.Generation)})
		}
		if token == "" {
			return page, nil
		}
		if len(page.Entries) == opts.Limit {
			page.More = true
			return page, nil
		}
	}
}

// startOffset returns a string x with x <= after such that every key greater
// than after is >= x and no key lies in [x, after] except possibly after
// itself: the inclusive GCS StartOffset for the exclusive start-after. It
// cuts after at its first byte outside printable ASCII (a start-after need
// not be a key), so the offset is always a valid object name.
func startOffset(after string) string {
	for i := 0; i < len(after); i++ {
		switch c := after[i]; {
		case c < 0x20:
			// Every key character is above c: keys > after are >= after[:i].
			return after[:i]
		case c > 0x7e:
			// Every key character is below c: keys > after are > after[:i]+"~".
			return after[:i] + "~"
		}
	}
	return after
}

// fill reads the value of every entry with at most max_concurrency
// concurrent Gets. The version of an entry becomes the version read with its
// value; an entry whose key was deleted since listing is dropped. An entry
// listed at a generation this Store wrote is not read: it gets that write's
// value (see written.Memory; a generation names one write of an object).
func (s *Store) fill(ctx context.Context, entries []sdk.Entry) ([]sdk.Entry, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		value []byte
		ver   sdk.Version
		gone  bool
	}
	results := make([]result, len(entries))
	var (
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	sem := make(chan struct{}, s.cfg.maxConcurrency)
	for i := range entries {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		if v, ok := s.recent.Get(entries[i].Key, entries[i].Version); ok {
			results[i] = result{value: v, ver: entries[i].Version}
			<-sem
			continue
		}
		wg.Add(1)
		go func(i int) {
			defer func() { <-sem; wg.Done() }()
			v, ver, err := s.get(ctx, entries[i].Key)
			switch {
			case err == nil:
				results[i] = result{value: v, ver: ver}
			case errors.Is(err, sdk.ErrNotFound):
				results[i] = result{gone: true}
			default:
				errOnce.Do(func() { firstErr = err; cancel() })
			}
		}(i)
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	if err := ctx.Err(); err != nil {
		return nil, s.mapErr(ctx, err, "list with values")
	}
	out := entries[:0]
	for i, e := range entries {
		if results[i].gone {
			continue
		}
		e.Value, e.Version = results[i].value, results[i].ver
		out = append(out, e)
	}
	return out, nil
}

// credentialSource names where the credentials come from, for errors.
func (s *Store) credentialSource() string {
	if s.cfg.credentialsFile != "" {
		return fmt.Sprintf("the credentials file %q (config field %q)", s.cfg.credentialsFile, KeyCredentialsFile)
	}
	return "application default credentials"
}

// isStatus reports whether err is an HTTP error from the service with code.
func isStatus(err error, code int) bool {
	var ge *googleapi.Error
	return errors.As(err, &ge) && ge.Code == code
}

func (s *Store) mapKeyErr(ctx context.Context, err error, op, key string) error {
	if ctx.Err() == nil && (errors.Is(err, storage.ErrObjectNotExist) || isStatus(err, http.StatusNotFound)) {
		return sdk.Errorf(sdk.ErrNotFound, "%s key %q", op, key)
	}
	return s.mapErr(ctx, err, "%s key %q", op, key)
}

// mapErr wraps err in the sentinel that fits it. The message names the
// operation, the bucket and, for network failures, the endpoint; it carries
// the service's message but never a credential (the library does not put
// tokens in errors).
func (s *Store) mapErr(ctx context.Context, err error, format string, args ...any) error {
	what := fmt.Sprintf(format, args...)
	if cerr := ctx.Err(); cerr != nil {
		if errors.Is(context.Cause(ctx), errTimeout) {
			return sdk.Errorf(sdk.ErrUnavailable, "%s in bucket %q: no answer from %s within the configured timeout %v (config field %q)", what, s.cfg.bucket, s.cfg.endpointShown, s.cfg.timeout, KeyTimeout)
		}
		return sdk.Errorf(cerr, "%s in bucket %q", what, s.cfg.bucket)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return sdk.Errorf(sdk.ErrUnavailable, "%s in bucket %q: request timed out: %v", what, s.cfg.bucket, err)
	}
	var ge *googleapi.Error
	if errors.As(err, &ge) {
		msg := ge.Message
		if msg == "" {
			msg = http.StatusText(ge.Code)
		}
		switch {
		case ge.Code == http.StatusUnauthorized || ge.Code == http.StatusForbidden:
			return sdk.Errorf(sdk.ErrPermissionDenied, "%s in bucket %q: HTTP %d: %s", what, s.cfg.bucket, ge.Code, msg)
		case ge.Code == http.StatusNotFound:
			return sdk.Errorf(sdk.ErrNotFound, "%s in bucket %q: HTTP %d: %s", what, s.cfg.bucket, ge.Code, msg)
		case ge.Code == http.StatusPreconditionFailed || ge.Code == http.StatusConflict:
			return sdk.Errorf(sdk.ErrConflict, "%s in bucket %q: HTTP %d: %s", what, s.cfg.bucket, ge.Code, msg)
		case ge.Code == http.StatusBadRequest:
			return sdk.Errorf(sdk.ErrInvalidArgument, "%s in bucket %q: HTTP %d: %s", what, s.cfg.bucket, ge.Code, msg)
		default:
			return sdk.Errorf(sdk.ErrUnavailable, "%s in bucket %q: HTTP %d: %s", what, s.cfg.bucket, ge.Code, msg)
		}
	}
	var oe *net.OpError
	var de *net.DNSError
	if errors.As(err, &oe) || errors.As(err, &de) {
		return sdk.Errorf(sdk.ErrUnavailable, "%s in bucket %q: endpoint %s unreachable: %v", what, s.cfg.bucket, s.cfg.endpointShown, err)
	}
	var ae *auth.Error
	var ue *url.Error
	if errors.As(err, &ae) || (errors.As(err, &ue) && !s.cfg.plaintext) {
		// The request never got an answer from the service because no
		// access token could be obtained: a credentials problem. The
		// message is the auth library's (a parse or token-endpoint error),
		// which carries no key material.
		return sdk.Errorf(sdk.ErrPermissionDenied, "%s in bucket %q: obtaining an access token from %s: %v", what, s.cfg.bucket, s.credentialSource(), err)
	}
	return sdk.Errorf(sdk.ErrUnavailable, "%s in bucket %q at %s: %v", what, s.cfg.bucket, s.cfg.endpointShown, err)
}
