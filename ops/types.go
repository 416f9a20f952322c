// Package ops is the durable operation engine (DESIGN.md §4): every state
// change to an app is an Operation made of Steps, journalled in SQLite before
// and after each external call, run by a bounded worker pool detached from the
// request, compensated in reverse order on failure, resumed after a crash,
// and observable as a gap-free stream of events.
//
// The engine is generic: the apps package registers Workflows with it.
package ops

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"math/rand/v2"
	"time"
)

// Status is an operation's lifecycle state.
type Status string

const (
	StatusQueued      Status = "QUEUED"
	StatusRunning     Status = "RUNNING"
	StatusSucceeded   Status = "SUCCEEDED"
	StatusFailed      Status = "FAILED"
	StatusRollingBack Status = "ROLLING_BACK"
	StatusRolledBack  Status = "ROLLED_BACK"
	StatusCancelled   Status = "CANCELLED"
)

// Terminal reports whether the operation will never change again.
func (s Status) Terminal() bool {
	switch s {
	case StatusSucceeded, StatusFailed, StatusRolledBack, StatusCancelled:
		return true
	}
	return false
}

// Active reports whether the operation holds its app (and its reservations).
func (s Status) Active() bool {
	return s == StatusQueued || s == StatusRunning || s == StatusRollingBack
}

// activeStatuses is the SQL list matching Active and the partial unique index.
const activeStatuses = `('QUEUED','RUNNING','ROLLING_BACK')`

// StepStatus is a step's state within an operation.
type StepStatus string

const (
	StepPending    StepStatus = "PENDING"
	StepRunning    StepStatus = "RUNNING"
	StepSucceeded  StepStatus = "SUCCEEDED"
	StepFailed     StepStatus = "FAILED"
	StepUndoing    StepStatus = "UNDOING"
	StepUndone     StepStatus = "UNDONE"
	StepUndoFailed StepStatus = "UNDO_FAILED"
	StepSkipped    StepStatus = "SKIPPED"
)

// Operation is the durable record of one workflow run.
type Operation struct {
	ID             string
	Kind           string
	AppID          string
	Status         Status
	Progress       int
	Error          string
	IdempotencyKey string
	Input          json.RawMessage
	CreatedAt      time.Time
	StartedAt      *time.Time
	FinishedAt     *time.Time
	Steps          []StepRecord
}

// StepRecord is the journalled state of one step.
type StepRecord struct {
	Name       string
	Status     StepStatus
	Error      string
	Attempts   int
	StartedAt  *time.Time
	FinishedAt *time.Time
}

// Event is one entry of an operation's journal: a step transition, an
// operation transition or a log line. Seq is 1, 2, 3… per operation.
type Event struct {
	OperationID string
	Seq         int
	At          time.Time
	Step        string // empty for operation-level events
	Status      string // the operation's status, or the step's for step events
	Progress    int
	Message     string
	Terminal    bool // the last event of the operation
	// Detail is structured data of a log line (JSON, "" for none), as a
	// step gave it to Run.LogDetail.
	Detail string
}

// Step is one unit of work of a Workflow.
type Step struct {
	Name    string
	Weight  int           // share of progress; default 1
	Timeout time.Duration // per attempt; default Options.StepTimeout
	// Do must be idempotent: it may run again after a crash or a timeout, so
	// it looks resources up by deterministic name before creating them.
	Do func(ctx context.Context, r *Run) error
	// Undo is optional and must treat "already gone" as success.
	Undo func(ctx context.Context, r *Run) error
	// Retries is how many more times Do is attempted after an error marked
	// with Retryable (or a per-attempt timeout). Default 0.
	Retries int
	// UndoOnFailure also runs Undo when Do itself failed, because Do may have
	// left a partial effect (e.g. the upstream created the resource after the
	// client timed out). Only set it where the deterministic name is known to
	// belong to this operation (preflight proved it free), since Undo then
	// runs even if Do did nothing.
	UndoOnFailure bool
}

// Workflow is a named list of steps that Submit can run.
type Workflow struct {
	Kind  string
	Steps []Step
	// RollForward workflows (uninstall) never undo: each failing step is
	// retried with backoff until it succeeds, the operation is cancelled, or
	// its deadline passes (then FAILED: the app needs attention).
	RollForward bool
	// KeepDone workflows (repair) never undo either, but retry a failing
	// step only as Step.Retries says: the operation then ends FAILED with
	// the steps done so far kept (each fixed something worth keeping).
	KeepDone bool
	Deadline time.Duration // overall; default Options.Deadline
}

type retryableError struct{ err error }

func (e *retryableError) Error() string { return e.err.Error() }
func (e *retryableError) Unwrap() error { return e.err }

// Retryable marks err as transient: Do is attempted again (up to
// Step.Retries) instead of failing the step. Retryable(nil) is nil.
func Retryable(err error) error {
	if err == nil {
		return nil
	}
	return &retryableError{err: err}
}

// IsRetryable reports whether err was marked with Retryable or is a step
// attempt timeout.
func IsRetryable(err error) bool {
	var r *retryableError
	var t *stepTimeoutError
	return errors.As(err, &r) || errors.As(err, &t)
}

// Options configure an Engine. Zero values take the defaults.
type Options struct {
	Workers      int           // default 4
	QueueSize    int           // default 256
	StepTimeout  time.Duration // default 10m
	Deadline     time.Duration // default 30m
	UndoAttempts int           // default 5
	// Backoff gives the wait before attempt n+1 after attempt n failed
	// (n starts at 1). Default: jittered exponential from 500ms capped at 30s.
	Backoff func(attempt int) time.Duration
	// StepGrace is how long the runner waits for a step that ignores its
	// cancelled context before giving up on it (the attempt then counts as
	// timed out). Default 10s.
	StepGrace time.Duration
	Logger    *slog.Logger
	Now       func() time.Time
}

func (o Options) withDefaults() Options {
	if o.Workers <= 0 {
		o.Workers = 4
	}
	if o.QueueSize <= 0 {
		o.QueueSize = 256
	}
	if o.StepTimeout <= 0 {
		o.StepTimeout = 10 * time.Minute
	}
	if o.Deadline <= 0 {
		o.Deadline = 30 * time.Minute
	}
	if o.UndoAttempts <= 0 {
		o.UndoAttempts = 5
	}
	if o.Backoff == nil {
		o.Backoff = DefaultBackoff
	}
	if o.StepGrace <= 0 {
		o.StepGrace = 10 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// DefaultBackoff is exponential from 500ms, capped at 30s, with "equal
// jitter" (half fixed, half random) so retries of many operations spread out.
func DefaultBackoff(attempt int) time.Duration {
	const base, ceiling = 500 * time.Millisecond, 30 * time.Second
	d := base
	for i := 1; i < attempt && d < ceiling; i++ {
		d *= 2
	}
	d = min(d, ceiling)
	half := d / 2
	return half + rand.N(half+1)
}
