package sdk_test

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/ALRubinger/aileron-store/internal/testenv"
	"github.com/ALRubinger/aileron-store/sdk"
)

// A plugin started by hand in debug mode prints a reattach line; a host
// given that line talks to it without starting a process of its own.
func TestDebugReattach(t *testing.T) {
	bin := testenv.Binary(t, "./sdk/internal/testplugin")
	cmd := testenv.Command(bin)
	cmd.Env = append(os.Environ(), "AILERON_STORE_PLUGIN_DEBUG=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}()
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var line string
	select {
	case line = <-lines:
	case <-time.After(20 * time.Second):
		t.Fatal("debug-mode plugin printed no reattach line")
	}
	// With no host to negotiate with, a debug plugin serves the newest
	// protocol.
	if !strings.Contains(line, `"protocol_version":`+itoa(sdk.ProtocolVersion)) {
		t.Fatalf("reattach line %q", line)
	}
	ctx := context.Background()
	c, err := sdk.Open(ctx, "unused-in-reattach-mode", nil, &sdk.ClientOptions{Reattach: line})
	if err != nil {
		t.Fatalf("Open with reattach: %v", err)
	}
	defer c.Close()
	if _, err := c.Put(ctx, "dbg", []byte("x"), sdk.None); err != nil {
		t.Fatalf("Put through reattached plugin: %v", err)
	}
	if got, _, err := c.Get(ctx, "dbg"); err != nil || string(got) != "x" {
		t.Fatalf("Get through reattached plugin = %q, %v", got, err)
	}
	if res, err := c.WriteBatch(ctx, nil, []sdk.Write{{Kind: sdk.WriteDelete, Key: "dbg"}}); err != nil || res[0].Err != nil || !c.Capabilities().AtomicGuard {
		t.Fatalf("WriteBatch through reattached plugin = %v, %v (capabilities %+v)", res, err, c.Capabilities())
	}
	if _, err := sdk.Open(ctx, "x", nil, &sdk.ClientOptions{Reattach: "{not json"}); err == nil || !strings.Contains(err.Error(), "reattach line") {
		t.Fatalf("malformed reattach line: %v", err)
	}
}

// The plugin's logs (its stderr) arrive in the host's logger, and secrets in
// the host's environment do not reach the plugin.
func TestPluginLogsReachHostLogger(t *testing.T) {
	var buf syncBuffer
	logger := hclog.New(&hclog.LoggerOptions{Output: &buf, Level: hclog.Trace})
	t.Setenv("AILERON_VAULT_PASSPHRASE", "do-not-pass-me")
	c := openTestPlugin(t, map[string]string{"log": "hello from the plugin"}, &sdk.ClientOptions{
		Logger: logger, Env: []string{"AILERON_STORE_PLUGIN_LOG_LEVEL=debug"},
	})
	// The test plugin logs its environment's passphrase variable presence.
	if _, _, err := c.Get(context.Background(), "env/AILERON_VAULT_PASSPHRASE"); err == nil {
		t.Error("the plugin sees AILERON_VAULT_PASSPHRASE from the host's environment")
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(buf.String(), "hello from the plugin") {
		if time.Now().After(deadline) {
			t.Fatalf("plugin log line not in the host logger; got:\n%s", buf.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if strings.Contains(buf.String(), "do-not-pass-me") {
		t.Fatal("a secret from the host environment appeared in the logs")
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
