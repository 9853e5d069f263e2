package cli

import (
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ALRubinger/aileron-store/core"
)

// historyJSON is the --json form of vault history.
type historyJSON struct {
	Vault    string            `json:"vault"`
	Verified bool              `json:"verified"`
	Heads    []historyHeadJSON `json:"heads"`
}

type historyHeadJSON struct {
	Seq               uint64              `json:"seq"`
	Epoch             uint64              `json:"epoch"`
	FormatVersion     int                 `json:"format_version"`
	Time              *time.Time          `json:"time"` // null for format-1 heads, which carry no time
	Signer            string              `json:"signer"`
	SignerFingerprint string              `json:"signer_fingerprint"`
	Changes           []historyChangeJSON `json:"changes"`
	Hash              string              `json:"hash"`
}

type historyChangeJSON struct {
	Kind   string `json:"kind"`
	Member string `json:"member,omitempty"`
	Role   string `json:"role,omitempty"`
}

func (a *App) vaultHistoryCmd() *cobra.Command {
	var as string
	var asJSON bool
	c := &cobra.Command{
		Use:   "history VAULT --as NAME [--json]",
		Short: "Show the vault's verified chain of heads: who changed what, when",
		Long: `Show the signed membership log of a vault as an audit trail: every head from
the vault's creation to the current one, oldest first, with its sequence
number, time, the admin who signed it and what it changed (created, granted
whom with which role, revoked whom, rotated the key, finished a rotation,
upgraded the format).

Every step is verified first: each head must be signed by an admin of the
previous head and chain to it by hash. A chain that does not verify is
refused (exit 1, "tampered data" or "rolled-back data" naming the head at
fault); no partial history is printed.

Heads written in format 1 carry no time: their time shows as "-" (null in
--json). Member names are encrypted under the vault key of their epoch;
where this identity cannot decrypt an old head's names, the member's
fingerprint is shown instead.`,
		Example: `  aileron-store-host vault history team --as alice
  aileron-store-host vault history team --as alice --json | jq '.heads[] | select(.changes[].kind == "revoked")'`,
		Args: exactArgs(1, "VAULT"),
		RunE: run(func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			var hist []core.HistoryEntry
			err := a.withVault(ctx, args[0], as, func(s *session) error {
				return s.do(func() (err error) { hist, err = s.vault.History(ctx); return err })
			})
			if err != nil {
				return err
			}
			if asJSON {
				return writeHistoryJSON(a, args[0], hist)
			}
			return writeHistoryTable(a, args[0], hist)
		}),
	}
	asFlag(c, &as)
	c.Flags().BoolVar(&asJSON, "json", false, "print the history as one JSON document")
	return c
}

func describeChange(ch core.Change) string {
	switch ch.Kind {
	case core.ChangeGranted:
		return fmt.Sprintf("granted %s (%s)", ch.Member, ch.Role)
	case core.ChangeRevoked:
		return fmt.Sprintf("revoked %s (key rotated)", ch.Member)
	case core.ChangeRotated:
		return "rotated the key"
	case core.ChangeRotationDone:
		return "rotation done (old epochs refused)"
	case core.ChangeOldKeysDeleted:
		return "old key slots deleted (rotation closed)"
	}
	return ch.Kind.String()
}

func writeHistoryTable(a *App, vault string, hist []core.HistoryEntry) error {
	cur := hist[len(hist)-1]
	fmt.Fprintf(a.Stdout, "vault %q: %d heads, chain verified; current head %d (epoch %d, format %d) %s\n", vault, len(hist), cur.Seq, cur.Epoch, cur.FormatVersion, cur.Hash)
	tw := tabwriter.NewWriter(a.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tTIME\tEPOCH\tSIGNED BY\tCHANGES")
	for _, e := range hist {
		when := "-"
		if !e.Time.IsZero() {
			when = e.Time.UTC().Format(time.RFC3339)
		}
		signer := e.SignerFingerprint
		if e.Signer != "" {
			signer = fmt.Sprintf("%s (%s)", e.Signer, e.SignerFingerprint)
		}
		var changes []string
		for _, ch := range e.Changes {
			changes = append(changes, describeChange(ch))
		}
		if len(changes) == 0 {
			changes = []string{"-"}
		}
		fmt.Fprintf(tw, "%d\t%s\t%d\t%s\t%s\n", e.Seq, when, e.Epoch, signer, strings.Join(changes, "; "))
	}
	return tw.Flush()
}

func writeHistoryJSON(a *App, vault string, hist []core.HistoryEntry) error {
	out := historyJSON{Vault: vault, Verified: true, Heads: make([]historyHeadJSON, 0, len(hist))}
	for _, e := range hist {
		h := historyHeadJSON{Seq: e.Seq, Epoch: e.Epoch, FormatVersion: e.FormatVersion, Signer: e.Signer, SignerFingerprint: e.SignerFingerprint, Hash: e.Hash, Changes: []historyChangeJSON{}}
		if !e.Time.IsZero() {
			t := e.Time.UTC()
			h.Time = &t
		}
		for _, ch := range e.Changes {
			c := historyChangeJSON{Kind: ch.Kind.String(), Member: ch.Member}
			if ch.Kind == core.ChangeGranted {
				c.Role = ch.Role.String()
			}
			h.Changes = append(h.Changes, c)
		}
		out.Heads = append(out.Heads, h)
	}
	enc := json.NewEncoder(a.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
