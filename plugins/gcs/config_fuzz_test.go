package gcs

import (
	"errors"
	"strings"
	"testing"

	"github.com/ALRubinger/aileron-store/sdk"
)

// FuzzConfigMap: any configuration map (without credentials_file, which
// reads a file) is accepted or refused with ErrInvalidArgument naming a
// field; it never panics.
func FuzzConfigMap(f *testing.F) {
	f.Add("aileron-test", "tenant/a", "http://127.0.0.1:4443", "proj", "30s", "3", "8", "")
	f.Add("Bad..Bucket", "/x//", "https://storage.example:443/storage/v1/", "", "0s", "-1", "65", "credentials")
	f.Add("goog-bucket", "", "http://user:pw@127.0.0.1", "", "11m", "21", "x", "")
	f.Fuzz(func(t *testing.T, bucket, prefix, endpoint, project, timeout, retries, conc, extra string) {
		m := map[string]string{KeyBucket: bucket, KeyPrefix: prefix, KeyEndpoint: endpoint, KeyProject: project,
			KeyTimeout: timeout, KeyMaxRetries: retries, KeyMaxConcurrency: conc}
		for k, v := range m {
			if v == "" {
				delete(m, k)
			}
		}
		if extra != "" && extra != KeyCredentialsFile {
			m[extra] = "x"
		}
		_, err := parseConfig(m)
		if err == nil {
			return
		}
		if !errors.Is(err, sdk.ErrInvalidArgument) || !strings.Contains(err.Error(), "config field") {
			t.Fatalf("parseConfig: %v: want ErrInvalidArgument naming a field", err)
		}
	})
}
