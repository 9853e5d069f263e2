package s3

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ALRubinger/aileron-store/sdk"
)

const testSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYSECRETKEY"

func TestParseConfigDefaults(t *testing.T) {
	// An empty field is an absent one (sdk.ConfigReader): its default.
	c, err := parseConfig(map[string]string{"bucket": "my-bucket", "region": "", "timeout": ""})
	if err != nil {
		t.Fatal(err)
	}
	if c.region != DefaultRegion || c.timeout != DefaultTimeout || c.maxRetries != DefaultMaxRetries ||
		c.maxConcurrency != DefaultMaxConcurrency || c.pathStyle || c.prefix != "" || c.endpoint != "" ||
		c.accessKeyID != "" || c.deleteMode != deleteAuto {
		t.Fatalf("defaults: %+v", c)
	}
	c, err = parseConfig(map[string]string{
		"bucket": "my-bucket", "prefix": "team/vaults/", "region": "eu-west-3",
		"endpoint": "https://s3.example.com:9000/", "access_key_id": "AKIDEXAMPLE",
		"secret_access_key": testSecret, "timeout": "5s", "max_retries": "0",
		"max_concurrency": "64", "tls_insecure_skip_verify": "true", "conditional_delete": "tombstone",
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.prefix != "team/vaults" || c.region != "eu-west-3" || c.endpoint != "https://s3.example.com:9000" ||
		!c.pathStyle || c.accessKeyID != "AKIDEXAMPLE" || c.secretAccessKey != testSecret ||
		c.timeout != 5*time.Second || c.maxRetries != 0 || c.maxConcurrency != 64 || !c.insecureTLS ||
		c.deleteMode != deleteTombstone {
		t.Fatalf("parsed: %+v", c)
	}
	// Legacy bucket names are accepted.
	if _, err := parseConfig(map[string]string{"bucket": "Legacy_Bucket.2009"}); err != nil {
		t.Fatal(err)
	}
	// path_style defaults to true with an endpoint but can be turned off.
	c, err = parseConfig(map[string]string{"bucket": "my-bucket", "endpoint": "http://127.0.0.1:9000", "path_style": "false"})
	if err != nil || c.pathStyle {
		t.Fatalf("path_style=false with endpoint: %+v, %v", c, err)
	}
}

func TestParseConfigFieldErrors(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := func(kv ...string) map[string]string {
		m := map[string]string{"bucket": "my-bucket"}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	cases := []struct {
		name  string
		cfg   map[string]string
		field string
	}{
		{"empty config", map[string]string{}, "bucket"},
		{"empty bucket", map[string]string{"bucket": ""}, "bucket"},
		{"short bucket", map[string]string{"bucket": "ab"}, "bucket"},
		{"long bucket", map[string]string{"bucket": strings.Repeat("b", 256)}, "bucket"},
		{"bucket with space", map[string]string{"bucket": "my bucket"}, "bucket"},
		{"bucket not UTF-8", map[string]string{"bucket": "my\xffbucket"}, "bucket"},
		{"bucket with slash", map[string]string{"bucket": "my/bucket"}, "bucket"},
		{"bucket ends with dash", map[string]string{"bucket": "bucket-"}, "bucket"},
		{"bucket with ..", map[string]string{"bucket": "my..bucket"}, "bucket"},
		{"unknown field", base("bukket", "x"), "bukket"},
		{"unknown field among many", base("region", "us-east-1", "acces_key_id", "x"), "acces_key_id"},
		{"prefix upper-case", base("prefix", "Team"), "prefix"},
		{"prefix leading slash", base("prefix", "/team"), "prefix"},
		{"prefix double slash", base("prefix", "a//b"), "prefix"},
		{"prefix dot-dot", base("prefix", "a/../b"), "prefix"},
		{"prefix too long", base("prefix", strings.Repeat("a/", 200)+"a"), "prefix"},
		{"region bad", base("region", "US East"), "region"},
		{"endpoint no scheme", base("endpoint", "127.0.0.1:9000"), "endpoint"},
		{"endpoint ftp", base("endpoint", "ftp://host"), "endpoint"},
		{"endpoint no host", base("endpoint", "http://"), "endpoint"},
		{"endpoint query", base("endpoint", "http://host/?a=b"), "endpoint"},
		{"endpoint with credentials", base("endpoint", "http://user:"+testSecret+"@host"), "endpoint"},
		{"endpoint unparsable", base("endpoint", "http://host:port\x7f"+testSecret), "endpoint"},
		{"path_style bad", base("path_style", "yes"), "path_style"},
		{"access key without secret", base("access_key_id", "AKID"), "secret_access_key"},
		{"secret without access key", base("secret_access_key", testSecret), "access_key_id"},
		{"access key not printable", base("access_key_id", "AK ID", "secret_access_key", testSecret), "access_key_id"},
		{"secret not printable", base("access_key_id", "AKID", "secret_access_key", testSecret+"\n"), "secret_access_key"},
		{"tls_insecure_skip_verify bad", base("tls_insecure_skip_verify", "1"), "tls_insecure_skip_verify"},
		{"tls_insecure_skip_verify with http", base("endpoint", "http://host", "tls_insecure_skip_verify", "true"), "tls_insecure_skip_verify"},
		{"ca_file missing", base("ca_file", filepath.Join(dir, "nope.pem")), "ca_file"},
		{"ca_file not PEM", base("ca_file", notPEM), "ca_file"},
		{"timeout bad", base("timeout", "ten"), "timeout"},
		{"timeout zero", base("timeout", "0s"), "timeout"},
		{"timeout negative", base("timeout", "-1s"), "timeout"},
		{"max_retries negative", base("max_retries", "-1"), "max_retries"},
		{"max_retries huge", base("max_retries", "1000"), "max_retries"},
		{"max_retries not int", base("max_retries", "3x"), "max_retries"},
		{"max_concurrency zero", base("max_concurrency", "0"), "max_concurrency"},
		{"max_concurrency huge", base("max_concurrency", "100000"), "max_concurrency"},
		{"conditional_delete bad", base("conditional_delete", "never"), "conditional_delete"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseConfig(tc.cfg)
			if !errors.Is(err, sdk.ErrInvalidArgument) {
				t.Fatalf("err = %v, want ErrInvalidArgument", err)
			}
			if want := `config field "` + tc.field + `"`; !strings.Contains(err.Error(), want) {
				t.Fatalf("err = %q, want it to name %s", err, want)
			}
			if strings.Contains(err.Error(), testSecret) {
				t.Fatalf("err = %q echoes the secret", err)
			}
			// New reports the same error without contacting anything.
			_, nerr := New(context.Background(), tc.cfg)
			if nerr == nil || nerr.Error() != err.Error() {
				t.Fatalf("New: %v, want %v", nerr, err)
			}
		})
	}
}

func TestCapabilities(t *testing.T) {
	var s Store
	c := s.Capabilities()
	if c.MaxValueSize != sdk.MaxValueSize || c.NativeListValues {
		t.Fatalf("capabilities %+v", c)
	}
}

func TestObjectNameOrder(t *testing.T) {
	// Object names sort like keys (see nameSuffix).
	keys := []string{"a", "a-b", "a.b", "a/b", "a/b/c", "a0", "a_b", "aa", "b", "z/z", "-", "_"}
	s := &Store{objPrefix: "p/"}
	for _, x := range keys {
		for _, y := range keys {
			if (x < y) != (s.objectName(x) < s.objectName(y)) {
				t.Errorf("keys %q < %q is %v but object names %q < %q is not", x, y, x < y, s.objectName(x), s.objectName(y))
			}
		}
		if k, ok := s.keyOf(s.objectName(x)); !ok || k != x {
			t.Errorf("keyOf(objectName(%q)) = %q, %v", x, k, ok)
		}
		// listStartAfter is exact for key-character strings.
		for _, y := range keys {
			if (y > x) != (s.objectName(y) > s.listStartAfter(x)) {
				t.Errorf("key %q > start-after %q is %v, object name %q > %q is not", y, x, y > x, s.objectName(y), s.listStartAfter(x))
			}
		}
	}
	for _, name := range []string{"p/" + probeName + "00", "p/a", "q/a!", "p/A!", "p/a//b!", "p/!", "p/a!b!"} {
		if k, ok := s.keyOf(name); ok {
			t.Errorf("keyOf(%q) = %q, want not a key", name, k)
		}
	}
	// A start-after with non-key bytes yields a lower bound.
	// A start-after with non-key bytes yields a bound: exact where the odd
	// byte is <= '!' or > 'z'.
	for _, after := range []string{"a\x00", "a\x20", "a!", "A", "a~", "a/b\xff", "a\x7f", "a{", "\xff", "a/\x00", "aB", "a:"} {
		lb := s.listStartAfter(after)
		c := after[strings.IndexFunc(after, func(r rune) bool { return r != '/' && (r > 0x7f || !sdk.KeyByte(byte(r))) })]
		exact := c <= '!' || c > 'z'
		for _, y := range keys {
			if y > after && s.objectName(y) <= lb {
				t.Errorf("start-after %q: bound %q would skip key %q", after, lb, y)
			}
			if exact && y <= after && s.objectName(y) > lb {
				t.Errorf("start-after %q: exact bound %q would list key %q", after, lb, y)
			}
		}
	}
}

func TestBodyEncoding(t *testing.T) {
	for _, v := range [][]byte{nil, {}, []byte("x"), make([]byte, sdk.MaxValueSize)} {
		b1, err := encodeValue(v)
		if err != nil {
			t.Fatal(err)
		}
		b2, _ := encodeValue(v)
		if string(b1) == string(b2) {
			t.Fatalf("two encodings of a %d-byte value are identical", len(v))
		}
		kind, got := decode(b1)
		if kind != objValue || string(got) != string(v) {
			t.Fatalf("decode: kind %v, %d bytes, want value of %d", kind, len(got), len(v))
		}
	}
	tomb, _ := encodeTombstone()
	if kind, _ := decode(tomb); kind != objTombstone || len(tomb) >= headerLen {
		t.Fatalf("tombstone: kind %v len %d", kind, len(tomb))
	}
	for _, b := range [][]byte{nil, []byte("aS3"), []byte("hello world, not ours!"), append([]byte("aS3\x03"), make([]byte, 16)...), tomb[:15]} {
		if kind, _ := decode(b); kind != objCorrupt {
			t.Errorf("decode(%q) = %v, want corrupt", b, kind)
		}
	}
}
