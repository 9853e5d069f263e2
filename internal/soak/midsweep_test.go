package soak

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ALRubinger/aileron-store/core"
	"github.com/ALRubinger/aileron-store/internal/testenv"
	"github.com/ALRubinger/aileron-store/sdk"
)

// TestHostKilledMidSweep: a host process is SIGKILLed while its revoke's
// sweep is under way (checked raw: the head still has the rotation pending);
// another admin's host process finds it pending and completes it with
// Resume; then the revoked member reads nothing, every remaining member reads
// everything, and no record or slot is left below the minimum epoch.
func TestHostKilledMidSweep(t *testing.T) {
	bin := testenv.Binary(t, "./plugins/fs/cmd/aileron-store-fs")
	pcfg := map[string]string{"path": filepath.Join(t.TempDir(), "data")}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	creator, _ := writeIdentity(t, dir, "creator", core.SuiteMLKEM768X25519)
	a, aFile := writeIdentity(t, dir, "a", core.SuiteMLKEM768X25519)
	b, bFile := writeIdentity(t, dir, "b", core.SuiteX25519)
	guest, guestFile := writeIdentity(t, dir, "guest", core.SuiteX25519)
	client, err := sdk.Open(ctx, bin, pcfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	eng, err := core.New(client, &core.Options{StateDir: filepath.Join(dir, "state-parent"), WriteTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	v, err := eng.CreateVault(ctx, "midsweep", creator, "creator")
	if err != nil {
		t.Fatal(err)
	}
	for name, id := range map[string]*core.Identity{"a": a, "b": b} {
		if err := v.Grant(ctx, id.Recipient(), name, core.RoleAdmin, &core.GrantOptions{AllowClassical: true}); err != nil {
			t.Fatal(err)
		}
	}
	if err := v.Grant(ctx, guest.Recipient(), "guest", core.RoleMember, &core.GrantOptions{AllowClassical: true}); err != nil {
		t.Fatal(err)
	}
	const nCreds = 60
	var names []string
	for i := range nCreds {
		name := fmt.Sprintf("cred-%02d", i)
		names = append(names, name)
		if err := v.Put(ctx, name, []byte(name+"|initial")); err != nil {
			t.Fatal(err)
		}
	}
	vaultID := v.ID()
	v.Lock()

	// Host A revokes the guest, slowly (150 ms per record rewrite, 2 at a
	// time: ~4.5 s of sweep), and is SIGKILLed once the sweep is under way.
	logA := filepath.Join(dir, "a.log")
	pa := startWorker(t, dir, &WorkerConfig{Role: RoleSoak, Index: 0, Seed: 1, Plugin: bin, PluginConfig: pcfg,
		StateDir: filepath.Join(dir, "state-a"), Vault: "midsweep", Identity: aFile, Own: []string{"a-own"},
		Guests: map[string]string{"guest": guestFile}, Duration: 2 * time.Minute, MaxOps: 10,
		SlowRevokeAfter: time.Nanosecond, SlowDelay: 150 * time.Millisecond, Log: logA})
	deadline := time.Now().Add(90 * time.Second)
	for {
		if time.Now().After(deadline) {
			t.Fatalf("host A never started its sweep:\n%s", pa.tail())
		}
		select {
		case <-pa.done:
			t.Fatalf("host A exited (%v) before it was killed mid-sweep:\n%s", pa.err, pa.tail())
		default:
		}
		if data, _ := os.ReadFile(logA); strings.Contains(string(data), `"op":"`+EvSweepStarted+`"`) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(600 * time.Millisecond) // let part of the sweep land
	if err := pa.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-pa.done
	snap, err := Inspect(ctx, client, vaultID)
	if err != nil {
		t.Fatal(err)
	}
	below := 0
	for _, ep := range snap.Records {
		if ep < snap.Head.Epoch {
			below++
		}
	}
	t.Logf("host A killed mid-sweep: head seq %d epoch %d min epoch %d pending kind %d; %d of %d records still at the old epoch",
		snap.Head.Seq, snap.Head.Epoch, snap.Head.MinEpoch, snap.Head.Pending, below, len(snap.Records))
	if snap.Head.Pending == 0 || below == 0 || below == len(snap.Records) {
		t.Fatalf("the kill did not land mid-sweep (pending %d, %d records at the old epoch)", snap.Head.Pending, below)
	}

	// Host B, another admin, finds the rotation pending and completes it.
	logB := filepath.Join(dir, "b.log")
	pb := startWorker(t, dir, &WorkerConfig{Role: RoleResume, Index: 1, Plugin: bin, PluginConfig: pcfg,
		StateDir: filepath.Join(dir, "state-b"), Vault: "midsweep", Identity: bFile, Duration: time.Minute, Log: logB})
	if err := pb.wait(t, 2*time.Minute); err != nil {
		t.Fatalf("host B: %v\n%s", err, pb.tail())
	}
	eb, err := ReadLog(logB)
	if err != nil {
		t.Fatal(err)
	}
	m := Replay([][]Entry{eb}, names, []string{"guest"})
	if !m.Stats.PendingAtResume {
		t.Fatalf("host B did not find the rotation pending: %+v", eb)
	}
	// The model: every credential holds its initial value; the guest's
	// revoke was committed before the sweep started, so it is revoked.
	for _, n := range names {
		m.Creds[n] = one(n + "|initial")
		m.Written[n+"|initial"] = true // written by the creator, a member, before the revoke
	}
	m.Guests["guest"] = one(absent)
	members := map[string]*core.Identity{"creator": creator, "a": a, "b": b}
	if err := m.Final(ctx, client, filepath.Join(dir, "state-checker"), "midsweep", creator, members, map[string]*core.Identity{"guest": guest}); err != nil {
		t.Fatal(err)
	}
	for _, v := range append(m.Stats.Violations, m.Stats.FalseAlarms...) {
		t.Errorf("violation: %s", v)
	}
	t.Logf("after host B's resume: head seq %d epoch %d min epoch %d, %d records, %d members, guest refused, %d violations",
		m.Stats.HeadSeq, m.Stats.Epoch, m.Stats.MinEpoch, m.Stats.Records, m.Stats.Members, len(m.Stats.Violations))
}
