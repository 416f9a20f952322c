package portainer_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/appmanage/appmanage/datasources/contract"
	"github.com/appmanage/appmanage/datasources/portainer"
	"github.com/appmanage/appmanage/datasources/suite"
)

// TestLibrarySamples deploys the app folders of shared/library-samples as
// our installer would (every file in one repository), so the fake must cope
// with real compose files: env_file: .env, external networks, relative bind
// mounts, container_name from .env.
func TestLibrarySamples(t *testing.T) {
	suite.FakeOnly(t)
	root := filepath.Join(filepath.Dir(contract.SpecPath("x")), "..", "library-samples")
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Skipf("library samples not found: %v", err)
	}
	cfg, tgt := suite.Portainer(t)
	c := newClient(t, cfg)
	ctx := ctxT(t)
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		dir := filepath.Join(root, e.Name())
		files := map[string]string{}
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(dir, p)
			files[filepath.ToSlash(rel)] = string(b)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Run(e.Name(), func(t *testing.T) {
			src := newGitSource(t, e.Name(), files)
			st, err := c.CreateStackFromRepository(ctx, tgt.EndpointID, src.request(e.Name()))
			if err != nil {
				t.Fatalf("deploy %s: %v", e.Name(), err)
			}
			cs, err := c.ListContainers(ctx, tgt.EndpointID, portainer.ContainerFilter{All: true, Labels: []string{"com.docker.compose.project=" + st.Name}})
			if err != nil || len(cs) == 0 {
				t.Fatalf("containers = %v, %v", cs, err)
			}
			for _, ct := range cs {
				if strings.Contains(ct.Image, "$") || strings.Contains(ct.Name(), "$") {
					t.Fatalf("uninterpolated container %s image %s", ct.Name(), ct.Image)
				}
				insp, err := c.InspectContainer(ctx, tgt.EndpointID, ct.ID)
				if err != nil {
					t.Fatal(err)
				}
				for _, m := range insp.Mounts {
					if m.Type == "bind" && strings.HasPrefix(m.Source, os.TempDir()) {
						t.Fatalf("bind mount points at the fake's temp dir: %+v", m)
					}
				}
			}
			if e.Name() == "wordpress" {
				wp := containerByName(t, cs, "wordpress") // container_name: $W9_ID
				if got := publicPorts(wp); len(got) != 1 || got[0] != 9001 {
					t.Fatalf("wordpress ports = %+v", wp.Ports)
				}
				if _, ok := wp.NetworkSettings.Networks["websoft9"]; !ok {
					t.Fatalf("wordpress networks = %v, want the external websoft9", wp.NetworkSettings.Networks)
				}
				insp, err := c.InspectContainer(ctx, tgt.EndpointID, wp.ID)
				if err != nil || insp.EnvMap()["WORDPRESS_DB_HOST"] != "wordpress-mysql" {
					t.Fatalf("env_file interpolation: WORDPRESS_DB_HOST = %q, %v", insp.EnvMap()["WORDPRESS_DB_HOST"], err)
				}
			}
			if err := c.DeleteStack(ctx, st.ID, st.EndpointID); err != nil {
				t.Fatal(err)
			}
		})
	}
}
