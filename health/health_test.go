package health

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

func TestReportProbesInParallelAndCaches(t *testing.T) {
	var calls atomic.Int32
	slow := func(v string, err error) func(context.Context) (string, error) {
		return func(ctx context.Context) (string, error) {
			calls.Add(1)
			time.Sleep(50 * time.Millisecond)
			return v, err
		}
	}
	c := New(func(context.Context) error { return nil }, time.Minute,
		Upstream{Name: "gitea", Sandbox: true, Probe: slow("1.26.3", nil)},
		Upstream{Name: "portainer", Probe: slow("", errors.New("connection refused"))},
		Upstream{Name: "npm", Sandbox: true, Probe: slow("2.15.1", nil)},
	)
	start := time.Now()
	r := c.Report(context.Background())
	if d := time.Since(start); d > 140*time.Millisecond {
		t.Errorf("three 50ms probes took %s: not run in parallel", d)
	}
	if !r.Sandbox || !r.Database || r.Healthy() {
		t.Fatalf("report = %+v", r)
	}
	if r.Upstreams[0].Version != "1.26.3" || !r.Upstreams[0].Up || r.Upstreams[1].Up || r.Upstreams[1].Error == "" {
		t.Fatalf("upstreams = %+v", r.Upstreams)
	}
	c.Report(context.Background())
	if n := calls.Load(); n != 3 {
		t.Fatalf("%d probes after two reports within the TTL, want 3", n)
	}
}

func TestDatabaseDown(t *testing.T) {
	c := New(func(context.Context) error { return errors.New("disk I/O error") }, 0)
	if r := c.Report(context.Background()); r.Database || r.Healthy() {
		t.Fatalf("report = %+v", r)
	}
}
