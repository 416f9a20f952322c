package ops

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/jmoiron/sqlx"

	"github.com/appmanage/appmanage/store"
)

var (
	// ErrUnknownKind is returned by Submit for a kind no workflow was
	// registered for.
	ErrUnknownKind = errors.New("unknown operation kind")
	// ErrStopped is returned by Submit once Shutdown or Abandon was called.
	ErrStopped = errors.New("operation engine is stopped")

	errAbandoned = errors.New("engine abandoned")
	errCancelled = errors.New("cancelled by request")
	errDeadline  = errors.New("operation deadline exceeded")
)

// Engine runs workflows durably. Create it with New, Register workflows,
// then Start it.
type Engine struct {
	db   *store.DB
	opts Options
	log  *slog.Logger

	workflows map[string]*Workflow // written only before Start

	queue    chan string
	mu       sync.Mutex
	pending  map[string]bool                    // ids in the queue or being run
	running  map[string]context.CancelCauseFunc // cancel funcs of ops being run
	overflow bool                               // a QUEUED op did not fit in the queue

	// wmu makes Abandon wait for in-flight journal writes, so that after it
	// returns not a single write more reaches the database.
	wmu       sync.RWMutex
	abandoned bool

	started   atomic.Bool
	draining  atomic.Bool
	drainCh   chan struct{}
	drainOnce sync.Once
	baseCtx   context.Context
	cancel    context.CancelFunc
	workers   sync.WaitGroup

	broker *broker
	stmts  *stmtCache // the journal's prepared statements (writer connection)
}

// New returns an engine over db. Nothing runs until Start.
func New(db *store.DB, opts Options) *Engine {
	opts = opts.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	return &Engine{
		db:        db,
		opts:      opts,
		log:       opts.Logger,
		workflows: map[string]*Workflow{},
		queue:     make(chan string, opts.QueueSize),
		pending:   map[string]bool{},
		running:   map[string]context.CancelCauseFunc{},
		drainCh:   make(chan struct{}),
		baseCtx:   ctx,
		cancel:    cancel,
		broker:    newBroker(),
		stmts:     &stmtCache{db: db.W, m: map[string]*sqlx.Stmt{}},
	}
}

// Register adds a workflow. Call it before Start; registering a kind twice
// or a workflow without steps panics (a programming error).
func (e *Engine) Register(w Workflow) {
	if e.started.Load() {
		panic("ops: Register after Start")
	}
	if w.Kind == "" || len(w.Steps) == 0 {
		panic("ops: workflow needs a kind and steps")
	}
	if _, dup := e.workflows[w.Kind]; dup {
		panic("ops: workflow registered twice: " + w.Kind)
	}
	seen := map[string]bool{}
	w.Steps = append([]Step(nil), w.Steps...)
	for i := range w.Steps {
		s := &w.Steps[i]
		if s.Name == "" || s.Do == nil || seen[s.Name] {
			panic(fmt.Sprintf("ops: workflow %s: step %d needs a unique name and Do", w.Kind, i))
		}
		seen[s.Name] = true
		if s.Weight <= 0 {
			s.Weight = 1
		}
		if s.Timeout <= 0 {
			s.Timeout = e.opts.StepTimeout
		}
	}
	if w.Deadline <= 0 {
		w.Deadline = e.opts.Deadline
	}
	e.workflows[w.Kind] = &w
}

// Start queues the operations a previous process left QUEUED, RUNNING or
// ROLLING_BACK (running ones resume from their journal), then serves the
// queue with Options.Workers workers.
func (e *Engine) Start(ctx context.Context) error {
	if !e.started.CompareAndSwap(false, true) {
		return errors.New("ops: engine already started")
	}
	var ids []string
	// Interrupted runs first, then the queue in submission order.
	err := e.db.R.SelectContext(ctx, &ids, `SELECT id FROM operations WHERE status IN `+activeStatuses+`
		ORDER BY CASE status WHEN 'QUEUED' THEN 1 ELSE 0 END, created_at, id`)
	if err != nil {
		return fmt.Errorf("find unfinished operations: %w", err)
	}
	if len(ids) > 0 {
		e.log.InfoContext(ctx, "resuming unfinished operations", "count", len(ids))
	}
	for _, id := range ids {
		e.enqueue(id)
	}
	for range e.opts.Workers {
		e.workers.Add(1)
		go e.worker()
	}
	return nil
}

// Shutdown stops taking work and waits for the running steps to finish; each
// operation pauses at its next step boundary and stays in the journal to be
// resumed by the next Start. If ctx ends first, the remaining runs are
// abandoned (see Abandon) and ctx's error is returned.
func (e *Engine) Shutdown(ctx context.Context) error {
	e.draining.Store(true)
	e.drainOnce.Do(func() { close(e.drainCh) })
	done := make(chan struct{})
	go func() { e.workers.Wait(); close(done) }()
	select {
	case <-done:
		e.cancel()
		e.broker.closeAll()
		return nil
	case <-ctx.Done():
		e.Abandon()
		return ctx.Err()
	}
}

// Abandon stops everything at once without writing anything more to the
// database, as kill -9 would: step contexts are cancelled, and runs that
// are still unwinding find every journal write refused. For crash tests,
// and for Shutdown when its context expires.
func (e *Engine) Abandon() {
	e.wmu.Lock()
	e.abandoned = true
	e.wmu.Unlock()
	e.draining.Store(true)
	e.drainOnce.Do(func() { close(e.drainCh) })
	e.cancel()
	e.broker.closeAll()
}

func (e *Engine) isAbandoned() bool {
	e.wmu.RLock()
	defer e.wmu.RUnlock()
	return e.abandoned
}

// write runs fn in one write transaction and publishes the events it wrote
// once committed. Journal writes deliberately ignore the caller's context:
// a cancelled operation must still be able to record its rollback.
func (e *Engine) write(fn func(ctx context.Context, t *tx) error) error {
	ctx := context.Background()
	e.wmu.RLock()
	if e.abandoned {
		e.wmu.RUnlock()
		return errAbandoned
	}
	var events []Event
	var misses []string
	err := e.db.Tx(ctx, func(stx *sqlx.Tx) error {
		t := &tx{Tx: stx, now: e.opts.Now().UTC(), stmts: e.stmts}
		err := fn(ctx, t)
		misses = t.misses
		if err != nil {
			return err
		}
		events = t.events
		return nil
	})
	e.stmts.prepareMisses(misses)
	e.wmu.RUnlock()
	if err != nil {
		return err
	}
	for _, ev := range events {
		e.broker.publish(ev)
	}
	return nil
}

// enqueue hands id to the workers unless it is already queued or running.
// The database is the real queue: when the channel is full the op stays
// QUEUED and is picked up by a rescan once a worker frees up.
func (e *Engine) enqueue(id string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.pending[id] {
		return
	}
	select {
	case e.queue <- id:
		e.pending[id] = true
	default:
		e.overflow = true
	}
}

func (e *Engine) worker() {
	defer e.workers.Done()
	for {
		select {
		case <-e.drainCh:
			return
		case id := <-e.queue:
			if e.draining.Load() {
				return
			}
			e.execute(id)
			e.mu.Lock()
			delete(e.pending, id)
			rescan := e.overflow
			e.overflow = false
			e.mu.Unlock()
			if rescan {
				e.rescan()
			}
		}
	}
}

// rescan re-queues active operations that did not fit in the queue.
func (e *Engine) rescan() {
	var ids []string
	if err := e.db.R.SelectContext(e.baseCtx, &ids, `SELECT id FROM operations WHERE status IN `+activeStatuses+` ORDER BY created_at, id`); err != nil {
		if e.draining.Load() {
			return // the next Start scans anyway
		}
		e.log.Error("rescan queued operations", "err", err)
		e.mu.Lock()
		e.overflow = true
		e.mu.Unlock()
		return
	}
	for _, id := range ids {
		e.enqueue(id)
	}
}
