package ops

import (
	"context"
	"sync"
	"testing"
	"time"
)

// loggingWorkflow logs n lines in its middle step, optionally waiting on
// gate first.
func loggingWorkflow(n int, gate <-chan struct{}) Workflow {
	noop := func(ctx context.Context, r *Run) error { return nil }
	return Workflow{Kind: "chatty", Steps: []Step{
		{Name: "first", Do: noop},
		{Name: "talk", Do: func(ctx context.Context, r *Run) error {
			if gate != nil {
				select {
				case <-gate:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			for i := range n {
				r.Logf("line %d", i)
			}
			return nil
		}},
		{Name: "last", Do: noop},
	}}
}

func TestSubscribeLateJoin(t *testing.T) {
	gate := make(chan struct{})
	e := newEngine(t, openDB(t), testOptions(), loggingWorkflow(20, gate))
	op := submit(t, e, "chatty", "app")
	waitFor(t, "3 stored events", func() bool {
		evs, _ := e.Events(context.Background(), op.ID, 0)
		return len(evs) >= 3
	})
	fromStart, err := e.Subscribe(context.Background(), op.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	fromTwo, err := e.Subscribe(context.Background(), op.ID, 2)
	if err != nil {
		t.Fatal(err)
	}
	close(gate)
	all := collect(t, fromStart)
	checkSeq(t, all, 1)
	tail := collect(t, fromTwo)
	checkSeq(t, tail, 3)
	if len(tail) != len(all)-2 {
		t.Fatalf("afterSeq=2 got %d events, want %d", len(tail), len(all)-2)
	}
	stored, _ := e.Events(context.Background(), op.ID, 0)
	if len(stored) != len(all) {
		t.Fatalf("stream has %d events, journal %d", len(all), len(stored))
	}
	// Joining after the end replays and closes; after the terminal seq, closes at once.
	again, _ := e.Subscribe(context.Background(), op.ID, 0)
	checkSeq(t, collect(t, again), 1)
	done, _ := e.Subscribe(context.Background(), op.ID, all[len(all)-1].Seq)
	if evs := collect(t, done); len(evs) != 0 {
		t.Fatalf("subscription past the end got %v", evs)
	}
}

func TestSlowSubscriberDoesNotBlockRunner(t *testing.T) {
	const lines = 3 * liveBuffer
	gate := make(chan struct{})
	e := newEngine(t, openDB(t), testOptions(), loggingWorkflow(lines, gate))
	op := submit(t, e, "chatty", "app")
	slow, err := e.Subscribe(context.Background(), op.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	close(gate) // the log lines are published while the subscriber is registered
	// Never read until the operation is over.
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	deadline := time.Now().Add(15 * time.Second)
	for {
		got, _ := e.Get(ctx, op.ID)
		if got.Status.Terminal() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("runner blocked by a subscriber that does not read")
		}
		time.Sleep(5 * time.Millisecond)
	}
	evs := collect(t, slow)
	checkSeq(t, evs, 1)
	if len(evs) < lines {
		t.Fatalf("slow subscriber got %d events, want > %d", len(evs), lines)
	}
}

func TestManySubscribers(t *testing.T) {
	gate := make(chan struct{})
	e := newEngine(t, openDB(t), testOptions(), loggingWorkflow(300, gate))
	op := submit(t, e, "chatty", "app")
	const n = 100
	results := make([][]Event, n)
	var wg sync.WaitGroup
	for i := range n {
		ch, err := e.Subscribe(context.Background(), op.ID, 0)
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			for ev := range ch {
				results[i] = append(results[i], ev)
			}
		})
	}
	close(gate)
	wg.Wait()
	stored, _ := e.Events(context.Background(), op.ID, 0)
	for i, evs := range results {
		if len(evs) != len(stored) {
			t.Fatalf("subscriber %d got %d events, journal has %d", i, len(evs), len(stored))
		}
		checkSeq(t, evs, 1)
	}
}

func TestSubscribeEndsWithContext(t *testing.T) {
	gate := make(chan struct{})
	defer close(gate)
	e := newEngine(t, openDB(t), testOptions(), loggingWorkflow(1, gate))
	op := submit(t, e, "chatty", "app")
	ctx, cancel := context.WithCancel(context.Background())
	ch, err := e.Subscribe(ctx, op.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	<-ch
	cancel()
	collect(t, ch) // closes
}
