package sdk_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ALRubinger/aileron-store/internal/pluginproc"
	"github.com/ALRubinger/aileron-store/internal/testenv"
	"github.com/ALRubinger/aileron-store/sdk"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func openTestPlugin(t *testing.T, config map[string]string, opts *sdk.ClientOptions) *sdk.Client {
	t.Helper()
	bin := testenv.Binary(t, "./sdk/internal/testplugin")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := sdk.Open(ctx, bin, config, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Every method crosses the boundary and comes back with what was sent.
func TestRoundTripAcrossProcess(t *testing.T) {
	c := openTestPlugin(t, nil, nil)
	ctx := context.Background()
	v1, err := c.Put(ctx, "a/b", []byte("hello"), sdk.IfAbsent())
	if err != nil {
		t.Fatalf("Put: %v", err)
	}
	got, ver, err := c.Get(ctx, "a/b")
	if err != nil || string(got) != "hello" || ver != v1 {
		t.Fatalf("Get = %q, %q, %v; want hello, %q", got, ver, err, v1)
	}
	v2, err := c.Put(ctx, "a/b", []byte("hello"), sdk.IfVersion(v1))
	if err != nil || v2 == v1 {
		t.Fatalf("Put if-version = %q, %v; want a new version", v2, err)
	}
	if _, err := c.Put(ctx, "a/c", nil, sdk.None); err != nil {
		t.Fatalf("Put empty value: %v", err)
	}
	page, err := c.List(ctx, sdk.ListOptions{Prefix: "a/", WithValues: true})
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if len(page.Entries) != 2 || page.Entries[0].Key != "a/b" || string(page.Entries[0].Value) != "hello" ||
		page.Entries[0].Version != v2 || page.Entries[1].Key != "a/c" || len(page.Entries[1].Value) != 0 || page.More {
		t.Fatalf("List = %+v", page)
	}
	if err := c.Delete(ctx, "a/b", sdk.IfVersion(v2)); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, _, err := c.Get(ctx, "a/b"); !errors.Is(err, sdk.ErrNotFound) {
		t.Fatalf("Get after delete = %v, want ErrNotFound", err)
	}
	if err := c.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if caps := c.Capabilities(); caps.MaxValueSize != sdk.MaxValueSize || !caps.NativeListValues {
		t.Fatalf("Capabilities = %+v", caps)
	}
}

// Capabilities().Report crosses the boundary, bounded in entries and size.
func TestReportAcrossProcess(t *testing.T) {
	c := openTestPlugin(t, map[string]string{"report": "2"}, nil)
	r := c.Capabilities().Report
	if len(r) != 3 || r["mode"] != "test" || len(r["r00"]) != sdk.MaxReportLen {
		t.Fatalf("Report = %d entries, mode %q, r00 of %d bytes; want 3, test, %d", len(r), r["mode"], len(r["r00"]), sdk.MaxReportLen)
	}
	c = openTestPlugin(t, map[string]string{"report": "40"}, nil)
	if r := c.Capabilities().Report; len(r) != sdk.MaxReportEntries {
		t.Fatalf("Report of 41 entries arrived with %d, want %d", len(r), sdk.MaxReportEntries)
	}
	if r := openTestPlugin(t, nil, nil).Capabilities().Report; r != nil {
		t.Fatalf("Report of a plugin that reports nothing = %v, want nil", r)
	}
}

// Each sentinel a plugin returns is the same sentinel on the host, and the
// plugin's message (naming the key) survives.
func TestErrorsCrossBoundary(t *testing.T) {
	c := openTestPlugin(t, nil, nil)
	ctx := context.Background()
	for name, want := range map[string]error{
		"not-found": sdk.ErrNotFound, "conflict": sdk.ErrConflict, "invalid-argument": sdk.ErrInvalidArgument,
		"unavailable": sdk.ErrUnavailable, "permission-denied": sdk.ErrPermissionDenied, "plain": sdk.ErrUnavailable,
	} {
		_, _, err := c.Get(ctx, "err/"+name)
		if !errors.Is(err, want) || sdk.Kind(err) != want {
			t.Errorf("Get err/%s = %v, want errors.Is %v", name, err, want)
		}
		if !strings.Contains(err.Error(), "err/"+name) {
			t.Errorf("Get err/%s: message %q does not name the key", name, err)
		}
	}
	// Real conditions, both ways.
	if _, err := c.Put(ctx, "k", []byte("1"), sdk.None); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Put(ctx, "k", []byte("2"), sdk.IfAbsent()); !errors.Is(err, sdk.ErrConflict) {
		t.Errorf("Put if-absent on existing key = %v, want ErrConflict", err)
	}
	if _, err := c.Put(ctx, "k", []byte("2"), sdk.IfVersion("stale")); !errors.Is(err, sdk.ErrConflict) {
		t.Errorf("Put stale version = %v, want ErrConflict", err)
	}
	if err := c.Delete(ctx, "missing", sdk.IfVersion("x")); !errors.Is(err, sdk.ErrNotFound) {
		t.Errorf("Delete if-version on missing key = %v, want ErrNotFound", err)
	}
	if got, _, _ := c.Get(ctx, "k"); string(got) != "1" {
		t.Errorf("value after failed conditions = %q, want 1", got)
	}
}

func TestConfigureErrorNamesField(t *testing.T) {
	bin := testenv.Binary(t, "./sdk/internal/testplugin")
	_, err := sdk.Open(context.Background(), bin, map[string]string{"fail": "bucket"}, nil)
	if !errors.Is(err, sdk.ErrInvalidArgument) || !strings.Contains(err.Error(), `"bucket"`) {
		t.Fatalf("Open with refused config = %v, want ErrInvalidArgument naming \"bucket\"", err)
	}
}

// Cancellation and deadlines reach the plugin's Store and come back as the
// context errors.
func TestCancellationCrossesBoundary(t *testing.T) {
	c := openTestPlugin(t, nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	if _, _, err := c.Get(ctx, "block/cancel"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Get with canceled context = %v, want context.Canceled", err)
	}
	dctx, dcancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer dcancel()
	if _, _, err := c.Get(dctx, "block/deadline"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Get past its deadline = %v, want context.DeadlineExceeded", err)
	}
	// The plugin side saw both (it records what its context said). When the
	// deadline passes, the host's cancel may reach the plugin before the
	// plugin's own copy of the deadline fires, so the plugin may see either
	// error; what must cross is the deadline itself.
	for name, want := range map[string]string{"cancel": "context canceled; deadline set: false", "deadline": "deadline set: true"} {
		var got []byte
		var err error
		for i := 0; i < 100; i++ {
			if got, _, err = c.Get(context.Background(), "seen/"+name); err == nil {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		if !strings.Contains(string(got), want) {
			t.Errorf("plugin saw %q for %s (err %v), want %q", got, name, err, want)
		}
	}
}

// A plugin killed in the middle of a call gives a clear error for that call;
// the next call starts a new plugin process and works.
func TestKilledPluginRestarts(t *testing.T) {
	c := openTestPlugin(t, nil, nil)
	pid := pluginproc.PID(c)
	if pid == 0 {
		t.Fatal("no plugin pid")
	}
	errc := make(chan error, 1)
	go func() {
		_, _, err := c.Get(context.Background(), "block/forever")
		errc <- err
	}()
	time.Sleep(200 * time.Millisecond)
	if err := pluginproc.Kill(c); err != nil {
		t.Fatal(err)
	}
	var err error
	select {
	case err = <-errc:
	case <-time.After(10 * time.Second):
		t.Fatal("call in flight did not return after the plugin was killed")
	}
	if !errors.Is(err, sdk.ErrUnavailable) || !strings.Contains(err.Error(), "exited") {
		t.Fatalf("call during kill = %v, want ErrUnavailable saying the plugin exited", err)
	}
	if _, err := c.Put(context.Background(), "after", []byte("x"), sdk.None); err != nil {
		t.Fatalf("call after restart: %v", err)
	}
	if npid := pluginproc.PID(c); npid == 0 || npid == pid {
		t.Fatalf("plugin pid after restart = %d, was %d", npid, pid)
	}
}

func TestChecksumPin(t *testing.T) {
	bin := testenv.Binary(t, "./sdk/internal/testplugin")
	sum, err := sdk.FileSHA256(bin)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c, err := sdk.Open(ctx, bin, nil, &sdk.ClientOptions{SHA256: "sha256:" + strings.ToUpper(sum)})
	if err != nil {
		t.Fatalf("Open with the right pin: %v", err)
	}
	c.Close()
	wrong := strings.Repeat("0", 64)
	_, err = sdk.Open(ctx, bin, nil, &sdk.ClientOptions{SHA256: wrong})
	if !errors.Is(err, sdk.ErrPermissionDenied) || !strings.Contains(err.Error(), "refusing to start") || !strings.Contains(err.Error(), sum) {
		t.Fatalf("Open with a wrong pin = %v, want a refusal naming both sums", err)
	}
	if _, err = sdk.Open(ctx, bin, nil, &sdk.ClientOptions{SHA256: "xyz"}); !errors.Is(err, sdk.ErrInvalidArgument) {
		t.Fatalf("Open with a malformed pin = %v, want ErrInvalidArgument", err)
	}
}

func TestValueSizeLimit(t *testing.T) {
	c := openTestPlugin(t, nil, nil)
	ctx := context.Background()
	max := bytes.Repeat([]byte{0xa5}, sdk.MaxValueSize)
	if _, err := c.Put(ctx, "max", max, sdk.None); err != nil {
		t.Fatalf("Put of exactly the maximum: %v", err)
	}
	got, _, err := c.Get(ctx, "max")
	if err != nil || !bytes.Equal(got, max) {
		t.Fatalf("Get of maximum value: %d bytes, %v", len(got), err)
	}
	_, err = c.Put(ctx, "over", append(max, 0), sdk.None)
	if !errors.Is(err, sdk.ErrInvalidArgument) || !strings.Contains(err.Error(), `"over"`) {
		t.Fatalf("Put of maximum+1 = %v, want ErrInvalidArgument naming the key", err)
	}
	if _, _, err := c.Get(ctx, "over"); !errors.Is(err, sdk.ErrNotFound) {
		t.Fatalf("oversize value was stored: %v", err)
	}
}

func TestBrokenReplyRefused(t *testing.T) {
	c := openTestPlugin(t, nil, nil)
	_, err := c.List(context.Background(), sdk.ListOptions{Prefix: "disorder/"})
	if !errors.Is(err, sdk.ErrUnavailable) || !strings.Contains(err.Error(), "breaks the Store contract") {
		t.Fatalf("List with an out-of-order reply = %v, want a contract error", err)
	}
}

// The plugin exits by itself when its host is gone.
func TestPluginDiesWithHost(t *testing.T) {
	if os.Getenv("SDK_TEST_HOST_CHILD") == "1" {
		bin := os.Getenv("SDK_TEST_PLUGIN")
		c, err := sdk.Open(context.Background(), bin, nil, nil)
		if err != nil {
			os.Exit(3)
		}
		os.Stdout.WriteString(strings.TrimSpace(itoa(pluginproc.PID(c))) + "\n")
		select {} // wait to be killed
	}
	bin := testenv.Binary(t, "./sdk/internal/testplugin")
	cmd := testenv.Command(os.Args[0], "-test.run=^TestPluginDiesWithHost$")
	cmd.Env = append(os.Environ(), "SDK_TEST_HOST_CHILD=1", "SDK_TEST_PLUGIN="+bin)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, _ := out.Read(buf)
	pid := atoi(strings.TrimSpace(string(buf[:n])))
	if pid <= 0 {
		cmd.Process.Kill()
		t.Fatalf("child host printed %q, want the plugin pid", buf[:n])
	}
	if !processAlive(pid) {
		t.Fatalf("plugin %d not running while its host lives", pid)
	}
	cmd.Process.Kill() // SIGKILL: the host gets no chance to clean up
	cmd.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for processAlive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("plugin %d still running 5s after its host was killed", pid)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
