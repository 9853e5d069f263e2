// Package s3 is the aileron-store storage plugin for Amazon S3 and
// S3-compatible servers (MinIO, versitygw, ...), built on
// github.com/aws/aws-sdk-go-v2/service/s3. New is its sdk.Factory; the plugin
// binary is cmd/aileron-store-s3.
//
// # Configuration
//
//	bucket                    required; the bucket must exist
//	prefix                    optional key prefix (key characters, e.g. "prod/vaults");
//	                          objects live under <prefix>/. Stores sharing a bucket
//	                          must use prefixes where neither is a '/'-prefix of the other.
//	region                    default us-east-1
//	endpoint                  http(s)://host[:port] of an S3-compatible server; empty for AWS
//	path_style                "true"/"false"; default true when endpoint is set, else false
//	access_key_id             static credentials: both or neither. Neither uses the
//	secret_access_key         default AWS credential chain (environment, shared files,
//	                          SSO, web identity, instance role). Never logged or echoed.
//	tls_insecure_skip_verify  "true" disables certificate checks (https endpoints only)
//	ca_file                   PEM file of CA certificates for an https endpoint
//	timeout                   per-request timeout (including the SDK's retries), default 30s
//	max_retries               retries of a failed request by the AWS SDK, 0..20, default 3
//	max_concurrency           concurrent GETs of a List with values, 1..256, default 16
//	conditional_delete        auto (default), native or tombstone; see Conditional deletes
//
// Unknown fields and invalid values are errors wrapping sdk.ErrInvalidArgument
// that name the field and never contain a credential.
//
// # Configure-time checks
//
// New writes a probe object under the prefix with If-None-Match: *, writes it
// again with If-None-Match: * and with a wrong If-Match (both must fail with
// 412), writes a missing object with If-Match (must fail, not create it),
// tries DeleteObject with a wrong If-Match on the probe and on a missing
// object, and removes the probe. A server that ignores conditional PutObject
// is refused with an error naming "endpoint": on it every compare-and-swap
// would silently become a blind overwrite. A missing bucket is an error naming "bucket", refused
// credentials are sdk.ErrPermissionDenied, an unreachable endpoint is
// sdk.ErrUnavailable naming it.
//
// # Objects
//
// The object of key k is <prefix>/k! ('!' is not a key character). The suffix
// lets file-backed servers (versitygw's posix backend, MinIO on a single
// drive) hold both "a" and "a/b", which they store as a file and a directory,
// and it keeps object names in key order, so List is ListObjectsV2 itself.
// Objects under the prefix that are not of this form are ignored by List.
//
// S3 ETags are content hashes, so rewriting identical bytes would repeat the
// ETag and let a stale If-Match succeed (ABA). Every write therefore stores a
// 20-byte header in front of the value: "aS3", a kind byte and 16 random
// bytes. The random bytes make the ETag, and so the version, of every write
// unique; Get strips the header and reports an object without it as corrupt
// (sdk.ErrUnavailable naming the key). A version is the object's ETag without
// its quotes.
//
// # Compare-and-swap
//
// Put IfAbsent sends If-None-Match: *; Put IfVersion(v) and Delete
// IfVersion(v) send If-Match: "v". 412 Precondition Failed is sdk.ErrConflict,
// unless a HEAD shows that the key does not exist (sdk.ErrNotFound); 404 under
// If-Match is sdk.ErrNotFound; 409 ConditionalRequestConflict (a concurrent
// conditional write) is retried up to 5 times, then sdk.ErrUnavailable. An
// unconditional Delete of a missing key returns nil.
//
// # Conditional deletes
//
// S3 servers differ on If-Match for DeleteObject, so New's probe picks one of
// three ways (conditional_delete=auto):
//
//   - AWS S3 honours it and answers 404 for a missing key: Delete IfVersion
//     is one DeleteObject with If-Match.
//   - versitygw honours it but answers 204 for a missing key, so success
//     cannot tell "deleted" from "was already gone": Delete IfVersion first
//     replaces the object, with PutObject If-Match (which does answer 404),
//     by a 16-byte tombstone, then deletes the tombstone with If-Match on its
//     own ETag.
//   - MinIO ignores it (deletes unconditionally): Delete IfVersion only
//     writes the tombstone with PutObject If-Match. Get and List treat a
//     tombstone as a missing key, Put IfAbsent replaces it (with If-Match on
//     its ETag), and the next unconditional Delete removes it.
//     conditional_delete=tombstone forces this way; =native makes New fail on
//     such a server instead.
//
// # List
//
// List is one ListObjectsV2 request with Prefix, StartAfter and MaxKeys set
// from the options (more, following the continuation token, only to skip
// objects that are not keys). With values, the listed keys are read with up
// to max_concurrency concurrent GetObject requests; a key deleted between the
// listing and its read is left out of the page, and each entry carries the
// version read with its value. A key listed at an ETag that this process's
// own last write of it returned is not read: the Store keeps the values it
// wrote last (up to 8 MiB and 65,536 writes) and serves that write's value,
// as every write's random header makes its ETag unique. A sweep after a
// revoke lists the new copies it wrote for earlier pages; on versitygw this
// saves about one read in nine of its requests. Capabilities: MaxValueSize sdk.MaxValueSize,
// NativeListValues false.
package s3
