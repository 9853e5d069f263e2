// Package conformance is the suite every aileron-store storage plugin must
// pass. It is an ordinary importable package: a plugin author runs it from a
// test,
//
//	func TestConformance(t *testing.T) {
//		conformance.Run(t, conformance.Harness{
//			New: func(ctx context.Context) (sdk.Store, error) { return mystore.New(ctx, freshConfig()) },
//		})
//	}
//
// or against a built plugin binary with PluginHarness, and the host runs the
// same checks from its `conformance` command through RunChecks, without the
// testing package.
//
// Each check exercises exactly one behaviour of the sdk.Store contract on a
// fresh, empty store that the Harness makes for it, and is bounded in count
// and time. Checks are named "group/behaviour" (for example
// "cas/race-one-winner"); Checks lists them in the order they run and
// docs/conformance.md explains each one.
//
// A check ends in one of four statuses: pass, fail, gap (the harness declared
// that its backend or emulator cannot enforce the behaviour; reported with
// the reason, never as a pass) and skip (the harness lacks what the check
// needs, such as Kill for the crash check). When AILERON_REQUIRE_ALL_BACKENDS=1
// or Harness.RequireAll is set, a skip is a failure.
package conformance
