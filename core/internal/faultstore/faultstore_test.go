package faultstore

import (
	"context"
	"errors"
	"testing"

	"github.com/ALRubinger/aileron-store/sdk"
	"github.com/ALRubinger/aileron-store/sdk/memstore"
)

func TestFaultModes(t *testing.T) {
	ctx := context.Background()
	for _, mode := range []Mode{Before, After} {
		inner := memstore.New()
		s := New(inner)
		s.Arm(2, mode)
		if _, err := s.Put(ctx, "a", []byte("1"), sdk.None); err != nil {
			t.Fatal(err)
		}
		_, err := s.Put(ctx, "b", []byte("2"), sdk.None)
		if !errors.Is(err, sdk.ErrUnavailable) || !s.Tripped() {
			t.Fatalf("%s: 2nd put: %v", mode, err)
		}
		_, _, gerr := inner.Get(ctx, "b")
		if took := gerr == nil; took != (mode == After) {
			t.Fatalf("%s: write took effect = %v", mode, took)
		}
		// Dead until disarmed: reads and writes fail.
		if _, _, err := s.Get(ctx, "a"); !errors.Is(err, sdk.ErrUnavailable) {
			t.Fatalf("%s: get after crash: %v", mode, err)
		}
		if err := s.Delete(ctx, "a", sdk.None); !errors.Is(err, sdk.ErrUnavailable) {
			t.Fatalf("%s: delete after crash: %v", mode, err)
		}
		if _, err := s.List(ctx, sdk.ListOptions{}); !errors.Is(err, sdk.ErrUnavailable) {
			t.Fatalf("%s: list after crash: %v", mode, err)
		}
		if s.Count() != 2 {
			t.Fatalf("%s: count %d", mode, s.Count())
		}
		s.Disarm()
		if _, _, err := s.Get(ctx, "a"); err != nil {
			t.Fatalf("%s: get after disarm: %v", mode, err)
		}
	}
}
