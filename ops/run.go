package ops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
)

// errStaleRun is returned by Run methods called after the attempt they
// were handed to has ended (a step that ignored its context and leaked a
// goroutine must not write into a later step's journal).
var errStaleRun = errors.New("ops: Run used after its step attempt ended")

// opState is the durable per-operation key/value journal shared by the
// operation's steps.
type opState struct {
	mu     sync.Mutex
	values map[string]json.RawMessage
}

// Run is what a step sees of its operation.
type Run struct {
	e        *Engine
	op       *opRow
	state    *opState
	step     string
	status   func() StepStatus // RUNNING or UNDOING
	progress func() int
	resumed  bool
	live     atomic.Bool
	log      *slog.Logger
}

// OperationID returns the operation's id.
func (r *Run) OperationID() string { return r.op.ID }

// AppID returns the app the operation is for.
func (r *Run) AppID() string { return r.op.AppID.String }

// Kind returns the workflow kind.
func (r *Run) Kind() string { return r.op.Kind }

// Resumed reports whether this step is being re-run after a restart: its
// previous attempt may or may not have had its effect, so look before
// acting.
func (r *Run) Resumed() bool { return r.resumed }

// Input decodes the input given to Submit into v.
func (r *Run) Input(v any) error {
	if err := json.Unmarshal([]byte(r.op.Input), v); err != nil {
		return fmt.Errorf("decode operation input: %w", err)
	}
	return nil
}

// Logf records a log line as an event of the operation (and logs it).
func (r *Run) Logf(format string, args ...any) {
	r.logEvent("", format, args...)
}

// LogDetail is Logf with structured data for clients (e.g. an image
// pull's byte counts), stored with the event as JSON. detail must hold no
// secret.
func (r *Run) LogDetail(detail any, format string, args ...any) {
	raw, err := json.Marshal(detail)
	if err != nil {
		r.log.Error("encode event detail", "err", err)
		raw = nil
	}
	r.logEvent(string(raw), format, args...)
}

func (r *Run) logEvent(detail, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	r.log.Info(sanitize(msg))
	if !r.live.Load() {
		return
	}
	err := r.e.write(func(ctx context.Context, t *tx) error {
		return t.event(ctx, Event{OperationID: r.op.ID, Step: r.step, Status: string(r.status()), Progress: r.progress(), Message: msg, Detail: detail})
	})
	if err != nil && !errors.Is(err, errAbandoned) {
		r.log.Error("journal log line", "err", err)
	}
}

// Set stores v (JSON-encoded) under key in the operation's durable state,
// committed before it returns: record an external id right after creating
// the resource so a resumed or compensating step can find it.
func (r *Run) Set(key string, v any) error {
	if !r.live.Load() {
		return errStaleRun
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode state %s: %w", key, err)
	}
	r.state.mu.Lock()
	defer r.state.mu.Unlock()
	next := make(map[string]json.RawMessage, len(r.state.values)+1)
	for k, v := range r.state.values {
		next[k] = v
	}
	next[key] = raw
	doc, err := json.Marshal(next)
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	err = r.e.write(func(ctx context.Context, t *tx) error {
		_, err := t.ExecContext(ctx, `UPDATE operations SET state = ? WHERE id = ?`, string(doc), r.op.ID)
		return err
	})
	if err != nil {
		return fmt.Errorf("journal state %s: %w", key, err)
	}
	r.state.values = next
	return nil
}

// Get decodes the value stored under key into v; false when absent.
func (r *Run) Get(key string, v any) (bool, error) {
	r.state.mu.Lock()
	raw, ok := r.state.values[key]
	r.state.mu.Unlock()
	if !ok {
		return false, nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return true, fmt.Errorf("decode state %s: %w", key, err)
	}
	return true, nil
}
