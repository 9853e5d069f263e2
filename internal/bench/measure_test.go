package bench

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

func TestSummarizePercentiles(t *testing.T) {
	var lat []time.Duration
	for i := 100; i >= 1; i-- {
		lat = append(lat, time.Duration(i)*time.Microsecond)
	}
	s := Summarize(lat, time.Second)
	if s.P50 != 50*time.Microsecond || s.P99 != 99*time.Microsecond || s.Ops != 100 || s.OpsPerSec() != 100 {
		t.Fatalf("Summarize = %+v", s)
	}
}

func TestLoopCountsAndStops(t *testing.T) {
	var calls atomic.Int64
	s, err := Loop(context.Background(), 4, Limits{Ops: 500}, func(context.Context, int) error {
		calls.Add(1)
		return nil
	})
	if err != nil || s.Ops != 500 || calls.Load() != 500 {
		t.Fatalf("Loop = %+v, %v, calls %d", s, err, calls.Load())
	}
	boom := errors.New("boom")
	_, err = Loop(context.Background(), 2, Limits{Ops: 100}, func(_ context.Context, i int) error {
		if i == 10 {
			return boom
		}
		return nil
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Loop error = %v", err)
	}
	start := time.Now()
	s, err = Loop(context.Background(), 1, Limits{Duration: 50 * time.Millisecond}, func(context.Context, int) error {
		time.Sleep(time.Millisecond)
		return nil
	})
	if err != nil || time.Since(start) > 2*time.Second || s.Ops == 0 {
		t.Fatalf("duration-bounded Loop = %+v, %v after %v", s, err, time.Since(start))
	}
}

func TestPeakRSS(t *testing.T) {
	if PeakRSS() <= 0 {
		t.Fatal("PeakRSS is not positive on Linux")
	}
}
