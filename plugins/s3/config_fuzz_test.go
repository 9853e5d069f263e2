package s3

import (
	"errors"
	"strings"
	"testing"

	"github.com/ALRubinger/aileron-store/sdk"
)

// FuzzConfigMap: any configuration map is accepted or refused with
// ErrInvalidArgument naming a field, and no error ever contains the secret
// access key. (ca_file is left out: it reads a file.)
func FuzzConfigMap(f *testing.F) {
	f.Add("aileron", "", "http://127.0.0.1:9000", "us-east-1", "true", "AKIA", "s3cr3t-value", "30s", "3", "8", "auto", "")
	f.Add("Bad_Bucket", "p/", "ftp://x", "", "maybe", "", "s3cr3t-value", "-1s", "x", "0", "never", "typo")
	f.Add("a", "//", "http://[::1]:9000/path?q", "r", "false", "k", "", "1h", "100", "1000", "always", "")
	f.Fuzz(func(t *testing.T, bucket, prefix, endpoint, region, pathStyle, akid, secret, timeout, retries, conc, delMode, extra string) {
		m := map[string]string{"bucket": bucket, "prefix": prefix, "endpoint": endpoint, "region": region,
			"path_style": pathStyle, "access_key_id": akid, "secret_access_key": secret, "timeout": timeout,
			"max_retries": retries, "max_concurrency": conc, "conditional_delete": delMode}
		for k, v := range m {
			if v == "" {
				delete(m, k)
			}
		}
		if extra != "" {
			m[extra] = "x"
		}
		_, err := parseConfig(m)
		if err == nil {
			return
		}
		if !errors.Is(err, sdk.ErrInvalidArgument) || !strings.Contains(err.Error(), "config field") {
			t.Fatalf("parseConfig: %v: want ErrInvalidArgument naming a field", err)
		}
		if len(secret) >= 6 && strings.Contains(err.Error(), secret) && !strings.Contains(strings.Join([]string{bucket, prefix, endpoint, region, pathStyle, akid, timeout, retries, conc, delMode, extra}, "\x00"), secret) {
			t.Fatalf("parseConfig error %q contains the secret access key", err)
		}
	})
}
