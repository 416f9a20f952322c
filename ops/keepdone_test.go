package ops

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
)

// A KeepDone workflow retries a failing step only as Step.Retries says,
// then ends FAILED with the steps done kept: no undo runs.
func TestKeepDoneFailsWithoutUndo(t *testing.T) {
	w := newWorld()
	steps := fourSteps(w)
	for i := range steps {
		steps[i].Undo = func(ctx context.Context, r *Run) error {
			t.Errorf("a KeepDone workflow ran the undo of %s", steps[i].Name)
			return nil
		}
	}
	attempts := 0
	steps[2].Retries = 1
	steps[2].Do = func(ctx context.Context, r *Run) error {
		attempts++
		return Retryable(errors.New("nginx refuses"))
	}
	e := newEngine(t, openDB(t), testOptions(), Workflow{Kind: "repair", Steps: steps, KeepDone: true})
	op := waitOp(t, e, submit(t, e, "repair", "app").ID)
	if op.Status != StatusFailed || !strings.Contains(op.Error, "proxy: nginx refuses") || !strings.Contains(op.Error, "nothing was undone") {
		t.Fatalf("op = %s %q", op.Status, op.Error)
	}
	if attempts != 2 {
		t.Errorf("%d attempts, want 2 (Retries 1)", attempts)
	}
	if !slices.Equal(stepStatuses(op), []StepStatus{StepSucceeded, StepSucceeded, StepFailed, StepSkipped}) {
		t.Fatalf("steps = %v", stepStatuses(op))
	}
	if !w.has("app/repo") || !w.has("app/stack") {
		t.Fatalf("done steps were undone: %v", w.names())
	}
}
