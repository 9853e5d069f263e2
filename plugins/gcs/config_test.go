package gcs

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ALRubinger/aileron-store/sdk"
	"google.golang.org/api/option"
)

func TestParseConfigValid(t *testing.T) {
	t.Setenv(emulatorEnv, "")
	c, err := parseConfig(map[string]string{
		KeyBucket:         "my-bucket.example",
		KeyPrefix:         "team-a/Prod",
		KeyEndpoint:       "127.0.0.1:4443",
		KeyProject:        "my-project-1",
		KeyTimeout:        "5s",
		KeyMaxRetries:     "0",
		KeyMaxConcurrency: "3",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := config{
		bucket: "my-bucket.example", prefix: "team-a/Prod/", endpoint: "http://127.0.0.1:4443/storage/v1/",
		endpointShown: "http://127.0.0.1:4443/storage/v1/", plaintext: true, project: "my-project-1",
		timeout: 5 * time.Second, maxRetries: 0, maxConcurrency: 3,
	}
	if *c != want {
		t.Fatalf("config = %+v, want %+v", *c, want)
	}

	// An empty field is an absent one (sdk.ConfigReader): its default.
	c, err = parseConfig(map[string]string{KeyBucket: "abc", KeyEndpoint: "", KeyCredentialsFile: "", KeyTimeout: ""})
	if err != nil {
		t.Fatal(err)
	}
	if c.timeout != DefaultTimeout || c.maxRetries != DefaultMaxRetries || c.maxConcurrency != DefaultMaxConcurrency || c.prefix != "" || c.endpoint != "" || c.plaintext {
		t.Fatalf("defaults: %+v", *c)
	}
	if c.endpointShown != "https://storage.googleapis.com/storage/v1/" {
		t.Fatalf("default endpoint shown as %q", c.endpointShown)
	}
}

func TestParseEndpointForms(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1:4443":                         "http://127.0.0.1:4443/storage/v1/",
		"http://127.0.0.1:4443":                  "http://127.0.0.1:4443/storage/v1/",
		"http://127.0.0.1:4443/":                 "http://127.0.0.1:4443/storage/v1/",
		"http://127.0.0.1:4443/storage/v1":       "http://127.0.0.1:4443/storage/v1/",
		"http://127.0.0.1:4443/storage/v1/":      "http://127.0.0.1:4443/storage/v1/",
		"https://storage-x.p.googleapis.com":     "https://storage-x.p.googleapis.com/storage/v1/",
		"https://storage-x.p.googleapis.com/x/y": "https://storage-x.p.googleapis.com/x/y/",
	} {
		got, _, err := parseEndpoint(KeyEndpoint, in)
		if err != nil || got != want {
			t.Errorf("parseEndpoint(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestParseConfigSTORAGE_EMULATOR_HOST(t *testing.T) {
	t.Setenv(emulatorEnv, "127.0.0.1:9999")
	c, err := parseConfig(map[string]string{KeyBucket: "abc"})
	if err != nil {
		t.Fatal(err)
	}
	if !c.emulatorEnv || !c.plaintext || c.endpoint != "" || c.endpointShown != "http://127.0.0.1:9999/storage/v1/" {
		t.Fatalf("emulator env not honoured: %+v", *c)
	}
	// An explicit endpoint wins over the environment.
	c, err = parseConfig(map[string]string{KeyBucket: "abc", KeyEndpoint: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	if c.emulatorEnv || c.endpoint != "http://127.0.0.1:1/storage/v1/" {
		t.Fatalf("endpoint should win: %+v", *c)
	}
	creds := writeCreds(t, `{"type":"service_account","private_key":"SECRET-MATERIAL"}`)
	_, err = parseConfig(map[string]string{KeyBucket: "abc", KeyCredentialsFile: creds})
	wantFieldErr(t, err, KeyCredentialsFile, emulatorEnv)
	t.Setenv(emulatorEnv, "ftp://x")
	_, err = parseConfig(map[string]string{KeyBucket: "abc"})
	if !errors.Is(err, sdk.ErrInvalidArgument) || !strings.Contains(err.Error(), emulatorEnv) {
		t.Fatalf("bad %s: %v", emulatorEnv, err)
	}
}

func writeCreds(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "creds.json")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func wantFieldErr(t *testing.T, err error, field string, contains ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("want an error naming config field %q, got nil", field)
	}
	if !errors.Is(err, sdk.ErrInvalidArgument) {
		t.Fatalf("error %q does not wrap ErrInvalidArgument", err)
	}
	if !strings.Contains(err.Error(), `config field "`+field+`"`) {
		t.Fatalf("error %q does not name config field %q", err, field)
	}
	for _, c := range contains {
		if !strings.Contains(err.Error(), c) {
			t.Fatalf("error %q does not contain %q", err, c)
		}
	}
	if strings.Contains(err.Error(), "SECRET-MATERIAL") {
		t.Fatalf("error %q leaks credential content", err)
	}
}

func TestParseConfigInvalid(t *testing.T) {
	t.Setenv(emulatorEnv, "")
	base := func(kv ...string) map[string]string {
		m := map[string]string{KeyBucket: "abc"}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	saCreds := writeCreds(t, `{"type":"service_account","private_key":"SECRET-MATERIAL","client_email":"x@y"}`)
	cases := []struct {
		name  string
		m     map[string]string
		field string
	}{
		{"unknown", base("buckett", "x"), "buckett"},
		{"unknown-region", base("region", "x"), "region"},
		{"bucket-missing", map[string]string{KeyPrefix: "p"}, KeyBucket},
		{"bucket-empty", map[string]string{KeyBucket: ""}, KeyBucket},
		{"bucket-short", base(KeyBucket, "ab"), KeyBucket},
		{"bucket-upper", base(KeyBucket, "MyBucket"), KeyBucket},
		{"bucket-slash", base(KeyBucket, "a/b/c"), KeyBucket},
		{"bucket-dash-end", base(KeyBucket, "abc-"), KeyBucket},
		{"bucket-long-part", base(KeyBucket, strings.Repeat("a", 64)), KeyBucket},
		{"bucket-empty-part", base(KeyBucket, "ab..cd"), KeyBucket},
		{"prefix-leading-slash", base(KeyPrefix, "/a"), KeyPrefix},
		{"prefix-double-slash", base(KeyPrefix, "a//b"), KeyPrefix},
		{"prefix-dotdot", base(KeyPrefix, "a/../b"), KeyPrefix},
		{"prefix-control", base(KeyPrefix, "a\nb"), KeyPrefix},
		{"prefix-wildcard", base(KeyPrefix, "a*"), KeyPrefix},
		{"prefix-long", base(KeyPrefix, strings.Repeat("a", 513)), KeyPrefix},
		{"prefix-utf8", base(KeyPrefix, "a\xff"), KeyPrefix},
		{"endpoint-scheme", base(KeyEndpoint, "ftp://127.0.0.1:1"), KeyEndpoint},
		{"endpoint-userinfo", base(KeyEndpoint, "http://u:SECRET-MATERIAL@127.0.0.1:1"), KeyEndpoint},
		{"endpoint-query", base(KeyEndpoint, "http://127.0.0.1:1/?a=b"), KeyEndpoint},
		{"endpoint-port", base(KeyEndpoint, "http://127.0.0.1:99999"), KeyEndpoint},
		{"endpoint-garbage", base(KeyEndpoint, "http://"), KeyEndpoint},
		{"project-space", base(KeyProject, "a b"), KeyProject},
		{"timeout-garbage", base(KeyTimeout, "soon"), KeyTimeout},
		{"timeout-zero", base(KeyTimeout, "0s"), KeyTimeout},
		{"timeout-negative", base(KeyTimeout, "-1s"), KeyTimeout},
		{"timeout-huge", base(KeyTimeout, "1h"), KeyTimeout},
		{"retries-garbage", base(KeyMaxRetries, "three"), KeyMaxRetries},
		{"retries-negative", base(KeyMaxRetries, "-1"), KeyMaxRetries},
		{"retries-huge", base(KeyMaxRetries, "21"), KeyMaxRetries},
		{"concurrency-zero", base(KeyMaxConcurrency, "0"), KeyMaxConcurrency},
		{"concurrency-huge", base(KeyMaxConcurrency, "65"), KeyMaxConcurrency},
		{"concurrency-garbage", base(KeyMaxConcurrency, "8x"), KeyMaxConcurrency},
		{"creds-missing-file", base(KeyCredentialsFile, filepath.Join(t.TempDir(), "nope.json")), KeyCredentialsFile},
		{"creds-not-json", base(KeyCredentialsFile, writeCreds(t, "SECRET-MATERIAL not json")), KeyCredentialsFile},
		{"creds-no-type", base(KeyCredentialsFile, writeCreds(t, `{"private_key":"SECRET-MATERIAL"}`)), KeyCredentialsFile},
		{"creds-bad-type", base(KeyCredentialsFile, writeCreds(t, `{"type":"gdch_service_account","private_key":"SECRET-MATERIAL"}`)), KeyCredentialsFile},
		{"creds-over-http", base(KeyCredentialsFile, saCreds, KeyEndpoint, "http://127.0.0.1:1"), KeyCredentialsFile},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseConfig(tc.m)
			wantFieldErr(t, err, tc.field)
		})
	}
}

func TestCredentialsTypes(t *testing.T) {
	t.Setenv(emulatorEnv, "")
	for typ, want := range map[string]option.CredentialsType{
		"service_account":              option.ServiceAccount,
		"authorized_user":              option.AuthorizedUser,
		"impersonated_service_account": option.ImpersonatedServiceAccount,
		"external_account":             option.ExternalAccount,
	} {
		p := writeCreds(t, `{"type":"`+typ+`","private_key":"SECRET-MATERIAL"}`)
		c, err := parseConfig(map[string]string{KeyBucket: "abc", KeyCredentialsFile: p})
		if err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
		if c.credentialsType != want || c.credentialsFile != p {
			t.Fatalf("%s: got %+v", typ, *c)
		}
	}
}

// New with a credentials file that holds a malformed key fails with an
// error naming the field and not the key material.
func TestNewBadCredentialsFileLeaksNothing(t *testing.T) {
	t.Setenv(emulatorEnv, "")
	p := writeCreds(t, `{"type":"service_account","private_key":"-----BEGIN PRIVATE KEY-----\nSECRET-MATERIAL\n-----END PRIVATE KEY-----\n","client_email":"a@b.iam.gserviceaccount.com","token_uri":"http://127.0.0.1:1/token"}`)
	ctx := t.Context()
	_, err := New(ctx, map[string]string{KeyBucket: "abc", KeyCredentialsFile: p, KeyTimeout: "3s", KeyMaxRetries: "0"})
	if err == nil {
		t.Fatal("New with an unusable credentials file succeeded")
	}
	if strings.Contains(err.Error(), "SECRET-MATERIAL") || strings.Contains(err.Error(), "PRIVATE KEY") {
		t.Fatalf("error leaks the credentials: %v", err)
	}
	if sdk.Kind(err) != sdk.ErrPermissionDenied || !strings.Contains(err.Error(), p) {
		t.Fatalf("want ErrPermissionDenied naming the file, got %v", err)
	}
	t.Logf("error: %v", err)
}
