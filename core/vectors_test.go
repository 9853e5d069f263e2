package core

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/ALRubinger/aileron-store/core/internal/wire"
	"github.com/ALRubinger/aileron-store/internal/testenv"
	"github.com/ALRubinger/aileron-store/sdk"
	"github.com/ALRubinger/aileron-store/sdk/memstore"
)

var update = flag.Bool("update", false, "regenerate the test vectors in testdata/core")

// vaultVector is a complete small vault as a backend stores it, with the
// identities that open it, and mutations that must be refused.
type vaultVector struct {
	Comment     string            `json:"comment"`
	Vault       string            `json:"vault"`
	Alice       string            `json:"identity_alice"`      // unsealed identity file, base64
	Bob         string            `json:"identity_bob_sealed"` // sealed identity file, base64
	BobPass     string            `json:"bob_passphrase"`
	Credentials map[string]string `json:"credentials"`
	Members     map[string]string `json:"members"` // name -> role
	Store       map[string]string `json:"store"`   // key -> base64 value
	Failures    []failureVector   `json:"failures"`
}

type failureVector struct {
	Name string `json:"name"`
	// Key and Value: the mutation; Value "" deletes the key.
	Key   string `json:"key"`
	Value string `json:"value"`
	// Pinned: the reader sees the unmodified store first (rollback pin).
	Pinned bool `json:"pinned"`
	// Read: "unlock" (bob, unlock + list) or "get:<name>" (alice).
	Read string `json:"read"`
	// Error: "tampered" or "rollback"; Names: fragments the message contains.
	Error string   `json:"error"`
	Names []string `json:"names"`
}

func vectorPath(name string) string {
	return filepath.Join(testenv.RepoRoot(), "testdata", "core", name)
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func unb64(t *testing.T, s string) []byte {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestVaultVector checks the stored vaults of both formats: vault-v1.json
// (format 1, frozen: no longer regenerated) and vault-v2.json (regenerated
// by -update).
func TestVaultVector(t *testing.T) {
	if *update {
		writeJSON(t, vectorPath("vault-v2.json"), generateVaultVector(t))
	}
	for _, name := range []string{"vault-v1.json", "vault-v2.json"} {
		t.Run(name, func(t *testing.T) { checkVaultVector(t, vectorPath(name)) })
	}
}

func loadVaultVector(t *testing.T, path string) *vaultVector {
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./core -run Vector -update to generate)", err)
	}
	var vec vaultVector
	must(t, json.Unmarshal(raw, &vec))
	return &vec
}

func checkVaultVector(t *testing.T, path string) {
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./core -run Vector -update to generate)", err)
	}
	var vec vaultVector
	must(t, json.Unmarshal(raw, &vec))
	load := func() sdk.Store {
		st := memstore.New()
		for k, v := range vec.Store {
			put(t, st, k, unb64(t, v))
		}
		return st
	}
	alice, err := ParseIdentity(unb64(t, vec.Alice), nil)
	must(t, err)
	bob, err := ParseIdentity(unb64(t, vec.Bob), func() ([]byte, error) { return []byte(vec.BobPass), nil })
	must(t, err)
	ctx := context.Background()

	// Valid: both members open the stored vault and read every credential.
	st := load()
	for _, id := range []*Identity{alice, bob} {
		v, err := newEngine(t, st, nil).Unlock(ctx, vec.Vault, id)
		must(t, err)
		for n, want := range vec.Credentials {
			got, err := v.Get(ctx, n)
			if err != nil || string(got) != want {
				t.Fatalf("vector credential %s: %q %v", n, got, err)
			}
		}
		ms, err := v.Members(ctx)
		must(t, err)
		if len(ms) != len(vec.Members) {
			t.Fatalf("members %v", ms)
		}
		for _, m := range ms {
			if vec.Members[m.Name] != m.Role.String() {
				t.Fatalf("member %s role %s, vector says %s", m.Name, m.Role, vec.Members[m.Name])
			}
		}
	}
	if len(vec.Failures) < 8 {
		t.Fatalf("only %d failure vectors", len(vec.Failures))
	}
	// Expected failures.
	for _, f := range vec.Failures {
		t.Run(f.Name, func(t *testing.T) {
			st := load()
			e := newEngine(t, st, nil)
			if f.Pinned {
				_, err := e.Unlock(ctx, vec.Vault, bob)
				must(t, err)
			}
			if f.Value == "" {
				must(t, st.Delete(ctx, f.Key, sdk.None))
			} else {
				put(t, st, f.Key, unb64(t, f.Value))
			}
			var err error
			switch {
			case f.Read == "unlock":
				var v *Vault
				if v, err = e.Unlock(ctx, vec.Vault, bob); err == nil {
					_, err = v.List(ctx)
				}
			case strings.HasPrefix(f.Read, "get:"):
				var v *Vault
				v, err = newEngine(t, st, nil).Unlock(ctx, vec.Vault, alice)
				must(t, err)
				_, err = v.Get(ctx, strings.TrimPrefix(f.Read, "get:"))
			default:
				t.Fatalf("unknown read %q", f.Read)
			}
			want := map[string]error{"tampered": ErrTampered, "rollback": ErrRollback}[f.Error]
			wantErr(t, err, want, f.Names...)
		})
	}
}

func writeJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	must(t, err)
	must(t, os.MkdirAll(filepath.Dir(path), 0o755))
	must(t, os.WriteFile(path, append(b, '\n'), 0o644))
}

func generateVaultVector(t *testing.T) *vaultVector {
	ctx := context.Background()
	st := memstore.New()
	alice, err := NewIdentity(SuiteMLKEM768X25519)
	must(t, err)
	bob, err := NewIdentity(SuiteX25519)
	must(t, err)
	e := newEngine(t, st, nil)
	vec := &vaultVector{
		Comment:     "A vault as stored by format version 2 (docs/format.md): alice (admin, ML-KEM-768+X25519) and bob (member, X25519), after one rotation. Generated by go test ./core -run Vector -update.",
		Vault:       "vector-vault",
		BobPass:     "vector passphrase",
		Credentials: map[string]string{"db-password": "hunter2", "api-token": "tok-123", "empty": ""},
		Members:     map[string]string{"alice": "admin", "bob": "member"},
	}
	v, err := e.CreateVault(ctx, vec.Vault, alice, "alice")
	must(t, err)
	for n, val := range vec.Credentials {
		must(t, v.Put(ctx, n, []byte(val)))
	}
	must(t, v.Grant(ctx, bob.Recipient(), "bob", RoleMember, classicalOK))
	// Keep an old-epoch record and slot for the replay vectors.
	s, _ := v.current()
	rOld := recordKey(v.id, recordID(s.cur.naming, "db-password"))
	oldRecord := get(t, st, rOld)
	oldSlot := get(t, st, slotKey(v.id, s.head.h.Epoch, s.head.h.Commitment, bob.rcpt.id))
	oldHead := get(t, st, headKey(v.id))
	must(t, errOf(v.Rotate(ctx)))
	s, _ = v.current()
	h := s.head.h
	rKey := recordKey(v.id, recordID(s.cur.naming, "db-password")) // the naming key rotated
	rOther := recordKey(v.id, recordID(s.cur.naming, "api-token"))
	bobSlot := slotKey(v.id, h.Epoch, h.Commitment, bob.rcpt.id)
	bobIdx := indexKey(bob.rcpt.ID(), v.id)
	head := get(t, st, headKey(v.id))

	vec.Alice = b64(mustMarshal(t, alice, nil))
	vec.Bob = b64(mustMarshal(t, bob, []byte(vec.BobPass)))
	vec.Store = map[string]string{}
	for k, val := range dump(t, st) {
		vec.Store[k] = b64(val)
	}
	fl := func(b []byte, i int) string { return b64(flip(b, i)) }
	rec := get(t, st, rKey)
	vec.Failures = []failureVector{
		{Name: "record bit flip in ciphertext", Key: rKey, Value: fl(rec, len(rec)-20), Read: "get:db-password", Error: "tampered", Names: []string{"credential record", rKey}},
		{Name: "record truncated", Key: rKey, Value: b64(rec[:40]), Read: "get:db-password", Error: "tampered", Names: []string{"credential record", rKey}},
		{Name: "record wrong magic", Key: rKey, Value: fl(rec, 0), Read: "get:db-password", Error: "tampered", Names: []string{"credential record", "magic"}},
		{Name: "record moved from another record", Key: rKey, Value: b64(get(t, st, rOther)), Read: "get:db-password", Error: "tampered", Names: []string{"credential record", rKey}},
		{Name: "record replayed from the previous epoch", Key: rKey, Value: b64(oldRecord), Read: "get:db-password", Error: "tampered", Names: []string{"credential record", rKey, "another vault or record"}},
		{Name: "record kind changed to quarantined", Key: rKey, Value: b64(withByte(rec, 6, wire.RecordQuarantined)), Read: "get:db-password", Error: "tampered", Names: []string{"credential record", rKey, "another kind"}},
		{Name: "record kind changed to tombstone", Key: rKey, Value: b64(withByte(rec, 6, wire.RecordTombstone)), Read: "get:db-password", Error: "tampered", Names: []string{"credential record", rKey, "does not authenticate"}},
		{Name: "head bad signature", Key: headKey(v.id), Value: fl(head, len(head)-1), Read: "unlock", Error: "tampered", Names: []string{"vault head", "signature"}},
		{Name: "head truncated", Key: headKey(v.id), Value: b64(head[:100]), Read: "unlock", Error: "tampered", Names: []string{"vault head", headKey(v.id)}},
		{Name: "head replayed to a pinned host", Key: headKey(v.id), Value: b64(oldHead), Pinned: true, Read: "unlock", Error: "rollback", Names: []string{"vault head", "older than the pinned"}},
		{Name: "head log entry missing", Key: logKey(v.id, 0), Value: "", Read: "unlock", Error: "rollback", Names: []string{"vault head", logKey(v.id, 0)}},
		{Name: "slot replayed from the previous epoch", Key: bobSlot, Value: b64(oldSlot), Read: "unlock", Error: "tampered", Names: []string{"key slot", bobSlot}},
		{Name: "slot bit flip", Key: bobSlot, Value: fl(get(t, st, bobSlot), 70), Read: "unlock", Error: "tampered", Names: []string{"key slot", bobSlot}},
		{Name: "index entry bit flip", Key: bobIdx, Value: fl(get(t, st, bobIdx), 60), Read: "unlock", Error: "tampered", Names: []string{"index entry", bobIdx}},
	}
	return vec
}

func withByte(b []byte, i int, v byte) []byte {
	c := append([]byte(nil), b...)
	c[i] = v
	return c
}

func mustMarshal(t *testing.T, id *Identity, pass []byte) []byte {
	b, err := MarshalIdentity(id, pass, fastKDF)
	must(t, err)
	return b
}

// wireVector is one encoding of one record kind for the decoder tests and
// fuzz seed corpora of core/internal/wire.
type wireVector struct {
	Kind  string `json:"kind"`
	Name  string `json:"name"`
	Hex   string `json:"hex"`
	Valid bool   `json:"valid"`
	Error string `json:"error,omitempty"`
}

// TestWireVectors regenerates (with -update) and checks testdata/core/wire.json.
func TestWireVectors(t *testing.T) {
	path := vectorPath("wire.json")
	if *update {
		writeJSON(t, path, generateWireVectors(t))
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./core -run Vector -update)", err)
	}
	var vecs []wireVector
	must(t, json.Unmarshal(raw, &vecs))
	kinds := map[string]int{}
	for _, v := range vecs {
		kinds[v.Kind]++
		err := wire.Decode(v.Kind, mustHex(t, v.Hex))
		if v.Valid && err != nil {
			t.Errorf("%s %s: %v", v.Kind, v.Name, err)
		}
		if !v.Valid && (err == nil || !errors.Is(err, wire.ErrMalformed) || !strings.Contains(err.Error(), v.Error)) {
			t.Errorf("%s %s: got %v, want malformed: ...%s", v.Kind, v.Name, err, v.Error)
		}
	}
	var ks []string
	for k := range kinds {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	if len(ks) < 9 {
		t.Fatalf("vectors cover only %v", ks)
	}
}

func mustHex(t *testing.T, s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func generateWireVectors(t *testing.T) []wireVector {
	ctx := context.Background()
	st := memstore.New()
	alice, bob := testIdentity(t, "alice"), testIdentity(t, "bob")
	e := newEngine(t, st, nil)
	v, err := e.CreateVault(ctx, "wire-vectors", alice, "alice")
	must(t, err)
	must(t, v.Grant(ctx, bob.Recipient(), "bob", RoleMember, classicalOK))
	must(t, v.Put(ctx, "name", []byte("value")))
	must(t, errOf(v.Rotate(ctx)))
	s, _ := v.current()
	h := s.head.h

	valid := map[string][]byte{}
	valid["identity"] = mustMarshal(t, bob, []byte("pw"))
	valid["recipient"] = bob.rcpt.bin
	valid["recipient-string"] = []byte(bob.rcpt.String())
	slotRaw := get(t, st, slotKey(v.id, h.Epoch, h.Commitment, bob.rcpt.id))
	valid["slot"] = slotRaw
	valid["slot-payload"] = (&wire.SlotPayload{EpochKey: make([]byte, 32), NamingKey: make([]byte, 32), PrevKey: make([]byte, 32)}).Marshal()
	valid["index"] = get(t, st, indexKey(bob.rcpt.ID(), v.id))
	valid["name"] = wire.MarshalName("wire-vectors")
	valid["head"] = s.head.raw
	ids := [][wire.IDLen]byte{}
	for _, m := range h.Members {
		ids = append(ids, m.ID)
	}
	valid["meta"] = s.meta.Marshal(ids)
	valid["record"] = get(t, st, recordKey(v.id, recordID(s.cur.naming, "name")))
	signed := v.signedPlain(wire.RecordV2, alice, "name", []byte("value"), 1767225600000000000)
	valid["record-plain"] = signed
	valid["pin"] = (&wire.Pin{Vault: v.id, Seq: h.Seq, Hash: s.head.hash, Head: s.head.raw}).Marshal()

	var out []wireVector
	add := func(kind, name string, b []byte) {
		err := wire.Decode(kind, b)
		wv := wireVector{Kind: kind, Name: name, Hex: hex.EncodeToString(b), Valid: err == nil}
		if err != nil {
			wv.Error = err.Error()
		}
		out = append(out, wv)
	}
	for _, kind := range wire.Kinds {
		b := valid[kind]
		if err := wire.Decode(kind, b); err != nil {
			t.Fatalf("valid %s does not decode: %v", kind, err)
		}
		add(kind, "valid", b)
		add(kind, "empty", nil)
		add(kind, "truncated to 3 bytes", b[:3])
		if kind == "record" {
			add(kind, "truncated inside the header", b[:50])
		} else {
			add(kind, "truncated by half", b[:len(b)/2])
		}
		if kind != "record" && kind != "recipient-string" {
			add(kind, "trailing byte", append(append([]byte(nil), b...), 0))
			add(kind, "last byte removed", b[:len(b)-1])
		}
		switch kind {
		case "identity", "slot", "index", "head", "record", "pin":
			add(kind, "wrong magic", flip(b, 1))
			bad := append([]byte(nil), b...)
			bad[4] = 9
			add(kind, "unknown version", bad)
		case "recipient", "meta", "record-plain":
			bad := append([]byte(nil), b...)
			bad[0] = 9
			add(kind, "unknown version", bad)
		case "recipient-string":
			add(kind, "checksum mismatch", flip(b, len(b)-3))
		}
	}
	// Format 1 encodings stay valid; format 2 specifics.
	v1 := loadVaultVector(t, vectorPath("vault-v1.json"))
	for k, val := range v1.Store {
		b := unb64(t, val)
		switch {
		case strings.HasSuffix(k, "/head"):
			add("head", "valid format 1", b)
		case strings.Contains(k, "/r/") && !slices.ContainsFunc(out, func(w wireVector) bool { return w.Name == "valid format 1" && w.Kind == "record" }):
			add("record", "valid format 1", b)
		}
	}
	add("record-plain", "valid format 1", wire.MarshalRecordPlain("name", []byte("value"), 1767225600000000000))
	add("record-plain", "format 2 non-zero padding", withByte(signed, len(signed)-1, 1))
	add("record-plain", "format 2 not padded", signed[:len(signed)-1])
	add("record-plain", "format 2 padded to the next bucket", append(append([]byte(nil), signed...), make([]byte, len(signed))...))
	add("record", "unknown kind", withByte(valid["record"], 6, 4))
	add("slot-payload", "valid with previous naming key", (&wire.SlotPayload{EpochKey: make([]byte, 32), NamingKey: make([]byte, 32), PrevKey: make([]byte, 32), PrevNaming: make([]byte, 32)}).Marshal())
	add("slot-payload", "previous naming key without previous key", append([]byte{2}, make([]byte, 96)...))
	hv := append([]byte(nil), valid["head"]...)
	hv[4] = 1 // a format-2 head relabelled 1 carries a time field format 1 lacks
	add("head", "format 2 relabelled 1", hv)
	for _, wv := range out {
		if strings.HasPrefix(wv.Name, "valid") != wv.Valid {
			t.Fatalf("vector %s %s: valid=%v (%s)", wv.Kind, wv.Name, wv.Valid, wv.Error)
		}
	}
	for _, wv := range out {
		if !strings.HasPrefix(wv.Name, "valid") && wv.Valid {
			t.Fatalf("invalid vector %s %s decodes", wv.Kind, wv.Name)
		}
	}
	return out
}
