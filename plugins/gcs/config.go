package gcs

import (
	"encoding/json"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ALRubinger/aileron-store/sdk"
	"google.golang.org/api/option"
)

// Config keys accepted by New. Every other key is an error.
const (
	// KeyBucket names the bucket (required). The bucket must exist.
	KeyBucket = "bucket"
	// KeyPrefix is prepended to every key to form the object name, so that
	// several stores can share a bucket. A '/' is appended when missing.
	KeyPrefix = "prefix"
	// KeyCredentialsFile is the path of a JSON credentials file (service
	// account, authorized user, impersonated service account or external
	// account / workload identity federation). When empty, application
	// default credentials are used. Its content is never logged.
	KeyCredentialsFile = "credentials_file"
	// KeyEndpoint overrides the JSON API endpoint, for an emulator such as
	// fake-gcs-server ("http://127.0.0.1:4443") or a private endpoint
	// ("https://storage-xyz.p.googleapis.com"). The path defaults to
	// /storage/v1/. An http endpoint is used without authentication (no
	// credential is ever sent in plaintext); an https endpoint is
	// authenticated. When empty, STORAGE_EMULATOR_HOST is honoured the way
	// the Go client library honours it: the library then sends no
	// credentials at all, whatever the endpoint.
	KeyEndpoint = "endpoint"
	// KeyProject is the project ID, used only to create buckets (tests).
	KeyProject = "project"
	// KeyTimeout bounds each Store call including its retries, as a Go
	// duration ("30s"). Default DefaultTimeout.
	KeyTimeout = "timeout"
	// KeyMaxRetries is the number of retries after the first attempt of an
	// idempotent request that failed transiently (0 disables retries).
	// Default DefaultMaxRetries.
	KeyMaxRetries = "max_retries"
	// KeyMaxConcurrency bounds the concurrent object reads of one List with
	// values. Default DefaultMaxConcurrency.
	KeyMaxConcurrency = "max_concurrency"
)

// Defaults and bounds of the numeric config fields.
const (
	DefaultTimeout        = 30 * time.Second
	DefaultMaxRetries     = 3
	DefaultMaxConcurrency = 8
	maxMaxRetries         = 20
	maxMaxConcurrency     = 64
	maxTimeout            = 10 * time.Minute
)

// emulatorEnv is the environment variable the Go client library reads to
// talk to an emulator.
const emulatorEnv = "STORAGE_EMULATOR_HOST"

var knownKeys = []string{KeyBucket, KeyPrefix, KeyCredentialsFile, KeyEndpoint, KeyProject, KeyTimeout, KeyMaxRetries, KeyMaxConcurrency}

// config is the validated configuration.
type config struct {
	bucket          string
	prefix          string // "" or ends with '/'
	credentialsFile string
	credentialsType option.CredentialsType
	endpoint        string // JSON API endpoint URL ending in /storage/v1/, or "" for the default
	endpointShown   string // what errors name as the endpoint
	plaintext       bool   // endpoint is http: no authentication
	emulatorEnv     bool   // STORAGE_EMULATOR_HOST is set and no endpoint configured
	project         string
	timeout         time.Duration
	maxRetries      int
	maxConcurrency  int
}

// parseConfig validates m. It never reads the credentials file's content
// beyond its "type" field and never puts that content in an error.
func parseConfig(m map[string]string) (*config, error) {
	r := sdk.ReadConfig(m, knownKeys...)
	c := &config{
		timeout:        r.Duration(KeyTimeout, DefaultTimeout, time.Nanosecond, maxTimeout),
		maxRetries:     r.Int(KeyMaxRetries, DefaultMaxRetries, 0, maxMaxRetries),
		maxConcurrency: r.Int(KeyMaxConcurrency, DefaultMaxConcurrency, 1, maxMaxConcurrency),
		project:        r.String(KeyProject, ""),
	}
	bucket, prefix := r.Required(KeyBucket), r.String(KeyPrefix, "")
	endpoint, credentials := r.String(KeyEndpoint, ""), r.String(KeyCredentialsFile, "")
	if err := r.Err(); err != nil {
		return nil, err
	}
	var err error
	if c.bucket, err = parseBucket(bucket); err != nil {
		return nil, err
	}
	if c.prefix, err = parseObjectPrefix(prefix); err != nil {
		return nil, err
	}
	if p := c.project; p != strings.TrimSpace(p) || strings.ContainsAny(p, " /\t\r\n") {
		return nil, sdk.ConfigError(KeyProject, "%q is not a project ID", p)
	}
	if endpoint != "" {
		if c.endpoint, c.plaintext, err = parseEndpoint(KeyEndpoint, endpoint); err != nil {
			return nil, err
		}
		c.endpointShown = c.endpoint
	} else if env := os.Getenv(emulatorEnv); env != "" {
		// The client library turns STORAGE_EMULATOR_HOST into an
		// unauthenticated endpoint itself; we only name it in errors.
		ep, _, err := parseEndpoint(emulatorEnv, env)
		if err != nil {
			return nil, sdk.Errorf(sdk.ErrInvalidArgument, "environment variable %s: %v", emulatorEnv, err)
		}
		c.emulatorEnv = true
		c.plaintext = true
		c.endpointShown = ep
	} else {
		c.endpointShown = "https://storage.googleapis.com/storage/v1/"
	}
	if credentials != "" {
		if c.emulatorEnv {
			return nil, sdk.ConfigError(KeyCredentialsFile, "cannot be used while %s is set (the emulator takes no credentials)", emulatorEnv)
		}
		if c.plaintext {
			return nil, sdk.ConfigError(KeyCredentialsFile, "cannot be used with the http endpoint %s: credentials are never sent in plaintext", c.endpoint)
		}
		t, err := credentialsType(credentials)
		if err != nil {
			return nil, err
		}
		c.credentialsFile, c.credentialsType = credentials, t
	}
	return c, nil
}

// parseBucket checks a bucket name against the GCS naming rules (3-63
// characters, or up to 222 with dots; lower-case letters, digits, '-', '_',
// '.'; starting and ending with a letter or digit).
func parseBucket(b string) (string, error) {
	if len(b) < 3 || len(b) > 222 {
		return "", sdk.ConfigError(KeyBucket, "bucket name %q must be 3 to 222 characters", b)
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return "", sdk.ConfigError(KeyBucket, "bucket name %q has the character %q (allowed: a-z 0-9 - _ .)", b, c)
		}
	}
	first, last := b[0], b[len(b)-1]
	alnum := func(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }
	if !alnum(first) || !alnum(last) {
		return "", sdk.ConfigError(KeyBucket, "bucket name %q must start and end with a letter or digit", b)
	}
	for _, part := range strings.Split(b, ".") {
		if len(part) == 0 || len(part) > 63 {
			return "", sdk.ConfigError(KeyBucket, "bucket name %q has a dot-separated part that is empty or longer than 63 characters", b)
		}
	}
	return b, nil
}

// parseObjectPrefix checks the object-name prefix and appends '/'. It is
// stricter than GCS (which allows nearly any UTF-8): no control characters,
// no leading '/', no empty, "." or ".." segments, at most 512 bytes, so that
// the prefix plus any key stays within GCS's 1024-byte name limit.
func parseObjectPrefix(p string) (string, error) {
	if p == "" {
		return "", nil
	}
	if len(p) > 512 {
		return "", sdk.ConfigError(KeyPrefix, "%d bytes, more than 512", len(p))
	}
	if !utf8.ValidString(p) {
		return "", sdk.ConfigError(KeyPrefix, "%q is not valid UTF-8", p)
	}
	for _, r := range p {
		if r < 0x20 || r == 0x7f || r == '#' || r == '[' || r == ']' || r == '*' || r == '?' {
			return "", sdk.ConfigError(KeyPrefix, "%q has the character %q", p, r)
		}
	}
	trimmed := strings.TrimSuffix(p, "/")
	for _, seg := range strings.Split(trimmed, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return "", sdk.ConfigError(KeyPrefix, "%q has an empty, \".\" or \"..\" segment (leading, trailing-doubled or doubled '/')", p)
		}
	}
	return trimmed + "/", nil
}

// parseEndpoint turns "host:port", "http://host:port" or a full URL into the
// JSON API endpoint the client library expects ("scheme://host/storage/v1/").
func parseEndpoint(field, v string) (endpoint string, plaintext bool, err error) {
	raw := v
	if !strings.Contains(raw, "://") {
		raw = "http://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "", false, sdk.ConfigError(field, "%q is not a URL or host:port", v)
	}
	if u.User != nil {
		return "", false, sdk.ConfigError(field, "the endpoint must not carry user information")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return "", false, sdk.ConfigError(field, "%q must not have a query or fragment", v)
	}
	switch u.Scheme {
	case "http":
		plaintext = true
	case "https":
	default:
		return "", false, sdk.ConfigError(field, "%q: scheme must be http or https", v)
	}
	if _, port, err := net.SplitHostPort(u.Host); err == nil {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return "", false, sdk.ConfigError(field, "%q has an invalid port", v)
		}
	}
	path := strings.TrimSuffix(u.Path, "/")
	if path == "" {
		path = "/storage/v1"
	}
	u.Path = path + "/"
	return u.String(), plaintext, nil
}

// credentialsType reads only the "type" field of the JSON credentials file
// at path, so that the matching, type-specific loader of the client library
// is used (the library deprecates untyped loading). The file's bytes are
// cleared after parsing and never appear in an error.
func credentialsType(path string) (option.CredentialsType, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		// The *PathError names the path and the reason, not the content.
		return "", sdk.ConfigError(KeyCredentialsFile, "cannot read the credentials file: %v", err)
	}
	defer clear(b)
	var head struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(b, &head); err != nil {
		// json errors quote no content beyond a character; say only where.
		return "", sdk.ConfigError(KeyCredentialsFile, "file %q is not a JSON credentials file", path)
	}
	switch head.Type {
	case "service_account":
		return option.ServiceAccount, nil
	case "authorized_user":
		return option.AuthorizedUser, nil
	case "impersonated_service_account":
		return option.ImpersonatedServiceAccount, nil
	case "external_account":
		return option.ExternalAccount, nil
	case "":
		return "", sdk.ConfigError(KeyCredentialsFile, "file %q has no \"type\" field", path)
	default:
		return "", sdk.ConfigError(KeyCredentialsFile, "file %q has the unsupported credentials type %.40q (supported: service_account, authorized_user, impersonated_service_account, external_account)", path, head.Type)
	}
}
