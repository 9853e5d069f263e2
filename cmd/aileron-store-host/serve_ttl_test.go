package main

import (
	"testing"
	"time"

	hostapi "github.com/ALRubinger/aileron-store/api/hostapi/v1"
)

// TestServeSessionTTL: serve's --session-ttl reaches the engine, so a TTL
// above the engine's 15-minute default is not silently capped (the session
// expiry the server reports is the earlier of its own and the vault
// handle's); values out of range are refused.
func TestServeSessionTTL(t *testing.T) {
	h := newHost(t)
	h.setup()
	for _, bad := range []string{"0s", "-5m", "500ms", "25h"} {
		h.fail(2, []string{`--session-ttl .* is out of range: want 1s to 24h0m0s`}, nil, nil, "serve", "--socket", t.TempDir()+"/s.sock", "--session-ttl", bad)
	}
	sv := h.startServe("--session-ttl", "2h")
	before := time.Now()
	u, err := sv.client.Unlock(sv.ctx, &hostapi.UnlockRequest{Vault: "team", Identity: "alice", Passphrase: []byte(alicePass)})
	if err != nil {
		t.Fatalf("unlock: %v", err)
	}
	exp := time.Unix(u.ExpiresUnix, 0)
	if lo, hi := before.Add(2*time.Hour-time.Minute), time.Now().Add(2*time.Hour+time.Second); exp.Before(lo) || exp.After(hi) {
		t.Fatalf("session expires at %v, %v after the unlock; want 2h (the engine must not cap it at 15m)", exp, exp.Sub(before))
	}
	sv.stop()
}
