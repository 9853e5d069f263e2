package serve

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	hostapi "github.com/ALRubinger/aileron-store/api/hostapi/v1"
)

func testKey(t testing.TB) []byte {
	t.Helper()
	key, err := AuditKey(filepath.Join(t.TempDir(), "state"))
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func readLog(t *testing.T, path string) ([]AuditEvent, []byte) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var evs []AuditEvent
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		var ev AuditEvent
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&ev); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		evs = append(evs, ev)
	}
	return evs, raw
}

func reasonOf(err error) string {
	for _, d := range status.Convert(err).Details() {
		if ei, ok := d.(*errdetails.ErrorInfo); ok {
			return ei.GetReason()
		}
	}
	return ""
}

// Every call of a scripted session is one line (two for Put and Delete),
// with the caller's uid and pid, and no secret.
func TestAuditLogRecordsEveryCall(t *testing.T) {
	key := testKey(t)
	path := filepath.Join(t.TempDir(), "access.log")
	log, err := OpenAuditLog(path, key)
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	f := startWith(t, log)
	ctx := context.Background()
	c := f.client

	if _, err := c.Unlock(ctx, &hostapi.UnlockRequest{Vault: "team", Identity: "alice", Passphrase: []byte("wrong-pw")}); code(err) != codes.Unauthenticated {
		t.Fatalf("wrong passphrase: %v", err)
	}
	u, err := c.Unlock(ctx, &hostapi.UnlockRequest{Vault: "team", Identity: "alice", Passphrase: []byte("pw")})
	if err != nil {
		t.Fatal(err)
	}
	s := u.Session
	if g, err := c.Get(ctx, &hostapi.GetRequest{Session: s, Name: "seed"}); err != nil || string(g.Value) != "s33d" {
		t.Fatalf("get: %v", err)
	}
	if _, err := c.Put(ctx, &hostapi.PutRequest{Session: s, Name: "api-key", Value: []byte("V4LUE-xyz")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.List(ctx, &hostapi.ListRequest{Session: s}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Delete(ctx, &hostapi.DeleteRequest{Session: s, Name: "api-key"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(ctx, &hostapi.GetRequest{Session: s, Name: "api-key"}); code(err) != codes.NotFound {
		t.Fatalf("get deleted: %v", err)
	}
	if _, err := c.Lock(ctx, &hostapi.LockRequest{Session: s}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(ctx, &hostapi.GetRequest{Session: s, Name: "seed"}); code(err) != codes.Unauthenticated {
		t.Fatalf("after lock: %v", err)
	}

	evs, raw := readLog(t, path)
	type row struct{ op, outcome, code, reason, name string }
	want := []row{
		{"unlock", "error", "UNAUTHENTICATED", ReasonWrongPassphrase, ""},
		{"unlock", "ok", "", "", ""},
		{"get", "ok", "", "", "seed"},
		{"put", "started", "", "", "api-key"},
		{"put", "ok", "", "", "api-key"},
		{"list", "ok", "", "", ""},
		{"delete", "started", "", "", "api-key"},
		{"delete", "ok", "", "", "api-key"},
		{"get", "error", "NOT_FOUND", ReasonCredentialNotFound, "api-key"},
		{"lock", "ok", "", "", ""},
		{"get", "error", "UNAUTHENTICATED", ReasonSessionEnded, "seed"},
	}
	if len(evs) != len(want) {
		t.Fatalf("%d lines, want %d:\n%s", len(evs), len(want), raw)
	}
	tag := sessionTag(s)
	for i, w := range want {
		ev := evs[i]
		wantName := ""
		if w.name != "" {
			wantName = HashName(key, w.name)
		}
		if ev.Op != w.op || ev.Outcome != w.outcome || ev.Code != w.code || ev.Reason != w.reason || ev.Name != wantName {
			t.Errorf("line %d: %+v, want %+v", i, ev, w)
		}
		if ev.UID != os.Getuid() || ev.PID != os.Getpid() {
			t.Errorf("line %d: uid %d pid %d, want %d %d", i, ev.UID, ev.PID, os.Getuid(), os.Getpid())
		}
		if ev.Vault != "team" && i < len(want)-1 {
			t.Errorf("line %d: vault %q", i, ev.Vault)
		}
		if i >= 1 && i < len(want)-1 && (ev.Identity != "alice" || ev.Session != tag) {
			t.Errorf("line %d: identity %q session %q, want alice %s", i, ev.Identity, ev.Session, tag)
		}
		if ev.Time != f.clock.now().UTC().Format("2006-01-02T15:04:05Z07:00") {
			t.Errorf("line %d: time %q", i, ev.Time)
		}
	}
	if evs[5].Count == nil || *evs[5].Count != 2 {
		t.Errorf("list count %v, want 2", evs[5].Count)
	}
	// The last Get used a locked session: the owner is unknown, the session
	// tag still correlates it.
	if last := evs[len(evs)-1]; last.Session != tag || last.Identity != "" || last.Vault != "" {
		t.Errorf("call on a locked session: %+v", last)
	}
	for _, secret := range []string{"pw", "wrong-pw", "s33d", "V4LUE-xyz", "seed", "api-key", s} {
		if bytes.Contains(raw, []byte(secret)) {
			t.Errorf("the log holds %q:\n%s", secret, raw)
		}
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("log mode %v, want 0600", fi.Mode())
	}
}

// A line that cannot be written fails its call and hands nothing out.
func TestAuditLogFailureRefusesTheCall(t *testing.T) {
	key := testKey(t)
	path := filepath.Join(t.TempDir(), "access.log")
	log, err := OpenAuditLog(path, key)
	if err != nil {
		t.Fatal(err)
	}
	f := startWith(t, log)
	ctx := context.Background()
	c := f.client
	u, err := c.Unlock(ctx, &hostapi.UnlockRequest{Vault: "team", Identity: "alice", Passphrase: []byte("pw")})
	if err != nil {
		t.Fatal(err)
	}
	s := u.Session

	// The log's file fails every write from here on.
	log.f.Close()
	refused := func(what string, err error) {
		t.Helper()
		if code(err) != codes.Internal || reasonOf(err) != ReasonAuditLog {
			t.Fatalf("%s with a failing log: %v (reason %q), want INTERNAL %s", what, err, reasonOf(err), ReasonAuditLog)
		}
	}
	g, err := c.Get(ctx, &hostapi.GetRequest{Session: s, Name: "seed"})
	refused("get", err)
	if g != nil {
		t.Fatalf("get handed out %q", g.Value)
	}
	_, err = c.Put(ctx, &hostapi.PutRequest{Session: s, Name: "unlogged", Value: []byte("x")})
	refused("put", err)
	_, err = c.Delete(ctx, &hostapi.DeleteRequest{Session: s, Name: "seed"})
	refused("delete", err)
	_, err = c.List(ctx, &hostapi.ListRequest{Session: s})
	refused("list", err)
	u2, err := c.Unlock(ctx, &hostapi.UnlockRequest{Vault: "team", Identity: "alice", Passphrase: []byte("pw")})
	refused("unlock", err)
	if u2 != nil {
		t.Fatal("unlock handed out a session")
	}
	f.srv.mu.Lock()
	n := len(f.srv.sessions)
	f.srv.mu.Unlock()
	if n != 1 {
		t.Fatalf("%d sessions after a refused unlock, want 1 (the first)", n)
	}

	// With the log writable again, nothing of the refused writes happened.
	nf, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	log.mu.Lock()
	log.f = nf
	log.mu.Unlock()
	if _, err := c.Get(ctx, &hostapi.GetRequest{Session: s, Name: "unlogged"}); code(err) != codes.NotFound {
		t.Fatalf("the refused put happened: %v", err)
	}
	if _, err := c.Get(ctx, &hostapi.GetRequest{Session: s, Name: "seed"}); err != nil {
		t.Fatalf("the refused delete happened: %v", err)
	}
	log.Close()
}

// /dev/full: the device accepts the open and fails every write (ENOSPC).
func TestAuditLogFullDevice(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Fatalf("/dev/full: %v", err)
	}
	log, err := OpenAuditLog("/dev/full", testKey(t))
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	f := startWith(t, log)
	_, err = f.client.Unlock(context.Background(), &hostapi.UnlockRequest{Vault: "team", Identity: "alice", Passphrase: []byte("pw")})
	if code(err) != codes.Internal || reasonOf(err) != ReasonAuditLog || !strings.Contains(err.Error(), "no space left") {
		t.Fatalf("unlock logged to /dev/full: %v", err)
	}
}

func TestAuditKey(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	if _, err := ReadAuditKey(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing key: %v", err)
	}
	k1, err := AuditKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := AuditKey(dir)
	if err != nil || !bytes.Equal(k1, k2) || len(k1) != 32 {
		t.Fatalf("second AuditKey: %x %v, want %x", k2, err, k1)
	}
	p := filepath.Join(dir, AuditKeyFile)
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
		t.Fatalf("key mode %v", fi.Mode())
	}
	if HashName(k1, "github-token") == HashName(k1, "github-tokem") || !strings.HasPrefix(HashName(k1, "x"), "hmac-sha256:") {
		t.Fatal("HashName")
	}
	os.Chmod(p, 0o644)
	if _, err := ReadAuditKey(dir); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("group-readable key: %v", err)
	}
	os.Chmod(p, 0o600)
	os.WriteFile(p, []byte("short"), 0o600)
	if _, err := AuditKey(dir); err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Fatalf("damaged key: %v", err)
	}
	// An existing log others can read is refused.
	lp := filepath.Join(t.TempDir(), "open.log")
	os.WriteFile(lp, nil, 0o644)
	os.Chmod(lp, 0o644)
	if _, err := OpenAuditLog(lp, k1); err == nil {
		t.Fatal("world-readable log accepted")
	}
}

func TestCodeName(t *testing.T) {
	for c, want := range map[codes.Code]string{codes.NotFound: "NOT_FOUND", codes.OK: "OK", codes.DataLoss: "DATA_LOSS", codes.Unauthenticated: "UNAUTHENTICATED", codes.DeadlineExceeded: "DEADLINE_EXCEEDED"} {
		if got := codeName(c); got != want {
			t.Errorf("%v: %q, want %q", c, got, want)
		}
	}
}

// BenchmarkGet measures a Get over the socket without and with the access
// log (a regular file in the test's temp dir: one write and one fsync per
// call).
func BenchmarkGet(b *testing.B) {
	for _, audited := range []bool{false, true} {
		name := "no-log"
		var log *AuditLog
		if audited {
			name = "audit-log"
			var err error
			if log, err = OpenAuditLog(filepath.Join(b.TempDir(), "access.log"), testKey(b)); err != nil {
				b.Fatal(err)
			}
		}
		b.Run(name, func(b *testing.B) {
			f := startWith(b, log)
			ctx := context.Background()
			u, err := f.client.Unlock(ctx, &hostapi.UnlockRequest{Vault: "team", Identity: "alice", Passphrase: []byte("pw")})
			if err != nil {
				b.Fatal(err)
			}
			req := &hostapi.GetRequest{Session: u.Session, Name: "seed"}
			b.ResetTimer()
			for b.Loop() {
				if _, err := f.client.Get(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
		})
		if log != nil {
			log.Close()
		}
	}
}
