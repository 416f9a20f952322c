package ops

import (
	"context"
	"fmt"
	"sync"
)

// liveBuffer is how many live events a subscription may fall behind before
// it switches to re-reading the gap from SQLite.
const liveBuffer = 256

// subscriber is one subscription's mailbox. The runner only ever does
// non-blocking sends into it.
type subscriber struct {
	op     string
	live   chan Event
	kick   chan struct{} // signalled when a live event was dropped
	closed chan struct{} // engine stopped
}

type broker struct {
	mu     sync.RWMutex
	subs   map[string]map[*subscriber]struct{}
	closed bool
}

func newBroker() *broker {
	return &broker{subs: map[string]map[*subscriber]struct{}{}}
}

func (b *broker) add(op string) *subscriber {
	s := &subscriber{op: op, live: make(chan Event, liveBuffer), kick: make(chan struct{}, 1), closed: make(chan struct{})}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		close(s.closed)
		return s
	}
	if b.subs[op] == nil {
		b.subs[op] = map[*subscriber]struct{}{}
	}
	b.subs[op][s] = struct{}{}
	return s
}

func (b *broker) remove(s *subscriber) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if set := b.subs[s.op]; set != nil {
		delete(set, s)
		if len(set) == 0 {
			delete(b.subs, s.op)
		}
	}
}

// publish never blocks: a full mailbox gets a kick instead, and its
// subscription re-reads what it missed from the journal.
func (b *broker) publish(ev Event) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	for s := range b.subs[ev.OperationID] {
		select {
		case s.live <- ev:
		default:
			select {
			case s.kick <- struct{}{}:
			default:
			}
		}
	}
}

func (b *broker) closeAll() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return
	}
	b.closed = true
	for _, set := range b.subs {
		for s := range set {
			close(s.closed)
		}
	}
	b.subs = map[string]map[*subscriber]struct{}{}
}

// Subscribe streams the operation's events with seq > afterSeq: first the
// stored ones, then live ones, each exactly once and in order. The channel
// closes after the terminal event, when ctx ends, or when the engine stops
// (a client then resumes with the last seq it saw). apperr NOT_FOUND when
// the operation does not exist.
//
// Events are published only after their transaction commits, so whenever
// a live event arrives out of sequence (a gap from a dropped send, or two
// writers racing) the journal already holds everything up to it.
func (e *Engine) Subscribe(ctx context.Context, id string, afterSeq int) (<-chan Event, error) {
	if _, err := loadOp(ctx, e.db.R, id); err != nil {
		return nil, err
	}
	// Registered before the first read, so nothing committed after that
	// read can be missed.
	s := e.broker.add(id)
	out := make(chan Event)
	go func() {
		defer close(out)
		defer e.broker.remove(s)
		last := afterSeq
		send := func(ev Event) (done bool) {
			select {
			case out <- ev:
				last = ev.Seq
				return ev.Terminal
			case <-ctx.Done():
				return true
			case <-s.closed:
				return true
			}
		}
		catchUp := func() (done bool) {
			evs, err := readEvents(ctx, e.db.R, id, last)
			if err != nil {
				if ctx.Err() == nil {
					e.log.Error("subscription: read events", "op", id, "err", err)
				}
				return true
			}
			for _, ev := range evs {
				if send(ev) {
					return true
				}
			}
			return false
		}
		if catchUp() {
			return
		}
		// A client that already saw the terminal event gets a closed stream.
		var ended bool
		if err := e.db.R.GetContext(ctx, &ended, `SELECT EXISTS(SELECT 1 FROM operation_events
			WHERE operation_id = ? AND terminal = 1 AND seq <= ?)`, id, last); err != nil || ended {
			return
		}
		for {
			select {
			case <-ctx.Done():
				return
			case <-s.closed:
				return
			case <-s.kick:
				if catchUp() {
					return
				}
			case ev := <-s.live:
				switch {
				case ev.Seq <= last:
					// already delivered from the journal
				case ev.Seq == last+1:
					if send(ev) {
						return
					}
				default:
					if catchUp() {
						return
					}
				}
			}
		}
	}()
	return out, nil
}

// Wait blocks until the operation is terminal (or ctx ends) and returns it.
func (e *Engine) Wait(ctx context.Context, id string) (*Operation, error) {
	var last int
	if err := e.db.R.GetContext(ctx, &last, `SELECT COALESCE(MAX(seq), 0) FROM operation_events WHERE operation_id = ?`, id); err != nil {
		return nil, fmt.Errorf("last event of %s: %w", id, err)
	}
	// Start one before the newest event so a terminal op still yields it.
	ch, err := e.Subscribe(ctx, id, max(last-1, 0))
	if err != nil {
		return nil, err
	}
	terminal := false
	for ev := range ch {
		terminal = terminal || ev.Terminal
	}
	if !terminal {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, ErrStopped
	}
	return e.Get(context.WithoutCancel(ctx), id)
}
