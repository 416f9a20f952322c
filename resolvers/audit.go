package resolvers

import (
	"encoding/base64"
	"strconv"
	"strings"

	"github.com/appmanage/appmanage/apperr"
	"github.com/appmanage/appmanage/audit"
	"github.com/appmanage/appmanage/graph/model"
)

func parseAuditPage(first *int, after *string) (limit int, before int64, err error) {
	limit = 50
	if first != nil {
		if *first < 0 || *first > maxPage {
			return 0, 0, apperr.Invalid("first", "want 0..%d", maxPage)
		}
		limit = *first
	}
	if after != nil && *after != "" {
		raw, derr := base64.RawURLEncoding.DecodeString(*after)
		rest, ok := strings.CutPrefix(string(raw), "audit:")
		n, perr := strconv.ParseInt(rest, 10, 64)
		if derr != nil || !ok || perr != nil || n <= 0 {
			return 0, 0, apperr.Invalid("after", "not a cursor of this listing")
		}
		before = n
	}
	return limit, before, nil
}

// mapAudit pages rows (read with one more than limit, to know whether a
// next page exists).
func mapAudit(rows []audit.Entry, total, limit int, paged bool) *model.AuditConnection {
	more := len(rows) > limit
	if more {
		rows = rows[:limit]
	}
	c := &model.AuditConnection{Nodes: make([]model.AuditEntry, 0, len(rows)), Edges: make([]model.AuditEdge, 0, len(rows)),
		TotalCount: total, PageInfo: &model.PageInfo{HasNextPage: more, HasPreviousPage: paged}}
	for _, e := range rows {
		c.Nodes = append(c.Nodes, model.AuditEntry{ID: strconv.FormatInt(e.ID, 10), At: e.At, KeyID: ptr(e.KeyID), KeyName: ptr(e.KeyName),
			ClientAddress: ptr(e.ClientAddr), Source: e.Source, Mutation: e.Mutation, AppID: ptr(e.AppID), Arguments: e.Arguments,
			OperationID: ptr(e.OperationID), ErrorCode: ptr(e.ErrorCode), Outcome: e.Outcome()})
	}
	for i := range c.Nodes {
		cur := base64.RawURLEncoding.EncodeToString([]byte("audit:" + c.Nodes[i].ID))
		c.Edges = append(c.Edges, model.AuditEdge{Cursor: cur, Node: &c.Nodes[i]})
	}
	if n := len(c.Edges); n > 0 {
		c.PageInfo.StartCursor, c.PageInfo.EndCursor = &c.Edges[0].Cursor, &c.Edges[n-1].Cursor
	}
	return c
}
