package sdk

import (
	"encoding/json"
	"errors"
	"net"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/ALRubinger/aileron-store/sdk/internal/storepb"
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

// FuzzWriteBatchRequest: a WriteBatch request from the wire is decoded and
// checked without panicking; what is refused wraps ErrInvalidArgument, and
// what is accepted encodes back to the same batch.
func FuzzWriteBatchRequest(f *testing.F) {
	seed := func(g *Guard, ws []Write) {
		b, err := proto.Marshal(batchToPB(g, ws))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	seed(nil, []Write{{Kind: WritePut, Key: "a", Value: []byte("x")}})
	seed(&Guard{Key: "v/head", Version: "7"}, []Write{{Kind: WritePut, Key: "v/r/a", Value: nil, Cond: IfAbsent()}, {Kind: WriteDelete, Key: "v/r/b", Cond: IfVersion("3")}})
	seed(&Guard{Key: "a", Version: ""}, []Write{{Kind: WriteDelete, Key: "a"}})
	seed(nil, []Write{{Kind: 9, Key: "a"}, {Kind: WritePut, Key: "a"}})
	f.Add([]byte{0x12, 0x02, 0x08, 0x07})
	f.Fuzz(func(t *testing.T, data []byte) {
		var req storepb.WriteBatchRequest
		if proto.Unmarshal(data, &req) != nil {
			return
		}
		guard, writes, err := batchFromPB(&req)
		if err == nil {
			err = ValidateBatch(guard, writes, 0)
		}
		if err != nil {
			if !errors.Is(err, ErrInvalidArgument) {
				t.Fatalf("refused with %v, not ErrInvalidArgument", err)
			}
			return
		}
		g2, w2, err := batchFromPB(batchToPB(guard, writes))
		if err != nil || (guard == nil) != (g2 == nil) || (guard != nil && *guard != *g2) || len(w2) != len(writes) {
			t.Fatalf("accepted batch does not round-trip: %v", err)
		}
		for i := range writes {
			if w2[i].Kind != writes[i].Kind || w2[i].Key != writes[i].Key || w2[i].Cond != writes[i].Cond || string(w2[i].Value) != string(writes[i].Value) {
				t.Fatalf("write %d does not round-trip: %+v vs %+v", i, writes[i], w2[i])
			}
		}
	})
}
