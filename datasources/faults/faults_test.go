package faults

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

func server(t *testing.T) (*Injector, *httptest.Server, *atomic.Int32) {
	t.Helper()
	in := New()
	var done atomic.Int32
	mux := http.NewServeMux()
	in.Handle(mux, "POST /things", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		done.Add(1)
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return in, srv, &done
}

func post(t *testing.T, c *http.Client, url string) (int, error) {
	t.Helper()
	resp, err := c.Post(url+"/things", "application/json", nil)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.ReadAll(resp.Body)
	return resp.StatusCode, nil
}

func TestStatusFaultAppliesTimesThenClears(t *testing.T) {
	in, srv, done := server(t)
	in.Fail("POST /things", Fault{Status: 503, Body: `{"message":"down"}`, Times: 2})
	for i, want := range []int{503, 503, 201} {
		if got, err := post(t, srv.Client(), srv.URL); err != nil || got != want {
			t.Fatalf("call %d: %d, %v; want %d", i, got, err, want)
		}
	}
	if done.Load() != 1 || in.Calls("POST /things") != 3 {
		t.Fatalf("work done %d times, %d calls counted", done.Load(), in.Calls("POST /things"))
	}
}

func TestDropBeforeAndAfter(t *testing.T) {
	in, srv, done := server(t)
	in.Fail("POST /things", Fault{Drop: true})
	if _, err := post(t, srv.Client(), srv.URL); err == nil {
		t.Fatal("dropped connection returned a response")
	}
	if done.Load() != 0 {
		t.Fatal("a Before drop did the work")
	}
	in.Fail("*", Fault{Drop: true, Phase: After})
	if _, err := post(t, srv.Client(), srv.URL); err == nil {
		t.Fatal("dropped connection returned a response")
	}
	if done.Load() != 1 {
		t.Fatal("an After drop did not do the work")
	}
}

func TestDelayPastClientTimeout(t *testing.T) {
	in, srv, done := server(t)
	in.Fail("POST /things", Fault{Delay: 300 * time.Millisecond})
	c := &http.Client{Timeout: 50 * time.Millisecond}
	if _, err := post(t, c, srv.URL); err == nil {
		t.Fatal("no timeout")
	}
	time.Sleep(400 * time.Millisecond)
	if done.Load() != 0 {
		t.Fatal("the work happened although the client had gone (Before phase)")
	}
	in.SetLatency(10 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/things", nil)
	start := time.Now()
	resp, err := srv.Client().Do(req)
	if err != nil || resp.StatusCode != 201 || time.Since(start) < 10*time.Millisecond {
		t.Fatalf("latency call: %v %v in %s", resp, err, time.Since(start))
	}
	resp.Body.Close()
	in.Clear()
	in.ResetCalls()
	if len(in.AllCalls()) != 0 {
		t.Fatal("ResetCalls left counters")
	}
}
