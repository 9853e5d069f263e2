package fs_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ALRubinger/aileron-store/plugins/fs"
	"github.com/ALRubinger/aileron-store/sdk"
)

// FuzzDataFile: whatever bytes a data file holds (a disk error, another
// program, an attacker with the disk), Get and List either return the
// documented decoding ("ASF1", 16-byte version token, value) or an error
// wrapping ErrUnavailable that names the key; they never panic, and a
// later Put repairs the key.
func FuzzDataFile(f *testing.F) {
	f.Add([]byte("ASF1" + strings.Repeat("\x01", 16) + "value"))
	f.Add([]byte("ASF1" + strings.Repeat("\x02", 16)))
	f.Add([]byte("ASF1short"))
	f.Add([]byte("ASF2" + strings.Repeat("\x00", 20)))
	f.Add([]byte{})
	dir := f.TempDir()
	st, err := fs.Open(dir)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	ctx := context.Background()
	const key = "v/fuzz/r/k"
	file := filepath.Join(dir, "v+", "fuzz+", "r+", "k")
	f.Fuzz(func(t *testing.T, data []byte) {
		if _, err := st.Put(ctx, key, []byte("x"), sdk.None); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(file); err != nil {
			t.Fatalf("the documented layout has no file %s: %v", file, err)
		}
		if err := os.WriteFile(file, data, 0o600); err != nil {
			t.Fatal(err)
		}
		valid := len(data) >= 20 && string(data[:4]) == "ASF1"
		v, ver, err := st.Get(ctx, key)
		if valid {
			if err != nil || !bytes.Equal(v, data[20:]) || string(ver) != hex.EncodeToString(data[4:20]) {
				t.Fatalf("Get of a well-formed file: %q %q %v", v, ver, err)
			}
		} else if err == nil || !errors.Is(err, sdk.ErrUnavailable) || !strings.Contains(err.Error(), key) {
			t.Fatalf("Get of a corrupt file: %q, %v; want ErrUnavailable naming %q", v, err, key)
		}
		page, err := sdk.Checked(st).List(ctx, sdk.ListOptions{Prefix: "v/fuzz/", WithValues: true})
		if valid {
			if err != nil || len(page.Entries) != 1 || !bytes.Equal(page.Entries[0].Value, data[20:]) {
				t.Fatalf("List of a well-formed file: %+v, %v", page, err)
			}
		} else if err != nil && !errors.Is(err, sdk.ErrUnavailable) {
			t.Fatalf("List of a corrupt file: %v, want ErrUnavailable", err)
		}
		if _, err := st.Put(ctx, key, []byte("repaired"), sdk.None); err != nil {
			t.Fatalf("Put over a corrupt file: %v", err)
		}
		if v, _, err := st.Get(ctx, key); err != nil || string(v) != "repaired" {
			t.Fatalf("after the repair: %q, %v", v, err)
		}
	})
}
