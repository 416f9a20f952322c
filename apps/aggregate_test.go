package apps

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/appmanage/appmanage/datasources/faults"
	"github.com/appmanage/appmanage/datasources/portainer"
	portainerfake "github.com/appmanage/appmanage/datasources/portainer/fake"
	"github.com/appmanage/appmanage/ops"
)

const manualCompose = `services:
  web:
    image: nginx:1.27
    container_name: manual
    environment:
      HELLO: world
`

// aggApp finds id in a listing.
func aggApp(t *testing.T, l *AppList, id string) AppSummary {
	t.Helper()
	for _, a := range l.Apps {
		if a.ID == id {
			return a
		}
	}
	ids := make([]string, 0, len(l.Apps))
	for _, a := range l.Apps {
		ids = append(ids, a.ID)
	}
	t.Fatalf("no app %s in the listing %v", id, ids)
	return AppSummary{}
}

func TestAppsListingMergesEveryKindOfApp(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for i, id := range []string{"alpha", "beta", "gamma"} {
		req := InstallRequest{AppName: "whoami", AppID: id, Settings: []EnvSetting{{Name: "W9_HTTP_PORT_SET", Value: strconv.Itoa(9101 + i)}}}
		if id == "alpha" {
			req.Domains = []string{"alpha.example.com", "www.alpha.example.com"}
			req.DefaultDomain = "www.alpha.example.com"
		}
		if op := e.install(req); op.Status != ops.StatusSucceeded {
			t.Fatalf("install %s: %s %s", id, op.Status, op.Error)
		}
	}
	op, err := e.Svc.StopApp(ctx, "beta", "")
	if err != nil {
		t.Fatal(err)
	}
	if op := e.wait(op); op.Status != ops.StatusSucceeded {
		t.Fatalf("stop: %s %s", op.Status, op.Error)
	}
	// Made by hand in Portainer, and a compose project without a stack.
	if _, err := e.Portainer.AddStack(1, "manual", manualCompose); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Portainer.AddContainers(1, "loose", portainerfake.Container{Name: "loose", Image: "redis:7"}); err != nil {
		t.Fatal(err)
	}
	// An install that fails and rolls back stays listed as ERROR.
	e.Portainer.Faults.Fail("POST /api/stacks/create/standalone/repository", faults.Fault{Status: 400, Body: `{"message":"Invalid compose file","details":"boom"}`, Times: 5})
	if op := e.install(InstallRequest{AppName: "whoami", AppID: "broken", Settings: []EnvSetting{{Name: "W9_HTTP_PORT_SET", Value: "9110"}}}); op.Status == ops.StatusSucceeded {
		t.Fatal("the broken install succeeded")
	}
	e.Portainer.Faults.Clear()

	v := e.Svc.NewView()
	l, err := v.Apps(ctx, ListQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Problems) > 0 {
		t.Fatalf("problems: %v", l.Problems)
	}
	var ids []string
	for _, a := range l.Apps {
		ids = append(ids, a.ID)
	}
	if want := []string{"alpha", "beta", "broken", "gamma", "loose", "manual"}; !slices.Equal(ids, want) {
		t.Fatalf("ids %v, want %v (sorted)", ids, want)
	}
	for _, c := range []struct {
		id       string
		status   AppStatus
		official bool
		stack    bool
	}{
		{"alpha", AppActive, true, true},
		{"beta", AppInactive, true, true},
		{"broken", AppError, true, false},
		{"gamma", AppActive, true, true},
		{"loose", AppActive, false, false},
		{"manual", AppActive, true, true},
	} {
		a := aggApp(t, l, c.id)
		if a.Status != c.status || a.Official != c.official || (a.StackID != 0) != c.stack {
			t.Errorf("%s: status %s official %v stack %d; want %s %v %v", c.id, a.Status, a.Official, a.StackID, c.status, c.official, c.stack)
		}
		if a.CreatedAt == nil {
			t.Errorf("%s: no createdAt", c.id)
		}
	}
	if a := aggApp(t, l, "broken"); a.OperationID == "" || a.EndpointID != 1 {
		t.Errorf("broken: operation %q endpoint %d", a.OperationID, a.EndpointID)
	}

	refs := make([]AppRef, len(l.Apps))
	for i, a := range l.Apps {
		refs[i] = a.AppRef
	}
	at := func(id string) int { return slices.IndexFunc(refs, func(r AppRef) bool { return r.ID == id }) }

	envs, errs := v.Env(ctx, refs)
	for i, err := range errs {
		if err != nil {
			t.Fatalf("env of %s: %v", refs[i].ID, err)
		}
	}
	for _, c := range []struct{ id, key, want string }{
		{"alpha", "W9_APP_NAME", "whoami"},
		{"alpha", "W9_ID", "alpha"},
		{"alpha", "W9_URL", "www.alpha.example.com"},
		{"alpha", "W9_HTTP_PORT_SET", "9101"},
		{"beta", "W9_APP_NAME", "whoami"}, // stopped: from the .env at the deployed commit
		{"beta", "W9_HTTP_PORT_SET", "9102"},
		{"broken", "W9_APP_NAME", "whoami"}, // from the install's record
		{"manual", "HELLO", "world"},
	} {
		if got, _ := envs[at(c.id)].Get(c.key); got != c.want {
			t.Errorf("env %s %s = %q, want %q", c.id, c.key, got, c.want)
		}
	}

	vars, errs := v.Variables(ctx, refs)
	if errs[at("alpha")] != nil || vars[at("alpha")]["name"] != "whoami" {
		t.Errorf("variables of alpha: %v %v", vars[at("alpha")], errs[at("alpha")])
	}
	if vars[at("manual")] != nil || vars[at("loose")] != nil {
		t.Errorf("variables of apps without our repository: %v %v", vars[at("manual")], vars[at("loose")])
	}

	repos, _ := v.Repositories(ctx, refs)
	real, err := e.Repos.GetRepo(ctx, "alpha")
	if err != nil {
		t.Fatal(err)
	}
	if r := repos[at("alpha")]; r == nil || r.HTMLURL != real.HTMLURL || r.CloneURL != real.CloneURL || r.URL != real.URL {
		t.Errorf("repository of alpha %+v; Gitea says %s %s %s", r, real.HTMLURL, real.CloneURL, real.URL)
	}
	if repos[at("manual")] != nil || repos[at("loose")] != nil || repos[at("broken")] != nil {
		t.Errorf("repository links for apps without a repository: %+v %+v %+v", repos[at("manual")], repos[at("loose")], repos[at("broken")])
	}

	proxies, _ := v.rawProxies(ctx, refs)
	if p := proxies[at("alpha")]; len(p) != 1 || p[0].ForwardHost != "alpha" || p[0].ForwardPort != 80 || !p[0].Enabled {
		t.Errorf("proxies of alpha: %+v", p)
	}
	if p := proxies[at("beta")]; len(p) != 0 {
		t.Errorf("proxies of beta: %+v", p)
	}
	domains, _ := v.Domains(ctx, refs)
	if d := domains[at("alpha")]; !slices.Equal(d, []string{"alpha.example.com", "www.alpha.example.com"}) {
		t.Errorf("domains of alpha %v", d)
	}
	defs, _ := v.DefaultDomains(ctx, refs)
	if defs[at("alpha")] != "www.alpha.example.com" || defs[at("gamma")] != "" {
		t.Errorf("default domains %q %q", defs[at("alpha")], defs[at("gamma")])
	}

	cs, _ := v.rawContainers(ctx, refs)
	if c := cs[at("alpha")]; len(c) != 1 || c[0].Name() != "alpha" || c[0].State != "running" || !slices.Contains(c[0].PublicPorts(), 9101) {
		t.Errorf("containers of alpha: %+v", c)
	}
	if c := cs[at("beta")]; len(c) != 0 {
		t.Errorf("a stopped app has containers: %+v", c)
	}
	if c := cs[at("loose")]; len(c) != 1 {
		t.Errorf("containers of the unmanaged project: %+v", c)
	}
	stacks, _ := v.rawStacks(ctx, refs)
	if st := stacks[at("manual")]; st == nil || st.GitConfig != nil {
		t.Errorf("stack of manual: %+v", st)
	}
	last, _ := v.LastOperations(ctx, refs)
	if op := last[at("beta")]; op == nil || op.Kind != KindStop {
		t.Errorf("last operation of beta: %+v", op)
	}
	if last[at("manual")] != nil {
		t.Errorf("manual has an operation: %+v", last[at("manual")])
	}

	// Filters.
	for _, c := range []struct {
		q    ListQuery
		want []string
	}{
		{ListQuery{Statuses: []AppStatus{AppInactive, AppError}}, []string{"beta", "broken"}},
		{ListQuery{AppName: "WHOAMI"}, []string{"alpha", "beta", "broken", "gamma"}},
		{ListQuery{EndpointID: 1, ID: "gamma"}, []string{"gamma"}},
		{ListQuery{EndpointID: 2}, nil},
	} {
		l, err := e.Svc.NewView().Apps(ctx, c.q)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, a := range l.Apps {
			got = append(got, a.ID)
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%+v: %v, want %v", c.q, got, c.want)
		}
	}
}

func TestAppStatusFromContainers(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if op := e.install(InstallRequest{AppName: "whoami", AppID: "crashy", Settings: []EnvSetting{{Name: "W9_HTTP_PORT_SET", Value: "9120"}}}); op.Status != ops.StatusSucceeded {
		t.Fatal(op.Error)
	}
	var id string
	for _, c := range e.Portainer.Containers(1) {
		if c.Name == "crashy" {
			id = c.ID
		}
	}
	e.Portainer.SetContainerState(1, id, "exited", 137)
	e.Svc.InvalidateLists()
	a, _, err := e.Svc.NewView().App(ctx, "crashy", false)
	if err != nil || a == nil {
		t.Fatal(a, err)
	}
	if a.Status != AppError {
		t.Errorf("active stack with a dead main container: %s, want ERROR", a.Status)
	}
	e.Portainer.RemoveContainer(1, id)
	e.Svc.InvalidateLists()
	if a, _, _ := e.Svc.NewView().App(ctx, "crashy", false); a.Status != AppError {
		t.Errorf("active stack without containers: %s, want ERROR", a.Status)
	}
	if a, _, _ := e.Svc.NewView().App(ctx, "nosuch", false); a != nil {
		t.Errorf("unknown app: %+v", a)
	}
}

func TestAppsListCacheAndInvalidation(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if op := e.install(InstallRequest{AppName: "whoami", AppID: "cached", Settings: []EnvSetting{{Name: "W9_HTTP_PORT_SET", Value: "9130"}}}); op.Status != ops.StatusSucceeded {
		t.Fatal(op.Error)
	}
	list := func() AppSummary {
		t.Helper()
		a, _, err := e.Svc.NewView().App(ctx, "cached", false)
		if err != nil || a == nil {
			t.Fatal(a, err)
		}
		return *a
	}
	_ = list()
	e.Portainer.Faults.ResetCalls()
	_ = list()
	if n := e.Portainer.Faults.Calls("GET /api/stacks"); n != 0 {
		t.Errorf("a second listing within the TTL listed stacks %d times", n)
	}
	// Our own stop invalidates: the next listing sees it at once.
	op, err := e.Svc.StopApp(ctx, "cached", "")
	if err != nil {
		t.Fatal(err)
	}
	e.wait(op)
	if a := list(); a.Status != AppInactive {
		t.Errorf("after stop: %s", a.Status)
	}
}

// The merged environment is cached by what it depends on. A change of the
// stack's Env that keeps its length and lands in the same second (Portainer's
// UpdateDate granularity) must still show.
func TestMergedEnvFollowsStackEnvChanges(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if done := e.install(InstallRequest{AppName: "whoami", AppID: "envkey"}); done.Status != ops.StatusSucceeded {
		t.Fatalf("install: %s %q", done.Status, done.Error)
	}
	creds := &portainer.GitCredentials{Username: e.Owner, Password: e.Gitea.Token(e.Owner)}
	setX := func(value string) {
		t.Helper()
		st, err := e.Stacks.FindStackByName(ctx, 1, "envkey")
		if err != nil {
			t.Fatal(err)
		}
		req := portainer.GitUpdateFromStack(st, creds)
		req.Env = []portainer.EnvVar{{Name: "EXTRA_X", Value: value}}
		if _, err := e.Stacks.UpdateStackGit(ctx, st.ID, st.EndpointID, req); err != nil {
			t.Fatal(err)
		}
		e.Svc.InvalidateLists()
	}
	readX := func() string {
		t.Helper()
		envs, errs := e.Svc.NewView().Env(ctx, []AppRef{{ID: "envkey", EndpointID: 1}})
		if errs[0] != nil {
			t.Fatal(errs[0])
		}
		x, _ := envs[0].Get("EXTRA_X")
		return x
	}
	setX("1")
	if got := readX(); got != "1" {
		t.Fatalf("EXTRA_X = %q, want 1", got)
	}
	setX("2")
	if got := readX(); got != "2" {
		t.Fatalf("after the stack's Env changed: EXTRA_X = %q, want 2 (a stale merge)", got)
	}
}

func TestContainerIndexGroupsByProject(t *testing.T) {
	c := func(id, project string) portainer.Container {
		labels := map[string]string{}
		if project != "" {
			labels[projectLabel] = project
		}
		return portainer.Container{ID: id, Labels: labels}
	}
	x := newContainerIndex([]portainer.Container{
		c("a1", "Alpha"), c("b1", "beta"), c("n1", ""), c("a2", "alpha"), c("b2", "beta"), c("g1", "gamma"),
	})
	ids := func(cs []portainer.Container) string {
		var out []string
		for _, c := range cs {
			out = append(out, c.ID)
		}
		return strings.Join(out, ",")
	}
	for name, want := range map[string]string{"alpha": "a1,a2", "ALPHA": "a1,a2", "beta": "b1,b2", "gamma": "g1", "none": ""} {
		if got := ids(x.project(name)); got != want {
			t.Errorf("project(%s) = %s, want %s", name, got, want)
		}
	}
	if len(x.projects) != 3 || x.projects[0].name != "Alpha" {
		t.Errorf("projects = %+v, want alpha (as first labelled), beta, gamma", x.projects)
	}
	// Groups share one array: appending to one must not write into the next.
	grown := append(x.project("alpha"), c("a3", "alpha"))
	if ids(x.project("beta")) != "b1,b2" || len(grown) != 3 {
		t.Errorf("appending to alpha changed beta: %s", ids(x.project("beta")))
	}
}

func TestDeriveRebuildsOnlyForAnotherList(t *testing.T) {
	var c derivedCache
	builds := 0
	build := func(l []int) int { builds++; return len(l) * 10 }
	a := []int{1, 2, 3}
	if v := derive(&c, "k", a, build); v != 30 || builds != 1 {
		t.Fatalf("first: %d, %d builds", v, builds)
	}
	if v := derive(&c, "k", a, build); v != 30 || builds != 1 {
		t.Fatalf("same list: %d, %d builds; want it reused", v, builds)
	}
	equal := []int{1, 2, 3} // equal content, another list: built again
	if v := derive(&c, "k", equal, build); v != 30 || builds != 2 {
		t.Fatalf("another list: %d builds", builds)
	}
	if v := derive(&c, "k", equal[:2], build); v != 20 || builds != 3 {
		t.Fatalf("a shorter window of the same memory: %d, %d builds", v, builds)
	}
	if v := derive(&c, "other", equal[:2], build); v != 20 || builds != 4 {
		t.Fatalf("another key: %d builds", builds)
	}
}

func TestStackIndexByNameAcrossEndpoints(t *testing.T) {
	x := newStackIndex([]portainer.Stack{{Name: "blog", EndpointID: 1}, {Name: "Shop", EndpointID: 1}, {Name: "blog", EndpointID: 2}})
	if got := x["blog"]; !slices.Equal(got, []int{0, 2}) {
		t.Errorf("blog = %v, want positions 0 and 2", got)
	}
	if got := x["shop"]; !slices.Equal(got, []int{1}) {
		t.Errorf("shop (lower-cased) = %v", got)
	}
	if got := x["none"]; got != nil {
		t.Errorf("none = %v", got)
	}
}
