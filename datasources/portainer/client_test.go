package portainer_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/appmanage/appmanage/datasources/portainer"
	"github.com/appmanage/appmanage/datasources/portainer/fake"
	"github.com/appmanage/appmanage/datasources/suite"
	"github.com/appmanage/appmanage/datasources/upstream"
)

func TestNewValidatesConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  portainer.Config
		ok   bool
	}{
		{"api key", portainer.Config{URL: "http://p:9000", APIKey: "ptr_x"}, true},
		{"user and password", portainer.Config{URL: "https://p:9443/", Username: "a", Password: "b"}, true},
		{"no credentials", portainer.Config{URL: "http://p:9000"}, false},
		{"password missing", portainer.Config{URL: "http://p:9000", Username: "a"}, false},
		{"no scheme", portainer.Config{URL: "p:9000", APIKey: "k"}, false},
		{"empty URL", portainer.Config{APIKey: "k"}, false},
		{"bad scheme with userinfo", portainer.Config{URL: "htps://admin:s3cr3t-pw@p:9443", APIKey: "k"}, false},
		{"unparsable with userinfo", portainer.Config{URL: "http://admin:s3cr3t-pw@p:9443/%zz", APIKey: "k"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := portainer.New(tc.cfg)
			// The config is not printed: it holds credentials.
			if (err == nil) != tc.ok {
				t.Fatalf("New error = %v, want ok=%v", err, tc.ok)
			}
			if err != nil && strings.Contains(err.Error(), "s3cr3t-pw") {
				t.Fatalf("New error repeats the URL's password: %v", err)
			}
		})
	}
}

func TestSystemStatusAndEndpoints(t *testing.T) {
	cfg, tgt := suite.Portainer(t)
	c := newClient(t, cfg)
	ctx := ctxT(t)

	st, err := c.SystemStatus(ctx)
	if err != nil {
		t.Fatalf("SystemStatus: %v", err)
	}
	if st.Version == "" || st.InstanceID == "" {
		t.Fatalf("SystemStatus = %+v, want version and instance id", st)
	}
	eps, err := c.ListEndpoints(ctx)
	if err != nil {
		t.Fatalf("ListEndpoints: %v", err)
	}
	i := slices.IndexFunc(eps, func(e portainer.Endpoint) bool { return e.ID == tgt.EndpointID })
	if i < 0 {
		t.Fatalf("ListEndpoints = %+v, want endpoint %d", eps, tgt.EndpointID)
	}
	ep, err := c.GetEndpoint(ctx, tgt.EndpointID)
	if err != nil {
		t.Fatalf("GetEndpoint: %v", err)
	}
	if ep.Name != eps[i].Name || ep.Status != portainer.EndpointStatusUp || ep.Type == 0 {
		t.Fatalf("GetEndpoint = %+v, want %+v and up", ep, eps[i])
	}
	if tgt.Fake != nil && (ep.Name != "local" || ep.Type != 1 || ep.URL != "unix:///var/run/docker.sock") {
		t.Fatalf("fake default endpoint = %+v", ep)
	}
	_, err = c.GetEndpoint(ctx, 987654)
	if !errors.Is(err, portainer.ErrNotFound) {
		t.Fatalf("GetEndpoint(unknown) error = %v, want ErrNotFound", err)
	}
}

func TestStringStackLifecycle(t *testing.T) {
	cfg, tgt := suite.Portainer(t)
	c := newClient(t, cfg)
	ctx := ctxT(t)
	name := suite.Prefix(t)
	tgt.Cleanup(t, c, name)
	compose := "services:\n  app:\n    image: " + tgt.Image(t) + "\n    command: [\"sleep\", \"infinity\"]\n    environment:\n      MODE: ${MODE}\n"

	// A name Portainer must normalize: upper case and a dot.
	given := strings.ToUpper(name) + "."
	st, err := c.CreateStackFromString(ctx, tgt.EndpointID, portainer.CreateStringStackRequest{
		Name: given, StackFileContent: compose, Env: []portainer.EnvVar{{Name: "MODE", Value: "one"}},
	})
	if err != nil {
		t.Fatalf("CreateStackFromString: %v", err)
	}
	if st.Name != name || st.Type != portainer.StackTypeCompose || st.Status != portainer.StackStatusActive ||
		st.EndpointID != tgt.EndpointID || st.GitConfig != nil || st.CreationDate == 0 {
		t.Fatalf("created stack = %+v", st)
	}
	if !slices.Equal(st.Env, []portainer.EnvVar{{Name: "MODE", Value: "one"}}) {
		t.Fatalf("Env = %+v", st.Env)
	}

	// Same normalized name again: 409.
	_, err = c.CreateStackFromString(ctx, tgt.EndpointID, portainer.CreateStringStackRequest{Name: name, StackFileContent: compose})
	if !errors.Is(err, portainer.ErrConflict) || !strings.Contains(err.Error(), "A stack with the normalized name '"+name+"' already exists") {
		t.Fatalf("duplicate create error = %v, want 409 normalized-name conflict", err)
	}

	got, err := c.GetStack(ctx, st.ID)
	if err != nil || got.Name != name {
		t.Fatalf("GetStack = %+v, %v", got, err)
	}
	found, err := c.FindStackByName(ctx, tgt.EndpointID, given)
	if err != nil || found.ID != st.ID {
		t.Fatalf("FindStackByName(%q) = %+v, %v", given, found, err)
	}
	all, err := c.ListStacks(ctx, 0)
	if err != nil || !slices.ContainsFunc(all, func(s portainer.Stack) bool { return s.ID == st.ID }) {
		t.Fatalf("ListStacks(0) = %v, %v", all, err)
	}
	if _, err := c.FindStackByName(ctx, tgt.EndpointID, name+"-missing"); !errors.Is(err, portainer.ErrNotFound) {
		t.Fatalf("FindStackByName(missing) error = %v, want ErrNotFound", err)
	}

	label := []string{"com.docker.compose.project=" + name}
	ctrs, err := c.ListContainers(ctx, tgt.EndpointID, portainer.ContainerFilter{All: true, Labels: label})
	if err != nil || len(ctrs) != 1 {
		t.Fatalf("ListContainers = %+v, %v; want one", ctrs, err)
	}
	if ctrs[0].Name() != name+"-app-1" || ctrs[0].State != "running" || ctrs[0].Labels["com.docker.compose.service"] != "app" {
		t.Fatalf("container = %+v", ctrs[0])
	}
	insp, err := c.InspectContainer(ctx, tgt.EndpointID, ctrs[0].ID)
	if err != nil {
		t.Fatalf("InspectContainer: %v", err)
	}
	if insp.EnvMap()["MODE"] != "one" || !insp.State.Running || insp.Name != "/"+name+"-app-1" {
		t.Fatalf("inspect = %+v (env %v)", insp, insp.EnvMap())
	}

	st, err = c.StopStack(ctx, st.ID, tgt.EndpointID)
	if err != nil || st.Status != portainer.StackStatusInactive {
		t.Fatalf("StopStack = %+v, %v", st, err)
	}
	if _, err := c.StopStack(ctx, st.ID, tgt.EndpointID); upstream.StatusOf(err) != 400 || !strings.HasSuffix(err.Error(), "HTTP 400: Stack is already inactive") {
		t.Fatalf("second StopStack error = %v, want 400 already inactive", err)
	}
	ctrs, err = c.ListContainers(ctx, tgt.EndpointID, portainer.ContainerFilter{All: true, Labels: label})
	if err != nil || len(ctrs) != 0 {
		t.Fatalf("containers after stop = %+v, %v; want none (compose down)", ctrs, err)
	}
	st, err = c.StartStack(ctx, st.ID, tgt.EndpointID)
	if err != nil || st.Status != portainer.StackStatusActive {
		t.Fatalf("StartStack = %+v, %v", st, err)
	}
	// Portainer checks the project name against the containers before the
	// stack's status (stack_start.go), so a running stack answers 409, as
	// Portainer 2.23.0 did; message and details are the same sentence.
	running := "A stack with the name '" + name + "' is already running"
	if _, err := c.StartStack(ctx, st.ID, tgt.EndpointID); !errors.Is(err, portainer.ErrConflict) || !strings.HasSuffix(err.Error(), "HTTP 409: "+running) {
		t.Fatalf("second StartStack error = %v, want 409 %q (once)", err, running)
	}
	ctrs, err = c.ListContainers(ctx, tgt.EndpointID, portainer.ContainerFilter{Labels: label})
	if err != nil || len(ctrs) != 1 {
		t.Fatalf("containers after start = %+v, %v", ctrs, err)
	}

	if err := c.DeleteStack(ctx, st.ID, tgt.EndpointID); err != nil {
		t.Fatalf("DeleteStack: %v", err)
	}
	if _, err := c.GetStack(ctx, st.ID); !errors.Is(err, portainer.ErrNotFound) {
		t.Fatalf("GetStack after delete error = %v, want ErrNotFound", err)
	}
	ctrs, err = c.ListContainers(ctx, tgt.EndpointID, portainer.ContainerFilter{All: true, Labels: label})
	if err != nil || len(ctrs) != 0 {
		t.Fatalf("containers after delete = %+v, %v", ctrs, err)
	}
	if err := c.DeleteStack(ctx, st.ID, tgt.EndpointID); !errors.Is(err, portainer.ErrNotFound) {
		t.Fatalf("second DeleteStack error = %v, want ErrNotFound", err)
	}
}

// TestStartStopAnswers covers the start/stop answers a real run cannot
// provoke safely, in the order stack_start.go / stack_stop.go check them.
func TestStartStopAnswers(t *testing.T) {
	cfg, tgt := suite.Portainer(t)
	f := tgt.RequireFake(t)
	c := newClient(t, cfg)
	ctx := ctxT(t)
	st, err := f.AddStack(1, "lone", "services:\n  app:\n    image: busybox\n")
	if err != nil {
		t.Fatal(err)
	}
	// Active in Portainer's database, but its container is gone: the name
	// check passes and the status check answers 400.
	for _, ct := range f.Containers(1) {
		f.RemoveContainer(1, ct.ID)
	}
	if _, err := c.StartStack(ctx, st.ID, 1); upstream.StatusOf(err) != 400 || !strings.HasSuffix(err.Error(), "HTTP 400: Stack is already active") {
		t.Fatalf("start of an active stack without containers: %v, want 400 Stack is already active", err)
	}
	if _, err := c.StopStack(ctx, st.ID, 1); err != nil {
		t.Fatalf("StopStack: %v", err)
	}
	// Stopped, but a container with its project label exists (made by
	// hand, or left behind, in any state): 409 before anything runs.
	if _, err := f.AddContainers(1, "lone", fake.Container{Name: "lone-app-1", State: "exited", Labels: map[string]string{"com.docker.compose.service": "app"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.StartStack(ctx, st.ID, 1); !errors.Is(err, portainer.ErrConflict) || !strings.HasSuffix(err.Error(), "HTTP 409: A stack with the name 'lone' is already running") {
		t.Fatalf("start with a leftover container: %v, want 409 already running", err)
	}
	// The stack is checked before endpointId; then the environment.
	for _, tc := range []struct {
		name   string
		call   func() error
		status int
		msg    string
	}{
		{"start unknown stack", func() error { _, err := c.StartStack(ctx, 999, 1); return err }, 404, "Unable to find a stack with the specified identifier inside the database"},
		{"start unknown endpoint", func() error { _, err := c.StartStack(ctx, st.ID, 9); return err }, 404, "Unable to find an endpoint with the specified identifier inside the database"},
		{"stop unknown endpoint", func() error { _, err := c.StopStack(ctx, st.ID, 9); return err }, 404, "Unable to find an environment with the specified identifier inside the database"},
		{"stop stopped", func() error { _, err := c.StopStack(ctx, st.ID, 1); return err }, 400, "Stack is already inactive"},
	} {
		err := tc.call()
		if upstream.StatusOf(err) != tc.status || !strings.Contains(err.Error(), fmt.Sprintf("HTTP %d: %s", tc.status, tc.msg)) {
			t.Errorf("%s: %v, want %d %s", tc.name, err, tc.status, tc.msg)
		}
	}
}

func TestInspectUnknownContainer(t *testing.T) {
	cfg, tgt := suite.Portainer(t)
	c := newClient(t, cfg)
	_, err := c.InspectContainer(ctxT(t), tgt.EndpointID, strings.Repeat("ab", 32))
	if !errors.Is(err, portainer.ErrNotFound) || !strings.Contains(err.Error(), "No such container") {
		t.Fatalf("InspectContainer(unknown) error = %v, want 404 No such container", err)
	}
}

func TestVolumes(t *testing.T) {
	cfg, tgt := suite.Portainer(t)
	f := tgt.RequireFake(t)
	c := newClient(t, cfg)
	ctx := ctxT(t)
	st, err := f.AddStack(1, "volapp", "services:\n  db:\n    image: postgres:16\n    volumes:\n      - pg:/var/lib/postgresql/data\nvolumes:\n  pg:\n")
	if err != nil {
		t.Fatal(err)
	}
	f.AddVolume(1, "unrelated", map[string]string{"owner": "someone"})
	vols, err := c.ListVolumes(ctx, 1, []string{"com.docker.compose.project=volapp"})
	if err != nil || len(vols) != 1 || vols[0].Name != "volapp_pg" || vols[0].Labels["com.docker.compose.volume"] != "pg" {
		t.Fatalf("ListVolumes = %+v, %v; want volapp_pg", vols, err)
	}
	all, err := c.ListVolumes(ctx, 1, nil)
	if err != nil || len(all) != 2 {
		t.Fatalf("ListVolumes(all) = %+v, %v", all, err)
	}
	// In use by the running container: Docker refuses.
	if err := c.DeleteVolume(ctx, 1, "volapp_pg"); !errors.Is(err, portainer.ErrConflict) || !strings.Contains(err.Error(), "volume is in use") {
		t.Fatalf("DeleteVolume(in use) error = %v, want 409 in use", err)
	}
	if err := c.DeleteStack(ctx, st.ID, 1); err != nil {
		t.Fatal(err)
	}
	// compose down keeps named volumes; we remove them ourselves.
	if len(f.Volumes(1)) != 2 {
		t.Fatalf("volumes after stack delete = %+v, want both kept", f.Volumes(1))
	}
	if err := c.DeleteVolume(ctx, 1, "volapp_pg"); err != nil {
		t.Fatalf("DeleteVolume: %v", err)
	}
	if err := c.DeleteVolume(ctx, 1, "volapp_pg"); !errors.Is(err, portainer.ErrNotFound) {
		t.Fatalf("DeleteVolume(gone) error = %v, want ErrNotFound", err)
	}
}

func TestListContainersForeignProjects(t *testing.T) {
	cfg, tgt := suite.Portainer(t)
	f := tgt.RequireFake(t)
	c := newClient(t, cfg)
	ctx := ctxT(t)
	ids, err := f.AddContainers(1, "handmade",
		fake.Container{Name: "handmade-web", Image: "nginx:1", Labels: map[string]string{"com.docker.compose.service": "web"},
			Ports: []fake.PortBinding{{HostPort: 8080, ContainerPort: 80}}},
		fake.Container{Name: "handmade-worker", State: "exited", ExitCode: 137, Labels: map[string]string{"com.docker.compose.service": "worker"}},
	)
	if err != nil {
		t.Fatal(err)
	}
	running, err := c.ListContainers(ctx, 1, portainer.ContainerFilter{Labels: []string{"com.docker.compose.project=handmade"}})
	if err != nil || len(running) != 1 || running[0].ID != ids[0] {
		t.Fatalf("ListContainers(running) = %+v, %v", running, err)
	}
	var published []int
	for _, p := range running[0].Ports {
		published = append(published, p.PublicPort)
	}
	if !slices.Contains(published, 8080) {
		t.Fatalf("ports = %+v, want 8080 published", running[0].Ports)
	}
	all, err := c.ListContainers(ctx, 1, portainer.ContainerFilter{All: true, Labels: []string{"com.docker.compose.project=handmade"}})
	if err != nil || len(all) != 2 {
		t.Fatalf("ListContainers(all) = %+v, %v", all, err)
	}
	for _, ct := range all {
		if ct.State == "exited" && !strings.HasPrefix(ct.Status, "Exited (137)") {
			t.Fatalf("exited container status = %q", ct.Status)
		}
	}
	// Labels AND together.
	none, err := c.ListContainers(ctx, 1, portainer.ContainerFilter{All: true, Labels: []string{"com.docker.compose.project=handmade", "com.docker.compose.service=db"}})
	if err != nil || len(none) != 0 {
		t.Fatalf("ListContainers(no match) = %+v, %v", none, err)
	}
	stacks, err := c.ListStacks(ctx, 1)
	if err != nil || len(stacks) != 0 {
		t.Fatalf("ListStacks = %+v, %v; foreign containers are no stack", stacks, err)
	}
}

func TestMigrateStack(t *testing.T) {
	cfg, tgt := suite.Portainer(t, suite.WithPortainerFake(func(o *fake.Options) {
		o.Endpoints = []fake.Endpoint{{ID: 1, Name: "local"}, {ID: 2, Name: "remote", Type: 2, URL: "tcp://agent:9001"}}
	}))
	f := tgt.RequireFake(t)
	c := newClient(t, cfg)
	ctx := ctxT(t)
	st, err := c.CreateStackFromString(ctx, 1, portainer.CreateStringStackRequest{Name: "mover", StackFileContent: "services:\n  app:\n    image: busybox\n"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.MigrateStack(ctx, st.ID, 1, portainer.MigrateRequest{}); upstream.StatusOf(err) != 400 {
		t.Fatalf("MigrateStack(EndpointID 0) error = %v, want 400", err)
	}
	moved, err := c.MigrateStack(ctx, st.ID, 1, portainer.MigrateRequest{EndpointID: 2})
	if err != nil || moved.EndpointID != 2 || moved.Name != "mover" {
		t.Fatalf("MigrateStack = %+v, %v", moved, err)
	}
	if len(f.Containers(1)) != 0 || len(f.Containers(2)) != 1 {
		t.Fatalf("containers: env1 %+v env2 %+v", f.Containers(1), f.Containers(2))
	}
	if _, err := c.FindStackByName(ctx, 2, "mover"); err != nil {
		t.Fatalf("FindStackByName on target: %v", err)
	}
}
