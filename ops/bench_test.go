package ops

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkEventFanout100 measures events delivered per second to 100
// subscribers of one operation that logs b.N lines (each a journalled
// event).
func BenchmarkEventFanout100(b *testing.B) {
	const subs = 100
	gate := make(chan struct{})
	e := newEngine(b, openDB(b), testOptions(), loggingWorkflow(b.N, gate))
	op := submit(b, e, "chatty", "bench")
	var delivered atomic.Int64
	var wg sync.WaitGroup
	for range subs {
		ch, err := e.Subscribe(context.Background(), op.ID, 0)
		if err != nil {
			b.Fatal(err)
		}
		wg.Go(func() {
			for range ch {
				delivered.Add(1)
			}
		})
	}
	b.ResetTimer()
	start := time.Now()
	close(gate)
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(delivered.Load())/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "journalled/s")
}

// BenchmarkOperationOverhead measures a 4-step no-op workflow end to end
// (submit, run, journal, terminal event) per operation.
func BenchmarkOperationOverhead(b *testing.B) {
	noop := func(ctx context.Context, r *Run) error { return nil }
	steps := []Step{{Name: "a", Do: noop, Undo: noop}, {Name: "b", Do: noop, Undo: noop}, {Name: "c", Do: noop, Undo: noop}, {Name: "d", Do: noop, Undo: noop}}
	e := newEngine(b, openDB(b), testOptions(), Workflow{Kind: "noop", Steps: steps})
	ctx := context.Background()
	b.ResetTimer()
	for i := range b.N {
		op, err := e.Submit(ctx, SubmitRequest{Kind: "noop", AppID: fmt.Sprintf("app%d", i)})
		if err != nil {
			b.Fatal(err)
		}
		if got, err := e.Wait(ctx, op.ID); err != nil || got.Status != StatusSucceeded {
			b.Fatalf("op %v: %v", got, err)
		}
	}
}
