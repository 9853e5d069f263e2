package conformance

import (
	"fmt"
	"io"
	"strings"
	"testing"
	"text/tabwriter"
	"time"
)

// Run runs every check against stores made by h, each as a subtest of t
// named after the check (so `go test -run 'TestX/cas/'` selects a group). A
// failed check fails its subtest; a skipped one is skipped, or fails when
// AILERON_REQUIRE_ALL_BACKENDS=1 or h.RequireAll; a gap is logged as
// "KNOWN GAP" with its reason and does not fail.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if err := h.validate(); err != nil {
		t.Fatal(err)
	}
	for _, c := range registry {
		t.Run(c.Name, func(t *testing.T) {
			r := runOne(t.Context(), &h, c)
			for _, l := range r.Log {
				t.Log(l)
			}
			switch r.Status {
			case StatusFail:
				t.Fatalf("FAIL %s: %s", c.Name, r.Reason)
			case StatusSkip:
				t.Skipf("SKIP %s: %s", c.Name, r.Reason)
			case StatusGap:
				t.Logf("KNOWN GAP %s: %s", c.Name, r.Reason)
			}
		})
	}
}

// WriteTable writes results as an aligned table (check, status, time,
// reason) followed by a one-line summary.
func WriteTable(w io.Writer, results []Result) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CHECK\tSTATUS\tTIME\tREASON")
	for _, r := range results {
		status := strings.ToUpper(string(r.Status))
		if r.Status == StatusGap {
			status = "KNOWN GAP"
		}
		reason := strings.ReplaceAll(r.Reason, "\n", " ")
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Name, status, r.Duration.Round(time.Millisecond), reason)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	var total time.Duration
	for _, r := range results {
		total += r.Duration
	}
	s := Summary(results)
	_, err := fmt.Fprintf(w, "%d checks: %d passed, %d failed, %d known gaps, %d skipped in %v\n",
		len(results), s[StatusPass], s[StatusFail], s[StatusGap], s[StatusSkip], total.Round(time.Millisecond))
	return err
}
