package ops

import (
	"context"
	"database/sql"
	"fmt"
)

// Reservation is a resource an active operation holds (see
// SubmitRequest.Reservations).
type Reservation struct {
	Resource    string
	OperationID string
	Kind        string
	AppID       string
}

// Reservations lists the resources held by active operations whose name
// starts with prefix ("port:1:" for the host ports of endpoint 1), so that
// a caller choosing a free resource can avoid the held ones instead of
// finding them one Submit at a time.
func (e *Engine) Reservations(ctx context.Context, prefix string) ([]Reservation, error) {
	var rows []struct {
		Resource    string         `db:"resource"`
		OperationID string         `db:"id"`
		Kind        string         `db:"kind"`
		AppID       sql.NullString `db:"app_id"`
	}
	if err := e.db.R.SelectContext(ctx, &rows, `SELECT r.resource, o.id, o.kind, o.app_id FROM operation_reservations r
		JOIN operations o ON o.id = r.operation_id WHERE substr(r.resource, 1, length(?)) = ? ORDER BY r.resource`, prefix, prefix); err != nil {
		return nil, fmt.Errorf("list reservations: %w", err)
	}
	out := make([]Reservation, len(rows))
	for i, r := range rows {
		out[i] = Reservation{Resource: r.Resource, OperationID: r.OperationID, Kind: r.Kind, AppID: r.AppID.String}
	}
	return out, nil
}
