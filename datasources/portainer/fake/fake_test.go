package fake_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/appmanage/appmanage/datasources/gitea"
	giteafake "github.com/appmanage/appmanage/datasources/gitea/fake"
	"github.com/appmanage/appmanage/datasources/portainer/fake"
)

// raw talks to the fake without our client, to pin the wire behaviour.
type raw struct {
	t    *testing.T
	base string
	hdr  map[string]string
}

func (r raw) do(method, path string, body any) (int, map[string]any, []byte) {
	r.t.Helper()
	var rd io.Reader
	if body != nil {
		if s, ok := body.(string); ok {
			rd = strings.NewReader(s)
		} else {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
	}
	req, err := http.NewRequest(method, r.base+path, rd)
	if err != nil {
		r.t.Fatal(err)
	}
	for k, v := range r.hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return resp.StatusCode, m, b
}

func (r raw) expect(method, path string, body any, status int, message string) map[string]any {
	r.t.Helper()
	st, m, b := r.do(method, path, body)
	if st != status {
		r.t.Fatalf("%s %s = %d %s, want %d", method, path, st, b, status)
	}
	if message != "" && (m == nil || m["message"] != message) {
		r.t.Fatalf("%s %s message = %s, want %q", method, path, b, message)
	}
	return m
}

func newFake(t *testing.T, opts fake.Options) (*fake.Server, raw) {
	t.Helper()
	f := fake.New(opts)
	t.Cleanup(f.Close)
	return f, raw{t: t, base: f.URL(), hdr: map[string]string{"X-API-Key": fake.DefaultAPIKey}}
}

const compose = "services:\n  app:\n    image: busybox\n    ports: [\"${PORT:-8000}:80\"]\n"

// gitRepo makes a private repository in a Gitea fake and returns the
// create payload for it.
func gitRepo(t *testing.T, name string, files map[string]string) (map[string]any, *giteafake.Server) {
	t.Helper()
	g := giteafake.New(giteafake.Options{})
	t.Cleanup(g.Close)
	c, err := gitea.New(gitea.Config{BaseURL: g.URL(), Token: g.Token(giteafake.AdminUser)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	repo, err := c.CreateRepo(ctx, name, gitea.CreateRepoOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var cm gitea.Commit
	for p, s := range files {
		cm.Files = append(cm.Files, gitea.FileChange{Operation: gitea.OpUpload, Path: p, Content: []byte(s)})
	}
	if _, err := c.CommitFiles(ctx, name, cm); err != nil {
		t.Fatal(err)
	}
	return map[string]any{
		"Name": name, "RepositoryURL": repo.CloneURL, "RepositoryReferenceName": "refs/heads/main",
		"RepositoryAuthentication": true, "RepositoryUsername": giteafake.AdminUser, "RepositoryPassword": g.Token(giteafake.AdminUser),
	}, g
}

func TestAuth(t *testing.T) {
	_, r := newFake(t, fake.Options{})
	anon := raw{t: t, base: r.base}
	anon.expect("GET", "/api/stacks", nil, 401, "A valid authorization token is missing")
	anon.expect("GET", "/api/system/status", nil, 200, "")
	bad := raw{t: t, base: r.base, hdr: map[string]string{"Authorization": "Bearer nope"}}
	bad.expect("GET", "/api/stacks", nil, 401, "Invalid JWT token")
	both := raw{t: t, base: r.base, hdr: map[string]string{"X-API-Key": fake.DefaultAPIKey, "Authorization": "Bearer x"}}
	both.expect("GET", "/api/stacks", nil, 403, "")
	// The key may come in the query string, any case.
	anon.expect("GET", "/api/stacks?X-Api-Key="+fake.DefaultAPIKey, nil, 200, "")

	anon.expect("POST", "/api/auth", map[string]string{"Username": "admin"}, 400, "Invalid request payload")
	anon.expect("POST", "/api/auth", map[string]string{"Username": "admin", "Password": "nope"}, 422, "Invalid credentials")
	// Login sets the session cookie; a client replaying it on a write
	// without a CSRF token gets gorilla/csrf's 403.
	req, _ := http.NewRequest("POST", r.base+"/api/auth", strings.NewReader(`{"Username":"admin","Password":"`+fake.DefaultAdminPassword+`"}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var tok struct{ JWT string }
	_ = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	cookies := resp.Cookies()
	if tok.JWT == "" || len(cookies) == 0 || cookies[0].Name != "portainer_api_key" {
		t.Fatalf("login: jwt %q cookies %v", tok.JWT, cookies)
	}
	bearer := raw{t: t, base: r.base, hdr: map[string]string{"Authorization": "Bearer " + tok.JWT}}
	bearer.expect("GET", "/api/stacks", nil, 200, "")
	cookie := raw{t: t, base: r.base, hdr: map[string]string{"Cookie": "portainer_api_key=" + tok.JWT, "Authorization": "Bearer " + tok.JWT}}
	cookie.expect("GET", "/api/stacks", nil, 200, "")
	st, _, b := cookie.do("POST", "/api/stacks/create/standalone/string?endpointId=1", map[string]any{"Name": "x", "StackFileContent": compose})
	if st != 403 || !strings.Contains(string(b), "CSRF") {
		t.Fatalf("cookie write = %d %s, want 403 CSRF", st, b)
	}
}

func TestAuthRateLimit(t *testing.T) {
	_, r := newFake(t, fake.Options{AuthRateLimit: 3})
	anon := raw{t: t, base: r.base}
	body := map[string]string{"Username": "admin", "Password": fake.DefaultAdminPassword}
	for range 3 {
		anon.expect("POST", "/api/auth", body, 200, "")
	}
	anon.expect("POST", "/api/auth", body, 403, "Access denied")
	anon.expect("POST", "/api/auth", body, 403, "Access denied") // banned for an hour
}

func TestStackRules(t *testing.T) {
	f, r := newFake(t, fake.Options{})
	r.expect("POST", "/api/stacks/create/standalone/string", map[string]any{"Name": "a", "StackFileContent": compose}, 400, "Invalid query parameter: endpointId")
	r.expect("POST", "/api/stacks/create/standalone/string?endpointId=x", map[string]any{"Name": "a", "StackFileContent": compose}, 400, "Invalid query parameter: endpointId")
	r.expect("POST", "/api/stacks/create/standalone/string?endpointId=7", map[string]any{"Name": "a", "StackFileContent": compose}, 404, "")
	m := r.expect("POST", "/api/stacks/create/standalone/string?endpointId=1", map[string]any{"Name": "a", "StackFileContent": " "}, 400, "Invalid request payload")
	if m["details"] != "Invalid stack file content" {
		t.Fatalf("details = %v", m["details"])
	}
	// Env omitted → null; Env [] → [].
	m = r.expect("POST", "/api/stacks/create/standalone/string?endpointId=1", map[string]any{"Name": "My App.v2", "StackFileContent": compose}, 200, "")
	if m["Name"] != "myappv2" || m["Env"] != nil || m["GitConfig"] != nil || m["Status"] != float64(1) {
		t.Fatalf("stack = %v", m)
	}
	id := int(m["Id"].(float64))
	rc, _ := m["ResourceControl"].(map[string]any)
	if rc == nil || rc["ResourceId"] != "1_myappv2" || rc["AdministratorsOnly"] != true {
		t.Fatalf("ResourceControl = %v", m["ResourceControl"])
	}
	m2 := r.expect("POST", "/api/stacks/create/standalone/string?endpointId=1", map[string]any{"Name": "other", "StackFileContent": "services:\n  b:\n    image: busybox\n", "Env": []any{}}, 200, "")
	if env, ok := m2["Env"].([]any); !ok || len(env) != 0 {
		t.Fatalf("Env = %#v, want []", m2["Env"])
	}
	r.expect("POST", "/api/stacks/create/standalone/string?endpointId=1", map[string]any{"Name": "MYAPPV2", "StackFileContent": compose}, 409, "A stack with the normalized name 'myappv2' already exists")

	// Stack id and filters.
	r.expect("GET", "/api/stacks/abc", nil, 400, "Invalid stack identifier route variable")
	r.expect("GET", "/api/stacks/999", nil, 404, "Unable to find a stack with the specified identifier inside the database")
	r.expect("GET", "/api/stacks?filters=notjson", nil, 400, "")

	// A string stack has no git: /git is a 500, redeploy a 400.
	r.expect("POST", "/api/stacks/"+itoa(id)+"/git?endpointId=1", map[string]any{}, 500, "No Git config in the found stack")
	r.expect("PUT", "/api/stacks/"+itoa(id)+"/git/redeploy?endpointId=1", map[string]any{}, 400, "Stack is not created from git")

	// start/stop need endpointId.
	r.expect("POST", "/api/stacks/"+itoa(id)+"/stop", nil, 400, "Invalid query parameter: endpointId")
	r.expect("POST", "/api/stacks/"+itoa(id)+"/stop?endpointId=1", nil, 200, "")
	// Someone starts the same compose project by hand: start refuses.
	if _, err := f.AddContainers(1, "myappv2", fake.Container{Name: "handmade"}); err != nil {
		t.Fatal(err)
	}
	r.expect("POST", "/api/stacks/"+itoa(id)+"/start?endpointId=1", nil, 409, "A stack with the name 'myappv2' is already running")

	// Delete without endpointId: 404, and the record stays.
	r.expect("DELETE", "/api/stacks/"+itoa(id), nil, 404, "Unable to find the endpoint associated to the stack inside the database")
	r.expect("GET", "/api/stacks/"+itoa(id), nil, 200, "")
	st, _, _ := r.do("DELETE", "/api/stacks/"+itoa(id)+"?endpointId=1", nil)
	if st != 204 {
		t.Fatalf("delete = %d", st)
	}
}

func TestPortsAndNames(t *testing.T) {
	f, r := newFake(t, fake.Options{})
	r.expect("POST", "/api/stacks/create/standalone/string?endpointId=1", map[string]any{"Name": "one", "StackFileContent": compose}, 200, "")
	m := r.expect("POST", "/api/stacks/create/standalone/string?endpointId=1", map[string]any{"Name": "two", "StackFileContent": compose}, 500, "")
	// Portainer 2.19-2.23: the compose plugin's whole stderr after "failed
	// to deploy a stack: ", progress lines first, the daemon's error last;
	// details are the same text capitalized (libhttp).
	msg, _ := m["message"].(string)
	if !strings.HasPrefix(msg, "failed to deploy a stack:  Container two-app-1  Creating\n Container two-app-1  Created\n Container two-app-1  Starting\nError response from daemon: driver failed programming external connectivity on endpoint two-app-1 (") ||
		!strings.HasSuffix(msg, "): Bind for 0.0.0.0:8000 failed: port is already allocated\n") {
		t.Fatalf("message = %q", msg)
	}
	if m["details"] != "F"+msg[1:] {
		t.Fatalf("details = %q, want the message capitalized", m["details"])
	}
	// Env changes the interpolation: a free port deploys.
	r.expect("POST", "/api/stacks/create/standalone/string?endpointId=1", map[string]any{"Name": "two", "StackFileContent": compose, "Env": []map[string]string{{"name": "PORT", "value": "8001"}}}, 200, "")
	// An exited container holds no port.
	ids, err := f.AddContainers(1, "", fake.Container{Name: "old", State: "exited", Ports: []fake.PortBinding{{HostPort: 8002, ContainerPort: 80}}})
	if err != nil || len(ids) != 1 {
		t.Fatal(err)
	}
	r.expect("POST", "/api/stacks/create/standalone/string?endpointId=1", map[string]any{"Name": "three", "StackFileContent": compose, "Env": []map[string]string{{"name": "PORT", "value": "8002"}}}, 200, "")
	// container_name already used by another project.
	named := "services:\n  app:\n    image: busybox\n    container_name: old\n"
	m = r.expect("POST", "/api/stacks/create/standalone/string?endpointId=1", map[string]any{"Name": "four", "StackFileContent": named}, 500, "")
	if !strings.Contains(m["message"].(string), `The container name "/old" is already in use`) {
		t.Fatalf("message = %v", m["message"])
	}
	if len(f.Stacks()) != 3 {
		t.Fatalf("stacks = %d, want 3", len(f.Stacks()))
	}
	// Unpublished port → an ephemeral host port.
	r.expect("POST", "/api/stacks/create/standalone/string?endpointId=1", map[string]any{"Name": "five", "StackFileContent": "services:\n  app:\n    image: busybox\n    ports: [\"80\"]\n"}, 200, "")
	for _, c := range f.Containers(1) {
		if c.Project() == "five" && (len(c.Ports) != 1 || c.Ports[0].HostPort < 32768) {
			t.Fatalf("ephemeral port = %+v", c.Ports)
		}
	}
}

func TestGitEndpointTraps(t *testing.T) {
	payload, _ := gitRepo(t, "trap", map[string]string{"docker-compose.yml": compose})
	f, r := newFake(t, fake.Options{Endpoints: []fake.Endpoint{{ID: 1, Name: "local"}, {ID: 2, Name: "other"}}})
	m := r.expect("POST", "/api/stacks/create/standalone/repository?endpointId=1", payload, 200, "")
	id := itoa(int(m["Id"].(float64)))
	auth := m["GitConfig"].(map[string]any)["Authentication"].(map[string]any)
	if auth["Password"] != "" {
		t.Fatalf("password in response: %v", auth)
	}
	body := map[string]any{"RepositoryReferenceName": "refs/heads/main", "RepositoryAuthentication": true, "RepositoryUsername": "admin"}
	// Missing endpointId counts as 0: 404.
	r.expect("POST", "/api/stacks/"+id+"/git", body, 404, "Unable to find the environment associated to the stack inside the database")
	r.expect("PUT", "/api/stacks/"+id+"/git/redeploy", body, 404, "Unable to find the environment associated to the stack inside the database")
	// Another existing env: Portainer rewrites the stack's env (#9071).
	m = r.expect("POST", "/api/stacks/"+id+"/git?endpointId=2", body, 200, "")
	if m["EndpointId"] != float64(2) {
		t.Fatalf("EndpointId = %v, want the stack moved to 2", m["EndpointId"])
	}
	// Its containers are still on env 1; deleting "on" env 2 leaves them.
	st, _, _ := r.do("DELETE", "/api/stacks/"+id+"?endpointId=2", nil)
	if st != 204 {
		t.Fatalf("delete = %d", st)
	}
	if len(f.Stacks()) != 0 || len(f.Containers(1)) != 1 {
		t.Fatalf("after delete: stacks %d, env1 containers %d (want 0 and 1 orphan)", len(f.Stacks()), len(f.Containers(1)))
	}
}

func TestStackFileAndAddStack(t *testing.T) {
	f, r := newFake(t, fake.Options{})
	st, err := f.AddStack(1, "ui-made", compose, fake.EnvVar{Name: "PORT", Value: "8100"})
	if err != nil {
		t.Fatal(err)
	}
	m := r.expect("GET", "/api/stacks/"+itoa(st.ID)+"/file", nil, 200, "")
	if m["StackFileContent"] != compose {
		t.Fatalf("file = %v", m)
	}
	cs := f.Containers(1)
	if len(cs) != 1 || cs[0].Ports[0].HostPort != 8100 || cs[0].Name != "ui-made-app-1" {
		t.Fatalf("containers = %+v", cs)
	}
	if _, err := f.AddStack(1, "ui-made", compose); err == nil {
		t.Fatal("duplicate AddStack accepted")
	}
}

func TestEndpointsListing(t *testing.T) {
	_, r := newFake(t, fake.Options{Endpoints: []fake.Endpoint{{ID: 1, Name: "local"}, {ID: 2, Name: "edge-a", Type: 4}, {ID: 3, Name: "edge-b", Type: 4, Status: 2}}})
	req, _ := http.NewRequest("GET", r.base+"/api/endpoints?types[]=4&start=1&limit=1", nil)
	req.Header.Set("X-API-Key", fake.DefaultAPIKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var list []map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&list)
	resp.Body.Close()
	if len(list) != 1 || list[0]["Name"] != "edge-a" || resp.Header.Get("X-Total-Count") != "2" || resp.Header.Get("X-Total-Available") != "3" {
		t.Fatalf("list = %v headers %v", list, resp.Header)
	}
	r.expect("GET", "/api/endpoints/x", nil, 400, "")
	r.expect("GET", "/api/endpoints/9", nil, 404, "Unable to find an environment with the specified identifier inside the database")
	// A down environment cannot deploy.
	m := r.expect("POST", "/api/stacks/create/standalone/string?endpointId=3", map[string]any{"Name": "x", "StackFileContent": compose}, 500, "")
	if !strings.Contains(m["message"].(string), "Cannot connect to the Docker daemon") {
		t.Fatalf("message = %v", m["message"])
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// TestListsAreByteStableAndFollowChanges: the stack and container lists
// answer the same state with the same bytes (as Go's encoder in Portainer
// and Docker does; clients may skip decoding an unchanged list), and any
// change shows in the next answer although the fake serves encodings it
// made before.
func TestListsAreByteStableAndFollowChanges(t *testing.T) {
	f, r := newFake(t, fake.Options{})
	list := func(path string) string {
		t.Helper()
		st, _, b := r.do("GET", path, nil)
		if st != 200 {
			t.Fatalf("GET %s = %d %s", path, st, b)
		}
		return string(b)
	}
	const containers, stacks = "/api/endpoints/1/docker/containers/json?all=1", "/api/stacks"
	m := r.expect("POST", "/api/stacks/create/standalone/string?endpointId=1", map[string]any{"Name": "one", "StackFileContent": compose}, 200, "")
	id := int(m["Id"].(float64))
	c1, s1 := list(containers), list(stacks)
	if c2, s2 := list(containers), list(stacks); c1 != c2 || s1 != s2 {
		t.Fatalf("same state, different bytes:\n%s\n%s", c1, c2)
	}
	if !strings.Contains(c1, `"State":"running"`) || !strings.Contains(s1, `"Status":1`) {
		t.Fatalf("before stop: %s %s", c1, s1)
	}
	r.expect("POST", "/api/stacks/"+itoa(id)+"/stop?endpointId=1", nil, 200, "")
	if c := list(containers); c == c1 || strings.Contains(c, `"State":"running"`) {
		t.Fatalf("the container list after a stop (Portainer runs compose down) still says %s", c)
	}
	if s := list(stacks); !strings.Contains(s, `"Status":2`) {
		t.Fatalf("the stack list after a stop still says %s", s)
	}
	// A change through the fake's own Go API shows too.
	if _, err := f.AddContainers(1, "", fake.Container{Name: "added", State: "running"}); err != nil {
		t.Fatal(err)
	}
	if c := list(containers); !strings.Contains(c, `"/added"`) {
		t.Fatalf("added container missing: %s", c)
	}
}
