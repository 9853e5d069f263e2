package soak

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ALRubinger/aileron-store/core"
	"github.com/ALRubinger/aileron-store/internal/testenv"
	"github.com/ALRubinger/aileron-store/sdk"
)

// envWorker, when set, makes the test binary a soak worker process: it runs
// the job described by the config file it names and exits.
const envWorker = "AILERON_SOAK_WORKER"

// envDuration overrides the soak duration per backend (default 12s), e.g.
// AILERON_SOAK_DURATION=60s for the figures of docs/reliability.md.
const envDuration = "AILERON_SOAK_DURATION"

// envReport, when set, names a file the soak appends one JSON line of
// figures to per run.
const envReport = "AILERON_SOAK_REPORT"

func TestMain(m *testing.M) {
	if path := os.Getenv(envWorker); path != "" {
		cfg, err := LoadWorkerConfig(path)
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), cfg.Duration+3*time.Minute)
			err = RunWorker(ctx, cfg)
			cancel()
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "soak worker:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	testenv.Main(m)
}

const (
	nWorkers       = 4
	credsPerWorker = 8
	guestsPerWork  = 3
	killsPerWorker = 3
	maxOpsPerWork  = 20000
)

func soakDuration(t *testing.T) time.Duration {
	d := 10 * time.Second
	if s := os.Getenv(envDuration); s != "" {
		v, err := time.ParseDuration(s)
		if err != nil || v <= 0 || v > 30*time.Minute {
			t.Fatalf("%s=%q: want a duration up to 30m", envDuration, s)
		}
		d = v
	}
	return d
}

func writeIdentity(t *testing.T, dir, name string, suite core.Suite) (*core.Identity, string) {
	t.Helper()
	id, err := core.NewIdentity(suite)
	if err != nil {
		t.Fatal(err)
	}
	b, err := core.MarshalIdentity(id, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name+".id")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return id, p
}

func TestSoakFS(t *testing.T) {
	bin := testenv.Binary(t, "./plugins/fs/cmd/aileron-store-fs")
	runSoak(t, "fs", bin, map[string]string{"path": filepath.Join(t.TempDir(), "data")})
}

// TestSoakS3 soaks the S3 plugin on every S3 server the test command
// provisions: versitygw in both metadata modes and MinIO.
func TestSoakS3(t *testing.T) {
	bin := testenv.Binary(t, "./plugins/s3/cmd/aileron-store-s3")
	for _, kind := range testenv.S3Kinds {
		t.Run(string(kind), func(t *testing.T) {
			srv := testenv.S3Of(t, kind)
			start := time.Now()
			runSoak(t, "s3 ("+string(kind)+")", bin, srv.Config(srv.NewBucket(t)))
			t.Logf("soak on %s: %v", kind, time.Since(start).Round(time.Millisecond))
		})
	}
}

func TestSoakGCS(t *testing.T) {
	srv := testenv.GCS(t)
	bin := testenv.Binary(t, "./plugins/gcs/cmd/aileron-store-gcs")
	runSoak(t, "gcs (fake-gcs-server)", bin, map[string]string{"bucket": srv.NewBucket(t), "endpoint": srv.Endpoint})
}

func TestSoakPostgres(t *testing.T) {
	srv := testenv.Postgres(t)
	_, dsn := srv.NewDatabase(t, nil)
	bin := testenv.Binary(t, "./plugins/postgres/cmd/aileron-store-postgres")
	runSoak(t, "postgres", bin, map[string]string{"dsn": dsn})
}

type proc struct {
	cmd    *exec.Cmd
	done   chan struct{}
	err    error
	stderr string
}

func startWorker(t *testing.T, dir string, cfg *WorkerConfig) *proc {
	t.Helper()
	cfgPath := filepath.Join(dir, fmt.Sprintf("worker%d-%s.json", cfg.Index, cfg.Role))
	if err := WriteWorkerConfig(cfgPath, cfg); err != nil {
		t.Fatal(err)
	}
	cmd := testenv.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envWorker+"="+cfgPath)
	p := &proc{cmd: cmd, done: make(chan struct{}), stderr: filepath.Join(dir, fmt.Sprintf("worker%d-%s.stderr", cfg.Index, cfg.Role))}
	f, err := os.Create(p.stderr)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting worker %d: %v", cfg.Index, err)
	}
	go func() { p.err = cmd.Wait(); f.Close(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

func (p *proc) wait(t *testing.T, d time.Duration) error {
	select {
	case <-p.done:
		return p.err
	case <-time.After(d):
		p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("still running after %v: killed", d)
	}
}

func (p *proc) tail() string {
	b, _ := os.ReadFile(p.stderr)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// runSoak: 4 worker processes, each with its own plugin process, run a
// bounded random mix on one vault; each kills its plugin 3 times; worker 0
// runs one slowed revoke and is SIGKILLed mid-sweep; a resume process (a
// different admin) then completes any rotation still in flight; the checker
// replays the logs and verifies the final state through the core and raw.
func runSoak(t *testing.T, backend, bin string, pcfg map[string]string) {
	dur := soakDuration(t)
	started := time.Now()
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), dur+4*time.Minute)
	defer cancel()

	// Identities: the creator (admin), one admin per worker, guests.
	admin, _ := writeIdentity(t, dir, "admin", core.SuiteMLKEM768X25519)
	workerIDs := make([]*core.Identity, nWorkers)
	workerFiles := make([]string, nWorkers)
	guests := map[string]*core.Identity{}
	guestFiles := make([]map[string]string, nWorkers)
	var allCreds, allGuests []string
	own := make([][]string, nWorkers)
	for i := range nWorkers {
		workerIDs[i], workerFiles[i] = writeIdentity(t, dir, fmt.Sprintf("w%d", i), core.SuiteMLKEM768X25519)
		guestFiles[i] = map[string]string{}
		for j := range guestsPerWork {
			name := fmt.Sprintf("g%d-%d", i, j)
			suite := core.SuiteX25519
			if j == 0 {
				suite = core.SuiteMLKEM768X25519
			}
			id, p := writeIdentity(t, dir, name, suite)
			guests[name], guestFiles[i][name] = id, p
			allGuests = append(allGuests, name)
		}
		for k := range credsPerWorker {
			own[i] = append(own[i], fmt.Sprintf("w%d-c%d", i, k))
		}
		allCreds = append(allCreds, own[i]...)
	}

	// The creator makes the vault and grants each worker admin.
	client, err := sdk.Open(ctx, bin, pcfg, &sdk.ClientOptions{Name: "soak-parent"})
	if err != nil {
		t.Fatalf("%s: opening plugin: %v", backend, err)
	}
	defer client.Close()
	eng, err := core.New(client, &core.Options{StateDir: filepath.Join(dir, "state-parent")})
	if err != nil {
		t.Fatal(err)
	}
	const vault = "soak"
	v, err := eng.CreateVault(ctx, vault, admin, "creator")
	if err != nil {
		t.Fatalf("%s: create vault: %v", backend, err)
	}
	for i, id := range workerIDs {
		if err := v.Grant(ctx, id.Recipient(), fmt.Sprintf("w%d", i), core.RoleAdmin); err != nil {
			t.Fatalf("%s: grant worker %d: %v", backend, i, err)
		}
	}
	v.Lock()

	// The workers.
	procs := make([]*proc, nWorkers)
	logs := make([]string, nWorkers)
	for i := range nWorkers {
		var others []string
		for j := range nWorkers {
			if j != i {
				others = append(others, own[j]...)
			}
		}
		logs[i] = filepath.Join(dir, fmt.Sprintf("worker%d.log", i))
		cfg := &WorkerConfig{
			Role: RoleSoak, Index: i, Seed: uint64(started.UnixNano()), Plugin: bin, PluginConfig: pcfg,
			StateDir: filepath.Join(dir, fmt.Sprintf("state-w%d", i)), Vault: vault, Identity: workerFiles[i],
			Own: own[i], Others: others, Guests: guestFiles[i],
			Duration: dur, MaxOps: maxOpsPerWork, PluginKills: killsPerWorker, Log: logs[i],
		}
		if i == 0 {
			cfg.SlowRevokeAfter = dur / 2
			cfg.SlowDelay = 150 * time.Millisecond
		}
		procs[i] = startWorker(t, dir, cfg)
	}
	t.Logf("%s: seed %d, %d workers for %v", backend, uint64(started.UnixNano()), nWorkers, dur)

	// SIGKILL worker 0 mid-sweep: poll its log for the marker.
	hostKills := 0
	killDeadline := time.Now().Add(dur + 2*time.Minute)
	for {
		if time.Now().After(killDeadline) {
			t.Fatalf("%s: worker 0 never started its slowed sweep", backend)
		}
		select {
		case <-procs[0].done:
			b, _ := os.ReadFile(logs[0])
			if len(b) > 3000 {
				b = b[len(b)-3000:]
			}
			t.Fatalf("%s: worker 0 exited (%v) before it was killed mid-sweep:\n%s\nlog tail:\n%s", backend, procs[0].err, procs[0].tail(), b)
		default:
		}
		b, _ := os.ReadFile(logs[0])
		if strings.Contains(string(b), `"op":"`+EvSweepStarted+`"`) {
			if err := procs[0].cmd.Process.Kill(); err != nil {
				t.Fatalf("killing worker 0: %v", err)
			}
			<-procs[0].done
			hostKills++
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	for i := 1; i < nWorkers; i++ {
		if err := procs[i].wait(t, dur+3*time.Minute); err != nil {
			t.Errorf("%s: worker %d: %v\n%s", backend, i, err, procs[i].tail())
		}
	}
	// Another admin's host completes whatever rotation is in flight.
	resumeLog := filepath.Join(dir, "resume.log")
	rp := startWorker(t, dir, &WorkerConfig{Role: RoleResume, Index: 1, Plugin: bin, PluginConfig: pcfg,
		StateDir: filepath.Join(dir, "state-w1"), Vault: vault, Identity: workerFiles[1], Duration: time.Minute, Log: resumeLog})
	if err := rp.wait(t, 3*time.Minute); err != nil {
		t.Errorf("%s: resume worker: %v\n%s", backend, err, rp.tail())
	}
	// Check even after a failure above: the checker says what was left.

	// Check.
	var entries [][]Entry
	for _, p := range append(logs, resumeLog) {
		es, err := ReadLog(p)
		if err != nil {
			t.Fatalf("reading %s: %v", p, err)
		}
		entries = append(entries, es)
	}
	m := Replay(entries, allCreds, allGuests)
	m.Stats.Backend, m.Stats.Duration, m.Stats.Workers, m.Stats.HostKills = backend, dur, nWorkers, hostKills
	members := map[string]*core.Identity{"creator": admin}
	for i, id := range workerIDs {
		members[fmt.Sprintf("w%d", i)] = id
	}
	if err := m.Final(ctx, client, filepath.Join(dir, "state-checker"), vault, admin, members, guests); err != nil {
		t.Fatalf("%s: %v", backend, err)
	}
	st := m.Stats
	if st.PluginKills < (nWorkers-1)*killsPerWorker {
		t.Errorf("%s: only %d plugin kills landed, want at least %d", backend, st.PluginKills, (nWorkers-1)*killsPerWorker)
	}
	if st.Acked[OpRevoke] == 0 || st.Acked[OpGrant] == 0 || st.Acked[OpPut] == 0 || st.Acked[OpDelete] == 0 || st.Acked[OpList] == 0 {
		t.Errorf("%s: the mix did not exercise every operation: %v", backend, st.Acked)
	}
	wall := time.Since(started)
	t.Logf("%s: %d ops (%d acknowledged: %v; failed/unacknowledged: %v by class %v), %d plugin kills, %d host kill mid-sweep (rotation still pending at resume: %v), head seq %d epoch %d min epoch %d, %d records, %d members, %d non-member guests checked, %d violations, %d false alarms, %v wall",
		backend, st.TotalOps(), st.TotalOps()-sum(st.Failed), st.Acked, st.Failed, st.FailClasses, st.PluginKills, st.HostKills, st.PendingAtResume,
		st.HeadSeq, st.Epoch, st.MinEpoch, st.Records, st.Members, st.Revoked, len(st.Violations), len(st.FalseAlarms), wall.Round(time.Second))
	for _, v := range st.Violations {
		t.Errorf("%s: invariant violation: %s", backend, v)
	}
	for _, v := range st.FalseAlarms {
		t.Errorf("%s: false alarm on an honest backend: %s", backend, v)
	}
	if path := os.Getenv(envReport); path != "" {
		writeReport(t, path, st, wall)
	}
}

func sum(m map[string]int) int {
	n := 0
	for _, c := range m {
		n += c
	}
	return n
}

var reportMu sync.Mutex

func writeReport(t *testing.T, path string, st *Stats, wall time.Duration) {
	reportMu.Lock()
	defer reportMu.Unlock()
	row := map[string]any{
		"backend": st.Backend, "duration": st.Duration.String(), "wall": wall.Round(time.Second).String(),
		"ops": st.TotalOps(), "acked": st.Acked, "failed": st.Failed, "fail_classes": st.FailClasses,
		"plugin_kills": st.PluginKills, "host_kills": st.HostKills, "pending_at_resume": st.PendingAtResume,
		"head_seq": st.HeadSeq, "epoch": st.Epoch, "records": st.Records, "violations": len(st.Violations), "false_alarms": len(st.FalseAlarms),
	}
	b, _ := json.Marshal(row)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Errorf("report %s: %v", path, err)
		return
	}
	defer f.Close()
	f.Write(append(b, '\n'))
}
