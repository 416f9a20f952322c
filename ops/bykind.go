package ops

import (
	"context"
	"fmt"

	"github.com/jmoiron/sqlx"
)

// LatestOfKind returns the newest operation of the given kind of each app
// that has one, in one query whatever the number of apps. Steps are not
// loaded (Operation.Steps is nil): callers read the input.
func (e *Engine) LatestOfKind(ctx context.Context, kind string, appIDs []string) (map[string]*Operation, error) {
	out := make(map[string]*Operation, len(appIDs))
	if len(appIDs) == 0 {
		return out, nil
	}
	query, args, err := sqlx.In(`SELECT `+opColumns+` FROM (
		SELECT *, ROW_NUMBER() OVER (PARTITION BY app_id ORDER BY created_at DESC, id DESC) AS rn
		FROM operations WHERE kind = ? AND app_id IN (?)) WHERE rn = 1`, kind, appIDs)
	if err != nil {
		return nil, fmt.Errorf("latest %s operations: %w", kind, err)
	}
	var rows []opRow
	if err := e.db.R.SelectContext(ctx, &rows, query, args...); err != nil {
		return nil, fmt.Errorf("latest %s operations: %w", kind, err)
	}
	for _, r := range rows {
		op := r.operation(nil)
		out[op.AppID] = op
	}
	return out, nil
}

// LatestAmong returns, for every app that has an operation of one of the
// kinds, the newest such operation, in one query whatever the number of
// apps. Steps are not loaded (Operation.Steps is nil).
func (e *Engine) LatestAmong(ctx context.Context, kinds []string) (map[string]*Operation, error) {
	out := map[string]*Operation{}
	if len(kinds) == 0 {
		return out, nil
	}
	query, args, err := sqlx.In(`SELECT `+opColumns+` FROM (
		SELECT *, ROW_NUMBER() OVER (PARTITION BY app_id ORDER BY created_at DESC, id DESC) AS rn
		FROM operations WHERE kind IN (?)) WHERE rn = 1`, kinds)
	if err != nil {
		return nil, fmt.Errorf("latest operations of kinds %v: %w", kinds, err)
	}
	var rows []opRow
	if err := e.db.R.SelectContext(ctx, &rows, query, args...); err != nil {
		return nil, fmt.Errorf("latest operations of kinds %v: %w", kinds, err)
	}
	for _, r := range rows {
		op := r.operation(nil)
		out[op.AppID] = op
	}
	return out, nil
}
