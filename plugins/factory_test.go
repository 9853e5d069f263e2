// Package plugins_test holds the tests that every built-in plugin must pass
// the same way.
package plugins_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/ALRubinger/aileron-store/plugins/fs"
	"github.com/ALRubinger/aileron-store/plugins/gcs"
	"github.com/ALRubinger/aileron-store/plugins/postgres"
	"github.com/ALRubinger/aileron-store/plugins/s3"
	"github.com/ALRubinger/aileron-store/sdk"
)

// TestFactoriesReturnNilStoreOnError: a Factory that fails returns a nil
// sdk.Store, not a nil pointer inside a non-nil interface, whether it fails
// while reading its configuration or later, opening its backend.
func TestFactoriesReturnNilStoreOnError(t *testing.T) {
	file := filepath.Join(t.TempDir(), "a-file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	// 127.0.0.1:1 refuses connections: the backend cannot be reached.
	cases := []struct {
		name    string
		factory sdk.Factory
		config  map[string]string
		want    error
	}{
		{"fs unknown field", fs.New, map[string]string{"path": t.TempDir(), "bukket": "x"}, sdk.ErrInvalidArgument},
		{"fs path is a file", fs.New, map[string]string{"path": file}, nil},
		{"s3 unknown field", s3.New, map[string]string{"bucket": "abc", "bukket": "x"}, sdk.ErrInvalidArgument},
		{"s3 unreachable", s3.New, map[string]string{"bucket": "abc", "endpoint": "http://127.0.0.1:1", "access_key_id": "a", "secret_access_key": "b", "max_retries": "0", "timeout": "2s"}, sdk.ErrUnavailable},
		{"gcs unknown field", gcs.New, map[string]string{"bucket": "abc", "bukket": "x"}, sdk.ErrInvalidArgument},
		{"gcs unreachable", gcs.New, map[string]string{"bucket": "abc", "endpoint": "http://127.0.0.1:1", "max_retries": "0", "timeout": "2s"}, sdk.ErrUnavailable},
		{"postgres unknown field", postgres.New, map[string]string{"dsn": "postgres://u@127.0.0.1:1/db", "tabel": "x"}, sdk.ErrInvalidArgument},
		{"postgres unreachable", postgres.New, map[string]string{"dsn": "postgres://u@127.0.0.1:1/db?sslmode=disable", "connect_timeout": "2s"}, sdk.ErrUnavailable},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st, err := tc.factory(context.Background(), tc.config)
			if err == nil {
				st.Close()
				t.Fatalf("the factory accepted %v", tc.config)
			}
			if st != nil {
				t.Fatalf("the factory returned the store %#v (%T) with its error %v", st, st, err)
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want one wrapping %v", err, tc.want)
			}
		})
	}
}
