package apps

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/appmanage/appmanage/datasources/gitea"
	portainerfake "github.com/appmanage/appmanage/datasources/portainer/fake"
	"github.com/appmanage/appmanage/datasources/proxymanager"
	"github.com/appmanage/appmanage/ops"
)

func orphanNames(list []Orphan) []string {
	out := make([]string, 0, len(list))
	for _, o := range list {
		out = append(out, string(o.Kind)+" "+o.Name)
	}
	slices.Sort(out)
	return out
}

// Acceptance 5: sweepOrphans(dryRun) lists an orphan repository, proxy host
// and volume without touching them; without dryRun it removes exactly
// those, and nothing of a live app or of resources appmanage never made.
func TestSweepOrphans(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	driftApp(t, e, "live", "9401")
	e.Portainer.AddVolume(1, "live_data", map[string]string{projectLabel: "live"})
	if op := e.install(InstallRequest{AppName: "whoami", AppID: "orph", Settings: []EnvSetting{{Name: "W9_HTTP_PORT_SET", Value: "9402"}}}); op.Status != ops.StatusSucceeded {
		t.Fatalf("install orph: %s %s", op.Status, op.Error)
	}
	op, err := e.Svc.Uninstall(ctx, "orph", false, "")
	if err != nil {
		t.Fatal(err)
	}
	if d := e.wait(op); d.Status != ops.StatusSucceeded {
		t.Fatalf("uninstall: %s %s", d.Status, d.Error)
	}

	// Leftovers of orph, made behind appmanage's back.
	if _, err := e.Repos.CreateRepo(ctx, "orph", gitea.CreateRepoOptions{Description: "whoami v1.10.3 installed by appmanage"}); err != nil {
		t.Fatal(err)
	}
	// (A container named orph runs while the host is created, as NPM
	// needs its forward host to resolve.)
	cids, err := e.Portainer.AddContainers(1, "scratch", portainerfake.Container{Name: "orph", Image: "nginx:1", State: "running"})
	if err != nil {
		t.Fatal(err)
	}
	h, err := e.Proxies.CreateProxyHost(ctx, proxymanager.ProxyHostRequest{DomainNames: []string{"orph.example.com"}, ForwardScheme: "http", ForwardHost: "orph", ForwardPort: 80})
	if err != nil {
		t.Fatal(err)
	}
	e.Portainer.RemoveContainer(1, cids[0])
	e.Portainer.AddVolume(1, "orph_data", map[string]string{projectLabel: "orph"})

	// Resources appmanage never made: never orphans.
	if _, err := e.Repos.CreateRepo(ctx, "notes", gitea.CreateRepoOptions{Description: "my notes"}); err != nil {
		t.Fatal(err)
	}
	e.Portainer.AddVolume(1, "other_data", map[string]string{projectLabel: "other"})

	want := []string{"PROXY_HOST orph.example.com", "REPOSITORY orph", "VOLUME orph_data"}
	list, err := e.Svc.Orphans(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := orphanNames(list); !slices.Equal(got, want) {
		t.Fatalf("orphans %v, want %v", got, want)
	}
	for _, o := range list {
		if o.App != "orph" || o.Reason == "" || o.Removed {
			t.Errorf("orphan %+v", o)
		}
	}

	snapshot := func() []string {
		var out []string
		out = append(out, e.Gitea.RepoNames()...)
		for _, v := range e.Portainer.Volumes(1) {
			out = append(out, "volume "+v.Name)
		}
		for _, h := range e.NPM.Hosts() {
			out = append(out, "host "+strings.Join(h.DomainNames, ","))
		}
		slices.Sort(out)
		return out
	}
	before := snapshot()
	dry, err := e.Svc.SweepOrphans(ctx, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	if got := orphanNames(dry); !slices.Equal(got, want) || slices.ContainsFunc(dry, func(o Orphan) bool { return o.Removed }) {
		t.Fatalf("dry run %+v, want %v none removed", dry, want)
	}
	if after := snapshot(); !slices.Equal(after, before) {
		t.Fatalf("a dry run changed the upstreams:\nbefore %v\nafter  %v", before, after)
	}
	if _, err := e.Svc.SweepOrphans(ctx, []OrphanKind{"BOGUS"}, true); err == nil {
		t.Error("an unknown kind was accepted")
	}
	vols, err := e.Svc.SweepOrphans(ctx, []OrphanKind{OrphanVolume}, true)
	if err != nil || !slices.Equal(orphanNames(vols), []string{"VOLUME orph_data"}) {
		t.Fatalf("volumes only: %+v %v", vols, err)
	}

	swept, err := e.Svc.SweepOrphans(ctx, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	if got := orphanNames(swept); !slices.Equal(got, want) || slices.ContainsFunc(swept, func(o Orphan) bool { return !o.Removed }) {
		t.Fatalf("sweep %+v, want %v all removed", swept, want)
	}
	var gone []string
	after := snapshot()
	for _, b := range before {
		if !slices.Contains(after, b) {
			gone = append(gone, b)
		}
	}
	wantGone := []string{e.Owner + "/orph", "host orph.example.com", "volume orph_data"}
	slices.Sort(wantGone)
	if !slices.Equal(gone, wantGone) || len(after) != len(before)-3 {
		t.Fatalf("the sweep removed %v, want exactly %v (after: %v)", gone, wantGone, after)
	}
	if _, err := e.Proxies.GetProxyHost(ctx, h.ID); !notFound(err) {
		t.Errorf("orphan host %d still there: %v", h.ID, err)
	}
	if !e.complete("live", true) {
		t.Errorf("the live app lost something: %v", e.leftovers("live"))
	}
	if list, err := e.Svc.Orphans(ctx); err != nil || len(list) != 0 {
		t.Errorf("orphans after the sweep: %+v %v", list, err)
	}
}
