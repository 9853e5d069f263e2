package s3

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"

	"github.com/ALRubinger/aileron-store/sdk"
)

// isCode reports whether err is an S3 API error with the given code.
func isCode(err error, code string) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && ae.ErrorCode() == code
}

func httpStatus(err error) int {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// mapErr turns an error of an S3 call about key into an error wrapping one
// sdk sentinel (or the context's error). Messages name the operation, key,
// bucket and endpoint, and never carry credentials: for authentication
// failures only the S3 error code is kept, not the server's message.
func (s *Store) mapErr(ctx context.Context, op, key string, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("s3 %s of key %q: %w", op, key, cerr)
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return sdk.Errorf(sdk.ErrUnavailable, "s3 %s of key %q at %s: no answer within the timeout of %v", op, key, s.where(), s.cfg.timeout)
	}
	var cre *conflictRetryError
	if errors.As(err, &cre) {
		return sdk.Errorf(sdk.ErrUnavailable, "s3 %s of key %q at %s: %v", op, key, s.where(), cre)
	}
	status := httpStatus(err)
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		if status != 0 {
			return sdk.Errorf(sdk.ErrUnavailable, "s3 %s of key %q at %s: HTTP %d", op, key, s.where(), status)
		}
		return sdk.Errorf(sdk.ErrUnavailable, "s3 %s of key %q: cannot reach S3 endpoint %s: %v", op, key, s.where(), err)
	}
	code := ae.ErrorCode()
	switch code {
	case "NoSuchBucket":
		return sdk.Errorf(sdk.ErrUnavailable, "s3 %s of key %q: bucket %q does not exist at %s", op, key, s.cfg.bucket, s.where())
	case "NoSuchKey", "NotFound":
		return sdk.Errorf(sdk.ErrNotFound, "key %q", key)
	case "PreconditionFailed":
		return sdk.Errorf(sdk.ErrConflict, "s3 %s of key %q: precondition failed", op, key)
	case "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "AllAccessDisabled",
		"InvalidToken", "ExpiredToken", "TokenRefreshRequired", "AccountProblem", "InvalidSecurity",
		"XAdminUserNotFound": // versitygw's answer (404) to an unknown access key
		return sdk.Errorf(sdk.ErrPermissionDenied, "s3 %s of key %q in bucket %q at %s: %s (check access_key_id/secret_access_key or the default credential chain, and the bucket policy)", op, key, s.cfg.bucket, s.where(), code)
	case "EntityTooLarge", "KeyTooLongError":
		return sdk.Errorf(sdk.ErrInvalidArgument, "s3 %s of key %q at %s: %s", op, key, s.where(), code)
	}
	switch {
	case status == http.StatusNotFound:
		return sdk.Errorf(sdk.ErrNotFound, "key %q", key)
	case status == http.StatusPreconditionFailed:
		return sdk.Errorf(sdk.ErrConflict, "s3 %s of key %q: precondition failed (%s)", op, key, code)
	case status == http.StatusForbidden || status == http.StatusUnauthorized:
		return sdk.Errorf(sdk.ErrPermissionDenied, "s3 %s of key %q in bucket %q at %s: HTTP %d %s", op, key, s.cfg.bucket, s.where(), status, code)
	}
	return sdk.Errorf(sdk.ErrUnavailable, "s3 %s of key %q at %s: %s: %s", op, key, s.where(), code, truncate(ae.ErrorMessage(), 200))
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
