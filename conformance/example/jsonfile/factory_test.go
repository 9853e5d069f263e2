package main

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/ALRubinger/aileron-store/sdk"
)

// New returns a nil Store with its error, whatever the error.
func TestNewReturnsNilStoreOnError(t *testing.T) {
	file := filepath.Join(t.TempDir(), "store.json")
	for name, cfg := range map[string]map[string]string{
		"no file":       {},
		"unknown field": {"file": file, "fil": "x"},
		"bad prefix":    {"file": file, "prefix": "Team"},
		"unusable file": {"file": "/dev/null/store.json"},
	} {
		st, err := New(context.Background(), cfg)
		if err == nil {
			st.Close()
			t.Fatalf("%s: New accepted %v", name, cfg)
		}
		if st != nil {
			t.Fatalf("%s: New returned the store %#v with its error %v", name, st, err)
		}
		if !errors.Is(err, sdk.ErrInvalidArgument) {
			t.Fatalf("%s: %v, want ErrInvalidArgument", name, err)
		}
	}
}
