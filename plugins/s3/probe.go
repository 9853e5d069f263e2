package s3

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/ALRubinger/aileron-store/sdk"
)

// unmatchableETag is an ETag no object has (the MD5 of our bodies is never
// all zeros in practice, and servers compare it as an opaque string).
const unmatchableETag = `"00000000000000000000000000000000"`

// probe checks, with a probe object under the prefix, that the bucket exists,
// the credentials may write and delete, and the server honours the
// conditional requests compare-and-swap relies on:
//
//  1. PutObject If-None-Match: *   creates the probe object;
//  2. PutObject If-None-Match: *   again must fail with 412;
//  3. PutObject If-Match: <other>  must fail with 412, and on a missing
//     object with 404 or 412 (not create it);
//  4. DeleteObject If-Match: <other> must fail with 412 and keep the object;
//     if the server ignores it (the object is gone), conditional deletes use
//     tombstones (conditional_delete=auto) or New fails (=native);
//  5. DeleteObject If-Match: <other> of a missing object: 404 or 412 lets
//     Delete use DeleteObject If-Match alone; 204 makes it write a tombstone
//     first (see Store.Delete);
//  6. DeleteObject removes the probe object.
//
// A server failing 2 or 3 would silently turn every compare-and-swap into a
// blind overwrite, so New refuses it instead of corrupting vaults later.
func (s *Store) probe(ctx context.Context) (err error) {
	var r [8]byte
	if _, err := rand.Read(r[:]); err != nil {
		return sdk.Errorf(sdk.ErrUnavailable, "reading random bytes: %v", err)
	}
	name := s.objPrefix + probeName + hex.EncodeToString(r[:])
	body, err := encodeValue(nil)
	if err != nil {
		return err
	}
	var etag string
	putName := func(name string, ifMatch, ifNoneMatch *string) error {
		out, err := call(ctx, s, func(ctx context.Context) (*s3.PutObjectOutput, error) {
			return s.client.PutObject(ctx, &s3.PutObjectInput{
				Bucket: aws.String(s.cfg.bucket), Key: aws.String(name),
				Body: bytes.NewReader(body), ContentLength: aws.Int64(int64(len(body))),
				IfMatch: ifMatch, IfNoneMatch: ifNoneMatch,
			})
		})
		if err == nil {
			etag = aws.ToString(out.ETag)
		}
		return err
	}
	put := func(ifMatch, ifNoneMatch *string) error { return putName(name, ifMatch, ifNoneMatch) }
	del := func(ifMatch *string) error {
		_, err := call(ctx, s, func(ctx context.Context) (*s3.DeleteObjectOutput, error) {
			return s.client.DeleteObject(ctx, &s3.DeleteObjectInput{
				Bucket: aws.String(s.cfg.bucket), Key: aws.String(name), IfMatch: ifMatch,
			})
		})
		return err
	}
	exists := func(name string) (bool, error) {
		_, err := call(ctx, s, func(ctx context.Context) (*s3.HeadObjectOutput, error) {
			return s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(s.cfg.bucket), Key: aws.String(name)})
		})
		if err == nil {
			return true, nil
		}
		if e := s.mapErr(ctx, "probe", name, err); errors.Is(e, sdk.ErrNotFound) {
			return false, nil
		}
		return false, s.probeErr(ctx, "HeadObject", name, err)
	}

	if err := put(nil, aws.String("*")); err != nil {
		return s.probeErr(ctx, "PutObject If-None-Match: *", name, err)
	}
	sum := md5.Sum(body)
	s.md5ETags = strings.EqualFold(strings.Trim(etag, `"`), hex.EncodeToString(sum[:]))
	defer func() {
		// Remove the probe object even when ctx has ended.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.timeout)
		defer cancel()
		_, derr := s.client.DeleteObject(cctx, &s3.DeleteObjectInput{Bucket: aws.String(s.cfg.bucket), Key: aws.String(name)})
		if derr != nil && err == nil {
			err = s.probeErr(ctx, "DeleteObject", name, derr)
		}
	}()

	unsupported := func(what string) error {
		return sdk.Errorf(sdk.ErrInvalidArgument, "config field %q: the S3 server at %s does not honour %s (probe object %q in bucket %q); aileron-store needs conditional writes for compare-and-swap and refuses to run without them", "endpoint", s.where(), what, name, s.cfg.bucket)
	}
	if err := put(nil, aws.String("*")); err == nil {
		return unsupported("If-None-Match: * on PutObject (an existing object was overwritten)")
	} else if !errors.Is(s.mapErr(ctx, "probe", name, err), sdk.ErrConflict) {
		return s.probeErr(ctx, "PutObject If-None-Match: *", name, err)
	}
	if err := put(aws.String(unmatchableETag), nil); err == nil {
		return unsupported("If-Match on PutObject (a write with a wrong ETag succeeded)")
	} else if !errors.Is(s.mapErr(ctx, "probe", name, err), sdk.ErrConflict) {
		return s.probeErr(ctx, "PutObject If-Match", name, err)
	}

	absent := name + "-absent"
	if err := putName(absent, aws.String(unmatchableETag), nil); err == nil {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.timeout)
		defer cancel()
		_, _ = s.client.DeleteObject(cctx, &s3.DeleteObjectInput{Bucket: aws.String(s.cfg.bucket), Key: aws.String(absent)})
		return unsupported("If-Match on PutObject of a missing object (the write created it, as MinIO before the fix of minio/minio#21526 and versitygw before versity/versitygw#1721 do)")
	} else if e := s.mapErr(ctx, "probe", absent, err); !errors.Is(e, sdk.ErrNotFound) && !errors.Is(e, sdk.ErrConflict) {
		return s.probeErr(ctx, "PutObject If-Match of a missing object", absent, err)
	}

	if s.cfg.deleteMode == deleteTombstone {
		s.delMode = delTombstone
		return nil
	}
	derr := del(aws.String(unmatchableETag))
	if derr != nil && !errors.Is(s.mapErr(ctx, "probe", name, derr), sdk.ErrConflict) && httpStatus(derr) != 501 {
		return s.probeErr(ctx, "DeleteObject If-Match", name, derr)
	}
	still, err := exists(name)
	if err != nil {
		return err
	}
	if derr == nil || !still {
		// If-Match on DeleteObject is ignored (or not implemented).
		if s.cfg.deleteMode == deleteNative {
			return unsupported("If-Match on DeleteObject (conditional_delete is native; set it to auto or tombstone)")
		}
		s.delMode = delTombstone
		return nil
	}
	// If-Match on DeleteObject is honoured. Does a missing object answer
	// 404 (or 412), or 204 like a successful delete?
	_, aerr := call(ctx, s, func(ctx context.Context) (*s3.DeleteObjectOutput, error) {
		return s.client.DeleteObject(ctx, &s3.DeleteObjectInput{
			Bucket: aws.String(s.cfg.bucket), Key: aws.String(absent), IfMatch: aws.String(unmatchableETag),
		})
	})
	switch e := s.mapErr(ctx, "probe", absent, aerr); {
	case aerr == nil:
		s.delMode = delTombThenDelete
	case errors.Is(e, sdk.ErrNotFound) || errors.Is(e, sdk.ErrConflict):
		s.delMode = delIfMatch
	default:
		return s.probeErr(ctx, "DeleteObject If-Match of a missing object", absent, aerr)
	}
	return nil
}

// probeErr reports a failed probe request in terms of the configuration.
func (s *Store) probeErr(ctx context.Context, what, name string, err error) error {
	e := s.mapErr(ctx, "probe", name, err)
	switch {
	case ctx.Err() != nil:
		return e
	case isCode(err, "NoSuchBucket"):
		return sdk.Errorf(sdk.ErrInvalidArgument, "config field %q: bucket %q does not exist at %s", "bucket", s.cfg.bucket, s.where())
	case errors.Is(e, sdk.ErrPermissionDenied):
		return fmt.Errorf("checking bucket %q at %s (%s of a probe object under prefix %q): %w", s.cfg.bucket, s.where(), what, s.cfg.prefix, e)
	}
	return fmt.Errorf("checking bucket %q at %s (%s of probe object %q): %w", s.cfg.bucket, s.where(), what, name, e)
}
