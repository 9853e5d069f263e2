// Package bench measures aileron-store against the best a user could do by
// calling the backend directly: each workload runs through the host's stack
// (plugin process, gRPC, crypto) and, in the same process and run, as a
// baseline through the backend's own client with no plugin and no crypto.
package bench

import (
	"context"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Limits bound a timed loop: it stops at Ops operations or after Duration,
// whichever comes first (at least one of them is set).
type Limits struct {
	Ops      int
	Duration time.Duration
}

// Sample is the outcome of one timed loop.
type Sample struct {
	Ops     int
	Elapsed time.Duration
	P50     time.Duration
	P99     time.Duration
}

// OpsPerSec is the throughput of the loop.
func (s Sample) OpsPerSec() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Ops) / s.Elapsed.Seconds()
}

// maxSamples bounds the memory a loop uses for latencies.
const maxSamples = 2_000_000

// Loop runs op from concurrency goroutines until the limits are reached and
// returns exact latency percentiles. op gets the global index of the
// operation. The first error stops the loop and is returned.
func Loop(ctx context.Context, concurrency int, lim Limits, op func(ctx context.Context, i int) error) (Sample, error) {
	lat, elapsed, err := loop(ctx, concurrency, lim, op)
	if err != nil {
		return Sample{}, err
	}
	return Summarize(lat, elapsed), nil
}

// loop is Loop returning every latency and the elapsed time.
func loop(ctx context.Context, concurrency int, lim Limits, op func(ctx context.Context, i int) error) ([]time.Duration, time.Duration, error) {
	if concurrency < 1 {
		concurrency = 1
	}
	if lim.Ops <= 0 && lim.Duration <= 0 {
		lim.Ops = 1000
	}
	if lim.Ops <= 0 || lim.Ops > maxSamples {
		lim.Ops = maxSamples
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Each goroutine keeps its own latencies (no shared preallocation, so
	// setup costs nothing and the clock starts right before the work).
	per := make([][]time.Duration, concurrency)
	var next atomic.Int64
	var firstErr error
	var errOnce sync.Once
	var wg sync.WaitGroup
	start := time.Now()
	var deadline time.Time
	if lim.Duration > 0 {
		deadline = start.Add(lim.Duration)
	}
	for g := 0; g < concurrency; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= lim.Ops || ctx.Err() != nil || (!deadline.IsZero() && time.Now().After(deadline)) {
					return
				}
				t0 := time.Now()
				if err := op(ctx, i); err != nil {
					errOnce.Do(func() { firstErr = err; cancel() })
					return
				}
				per[g] = append(per[g], time.Since(t0))
			}
		}(g)
	}
	wg.Wait()
	elapsed := time.Since(start)
	if firstErr != nil {
		return nil, 0, firstErr
	}
	var got []time.Duration
	for _, l := range per {
		got = append(got, l...)
	}
	return got, elapsed, nil
}

// Summarize computes percentiles of latencies measured over elapsed.
func Summarize(lat []time.Duration, elapsed time.Duration) Sample {
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	s := Sample{Ops: len(lat), Elapsed: elapsed}
	if len(lat) > 0 {
		s.P50 = lat[percentileIndex(len(lat), 0.50)]
		s.P99 = lat[percentileIndex(len(lat), 0.99)]
	}
	return s
}

func percentileIndex(n int, p float64) int {
	i := int(float64(n)*p+0.5) - 1
	if i < 0 {
		i = 0
	}
	if i >= n {
		i = n - 1
	}
	return i
}

// ResetPeakRSS resets the kernel's high-water mark of this process's
// resident set (Linux /proc/self/clear_refs), so that PeakRSS measures the
// next workload alone. It reports whether the reset worked.
func ResetPeakRSS() bool {
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
}

// PeakRSS returns the high-water mark of this process's resident set in
// bytes (VmHWM), or 0 where /proc is not available.
func PeakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(rest)
			if len(f) >= 1 {
				kb, _ := strconv.ParseInt(f[0], 10, 64)
				return kb * 1024
			}
		}
	}
	return 0
}
