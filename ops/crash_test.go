package ops

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// crashScript makes one step of an install block (before or after its side
// effect) so the test can Abandon the engine there, like kill -9.
type crashScript struct {
	w        *world
	blockAt  string // step whose Do blocks; "" for none
	undoAt   string // step whose Undo blocks; "" for none
	failAt   string // step whose Do fails (to force a rollback)
	after    bool   // block after the side effect instead of before
	reached  chan struct{}
	released bool
}

func (c *crashScript) workflow() Workflow {
	names := []string{"repo", "stack", "proxy", "verify"}
	steps := make([]Step, len(names))
	for i, name := range names {
		res := func(r *Run) string { return r.AppID() + "/" + name }
		steps[i] = Step{
			Name: name,
			Do: func(ctx context.Context, r *Run) error {
				if r.Resumed() {
					c.w.noteResumed(name)
				}
				if name == c.failAt {
					return errBoom
				}
				// A journalled external id from an earlier step must survive the crash.
				if i > 0 {
					var prev string
					if ok, err := r.Get(names[i-1]+"_id", &prev); err != nil || !ok || prev != "id-"+names[i-1] {
						return fmt.Errorf("journal lost %s_id: %q %v %v", names[i-1], prev, ok, err)
					}
				}
				block := name == c.blockAt && !c.released
				if block && !c.after {
					close(c.reached)
					<-ctx.Done()
					return ctx.Err()
				}
				c.w.create(res(r)) // idempotent: looks up by name first
				if block {
					close(c.reached)
					<-ctx.Done()
					return ctx.Err()
				}
				return r.Set(name+"_id", "id-"+name)
			},
			Undo: func(ctx context.Context, r *Run) error {
				block := name == c.undoAt && !c.released
				if block && !c.after {
					close(c.reached)
					<-ctx.Done()
					return ctx.Err()
				}
				c.w.remove(res(r))
				if block {
					close(c.reached)
					<-ctx.Done()
					return ctx.Err()
				}
				return nil
			},
		}
	}
	return Workflow{Kind: "install", Steps: steps}
}

// crashAndResume runs script in engine 1 until it blocks, abandons it,
// checks the journal was left as the crash found it, then resumes the
// operation in engine 2 on a fresh connection to the same file.
func crashAndResume(t *testing.T, c *crashScript, journalWant func(op *Operation)) *Operation {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ops.db")
	e1 := New(openDBAt(t, path), testOptions())
	e1.Register(c.workflow())
	if err := e1.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	op := submit(t, e1, "install", "app")
	select {
	case <-c.reached:
	case <-time.After(10 * time.Second):
		t.Fatal("step never reached")
	}
	e1.Abandon()

	db2 := openDBAt(t, path)
	c.released = true // the "restarted" process has no breakpoints
	probe := New(db2, testOptions())
	crashed, err := probe.Get(context.Background(), op.ID)
	if err != nil {
		t.Fatal(err)
	}
	journalWant(crashed)
	// Nothing more reaches the journal from the abandoned engine.
	time.Sleep(20 * time.Millisecond)
	if again, _ := probe.Get(context.Background(), op.ID); !slices.Equal(stepStatuses(again), stepStatuses(crashed)) || again.Status != crashed.Status {
		t.Fatalf("abandoned engine kept writing: %v -> %v", stepStatuses(crashed), stepStatuses(again))
	}

	e2 := newEngine(t, db2, testOptions(), c.workflow())
	final := waitOp(t, e2, op.ID)
	evs, _ := e2.Events(context.Background(), op.ID, 0)
	if !slices.ContainsFunc(evs, func(ev Event) bool { return ev.Message == "resumed after restart" }) {
		t.Fatal(`no "resumed after restart" event`)
	}
	checkSeq(t, evs, 1)
	return final
}

func TestCrashResumeForward(t *testing.T) {
	names := []string{"repo", "stack", "proxy", "verify"}
	for k, name := range names {
		for _, after := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/after_effect=%v", name, after), func(t *testing.T) {
				w := newWorld()
				c := &crashScript{w: w, blockAt: name, after: after, reached: make(chan struct{})}
				final := crashAndResume(t, c, func(op *Operation) {
					if op.Status != StatusRunning || op.Steps[k].Status != StepRunning {
						t.Fatalf("journal at crash: %s %v", op.Status, stepStatuses(op))
					}
				})
				if final.Status != StatusSucceeded {
					t.Fatalf("status = %s (%s)", final.Status, final.Error)
				}
				for _, n := range names {
					if !w.has("app/"+n) || w.creates["app/"+n] != 1 {
						t.Fatalf("resource %s: present=%v created %d times", n, w.has("app/"+n), w.creates["app/"+n])
					}
				}
				if !slices.Equal(w.resumed, []string{name}) {
					t.Fatalf("Resumed() seen by %v, want only %s", w.resumed, name)
				}
				if got := final.Steps[k].Attempts; got != 2 {
					t.Fatalf("attempts of resumed step = %d, want 2", got)
				}
			})
		}
	}
}

func TestCrashResumeDuringRollback(t *testing.T) {
	for _, undoAt := range []string{"proxy", "stack", "repo"} {
		for _, after := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/after_effect=%v", undoAt, after), func(t *testing.T) {
				w := newWorld()
				c := &crashScript{w: w, failAt: "verify", undoAt: undoAt, after: after, reached: make(chan struct{})}
				final := crashAndResume(t, c, func(op *Operation) {
					if op.Status != StatusRollingBack || stepByName(op, undoAt).Status != StepUndoing || op.Error != "verify: boom" {
						t.Fatalf("journal at crash: %s %q %v", op.Status, op.Error, stepStatuses(op))
					}
				})
				if final.Status != StatusRolledBack || final.Error != "verify: boom" {
					t.Fatalf("status = %s (%q)", final.Status, final.Error)
				}
				if len(w.names()) != 0 {
					t.Fatalf("resources left after rollback: %v", w.names())
				}
				for _, n := range []string{"repo", "stack", "proxy"} {
					if w.creates["app/"+n] != 1 || w.deletes["app/"+n] != 1 {
						t.Fatalf("%s created %d, deleted %d", n, w.creates["app/"+n], w.deletes["app/"+n])
					}
				}
				if !slices.Equal(stepStatuses(final), []StepStatus{StepUndone, StepUndone, StepUndone, StepFailed}) {
					t.Fatalf("steps = %v", stepStatuses(final))
				}
			})
		}
	}
}

func TestCrashWhileQueuedAndCancelRequested(t *testing.T) {
	t.Run("queued", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "ops.db")
		w := newWorld()
		e1 := New(openDBAt(t, path), testOptions())
		e1.Register(Workflow{Kind: "install", Steps: fourSteps(w)})
		op := submit(t, e1, "install", "app") // never started
		e1.Abandon()
		e2 := newEngine(t, openDBAt(t, path), testOptions(), Workflow{Kind: "install", Steps: fourSteps(w)})
		if st := waitOp(t, e2, op.ID).Status; st != StatusSucceeded || len(w.names()) != 4 {
			t.Fatalf("status %s, world %v", st, w.names())
		}
	})
	t.Run("cancel requested before crash", func(t *testing.T) {
		w := newWorld()
		c := &crashScript{w: w, blockAt: "proxy", reached: make(chan struct{})}
		path := filepath.Join(t.TempDir(), "ops.db")
		e1 := New(openDBAt(t, path), testOptions())
		e1.Register(c.workflow())
		_ = e1.Start(context.Background())
		op := submit(t, e1, "install", "app")
		<-c.reached
		// Record the cancel request, but crash before the runner acts on it.
		e1.mu.Lock()
		delete(e1.running, op.ID)
		e1.mu.Unlock()
		if _, err := e1.Cancel(context.Background(), op.ID); err != nil {
			t.Fatal(err)
		}
		e1.Abandon()
		c.released = true
		e2 := newEngine(t, openDBAt(t, path), testOptions(), c.workflow())
		final := waitOp(t, e2, op.ID)
		if final.Status != StatusCancelled || len(w.names()) != 0 {
			t.Fatalf("status %s, world %v", final.Status, w.names())
		}
	})
}

func TestResumeWithUnknownWorkflowFails(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ops.db")
	w := newWorld()
	c := &crashScript{w: w, blockAt: "stack", reached: make(chan struct{})}
	e1 := New(openDBAt(t, path), testOptions())
	e1.Register(c.workflow())
	_ = e1.Start(context.Background())
	op := submit(t, e1, "install", "app")
	<-c.reached
	e1.Abandon()
	e2 := newEngine(t, openDBAt(t, path), testOptions(), Workflow{Kind: "install", Steps: fourSteps(w)[:2]})
	final := waitOp(t, e2, op.ID)
	if final.Status != StatusFailed || final.Error == "" {
		t.Fatalf("op = %s %q", final.Status, final.Error)
	}
}

func TestGracefulShutdownPausesAndResumes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ops.db")
	w := newWorld()
	release := make(chan struct{})
	reached := make(chan struct{})
	steps := fourSteps(w)
	steps[1].Do = func(ctx context.Context, r *Run) error {
		if !r.Resumed() && r.AppID() == "app" {
			close(reached)
			<-release // finishes its step although shutdown began
		}
		w.create(r.AppID() + "/stack")
		return nil
	}
	e1 := New(openDBAt(t, path), testOptions())
	e1.Register(Workflow{Kind: "install", Steps: steps})
	_ = e1.Start(context.Background())
	op := submit(t, e1, "install", "app")
	<-reached
	done := make(chan error)
	go func() { done <- e1.Shutdown(context.Background()) }()
	waitFor(t, "shutdown to begin", e1.draining.Load)
	if _, err := e1.Submit(context.Background(), SubmitRequest{Kind: "install", AppID: "late"}); err != ErrStopped {
		t.Fatalf("submit during shutdown: %v", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	paused, _ := e1.Get(context.Background(), op.ID)
	if paused.Status != StatusRunning || !slices.Equal(stepStatuses(paused), []StepStatus{StepSucceeded, StepSucceeded, StepPending, StepPending}) {
		t.Fatalf("after shutdown: %s %v", paused.Status, stepStatuses(paused))
	}
	e2 := newEngine(t, openDBAt(t, path), testOptions(), Workflow{Kind: "install", Steps: steps})
	if st := waitOp(t, e2, op.ID).Status; st != StatusSucceeded || len(w.names()) != 4 {
		t.Fatalf("status %s, world %v", st, w.names())
	}
}

func TestShutdownTimeoutAbandons(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ops.db")
	w := newWorld()
	c := &crashScript{w: w, blockAt: "stack", reached: make(chan struct{})}
	e1 := New(openDBAt(t, path), testOptions())
	e1.Register(c.workflow())
	_ = e1.Start(context.Background())
	op := submit(t, e1, "install", "app")
	<-c.reached
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := e1.Shutdown(ctx); err != context.DeadlineExceeded {
		t.Fatalf("shutdown = %v", err)
	}
	c.released = true
	e2 := newEngine(t, openDBAt(t, path), testOptions(), c.workflow())
	if st := waitOp(t, e2, op.ID).Status; st != StatusSucceeded {
		t.Fatalf("status %s", st)
	}
}
