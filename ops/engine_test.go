package ops

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/appmanage/appmanage/apperr"
)

func TestSuccessPathProgressAndState(t *testing.T) {
	w := newWorld()
	steps := fourSteps(w)
	for i := range steps {
		steps[i].Weight = i + 1 // 1+2+3+4 = 10
	}
	type input struct{ Version string }
	steps[0].Do = func(ctx context.Context, r *Run) error {
		var in input
		if err := r.Input(&in); err != nil {
			return err
		}
		w.create(r.AppID() + "/repo")
		r.Logf("creating repo for version %s", in.Version)
		return r.Set("repo_id", 42)
	}
	steps[1].Do = func(ctx context.Context, r *Run) error {
		var id int
		ok, err := r.Get("repo_id", &id)
		if err != nil || !ok || id != 42 {
			return fmt.Errorf("repo_id = %d, %v, %v", id, ok, err)
		}
		w.create(r.AppID() + "/stack")
		return nil
	}
	e := newEngine(t, openDB(t), testOptions(), Workflow{Kind: "install", Steps: steps})
	op, err := e.Submit(context.Background(), SubmitRequest{Kind: "install", AppID: "wp", Input: input{Version: "6.4"}})
	if err != nil {
		t.Fatal(err)
	}
	if op.Status != StatusQueued || len(op.Steps) != 4 || op.Steps[0].Status != StepPending {
		t.Fatalf("submitted op = %+v", op)
	}
	ch, err := e.Subscribe(context.Background(), op.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	evs := collect(t, ch)
	checkSeq(t, evs, 1)

	prev := 0
	var progressAfterStep []int
	for _, ev := range evs {
		if ev.Progress < prev {
			t.Fatalf("progress went down %d -> %d at seq %d", prev, ev.Progress, ev.Seq)
		}
		prev = ev.Progress
		if ev.Status == string(StepSucceeded) && ev.Step != "" {
			progressAfterStep = append(progressAfterStep, ev.Progress)
		}
	}
	if want := []int{10, 30, 60, 100}; !slices.Equal(progressAfterStep, want) {
		t.Fatalf("progress after each step = %v, want %v (weighted)", progressAfterStep, want)
	}
	last := evs[len(evs)-1]
	if last.Status != string(StatusSucceeded) || last.Progress != 100 {
		t.Fatalf("terminal event = %+v", last)
	}
	if !slices.ContainsFunc(evs, func(ev Event) bool { return ev.Step == "repo" && ev.Message == "creating repo for version 6.4" }) {
		t.Fatal("log line missing from events")
	}

	got, err := e.Get(context.Background(), op.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != StatusSucceeded || got.Progress != 100 || got.Error != "" || got.StartedAt == nil || got.FinishedAt == nil {
		t.Fatalf("final op = %+v", got)
	}
	for _, s := range got.Steps {
		if s.Status != StepSucceeded || s.Attempts != 1 || s.StartedAt == nil || s.FinishedAt == nil {
			t.Fatalf("step = %+v", s)
		}
	}
	if want := []string{"wp/proxy", "wp/repo", "wp/stack", "wp/verify"}; !slices.Equal(w.names(), want) {
		t.Fatalf("world = %v", w.names())
	}
	// A finished app accepts a new operation.
	next := submit(t, e, "install", "wp")
	if waitOp(t, e, next.ID).Status != StatusSucceeded {
		t.Fatal("second operation did not succeed")
	}
}

func TestFailureAtEachStepRollsBackInReverse(t *testing.T) {
	names := []string{"repo", "stack", "proxy", "verify"}
	for k, failing := range names {
		t.Run(failing, func(t *testing.T) {
			w := newWorld()
			steps := fourSteps(w)
			steps[k].Do = func(ctx context.Context, r *Run) error { return fmt.Errorf("create %s: %w", failing, errBoom) }
			e := newEngine(t, openDB(t), testOptions(), Workflow{Kind: "install", Steps: steps})
			op := waitOp(t, e, submit(t, e, "install", "app").ID)

			if op.Status != StatusRolledBack {
				t.Fatalf("status = %s (%s)", op.Status, op.Error)
			}
			if want := failing + ": create " + failing + ": boom"; op.Error != want {
				t.Fatalf("error = %q, want %q", op.Error, want)
			}
			if op.Progress != 100 {
				t.Fatalf("terminal progress = %d", op.Progress)
			}
			var want []StepStatus
			var wantUndos []string
			for i := range names {
				switch {
				case i < k:
					want = append(want, StepUndone)
				case i == k:
					want = append(want, StepFailed)
				default:
					want = append(want, StepSkipped)
				}
			}
			for i := k - 1; i >= 0; i-- {
				wantUndos = append(wantUndos, "app/"+names[i])
			}
			if got := stepStatuses(op); !slices.Equal(got, want) {
				t.Fatalf("steps = %v, want %v", got, want)
			}
			if stepByName(op, failing).Error != "create "+failing+": boom" {
				t.Fatalf("failed step error = %q", stepByName(op, failing).Error)
			}
			if got := w.undos(); !slices.Equal(got, wantUndos) {
				t.Fatalf("undo order = %v, want %v", got, wantUndos)
			}
			if len(w.names()) != 0 {
				t.Fatalf("resources left: %v", w.names())
			}
			evs, _ := e.Events(context.Background(), op.ID, 0)
			if !slices.ContainsFunc(evs, func(ev Event) bool { return ev.Status == string(StatusRollingBack) }) {
				t.Fatal("no ROLLING_BACK event")
			}
		})
	}
}

func TestUndoFailureKeepsOriginalErrorFirst(t *testing.T) {
	w := newWorld()
	steps := fourSteps(w)
	var undoCalls atomic.Int32
	steps[0].Undo = func(ctx context.Context, r *Run) error {
		undoCalls.Add(1)
		return errors.New("gitea said 500")
	}
	steps[2].Do = func(ctx context.Context, r *Run) error { return errBoom }
	e := newEngine(t, openDB(t), testOptions(), Workflow{Kind: "install", Steps: steps})
	op := waitOp(t, e, submit(t, e, "install", "app").ID)

	if op.Status != StatusFailed {
		t.Fatalf("status = %s", op.Status)
	}
	if want := "proxy: boom; undo of repo failed: gitea said 500"; op.Error != want {
		t.Fatalf("error = %q, want %q", op.Error, want)
	}
	if got := undoCalls.Load(); got != 3 {
		t.Fatalf("undo attempts = %d, want UndoAttempts=3", got)
	}
	if got := stepStatuses(op); !slices.Equal(got, []StepStatus{StepUndoFailed, StepUndone, StepFailed, StepSkipped}) {
		t.Fatalf("steps = %v", got)
	}
	if w.has("app/stack") || !w.has("app/repo") {
		t.Fatalf("world = %v: stack must be undone even though repo's undo failed", w.names())
	}
}

func TestUndoRetriedThenSucceeds(t *testing.T) {
	w := newWorld()
	steps := fourSteps(w)
	var calls atomic.Int32
	steps[1].Undo = func(ctx context.Context, r *Run) error {
		if calls.Add(1) < 3 {
			return errors.New("portainer busy")
		}
		w.remove(r.AppID() + "/stack")
		return nil
	}
	steps[3].Do = func(ctx context.Context, r *Run) error { return errBoom }
	e := newEngine(t, openDB(t), testOptions(), Workflow{Kind: "install", Steps: steps})
	op := waitOp(t, e, submit(t, e, "install", "app").ID)
	if op.Status != StatusRolledBack || op.Error != "verify: boom" {
		t.Fatalf("op = %s %q", op.Status, op.Error)
	}
	if calls.Load() != 3 || len(w.names()) != 0 {
		t.Fatalf("undo calls = %d, world = %v", calls.Load(), w.names())
	}
	evs, _ := e.Events(context.Background(), op.ID, 0)
	retries := 0
	for _, ev := range evs {
		if strings.HasPrefix(ev.Message, "undo attempt") {
			retries++
		}
	}
	if retries != 2 {
		t.Fatalf("undo retry events = %d, want 2", retries)
	}
}

func TestStepTimeout(t *testing.T) {
	t.Run("honours context", func(t *testing.T) {
		w := newWorld()
		steps := fourSteps(w)
		steps[1].Timeout = 50 * time.Millisecond
		steps[1].Do = func(ctx context.Context, r *Run) error { <-ctx.Done(); return ctx.Err() }
		e := newEngine(t, openDB(t), testOptions(), Workflow{Kind: "install", Steps: steps})
		op := waitOp(t, e, submit(t, e, "install", "app").ID)
		if op.Status != StatusRolledBack || op.Error != "stack: timed out after 50ms" {
			t.Fatalf("op = %s %q", op.Status, op.Error)
		}
		if len(w.names()) != 0 {
			t.Fatalf("world = %v", w.names())
		}
	})
	t.Run("ignores context", func(t *testing.T) {
		w := newWorld()
		steps := fourSteps(w)
		release := make(chan struct{})
		defer close(release)
		steps[1].Timeout = 20 * time.Millisecond
		steps[1].Do = func(ctx context.Context, r *Run) error { <-release; return nil }
		opts := testOptions()
		opts.StepGrace = 50 * time.Millisecond
		e := newEngine(t, openDB(t), opts, Workflow{Kind: "install", Steps: steps})
		start := time.Now()
		op := waitOp(t, e, submit(t, e, "install", "app").ID)
		if op.Status != StatusRolledBack || !strings.Contains(op.Error, "timed out after 20ms") {
			t.Fatalf("op = %s %q", op.Status, op.Error)
		}
		if time.Since(start) > 5*time.Second {
			t.Fatal("runner waited for a hung step")
		}
	})
	t.Run("timeout retried", func(t *testing.T) {
		w := newWorld()
		steps := fourSteps(w)
		var calls atomic.Int32
		steps[1].Timeout = 30 * time.Millisecond
		steps[1].Retries = 2
		steps[1].Do = func(ctx context.Context, r *Run) error {
			if calls.Add(1) == 1 {
				<-ctx.Done()
				return ctx.Err()
			}
			w.create(r.AppID() + "/stack")
			return nil
		}
		e := newEngine(t, openDB(t), testOptions(), Workflow{Kind: "install", Steps: steps})
		op := waitOp(t, e, submit(t, e, "install", "app").ID)
		if op.Status != StatusSucceeded || stepByName(op, "stack").Attempts != 2 {
			t.Fatalf("op = %s %q attempts=%d", op.Status, op.Error, stepByName(op, "stack").Attempts)
		}
	})
}

func TestRetryable(t *testing.T) {
	cases := []struct {
		name         string
		err          func(n int32) error // error for attempt n, nil = success
		retries      int
		wantStatus   Status
		wantAttempts int
	}{
		{"transient then ok", func(n int32) error {
			if n < 3 {
				return Retryable(errors.New("502"))
			}
			return nil
		}, 2, StatusSucceeded, 3},
		{"transient exhausts retries", func(int32) error { return Retryable(errors.New("502")) }, 2, StatusRolledBack, 3},
		{"plain error not retried", func(int32) error { return errors.New("400 bad request") }, 5, StatusRolledBack, 1},
		{"no retries by default", func(int32) error { return Retryable(errors.New("502")) }, 0, StatusRolledBack, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld()
			steps := fourSteps(w)
			var n atomic.Int32
			steps[1].Retries = tc.retries
			steps[1].Do = func(ctx context.Context, r *Run) error { return tc.err(n.Add(1)) }
			e := newEngine(t, openDB(t), testOptions(), Workflow{Kind: "install", Steps: steps})
			op := waitOp(t, e, submit(t, e, "install", "app").ID)
			if op.Status != tc.wantStatus || stepByName(op, "stack").Attempts != tc.wantAttempts {
				t.Fatalf("status %s attempts %d, want %s %d (%s)", op.Status, stepByName(op, "stack").Attempts, tc.wantStatus, tc.wantAttempts, op.Error)
			}
		})
	}
}

func TestOverallDeadline(t *testing.T) {
	w := newWorld()
	steps := fourSteps(w)
	steps[2].Do = func(ctx context.Context, r *Run) error { <-ctx.Done(); return ctx.Err() }
	e := newEngine(t, openDB(t), testOptions(), Workflow{Kind: "install", Steps: steps, Deadline: 100 * time.Millisecond})
	op := waitOp(t, e, submit(t, e, "install", "app").ID)
	if op.Status != StatusRolledBack || op.Error != "operation deadline of 100ms exceeded during step proxy" {
		t.Fatalf("op = %s %q", op.Status, op.Error)
	}
	if len(w.names()) != 0 {
		t.Fatalf("world = %v", w.names())
	}
}

func TestPanicInStepIsRecovered(t *testing.T) {
	w := newWorld()
	steps := fourSteps(w)
	steps[1].Do = func(ctx context.Context, r *Run) error { panic("nil map write") }
	e := newEngine(t, openDB(t), testOptions(), Workflow{Kind: "install", Steps: steps})
	op := waitOp(t, e, submit(t, e, "install", "app").ID)
	if op.Status != StatusRolledBack || op.Error != "stack: panic: nil map write" {
		t.Fatalf("op = %s %q", op.Status, op.Error)
	}
	// The worker survived.
	steps2 := submit(t, e, "install", "other")
	if waitOp(t, e, steps2.ID).Status != StatusRolledBack {
		t.Fatal("engine broken after panic")
	}
}

func TestUndoOnFailure(t *testing.T) {
	w := newWorld()
	steps := fourSteps(w)
	// The upstream created the stack, then the client gave up.
	steps[1].Do = func(ctx context.Context, r *Run) error {
		w.create(r.AppID() + "/stack")
		return errors.New("read response: EOF")
	}
	steps[1].UndoOnFailure = true
	e := newEngine(t, openDB(t), testOptions(), Workflow{Kind: "install", Steps: steps})
	op := waitOp(t, e, submit(t, e, "install", "app").ID)
	if op.Status != StatusRolledBack || len(w.names()) != 0 {
		t.Fatalf("op = %s, world = %v", op.Status, w.names())
	}
	if got := w.undos(); !slices.Equal(got, []string{"app/stack", "app/repo"}) {
		t.Fatalf("undo order = %v", got)
	}
	if s := stepByName(op, "stack"); s.Status != StepUndone || s.Error != "read response: EOF" {
		t.Fatalf("stack step = %+v", s)
	}
}

func TestCancelQueued(t *testing.T) {
	w := newWorld()
	reached := make(chan struct{})
	steps := fourSteps(w)
	steps[0].Do = func(ctx context.Context, r *Run) error {
		if r.AppID() == "first" {
			return blockUntilCancelled(reached)(ctx, r)
		}
		w.create(r.AppID() + "/repo")
		return nil
	}
	opts := testOptions()
	opts.Workers = 1
	e := newEngine(t, openDB(t), opts, Workflow{Kind: "install", Steps: steps})
	first := submit(t, e, "install", "first")
	<-reached
	second := submit(t, e, "install", "second")
	got, err := e.Cancel(context.Background(), second.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != StatusCancelled || got.FinishedAt == nil || got.Progress != 100 {
		t.Fatalf("cancelled op = %+v", got)
	}
	if !slices.Equal(stepStatuses(got), []StepStatus{StepSkipped, StepSkipped, StepSkipped, StepSkipped}) {
		t.Fatalf("steps = %v", stepStatuses(got))
	}
	if _, err := e.Cancel(context.Background(), second.ID); apperr.CodeOf(err) != apperr.PreconditionFailed {
		t.Fatalf("cancel terminal: %v", err)
	}
	if _, err := e.Cancel(context.Background(), first.ID); err != nil {
		t.Fatal(err)
	}
	if st := waitOp(t, e, first.ID).Status; st != StatusCancelled {
		t.Fatalf("first = %s", st)
	}
	// The worker is free again; the cancelled op never ran.
	third := submit(t, e, "install", "third")
	waitOp(t, e, third.ID)
	if w.has("second/repo") {
		t.Fatal("cancelled queued operation ran")
	}
}

func TestCancelRunningUndoes(t *testing.T) {
	w := newWorld()
	reached := make(chan struct{})
	steps := fourSteps(w)
	steps[2].Do = blockUntilCancelled(reached)
	e := newEngine(t, openDB(t), testOptions(), Workflow{Kind: "install", Steps: steps})
	op := submit(t, e, "install", "app")
	<-reached
	got, err := e.Cancel(context.Background(), op.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status.Terminal() {
		t.Fatalf("cancel returned a finished op before rollback: %s", got.Status)
	}
	final := waitOp(t, e, op.ID)
	if final.Status != StatusCancelled || final.Error != "cancelled by request" {
		t.Fatalf("op = %s %q", final.Status, final.Error)
	}
	if !slices.Equal(stepStatuses(final), []StepStatus{StepUndone, StepUndone, StepFailed, StepSkipped}) {
		t.Fatalf("steps = %v", stepStatuses(final))
	}
	if got := w.undos(); !slices.Equal(got, []string{"app/stack", "app/repo"}) || len(w.names()) != 0 {
		t.Fatalf("undos = %v, world = %v", got, w.names())
	}
	if _, err := e.Cancel(context.Background(), op.ID); apperr.CodeOf(err) != apperr.PreconditionFailed {
		t.Fatalf("cancel again: %v", err)
	}
	if _, err := e.Cancel(context.Background(), "nope"); apperr.CodeOf(err) != apperr.NotFound {
		t.Fatalf("cancel missing: %v", err)
	}
}

func uninstallSteps(w *world) []Step {
	del := func(name string) Step {
		return Step{Name: "delete-" + name, Do: func(ctx context.Context, r *Run) error {
			w.remove(r.AppID() + "/" + name)
			return nil
		}}
	}
	return []Step{del("repo"), del("proxy"), del("stack")}
}

func TestRollForwardRetriesUntilDone(t *testing.T) {
	w := newWorld()
	for _, n := range []string{"repo", "proxy", "stack"} {
		w.create("app/" + n)
	}
	steps := uninstallSteps(w)
	var calls atomic.Int32
	inner := steps[1].Do
	steps[1].Do = func(ctx context.Context, r *Run) error {
		if calls.Add(1) <= 4 {
			return errors.New("npm unreachable") // not even marked retryable
		}
		return inner(ctx, r)
	}
	e := newEngine(t, openDB(t), testOptions(), Workflow{Kind: "uninstall", Steps: steps, RollForward: true})
	op := waitOp(t, e, submit(t, e, "uninstall", "app").ID)
	if op.Status != StatusSucceeded || stepByName(op, "delete-proxy").Attempts != 5 {
		t.Fatalf("op = %s %q attempts=%d", op.Status, op.Error, stepByName(op, "delete-proxy").Attempts)
	}
	if len(w.names()) != 0 || len(w.undos()) != 3 {
		t.Fatalf("world = %v, calls = %v", w.names(), w.journal)
	}
}

func TestRollForwardDeadlineFailsWithoutUndo(t *testing.T) {
	w := newWorld()
	for _, n := range []string{"repo", "proxy", "stack"} {
		w.create("app/" + n)
	}
	steps := uninstallSteps(w)
	steps[0].Undo = func(ctx context.Context, r *Run) error {
		t.Error("roll-forward workflow ran an undo")
		return nil
	}
	steps[1].Do = func(ctx context.Context, r *Run) error { return errors.New("npm unreachable") }
	e := newEngine(t, openDB(t), testOptions(), Workflow{Kind: "uninstall", Steps: steps, RollForward: true, Deadline: 150 * time.Millisecond})
	op := waitOp(t, e, submit(t, e, "uninstall", "app").ID)
	if op.Status != StatusFailed {
		t.Fatalf("status = %s", op.Status)
	}
	if !strings.HasPrefix(op.Error, "operation deadline of 150ms exceeded during step delete-proxy (last error: npm unreachable)") {
		t.Fatalf("error = %q", op.Error)
	}
	if !slices.Equal(stepStatuses(op), []StepStatus{StepSucceeded, StepFailed, StepSkipped}) {
		t.Fatalf("steps = %v", stepStatuses(op))
	}
	if stepByName(op, "delete-proxy").Attempts < 2 {
		t.Fatal("failing step was not retried")
	}
}

func TestRollForwardCancel(t *testing.T) {
	w := newWorld()
	steps := uninstallSteps(w)
	reached := make(chan struct{})
	var once sync.Once
	steps[1].Do = func(ctx context.Context, r *Run) error {
		once.Do(func() { close(reached) })
		return errors.New("npm unreachable")
	}
	e := newEngine(t, openDB(t), testOptions(), Workflow{Kind: "uninstall", Steps: steps, RollForward: true})
	op := submit(t, e, "uninstall", "app")
	<-reached
	if _, err := e.Cancel(context.Background(), op.ID); err != nil {
		t.Fatal(err)
	}
	final := waitOp(t, e, op.ID)
	if final.Status != StatusCancelled || !strings.Contains(final.Error, "nothing was undone") {
		t.Fatalf("op = %s %q", final.Status, final.Error)
	}
}

func TestConcurrentSubmitsSameApp(t *testing.T) {
	w := newWorld()
	release := make(chan struct{})
	steps := fourSteps(w)
	steps[0].Do = func(ctx context.Context, r *Run) error { <-release; return nil }
	// Both kinds hold the app until every submit is in.
	un := uninstallSteps(w)
	un[0].Do = steps[0].Do
	e := newEngine(t, openDB(t), testOptions(), Workflow{Kind: "install", Steps: steps}, Workflow{Kind: "uninstall", Steps: un, RollForward: true})

	var wg sync.WaitGroup
	var ok, conflict atomic.Int32
	var okID atomic.Value
	for i := range 20 {
		wg.Go(func() {
			kind := []string{"install", "uninstall"}[i%2]
			op, err := e.Submit(context.Background(), SubmitRequest{Kind: kind, AppID: "same"})
			switch {
			case err == nil:
				ok.Add(1)
				okID.Store(op.ID)
			case apperr.CodeOf(err) == apperr.Conflict:
				if !strings.Contains(err.Error(), "is already running for app same") {
					t.Errorf("conflict message = %q", err)
				}
				conflict.Add(1)
			default:
				t.Errorf("submit: %v", err)
			}
		})
	}
	wg.Wait()
	close(release)
	if ok.Load() != 1 || conflict.Load() != 19 {
		t.Fatalf("ok = %d, conflict = %d", ok.Load(), conflict.Load())
	}
	waitOp(t, e, okID.Load().(string))
	ops, err := e.List(context.Background(), ListFilter{AppID: "same"})
	if err != nil || len(ops) != 1 {
		t.Fatalf("list = %d ops, %v", len(ops), err)
	}
}

func TestReservations(t *testing.T) {
	w := newWorld()
	release := make(chan struct{})
	steps := fourSteps(w)
	steps[0].Do = func(ctx context.Context, r *Run) error {
		if r.AppID() == "holder" {
			<-release
		}
		return nil
	}
	e := newEngine(t, openDB(t), testOptions(), Workflow{Kind: "install", Steps: steps})
	ctx := context.Background()
	holder, err := e.Submit(ctx, SubmitRequest{Kind: "install", AppID: "holder", Reservations: []string{"port:1:9001", "domain:a.example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.Submit(ctx, SubmitRequest{Kind: "install", AppID: "other", Reservations: []string{"port:1:8080", "domain:a.example.com"}})
	if apperr.CodeOf(err) != apperr.PreconditionFailed {
		t.Fatalf("conflicting reservation: %v", err)
	}
	var re *ReservationError
	if !errors.As(err, &re) || re.Resource != "domain:a.example.com" || re.OperationID != holder.ID || re.AppID != "holder" {
		t.Fatalf("reservation error = %#v", re)
	}
	if !strings.Contains(err.Error(), "domain:a.example.com") || !strings.Contains(err.Error(), holder.ID) {
		t.Fatalf("message does not name the reservation and holder: %q", err)
	}
	// The refused submit reserved nothing: its other port is free.
	free, err := e.Submit(ctx, SubmitRequest{Kind: "install", AppID: "third", Reservations: []string{"port:1:8080"}})
	if err != nil {
		t.Fatalf("non-conflicting reservation: %v", err)
	}
	waitOp(t, e, free.ID)

	close(release)
	if waitOp(t, e, holder.ID).Status != StatusSucceeded {
		t.Fatal("holder failed")
	}
	// Released at the terminal state.
	again, err := e.Submit(ctx, SubmitRequest{Kind: "install", AppID: "other", Reservations: []string{"port:1:9001", "domain:a.example.com"}})
	if err != nil {
		t.Fatalf("reservation not released: %v", err)
	}
	waitOp(t, e, again.ID)
}

func TestIdempotencyKey(t *testing.T) {
	w := newWorld()
	e := newEngine(t, openDB(t), testOptions(), Workflow{Kind: "install", Steps: fourSteps(w)}, Workflow{Kind: "uninstall", Steps: uninstallSteps(w), RollForward: true})
	ctx := context.Background()
	req := SubmitRequest{Kind: "install", AppID: "app", IdempotencyKey: "k-1"}
	a, err := e.Submit(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.Submit(ctx, req) // while active: same op, not CONFLICT
	if err != nil || b.ID != a.ID {
		t.Fatalf("retry while active = %v, %v", b, err)
	}
	waitOp(t, e, a.ID)
	c, err := e.Submit(ctx, req) // after it finished: still the same op
	if err != nil || c.ID != a.ID || c.Status != StatusSucceeded {
		t.Fatalf("retry after finish = %+v, %v", c, err)
	}
	if _, err := e.Submit(ctx, SubmitRequest{Kind: "uninstall", AppID: "app", IdempotencyKey: "k-1"}); apperr.CodeOf(err) != apperr.Conflict {
		t.Fatalf("key reused for another kind: %v", err)
	}
	ops, _ := e.List(ctx, ListFilter{AppID: "app"})
	if len(ops) != 1 {
		t.Fatalf("%d operations for one key", len(ops))
	}
	if got, err := e.ByIdempotencyKey(ctx, "k-1"); err != nil || got.ID != a.ID {
		t.Fatalf("ByIdempotencyKey = %+v, %v; want %s", got, err, a.ID)
	}
	if _, err := e.ByIdempotencyKey(ctx, "k-unknown"); apperr.CodeOf(err) != apperr.NotFound {
		t.Fatalf("ByIdempotencyKey(unknown) = %v, want NOT_FOUND", err)
	}
}

func TestSubmitValidation(t *testing.T) {
	e := newEngine(t, openDB(t), testOptions(), Workflow{Kind: "install", Steps: fourSteps(newWorld())})
	if _, err := e.Submit(context.Background(), SubmitRequest{Kind: "nope", AppID: "a"}); !errors.Is(err, ErrUnknownKind) {
		t.Fatalf("unknown kind: %v", err)
	}
	if _, err := e.Get(context.Background(), "missing"); apperr.CodeOf(err) != apperr.NotFound {
		t.Fatalf("get missing: %v", err)
	}
	if _, err := e.Subscribe(context.Background(), "missing", 0); apperr.CodeOf(err) != apperr.NotFound {
		t.Fatalf("subscribe missing: %v", err)
	}
}

func TestSecretsStrippedFromErrors(t *testing.T) {
	w := newWorld()
	steps := fourSteps(w)
	steps[1].Do = func(ctx context.Context, r *Run) error {
		r.Logf("cloning http://deploy:s3cret@gitea:3000/app.git")
		return errors.New(`Post "https://admin:hunter2@portainer.local/api/stacks": connection refused`)
	}
	e := newEngine(t, openDB(t), testOptions(), Workflow{Kind: "install", Steps: steps})
	op := waitOp(t, e, submit(t, e, "install", "app").ID)
	evs, _ := e.Events(context.Background(), op.ID, 0)
	all := op.Error + stepByName(op, "stack").Error
	for _, ev := range evs {
		all += ev.Message
	}
	for _, secret := range []string{"hunter2", "s3cret", "admin:", "deploy:"} {
		if strings.Contains(all, secret) {
			t.Fatalf("secret %q leaked: %s", secret, all)
		}
	}
	if !strings.Contains(op.Error, "https://***@portainer.local/api/stacks") {
		t.Fatalf("error = %q", op.Error)
	}
}

func TestListLatestAndForget(t *testing.T) {
	w := newWorld()
	steps := fourSteps(w)
	steps[3].Do = func(ctx context.Context, r *Run) error {
		if r.AppID() == "bad" {
			return errBoom
		}
		return nil
	}
	e := newEngine(t, openDB(t), testOptions(), Workflow{Kind: "install", Steps: steps})
	ctx := context.Background()
	a1 := waitOp(t, e, submit(t, e, "install", "a").ID)
	a2 := waitOp(t, e, submit(t, e, "install", "a").ID)
	bad := waitOp(t, e, submit(t, e, "install", "bad").ID)

	all, err := e.List(ctx, ListFilter{})
	if err != nil || len(all) != 3 || all[0].ID != bad.ID || all[2].ID != a1.ID {
		t.Fatalf("list newest first = %v, %v", ids(all), err)
	}
	if len(all[0].Steps) != 4 {
		t.Fatal("list without steps")
	}
	rb, _ := e.List(ctx, ListFilter{Statuses: []Status{StatusRolledBack, StatusFailed}})
	if len(rb) != 1 || rb[0].ID != bad.ID {
		t.Fatalf("status filter = %v", ids(rb))
	}
	if lim, _ := e.List(ctx, ListFilter{Kind: "install", Limit: 2}); len(lim) != 2 {
		t.Fatalf("limit = %d", len(lim))
	}

	latest, err := e.LatestByApp(ctx, []string{"a", "bad", "none"})
	if err != nil || len(latest) != 2 || latest["a"].ID != a2.ID || latest["bad"].Status != StatusRolledBack || len(latest["a"].Steps) != 4 {
		t.Fatalf("latest = %v, %v", latest, err)
	}

	if err := e.Forget(ctx, bad.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Get(ctx, bad.ID); apperr.CodeOf(err) != apperr.NotFound {
		t.Fatalf("forgotten op still there: %v", err)
	}
	if evs, _ := e.Events(ctx, bad.ID, 0); len(evs) != 0 {
		t.Fatal("events of forgotten op left")
	}
	var n int
	if err := e.db.R.GetContext(ctx, &n, `SELECT COUNT(*) FROM operation_steps WHERE operation_id = ?`, bad.ID); err != nil || n != 0 {
		t.Fatalf("steps of forgotten op: %d, %v", n, err)
	}
}

func TestForgetActiveRefused(t *testing.T) {
	release := make(chan struct{})
	steps := fourSteps(newWorld())
	steps[0].Do = func(ctx context.Context, r *Run) error { <-release; return nil }
	e := newEngine(t, openDB(t), testOptions(), Workflow{Kind: "install", Steps: steps})
	op := submit(t, e, "install", "a")
	if err := e.Forget(context.Background(), op.ID); apperr.CodeOf(err) != apperr.PreconditionFailed {
		t.Fatalf("forget active: %v", err)
	}
	close(release)
	waitOp(t, e, op.ID)
}

func TestQueueOverflowKeepsOperations(t *testing.T) {
	w := newWorld()
	opts := testOptions()
	opts.Workers = 1
	opts.QueueSize = 1
	e := newEngine(t, openDB(t), opts, Workflow{Kind: "install", Steps: fourSteps(w)})
	var subs []*Operation
	for i := range 10 {
		subs = append(subs, submit(t, e, "install", fmt.Sprintf("app%d", i)))
	}
	for _, op := range subs {
		if st := waitOp(t, e, op.ID).Status; st != StatusSucceeded {
			t.Fatalf("%s = %s", op.AppID, st)
		}
	}
}

func ids(ops []Operation) []string {
	out := make([]string, len(ops))
	for i, o := range ops {
		out[i] = o.AppID + ":" + string(o.Status)
	}
	return out
}
