package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"
)

// The benchmarks of this file run the built binary as its own process, so
// that its memory is measured alone (VmRSS of /proc/<pid>/status), in
// sandbox mode with 1,000 apps installed through the API.

// consoleQuery is what a console's app list asks for.
const consoleQuery = `query($after: String) { apps(first: 50, after: $after) {
	totalCount pageInfo { hasNextPage endCursor }
	nodes { id appName status endpointId version domains defaultDomain
		proxies { id domains enabled } containers { name state main ports { privatePort publicPort } }
		repository { htmlUrl } lastOperation { kind status } } } }`

type procServer struct {
	url string
	cmd *exec.Cmd
	dir string
	hc  *http.Client
}

func (s *procServer) stop() {
	_ = s.cmd.Process.Signal(os.Interrupt)
	_ = s.cmd.Wait()
	_ = os.RemoveAll(s.dir)
}

// startProcServer starts the binary; stop ends it. It outlives the
// benchmark that starts it (a benchmark function runs several times, each
// run with its own cleanups), so TestMain stops it.
func startProcServer(tb testing.TB) *procServer {
	tb.Helper()
	dir, err := os.MkdirTemp("", "appmanage-bench-")
	if err != nil {
		tb.Fatal(err)
	}
	bin := buildCLI(tb)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command(bin, "serve", "--listen", addr, "--data-dir", dir, "--log-level", "error", "--workers", "4")
	cmd.Env = append(os.Environ(), "APPMANAGE_ADMIN_API_KEY="+adminKey)
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	s := &procServer{url: "http://" + addr, cmd: cmd, dir: dir, hc: &http.Client{Timeout: 60 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
	for deadline := time.Now().Add(60 * time.Second); ; {
		resp, err := s.hc.Get(s.url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		if time.Now().After(deadline) {
			tb.Fatalf("server not ready: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// rssBytes reads the server process's resident set size.
func (s *procServer) rssBytes(tb testing.TB) float64 {
	tb.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			if err != nil {
				tb.Fatal(err)
			}
			return float64(kb) * 1024
		}
	}
	tb.Fatal("no VmRSS")
	return 0
}

func (s *procServer) gql(ctx context.Context, query string, vars map[string]any, out any) error {
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.url+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-API-Key", adminKey)
	resp, err := s.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	var r struct {
		Data   json.RawMessage
		Errors []json.RawMessage
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return fmt.Errorf("HTTP %d: %s", resp.StatusCode, raw)
	}
	if len(r.Errors) > 0 {
		return fmt.Errorf("%s", r.Errors[0])
	}
	if out != nil {
		return json.Unmarshal(r.Data, out)
	}
	return nil
}

// installMany installs n whoami apps (8 requests at a time) and waits for
// every operation to succeed.
func (s *procServer) installMany(tb testing.TB, n int) {
	tb.Helper()
	ctx := context.Background()
	ops := make([]string, n)
	g := errgroup.Group{}
	g.SetLimit(8)
	for i := range n {
		g.Go(func() error {
			var out struct{ InstallApp struct{ ID string } }
			in := map[string]any{"appName": "whoami", "appId": fmt.Sprintf("app%04d", i),
				"settings": []map[string]any{{"name": "W9_HTTP_PORT_SET", "value": strconv.Itoa(20000 + i)}}}
			err := s.gql(ctx, `mutation($in: InstallAppInput!) { installApp(input: $in) { id } }`, map[string]any{"in": in}, &out)
			ops[i] = out.InstallApp.ID
			return err
		})
	}
	if err := g.Wait(); err != nil {
		tb.Fatal(err)
	}
	for _, id := range ops {
		for {
			var out struct{ Operation struct{ Status string } }
			if err := s.gql(ctx, `query($id: ID!) { operation(id: $id) { status } }`, map[string]any{"id": id}, &out); err != nil {
				tb.Fatal(err)
			}
			if st := out.Operation.Status; st == "SUCCEEDED" {
				break
			} else if st != "QUEUED" && st != "RUNNING" {
				tb.Fatalf("install %s: %s", id, st)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// listAll walks every page of the console query.
func (s *procServer) listAll(ctx context.Context) (int, error) {
	var after any
	n := 0
	for {
		var out struct {
			Apps struct {
				PageInfo struct {
					HasNextPage bool
					EndCursor   string
				}
				Nodes []json.RawMessage
			}
		}
		if err := s.gql(ctx, consoleQuery, map[string]any{"after": after}, &out); err != nil {
			return n, err
		}
		n += len(out.Apps.Nodes)
		if !out.Apps.PageInfo.HasNextPage {
			return n, nil
		}
		after = out.Apps.PageInfo.EndCursor
	}
}

var (
	stopBenchServer = func() {}
	benchSrvOnce    sync.Once
	benchSrv        *procServer
	benchIdleRSS    float64
)

// thousandApps is one server process with 1,000 apps for the benchmarks
// of this file (installing them takes a while).
func thousandApps(b *testing.B) *procServer {
	benchSrvOnce.Do(func() {
		s := startProcServer(b)
		stopBenchServer = s.stop
		time.Sleep(time.Second) // idle: start-up work done
		benchIdleRSS = s.rssBytes(b)
		s.installMany(b, 1000)
		benchSrv = s
	})
	if benchSrv == nil {
		b.Fatal("server set-up failed earlier")
	}
	return benchSrv
}

// BenchmarkAppsThroughput: apps(first: 50) with the console's fields over
// HTTP, 8 concurrent clients, 1,000 apps, warm. Targets: >= 1,000 req/s,
// p99 <= 20 ms (2 cores).
func BenchmarkAppsThroughput(b *testing.B) {
	s := thousandApps(b)
	ctx := context.Background()
	if n, err := s.listAll(ctx); err != nil || n != 1000 {
		b.Fatalf("listed %d apps: %v", n, err)
	}
	var mu sync.Mutex
	var lat []time.Duration
	b.SetParallelism(max(1, 8/runtime.GOMAXPROCS(0))) // 8 clients in all
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		var mine []time.Duration
		for pb.Next() {
			t0 := time.Now()
			var out struct {
				Apps struct{ Nodes []json.RawMessage }
			}
			if err := s.gql(ctx, consoleQuery, nil, &out); err != nil || len(out.Apps.Nodes) != 50 {
				b.Errorf("apps: %d nodes, %v", len(out.Apps.Nodes), err)
				return
			}
			mine = append(mine, time.Since(t0))
		}
		mu.Lock()
		lat = append(lat, mine...)
		mu.Unlock()
	})
	elapsed := time.Since(start)
	b.StopTimer()
	slices.Sort(lat)
	if len(lat) == 0 {
		return
	}
	b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "req/s(target>=1000)")
	b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
	b.ReportMetric(ms(lat[min(len(lat)-1, len(lat)*99/100)]), "p99-ms(target<=20)")
}

// BenchmarkServerMemory: the server process's RSS idle after start, and
// after listing its 1,000 apps (every page) 100 times. Targets: <= 40 MB,
// <= 120 MB.
func BenchmarkServerMemory(b *testing.B) {
	s := thousandApps(b)
	ctx := context.Background()
	// Fixed work, whatever -benchtime says (b.Loop runs this function once).
	for range 100 {
		if n, err := s.listAll(ctx); err != nil || n != 1000 {
			b.Fatalf("listed %d apps: %v", n, err)
		}
	}
	var rss float64
	for b.Loop() {
		rss = s.rssBytes(b)
	}
	b.ReportMetric(benchIdleRSS/1e6, "idle-rss-MB(target<=40)")
	b.ReportMetric(rss/1e6, "listed-rss-MB(target<=120)")
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
