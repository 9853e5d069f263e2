package s3

import (
	"context"
	"errors"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/ALRubinger/aileron-store/sdk"
)

// maxListRequests bounds the ListObjectsV2 requests one List makes while
// skipping objects that are not keys (tombstones, the probe, foreign
// objects) to fill a page.
const maxListRequests = 8

// List implements sdk.Store with ListObjectsV2. With opts.WithValues it reads
// the listed keys with up to max_concurrency concurrent GetObject requests; a
// key deleted between the listing and its read is left out of the page, and
// each entry's version is the one its read returned. A key listed at a
// version this Store wrote is not read: its entry holds the value of that
// write (see written.Memory): every write's random header (see encodeValue)
// makes its ETag name that one write.
//
// A listing after a start-after object name is served one directory level
// at a time (see listRanges), so that no server walks objects at or before
// the start-after name on its way to it.
func (s *Store) List(ctx context.Context, opts sdk.ListOptions) (sdk.Page, error) {
	if err := s.check(ctx); err != nil {
		return sdk.Page{}, err
	}
	ranges := listRanges(s.objPrefix+opts.Prefix, s.listStartAfter(opts.StartAfter))
	var page sdk.Page
	requests := 0
	for ri, r := range ranges {
		in := &s3.ListObjectsV2Input{
			Bucket: aws.String(s.cfg.bucket),
			Prefix: aws.String(r.prefix),
		}
		if r.startAfter != "" {
			in.StartAfter = aws.String(r.startAfter)
		}
		more := false
		for ; requests < maxListRequests+len(ranges); requests++ {
			// One more than needed: a server may count the start-after
			// object itself against MaxKeys.
			in.MaxKeys = aws.Int32(int32(opts.Limit - len(page.Entries) + 1))
			out, err := s.listObjects(ctx, in, opts.Prefix)
			if err != nil {
				return sdk.Page{}, err
			}
			for _, o := range out.Contents {
				k, ok := s.keyOf(aws.ToString(o.Key))
				if !ok || aws.ToInt64(o.Size) < headerLen {
					continue // not a key, or a tombstone
				}
				if opts.StartAfter != "" && k <= opts.StartAfter {
					continue // see listStartAfter
				}
				if n := len(page.Entries); n > 0 && k <= page.Entries[n-1].Key {
					return sdk.Page{}, sdk.Errorf(sdk.ErrUnavailable, "list of %q: %s listed key %q after %q, out of order", opts.Prefix, s.where(), k, page.Entries[n-1].Key)
				}
				if len(page.Entries) == opts.Limit {
					more = true // the page is full; k comes next
					break
				}
				ver, err := s.version(k, aws.ToString(o.ETag))
				if err != nil {
					return sdk.Page{}, err
				}
				page.Entries = append(page.Entries, sdk.Entry{Key: k, Version: ver})
			}
			more = more || aws.ToBool(out.IsTruncated)
			tok := aws.ToString(out.NextContinuationToken)
			if !aws.ToBool(out.IsTruncated) || len(page.Entries) >= opts.Limit || tok == "" {
				break // a server that truncates without a token: let the caller continue
			}
			in.ContinuationToken = aws.String(tok)
		}
		if len(page.Entries) >= opts.Limit || more {
			page.More = more || ri < len(ranges)-1
			break
		}
	}
	if opts.WithValues && len(page.Entries) > 0 {
		entries, err := s.fetchValues(ctx, page.Entries)
		if err != nil {
			return sdk.Page{}, err
		}
		page.Entries = entries
	}
	return page, nil
}

// listObjects sends one ListObjectsV2 request, repeating it while a key's
// object in the answer has no ETag (a torn read, see tornRead).
func (s *Store) listObjects(ctx context.Context, in *s3.ListObjectsV2Input, prefix string) (*s3.ListObjectsV2Output, error) {
	for attempt := 1; ; attempt++ {
		out, err := call(ctx, s, func(ctx context.Context) (*s3.ListObjectsV2Output, error) {
			return s.client.ListObjectsV2(ctx, in)
		})
		if err != nil {
			return nil, s.mapErr(ctx, "list", prefix, err)
		}
		torn := ""
		for _, o := range out.Contents {
			if k, ok := s.keyOf(aws.ToString(o.Key)); ok && strings.Trim(aws.ToString(o.ETag), `"`) == "" {
				torn = k
				break
			}
		}
		if torn == "" {
			return out, nil
		}
		if err := s.tornWait(ctx, "list", torn, "no ETag", attempt); err != nil {
			return nil, err
		}
	}
}

// listRange is one ListObjectsV2 listing of List.
type listRange struct{ prefix, startAfter string }

// listRanges splits the listing of the object names under prefix after
// startAfter into listings that each start inside the directory of their
// start-after name: first the names after startAfter in its own directory
// (Prefix that directory), then, level by level up to prefix, the names after
// that directory's subtree in its parent (start-after <parent><dir>0: no
// name under <dir>/, nor <dir> followed by a byte below '/', sorts above it,
// and no key's name sorts between it and the names above the subtree, as '0'
// follows '/').
//
// A server that walks directories (MinIO) forwards to a start-after name one
// path segment at a time and, at each level above its directory, also walks
// the names that share the segment and sort before the next level (for
// start-after "a/-!": "a!", "a-b!", ..., everything in "a-/"). Those count
// against MaxKeys and are then dropped as not after start-after, so a page
// came back short and marked complete: the listing lost keys. Listed from
// the start-after name's own directory, no such name is on the way.
func listRanges(prefix, startAfter string) []listRange {
	if startAfter == "" {
		return []listRange{{prefix, ""}}
	}
	var out []listRange
	cur := startAfter
	for {
		i := strings.LastIndexByte(cur, '/')
		dir := cur[:i+1]
		if len(dir) <= len(prefix) || !strings.HasPrefix(dir, prefix) {
			return append(out, listRange{prefix, cur})
		}
		out = append(out, listRange{dir, cur})
		// dir = parent + seg + "/": continue after the subtree of seg.
		cur = dir[:len(dir)-1] + "0"
	}
}

// fetchValues reads every entry's value with bounded concurrency, drops the
// entries whose key is gone, and sets each remaining entry's version to the
// one read with its value.
func (s *Store) fetchValues(ctx context.Context, entries []sdk.Entry) ([]sdk.Entry, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	gone := make([]bool, len(entries))
	errs := make([]error, len(entries))
	sem := make(chan struct{}, s.cfg.maxConcurrency)
	var wg sync.WaitGroup
	for i := range entries {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		if v, ok := s.recent.Get(entries[i].Key, entries[i].Version); ok {
			// Listed at a version this process wrote: that write's value.
			entries[i].Value = v
			<-sem
			continue
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			v, ver, kind, err := s.get(ctx, entries[i].Key)
			switch {
			case errors.Is(err, sdk.ErrNotFound) || err == nil && kind == objTombstone:
				gone[i] = true
			case err != nil:
				errs[i] = err
				cancel()
			default:
				entries[i].Value, entries[i].Version = v, ver
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil && !errors.Is(err, context.Canceled) {
			return nil, err
		}
	}
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := entries[:0]
	for i, e := range entries {
		if !gone[i] {
			out = append(out, e)
		}
	}
	return out, nil
}
