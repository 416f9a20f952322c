package ops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync/atomic"
	"time"
)

var (
	errStepTimeout = errors.New("step attempt timed out")
	// errHalted means the run stopped without finishing because the engine
	// is shutting down or was abandoned; the journal is left for the next
	// Start to resume.
	errHalted = errors.New("run halted")
)

type stepTimeoutError struct {
	after time.Duration
	err   error
}

func (e *stepTimeoutError) Error() string {
	msg := "timed out after " + e.after.String()
	if e.err != nil && !errors.Is(e.err, context.DeadlineExceeded) && !errors.Is(e.err, context.Canceled) {
		msg += ": " + e.err.Error()
	}
	return msg
}

func (e *stepTimeoutError) Unwrap() error { return e.err }

// stopError is a step error caused by the operation being stopped
// (cancelled, or past its deadline) rather than by the step itself.
type stopError struct {
	cause error // errCancelled or errDeadline
	err   error // what the step returned, if it got to return
}

func (e *stopError) Error() string { return e.cause.Error() }

// runner drives one operation. Only its goroutine touches steps.
type runner struct {
	e        *Engine
	wf       *Workflow
	op       *opRow
	steps    []stepRow // mirror of the journal
	state    *opState
	ctx      context.Context // cancelled by Cancel, the deadline or Abandon
	progress atomic.Int64
	log      *slog.Logger
}

// execute runs (or resumes) operation id until it is terminal or halted.
func (e *Engine) execute(id string) {
	opCtx, stop := context.WithCancelCause(e.baseCtx)
	defer stop(nil)
	// Registered before the journal is read, so a Cancel that commits
	// after the read always finds the cancel func (and one that commits
	// before is seen in cancel_requested).
	e.mu.Lock()
	e.running[id] = stop
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		delete(e.running, id)
		e.mu.Unlock()
	}()

	op, err := loadOp(e.baseCtx, e.db.R, id)
	if err != nil {
		if !e.isAbandoned() {
			e.log.Error("load operation", "op", id, "err", err)
		}
		return
	}
	if op.Status.Terminal() {
		return
	}
	steps, err := loadSteps(e.baseCtx, e.db.R, id)
	if err != nil {
		e.log.Error("load operation steps", "op", id, "err", err)
		return
	}
	log := e.log.With("op", op.ID, "kind", op.Kind, "app", op.AppID.String)
	wf := e.workflows[op.Kind]
	if reason := unrunnable(wf, op.Kind, steps); reason != "" {
		log.Error("cannot run operation", "reason", reason)
		_ = e.write(func(ctx context.Context, t *tx) error {
			return t.finish(ctx, id, StatusFailed, reason, "")
		})
		return
	}
	r := &runner{e: e, wf: wf, op: op, steps: steps, state: &opState{values: map[string]json.RawMessage{}}, log: log}
	r.progress.Store(int64(op.Progress))
	if err := json.Unmarshal([]byte(op.State), &r.state.values); err != nil {
		log.Warn("operation state unreadable; starting empty", "err", err)
	}

	// A fresh deadline on resume: the time the process was down is not the
	// operation's fault.
	deadline := e.opts.Now().Add(wf.Deadline)
	resumed := op.Status != StatusQueued
	started := false
	err = e.write(func(ctx context.Context, t *tx) error {
		if !resumed {
			res, err := t.ExecContext(ctx, `UPDATE operations SET status = 'RUNNING', started_at = ?, deadline_at = ? WHERE id = ? AND status = 'QUEUED'`,
				t.now, deadline.UTC(), id)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 0 {
				return nil // cancelled while queued
			}
			started = true
			return t.event(ctx, Event{OperationID: id, Status: string(StatusRunning), Progress: op.Progress, Message: "operation started"})
		}
		if _, err := t.ExecContext(ctx, `UPDATE operations SET deadline_at = ? WHERE id = ?`, deadline.UTC(), id); err != nil {
			return err
		}
		started = true
		return t.event(ctx, Event{OperationID: id, Status: string(op.Status), Progress: op.Progress, Message: "resumed after restart"})
	})
	if err != nil || !started {
		if err != nil && !errors.Is(err, errAbandoned) {
			log.Error("start operation", "err", err)
		}
		return
	}
	if resumed {
		log.Info("resuming operation", "status", op.Status)
	} else {
		op.Status = StatusRunning
	}
	// Relative, so an injected Options.Now cannot skew the real timer.
	ctx, cancelDeadline := context.WithTimeoutCause(opCtx, wf.Deadline, errDeadline)
	defer cancelDeadline()
	r.ctx = ctx
	if op.CancelRequested {
		stop(errCancelled)
	}

	if op.Status == StatusRollingBack {
		r.rollback()
	} else {
		r.forward()
	}
}

// unrunnable explains why a journalled operation cannot be run by the
// registered workflow, or returns "".
func unrunnable(wf *Workflow, kind string, steps []stepRow) string {
	if wf == nil {
		return fmt.Sprintf("no workflow registered for kind %q", kind)
	}
	if len(steps) != len(wf.Steps) {
		return fmt.Sprintf("workflow %s changed since the operation was submitted (%d steps journalled, %d defined)", kind, len(steps), len(wf.Steps))
	}
	for i, s := range steps {
		if s.Name != wf.Steps[i].Name {
			return fmt.Sprintf("workflow %s changed since the operation was submitted (step %d is %q, journal has %q)", kind, i, wf.Steps[i].Name, s.Name)
		}
	}
	return ""
}

// write journals through the engine; a failure other than abandonment is
// logged, and either way the run stops (it resumes on the next Start).
func (r *runner) write(fn func(ctx context.Context, t *tx) error) error {
	err := r.e.write(fn)
	if err != nil && !errors.Is(err, errAbandoned) {
		r.log.Error("journal write failed; operation left for resume", "err", err)
	}
	if err != nil {
		return errHalted
	}
	return nil
}

// halted reports whether the run must stop at this boundary, writing a
// note for a graceful shutdown.
func (r *runner) halted(step string) bool {
	if r.e.isAbandoned() {
		return true
	}
	if !r.e.draining.Load() {
		return false
	}
	_ = r.write(func(ctx context.Context, t *tx) error {
		return t.event(ctx, Event{OperationID: r.op.ID, Step: step, Status: string(r.op.Status), Progress: r.pct(),
			Message: "paused for shutdown; resumes on next start"})
	})
	return true
}

// stopCause is why the operation's context ended, or nil.
func (r *runner) stopCause() error {
	if r.ctx.Err() == nil {
		return nil
	}
	if r.e.isAbandoned() {
		return errHalted
	}
	switch c := context.Cause(r.ctx); {
	case errors.Is(c, errCancelled), errors.Is(c, errDeadline):
		return c
	default:
		return errHalted
	}
}

func (r *runner) pct() int { return int(r.progress.Load()) }

// recomputeProgress returns the share of finished step weight, never less
// than before.
func (r *runner) recomputeProgress() int {
	total, done := 0, 0
	for i, s := range r.wf.Steps {
		total += s.Weight
		if r.steps[i].Status == StepSucceeded {
			done += s.Weight
		}
	}
	p := max(done*100/total, r.pct())
	r.progress.Store(int64(p))
	return p
}

func (r *runner) newRun(step string, status StepStatus, resumed bool) *Run {
	run := &Run{e: r.e, op: r.op, state: r.state, step: step, resumed: resumed,
		status: func() StepStatus { return status }, progress: r.pct, log: r.log.With("step", step)}
	run.live.Store(true)
	return run
}

func (r *runner) forward() {
	first := 0
	for first < len(r.steps) && r.steps[first].Status == StepSucceeded {
		first++
	}
	for i := first; i < len(r.steps); i++ {
		if r.halted(r.steps[i].Name) {
			return
		}
		if cause := r.stopCause(); cause != nil {
			if cause != errHalted {
				// A step journalled RUNNING (interrupted by a crash) may
				// have had its effect: fail it so UndoOnFailure applies.
				r.fail(i, r.steps[i].Status == StepRunning, &stopError{cause: cause})
			}
			return
		}
		err := r.runStep(i)
		if err == nil {
			continue
		}
		if errors.Is(err, errHalted) {
			return
		}
		r.fail(i, true, err)
		return
	}
	_ = r.write(func(ctx context.Context, t *tx) error {
		return t.finish(ctx, r.op.ID, StatusSucceeded, "", "operation succeeded")
	})
}

// runStep runs step i's Do until it succeeds, fails for good, or the
// operation stops. errHalted means: leave the journal as it is.
func (r *runner) runStep(i int) error {
	step := &r.wf.Steps[i]
	resumed := r.steps[i].Status == StepRunning
	msg := "step started"
	if resumed {
		msg = "step resumed after restart"
	}
	if err := r.write(func(ctx context.Context, t *tx) error {
		if err := t.setStep(ctx, r.op.ID, i, StepRunning, ""); err != nil {
			return err
		}
		if err := t.addAttempt(ctx, r.op.ID, i); err != nil {
			return err
		}
		return t.event(ctx, Event{OperationID: r.op.ID, Step: step.Name, Status: string(StepRunning), Progress: r.pct(), Message: msg})
	}); err != nil {
		return err
	}
	r.steps[i].Status = StepRunning

	for attempt := 1; ; attempt++ {
		err := r.call(r.ctx, step, step.Do, r.newRun(step.Name, StepRunning, resumed))
		if err == nil {
			r.steps[i].Status = StepSucceeded
			p := r.recomputeProgress()
			return r.write(func(ctx context.Context, t *tx) error {
				if err := t.setStep(ctx, r.op.ID, i, StepSucceeded, ""); err != nil {
					return err
				}
				if _, err := t.ExecContext(ctx, `UPDATE operations SET progress = ? WHERE id = ?`, p, r.op.ID); err != nil {
					return err
				}
				return t.event(ctx, Event{OperationID: r.op.ID, Step: step.Name, Status: string(StepSucceeded), Progress: p, Message: "step succeeded"})
			})
		}
		if cause := r.stopCause(); cause != nil {
			if cause == errHalted {
				return errHalted
			}
			return &stopError{cause: cause, err: err}
		}
		if !r.wf.RollForward && (!IsRetryable(err) || attempt > step.Retries) {
			return err
		}
		if r.halted(step.Name) {
			return errHalted
		}
		wait := r.e.opts.Backoff(attempt)
		r.log.Warn("step attempt failed; retrying", "step", step.Name, "attempt", attempt, "wait", wait, "err", sanitize(err.Error()))
		if err := r.write(func(ctx context.Context, t *tx) error {
			return t.event(ctx, Event{OperationID: r.op.ID, Step: step.Name, Status: string(StepRunning), Progress: r.pct(),
				Message: fmt.Sprintf("attempt %d failed: %v; retrying in %s", attempt, err, wait.Round(time.Millisecond))})
		}); err != nil {
			return err
		}
		if serr := r.sleep(r.ctx, wait); serr != nil {
			if serr == errHalted {
				return errHalted
			}
			return &stopError{cause: serr, err: err}
		}
		if err := r.write(func(ctx context.Context, t *tx) error { return t.addAttempt(ctx, r.op.ID, i) }); err != nil {
			return err
		}
	}
}

// sleep waits d unless ctx ends (returns its stop cause) or the engine
// drains (errHalted).
func (r *runner) sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-r.e.drainCh:
		r.halted("")
		return errHalted
	case <-ctx.Done():
		if ctx == r.ctx {
			if c := r.stopCause(); c != nil {
				return c
			}
		}
		return errHalted
	}
}

// fail handles a forward failure at step i (started: whether the step ran;
// false when the operation stopped between steps).
func (r *runner) fail(i int, started bool, err error) {
	step := &r.wf.Steps[i]
	stepErr, opErr := err.Error(), step.Name+": "+err.Error()
	status := StatusFailed
	var se *stopError
	if errors.As(err, &se) {
		switch se.cause {
		case errCancelled:
			stepErr, opErr, status = "cancelled", errCancelled.Error(), StatusCancelled
		case errDeadline:
			stepErr = fmt.Sprintf("operation deadline of %s exceeded", r.wf.Deadline)
			opErr = fmt.Sprintf("operation deadline of %s exceeded during step %s", r.wf.Deadline, step.Name)
		}
		if se.err != nil && !errors.Is(se.err, context.Canceled) && !errors.Is(se.err, context.DeadlineExceeded) {
			stepErr += " (last error: " + se.err.Error() + ")"
			opErr += " (last error: " + se.err.Error() + ")"
		}
	}
	r.log.Warn("operation step failed", "step", step.Name, "err", sanitize(stepErr))

	if r.wf.RollForward || r.wf.KeepDone {
		// Never undone: the app is left for attention (FAILED), or as the
		// user asked (CANCELLED).
		if r.wf.RollForward {
			opErr += "; nothing was undone: " + r.op.Kind + " rolls forward only"
		} else {
			opErr += "; nothing was undone: what " + r.op.Kind + " fixed before stays fixed"
		}
		_ = r.write(func(ctx context.Context, t *tx) error {
			if started {
				if err := r.stepFailed(ctx, t, i, stepErr); err != nil {
					return err
				}
			}
			return t.finish(ctx, r.op.ID, status, opErr, "")
		})
		return
	}
	if err := r.write(func(ctx context.Context, t *tx) error {
		if started {
			if err := r.stepFailed(ctx, t, i, stepErr); err != nil {
				return err
			}
		}
		if _, err := t.ExecContext(ctx, `UPDATE operations SET status = 'ROLLING_BACK', error = ? WHERE id = ?`, sanitize(opErr), r.op.ID); err != nil {
			return err
		}
		return t.event(ctx, Event{OperationID: r.op.ID, Status: string(StatusRollingBack), Progress: r.pct(), Message: "rolling back: " + opErr})
	}); err != nil {
		return
	}
	if started {
		r.steps[i].Status, r.steps[i].Error = StepFailed, sanitize(stepErr)
	}
	r.op.Status = StatusRollingBack
	r.rollback()
}

func (r *runner) stepFailed(ctx context.Context, t *tx, i int, stepErr string) error {
	if err := t.setStep(ctx, r.op.ID, i, StepFailed, stepErr); err != nil {
		return err
	}
	return t.event(ctx, Event{OperationID: r.op.ID, Step: r.steps[i].Name, Status: string(StepFailed), Progress: r.pct(), Message: "step failed: " + stepErr})
}

// rollback undoes, in reverse order, every step whose effect may exist,
// then finishes the operation. It picks up where a previous process left.
func (r *runner) rollback() {
	opts := r.e.opts
	for i := len(r.steps) - 1; i >= 0; i-- {
		step := &r.wf.Steps[i]
		s := &r.steps[i]
		if step.Undo == nil {
			continue
		}
		switch {
		case s.Status == StepSucceeded, s.Status == StepUndoing:
		case s.Status == StepFailed && step.UndoOnFailure:
		default:
			continue
		}
		if r.halted(step.Name) {
			return
		}
		resumed := s.Status == StepUndoing
		keep := s.Error // a failed step keeps its own error through the undo
		if err := r.write(func(ctx context.Context, t *tx) error {
			if err := t.setStep(ctx, r.op.ID, i, StepUndoing, keep); err != nil {
				return err
			}
			return t.event(ctx, Event{OperationID: r.op.ID, Step: step.Name, Status: string(StepUndoing), Progress: r.pct(), Message: "undoing step"})
		}); err != nil {
			return
		}
		s.Status = StepUndoing

		var err error
		for attempt := 1; attempt <= opts.UndoAttempts; attempt++ {
			// Undo runs on the engine's context: neither Cancel nor the
			// deadline may stop a compensation.
			err = r.call(r.e.baseCtx, step, step.Undo, r.newRun(step.Name, StepUndoing, resumed))
			if err == nil || r.e.isAbandoned() || attempt == opts.UndoAttempts {
				break
			}
			wait := opts.Backoff(attempt)
			if werr := r.write(func(ctx context.Context, t *tx) error {
				return t.event(ctx, Event{OperationID: r.op.ID, Step: step.Name, Status: string(StepUndoing), Progress: r.pct(),
					Message: fmt.Sprintf("undo attempt %d of %d failed: %v; retrying in %s", attempt, opts.UndoAttempts, err, wait.Round(time.Millisecond))})
			}); werr != nil {
				return
			}
			if r.sleep(r.e.baseCtx, wait) != nil {
				return
			}
		}
		if r.e.isAbandoned() {
			return
		}
		if err == nil {
			if r.write(func(ctx context.Context, t *tx) error {
				if err := t.setStep(ctx, r.op.ID, i, StepUndone, keep); err != nil {
					return err
				}
				return t.event(ctx, Event{OperationID: r.op.ID, Step: step.Name, Status: string(StepUndone), Progress: r.pct(), Message: "step undone"})
			}) != nil {
				return
			}
			s.Status = StepUndone
			continue
		}
		undoErr := sanitize(err.Error())
		stepErr := "undo failed: " + undoErr
		if keep != "" {
			stepErr = keep + "; " + stepErr
		}
		r.log.Error("undo failed", "step", step.Name, "attempts", opts.UndoAttempts, "err", undoErr)
		if r.write(func(ctx context.Context, t *tx) error {
			if err := t.setStep(ctx, r.op.ID, i, StepUndoFailed, stepErr); err != nil {
				return err
			}
			// Appended, so the original error always stays first.
			if _, err := t.ExecContext(ctx, `UPDATE operations SET error = error || ? WHERE id = ?`,
				"; undo of "+step.Name+" failed: "+undoErr, r.op.ID); err != nil {
				return err
			}
			return t.event(ctx, Event{OperationID: r.op.ID, Step: step.Name, Status: string(StepUndoFailed), Progress: r.pct(),
				Message: fmt.Sprintf("undo failed after %d attempts: %s", opts.UndoAttempts, undoErr)})
		}) != nil {
			return
		}
		s.Status = StepUndoFailed
	}

	_ = r.write(func(ctx context.Context, t *tx) error {
		var cur struct {
			Error           string `db:"error"`
			CancelRequested bool   `db:"cancel_requested"`
			UndoFailed      int    `db:"undo_failed"`
		}
		if err := t.GetContext(ctx, &cur, `SELECT error, cancel_requested,
			(SELECT COUNT(*) FROM operation_steps WHERE operation_id = operations.id AND status = 'UNDO_FAILED') AS undo_failed
			FROM operations WHERE id = ?`, r.op.ID); err != nil {
			return err
		}
		status := StatusRolledBack
		switch {
		case cur.UndoFailed > 0:
			status = StatusFailed
		case cur.CancelRequested:
			status = StatusCancelled
		}
		return t.finish(ctx, r.op.ID, status, cur.Error, "")
	})
}

// call runs one attempt of fn under the step timeout, recovering panics.
// A step that ignores its cancelled context is given StepGrace, then left
// behind (its Run goes stale so it can no longer write to the journal).
func (r *runner) call(parent context.Context, step *Step, fn func(context.Context, *Run) error, run *Run) (err error) {
	actx, cancel := context.WithTimeoutCause(parent, step.Timeout, errStepTimeout)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				r.log.Error("step panicked", "step", step.Name, "panic", sanitize(fmt.Sprint(p)), "stack", string(debug.Stack()))
				done <- fmt.Errorf("panic: %v", p)
			}
		}()
		done <- fn(actx, run)
	}()
	select {
	case err = <-done:
	case <-actx.Done():
		grace := time.NewTimer(r.e.opts.StepGrace)
		select {
		case err = <-done:
		case <-grace.C:
			r.log.Error("step ignored its cancelled context; abandoning it", "step", step.Name, "grace", r.e.opts.StepGrace)
			err = fmt.Errorf("step did not return within %s after its context ended", r.e.opts.StepGrace)
		}
		grace.Stop()
	}
	run.live.Store(false)
	if err != nil && errors.Is(context.Cause(actx), errStepTimeout) && parent.Err() == nil {
		err = &stepTimeoutError{after: step.Timeout, err: err}
	}
	return err
}
