package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/Khan/genqlient/graphql"
	"github.com/spf13/cobra"

	"github.com/appmanage/appmanage/cli/gql"
)

// typeRef is a GraphQL type reference, unwrapped from introspection.
type typeRef struct {
	Kind   string   `json:"kind"`
	Name   *string  `json:"name"`
	OfType *typeRef `json:"ofType"`
}

func toTypeRef(v gql.TypeRef) typeRef {
	b, _ := json.Marshal(v)
	var t typeRef
	_ = json.Unmarshal(b, &t)
	return t
}

// named is the type under NON_NULL and LIST wrappers.
func (t typeRef) named() (kind, name string) {
	for t.OfType != nil && (t.Kind == "NON_NULL" || t.Kind == "LIST") {
		t = *t.OfType
	}
	if t.Name != nil {
		name = *t.Name
	}
	return t.Kind, name
}

// String is the type as written in a document, e.g. [String!]!.
func (t typeRef) String() string {
	switch t.Kind {
	case "NON_NULL":
		if t.OfType != nil {
			return t.OfType.String() + "!"
		}
	case "LIST":
		if t.OfType != nil {
			return "[" + t.OfType.String() + "]"
		}
	}
	if t.Name != nil {
		return *t.Name
	}
	return ""
}

// serverField finds a root query field by introspection; nil when the
// server does not have it.
func serverField(ctx context.Context, cn *conn, name string) (*gql.FieldInfo, error) {
	info, err := gql.ServerInfo(ctx, cn.gql)
	if err != nil {
		return nil, classify(err, "__schema")
	}
	for _, f := range info.Schema.QueryType.Fields {
		if f.Name == name {
			fi := f.FieldInfo
			return &fi, nil
		}
	}
	return nil, nil
}

// leafSelection selects the scalar and enum fields of an object type, and
// those of its object fields one level down.
func leafSelection(ctx context.Context, cn *conn, typeName string, depth int) (sel []string, cols []string, err error) {
	resp, err := gql.TypeInfo(ctx, cn.gql, typeName)
	if err != nil {
		return nil, nil, classify(err, "__type")
	}
	if resp.Type == nil {
		return nil, nil, failedf("the server's schema has no type %s", typeName)
	}
	for _, f := range resp.Type.Fields {
		if hasRequiredArg(f.FieldInfo) {
			continue
		}
		kind, name := toTypeRef(f.Type.TypeRef).named()
		switch kind {
		case "SCALAR", "ENUM":
			sel = append(sel, f.Name)
			cols = append(cols, f.Name)
		case "OBJECT":
			if depth == 0 {
				continue
			}
			sub, subCols, err := leafSelection(ctx, cn, name, depth-1)
			if err != nil || len(sub) == 0 {
				continue
			}
			sel = append(sel, f.Name+" { "+strings.Join(sub, " ")+" }")
			for _, c := range subCols {
				cols = append(cols, f.Name+"."+c)
			}
		}
	}
	return sel, cols, nil
}

func hasRequiredArg(f gql.FieldInfo) bool {
	for _, a := range f.Args {
		if toTypeRef(a.Type.TypeRef).Kind == "NON_NULL" {
			return true
		}
	}
	return false
}

func auditCmd(e *env) *cobra.Command {
	var key, mutation, app, since, after string
	var first int
	c := &cobra.Command{
		Use:   "audit [--key K] [--mutation M] [--app ID] [--since TIME]",
		Short: "Show the audit log: who called which mutation, and what came of it (admin key)",
		Long: `audit lists the server's audit log (the auditLog query, admin keys only): each mutation,
also refused ones, with its time, API key, client address, arguments (secrets redacted) and
outcome. --since takes an RFC 3339 time or a duration back from now (e.g. 24h). A server
without an audit log answers that it does not offer one (exit 2).`,
		Example: `  appmanage audit
  appmanage audit --mutation installApp --since 24h
  appmanage audit --app blog --output json`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if err := e.checkOutput(); err != nil {
				return err
			}
			cn, err := e.connect()
			if err != nil {
				return err
			}
			ctx := c.Context()
			field, err := serverField(ctx, cn, "auditLog")
			if err != nil {
				return err
			}
			if field == nil {
				return notOffered("Query.auditLog", "an audit log")
			}
			filter := map[string]any{}
			if key != "" {
				filter["key"] = key
			}
			if mutation != "" {
				filter["mutation"] = mutation
			}
			if app != "" {
				filter["appId"] = app
			}
			if since != "" {
				t, err := parseSince(since, time.Now())
				if err != nil {
					return err
				}
				filter["since"] = t.UTC().Format(time.RFC3339)
			}
			// The request is built from the server's schema: this CLI
			// predates the audit log's fields.
			kind, connType := toTypeRef(field.Type.TypeRef).named()
			if kind != "OBJECT" {
				return failedf("auditLog returns %s, not a connection", connType)
			}
			conn, err := gql.TypeInfo(ctx, cn.gql, connType)
			if err != nil {
				return classify(err, "__type")
			}
			nodeType := ""
			hasTotal := false
			if conn.Type != nil {
				for _, f := range conn.Type.Fields {
					if f.Name == "nodes" {
						_, nodeType = toTypeRef(f.Type.TypeRef).named()
					}
					if f.Name == "totalCount" {
						hasTotal = true
					}
				}
			}
			if nodeType == "" {
				return failedf("auditLog's %s has no nodes", connType)
			}
			sel, cols, err := leafSelection(ctx, cn, nodeType, 1)
			if err != nil {
				return err
			}
			var params, args []string
			vars := map[string]any{}
			for _, a := range field.Args {
				switch a.Name {
				case "first":
					vars["first"] = first
				case "after":
					if after == "" {
						continue
					}
					vars["after"] = after
				case "filter":
					if len(filter) == 0 {
						continue
					}
					vars["filter"] = filter
				default:
					continue
				}
				params = append(params, "$"+a.Name+": "+toTypeRef(a.Type.TypeRef).String())
				args = append(args, a.Name+": $"+a.Name)
			}
			q := "query AuditLog"
			if len(params) > 0 {
				q += "(" + strings.Join(params, ", ") + ")"
			}
			q += " { auditLog"
			if len(args) > 0 {
				q += "(" + strings.Join(args, ", ") + ")"
			}
			q += " { "
			if hasTotal {
				q += "totalCount "
			}
			q += "nodes { " + strings.Join(sel, " ") + " } } }"
			var data struct {
				AuditLog struct {
					TotalCount *int             `json:"totalCount"`
					Nodes      []map[string]any `json:"nodes"`
				} `json:"auditLog"`
			}
			e.debugf("audit query: %s", q)
			if err := cn.gql.MakeRequest(ctx, &graphql.Request{OpName: "AuditLog", Query: q, Variables: vars}, &graphql.Response{Data: &data}); err != nil {
				return classify(err, "auditLog")
			}
			if e.output == "json" {
				if data.AuditLog.Nodes == nil {
					data.AuditLog.Nodes = []map[string]any{}
				}
				return printJSON(e.stdout, data.AuditLog.Nodes)
			}
			t := newTable(e.stdout, upper(cols)...)
			for _, n := range data.AuditLog.Nodes {
				row := make([]any, len(cols))
				for i, col := range cols {
					row[i] = lookup(n, col)
				}
				t.row(row...)
			}
			return t.flush()
		},
	}
	c.Flags().StringVar(&key, "key", "", "only calls made with this API key (id or name)")
	c.Flags().StringVar(&mutation, "mutation", "", "only calls of this mutation, e.g. installApp")
	c.Flags().StringVar(&app, "app", "", "only calls about this app")
	c.Flags().StringVar(&since, "since", "", "only calls since this RFC 3339 time, or this long ago (e.g. 24h)")
	c.Flags().IntVar(&first, "first", 50, "how many rows")
	c.Flags().StringVar(&after, "after", "", "cursor: start after this row")
	addOutput(c, e)
	return c
}

func upper(s []string) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[i] = strings.ToUpper(v)
	}
	return out
}

// lookup reads "a.b" from a decoded JSON object.
func lookup(m map[string]any, path string) any {
	var v any = m
	for _, p := range strings.Split(path, ".") {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = mm[p]
	}
	switch x := v.(type) {
	case nil:
		return nil
	case string:
		return x
	case map[string]any, []any:
		b, _ := json.Marshal(x)
		return string(b)
	}
	return fmt.Sprint(v)
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
