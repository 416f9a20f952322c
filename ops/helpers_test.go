package ops

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/appmanage/appmanage/store"
)

func openDBAt(t testing.TB, path string) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), path, nil)
	if err != nil {
		t.Fatalf("open db: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func openDB(t testing.TB) *store.DB {
	return openDBAt(t, filepath.Join(t.TempDir(), "ops.db"))
}

func testOptions() Options {
	return Options{
		Workers:      4,
		StepTimeout:  5 * time.Second,
		Deadline:     30 * time.Second,
		UndoAttempts: 3,
		Backoff:      func(int) time.Duration { return time.Millisecond },
		StepGrace:    time.Second,
	}
}

// newEngine returns a started engine with the given workflows, shut down
// at the end of the test.
func newEngine(t testing.TB, db *store.DB, opts Options, wfs ...Workflow) *Engine {
	t.Helper()
	e := New(db, opts)
	for _, w := range wfs {
		e.Register(w)
	}
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = e.Shutdown(ctx)
	})
	return e
}

func submit(t testing.TB, e *Engine, kind, app string) *Operation {
	t.Helper()
	op, err := e.Submit(context.Background(), SubmitRequest{Kind: kind, AppID: app})
	if err != nil {
		t.Fatalf("submit %s %s: %v", kind, app, err)
	}
	return op
}

func waitOp(t testing.TB, e *Engine, id string) *Operation {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	op, err := e.Wait(ctx, id)
	if err != nil {
		t.Fatalf("wait for %s: %v", id, err)
	}
	return op
}

// waitFor polls cond (for states that have no event to wait on).
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// world is an in-memory stand-in for Gitea/Portainer/NPM: resources by
// deterministic name, with counts of real creations and deletions.
type world struct {
	mu      sync.Mutex
	res     map[string]bool
	creates map[string]int
	deletes map[string]int
	journal []string // "do:x", "undo:x" in call order
	resumed []string
}

func newWorld() *world {
	return &world{res: map[string]bool{}, creates: map[string]int{}, deletes: map[string]int{}}
}

func (w *world) create(name string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.journal = append(w.journal, "do:"+name)
	if !w.res[name] {
		w.res[name] = true
		w.creates[name]++
	}
}

func (w *world) remove(name string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.journal = append(w.journal, "undo:"+name)
	if w.res[name] {
		delete(w.res, name)
		w.deletes[name]++
	}
}

func (w *world) noteResumed(name string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.resumed = append(w.resumed, name)
}

func (w *world) has(name string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.res[name]
}

func (w *world) names() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for n := range w.res {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

func (w *world) undos() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for _, j := range w.journal {
		if len(j) > 5 && j[:5] == "undo:" {
			out = append(out, j[5:])
		}
	}
	return out
}

// resourceStep creates "<app>/<name>" idempotently and removes it on undo.
func resourceStep(w *world, name string) Step {
	return Step{
		Name: name,
		Do: func(ctx context.Context, r *Run) error {
			if r.Resumed() {
				w.noteResumed(name)
			}
			w.create(r.AppID() + "/" + name)
			return nil
		},
		Undo: func(ctx context.Context, r *Run) error {
			w.remove(r.AppID() + "/" + name)
			return nil
		},
	}
}

func fourSteps(w *world) []Step {
	return []Step{resourceStep(w, "repo"), resourceStep(w, "stack"), resourceStep(w, "proxy"), resourceStep(w, "verify")}
}

func stepByName(op *Operation, name string) StepRecord {
	for _, s := range op.Steps {
		if s.Name == name {
			return s
		}
	}
	panic(fmt.Sprintf("no step %q", name))
}

func stepStatuses(op *Operation) []StepStatus {
	out := make([]StepStatus, len(op.Steps))
	for i, s := range op.Steps {
		out[i] = s.Status
	}
	return out
}

// blockUntilCancelled signals reached then waits for ctx to end.
func blockUntilCancelled(reached chan<- struct{}) func(ctx context.Context, r *Run) error {
	var once sync.Once
	return func(ctx context.Context, r *Run) error {
		once.Do(func() { close(reached) })
		<-ctx.Done()
		return ctx.Err()
	}
}

var errBoom = errors.New("boom")

// collect reads a subscription to its end.
func collect(t testing.TB, ch <-chan Event) []Event {
	t.Helper()
	var out []Event
	timeout := time.After(15 * time.Second)
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				return out
			}
			out = append(out, ev)
		case <-timeout:
			t.Fatalf("subscription did not close; got %d events", len(out))
		}
	}
}

// checkSeq asserts events are seq from..to exactly once, in order, and the
// last one is terminal.
func checkSeq(t testing.TB, evs []Event, from int) {
	t.Helper()
	if len(evs) == 0 {
		t.Fatal("no events")
	}
	for i, ev := range evs {
		if ev.Seq != from+i {
			t.Fatalf("event %d has seq %d, want %d", i, ev.Seq, from+i)
		}
		if ev.Terminal != (i == len(evs)-1) {
			t.Fatalf("event seq %d terminal=%v", ev.Seq, ev.Terminal)
		}
	}
}
