package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/appmanage/appmanage/cli/gql"
)

func auditCmd(e *env) *cobra.Command {
	var key, mutation, app, since, after string
	var first int
	c := &cobra.Command{
		Use:   "audit [--key K] [--mutation M] [--app ID] [--since TIME]",
		Short: "Show the audit log: who called which mutation, and what came of it (admin key)",
		Long: `audit lists the server's audit log (the auditLog query, admin keys only), newest first:
each mutation, also refused ones, and each operation a webhook started, with its time, API
key, client address, arguments (secrets redacted) and outcome (the operation id, the error
code, or OK). --key takes a key's id or name; --since an RFC 3339 time or a duration back
from now (e.g. 24h).`,
		Example: `  appmanage audit
  appmanage audit --mutation installApp --since 24h
  appmanage audit --app blog --output json`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if err := e.checkOutput(); err != nil {
				return err
			}
			filter, err := auditFilter(key, mutation, app, since, time.Now())
			if err != nil {
				return err
			}
			cn, err := e.connect()
			if err != nil {
				return err
			}
			var a *string
			if after != "" {
				a = &after
			}
			resp, err := gql.AuditLog(c.Context(), cn.gql, &first, a, filter)
			if err != nil {
				return classify(err, "auditLog")
			}
			log := resp.AuditLog
			if e.output == "json" {
				if log.Nodes == nil {
					log.Nodes = []gql.AuditLogAuditLogAuditConnectionNodesAuditEntry{}
				}
				return printJSON(e.stdout, log.Nodes)
			}
			t := newTable(e.stdout, "AT", "KEY", "CLIENT", "SOURCE", "MUTATION", "APP", "OUTCOME", "ARGUMENTS")
			for _, n := range log.Nodes {
				k := n.KeyName
				if k == nil {
					k = n.KeyId
				}
				t.row(n.At, k, n.ClientAddress, n.Source, n.Mutation, n.AppId, n.Outcome, string(n.Arguments))
			}
			if err := t.flush(); err != nil {
				return err
			}
			if log.PageInfo.HasNextPage && log.PageInfo.EndCursor != nil {
				fmt.Fprintf(e.stderr, "%d rows in all; more: appmanage audit --after %s\n", log.TotalCount, *log.PageInfo.EndCursor)
			}
			return nil
		},
	}
	c.Flags().StringVar(&key, "key", "", "only calls made with this API key (id or name)")
	c.Flags().StringVar(&mutation, "mutation", "", "only calls of this mutation, e.g. installApp")
	c.Flags().StringVar(&app, "app", "", "only calls about this app")
	c.Flags().StringVar(&since, "since", "", "only calls since this RFC 3339 time, or this long ago (e.g. 24h)")
	c.Flags().IntVar(&first, "first", 50, "how many rows")
	c.Flags().StringVar(&after, "after", "", "cursor: start after this row (the next page)")
	addOutput(c, e)
	return c
}

// auditFilter is the auditLog filter of the flags; nil when none is set.
func auditFilter(key, mutation, app, since string, now time.Time) (*gql.AuditFilter, error) {
	var f gql.AuditFilter
	set := false
	for _, p := range []struct {
		v   string
		dst **string
	}{{key, &f.Key}, {mutation, &f.Mutation}, {app, &f.AppId}} {
		if p.v != "" {
			*p.dst = &p.v
			set = true
		}
	}
	if since != "" {
		t, err := parseSince(since, now)
		if err != nil {
			return nil, err
		}
		t = t.UTC()
		f.Since = &t
		set = true
	}
	if !set {
		return nil, nil
	}
	return &f, nil
}

// parseSince takes an RFC 3339 time or a duration back from now.
func parseSince(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, usageErrorf("--since %q: want an RFC 3339 time or a duration such as 24h", s)
}
