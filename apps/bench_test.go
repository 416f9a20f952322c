package apps

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/appmanage/appmanage/datasources/upstream"
	"github.com/appmanage/appmanage/ops"
)

// upstreamClock records when upstream calls were in flight.
type upstreamClock struct {
	mu    sync.Mutex
	spans [][2]time.Time
	calls int
}

func (c *upstreamClock) observe(ci upstream.CallInfo) {
	end := time.Now()
	c.mu.Lock()
	c.spans = append(c.spans, [2]time.Time{end.Add(-ci.Duration), end})
	c.calls++
	c.mu.Unlock()
}

// take returns the wall time during which at least one call was in flight
// (preflight's calls run in parallel, so durations are not simply added),
// and the number of calls, and starts over.
func (c *upstreamClock) take() (time.Duration, int) {
	c.mu.Lock()
	spans, calls := c.spans, c.calls
	c.spans, c.calls = nil, 0
	c.mu.Unlock()
	slices.SortFunc(spans, func(a, b [2]time.Time) int { return a[0].Compare(b[0]) })
	var total time.Duration
	var cur [2]time.Time
	for i, s := range spans {
		switch {
		case i == 0:
			cur = s
		case s[0].After(cur[1]):
			total += cur[1].Sub(cur[0])
			cur = s
		case s[1].After(cur[1]):
			cur[1] = s[1]
		}
	}
	if len(spans) > 0 {
		total += cur[1].Sub(cur[0])
	}
	return total, calls
}

// BenchmarkInstallOverhead is one install of whoami, with a domain, from the
// request to the terminal state, against the fakes with no added latency.
// engine-ms/op is that time minus the time upstream calls were in flight:
// what the checks, the journal and the workflow cost on their own.
func BenchmarkInstallOverhead(b *testing.B) {
	clock := &upstreamClock{}
	e := newEnv(b, withObserver(clock.observe), withQuietLog())
	ctx := context.Background()
	req := InstallRequest{AppName: "whoami", AppID: "bench1", Domains: []string{"bench.example.com"}}
	var upstreamTime time.Duration
	calls := 0
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		clock.take()
		op, err := e.Svc.Install(ctx, req)
		if err != nil {
			b.Fatal(err)
		}
		op, err = e.Engine.Wait(ctx, op.ID)
		if err != nil || op.Status != ops.StatusSucceeded {
			b.Fatalf("install: %v %+v", err, op)
		}
		d, n := clock.take()
		upstreamTime += d
		calls += n

		b.StopTimer()
		u, err := e.Svc.Uninstall(ctx, req.AppID, true, "")
		if err != nil {
			b.Fatal(err)
		}
		if u, err = e.Engine.Wait(ctx, u.ID); err != nil || u.Status != ops.StatusSucceeded {
			b.Fatalf("uninstall: %v %+v", err, u)
		}
		b.StartTimer()
	}
	b.StopTimer()
	n := float64(b.N)
	perOp := float64(b.Elapsed().Nanoseconds()) / n
	b.ReportMetric(float64(upstreamTime.Nanoseconds())/n, "upstream-ns/op")
	b.ReportMetric((perOp-float64(upstreamTime.Nanoseconds())/n)/1e6, "engine-ms/op(target<=5)")
	b.ReportMetric(float64(calls)/n, "upstream-calls/op")
}
