package soak

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/ALRubinger/aileron-store/core"
	"github.com/ALRubinger/aileron-store/sdk"
)

// absent stands for "the credential does not exist" (or "not a member") in
// a set of possible states.
const absent = "\x00absent"

// possible is the set of states a credential (or a membership) may be in
// given the acknowledged and unacknowledged operations so far.
type possible map[string]bool

func one(s string) possible { return possible{s: true} }

func (p possible) String() string {
	var out []string
	for s := range p {
		if s == absent {
			s = "<absent>"
		}
		out = append(out, s)
	}
	sort.Strings(out)
	return "{" + strings.Join(out, ", ") + "}"
}

// Stats are the figures of one soak run.
type Stats struct {
	Backend     string
	Duration    time.Duration
	Workers     int
	Acked       map[string]int // acknowledged operations by kind
	Failed      map[string]int // failed or unacknowledged operations by kind
	FailClasses map[string]int // failed operations by error class
	PluginKills int
	HostKills   int
	// PendingAtResume reports that the resume worker found the killed
	// host's rotation still in flight (false: another worker's next admin
	// operation had already completed it).
	PendingAtResume bool
	Records         int
	Epoch, MinEpoch uint64
	HeadSeq         uint64
	Members         int
	Revoked         int
	// Violations break a final-state invariant (a wrong or lost value, a
	// resurrected delete, a revoked member reading, a record below the
	// minimum epoch) or the log's own consistency.
	Violations []string
	// FalseAlarms are operations that an honest backend answered and the
	// core nevertheless failed with ErrTampered or ErrRollback (a race
	// between hosts taken for an attack). They fail the run too: an
	// operator would see "rollback detected" with nobody attacking.
	FalseAlarms []string
}

// TotalOps is the number of operations issued (acknowledged or not).
func (s *Stats) TotalOps() int {
	n := 0
	for _, c := range s.Acked {
		n += c
	}
	for _, c := range s.Failed {
		n += c
	}
	return n
}

// Model is the checker's view of what the workers did, replayed from logs.
type Model struct {
	Creds   map[string]possible // credential name -> possible final states
	Guests  map[string]possible // guest name -> possible membership ("member"/absent)
	Written map[string]bool     // every value any put may have written
	Stats   *Stats
}

func (m *Model) alarm(format string, args ...any) {
	m.Stats.FalseAlarms = append(m.Stats.FalseAlarms, fmt.Sprintf(format, args...))
}

func (m *Model) violate(format string, args ...any) {
	m.Stats.Violations = append(m.Stats.Violations, fmt.Sprintf(format, args...))
}

// Replay builds the model from the workers' logs. creds and guests list
// every credential and guest name of the run (all start absent).
func Replay(logs [][]Entry, creds, guests []string) *Model {
	m := &Model{Creds: map[string]possible{}, Guests: map[string]possible{}, Written: map[string]bool{},
		Stats: &Stats{Acked: map[string]int{}, Failed: map[string]int{}, FailClasses: map[string]int{}}}
	for _, c := range creds {
		m.Creds[c] = one(absent)
	}
	for _, g := range guests {
		m.Guests[g] = one(absent)
	}
	// Every value a put may have written, from any worker (for reads of
	// other workers' credentials).
	for _, l := range logs {
		for _, e := range l {
			if e.Op == OpPut && e.Phase == PhaseBegin {
				m.Written[e.Val] = true
			}
		}
	}
	for _, l := range logs {
		m.replayWorker(l)
	}
	return m
}

func (m *Model) replayWorker(log []Entry) {
	type op struct{ begin, end *Entry }
	var order []int
	ops := map[int]*op{}
	for i := range log {
		e := &log[i]
		switch e.Op {
		case EvKillPlugin:
			if e.Err == "" {
				m.Stats.PluginKills++
			} else {
				m.violate("worker %d: killing its plugin failed: %s", e.Worker, e.Err)
			}
			continue
		case EvSweepStarted, EvDone, EvPending, EvResume:
			if e.Op == EvPending && e.Val == "true" {
				m.Stats.PendingAtResume = true
			}
			if e.Op == EvResume && (e.Class == "tampered" || e.Class == "rollback") {
				m.violate("worker %d: resume: %s", e.Worker, e.Err)
			}
			continue
		}
		o := ops[e.Seq]
		if o == nil {
			o = &op{}
			ops[e.Seq] = o
			order = append(order, e.Seq)
		}
		if e.Phase == PhaseBegin {
			o.begin = e
		} else {
			o.end = e
		}
	}
	slices.Sort(order)
	for _, seq := range order {
		o := ops[seq]
		if o.begin == nil {
			m.violate("worker log: op %d has a result but no begin", seq)
			continue
		}
		b, e := o.begin, o.end
		acked := e != nil && e.Phase == PhaseOK
		if acked {
			m.Stats.Acked[b.Op]++
		} else {
			m.Stats.Failed[b.Op]++
			class := "unacknowledged"
			if e != nil {
				class = e.Class
			}
			m.Stats.FailClasses[class]++
			if class == "tampered" || class == "rollback" {
				m.alarm("worker %d op %d %s %q: %s on an honest backend: %s", b.Worker, seq, b.Op, b.Name, class, e.Err)
			}
		}
		switch b.Op {
		case OpPut:
			if acked {
				m.Creds[b.Name] = one(b.Val)
			} else {
				m.Creds[b.Name][b.Val] = true
			}
		case OpDelete:
			if acked {
				m.Creds[b.Name] = one(absent)
			} else {
				m.Creds[b.Name][absent] = true
			}
		case OpGet:
			if !acked {
				continue
			}
			got := absent
			if e.Found {
				got = e.Val
			}
			if !m.Creds[b.Name][got] {
				m.violate("worker %d op %d: read of its own %q returned %q, expected one of %v", b.Worker, seq, b.Name, show(got), m.Creds[b.Name])
			}
			m.Creds[b.Name] = one(got)
		case OpGetOther:
			if acked && e.Found && (!strings.HasPrefix(e.Val, b.Name+"|") || !m.Written[e.Val]) {
				m.violate("worker %d op %d: read of %q returned %q, a value never written to it", b.Worker, seq, b.Name, e.Val)
			}
		case OpList:
			if !acked {
				continue
			}
			listed := map[string]bool{}
			for _, n := range e.Names {
				listed[n] = true
				if _, ok := m.Creds[n]; !ok {
					m.violate("worker %d op %d: list returned %q, a name never written", b.Worker, seq, n)
				}
			}
			// Own credentials (the ones this worker changes) must agree.
			for name, p := range m.Creds {
				if !strings.HasPrefix(name, fmt.Sprintf("w%d-", b.Worker)) {
					continue
				}
				if listed[name] && len(p) == 1 && p[absent] {
					m.violate("worker %d op %d: list shows %q, which is deleted", b.Worker, seq, name)
				}
				if !listed[name] && !p[absent] {
					m.violate("worker %d op %d: list omits %q, which holds %v", b.Worker, seq, name, p)
				}
			}
		case OpGrant:
			if acked {
				m.Guests[b.Name] = one("member")
			} else {
				m.Guests[b.Name]["member"] = true
			}
		case OpRevoke:
			if acked {
				m.Guests[b.Name] = one(absent)
			} else {
				m.Guests[b.Name][absent] = true
			}
		}
	}
}

func show(s string) string {
	if s == absent {
		return "<absent>"
	}
	return s
}

// Final checks the store's final state against the model:
//   - through the core (a fresh engine, no rollback pin): every credential
//     reads back with a value its log allows, acknowledged deletes stay
//     deleted, membership matches, every current member reads everything,
//     every revoked guest is refused;
//   - raw: no rotation in flight, no record below the minimum epoch, no
//     key slot of an epoch below it, one record per present credential.
func (m *Model) Final(ctx context.Context, st sdk.Store, stateDir, vault string, admin *core.Identity, members map[string]*core.Identity, guests map[string]*core.Identity) error {
	eng, err := core.New(st, &core.Options{StateDir: stateDir, WriteTimeout: time.Second})
	if err != nil {
		return err
	}
	v, err := eng.Unlock(ctx, vault, admin)
	if err != nil {
		return fmt.Errorf("checker: admin unlock: %w", err)
	}
	if pending, err := v.Pending(ctx); err != nil {
		return fmt.Errorf("checker: pending: %w", err)
	} else if pending {
		m.violate("a rotation is still in flight after the resume")
	}
	// Membership.
	ms, err := v.Members(ctx)
	if err != nil {
		return fmt.Errorf("checker: members: %w", err)
	}
	isMember := map[string]bool{}
	for _, mb := range ms {
		isMember[mb.Name] = true
	}
	m.Stats.Members = len(ms)
	for g, p := range m.Guests {
		state := absent
		if isMember[g] {
			state = "member"
		}
		if !p[state] {
			m.violate("guest %q is %s, expected one of %v", g, show(state), p)
		}
	}
	// Credentials, read by the admin.
	final := map[string]string{}
	present := 0
	names := make([]string, 0, len(m.Creds))
	for name := range m.Creds {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		b, err := v.Get(ctx, name)
		got := string(b)
		if errors.Is(err, core.ErrCredentialNotFound) {
			got = absent
		} else if err != nil {
			m.violate("credential %q: read by the admin: %v", name, err)
			continue
		} else {
			present++
		}
		final[name] = got
		if got != absent && !m.Written[got] {
			// Property 1: every value a member accepts was written by a
			// worker (a current member); none is a forgery.
			m.violate("property 1: credential %q reads %q, which no member wrote", name, show(got))
		}
		if !m.Creds[name][got] {
			m.violate("credential %q reads %q, expected one of %v", name, show(got), m.Creds[name])
		}
	}
	list, err := v.List(ctx)
	if err != nil {
		m.violate("admin list: %v", err)
	}
	for _, n := range list {
		if final[n] == absent || final[n] == "" {
			m.violate("list shows %q, which does not read", n)
		}
	}
	if len(list) != present {
		m.violate("list shows %d credentials, %d read", len(list), present)
	}
	// Every current member reads everything.
	readAll := func(who string, id *core.Identity) {
		mv, err := eng.Unlock(ctx, vault, id)
		if err != nil {
			m.violate("member %q cannot unlock: %v", who, err)
			return
		}
		defer mv.Lock()
		for _, name := range names {
			b, err := mv.Get(ctx, name)
			got := string(b)
			if errors.Is(err, core.ErrCredentialNotFound) {
				got = absent
			} else if err != nil {
				m.violate("member %q reading %q: %v", who, name, err)
				continue
			}
			if got != final[name] {
				m.violate("member %q reads %q as %q, the admin as %q", who, name, show(got), show(final[name]))
			}
		}
	}
	for who, id := range members {
		readAll(who, id)
	}
	for g, id := range guests {
		if isMember[g] {
			readAll(g, id)
			continue
		}
		// A revoked (or never granted) guest reads nothing.
		m.Stats.Revoked++
		gv, err := eng.Unlock(ctx, vault, id)
		if err == nil {
			gv.Lock()
			m.violate("guest %q is not a member but unlocked the vault", g)
		} else if !errors.Is(err, core.ErrNotMember) && !errors.Is(err, core.ErrVaultNotFound) {
			m.violate("guest %q: unlock failed with %v, want not-a-member", g, err)
		}
		vs, err := eng.ListVaults(ctx, id)
		if err == nil && slices.Contains(vs, vault) {
			m.violate("guest %q is not a member but lists the vault", g)
		}
	}
	// Raw inspection.
	snap, err := Inspect(ctx, st, v.ID())
	if err != nil {
		return fmt.Errorf("checker: inspecting the store: %w", err)
	}
	m.Stats.Records, m.Stats.Epoch, m.Stats.MinEpoch, m.Stats.HeadSeq = len(snap.Records), snap.Head.Epoch, snap.Head.MinEpoch, snap.Head.Seq
	if snap.Head.Pending != 0 {
		m.violate("raw head: pending rotation kind %d", snap.Head.Pending)
	}
	if snap.Head.MinEpoch > snap.Head.Epoch {
		m.violate("raw head: minimum epoch %d above epoch %d", snap.Head.MinEpoch, snap.Head.Epoch)
	}
	for k, ep := range snap.Records {
		if ep < snap.Head.MinEpoch {
			m.violate("raw record %q is at epoch %d, below the minimum epoch %d", k, ep, snap.Head.MinEpoch)
		}
		if ep > snap.Head.Epoch {
			m.violate("raw record %q is at epoch %d, above the head's epoch %d", k, ep, snap.Head.Epoch)
		}
	}
	// Property 3: after the last revoke completed, every stored record
	// (credential, quarantined or tombstone) is under the head's epoch key,
	// which no revoked guest holds (each revoked guest fails to unlock,
	// checked above): nothing written after a revoke began is readable with
	// a revoked member's keys.
	for _, set := range []map[string]uint64{snap.Records, snap.Quarantined, snap.Tombstones} {
		for k, ep := range set {
			if ep != snap.Head.Epoch {
				m.violate("property 3: raw record %q is at epoch %d, not the head's epoch %d (readable with a revoked member's key)", k, ep, snap.Head.Epoch)
			}
		}
	}
	// Property 1, the other way: no honest value was taken for a forgery
	// (only revoked guests' values may be quarantined, and guests never
	// write).
	if q, err := v.Quarantined(ctx); err != nil {
		m.violate("quarantine list: %v", err)
	} else if len(q) > 0 {
		m.violate("property 1: %d honest credentials were quarantined (first: %q)", len(q), q[0].Name)
	}
	for ep, n := range snap.SlotEpochs {
		if ep < snap.Head.MinEpoch {
			m.violate("raw: %d key slots of epoch %d are left below the minimum epoch %d", n, ep, snap.Head.MinEpoch)
		}
	}
	if len(snap.Records) != present {
		m.violate("raw: %d records stored, %d credentials read", len(snap.Records), present)
	}
	return nil
}
