package ops

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/appmanage/appmanage/apperr"
)

// This file is the engine's repository: every SQL statement on the
// operations tables lives here.

type opRow struct {
	ID              string         `db:"id"`
	Kind            string         `db:"kind"`
	AppID           sql.NullString `db:"app_id"`
	Status          Status         `db:"status"`
	Progress        int            `db:"progress"`
	Error           string         `db:"error"`
	IdempotencyKey  sql.NullString `db:"idempotency_key"`
	Input           string         `db:"input"`
	State           string         `db:"state"`
	CancelRequested bool           `db:"cancel_requested"`
	CreatedAt       time.Time      `db:"created_at"`
	StartedAt       *time.Time     `db:"started_at"`
	FinishedAt      *time.Time     `db:"finished_at"`
	DeadlineAt      *time.Time     `db:"deadline_at"`
}

const opColumns = `id, kind, app_id, status, progress, error, idempotency_key, input, state,
	cancel_requested, created_at, started_at, finished_at, deadline_at`

func (r *opRow) operation(steps []StepRecord) *Operation {
	op := &Operation{
		ID:             r.ID,
		Kind:           r.Kind,
		AppID:          r.AppID.String,
		Status:         r.Status,
		Progress:       r.Progress,
		Error:          r.Error,
		IdempotencyKey: r.IdempotencyKey.String,
		Input:          json.RawMessage(r.Input),
		CreatedAt:      r.CreatedAt,
		StartedAt:      r.StartedAt,
		FinishedAt:     r.FinishedAt,
		Steps:          steps,
	}
	if op.Steps == nil {
		op.Steps = []StepRecord{}
	}
	return op
}

type stepRow struct {
	OperationID string     `db:"operation_id"`
	Idx         int        `db:"idx"`
	Name        string     `db:"name"`
	Status      StepStatus `db:"status"`
	Error       string     `db:"error"`
	Attempts    int        `db:"attempts"`
	StartedAt   *time.Time `db:"started_at"`
	FinishedAt  *time.Time `db:"finished_at"`
}

func (s stepRow) record() StepRecord {
	return StepRecord{Name: s.Name, Status: s.Status, Error: s.Error, Attempts: s.Attempts, StartedAt: s.StartedAt, FinishedAt: s.FinishedAt}
}

type eventRow struct {
	OperationID string    `db:"operation_id"`
	Seq         int       `db:"seq"`
	At          time.Time `db:"at"`
	Step        string    `db:"step"`
	Status      string    `db:"status"`
	Progress    int       `db:"progress"`
	Message     string    `db:"message"`
	Terminal    bool      `db:"terminal"`
	Detail      string    `db:"detail"`
}

func (r eventRow) event() Event {
	return Event(r)
}

func nullString(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

// queryer is satisfied by *sqlx.DB and *sqlx.Tx, so reads can run on the
// reader pool or inside a write transaction.
type queryer interface {
	sqlx.QueryerContext
	GetContext(ctx context.Context, dest any, query string, args ...any) error
	SelectContext(ctx context.Context, dest any, query string, args ...any) error
}

func loadOp(ctx context.Context, q queryer, id string) (*opRow, error) {
	var r opRow
	err := q.GetContext(ctx, &r, `SELECT `+opColumns+` FROM operations WHERE id = ?`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, apperr.New(apperr.NotFound, "operation %s not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("load operation %s: %w", id, err)
	}
	return &r, nil
}

func loadSteps(ctx context.Context, q queryer, id string) ([]stepRow, error) {
	var rows []stepRow
	if err := q.SelectContext(ctx, &rows, `SELECT * FROM operation_steps WHERE operation_id = ? ORDER BY idx`, id); err != nil {
		return nil, fmt.Errorf("load steps of %s: %w", id, err)
	}
	return rows, nil
}

// attachSteps loads the steps of many operations in one query.
func attachSteps(ctx context.Context, q queryer, rows []opRow) ([]Operation, error) {
	out := make([]Operation, 0, len(rows))
	if len(rows) == 0 {
		return out, nil
	}
	ids := make([]string, len(rows))
	for i, r := range rows {
		ids[i] = r.ID
	}
	query, args, err := sqlx.In(`SELECT * FROM operation_steps WHERE operation_id IN (?) ORDER BY operation_id, idx`, ids)
	if err != nil {
		return nil, fmt.Errorf("load steps: %w", err)
	}
	var steps []stepRow
	if err := q.SelectContext(ctx, &steps, query, args...); err != nil {
		return nil, fmt.Errorf("load steps: %w", err)
	}
	byOp := map[string][]StepRecord{}
	for _, s := range steps {
		byOp[s.OperationID] = append(byOp[s.OperationID], s.record())
	}
	for i := range rows {
		out = append(out, *rows[i].operation(byOp[rows[i].ID]))
	}
	return out, nil
}

// tx is a write transaction that collects the events it writes so the
// engine can publish them after commit.
type tx struct {
	*sqlx.Tx
	now    time.Time
	events []Event
	stmts  *stmtCache
	misses []string // queries run unprepared, to prepare after commit
}

// stmtCache keeps the journal's statements prepared on the writer
// connection: an install journals a few dozen statements, and preparing
// each anew cost more than running it (BenchmarkInstallOverhead's profile).
type stmtCache struct {
	db *sqlx.DB
	mu sync.Mutex
	m  map[string]*sqlx.Stmt
}

// maxCachedStmts bounds the cache: queries with an IN list of varying
// length are each a different text.
const maxCachedStmts = 64

// stmt returns query's cached statement bound to t, or nil to run it
// unprepared this time. A miss is prepared after t commits (prepareMisses):
// preparing needs the writer's only connection, which t holds.
func (t *tx) stmt(ctx context.Context, query string) *sqlx.Stmt {
	c := t.stmts
	if c == nil {
		return nil
	}
	c.mu.Lock()
	st := c.m[query]
	c.mu.Unlock()
	if st == nil {
		t.misses = append(t.misses, query)
		return nil
	}
	return t.StmtxContext(ctx, st)
}

// prepareMisses prepares the statements a transaction ran unprepared. It
// must not be called while a transaction holds the writer connection.
func (c *stmtCache) prepareMisses(misses []string) {
	if c == nil || len(misses) == 0 {
		return
	}
	for _, q := range misses {
		c.mu.Lock()
		_, ok := c.m[q]
		full := len(c.m) >= maxCachedStmts
		c.mu.Unlock()
		if ok || full {
			continue
		}
		// Not under c.mu: preparing waits for the writer connection, and
		// the transaction holding it may be waiting for c.mu.
		st, err := c.db.Preparex(q)
		if err != nil {
			continue
		}
		c.mu.Lock()
		if _, ok := c.m[q]; ok || len(c.m) >= maxCachedStmts {
			_ = st.Close()
		} else {
			c.m[q] = st
		}
		c.mu.Unlock()
	}
}

// ExecContext runs query with a cached prepared statement.
func (t *tx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := t.stmt(ctx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return t.Tx.ExecContext(ctx, query, args...)
}

// GetContext runs query with a cached prepared statement.
func (t *tx) GetContext(ctx context.Context, dest any, query string, args ...any) error {
	if st := t.stmt(ctx, query); st != nil {
		return st.GetContext(ctx, dest, args...)
	}
	return t.Tx.GetContext(ctx, dest, query, args...)
}

// SelectContext runs query with a cached prepared statement.
func (t *tx) SelectContext(ctx context.Context, dest any, query string, args ...any) error {
	if st := t.stmt(ctx, query); st != nil {
		return st.SelectContext(ctx, dest, args...)
	}
	return t.Tx.SelectContext(ctx, dest, query, args...)
}

// event appends an event with the next seq of the operation, allocated and
// inserted in one statement.
func (t *tx) event(ctx context.Context, ev Event) error {
	ev.At = t.now
	ev.Message = sanitize(ev.Message)
	if err := t.GetContext(ctx, &ev.Seq, `INSERT INTO operation_events(operation_id, seq, at, step, status, progress, message, terminal, detail)
		SELECT ?, COALESCE(MAX(seq), 0) + 1, ?, ?, ?, ?, ?, ?, ? FROM operation_events WHERE operation_id = ?
		RETURNING seq`, ev.OperationID, ev.At, ev.Step, ev.Status, ev.Progress, ev.Message, ev.Terminal, ev.Detail, ev.OperationID); err != nil {
		return fmt.Errorf("insert event: %w", err)
	}
	t.events = append(t.events, ev)
	return nil
}

func (t *tx) setStep(ctx context.Context, opID string, idx int, status StepStatus, errText string) error {
	q := `UPDATE operation_steps SET status = ?, error = ?`
	args := []any{status, sanitize(errText)}
	switch status {
	case StepRunning:
		q += `, started_at = COALESCE(started_at, ?), finished_at = NULL`
		args = append(args, t.now)
	case StepSucceeded, StepFailed, StepUndone, StepUndoFailed, StepSkipped:
		q += `, finished_at = ?`
		args = append(args, t.now)
	}
	q += ` WHERE operation_id = ? AND idx = ?`
	args = append(args, opID, idx)
	if _, err := t.ExecContext(ctx, q, args...); err != nil {
		return fmt.Errorf("update step: %w", err)
	}
	return nil
}

func (t *tx) addAttempt(ctx context.Context, opID string, idx int) error {
	if _, err := t.ExecContext(ctx, `UPDATE operation_steps SET attempts = attempts + 1 WHERE operation_id = ? AND idx = ?`, opID, idx); err != nil {
		return fmt.Errorf("count step attempt: %w", err)
	}
	return nil
}

// finish moves the operation to a terminal status: remaining steps are
// skipped, reservations released and the terminal event written.
func (t *tx) finish(ctx context.Context, opID string, status Status, errText, message string) error {
	errText = sanitize(errText)
	if _, err := t.ExecContext(ctx, `UPDATE operations SET status = ?, error = ?, progress = 100, finished_at = ? WHERE id = ?`,
		status, errText, t.now, opID); err != nil {
		return fmt.Errorf("finish operation: %w", err)
	}
	if _, err := t.ExecContext(ctx, `UPDATE operation_steps SET status = 'SKIPPED' WHERE operation_id = ? AND status = 'PENDING'`, opID); err != nil {
		return fmt.Errorf("skip steps: %w", err)
	}
	if _, err := t.ExecContext(ctx, `DELETE FROM operation_reservations WHERE operation_id = ?`, opID); err != nil {
		return fmt.Errorf("release reservations: %w", err)
	}
	if message == "" {
		message = "operation " + strings.ToLower(strings.ReplaceAll(string(status), "_", " "))
		if errText != "" {
			message += ": " + errText
		}
	}
	return t.event(ctx, Event{OperationID: opID, Status: string(status), Progress: 100, Message: message, Terminal: true})
}

// Get returns one operation with its steps; apperr NOT_FOUND when missing.
func (e *Engine) Get(ctx context.Context, id string) (*Operation, error) {
	r, err := loadOp(ctx, e.db.R, id)
	if err != nil {
		return nil, err
	}
	steps, err := loadSteps(ctx, e.db.R, id)
	if err != nil {
		return nil, err
	}
	recs := make([]StepRecord, len(steps))
	for i, s := range steps {
		recs[i] = s.record()
	}
	return r.operation(recs), nil
}

// ListFilter narrows List; zero fields match everything. Limit defaults to
// 50 and is capped at 1000.
type ListFilter struct {
	AppID    string
	Kind     string
	Statuses []Status
	Limit    int
}

// List returns operations, newest first.
func (e *Engine) List(ctx context.Context, f ListFilter) ([]Operation, error) {
	var where []string
	var args []any
	if f.AppID != "" {
		where = append(where, "app_id = ?")
		args = append(args, f.AppID)
	}
	if f.Kind != "" {
		where = append(where, "kind = ?")
		args = append(args, f.Kind)
	}
	if len(f.Statuses) > 0 {
		where = append(where, "status IN (?"+strings.Repeat(",?", len(f.Statuses)-1)+")")
		for _, s := range f.Statuses {
			args = append(args, s)
		}
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 50
	}
	limit = min(limit, 1000)
	q := `SELECT ` + opColumns + ` FROM operations`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += ` ORDER BY created_at DESC, id DESC LIMIT ?`
	args = append(args, limit)
	var rows []opRow
	if err := e.db.R.SelectContext(ctx, &rows, q, args...); err != nil {
		return nil, fmt.Errorf("list operations: %w", err)
	}
	return attachSteps(ctx, e.db.R, rows)
}

// LatestByApp returns the newest operation of each app that has one, in two
// queries whatever the number of apps.
func (e *Engine) LatestByApp(ctx context.Context, appIDs []string) (map[string]*Operation, error) {
	out := make(map[string]*Operation, len(appIDs))
	if len(appIDs) == 0 {
		return out, nil
	}
	query, args, err := sqlx.In(`SELECT `+opColumns+` FROM (
		SELECT *, ROW_NUMBER() OVER (PARTITION BY app_id ORDER BY created_at DESC, id DESC) AS rn
		FROM operations WHERE app_id IN (?)) WHERE rn = 1`, appIDs)
	if err != nil {
		return nil, fmt.Errorf("latest operations: %w", err)
	}
	var rows []opRow
	if err := e.db.R.SelectContext(ctx, &rows, query, args...); err != nil {
		return nil, fmt.Errorf("latest operations: %w", err)
	}
	ops, err := attachSteps(ctx, e.db.R, rows)
	if err != nil {
		return nil, err
	}
	for i := range ops {
		out[ops[i].AppID] = &ops[i]
	}
	return out, nil
}

// Events returns the stored events with seq > afterSeq, in order.
func (e *Engine) Events(ctx context.Context, id string, afterSeq int) ([]Event, error) {
	return readEvents(ctx, e.db.R, id, afterSeq)
}

func readEvents(ctx context.Context, q queryer, id string, afterSeq int) ([]Event, error) {
	var rows []eventRow
	if err := q.SelectContext(ctx, &rows, `SELECT * FROM operation_events WHERE operation_id = ? AND seq > ? ORDER BY seq`, id, afterSeq); err != nil {
		return nil, fmt.Errorf("read events of %s: %w", id, err)
	}
	out := make([]Event, len(rows))
	for i, r := range rows {
		out[i] = r.event()
	}
	return out, nil
}

// ByIdempotencyKey returns the operation submitted with key; apperr
// NOT_FOUND when none was. Callers check it before their own preflight, so a
// retried request returns its operation instead of failing the checks the
// first request's success now trips.
func (e *Engine) ByIdempotencyKey(ctx context.Context, key string) (*Operation, error) {
	var id string
	err := e.db.R.GetContext(ctx, &id, `SELECT id FROM operations WHERE idempotency_key = ?`, key)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, apperr.New(apperr.NotFound, "no operation with that idempotency key")
	}
	if err != nil {
		return nil, fmt.Errorf("look up idempotency key: %w", err)
	}
	return e.Get(ctx, id)
}
