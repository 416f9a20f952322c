package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/appmanage/appmanage/apps"
	giteafake "github.com/appmanage/appmanage/datasources/gitea/fake"
	portainerfake "github.com/appmanage/appmanage/datasources/portainer/fake"
	"github.com/appmanage/appmanage/datasources/proxymanager"
	npmfake "github.com/appmanage/appmanage/datasources/proxymanager/fake"
)

// driftServer starts appmanage against fakes the test holds, so it can
// change them behind appmanage's back.
func driftServer(t *testing.T) (*testServer, *portainerfake.Server, *proxymanager.Client) {
	t.Helper()
	g := giteafake.New(giteafake.Options{})
	p := portainerfake.New(portainerfake.Options{APIKeys: []string{"ptr_drift"}})
	n := npmfake.New(npmfake.Options{})
	t.Cleanup(func() { g.Close(); p.Close(); n.Close() })
	// The endpoint already has the embedded whoami's image, so the install's
	// image check is answered by the fake (no registry is asked: tests never
	// reach out of the machine).
	if err := p.AddImage(1, "traefik/whoami:v1.10.3"); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, "--gitea-url", g.URL(), "--gitea-token", g.Token(giteafake.AdminUser), "--gitea-owner", giteafake.AdminUser,
		"--portainer-url", p.URL(), "--portainer-api-key", "ptr_drift", "--npm-url", n.URL(), "--npm-email", n.Email(), "--npm-password", n.Password())
	nc, err := proxymanager.New(proxymanager.Config{URL: n.URL(), Email: n.Email(), Password: n.Password()})
	if err != nil {
		t.Fatal(err)
	}
	return s, p, nc
}

type gqDrift struct {
	Status  string
	Domains []string
	Drift   []struct {
		Kind       string
		Message    string
		Repairable bool
	}
}

func gqApp(t *testing.T, s *testServer, id string) gqDrift {
	t.Helper()
	time.Sleep(apps.DefaultListTTL + 200*time.Millisecond) // the lists a poll reuses expire
	_, resp := s.gql(t, adminKey, `query($id: ID!) { app(id: $id) { status domains drift { kind message repairable } } }`, map[string]any{"id": id})
	if len(resp.Errors) > 0 {
		t.Fatalf("app: %+v", resp.Errors)
	}
	var out struct{ App gqDrift }
	_ = json.Unmarshal(resp.Data, &out)
	return out.App
}

// Drift, repairApp, orphans, sweepOrphans, health.drift and the drift
// metrics over GraphQL and HTTP.
func TestDriftRepairAndOrphansOverGraphQL(t *testing.T) {
	s, pt, npm := driftServer(t)
	ctx := context.Background()
	aqInstall(t, s, []string{"gqdrift"}, func(int) int { return 9601 }, true)
	before := gqApp(t, s, "gqdrift")
	if before.Status != "ACTIVE" || len(before.Drift) != 0 || !slices.Equal(before.Domains, []string{"gqdrift.example.com"}) {
		t.Fatalf("fresh install: %+v", before)
	}

	for _, c := range pt.Containers(1) {
		if c.Name == "gqdrift" {
			pt.SetContainerState(1, c.ID, "exited", 1)
		}
	}
	hosts, err := npm.ListProxyHosts(ctx)
	if err != nil || len(hosts) != 1 {
		t.Fatalf("hosts %+v %v", hosts, err)
	}
	if err := npm.DeleteProxyHost(ctx, hosts[0].ID); err != nil {
		t.Fatal(err)
	}
	broken := gqApp(t, s, "gqdrift")
	var kinds []string
	for _, d := range broken.Drift {
		kinds = append(kinds, d.Kind)
		if !d.Repairable || d.Message == "" {
			t.Errorf("issue %+v", d)
		}
	}
	if !slices.Contains(kinds, "CONTAINERS_DOWN") || !slices.Contains(kinds, "PROXY_MISSING") {
		t.Fatalf("drift %+v", broken.Drift)
	}

	_, resp := s.gql(t, adminKey, `mutation { repairApp(id: "gqdrift") { id kind } }`, nil)
	var rep struct{ RepairApp struct{ ID, Kind string } }
	_ = json.Unmarshal(resp.Data, &rep)
	if len(resp.Errors) > 0 || rep.RepairApp.Kind != apps.KindRepair {
		t.Fatalf("repairApp: %s %+v", resp.Data, resp.Errors)
	}
	if st := waitTerminal(t, s, rep.RepairApp.ID); st != "SUCCEEDED" {
		t.Fatalf("repair: %s", st)
	}
	after := gqApp(t, s, "gqdrift")
	if after.Status != "ACTIVE" || len(after.Drift) != 0 || !slices.Equal(after.Domains, before.Domains) {
		t.Fatalf("after repair: %+v", after)
	}
	_, resp = s.gql(t, adminKey, `mutation { repairApp(id: "nosuch") { id } }`, nil)
	if resp.code() != "NOT_FOUND" {
		t.Errorf("repair of an unknown app: %+v", resp.Errors)
	}

	// An orphan volume of an app uninstalled without purgeData.
	aqInstall(t, s, []string{"gqgone"}, func(int) int { return 9602 }, false)
	_, resp = s.gql(t, adminKey, `mutation { uninstallApp(id: "gqgone") { id } }`, nil)
	var un struct{ UninstallApp struct{ ID string } }
	_ = json.Unmarshal(resp.Data, &un)
	if st := waitTerminal(t, s, un.UninstallApp.ID); st != "SUCCEEDED" {
		t.Fatalf("uninstall: %s %+v", st, resp.Errors)
	}
	pt.AddVolume(1, "gqgone_data", map[string]string{"com.docker.compose.project": "gqgone"})
	_, resp = s.gql(t, adminKey, `{ orphans { kind name app reason removed } }`, nil)
	if len(resp.Errors) > 0 || !strings.Contains(string(resp.Data), `"name":"gqgone_data"`) || strings.Count(string(resp.Data), `"kind"`) != 1 {
		t.Fatalf("orphans: %s %+v", resp.Data, resp.Errors)
	}
	_, resp = s.gql(t, adminKey, `mutation { createApiKey(name: "ops", scope: "write") { key } }`, nil)
	var ck struct {
		CreateAPIKey struct{ Key string } `json:"createApiKey"`
	}
	_ = json.Unmarshal(resp.Data, &ck)
	if _, resp := s.gql(t, ck.CreateAPIKey.Key, `mutation { sweepOrphans(dryRun: true) { name } }`, nil); resp.code() != "FORBIDDEN" {
		t.Errorf("sweepOrphans with a write key: %+v", resp.Errors)
	}
	_, resp = s.gql(t, adminKey, `mutation { sweepOrphans(kinds: [VOLUME]) { kind name removed } }`, nil)
	if len(resp.Errors) > 0 || !strings.Contains(string(resp.Data), `"removed":true`) {
		t.Fatalf("sweepOrphans: %s %+v", resp.Data, resp.Errors)
	}
	if slices.ContainsFunc(pt.Volumes(1), func(v portainerfake.Volume) bool { return v.Name == "gqgone_data" }) {
		t.Error("the orphan volume is still there")
	}

	// health and /metrics carry the reconciler's counts (every kind).
	_, resp = s.gql(t, adminKey, `{ health { drift { apps drifting intervalSeconds autoRepair issues { kind count } } } }`, nil)
	var h struct {
		Health struct {
			Drift struct {
				IntervalSeconds int
				Issues          []struct {
					Kind  string
					Count int
				}
			}
		}
	}
	_ = json.Unmarshal(resp.Data, &h)
	if len(resp.Errors) > 0 || h.Health.Drift.IntervalSeconds != 300 || len(h.Health.Drift.Issues) != len(apps.DriftKinds) {
		t.Errorf("health.drift: %s %+v", resp.Data, resp.Errors)
	}
	mresp, err := http.Get(s.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(mresp.Body)
	mresp.Body.Close()
	for _, k := range apps.DriftKinds {
		if !strings.Contains(string(b), `appmanage_drift_issues{kind="`+string(k)+`"} 0`) {
			t.Errorf("/metrics lacks appmanage_drift_issues for %s", k)
		}
	}

	// The reconciler server.go runs: with a short interval, its pass
	// counts the drift appmanage did not cause, in health and /metrics.
	for _, c := range pt.Containers(1) {
		if c.Name == "gqdrift" {
			pt.SetContainerState(1, c.ID, "exited", 1)
		}
	}
	if _, resp := s.gql(t, adminKey, `mutation { updateSettings(input: [{key: "reconcileInterval", value: "10s"}]) { key } }`, nil); len(resp.Errors) > 0 {
		t.Fatalf("updateSettings: %+v", resp.Errors)
	}
	deadline := time.Now().Add(40 * time.Second)
	for {
		_, resp = s.gql(t, adminKey, `{ health { drift { checkedAt drifting issues { kind count } } } }`, nil)
		if strings.Contains(string(resp.Data), `{"kind":"CONTAINERS_DOWN","count":1}`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no reconciler pass counted the exited container: %s", resp.Data)
		}
		time.Sleep(time.Second)
	}
	mresp, err = http.Get(s.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(mresp.Body)
	mresp.Body.Close()
	if !strings.Contains(string(b), `appmanage_drift_issues{kind="CONTAINERS_DOWN"} 1`) {
		t.Errorf("/metrics after the pass lacks appmanage_drift_issues{kind=\"CONTAINERS_DOWN\"} 1")
	}
}
