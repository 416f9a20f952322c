package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/appmanage/appmanage/apps"
	"github.com/appmanage/appmanage/datasources/portainer"
	"github.com/appmanage/appmanage/sandbox"
)

// aqInstall installs whoami apps through GraphQL and waits for all of them.
func aqInstall(t *testing.T, s *testServer, ids []string, port func(i int) int, domains bool) {
	t.Helper()
	opIDs := make([]string, len(ids))
	for i, id := range ids {
		input := map[string]any{"appName": "whoami", "appId": id,
			"settings": []map[string]any{{"name": "W9_HTTP_PORT_SET", "value": strconv.Itoa(port(i))}}}
		if domains {
			input["domains"] = []string{id + ".example.com"}
		}
		_, resp := s.gql(t, adminKey, `mutation($in: InstallAppInput!) { installApp(input: $in) { id } }`, map[string]any{"in": input})
		if len(resp.Errors) > 0 {
			t.Fatalf("installApp %s: %+v", id, resp.Errors)
		}
		var out struct{ InstallApp struct{ ID string } }
		_ = json.Unmarshal(resp.Data, &out)
		opIDs[i] = out.InstallApp.ID
	}
	for i, op := range opIDs {
		if st := waitTerminal(t, s, op); st != "SUCCEEDED" {
			t.Fatalf("install %s: %s", ids[i], st)
		}
	}
}

type aqApp struct {
	ID            string
	AppName       *string
	Status        string
	EndpointID    *int
	Version       *string
	Official      bool
	Domains       []string
	DefaultDomain *string
	Env           []struct{ Name, Value string }
	Variables     map[string]any
	Repository    *struct{ URL, CloneURL, HTMLURL string }
	Proxies       []struct {
		ID          int
		Domains     []string
		ForwardPort int
		Enabled     bool
	}
	Containers []struct {
		Name, Image, State string
		Main               bool
		Ports              []struct{ PrivatePort, PublicPort int }
	}
	Stack *struct {
		ID, Status int
		Git        *struct{ URL, ConfigHash string }
	}
	LastOperation *struct{ Kind, Status string }
}

func (a aqApp) env(name string) string {
	for _, e := range a.Env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

const aqFullQuery = `query($first: Int, $after: String, $filter: AppFilter) { apps(first: $first, after: $after, filter: $filter) {
	totalCount pageInfo { hasNextPage endCursor }
	edges { cursor }
	nodes { id appName status endpointId version official domains defaultDomain env { name value } variables
		repository { url cloneUrl htmlUrl } proxies { id domains forwardPort enabled }
		containers { name image state main ports { privatePort publicPort } }
		stack { id status git { url configHash } } lastOperation { kind status } } } }`

func aqList(t *testing.T, s *testServer, query string, vars map[string]any) ([]aqApp, gqlResponse) {
	t.Helper()
	_, resp := s.gql(t, adminKey, query, vars)
	if len(resp.Errors) > 0 {
		t.Fatalf("apps: %+v", resp.Errors)
	}
	var out struct{ Apps struct{ Nodes []aqApp } }
	if err := json.Unmarshal(resp.Data, &out); err != nil {
		t.Fatal(err)
	}
	return out.Apps.Nodes, resp
}

func TestAppsQueryAfterInstallsAndStop(t *testing.T) {
	s := startServer(t)
	aqInstall(t, s, []string{"qone", "qtwo", "qthree"}, func(i int) int { return 9201 + i }, true)
	_, resp := s.gql(t, adminKey, `mutation { stopApp(id: "qtwo") { id kind } }`, nil)
	if len(resp.Errors) > 0 {
		t.Fatalf("stopApp: %+v", resp.Errors)
	}
	var stop struct{ StopApp struct{ ID, Kind string } }
	_ = json.Unmarshal(resp.Data, &stop)
	if st := waitTerminal(t, s, stop.StopApp.ID); st != "SUCCEEDED" || stop.StopApp.Kind != apps.KindStop {
		t.Fatalf("stop: %s %s", st, stop.StopApp.Kind)
	}
	// A second stop is refused, as is a start of a running app.
	_, resp = s.gql(t, adminKey, `mutation { stopApp(id: "qtwo") { id } }`, nil)
	if resp.code() != "PRECONDITION_FAILED" {
		t.Errorf("stop of a stopped app: %+v", resp.Errors)
	}
	_, resp = s.gql(t, adminKey, `mutation { startApp(id: "qone") { id } }`, nil)
	if resp.code() != "PRECONDITION_FAILED" {
		t.Errorf("start of a running app: %+v", resp.Errors)
	}
	_, resp = s.gql(t, adminKey, `mutation { restartApp(id: "nosuch") { id } }`, nil)
	if resp.code() != "NOT_FOUND" {
		t.Errorf("restart of an unknown app: %+v", resp.Errors)
	}

	nodes, _ := aqList(t, s, aqFullQuery, nil)
	if len(nodes) != 3 {
		t.Fatalf("%d apps, want 3: %+v", len(nodes), nodes)
	}
	for i, a := range nodes {
		want := []string{"qone", "qthree", "qtwo"}[i]
		if a.ID != want {
			t.Fatalf("node %d is %s, want %s (ordered by id)", i, a.ID, want)
		}
		wantStatus := map[string]string{"qone": "ACTIVE", "qtwo": "INACTIVE", "qthree": "ACTIVE"}[a.ID]
		if a.Status != wantStatus || !a.Official || a.EndpointID == nil || *a.EndpointID != 1 {
			t.Errorf("%s: status %s official %v endpoint %v", a.ID, a.Status, a.Official, a.EndpointID)
		}
		if a.AppName == nil || *a.AppName != "whoami" || a.Version == nil || *a.Version == "" || a.env("W9_ID") != a.ID {
			t.Errorf("%s: appName %v version %v W9_ID %q", a.ID, a.AppName, a.Version, a.env("W9_ID"))
		}
		if a.Variables["name"] != "whoami" {
			t.Errorf("%s: variables %v", a.ID, a.Variables)
		}
		if r := a.Repository; r == nil || !strings.HasSuffix(r.HTMLURL, "/"+a.ID) || !strings.HasSuffix(r.CloneURL, "/"+a.ID+".git") ||
			!strings.Contains(r.URL, "/api/v1/repos/") {
			t.Errorf("%s: repository %+v", a.ID, a.Repository)
		}
		domain := a.ID + ".example.com"
		if len(a.Proxies) != 1 || !slices.Equal(a.Proxies[0].Domains, []string{domain}) || a.Proxies[0].ForwardPort != 80 || !a.Proxies[0].Enabled {
			t.Errorf("%s: proxies %+v", a.ID, a.Proxies)
		}
		if !slices.Equal(a.Domains, []string{domain}) || a.DefaultDomain == nil || *a.DefaultDomain != domain {
			t.Errorf("%s: domains %v default %v", a.ID, a.Domains, a.DefaultDomain)
		}
		if a.Stack == nil || a.Stack.Git == nil || a.Stack.Git.ConfigHash == "" {
			t.Errorf("%s: stack %+v", a.ID, a.Stack)
		}
		if a.ID == "qtwo" {
			if len(a.Containers) != 0 || a.LastOperation == nil || a.LastOperation.Kind != "stop" {
				t.Errorf("qtwo: containers %+v last operation %+v", a.Containers, a.LastOperation)
			}
			continue
		}
		if len(a.Containers) != 1 || !a.Containers[0].Main || a.Containers[0].State != "running" ||
			len(a.Containers[0].Ports) == 0 || a.Containers[0].Ports[0].PrivatePort != 80 {
			t.Errorf("%s: containers %+v", a.ID, a.Containers)
		}
	}

	// Filters, pagination and app(id).
	nodes, _ = aqList(t, s, aqFullQuery, map[string]any{"filter": map[string]any{"status": []string{"INACTIVE"}}})
	if len(nodes) != 1 || nodes[0].ID != "qtwo" {
		t.Errorf("status filter: %+v", nodes)
	}
	nodes, _ = aqList(t, s, aqFullQuery, map[string]any{"filter": map[string]any{"appName": "nginx"}})
	if len(nodes) != 0 {
		t.Errorf("appName filter: %+v", nodes)
	}
	var seen []string
	var after any
	for range 5 {
		_, resp := s.gql(t, adminKey, `query($after: String) { apps(first: 2, after: $after) { totalCount pageInfo { hasNextPage endCursor } nodes { id } } }`,
			map[string]any{"after": after})
		var page struct {
			Apps struct {
				TotalCount int
				PageInfo   struct {
					HasNextPage bool
					EndCursor   string
				}
				Nodes []struct{ ID string }
			}
		}
		_ = json.Unmarshal(resp.Data, &page)
		if page.Apps.TotalCount != 3 {
			t.Fatalf("totalCount %d", page.Apps.TotalCount)
		}
		for _, n := range page.Apps.Nodes {
			seen = append(seen, n.ID)
		}
		if !page.Apps.PageInfo.HasNextPage {
			break
		}
		after = page.Apps.PageInfo.EndCursor
	}
	if !slices.Equal(seen, []string{"qone", "qthree", "qtwo"}) {
		t.Errorf("pages gave %v", seen)
	}
	_, resp = s.gql(t, adminKey, `{ apps(after: "garbage") { totalCount } }`, nil)
	if resp.code() != "VALIDATION_FAILED" {
		t.Errorf("bad cursor: %+v", resp.Errors)
	}
	_, resp = s.gql(t, adminKey, `{ a: app(id: "qone") { id status repository { htmlUrl } } b: app(id: "nosuch") { id } }`, nil)
	var one struct {
		A *struct {
			ID, Status string
			Repository struct{ HTMLURL string }
		}
		B *struct{ ID string }
	}
	_ = json.Unmarshal(resp.Data, &one)
	if len(resp.Errors) > 0 || one.A == nil || one.A.Status != "ACTIVE" || one.A.Repository.HTMLURL == "" || one.B != nil {
		t.Errorf("app(id): %s %+v", resp.Data, resp.Errors)
	}

	// operations(first:) is exact; first: 0 asks for none, as apps(first: 0) does.
	for first, want := range map[int]int{0: 0, 2: 2} {
		_, resp = s.gql(t, adminKey, `query($first: Int) { operations(first: $first) { id } }`, map[string]any{"first": first})
		var ops struct{ Operations []struct{ ID string } }
		_ = json.Unmarshal(resp.Data, &ops)
		if len(resp.Errors) > 0 || len(ops.Operations) != want {
			t.Errorf("operations(first: %d): %d operations, want %d (%+v)", first, len(ops.Operations), want, resp.Errors)
		}
	}
}

// aqCalls reads the upstream call counters from /metrics, by
// "upstream method route".
func aqCalls(t *testing.T, s *testServer) map[string]int {
	t.Helper()
	resp, err := http.Get(s.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]int{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, "appmanage_upstream_calls_total{")
		if !ok {
			continue
		}
		labels, value, _ := strings.Cut(rest, "} ")
		l := map[string]string{}
		for _, kv := range strings.Split(labels, ",") {
			k, v, _ := strings.Cut(kv, "=")
			l[k] = strings.Trim(v, `"`)
		}
		n, _ := strconv.ParseFloat(value, 64)
		out[l["upstream"]+" "+l["method"]+" "+l["route"]] += int(n)
	}
	return out
}

func aqDiff(before, after map[string]int) map[string]int {
	out := map[string]int{}
	for k, v := range after {
		if d := v - before[k]; d > 0 {
			out[k] = d
		}
	}
	return out
}

// aqQuery runs query and returns the upstream calls it made.
func aqQuery(t *testing.T, s *testServer, query string) (map[string]int, int) {
	t.Helper()
	before := aqCalls(t, s)
	_, resp := s.gql(t, adminKey, query, nil)
	if len(resp.Errors) > 0 {
		t.Fatalf("%s: %+v", query, resp.Errors)
	}
	var out struct {
		Apps struct{ Nodes []json.RawMessage }
	}
	_ = json.Unmarshal(resp.Data, &out)
	return aqDiff(before, aqCalls(t, s)), len(out.Apps.Nodes)
}

// The upstream calls of an apps query do not grow with the number of apps:
// the same with 10 and 200 apps once each app's own data (its main
// container's env, its variables.json at the deployed commit) is cached,
// and an id-only listing reads one stack list and nothing else.
func TestAppsQueryUpstreamCallsDoNotGrow(t *testing.T) {
	if testing.Short() {
		t.Skip("installs 200 apps")
	}
	s := startServer(t, "--workers", "16")
	const query = `{ apps { nodes { id status env { name value } proxies { domains } repository { htmlUrl } variables } } }`
	const idsOnly = `{ apps { nodes { id } } }`
	// waitTTL lets the short-TTL list cache expire, as between two polls of
	// the console.
	waitTTL := func() { time.Sleep(apps.DefaultListTTL + 200*time.Millisecond) }

	measure := func(n int) (cold, poll, ids map[string]int) {
		var count int
		cold, count = aqQuery(t, s, query)
		if count != n {
			t.Fatalf("listed %d apps, want %d", count, n)
		}
		waitTTL()
		poll, _ = aqQuery(t, s, query)
		waitTTL()
		ids, count = aqQuery(t, s, idsOnly)
		if count != n {
			t.Fatalf("id-only listing: %d apps, want %d", count, n)
		}
		return cold, poll, ids
	}
	ids := func(from, to int) []string {
		var out []string
		for i := from; i < to; i++ {
			out = append(out, fmt.Sprintf("cnt%03d", i))
		}
		return out
	}
	port := func(base int) func(int) int { return func(i int) int { return 10000 + base + i } }

	aqInstall(t, s, ids(0, 10), port(0), true)
	cold10, poll10, ids10 := measure(10)
	// 190 more: aqInstall submits them all, then waits (16 run at a time).
	aqInstall(t, s, ids(10, 200), port(10), true)
	cold200, poll200, ids200 := measure(200)
	t.Logf("cold  10: %v\ncold 200: %v\npoll  10: %v\npoll 200: %v\nids: %v", cold10, cold200, poll10, poll200, ids200)

	if !maps.Equal(poll10, poll200) {
		t.Errorf("a poll made other upstream calls with 200 apps than with 10:\n 10: %v\n200: %v", poll10, poll200)
	}
	// One container list per Docker endpoint of the sandbox (local and
	// agent), one Deployment list for its Kubernetes endpoint (none of
	// containers/json there); every other list once.
	dockerEndpoints := 0
	for _, ep := range sandbox.Endpoints {
		if portainer.KindOf(ep.Type).Docker() {
			dockerEndpoints++
		}
	}
	const containerList = "portainer GET /endpoints/{id}/docker/containers/json"
	for k, v := range poll200 {
		if want := map[bool]int{true: dockerEndpoints, false: 1}[k == containerList]; v != want {
			t.Errorf("poll: %s called %d times, want %d", k, v, want)
		}
		if strings.HasPrefix(k, "gitea ") || strings.Contains(k, "{cid}") {
			t.Errorf("poll with warm per-app caches called %s", k)
		}
	}
	for _, k := range []string{"portainer GET /stacks", containerList, "npm GET /nginx/proxy-hosts"} {
		if want := map[bool]int{true: dockerEndpoints, false: 1}[k == containerList]; poll200[k] != want {
			t.Errorf("poll: %s called %d times, want %d", k, poll200[k], want)
		}
	}
	// On a cold cache only the per-app reads differ: one inspect and one
	// variables.json per app not seen before, the lists once each.
	for k, v := range cold200 {
		switch {
		case strings.Contains(k, "{cid}"), strings.Contains(k, "/raw/"):
			if v > 190 {
				t.Errorf("cold: %s called %d times for 190 new apps", k, v)
			}
		case v != cold10[k] && v != 1:
			t.Errorf("cold: %s called %d times (%d with 10 apps)", k, v, cold10[k])
		}
	}
	// Acceptance 6 (issue 11): selecting drift adds no upstream call to a
	// poll. Its first read costs each app's branch head (one Gitea call per
	// app per new head) and its files at that commit (once per commit);
	// then the head is kept until an operation, a push or the reconciler
	// says it moved, so a steady poll asks Gitea nothing.
	const driftQuery = `{ apps { nodes { id status env { name value } proxies { domains } repository { htmlUrl } variables drift { kind message repairable } } } }`
	waitTTL()
	coldDrift, n := aqQuery(t, s, driftQuery)
	if n != 200 {
		t.Fatalf("drift query listed %d apps", n)
	}
	for k, v := range coldDrift {
		if strings.HasPrefix(k, "gitea ") && v > 4*200 {
			t.Errorf("cold drift: %s called %d times for 200 apps", k, v)
		}
	}
	waitTTL()
	pollDrift, _ := aqQuery(t, s, driftQuery)
	waitTTL()
	pollPlain, _ := aqQuery(t, s, query)
	t.Logf("cold drift: %v\npoll with drift: %v\npoll without: %v", coldDrift, pollDrift, pollPlain)
	if !maps.Equal(pollDrift, pollPlain) {
		t.Errorf("a poll with drift made other upstream calls than one without:\n with: %v\nwithout: %v", pollDrift, pollPlain)
	}
	var driftOut struct {
		Apps struct {
			Nodes []struct {
				ID    string
				Drift []struct{ Kind string }
			}
		}
	}
	_, dresp := s.gql(t, adminKey, `{ apps { nodes { id drift { kind } } } }`, nil)
	_ = json.Unmarshal(dresp.Data, &driftOut)
	for _, a := range driftOut.Apps.Nodes {
		if len(a.Drift) != 0 {
			t.Errorf("%s: drift %+v right after its install", a.ID, a.Drift)
		}
	}

	// A query that reads nothing from NPM does not list proxy hosts (the
	// proxy list is prefetched only when proxies or domains are selected).
	waitTTL()
	noProxies, _ := aqQuery(t, s, `{ apps { nodes { id status env { name value } } } }`)
	for k := range noProxies {
		if strings.HasPrefix(k, "npm ") {
			t.Errorf("a query without proxies or domains called %s", k)
		}
	}
	for name, got := range map[string]map[string]int{"10": ids10, "200": ids200} {
		if !maps.Equal(got, map[string]int{"portainer GET /stacks": 1}) {
			t.Errorf("id-only listing with %s apps called %v, want the stack list only", name, got)
		}
	}
	// Where each proxy's port and configuration come from is read once per
	// app and commit, then a poll costs the lists alone.
	const sourcesQuery = `{ apps { nodes { id proxies { portSource confSource } } } }`
	waitTTL()
	if _, n := aqQuery(t, s, sourcesQuery); n != 200 {
		t.Fatalf("sources query listed %d apps", n)
	}
	waitTTL()
	sources, _ := aqQuery(t, s, sourcesQuery)
	want := map[string]int{"portainer GET /stacks": 1, "portainer GET /endpoints": 1,
		containerList: dockerEndpoints, "npm GET /nginx/proxy-hosts": 1,
		"portainer GET /endpoints/{id}/kubernetes/apis/apps/v1/deployments": len(sandbox.Endpoints) - dockerEndpoints}
	if !maps.Equal(sources, want) {
		t.Errorf("a poll of proxy sources for 200 apps called %v, want %v", sources, want)
	}

	// Polls got unchanged lists back: /metrics says they were reused, not
	// decoded again.
	for _, up := range []string{"portainer", "npm"} {
		if n := aqMetric(t, s, `appmanage_upstream_list_answers_reused_total{upstream="`+up+`"}`); n < 1 {
			t.Errorf("%s: %v list answers reused, want some", up, n)
		}
	}
}

// aqMetric reads one sample from /metrics (-1 when it is missing).
func aqMetric(t *testing.T, s *testServer, name string) float64 {
	t.Helper()
	resp, err := http.Get(s.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			n, _ := strconv.ParseFloat(v, 64)
			return n
		}
	}
	return -1
}
