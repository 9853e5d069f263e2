package s3

import (
	"context"
	"fmt"
	"maps"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ALRubinger/aileron-store/conformance"
	"github.com/ALRubinger/aileron-store/internal/testenv"
)

// freshPrefixes returns a function that gives each call the configuration of
// a fresh, empty store: one bucket of the shared server of that kind per
// test, a new key prefix per store, so every check also runs beside the
// earlier checks' data under other prefixes.
func freshPrefixes(t *testing.T, kind testenv.S3Kind, kv ...string) func() map[string]string {
	srv := testenv.S3Of(t, kind)
	bucket := srv.NewBucket(t)
	var n atomic.Int64
	return func() map[string]string {
		cfg := srv.Config(bucket)
		cfg["prefix"] = fmt.Sprintf("conformance/c%03d", n.Add(1))
		for i := 0; i < len(kv); i += 2 {
			cfg[kv[i]] = kv[i+1]
		}
		return cfg
	}
}

// inProcessHarness runs the store in this process. Attach opens another
// Store (its own HTTP connections) over the same bucket and prefix. There is
// no process to kill in process: the crash check runs in
// TestConformancePlugin, and is declared a gap here rather than skipped.
func inProcessHarness(t *testing.T, fresh func() map[string]string) conformance.Harness {
	return conformance.NewFactoryHarness(conformance.FactoryOptions{
		Factory: New,
		Fresh:   func(context.Context) (map[string]string, error) { return fresh(), nil },
		Gaps: map[string]string{
			"crash/kill-during-writes": "in process there is no plugin process to SIGKILL; the plugin-boundary run of the suite (TestConformancePlugin) runs this check",
		},
	})
}

// TestConformance runs the shared suite against the store in process on
// versitygw in both metadata modes, in the conditional-delete mode versitygw
// probes to (tombstone, then delete with If-Match).
func TestConformance(t *testing.T) {
	for _, kind := range []testenv.S3Kind{testenv.Versitygw, testenv.VersitygwSidecar} {
		t.Run(string(kind), func(t *testing.T) {
			conformance.Run(t, sidecarGaps(kind, inProcessHarness(t, freshPrefixes(t, kind))))
		})
	}
}

// TestConformanceTombstone runs the suite in conditional_delete=tombstone
// mode, the mode New picks on servers that ignore If-Match on DeleteObject.
func TestConformanceTombstone(t *testing.T) {
	conformance.Run(t, inProcessHarness(t, freshPrefixes(t, testenv.Versitygw, "conditional_delete", "tombstone")))
}

// TestConformancePlugin runs the suite across the process boundary against
// every S3 server the test command provisions (versitygw in both metadata
// modes, MinIO): each store is an aileron-store-s3 plugin process started
// with sdk.Open, attached clients are further plugin processes, and the
// crash check SIGKILLs the plugin with writes in flight.
func TestConformancePlugin(t *testing.T) {
	bin := testenv.Binary(t, pluginPkg)
	for _, kind := range testenv.S3Kinds {
		t.Run(string(kind), func(t *testing.T) {
			start := time.Now()
			conformance.Run(t, sidecarGaps(kind, conformance.PluginHarness(t, bin, freshPrefixes(t, kind))))
			t.Logf("suite against %s across the plugin boundary: %v", kind, time.Since(start).Round(time.Millisecond))
		})
	}
}

// sidecarGaps marks, on versitygw --sidecar, the soak check as a server gap.
// versitygw v1.8.0 in that mode can leave an object with its data and no
// ETag for good when a DeleteObject and a PutObject of the key race (seen in
// about one suite run in four: every later read of the key answers without
// an ETag, and the plugin reports so rather than return an unversioned
// value). The check still runs and its result is logged; the soak runs in
// full on versitygw with extended attributes and on MinIO.
func sidecarGaps(kind testenv.S3Kind, h conformance.Harness) conformance.Harness {
	if kind != testenv.VersitygwSidecar {
		return h
	}
	gaps := maps.Clone(h.Gaps)
	if gaps == nil {
		gaps = map[string]string{}
	}
	gaps["soak/random-ops"] = "versitygw --sidecar can leave a key with data and no ETag for good after a delete races a put (the server's race; the plugin refuses to read it unversioned)"
	h.Gaps = gaps
	return h
}
