package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// upgradeLibraryDir writes a library of one app with two versions (the
// image tag is the version).
func upgradeLibraryDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "apps")
	files := map[string]string{
		"twover/.env": "W9_REPO=traefik/whoami\nW9_DIST=community\nW9_VERSION=v1.10.3\nW9_HTTP_PORT_SET=9481\n" +
			"W9_ID=twover\nW9_HTTP_PORT=80\nW9_URL=localhost:9481\nW9_NETWORK=websoft9\n",
		"twover/docker-compose.yml": `services:
  whoami:
    image: $W9_REPO:$W9_VERSION
    container_name: $W9_ID
    env_file: .env
    command: --name $W9_ID
    ports:
      - $W9_HTTP_PORT_SET:80
    labels:
      com.docker.compose.http.port: "80"
networks:
  default:
    name: $W9_NETWORK
    external: true
`,
		"twover/variables.json": `{"name":"twover","trademark":"Two versions","edition":[{"dist":"community","version":["v1.11.0","v1.10.3","latest"]}]}`,
	}
	for p, c := range files {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, p), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// Issue 11, upgradeApp over GraphQL on the sandbox: App.updates, a refused
// version, then an upgrade whose events carry the pull's byte counts and
// whose health gate asks the app's domain through the sandbox's model of
// NPM's nginx.
func TestUpgradeAppOverGraphQL(t *testing.T) {
	s := startServer(t, "--library-dir", upgradeLibraryDir(t))
	_, resp := s.gql(t, adminKey, `mutation { installApp(input: {appName: "twover", appId: "upg1", domains: ["upg1.example.com"]}) { id } }`, nil)
	var inst struct{ InstallApp struct{ ID string } }
	_ = json.Unmarshal(resp.Data, &inst)
	if len(resp.Errors) > 0 || waitTerminal(t, s, inst.InstallApp.ID) != "SUCCEEDED" {
		t.Fatalf("install: %+v", resp.Errors)
	}
	type app struct {
		App struct {
			Version    string
			Updates    []string
			Containers []struct{ Image, State string }
		}
	}
	read := func() app {
		t.Helper()
		_, resp := s.gql(t, adminKey, `{ app(id: "upg1") { version updates containers { image state } } }`, nil)
		if len(resp.Errors) > 0 {
			t.Fatalf("app: %+v", resp.Errors)
		}
		var a app
		_ = json.Unmarshal(resp.Data, &a)
		return a
	}
	if a := read(); a.App.Version != "v1.10.3" || strings.Join(a.App.Updates, ",") != "v1.11.0" {
		t.Fatalf("before the upgrade: %+v", a)
	}

	_, resp = s.gql(t, adminKey, `mutation { upgradeApp(id: "upg1", version: "v9") { id } }`, nil)
	if resp.code() != "VALIDATION_FAILED" || !strings.Contains(resp.Errors[0].Message, "listed: v1.11.0, v1.10.3, latest") {
		t.Fatalf("unlisted version: %+v", resp.Errors)
	}

	_, resp = s.gql(t, adminKey, `mutation { upgradeApp(id: "upg1", version: "v1.11.0", healthTimeout: 20) { id kind } }`, nil)
	var up struct{ UpgradeApp struct{ ID, Kind string } }
	_ = json.Unmarshal(resp.Data, &up)
	if len(resp.Errors) > 0 || up.UpgradeApp.Kind != "upgrade" {
		t.Fatalf("upgradeApp: %+v", resp.Errors)
	}
	if st := waitTerminal(t, s, up.UpgradeApp.ID); st != "SUCCEEDED" {
		_, resp := s.gql(t, adminKey, `query($id: ID!) { operation(id: $id) { error } }`, map[string]any{"id": up.UpgradeApp.ID})
		t.Fatalf("upgrade: %s %s", st, resp.Data)
	}
	if a := read(); a.App.Version != "v1.11.0" || len(a.App.Updates) != 0 || len(a.App.Containers) != 1 ||
		a.App.Containers[0].Image != "traefik/whoami:v1.11.0" || a.App.Containers[0].State != "running" {
		t.Fatalf("after the upgrade: %+v", a)
	}

	_, resp = s.gql(t, adminKey, `query($id: ID!) { operation(id: $id) { events { step message pull { image layer status current total } } } }`,
		map[string]any{"id": up.UpgradeApp.ID})
	var evs struct {
		Operation struct {
			Events []struct {
				Step    *string
				Message string
				Pull    *struct {
					Image, Status  string
					Layer          *string
					Current, Total *int
				}
			}
		}
	}
	_ = json.Unmarshal(resp.Data, &evs)
	last := map[string]int{}
	grew, probed := false, false
	for _, ev := range evs.Operation.Events {
		probed = probed || strings.Contains(ev.Message, "health gate passed")
		if strings.Contains(ev.Message, "no HTTP probe") || strings.Contains(ev.Message, "no enabled domain") {
			t.Errorf("the gate did not ask the domain through the sandbox's NPM: %s", ev.Message)
		}
		p := ev.Pull
		if p == nil || p.Layer == nil || p.Current == nil || p.Status != "Downloading" {
			continue
		}
		if p.Image != "traefik/whoami:v1.11.0" || p.Total == nil || *p.Current > *p.Total {
			t.Errorf("pull event %+v", *p)
		}
		if prev, ok := last[*p.Layer]; ok && *p.Current > prev {
			grew = true
		}
		last[*p.Layer] = *p.Current
	}
	if !grew || !probed {
		t.Fatalf("events: pull byte counts grew %v, gate passed %v: %+v", grew, probed, resp.Errors)
	}
}
