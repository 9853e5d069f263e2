package conformance_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/ALRubinger/aileron-store/conformance"
	"github.com/ALRubinger/aileron-store/internal/testenv"
	"github.com/ALRubinger/aileron-store/sdk"
	"github.com/ALRubinger/aileron-store/sdk/memstore"
)

func TestMain(m *testing.M) {
	if relayMain() {
		return
	}
	testenv.Main(m)
}

// handle is one client of a shared memstore: closing it ends the handle,
// not the data, so that Reopen and Attach can be checked in process.
type handle struct {
	m      *memstore.Store
	closed atomic.Bool
}

func (h *handle) check() error {
	if h.closed.Load() {
		return sdk.Errorf(sdk.ErrUnavailable, "memstore handle is closed")
	}
	return nil
}

func (h *handle) Get(ctx context.Context, key string) ([]byte, sdk.Version, error) {
	if err := h.check(); err != nil {
		return nil, "", err
	}
	return h.m.Get(ctx, key)
}

func (h *handle) Put(ctx context.Context, key string, value []byte, cond sdk.Cond) (sdk.Version, error) {
	if err := h.check(); err != nil {
		return "", err
	}
	return h.m.Put(ctx, key, value, cond)
}

func (h *handle) Delete(ctx context.Context, key string, cond sdk.Cond) error {
	if err := h.check(); err != nil {
		return err
	}
	return h.m.Delete(ctx, key, cond)
}

func (h *handle) List(ctx context.Context, opts sdk.ListOptions) (sdk.Page, error) {
	if err := h.check(); err != nil {
		return sdk.Page{}, err
	}
	return h.m.List(ctx, opts)
}

func (h *handle) WriteBatch(ctx context.Context, guard *sdk.Guard, writes []sdk.Write) ([]sdk.WriteResult, error) {
	if err := h.check(); err != nil {
		return nil, err
	}
	return h.m.WriteBatch(ctx, guard, writes)
}

func (h *handle) Close() error { h.closed.Store(true); return nil }

func (h *handle) Capabilities() sdk.Capabilities { return h.m.Capabilities() }

// memHarness checks sdk/memstore in process. Reopen and Attach make new
// handles of the same data; nothing can be killed in process.
func memHarness() conformance.Harness {
	return conformance.Harness{
		New: func(context.Context) (sdk.Store, error) { return &handle{m: memstore.New()}, nil },
		Reopen: func(_ context.Context, s sdk.Store) (sdk.Store, error) {
			h := s.(*handle)
			h.Close()
			return &handle{m: h.m}, nil
		},
		Attach: func(_ context.Context, s sdk.Store) (sdk.Store, error) {
			return &handle{m: s.(*handle).m}, nil
		},
		Gaps: map[string]string{
			"crash/kill-during-writes": "in-process memory store: there is no process to kill",
		},
	}
}

func TestMemstore(t *testing.T) {
	conformance.Run(t, memHarness())
}

// TestMemstorePlain runs the suite the way a third party with only New
// would: durability is skipped (or fails under AILERON_REQUIRE_ALL_BACKENDS),
// everything else passes.
func TestMemstorePlain(t *testing.T) {
	h := conformance.Harness{
		New: func(ctx context.Context) (sdk.Store, error) { return memstore.Factory(ctx, nil) },
	}
	results := conformance.RunChecks(t.Context(), h, nil)
	for _, r := range results {
		switch r.Name {
		case "durability/reopen-data", "durability/reopen-versions", "crash/kill-during-writes":
			want := conformance.StatusSkip
			if testenv.RequireAll() {
				want = conformance.StatusFail
			}
			if r.Status != want {
				t.Errorf("%s: status %s (%s), want %s: the harness has no Reopen/Kill", r.Name, r.Status, r.Reason, want)
			}
		default:
			if r.Status != conformance.StatusPass {
				t.Errorf("%s: %s: %s", r.Name, r.Status, r.Reason)
			}
		}
	}
}
