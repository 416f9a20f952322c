package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// printJSON writes v indented, for --output json.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return failedf("encode JSON: %v", err)
	}
	return nil
}

// table writes aligned columns.
type table struct{ tw *tabwriter.Writer }

func newTable(w io.Writer, headers ...string) *table {
	t := &table{tw: tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)}
	t.row(anySlice(headers)...)
	return t
}

func anySlice(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

func (t *table) row(cells ...any) {
	parts := make([]string, len(cells))
	for i, c := range cells {
		parts[i] = cell(c)
	}
	fmt.Fprintln(t.tw, strings.Join(parts, "\t"))
}

func (t *table) flush() error {
	if err := t.tw.Flush(); err != nil {
		return failedf("write: %v", err)
	}
	return nil
}

// cell renders a value for a table: "-" for nothing.
func cell(v any) string {
	switch x := v.(type) {
	case nil:
		return "-"
	case string:
		if x == "" {
			return "-"
		}
		return strings.ReplaceAll(x, "\t", " ")
	case *string:
		if x == nil {
			return "-"
		}
		return cell(*x)
	case *int:
		if x == nil {
			return "-"
		}
		return fmt.Sprint(*x)
	case *bool:
		if x == nil {
			return "-"
		}
		return fmt.Sprint(*x)
	case time.Time:
		if x.IsZero() {
			return "-"
		}
		return x.Local().Format(time.DateTime)
	case *time.Time:
		if x == nil {
			return "-"
		}
		return cell(*x)
	case []string:
		if len(x) == 0 {
			return "-"
		}
		return strings.Join(x, ",")
	}
	return fmt.Sprint(v)
}

// firstLine is the first line of a commit message.
func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
