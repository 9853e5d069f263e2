package core

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ALRubinger/aileron-store/core/internal/wire"
	"github.com/ALRubinger/aileron-store/sdk"
	"github.com/ALRubinger/aileron-store/sdk/memstore"
)

// passStore is a store without an atomic guard (as on S3 and GCS) that
// numbers the sweep's passes (a pass starts with the first List of the
// record prefix) and records, per pass, the values it serves: each Get of a
// key, and each entry of a List with values of the record or quarantine
// prefix (one GET per object on S3).
// before runs at the start of a pass, uncounted, before its first List is
// answered; afterList runs once the first List of a pass has been answered.
type passStore struct {
	sdk.Store
	recPrefix string
	qPrefix   string

	mu         sync.Mutex
	armed      bool
	paused     bool
	pass       int
	gets       map[int]map[string]int // pass -> key -> Gets
	listValues map[int]int            // pass -> entries listed with values
	before     func(pass int)
	afterList  func(pass int)
}

func (p *passStore) Get(ctx context.Context, key string) ([]byte, sdk.Version, error) {
	p.mu.Lock()
	if p.armed && !p.paused {
		if p.gets[p.pass] == nil {
			p.gets[p.pass] = map[string]int{}
		}
		p.gets[p.pass][key]++
	}
	p.mu.Unlock()
	return p.Store.Get(ctx, key)
}

func (p *passStore) List(ctx context.Context, o sdk.ListOptions) (sdk.Page, error) {
	p.mu.Lock()
	start := p.armed && !p.paused && o.Prefix == p.recPrefix && o.StartAfter == ""
	var pass int
	if start {
		p.pass++
		pass = p.pass
		p.paused = true
	}
	p.mu.Unlock()
	if start && p.before != nil {
		p.before(pass)
	}
	p.mu.Lock()
	p.paused = false
	p.mu.Unlock()
	page, err := p.Store.List(ctx, o)
	if start && p.afterList != nil {
		p.afterList(pass)
	}
	p.mu.Lock()
	if p.armed && !p.paused && o.WithValues && (o.Prefix == p.recPrefix || o.Prefix == p.qPrefix) {
		p.listValues[p.pass] += len(page.Entries)
	}
	p.mu.Unlock()
	return page, err
}

// The final pass of a revoke on a store without an atomic guard lists keys
// and versions only and reads no value of a record the first pass kept (a
// write under the new key during the pending rotation) or wrote (moved and
// quarantined copies), yet finds and handles what changed between the passes: a stale
// write under the old key by a current member (moved), one by the revoked
// member (quarantined), a record rewritten in place by a current member
// (kept, re-read), one overwritten in place with garbage (discarded), a
// blob planted in the quarantine (discarded), and a stale write deleted
// between the listing and its read (skipped).
func TestFinalPassReadsOnlyChanges(t *testing.T) {
	ctx := context.Background()
	base := memstore.New()
	p := &passStore{Store: base, gets: map[int]map[string]int{}, listValues: map[int]int{}}
	f := newRevokeFixture(t, p)
	p.recPrefix, p.qPrefix = recordPrefix(f.va.id), quarantinePrefix(f.va.id)
	old := f.bobKeys[0]
	const n = 300
	for i := range n {
		must(t, f.va.Put(ctx, fmt.Sprintf("cred-%03d", i), []byte(fmt.Sprintf("value-%03d", i))))
	}
	// The revoke is interrupted; carol writes during the pending rotation
	// (under the new key: the first pass of the resumed sweep keeps it).
	interruptedRevoke(t, f)
	vp, err := newEngine(t, p, nil).Unlock(ctx, f.va.name, f.cr)
	must(t, err)
	must(t, vp.Put(ctx, "during-pending", []byte("new key already")))

	// Between the first pass and the final pass.
	var stale, planted, vanish, rewritten, overwritten, qplant string
	p.before = func(pass int) {
		if pass != 2 {
			return
		}
		stale = forge(t, base, f.va.id, old, f.cr, "stale-by-carol", "landed late")
		planted = forge(t, base, f.va.id, old, f.bob, "planted-late", "evil")
		vanish = forge(t, base, f.va.id, old, f.cr, "vanishing", "deleted before it is read")
		qplant = quarantinePrefix(f.va.id) + strings.Repeat("9a", 32)
		put(t, base, qplant, []byte("not a quarantined record"))
		// carol rewrites cred-007 (under the new key: same key, new version).
		before := dump(t, base)
		vw, err := newEngine(t, p, nil).Unlock(ctx, f.va.name, f.cr)
		must(t, err)
		must(t, vw.Put(ctx, "cred-007", []byte("rewritten by carol")))
		var keys []string
		for k, raw := range dump(t, base) {
			if !strings.HasPrefix(k, p.recPrefix) || k == stale || k == planted || k == vanish {
				continue
			}
			keys = append(keys, k)
			if !slices.Equal(before[k], raw) {
				rewritten = k
			}
		}
		if rewritten == "" {
			t.Error("carol's rewrite of cred-007 changed no record in place")
		}
		// The revoked member overwrites another record in place.
		sort.Strings(keys)
		for _, k := range keys {
			if k != rewritten {
				overwritten = k
				break
			}
		}
		put(t, base, overwritten, []byte("garbage over a swept record"))
	}
	p.afterList = func(pass int) {
		if pass == 2 {
			must(t, base.Delete(ctx, vanish, sdk.None))
		}
	}

	const w = 300 * time.Millisecond
	ea := newEngine(t, p, nil)
	ea.writeTimeout = w
	va, err := ea.Unlock(ctx, f.va.name, f.alice)
	must(t, err)
	if pending, err := va.Pending(ctx); err != nil || !pending {
		t.Fatalf("pending before the resume: %v %v", pending, err)
	}
	p.mu.Lock()
	p.armed = true
	p.mu.Unlock()
	rep, err := va.Resume(ctx)
	must(t, err)
	p.mu.Lock()
	p.armed = false
	passes, gets, listValues := p.pass, p.gets, p.listValues
	p.mu.Unlock()

	if passes != 2 {
		t.Fatalf("the sweep made %d passes, want 2 (the first, the final)", passes)
	}
	// The first pass reads every record (bob-note, three fixture
	// credentials, during-pending, n more), the final pass lists keys only.
	if listValues[1] < n+5 {
		t.Fatalf("the first pass listed %d values, want at least %d", listValues[1], n+5)
	}
	if listValues[2] != 0 {
		t.Fatalf("the final pass listed %d values, want keys only", listValues[2])
	}
	changed := map[string]bool{stale: true, planted: true, vanish: true, rewritten: true, overwritten: true, qplant: true}
	for k, c := range gets[2] {
		if (strings.HasPrefix(k, p.recPrefix) || strings.HasPrefix(k, quarantinePrefix(f.va.id))) && !changed[k] {
			t.Errorf("the final pass read unchanged record %s (%d Gets)", k, c)
		}
	}
	for k := range changed {
		if gets[2][k] == 0 {
			t.Errorf("the final pass did not read %s, which changed after the first pass", k)
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	// What changed was handled as by a full pass.
	if got, err := va.Get(ctx, "stale-by-carol"); err != nil || string(got) != "landed late" {
		t.Fatalf("carol's stale write: %q %v", got, err)
	}
	if got, err := va.Get(ctx, "cred-007"); err != nil || string(got) != "rewritten by carol" {
		t.Fatalf("carol's rewrite in place: %q %v", got, err)
	}
	if got, err := va.Get(ctx, "during-pending"); err != nil || string(got) != "new key already" {
		t.Fatalf("carol's write during the pending rotation: %q %v", got, err)
	}
	for _, name := range []string{"planted-late", "bob-note"} {
		if !slices.ContainsFunc(rep.Quarantined, func(q QuarantinedRecord) bool { return q.Name == name }) {
			t.Fatalf("%s not quarantined: %+v", name, rep.Quarantined)
		}
	}
	var discarded []string
	for _, d := range rep.Discarded {
		discarded = append(discarded, d.Key)
	}
	slices.Sort(discarded)
	want := []string{overwritten, qplant}
	slices.Sort(want)
	if !slices.Equal(discarded, want) {
		t.Fatalf("discarded %v, want %v (the overwritten record and the quarantine plant; not the vanished write)", discarded, want)
	}
	s, _ := va.current()
	for k, raw := range dump(t, base) {
		if !strings.HasPrefix(k, p.recPrefix) && !strings.HasPrefix(k, quarantinePrefix(f.va.id)) {
			continue
		}
		rec, err := wire.ParseRecord(raw)
		must(t, err)
		if rec.Epoch != s.head.h.Epoch {
			t.Fatalf("%s left under epoch %d after the revoke (head epoch %d)", k, rec.Epoch, s.head.h.Epoch)
		}
	}
	lost := 0
	for i := range n {
		name := fmt.Sprintf("cred-%03d", i)
		got, err := va.Get(ctx, name)
		switch {
		case err != nil:
			lost++ // the one the revoked member overwrote with garbage
		case name == "cred-007":
		case string(got) != fmt.Sprintf("value-%03d", i):
			t.Fatalf("%s: %q", name, got)
		}
	}
	if lost > 1 {
		t.Fatalf("%d credentials lost, want at most the overwritten one", lost)
	}
	assertOldKeysUseless(t, base, va, f.bobKeys, f.bob)
}
