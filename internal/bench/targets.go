package bench

import "fmt"

// Target is one performance target (issues 10 and 15) checked against
// results of one run.
type Target struct {
	Name   string `json:"target"`
	Met    bool   `json:"met"`
	Detail string `json:"detail"`
}

// Evaluate checks the performance targets that the given results allow:
//   - ping: plugin Ping p50 <= 1.3 x bare cross-process gRPC p50
//   - get and put: added p50 (host p50 - raw p50) <= 1.5 x IPC floor p50 + 10us;
//     put gives beside it the bare write floor's own added p50 where it was
//     measured (bareWriteDetail)
//   - put: plugin round trips per put <= 1 (fs, postgres: the head check
//     travels with the write), <= 2 on other backends
//   - get: throughput at concurrency 8 >= 1.6 x at concurrency 1 (when both ran)
//   - grant: p50 with N credentials <= 1.2 x p50 with 10
//   - revoke: sweep time <= 1.5 x raw read, write and delete of as many blobs
//   - revoke with N >= 100,000: peak RSS < 256 MiB
func Evaluate(results []Result) []Target {
	var out []Target
	getOps := map[int]float64{}
	for _, r := range results {
		switch r.Workload {
		case "ping":
			out = append(out, Target{
				Name: fmt.Sprintf("%s/ping c=%d: plugin Ping p50 <= 1.3 x bare cross-process gRPC p50", r.Backend, r.Concurrency),
				Met:  r.RatioP50 <= 1.3,
				Detail: fmt.Sprintf("plugin %.1fus vs bare %.1fus: ratio %.2f; bare with mutual TLS %.1fus (TLS +%.1fus, go-plugin and the SDK's call path +%.1fus)",
					r.P50us, r.BaselineP50us, r.RatioP50, r.TLSFloorP50us, r.TLSFloorP50us-r.BaselineP50us, r.P50us-r.TLSFloorP50us),
			})
		case "get", "put":
			limit := 1.5*r.IPCFloorP50us + 10
			detail := fmt.Sprintf("added %.1fus (host %.1fus - raw %.1fus), limit %.1fus (floor %.1fus); plain ratio %.2f", r.AddedP50us, r.P50us, r.BaselineP50us, limit, r.IPCFloorP50us, r.RatioP50)
			if r.BareWriteP50us > 0 {
				detail += bareWriteDetail(r, limit)
			}
			out = append(out, Target{
				Name:   fmt.Sprintf("%s/%s c=%d: added p50 <= 1.5 x IPC floor + 10us", r.Backend, r.Workload, r.Concurrency),
				Met:    r.AddedP50us <= limit,
				Detail: detail,
			})
			if r.Workload == "get" {
				getOps[r.Concurrency] = r.OpsPerSec
			}
			if r.Workload == "put" {
				limit := 2.0
				if r.Backend == "fs" || r.Backend == "postgres" {
					limit = 1
				}
				out = append(out, Target{
					Name:   fmt.Sprintf("%s/put c=%d: plugin round trips per put <= %.0f", r.Backend, r.Concurrency, limit),
					Met:    r.CallsPerOp <= limit,
					Detail: fmt.Sprintf("%.2f Store calls per put", r.CallsPerOp),
				})
			}
		case "grant":
			out = append(out, Target{
				Name:   fmt.Sprintf("%s/grant n=%d: p50 <= 1.2 x grant with 10 credentials", r.Backend, r.N),
				Met:    r.RatioP50 <= 1.2,
				Detail: fmt.Sprintf("%.0fus vs %.0fus: ratio %.2f", r.P50us, r.BaselineP50us, r.RatioP50),
			})
		case "revoke":
			out = append(out, Target{
				Name:   fmt.Sprintf("%s/revoke n=%d c=%d: sweep <= 1.5 x raw read+write+delete", r.Backend, r.N, r.Concurrency),
				Met:    r.RatioP50 <= 1.5,
				Detail: fmt.Sprintf("%.2fs vs %.2fs: ratio %.2f; %.3f Store calls per credential", r.P50us/1e6, r.BaselineP50us/1e6, r.RatioP50, r.CallsPerOp),
			})
			if r.N >= 100_000 {
				out = append(out, Target{
					Name:   fmt.Sprintf("%s/revoke n=%d: peak RSS < 256 MiB", r.Backend, r.N),
					Met:    r.PeakRSSBytes < 256<<20,
					Detail: fmt.Sprintf("peak RSS %.1f MiB", float64(r.PeakRSSBytes)/(1<<20)),
				})
			}
		}
	}
	if one, eight := getOps[1], getOps[8]; one > 0 && eight > 0 && len(results) > 0 {
		out = append(out, Target{
			Name:   fmt.Sprintf("%s/get: throughput at c=8 >= 1.6 x c=1", results[0].Backend),
			Met:    eight >= 1.6*one,
			Detail: fmt.Sprintf("%.0f vs %.0f ops/s: %.2fx", eight, one, eight/one),
		})
	}
	return out
}

// bareWriteDetail puts the bare write floor beside put's added latency: what
// a bare gRPC server doing only the raw put adds over the raw put, whether
// that alone exceeds the limit (then no design meets it on this machine),
// and how much of the host's added p50 is above it. It changes no verdict.
func bareWriteDetail(r Result, limit float64) string {
	bare := r.BareWriteP50us - r.BaselineP50us
	s := fmt.Sprintf("; a bare gRPC server doing only the raw put adds %.1fus over the raw put (p50 %.1fus)", bare, r.BareWriteP50us)
	if bare > limit {
		s += ": the limit is below what crossing a process costs for a call that waits on I/O here"
	}
	return s + fmt.Sprintf("; ours is %+.1fus over that", r.AddedP50us-bare)
}

// BareWriteColumn is a result's bare write floor p50 for a table: "-" where
// it was not measured.
func BareWriteColumn(r Result) string {
	if r.BareWriteP50us <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f", r.BareWriteP50us)
}
