package portainer_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/appmanage/appmanage/datasources/contract"
	"github.com/appmanage/appmanage/datasources/portainer"
	"github.com/appmanage/appmanage/datasources/portainer/fake"
	"github.com/appmanage/appmanage/datasources/suite"
)

type violations struct {
	mu   sync.Mutex
	errs []error
}

func (v *violations) report(err error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.errs = append(v.errs, err)
}

func (v *violations) list() []error {
	v.mu.Lock()
	defer v.mu.Unlock()
	return slices.Clone(v.errs)
}

// TestContract runs the client's whole API against the fake with every
// exchange on a documented route checked against Portainer's 2.21.4
// Swagger: our requests and the fake's answers (types, required keys, and no
// keys the spec does not know). Docker-proxy routes are not in the spec;
// TestDockerShapes checks those.
func TestContract(t *testing.T) {
	suite.FakeOnly(t)
	// The fake answers in 2.21.4's shape. Against the 2.23.0 spec the only
	// difference is IsComposeFormat, which 2.23 dropped from Stack.
	const spec = "portainer-swagger.yaml"
	v, err := contract.LoadSwagger2(contract.Spec(t, spec), "/api",
		contract.Ignore(`^/api/endpoints/[0-9]+/docker/`))
	if err != nil {
		t.Fatalf("load spec: %v", err)
	}
	var bad violations
	src := newGitSource(t, "ct", map[string]string{"docker-compose.yml": appCompose, ".env": appEnv("ct", "9001")})
	cfg, tgt := suite.Portainer(t,
		suite.WithPortainerServerWrap(contract.Middleware(v, bad.report)),
		suite.WithPortainerFake(func(o *fake.Options) {
			o.Endpoints = []fake.Endpoint{{ID: 1, Name: "local"}, {ID: 2, Name: "remote", Type: 2, URL: "tcp://agent:9001"}}
		}))
	ctx := ctxT(t)

	for _, mode := range []string{"apikey", "jwt"} {
		c := newClient(t, cfg)
		if mode == "jwt" {
			jc := cfg
			jc.APIKey, jc.Username, jc.Password = "", fake.DefaultAdminUser, fake.DefaultAdminPassword
			c = newClient(t, jc)
		}
		name := "ct" + mode
		must := func(what string, err error) {
			t.Helper()
			if err != nil {
				t.Fatalf("%s %s: %v", mode, what, err)
			}
		}
		_, err := c.SystemStatus(ctx)
		must("status", err)
		_, err = c.ListEndpoints(ctx)
		must("endpoints", err)
		_, err = c.GetEndpoint(ctx, 1)
		must("endpoint", err)
		_, _ = c.GetEndpoint(ctx, 42) // 404

		req := src.request(name, portainer.EnvVar{Name: "APP_ID", Value: name}, portainer.EnvVar{Name: "HTTP_PORT", Value: map[string]string{"apikey": "9101", "jwt": "9102"}[mode]})
		req.AutoUpdate = &portainer.AutoUpdate{Interval: "1h"}
		st, err := c.CreateStackFromRepository(ctx, 1, req)
		must("create repository", err)
		_, _ = c.CreateStackFromRepository(ctx, 1, req) // 409
		str, err := c.CreateStackFromString(ctx, 1, portainer.CreateStringStackRequest{Name: name + "str", StackFileContent: "services:\n  a:\n    image: busybox\n"})
		must("create string", err)
		_, err = c.ListStacks(ctx, 0)
		must("list", err)
		_, err = c.ListStacks(ctx, 1)
		must("list env", err)
		_, err = c.GetStack(ctx, st.ID)
		must("get", err)
		_, err = c.FindStackByName(ctx, 1, name)
		must("find", err)
		up, err := c.UpdateStackGit(ctx, st.ID, 1, portainer.GitUpdateFromStack(st, nil))
		must("git update", err)
		_, err = c.RedeployStackGit(ctx, st.ID, 1, portainer.GitRedeployFromStack(up, nil, true))
		must("redeploy", err)
		_, err = c.StopStack(ctx, st.ID, 1)
		must("stop", err)
		_, err = c.StartStack(ctx, st.ID, 1)
		must("start", err)
		_, _ = c.StartStack(ctx, st.ID, 1) // 409 already running
		_, err = c.MigrateStack(ctx, str.ID, 1, portainer.MigrateRequest{EndpointID: 2})
		must("migrate", err)
		_, err = c.ListContainers(ctx, 1, portainer.ContainerFilter{All: true})
		must("containers", err)
		must("pull", c.PullImage(ctx, 1, "busybox:1.36", &portainer.RegistryAuth{Username: "u", Password: "p"}, nil))
		_, err = c.InspectImage(ctx, 1, "busybox:1.36")
		must("inspect image", err)
		_, _ = c.InspectImage(ctx, 1, "nosuch:1") // 404
		must("delete", c.DeleteStack(ctx, st.ID, 1))
		must("delete migrated", c.DeleteStack(ctx, str.ID, 2))
	}
	for _, err := range bad.list() {
		t.Errorf("contract violation: %v", err)
	}
	checked := v.Checked()
	for _, route := range []string{
		"GET /system/status", "POST /auth", "GET /endpoints", "GET /endpoints/{id}",
		"POST /stacks/create/standalone/repository", "POST /stacks/create/standalone/string",
		"GET /stacks", "GET /stacks/{id}", "POST /stacks/{id}/git", "PUT /stacks/{id}/git/redeploy",
		"POST /stacks/{id}/stop", "POST /stacks/{id}/start", "POST /stacks/{id}/migrate", "DELETE /stacks/{id}",
	} {
		if checked[route] == 0 {
			t.Errorf("route %s was never checked (checked: %v)", route, v.CheckedRoutes())
		}
	}
	for _, route := range []string{"GET /api/endpoints/{id}/docker/containers/json",
		"GET /api/endpoints/{id}/docker/images/{rest...}", "POST /api/endpoints/{id}/docker/images/create"} {
		if n := tgt.Fake.Faults.Calls(route); n == 0 {
			t.Errorf("docker route %s not exercised", route)
		}
	}
}

// shape is an expected JSON type per key: "string", "number", "bool",
// "array", "object", "string|null", ...
type shape map[string]string

func kindOf(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case float64:
		return "number"
	case bool:
		return "bool"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

func checkShape(t *testing.T, what string, obj any, want shape) map[string]any {
	t.Helper()
	m, ok := obj.(map[string]any)
	if !ok {
		t.Fatalf("%s: %s, want object", what, kindOf(obj))
	}
	for k, kinds := range want {
		got := kindOf(m[k])
		if _, present := m[k]; !present {
			got = "missing"
		}
		if !slices.Contains(strings.Split(kinds, "|"), got) {
			t.Errorf("%s.%s is %s, want %s", what, k, got, kinds)
		}
	}
	return m
}

func getJSON(t *testing.T, url string, wantStatus int) any {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("X-API-Key", fake.DefaultAPIKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != wantStatus {
		t.Fatalf("GET %s: %d %s, want %d", url, resp.StatusCode, b, wantStatus)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("GET %s: content type %q", url, ct)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return out
}

// TestDockerShapes checks the Docker-proxy answers against the Docker
// Engine API's shapes (v1.41+), which the Portainer spec does not cover.
func TestDockerShapes(t *testing.T) {
	cfg, tgt := suite.Portainer(t)
	f := tgt.RequireFake(t)
	if _, err := f.AddStack(1, "shape", "services:\n  web:\n    image: nginx:1\n    ports: [\"8088:80\"]\n    expose: [\"443\"]\n    volumes: [\"data:/data\", \"/srv/x:/x:ro\"]\n    healthcheck:\n      test: [\"CMD\", \"true\"]\nvolumes:\n  data:\n"); err != nil {
		t.Fatal(err)
	}
	base := cfg.URL + "/api/endpoints/1/docker"
	list, ok := getJSON(t, base+`/containers/json?all=1&filters={"label":["com.docker.compose.project=shape"]}`, 200).([]any)
	if !ok || len(list) != 1 {
		t.Fatalf("list = %v", list)
	}
	c := checkShape(t, "container", list[0], shape{
		"Id": "string", "Names": "array", "Image": "string", "ImageID": "string", "Command": "string",
		"Created": "number", "Ports": "array", "Labels": "object", "State": "string", "Status": "string",
		"HostConfig": "object", "NetworkSettings": "object", "Mounts": "array",
	})
	if !hex64.MatchString(c["Id"].(string)) || c["Names"].([]any)[0] != "/shape-web-1" || c["State"] != "running" {
		t.Errorf("container = %v", c)
	}
	if st := c["Status"].(string); !strings.HasPrefix(st, "Up ") || !strings.HasSuffix(st, "(healthy)") {
		t.Errorf("Status = %q", st)
	}
	var sawPublished, sawExposed bool
	for i, p := range c["Ports"].([]any) {
		pm := checkShape(t, fmt.Sprintf("Ports[%d]", i), p, shape{"PrivatePort": "number", "Type": "string"})
		if _, ok := pm["PublicPort"]; ok {
			checkShape(t, fmt.Sprintf("Ports[%d]", i), p, shape{"IP": "string", "PublicPort": "number"})
			sawPublished = sawPublished || pm["PublicPort"] == float64(8088)
		} else if pm["PrivatePort"] == float64(443) {
			sawExposed = true
		}
	}
	if !sawPublished || !sawExposed {
		t.Errorf("ports = %v", c["Ports"])
	}
	for name, n := range c["NetworkSettings"].(map[string]any)["Networks"].(map[string]any) {
		checkShape(t, "network "+name, n, shape{"IPAddress": "string", "NetworkID": "string", "Gateway": "string", "Aliases": "array|null"})
	}
	for i, m := range c["Mounts"].([]any) {
		checkShape(t, fmt.Sprintf("Mounts[%d]", i), m, shape{"Type": "string", "Source": "string", "Destination": "string", "RW": "bool", "Mode": "string"})
	}

	id := c["Id"].(string)
	in := checkShape(t, "inspect", getJSON(t, base+"/containers/"+id+"/json", 200), shape{
		"Id": "string", "Name": "string", "Created": "string", "State": "object", "Image": "string",
		"Config": "object", "HostConfig": "object", "NetworkSettings": "object", "Mounts": "array", "RestartCount": "number",
	})
	if _, err := time.Parse(time.RFC3339Nano, in["Created"].(string)); err != nil {
		t.Errorf("Created %q: %v", in["Created"], err)
	}
	stt := checkShape(t, "State", in["State"], shape{"Status": "string", "Running": "bool", "ExitCode": "number", "StartedAt": "string", "FinishedAt": "string", "Health": "object"})
	checkShape(t, "State.Health", stt["Health"], shape{"Status": "string", "FailingStreak": "number"})
	cfgObj := checkShape(t, "Config", in["Config"], shape{"Image": "string", "Env": "array", "Labels": "object", "Hostname": "string", "ExposedPorts": "object"})
	for _, e := range cfgObj["Env"].([]any) {
		if s, ok := e.(string); !ok || !strings.Contains(s, "=") {
			t.Errorf("Env entry %v is not KEY=VALUE", e)
		}
	}
	ns := checkShape(t, "NetworkSettings", in["NetworkSettings"], shape{"Ports": "object", "Networks": "object"})
	if b, ok := ns["Ports"].(map[string]any)["80/tcp"].([]any); !ok || len(b) == 0 {
		t.Errorf("NetworkSettings.Ports[80/tcp] = %v", ns["Ports"])
	} else {
		checkShape(t, "binding", b[0], shape{"HostIp": "string", "HostPort": "string"})
	}
	// Docker accepts a name as well as an id.
	checkShape(t, "inspect by name", getJSON(t, base+"/containers/shape-web-1/json", 200), shape{"Id": "string"})
	missing := checkShape(t, "404", getJSON(t, base+"/containers/nope/json", 404), shape{"message": "string"})
	if missing["message"] != "No such container: nope" {
		t.Errorf("404 message = %v", missing["message"])
	}

	vols := checkShape(t, "volumes", getJSON(t, base+`/volumes?filters={"label":["com.docker.compose.project=shape"]}`, 200), shape{"Volumes": "array", "Warnings": "array|null"})
	vl := vols["Volumes"].([]any)
	if len(vl) != 1 {
		t.Fatalf("volumes = %v", vl)
	}
	vm := checkShape(t, "volume", vl[0], shape{"Name": "string", "Driver": "string", "Mountpoint": "string", "CreatedAt": "string", "Labels": "object", "Scope": "string"})
	if vm["Name"] != "shape_data" {
		t.Errorf("volume name = %v", vm["Name"])
	}
	bad := checkShape(t, "bad filter", getJSON(t, base+`/containers/json?filters={"bogus":["x"]}`, 400), shape{"message": "string"})
	if !strings.Contains(bad["message"].(string), "invalid filter") {
		t.Errorf("bad filter message = %v", bad["message"])
	}
	checkShape(t, "unknown env", getJSON(t, cfg.URL+"/api/endpoints/9/docker/containers/json", 404), shape{"message": "string", "details": "string"})

	// Images: inspect (Docker's ImageInspect) and 404; the pull stream's
	// lines (jsonmessage.JSONMessage) and a refusal before the stream.
	imgObj := checkShape(t, "image", getJSON(t, base+"/images/nginx:1/json", 200), shape{
		"Id": "string", "RepoTags": "array", "RepoDigests": "array", "Parent": "string", "Comment": "string",
		"Created": "string", "Config": "object", "Architecture": "string", "Os": "string", "Size": "number",
		"GraphDriver": "object", "RootFS": "object", "Metadata": "object",
	})
	if imgObj["RepoTags"].([]any)[0] != "nginx:1" || !strings.HasPrefix(imgObj["RepoDigests"].([]any)[0].(string), "nginx@sha256:") {
		t.Errorf("image = %v", imgObj)
	}
	rootfs := checkShape(t, "RootFS", imgObj["RootFS"], shape{"Type": "string", "Layers": "array"})
	if rootfs["Type"] != "layers" {
		t.Errorf("RootFS = %v", rootfs)
	}
	if _, err := time.Parse(time.RFC3339Nano, imgObj["Created"].(string)); err != nil {
		t.Errorf("image Created: %v", err)
	}
	nf := checkShape(t, "image 404", getJSON(t, base+"/images/nope:1/json", 404), shape{"message": "string"})
	if nf["message"] != "No such image: nope:1" {
		t.Errorf("image 404 message = %v", nf["message"])
	}
	lines := postLines(t, base+"/images/create?fromImage=redis&tag=7", 200)
	statuses := map[string]bool{}
	for i, l := range lines {
		m := checkShape(t, fmt.Sprintf("pull line %d", i), l, shape{"status": "string"})
		for k := range m {
			if !slices.Contains([]string{"status", "id", "progressDetail", "progress"}, k) {
				t.Errorf("pull line %d has key %q, which jsonmessage does not", i, k)
			}
		}
		if m["status"] == "Downloading" {
			pd := checkShape(t, "progressDetail", m["progressDetail"], shape{"current": "number", "total": "number"})
			if pd["current"].(float64) > pd["total"].(float64) {
				t.Errorf("progress beyond total: %v", pd)
			}
			checkShape(t, "downloading", m, shape{"id": "string", "progress": "string"})
		}
		statuses[m["status"].(string)] = true
	}
	for _, want := range []string{"Pulling from library/redis", "Pulling fs layer", "Downloading", "Download complete", "Extracting", "Pull complete", "Status: Downloaded newer image for redis:7"} {
		if !statuses[want] {
			t.Errorf("pull stream lacks %q (has %v)", want, statuses)
		}
	}
	f.BreakPull("halfway:1", "unexpected EOF")
	lines = postLines(t, base+"/images/create?fromImage=halfway&tag=1", 200)
	errLine := checkShape(t, "error line", lines[len(lines)-1], shape{"error": "string", "errorDetail": "object"})
	checkShape(t, "errorDetail", errLine["errorDetail"], shape{"message": "string"})
	f.FailPull("denied:1")
	denied := checkShape(t, "refused pull", postLines(t, base+"/images/create?fromImage=denied&tag=1", 404)[0], shape{"message": "string"})
	if !strings.HasPrefix(denied["message"].(string), "pull access denied for denied") {
		t.Errorf("refused pull message = %v", denied["message"])
	}
}

// postLines POSTs to url and decodes the answer's JSON values (one, or a
// JSON-lines stream).
func postLines(t *testing.T, url string, wantStatus int) []any {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, nil)
	req.Header.Set("X-API-Key", fake.DefaultAPIKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != wantStatus {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("POST %s: %d %s, want %d", url, resp.StatusCode, b, wantStatus)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("POST %s: content type %q", url, ct)
	}
	var out []any
	dec := json.NewDecoder(resp.Body)
	for {
		var v any
		if err := dec.Decode(&v); err == io.EOF {
			return out
		} else if err != nil {
			t.Fatalf("POST %s: %v", url, err)
		}
		out = append(out, v)
	}
}
