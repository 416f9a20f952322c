package ops

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/google/uuid"
	"github.com/mattn/go-sqlite3"

	"github.com/appmanage/appmanage/apperr"
)

// SubmitRequest asks for a workflow run.
type SubmitRequest struct {
	Kind           string
	AppID          string
	Input          any // JSON-encoded; steps decode it with Run.Input
	IdempotencyKey string
	// Reservations are resources the operation claims (e.g. "port:1:9001",
	// "domain:example.com"): unique across active operations, released when
	// the operation reaches a terminal state.
	Reservations []string
}

// ReservationError says which resource is held and by whom. It is the Err
// of the PRECONDITION_FAILED error Submit returns.
type ReservationError struct {
	Resource    string
	OperationID string
	Kind        string
	AppID       string
}

func (e *ReservationError) Error() string {
	return fmt.Sprintf("%s is reserved by operation %s (%s of app %s)", e.Resource, e.OperationID, e.Kind, e.AppID)
}

// Submit records a new operation and queues it, all checks and inserts in
// one write transaction:
//   - an IdempotencyKey already used returns that operation (CONFLICT if it
//     was for another kind or app);
//   - an app with an active operation gives CONFLICT;
//   - a reservation held by another active operation gives
//     PRECONDITION_FAILED wrapping a *ReservationError.
func (e *Engine) Submit(ctx context.Context, req SubmitRequest) (*Operation, error) {
	wf, ok := e.workflows[req.Kind]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownKind, req.Kind)
	}
	if e.draining.Load() {
		return nil, ErrStopped
	}
	input, err := json.Marshal(req.Input)
	if err != nil {
		return nil, fmt.Errorf("encode operation input: %w", err)
	}
	uid, err := uuid.NewV7()
	if err != nil {
		return nil, fmt.Errorf("operation id: %w", err)
	}
	reservations := slices.Clone(req.Reservations)
	slices.Sort(reservations)
	reservations = slices.Compact(reservations)

	var op *Operation
	existing := false
	err = e.write(func(ctx context.Context, t *tx) error {
		if req.IdempotencyKey != "" {
			var prev opRow
			err := t.GetContext(ctx, &prev, `SELECT `+opColumns+` FROM operations WHERE idempotency_key = ?`, req.IdempotencyKey)
			switch {
			case err == nil:
				if prev.Kind != req.Kind || prev.AppID.String != req.AppID {
					return apperr.New(apperr.Conflict, "idempotency key already used by operation %s (%s of app %s)", prev.ID, prev.Kind, prev.AppID.String)
				}
				steps, err := loadSteps(ctx, t, prev.ID)
				if err != nil {
					return err
				}
				recs := make([]StepRecord, len(steps))
				for i, s := range steps {
					recs[i] = s.record()
				}
				op, existing = prev.operation(recs), true
				return nil
			case !errors.Is(err, sql.ErrNoRows):
				return fmt.Errorf("look up idempotency key: %w", err)
			}
		}
		if req.AppID != "" {
			var active struct {
				ID   string `db:"id"`
				Kind string `db:"kind"`
			}
			err := t.GetContext(ctx, &active, `SELECT id, kind FROM operations WHERE app_id = ? AND status IN `+activeStatuses, req.AppID)
			if err == nil {
				return apperr.New(apperr.Conflict, "operation %s (%s) is already running for app %s", active.ID, active.Kind, req.AppID)
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("look up active operation: %w", err)
			}
		}
		for _, res := range reservations {
			var holder struct {
				ID    string         `db:"id"`
				Kind  string         `db:"kind"`
				AppID sql.NullString `db:"app_id"`
			}
			err := t.GetContext(ctx, &holder, `SELECT o.id, o.kind, o.app_id FROM operation_reservations r
				JOIN operations o ON o.id = r.operation_id WHERE r.resource = ?`, res)
			if err == nil {
				return &apperr.Error{Code: apperr.PreconditionFailed, Message: "resource reserved by an in-flight operation",
					Err: &ReservationError{Resource: res, OperationID: holder.ID, Kind: holder.Kind, AppID: holder.AppID.String}}
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("look up reservation: %w", err)
			}
		}

		row := opRow{
			ID: uid.String(), Kind: req.Kind, AppID: nullString(req.AppID), Status: StatusQueued,
			IdempotencyKey: nullString(req.IdempotencyKey), Input: string(input), State: "{}", CreatedAt: t.now,
		}
		if _, err := t.NamedExecContext(ctx, `INSERT INTO operations(`+opColumns+`) VALUES (:id, :kind, :app_id, :status,
			:progress, :error, :idempotency_key, :input, :state, :cancel_requested, :created_at, :started_at, :finished_at, :deadline_at)`, &row); err != nil {
			return fmt.Errorf("insert operation: %w", err)
		}
		recs := make([]StepRecord, len(wf.Steps))
		for i, s := range wf.Steps {
			if _, err := t.ExecContext(ctx, `INSERT INTO operation_steps(operation_id, idx, name, status) VALUES (?, ?, ?, 'PENDING')`, row.ID, i, s.Name); err != nil {
				return fmt.Errorf("insert step: %w", err)
			}
			recs[i] = StepRecord{Name: s.Name, Status: StepPending}
		}
		for _, res := range reservations {
			if _, err := t.ExecContext(ctx, `INSERT INTO operation_reservations(resource, operation_id) VALUES (?, ?)`, res, row.ID); err != nil {
				return fmt.Errorf("insert reservation: %w", err)
			}
		}
		if err := t.event(ctx, Event{OperationID: row.ID, Status: string(StatusQueued), Message: "operation queued"}); err != nil {
			return err
		}
		op = row.operation(recs)
		return nil
	})
	if err != nil {
		var se sqlite3.Error
		if errors.As(err, &se) && se.ExtendedCode == sqlite3.ErrConstraintUnique {
			// Another process won a race the checks above cannot see.
			return nil, apperr.Wrap(apperr.Conflict, err, "an active operation or reservation conflicts")
		}
		if errors.Is(err, errAbandoned) {
			return nil, ErrStopped
		}
		return nil, err
	}
	if !existing {
		e.enqueue(op.ID)
		e.log.InfoContext(ctx, "operation submitted", "op", op.ID, "kind", op.Kind, "app", op.AppID)
	}
	return op, nil
}

// Cancel stops an operation: a queued one becomes CANCELLED at once; a
// running one has its context cancelled, its completed steps are undone and
// it ends CANCELLED (roll-forward workflows stop without undoing). An
// operation already rolling back is returned as is; a terminal one gives
// PRECONDITION_FAILED. A running operation is returned as it stood when the
// cancel was recorded, before its run is told: the rollback follows, and
// its events say when it ends.
func (e *Engine) Cancel(ctx context.Context, id string) (*Operation, error) {
	signal := false
	err := e.write(func(ctx context.Context, t *tx) error {
		r, err := loadOp(ctx, t, id)
		if err != nil {
			return err
		}
		switch r.Status {
		case StatusQueued:
			return t.finish(ctx, id, StatusCancelled, errCancelled.Error(), "operation cancelled before it started")
		case StatusRunning:
			signal = true
			if r.CancelRequested {
				return nil
			}
			// Durable, so a run resumed after a crash also rolls back.
			if _, err := t.ExecContext(ctx, `UPDATE operations SET cancel_requested = 1 WHERE id = ?`, id); err != nil {
				return fmt.Errorf("request cancel: %w", err)
			}
			return t.event(ctx, Event{OperationID: id, Status: string(r.Status), Progress: r.Progress, Message: "cancel requested"})
		case StatusRollingBack:
			return nil
		default:
			return apperr.Precondition("id", "operation %s is already %s", id, r.Status)
		}
	})
	if err != nil {
		if errors.Is(err, errAbandoned) {
			return nil, ErrStopped
		}
		return nil, err
	}
	// Read before the run is told, so the answer does not depend on how
	// fast the rollback is.
	op, err := e.Get(ctx, id)
	if signal {
		e.mu.Lock()
		stop := e.running[id]
		e.mu.Unlock()
		if stop != nil {
			stop(errCancelled)
		}
	}
	return op, err
}

// Forget deletes a terminal operation with its steps and events.
func (e *Engine) Forget(ctx context.Context, id string) error {
	err := e.write(func(ctx context.Context, t *tx) error {
		r, err := loadOp(ctx, t, id)
		if err != nil {
			return err
		}
		if !r.Status.Terminal() {
			return apperr.Precondition("id", "operation %s is still %s", id, r.Status)
		}
		if _, err := t.ExecContext(ctx, `DELETE FROM operations WHERE id = ?`, id); err != nil {
			return fmt.Errorf("delete operation %s: %w", id, err)
		}
		return nil
	})
	if errors.Is(err, errAbandoned) {
		return ErrStopped
	}
	return err
}
