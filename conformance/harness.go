package conformance

import (
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/ALRubinger/aileron-store/sdk"
)

// Harness tells the suite how to make and manage the stores it checks. Only
// New is required; a check that needs a missing function is skipped (or
// fails, under RequireAll).
type Harness struct {
	// New returns a fresh, empty store: a new directory, database schema,
	// bucket or key prefix. It is called once per check. The suite closes
	// the store when the check ends, after deleting what the check wrote.
	//
	// The checks call the stores New, Reopen and Attach return through
	// sdk.Checked, as sdk.Serve does for a plugin, so a store made in process
	// need not check its arguments; Reopen, Kill and Attach receive the
	// store as the harness made it.
	New func(ctx context.Context) (sdk.Store, error)

	// Reopen closes s (which New, Reopen or Attach returned; it may have
	// been killed) and returns a new store over the same data, as a host
	// restart would: for a plugin, a new plugin process. Used by the
	// durability and crash checks.
	Reopen func(ctx context.Context, s sdk.Store) (sdk.Store, error)

	// Kill ends s abruptly, as a crash would: for a plugin, SIGKILL of the
	// plugin process, with writes possibly in flight. The crash check calls
	// Reopen afterwards.
	Kill func(s sdk.Store) error

	// Attach returns another, independent client of the data behind s: a
	// second plugin process, connection or host. The race and soak checks
	// spread their clients over attached stores so that compare-and-swap is
	// checked between processes, not only between goroutines. The check
	// closes what Attach returns. When nil, all clients share s.
	Attach func(ctx context.Context, s sdk.Store) (sdk.Store, error)

	// Clients is the number of concurrent clients in the race check
	// (default 32); the soak check uses a quarter of them (at least 2).
	Clients int

	// Gaps maps a check name to the reason its backend (usually an emulator)
	// cannot enforce that behaviour. The check still runs, but its result is
	// "gap" with the reason, never "pass".
	Gaps map[string]string

	// Timeout bounds one check (default 60s). A check that does not return
	// within Timeout plus a grace period is reported as failed. A check that
	// fails after running out of its time says so, naming TimeoutOption.
	Timeout time.Duration

	// TimeoutOption names, in the failure of a check that ran out of time,
	// how its user raises Timeout (default "conformance.Harness.Timeout";
	// the host's conformance command sets "--check-timeout").
	TimeoutOption string

	// RequireAll turns a skip into a failure. The environment variable
	// AILERON_REQUIRE_ALL_BACKENDS=1 does the same.
	RequireAll bool

	// Logf, when set, receives the progress lines of RunChecks (check
	// started, finished). Run logs through the testing.T instead.
	Logf func(format string, args ...any)
}

// Status is the outcome of one check.
type Status string

const (
	// StatusPass: the store showed the behaviour.
	StatusPass Status = "pass"
	// StatusFail: the store did not, or the harness failed.
	StatusFail Status = "fail"
	// StatusGap: the harness declared that the backend cannot enforce the
	// behaviour (Harness.Gaps); never counted as a pass.
	StatusGap Status = "gap"
	// StatusSkip: the harness lacks what the check needs.
	StatusSkip Status = "skip"
)

// Result is the outcome of one check.
type Result struct {
	Name   string `json:"name"`
	Status Status `json:"status"`
	// Reason says why a check failed, was skipped or is a gap.
	Reason string `json:"reason,omitempty"`
	// Log holds the check's progress notes.
	Log      []string      `json:"log,omitempty"`
	Duration time.Duration `json:"duration_ns"`
}

// Check is one named behaviour of the Store contract.
type Check struct {
	// Name is "group/behaviour", e.g. "cas/race-one-winner".
	Name string
	// Doc says in one sentence what the check asserts.
	Doc   string
	needs need
	run   func(*env)
}

type need uint8

const (
	needReopen need = 1 << iota
	needKill
)

// Checks returns every check of the suite, in the order they run.
func Checks() []Check {
	return append([]Check(nil), registry...)
}

// requireAll reports whether skips are failures for h.
func (h *Harness) requireAll() bool {
	return h.RequireAll || os.Getenv("AILERON_REQUIRE_ALL_BACKENDS") == "1"
}

func (h *Harness) timeout() time.Duration {
	if h.Timeout > 0 {
		return h.Timeout
	}
	return 60 * time.Second
}

func (h *Harness) timeoutOption() string {
	if h.TimeoutOption != "" {
		return h.TimeoutOption
	}
	return "conformance.Harness.Timeout"
}

// outOfTime is the reason of a check that failed after its time ran out.
func (h *Harness) outOfTime(name, reason string) string {
	return fmt.Sprintf("check %s ran out of its time limit of %v (give it more with %s); when the time ran out: %s", name, h.timeout(), h.timeoutOption(), reason)
}

func (h *Harness) clients() int {
	if h.Clients > 0 {
		return h.Clients
	}
	return 32
}

// RunChecks runs every check whose name matches filter (all when filter is
// nil) against stores made by h and returns one Result per check, in order.
// It never panics on a misbehaving store; a check that does not return
// within h.Timeout plus a grace period is reported as failed and abandoned.
func RunChecks(ctx context.Context, h Harness, filter *regexp.Regexp) []Result {
	var results []Result
	if err := h.validate(); err != nil {
		return []Result{{Name: "harness", Status: StatusFail, Reason: err.Error()}}
	}
	for _, c := range registry {
		if filter != nil && !filter.MatchString(c.Name) {
			continue
		}
		if ctx.Err() != nil {
			results = append(results, Result{Name: c.Name, Status: StatusFail, Reason: "not run: " + ctx.Err().Error()})
			continue
		}
		if h.Logf != nil {
			h.Logf("conformance: %s: running", c.Name)
		}
		r := runOne(ctx, &h, c)
		if h.Logf != nil {
			h.Logf("conformance: %s: %s (%v)", c.Name, r.Status, r.Duration.Round(time.Millisecond))
		}
		results = append(results, r)
	}
	return results
}

func (h *Harness) validate() error {
	if h.New == nil {
		return errors.New("conformance: Harness.New is nil")
	}
	var unknown []string
	for name := range h.Gaps {
		if !knownCheck(name) {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return fmt.Errorf("conformance: Harness.Gaps names unknown checks %q", unknown)
	}
	return nil
}

func knownCheck(name string) bool {
	for _, c := range registry {
		if c.Name == name {
			return true
		}
	}
	return false
}

// failure is the panic with which a check ends early; runOne recovers it.
type failure struct{ msg string }

func runOne(parent context.Context, h *Harness, c Check) (res Result) {
	res.Name = c.Name
	start := time.Now()
	defer func() { res.Duration = time.Since(start) }()

	gapReason, isGap := h.Gaps[c.Name]
	var missing []string
	if c.needs&needReopen != 0 && h.Reopen == nil {
		missing = append(missing, "Reopen")
	}
	if c.needs&needKill != 0 && h.Kill == nil {
		missing = append(missing, "Kill")
	}
	if len(missing) > 0 {
		reason := "harness has no " + strings.Join(missing, " or ")
		switch {
		case isGap:
			return Result{Name: c.Name, Status: StatusGap, Reason: gapReason + " (not run: " + reason + ")"}
		case h.requireAll():
			return Result{Name: c.Name, Status: StatusFail, Reason: reason + ", and skips are not allowed (AILERON_REQUIRE_ALL_BACKENDS=1)"}
		default:
			return Result{Name: c.Name, Status: StatusSkip, Reason: reason}
		}
	}

	ctx, cancel := context.WithTimeout(parent, h.timeout())
	defer cancel()
	s, err := h.New(ctx)
	if err != nil {
		return Result{Name: c.Name, Status: StatusFail, Reason: fmt.Sprintf("harness New: %v", err)}
	}
	e := &env{ctx: ctx, h: h, s: sdk.Checked(s), raw: s, name: c.Name}

	type outcome struct {
		status Status
		reason string
	}
	done := make(chan outcome, 1)
	go func() {
		o := outcome{status: StatusPass}
		defer func() {
			if r := recover(); r != nil {
				switch v := r.(type) {
				case failure:
					o = outcome{StatusFail, v.msg}
				default:
					o = outcome{StatusFail, fmt.Sprintf("panic: %v", r)}
				}
			}
			done <- o
		}()
		c.run(e)
	}()

	var o outcome
	select {
	case o = <-done:
	case <-time.After(h.timeout() + 15*time.Second):
		// The check ignored its context's deadline: abandon it without
		// cleaning up, as the store is still in use.
		return Result{Name: c.Name, Status: StatusFail, Log: e.takeLog(),
			Reason: fmt.Sprintf("check %s did not return within %v, its time limit of %v (set with %s) plus 15s: the store does not honour context deadlines", c.Name, h.timeout()+15*time.Second, h.timeout(), h.timeoutOption())}
	}
	if o.status == StatusFail && parent.Err() == nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		o.reason = h.outOfTime(c.Name, o.reason)
	}
	e.cleanup(parent)

	res.Log = e.takeLog()
	res.Status, res.Reason = o.status, o.reason
	if isGap {
		switch res.Status {
		case StatusPass:
			res.Reason = gapReason + " (the check passed this time)"
		default:
			res.Reason = gapReason + " (check result: " + string(res.Status) + ": " + res.Reason + ")"
		}
		res.Status = StatusGap
	}
	return res
}

// Summary counts results by status.
func Summary(results []Result) map[Status]int {
	m := map[Status]int{}
	for _, r := range results {
		m[r.Status]++
	}
	return m
}

// Failed reports whether any result is a failure.
func Failed(results []Result) bool {
	for _, r := range results {
		if r.Status == StatusFail {
			return true
		}
	}
	return false
}
