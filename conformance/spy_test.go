package conformance_test

import (
	"context"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/ALRubinger/aileron-store/conformance"
	"github.com/ALRubinger/aileron-store/sdk"
	"github.com/ALRubinger/aileron-store/sdk/memstore"
)

// The spy must see a watched string in every form a careless engine could
// write it, and report it without repeating it.
func TestSpyFindsLeaks(t *testing.T) {
	ctx := context.Background()
	secret := []byte("Top Secret Value 1234")
	name := []byte("Payroll Vault")
	cases := []struct {
		key      string
		value    []byte
		encoding string
	}{
		{"k/raw", append([]byte("prefix:"), secret...), "raw"},
		{"k/hex", []byte("x" + hex.EncodeToString(secret) + "y"), "hex"},
		{"k/b64-0", []byte(base64.StdEncoding.EncodeToString(append([]byte("ab"), secret...))), "base64"},
		{"k/b64-1", []byte(base64.StdEncoding.EncodeToString(append([]byte("a"), secret...))), "base64"},
		{"k/b64-2", []byte(base64.RawURLEncoding.EncodeToString(append([]byte("abc"), secret...))), "base64url"},
		{"k/b32", []byte(base32.StdEncoding.EncodeToString(append([]byte("abcd"), secret...))), "base32"},
		{"k/" + strings.ReplaceAll(strings.ToLower(string(name)), " ", "-"), []byte("clean"), ""},
		{"v/payroll vault", nil, ""}, // an invalid key still crossed the spy
	}
	for _, c := range cases {
		spy := conformance.NewSpy(memstore.New())
		spy.Put(ctx, c.key, c.value, sdk.None)
		leaks := spy.Find(map[string][]byte{"the secret": secret})
		if c.encoding == "" {
			if len(leaks) != 0 {
				t.Errorf("key %q: false positives %v", c.key, leaks)
			}
			continue
		}
		found := false
		for _, l := range leaks {
			if l.Encoding == c.encoding {
				found = true
			}
			if strings.Contains(l.String(), string(secret)) {
				t.Errorf("the leak report repeats the secret: %s", l)
			}
		}
		if !found {
			t.Errorf("key %q: the %s-encoded secret was not found (leaks: %v)", c.key, c.encoding, leaks)
		}
	}

	spy := conformance.NewSpy(memstore.New())
	spy.Get(ctx, "v/payroll vault")
	spy.List(ctx, sdk.ListOptions{Prefix: "payroll"})
	leaks := spy.Find(map[string][]byte{"the vault name": name})
	if len(leaks) != 1 || leaks[0].Encoding != "lower-case" || strings.Contains(leaks[0].String(), "payroll vault") {
		t.Errorf("a lower-cased vault name in a Get key: leaks %v, want one lower-case sighting, redacted", leaks)
	}
	if calls, keys, _ := spy.Stats(); calls != 2 || keys != 3 {
		t.Errorf("Stats = %d calls, %d keys, want 2 and 3", calls, keys)
	}
}
