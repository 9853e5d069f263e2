package s3

import (
	"crypto/x509"
	"errors"
	"net/url"
	"os"
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

// fields lists every configuration field New accepts.
var fields = []string{"bucket", "prefix", "region", "endpoint", "path_style", "access_key_id", "secret_access_key",
	"tls_insecure_skip_verify", "ca_file", "timeout", "max_retries", "max_concurrency", "conditional_delete"}

// parseConfig validates the configuration map. Its errors wrap
// sdk.ErrInvalidArgument, name the field at fault and never contain the value
// of a credential field.
func parseConfig(m map[string]string) (*config, error) {
	r := sdk.ReadConfig(m, fields...)
	c := &config{
		bucket:         r.Required("bucket"),
		prefix:         r.KeyPrefix("prefix", 256),
		region:         r.String("region", DefaultRegion),
		timeout:        r.Duration("timeout", DefaultTimeout, time.Nanosecond, 0),
		maxRetries:     r.Int("max_retries", DefaultMaxRetries, 0, maxMaxRetries),
		maxConcurrency: r.Int("max_concurrency", DefaultMaxConcurrency, 1, MaxMaxConcurrency),
		deleteMode:     r.Enum("conditional_delete", deleteAuto, deleteAuto, deleteNative, deleteTombstone),
		insecureTLS:    r.Bool("tls_insecure_skip_verify", false),
	}
	if err := r.Err(); err != nil {
		return nil, err
	}
	if err := validBucket(c.bucket); err != nil {
		return nil, err
	}
	if len(c.region) > 64 || strings.IndexFunc(c.region, func(c rune) bool {
		return !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-')
	}) >= 0 {
		return nil, sdk.ConfigError("region", "%q is not a region name (lower-case letters, digits and '-', such as us-east-1)", c.region)
	}

	if e := r.String("endpoint", ""); e != "" {
		u, err := url.Parse(e)
		if err != nil {
			return nil, sdk.ConfigError("endpoint", "is not a URL: %v", redactURLError(err))
		}
		if u.User != nil {
			return nil, sdk.ConfigError("endpoint", "must not carry credentials in the URL; use access_key_id and secret_access_key")
		}
		if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, sdk.ConfigError("endpoint", "%q is not an http:// or https:// URL with a host", e)
		}
		if u.RawQuery != "" || u.Fragment != "" {
			return nil, sdk.ConfigError("endpoint", "%s://%s must not have a query or fragment", u.Scheme, u.Host)
		}
		c.endpoint = strings.TrimSuffix(e, "/")
	}
	// S3-compatible servers addressed by endpoint (MinIO, versitygw, ...)
	// mostly want path-style requests.
	c.pathStyle = r.Bool("path_style", c.endpoint != "")

	id, secret := r.String("access_key_id", ""), r.String("secret_access_key", "")
	switch {
	case id != "" && secret == "":
		return nil, sdk.ConfigError("secret_access_key", "required when access_key_id is set (set both or neither; neither uses the default AWS credential chain)")
	case secret != "" && id == "":
		return nil, sdk.ConfigError("access_key_id", "required when secret_access_key is set (set both or neither; neither uses the default AWS credential chain)")
	case id != "":
		if !printableASCII(id) {
			return nil, sdk.ConfigError("access_key_id", "contains characters other than printable ASCII")
		}
		if !printableASCII(secret) {
			return nil, sdk.ConfigError("secret_access_key", "contains characters other than printable ASCII")
		}
		c.accessKeyID, c.secretAccessKey = id, secret
	}

	if f := r.String("ca_file", ""); f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, sdk.ConfigError("ca_file", "cannot read %q: %v", f, err)
		}
		if !x509.NewCertPool().AppendCertsFromPEM(b) {
			return nil, sdk.ConfigError("ca_file", "%q holds no PEM certificate", f)
		}
		c.caPEM, c.caFile = b, f
	}
	if (c.insecureTLS || c.caPEM != nil) && strings.HasPrefix(c.endpoint, "http://") {
		field := "ca_file"
		if c.insecureTLS {
			field = "tls_insecure_skip_verify"
		}
		return nil, sdk.ConfigError(field, "is set but endpoint %q is plain http", c.endpoint)
	}
	return c, r.Err()
}

// validBucket checks what addressing needs of a bucket name: 3 to 255
// characters of letters, digits, '.', '-' and '_' (current AWS rules are
// stricter: 3 to 63 lower-case characters; the looser legacy rules keep old
// us-east-1 buckets and other servers' names usable), starting and ending
// with a letter or digit. The server decides the rest.
func validBucket(b string) error {
	if b == "" {
		return sdk.ConfigError("bucket", "required")
	}
	if len(b) < 3 || len(b) > 255 {
		return sdk.ConfigError("bucket", "%q must be 3 to 255 characters long", b)
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if !(isAlnum(c) || c == '.' || c == '-' || c == '_') {
			if utf8.ValidString(b) {
				return sdk.ConfigError("bucket", "%q has the character %q (allowed: letters, digits, . - _)", b, c)
			}
			return sdk.ConfigError("bucket", "is not valid UTF-8")
		}
	}
	if !isAlnum(b[0]) || !isAlnum(b[len(b)-1]) {
		return sdk.ConfigError("bucket", "%q must start and end with a letter or digit", b)
	}
	if strings.Contains(b, "..") {
		return sdk.ConfigError("bucket", "%q must not contain \"..\"", b)
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

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
