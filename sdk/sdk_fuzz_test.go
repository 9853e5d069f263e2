package sdk

import (
	"encoding/json"
	"errors"
	"net"
	"strings"
	"testing"
)

// FuzzKeyLanguage: ValidateKey accepts exactly the documented key language
// (1..MaxKeyLen bytes of '/'-separated segments of 1..MaxSegmentLen bytes of
// a-z 0-9 - _ ., none "." or ".."), and refuses the rest with
// ErrInvalidArgument; ValidatePrefix accepts every valid key and every valid
// key followed by '/'.
func FuzzKeyLanguage(f *testing.F) {
	for _, s := range []string{"a", "v/0123/r/abc", "a//b", "/a", "a/", ".", "a/../b", "A", "a b", "a\x00", strings.Repeat("a", 129), strings.Repeat("a/", 300) + "a", "é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		err := ValidateKey(key)
		want := documentedKey(key)
		if (err == nil) != want {
			t.Fatalf("ValidateKey(%q) = %v, documented rules say valid=%v", key, err, want)
		}
		if err != nil && !errors.Is(err, ErrInvalidArgument) {
			t.Fatalf("ValidateKey(%q) = %v, not ErrInvalidArgument", key, err)
		}
		if want {
			if err := ValidatePrefix(key); err != nil {
				t.Fatalf("ValidatePrefix refuses the valid key %q: %v", key, err)
			}
			if len(key) < MaxKeyLen {
				if err := ValidatePrefix(key + "/"); err != nil {
					t.Fatalf("ValidatePrefix refuses %q: %v", key+"/", err)
				}
			}
		}
		if err := ValidatePrefix(key); err != nil && !errors.Is(err, ErrInvalidArgument) {
			t.Fatalf("ValidatePrefix(%q) = %v, not ErrInvalidArgument", key, err)
		}
	})
}

func documentedKey(key string) bool {
	if len(key) == 0 || len(key) > MaxKeyLen {
		return false
	}
	for _, seg := range strings.Split(key, "/") {
		if len(seg) == 0 || len(seg) > MaxSegmentLen || seg == "." || seg == ".." {
			return false
		}
		for i := 0; i < len(seg); i++ {
			c := seg[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
				return false
			}
		}
	}
	return true
}

// FuzzReattachLine: the reattach line (from the environment or a flag) is
// parsed without panicking; what it refuses wraps ErrInvalidArgument.
func FuzzReattachLine(f *testing.F) {
	f.Add(`{"protocol":"grpc","protocol_version":1,"network":"unix","addr":"/tmp/plugin.sock","pid":42}`)
	f.Add(`{"protocol":"grpc","protocol_version":1,"network":"tcp","addr":"127.0.0.1:1234","pid":1}`)
	f.Add(`{"network":"tcp","addr":"[::1"}`)
	f.Add(`{"protocol_version":99}`)
	f.Add(`not json`)
	f.Fuzz(func(t *testing.T, line string) {
		// A tcp address with a host name would be resolved through DNS:
		// keep the fuzzer off the network.
		var r reattachJSON
		if json.Unmarshal([]byte(line), &r) == nil && r.Network == "tcp" {
			host, _, err := net.SplitHostPort(r.Addr)
			if err == nil && host != "" && net.ParseIP(host) == nil {
				t.Skip("host name: would resolve through DNS")
			}
		}
		rc, err := parseReattach(line)
		if err != nil {
			if !errors.Is(err, ErrInvalidArgument) {
				t.Fatalf("parseReattach(%q) = %v, not ErrInvalidArgument", line, err)
			}
			return
		}
		if rc == nil || rc.Addr == nil {
			t.Fatalf("parseReattach(%q) accepted without an address", line)
		}
	})
}
