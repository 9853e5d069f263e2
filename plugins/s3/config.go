package s3

import (
	"crypto/x509"
	"errors"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ALRubinger/aileron-store/sdk"
)

// Defaults of the optional configuration fields.
const (
	DefaultRegion         = "us-east-1"
	DefaultTimeout        = 30 * time.Second
	DefaultMaxRetries     = 3
	DefaultMaxConcurrency = 16
	// MaxMaxConcurrency bounds max_concurrency.
	MaxMaxConcurrency = 256
	// maxMaxRetries bounds max_retries.
	maxMaxRetries = 20
)

// Conditional-delete modes (config field conditional_delete).
const (
	deleteAuto      = "auto"
	deleteNative    = "native"
	deleteTombstone = "tombstone"
)

// config is the validated configuration of a Store.
type config struct {
	bucket          string
	prefix          string // without trailing '/'; "" for the whole bucket
	region          string
	endpoint        string // "" for AWS
	pathStyle       bool
	accessKeyID     string
	secretAccessKey string
	insecureTLS     bool
	caPEM           []byte
	caFile          string
	timeout         time.Duration
	maxRetries      int
	maxConcurrency  int
	deleteMode      string
}

// knownFields lists every configuration field New accepts.
var knownFields = map[string]bool{
	"bucket":                   true,
	"prefix":                   true,
	"region":                   true,
	"endpoint":                 true,
	"path_style":               true,
	"access_key_id":            true,
	"secret_access_key":        true,
	"tls_insecure_skip_verify": true,
	"ca_file":                  true,
	"timeout":                  true,
	"max_retries":              true,
	"max_concurrency":          true,
	"conditional_delete":       true,
}

func fieldErr(field, format string, args ...any) error {
	return sdk.Errorf(sdk.ErrInvalidArgument, "config field %q: "+format, append([]any{field}, args...)...)
}

// parseConfig validates the configuration map. Its errors wrap
// sdk.ErrInvalidArgument, name the field at fault and never contain the value
// of a credential field.
func parseConfig(m map[string]string) (*config, error) {
	// Unknown fields first, in a stable order, so a typo is reported as such.
	var unknown []string
	for k := range m {
		if !knownFields[k] {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, fieldErr(unknown[0], "unknown field (known: bucket, prefix, region, endpoint, path_style, access_key_id, secret_access_key, tls_insecure_skip_verify, ca_file, timeout, max_retries, max_concurrency, conditional_delete)")
	}
	c := &config{
		region:         DefaultRegion,
		timeout:        DefaultTimeout,
		maxRetries:     DefaultMaxRetries,
		maxConcurrency: DefaultMaxConcurrency,
		deleteMode:     deleteAuto,
	}

	c.bucket = m["bucket"]
	if err := validBucket(c.bucket); err != nil {
		return nil, err
	}

	if p, ok := m["prefix"]; ok && p != "" {
		p = strings.TrimSuffix(p, "/")
		if err := sdk.ValidateKey(p); err != nil {
			return nil, fieldErr("prefix", "%q is not a valid key prefix (lower-case a-z 0-9 - _ . segments joined by '/'): %v", m["prefix"], err)
		}
		if len(p) > 256 {
			return nil, fieldErr("prefix", "is %d bytes, more than the maximum of 256", len(p))
		}
		c.prefix = p
	}

	if r, ok := m["region"]; ok {
		if r == "" || len(r) > 64 || strings.IndexFunc(r, func(c rune) bool {
			return !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-')
		}) >= 0 {
			return nil, fieldErr("region", "%q is not a region name (lower-case letters, digits and '-', such as us-east-1)", r)
		}
		c.region = r
	}

	if e, ok := m["endpoint"]; ok && e != "" {
		u, err := url.Parse(e)
		if err != nil {
			return nil, fieldErr("endpoint", "is not a URL: %v", redactURLError(err))
		}
		if u.User != nil {
			return nil, fieldErr("endpoint", "must not carry credentials in the URL; use access_key_id and secret_access_key")
		}
		if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fieldErr("endpoint", "%q is not an http:// or https:// URL with a host", e)
		}
		if u.RawQuery != "" || u.Fragment != "" {
			return nil, fieldErr("endpoint", "%s://%s must not have a query or fragment", u.Scheme, u.Host)
		}
		c.endpoint = strings.TrimSuffix(e, "/")
		// S3-compatible servers addressed by endpoint (MinIO, versitygw, ...)
		// mostly want path-style requests.
		c.pathStyle = true
	}

	var err error
	if c.pathStyle, err = parseBool(m, "path_style", c.pathStyle); err != nil {
		return nil, err
	}

	id, hasID := m["access_key_id"]
	secret, hasSecret := m["secret_access_key"]
	hasID = hasID && id != ""
	hasSecret = hasSecret && secret != ""
	switch {
	case hasID && !hasSecret:
		return nil, fieldErr("secret_access_key", "required when access_key_id is set (set both or neither; neither uses the default AWS credential chain)")
	case hasSecret && !hasID:
		return nil, fieldErr("access_key_id", "required when secret_access_key is set (set both or neither; neither uses the default AWS credential chain)")
	case hasID:
		if !printableASCII(id) {
			return nil, fieldErr("access_key_id", "contains characters other than printable ASCII")
		}
		if !printableASCII(secret) {
			return nil, fieldErr("secret_access_key", "contains characters other than printable ASCII")
		}
		c.accessKeyID, c.secretAccessKey = id, secret
	}

	if c.insecureTLS, err = parseBool(m, "tls_insecure_skip_verify", false); err != nil {
		return nil, err
	}
	if f, ok := m["ca_file"]; ok && f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fieldErr("ca_file", "cannot read %q: %v", f, err)
		}
		if !x509.NewCertPool().AppendCertsFromPEM(b) {
			return nil, fieldErr("ca_file", "%q holds no PEM certificate", f)
		}
		c.caPEM, c.caFile = b, f
	}
	if (c.insecureTLS || c.caPEM != nil) && strings.HasPrefix(c.endpoint, "http://") {
		field := "ca_file"
		if c.insecureTLS {
			field = "tls_insecure_skip_verify"
		}
		return nil, fieldErr(field, "is set but endpoint %q is plain http", c.endpoint)
	}

	if v, ok := m["timeout"]; ok {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return nil, fieldErr("timeout", "%q is not a positive duration such as 30s or 2m", v)
		}
		c.timeout = d
	}
	if c.maxRetries, err = parseInt(m, "max_retries", c.maxRetries, 0, maxMaxRetries); err != nil {
		return nil, err
	}
	if c.maxConcurrency, err = parseInt(m, "max_concurrency", c.maxConcurrency, 1, MaxMaxConcurrency); err != nil {
		return nil, err
	}
	if v, ok := m["conditional_delete"]; ok {
		switch v {
		case deleteAuto, deleteNative, deleteTombstone:
			c.deleteMode = v
		default:
			return nil, fieldErr("conditional_delete", "%q is not one of auto, native, tombstone", v)
		}
	}
	return c, nil
}

// validBucket checks the S3 bucket naming rules that matter for addressing:
// 3 to 63 characters of lower-case letters, digits, '.' and '-', starting and
// ending with a letter or digit.
func validBucket(b string) error {
	if b == "" {
		return fieldErr("bucket", "required")
	}
	if len(b) < 3 || len(b) > 63 {
		return fieldErr("bucket", "%q must be 3 to 63 characters long", b)
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '-') {
			if utf8.ValidString(b) {
				return fieldErr("bucket", "%q has the character %q (allowed: a-z 0-9 . -)", b, c)
			}
			return fieldErr("bucket", "is not valid UTF-8")
		}
	}
	if !isAlnum(b[0]) || !isAlnum(b[len(b)-1]) {
		return fieldErr("bucket", "%q must start and end with a letter or digit", b)
	}
	if strings.Contains(b, "..") {
		return fieldErr("bucket", "%q must not contain \"..\"", b)
	}
	return nil
}

// redactURLError drops the URL text from a url.Parse error, which may hold
// credentials someone pasted into the endpoint.
func redactURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func isAlnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

func parseBool(m map[string]string, field string, def bool) (bool, error) {
	v, ok := m[field]
	if !ok || v == "" {
		return def, nil
	}
	switch v {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, fieldErr(field, "%q is not true or false", v)
}

func parseInt(m map[string]string, field string, def, min, max int) (int, error) {
	v, ok := m[field]
	if !ok || v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < min || n > max {
		return 0, fieldErr(field, "%q is not an integer in %d..%d", v, min, max)
	}
	return n, nil
}
