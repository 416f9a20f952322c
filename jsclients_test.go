package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The stock npm clients (httpapi/jsclients, installed by `make test`)
// against the real server.

const jsClientsDir = "httpapi/jsclients"

// runNode runs a script of httpapi/jsclients and returns its last output
// line. Without node or the installed packages it skips, unless CI is set.
func runNode(t *testing.T, script string, args ...string) string {
	t.Helper()
	missing := func(msg string) {
		if os.Getenv("CI") != "" {
			t.Fatal(msg + " (CI is set, so this is an error)")
		}
		t.Skip(msg)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("node not found; install Node.js 20+ to run the JS client tests")
	}
	if _, err := os.Stat(filepath.Join(jsClientsDir, "node_modules", ".lockfile.sha256")); err != nil {
		missing("the npm clients are not installed: run `make js-clients` (make test does)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, append([]string{filepath.Join(jsClientsDir, script)}, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node %s: %v\nstdout: %s\nstderr: %s", script, err, out, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return lines[len(lines)-1]
}

// graphql-ws with a wrong key: the server closes with 4403, the client
// reports it and, with retryAttempts: 0, never connects a second time (with
// gqlgen's default 1000 close it reconnected thousands of times a second).
func TestGraphQLWSClientWrongKeyStops(t *testing.T) {
	s := startServer(t)
	line := runNode(t, "graphql-ws-wrong-key.mjs", "ws"+strings.TrimPrefix(s.URL, "http")+"/graphql", "am_wrong_key_for_the_test")
	var seen struct {
		Connecting int
		Closed     []struct {
			Code   int
			Reason string
		}
		Error json.RawMessage
	}
	if err := json.Unmarshal([]byte(line), &seen); err != nil {
		t.Fatalf("client output %q: %v", line, err)
	}
	if seen.Connecting != 1 || len(seen.Closed) != 1 || seen.Closed[0].Code != 4403 || !strings.Contains(seen.Closed[0].Reason, "Forbidden") {
		t.Fatalf("client saw %s; want one connection, closed once with 4403 Forbidden", line)
	}
	var e struct{ Code int }
	if json.Unmarshal(seen.Error, &e) != nil || e.Code != 4403 {
		t.Fatalf("the subscription got %s, want the 4403 close", seen.Error)
	}
	// Server side: exactly one refused init, logged without the key.
	logs := s.logs.String()
	if n := strings.Count(logs, "websocket connection_init refused"); n != 1 || strings.Contains(logs, "am_wrong_key_for_the_test") {
		t.Fatalf("%d refusals logged (want 1, without the key); log:\n%s", n, logs)
	}
}

// Apollo Client's PersistedQueryLink: the first run sends the hash only,
// gets PERSISTED_QUERY_NOT_FOUND and falls back to the full query; the
// second is served by hash alone.
func TestApolloPersistedQueryLink(t *testing.T) {
	s := startServer(t)
	line := runNode(t, "apollo-persisted-query.mjs", s.URL+"/graphql", adminKey)
	var out struct {
		Results []struct {
			Data  *struct{ Health struct{ Status string } }
			Error *string
		}
		Requests []struct {
			FullQuery bool
			Hash      *string
		}
	}
	if err := json.Unmarshal([]byte(line), &out); err != nil {
		t.Fatalf("client output %q: %v", line, err)
	}
	if len(out.Results) != 2 {
		t.Fatalf("client output %s", line)
	}
	for i, r := range out.Results {
		if r.Error != nil || r.Data == nil || r.Data.Health.Status == "" {
			t.Fatalf("run %d: %s", i+1, line)
		}
	}
	// Client side: hash only, hash with the query (the fallback), hash only.
	want := []bool{false, true, false}
	if len(out.Requests) != len(want) {
		t.Fatalf("requests %s; want hash-only, full, hash-only", line)
	}
	for i, r := range out.Requests {
		if r.FullQuery != want[i] || r.Hash == nil {
			t.Fatalf("request %d: %s; want hash-only, full, hash-only", i+1, line)
		}
	}
	// Server side: one miss, one query registered, one served by hash.
	for result, n := range map[string]int{"miss": 1, "registered": 1, "hit": 1} {
		if got := apqMetric(t, s, result); got != n {
			t.Errorf("persisted queries %s = %d, want %d", result, got, n)
		}
	}
}

func apqMetric(t *testing.T, s *testServer, result string) int {
	t.Helper()
	resp, err := http.Get(s.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`appmanage_graphql_persisted_queries_total\{result="` + result + `"\} (\d+)`).FindSubmatch(b)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}
