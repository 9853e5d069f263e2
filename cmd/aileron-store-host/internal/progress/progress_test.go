package progress

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestStructuredLinesThrottled(t *testing.T) {
	var buf bytes.Buffer
	log := hclog.New(&hclog.LoggerOptions{Output: &buf, JSONFormat: true, Level: hclog.Info})
	c := &clock{t: time.Unix(1000, 0)}
	r := New(Options{Logger: log, Interval: 2 * time.Second, Now: c.now})
	for i := 1; i <= 100; i++ {
		c.t = c.t.Add(100 * time.Millisecond) // 10s in all
		r.Update("rotate", i, 100)
	}
	r.Finish()
	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		lines = append(lines, m)
	}
	// First update, then every 2s (20 updates) => 1, 21, 41, 61, 81, then 100 at the end.
	if len(lines) != 6 {
		t.Fatalf("%d lines, want 6:\n%s", len(lines), buf.String())
	}
	for _, m := range lines {
		if m["@message"] != "progress" || m["op"] != "rotate" || m["total"].(float64) != 100 {
			t.Errorf("line %v", m)
		}
	}
	if d := lines[0]["done"].(float64); d != 1 {
		t.Errorf("first done = %v", d)
	}
	last := lines[len(lines)-1]
	if last["done"].(float64) != 100 || last["percent"].(float64) != 100 {
		t.Errorf("last line %v", last)
	}
}

func TestFinishLogsFinalState(t *testing.T) {
	var buf bytes.Buffer
	log := hclog.New(&hclog.LoggerOptions{Output: &buf, JSONFormat: true})
	c := &clock{t: time.Unix(0, 0)}
	r := New(Options{Logger: log, Now: c.now})
	r.Update("migrate", 1, 0)
	r.Update("migrate", 7, 0) // within the interval: not logged yet
	if n := strings.Count(buf.String(), "\n"); n != 1 {
		t.Fatalf("%d lines before Finish", n)
	}
	r.Finish()
	if n := strings.Count(buf.String(), "\n"); n != 2 || !strings.Contains(buf.String(), `"done":7`) {
		t.Fatalf("after Finish: %s", buf.String())
	}
	r.Finish() // idempotent
	if n := strings.Count(buf.String(), "\n"); n != 2 {
		t.Fatalf("second Finish logged again")
	}
}

func TestBar(t *testing.T) {
	var buf bytes.Buffer
	c := &clock{t: time.Unix(0, 0)}
	r := New(Options{Terminal: true, W: &buf, Now: c.now})
	r.Update("sweep", 0, 4)
	r.Update("sweep", 2, 4)
	r.Update("sweep", 4, 4)
	r.Finish()
	out := buf.String()
	if strings.Count(out, "\r") != 4 || !strings.HasSuffix(out, "\n") {
		t.Fatalf("bar output %q", out)
	}
	if !strings.Contains(out, "2/4  50%") || !strings.Contains(out, "["+strings.Repeat("=", 30)+"] 4/4 100%") {
		t.Fatalf("bar output %q", out)
	}
}

func TestNilReporter(t *testing.T) {
	var r *Reporter
	r.Update("x", 1, 2)
	r.Finish()
}
