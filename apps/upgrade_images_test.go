package apps

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote"

	portainerfake "github.com/appmanage/appmanage/datasources/portainer/fake"
	"github.com/appmanage/appmanage/ops"
)

// The upgrade preflight judges the new version's images as the install's
// does (checkImages and its rule): on the endpoint or served by a
// registry, else refused before anything is pulled or committed. An image
// only a mirror serves is refused too (the upgrade commits only the .env).
func TestUpgradePreflightChecksImagesAsTheInstall(t *testing.T) {
	for _, c := range []struct {
		name     string
		hub      []string // what docker.io serves besides the old version
		mirror   []string // what the mirror serves (no mirror when nil)
		status   ops.Status
		want     []string // in the operation's error
		wantPull bool
	}{
		{name: "the new image is served", hub: []string{"traefik/whoami:" + upNew}, status: ops.StatusSucceeded, wantPull: true},
		{name: "no registry serves the new image", status: ops.StatusRolledBack,
			want: []string{"image " + upImage + upNew + " (service whoami; endpoint 1 does not have it; tried index.docker.io/traefik/whoami:" + upNew + ": not found (404))",
				"can neither be found on the endpoint nor pulled from a registry"}},
		{name: "only a mirror serves it", mirror: []string{"traefik/whoami:" + upNew}, status: ops.StatusRolledBack,
			want: []string{"images served only by a mirror (service whoami: ", "/traefik/whoami:" + upNew + ")", "an upgrade commits only the .env"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			hub := newTestRegistry(t, append([]string{"traefik/whoami:" + upOld}, c.hub...)...)
			tr := hubTransport{hub: hub.host}
			mirrors := ""
			if c.mirror != nil {
				mirrors = "docker.io=" + newTestRegistry(t, c.mirror...).host
			}
			reg, err := NewRegistries(RegistriesConfig{Mirrors: mirrors, Transport: tr, Timeout: 2 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			e := newEnv(t, withLibrary(upgradeLibrary(t, "")), withRegistries(reg), withPortainer(func(o *portainerfake.Options) {
				o.Pullable = portainerfake.RegistryPullable(remote.WithTransport(tr))
			}))
			upInstall(t, e, "tw1", "")
			before := upSnapshot(e, "tw1")
			pulls := e.Portainer.Faults.Calls(ptrPullImage)
			op, err := e.Svc.UpgradeApp(t.Context(), UpgradeRequest{AppID: "tw1", Version: upNew})
			if err != nil {
				t.Fatal(err)
			}
			op = e.wait(op)
			if op.Status != c.status {
				t.Fatalf("%s %q; want %s", op.Status, op.Error, c.status)
			}
			for _, w := range c.want {
				if !strings.Contains(op.Error, w) {
					t.Errorf("error %q lacks %q", op.Error, w)
				}
			}
			if pulled := e.Portainer.Faults.Calls(ptrPullImage) > pulls; pulled != c.wantPull {
				t.Errorf("pulled: %v, want %v", pulled, c.wantPull)
			}
			wantImg := upImage + upOld
			if c.status == ops.StatusSucceeded {
				wantImg = upImage + upNew
			} else if after := upSnapshot(e, "tw1"); after.commits != before.commits {
				t.Errorf("a refused upgrade wrote %d commits", after.commits-before.commits)
			}
			if imgs, ok := upImages(e, "tw1"); !ok || !slices.Equal(imgs, []string{wantImg}) {
				t.Errorf("the app runs %q (all running: %v), want %s", imgs, ok, wantImg)
			}
		})
	}
}
