package apps

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/appmanage/appmanage/apperr"
	"github.com/appmanage/appmanage/datasources/faults"
	portainerfake "github.com/appmanage/appmanage/datasources/portainer/fake"
	"github.com/appmanage/appmanage/library"
	"github.com/appmanage/appmanage/ops"
)

// kubeEP is the Kubernetes environment of kubeEnv (1 is a Docker one).
const kubeEP = 3

// Routes of the fake for Kubernetes environments.
const (
	ptrCreateKube      = "POST /api/stacks/create/kubernetes/repository"
	ptrCreateNS        = "POST /api/kubernetes/{id}/namespaces"
	ptrDeleteNS        = "DELETE /api/kubernetes/{id}/namespaces/{namespace}"
	ptrHelmInstall     = "POST /api/endpoints/{id}/kubernetes/helm"
	ptrHelmList        = "GET /api/endpoints/{id}/kubernetes/helm"
	ptrHelmDelete      = "DELETE /api/endpoints/{id}/kubernetes/helm/{release}"
	ptrAllDeployments  = "GET /api/endpoints/{id}/kubernetes/apis/apps/v1/deployments"
	ptrNSDeployments   = "GET /api/endpoints/{id}/kubernetes/apis/apps/v1/namespaces/{namespace}/deployments"
	ptrPatchDeployment = "PATCH /api/endpoints/{id}/kubernetes/apis/apps/v1/namespaces/{namespace}/deployments/{name}"
)

func withKubeEndpoints() envOption {
	return withPortainer(func(o *portainerfake.Options) {
		o.Endpoints = []portainerfake.Endpoint{
			{ID: 1, Name: "local", Type: 1, URL: "unix:///var/run/docker.sock"},
			{ID: kubeEP, Name: "k8s", Type: 5, URL: "https://kubernetes.default.svc"},
		}
	})
}

func kubeEnv(t *testing.T, opts ...envOption) *testEnv {
	return newEnv(t, append([]envOption{withKubeEndpoints()}, opts...)...)
}

// kubeLeftovers is leftovers plus what the Kubernetes environment holds
// for appID: its namespace, objects in it, Helm releases.
func (e *testEnv) kubeLeftovers(appID string) []string {
	out := e.leftovers(appID)
	for _, ns := range e.Portainer.KubeNamespaces(kubeEP) {
		if ns == appID {
			out = append(out, fmt.Sprintf("namespace %s (%d objects)", ns, e.Portainer.KubeObjects(kubeEP, ns)))
		}
	}
	for _, d := range e.Portainer.KubeDeployments(kubeEP) {
		if d.Namespace == appID {
			out = append(out, "deployment "+d.Name)
		}
	}
	for _, r := range e.Portainer.HelmReleases(kubeEP) {
		if strings.HasPrefix(r, appID+"/") {
			out = append(out, "helm release "+r)
		}
	}
	return out
}

func (e *testEnv) listed(appID string) *AppSummary {
	e.t.Helper()
	e.Svc.InvalidateLists()
	l, err := e.Svc.NewView().Apps(context.Background(), ListQuery{})
	if err != nil {
		e.t.Fatal(err)
	}
	for _, p := range l.Problems {
		e.t.Errorf("listing problem: %v", p)
	}
	for i := range l.Apps {
		if l.Apps[i].ID == appID {
			return &l.Apps[i]
		}
	}
	return nil
}

func (e *testEnv) lifecycle(kind, appID string) *ops.Operation {
	e.t.Helper()
	ctx := context.Background()
	var op *ops.Operation
	var err error
	switch kind {
	case KindStart:
		op, err = e.Svc.StartApp(ctx, appID, "")
	case KindStop:
		op, err = e.Svc.StopApp(ctx, appID, "")
	case KindRestart:
		op, err = e.Svc.RestartApp(ctx, appID, "")
	case KindRedeploy:
		op, err = e.Svc.RedeployApp(ctx, appID, false, "")
	}
	if err != nil {
		e.t.Fatalf("%s %s: %v", kind, appID, err)
	}
	op = e.wait(op)
	if op.Status != ops.StatusSucceeded {
		e.t.Fatalf("%s %s: %s %s", kind, appID, op.Status, op.Error)
	}
	return op
}

func (e *testEnv) replicas(ns string) []int {
	var out []int
	for _, d := range e.Portainer.KubeDeployments(kubeEP) {
		if d.Namespace == ns {
			out = append(out, d.Replicas)
		}
	}
	return out
}

// Acceptance 2, apps level: the compose+Kubernetes library app (whoami)
// installs on the Kubernetes endpoint through
// /stacks/create/kubernetes/repository, lists ACTIVE with its endpoint,
// stops (scaled to 0), starts, restarts, redeploys, and uninstalls to
// nothing.
func TestKubernetesManifestsApp(t *testing.T) {
	e := kubeEnv(t)
	op := e.install(InstallRequest{AppName: "whoami", AppID: "kwho", EndpointID: kubeEP})
	if op.Status != ops.StatusSucceeded {
		t.Fatalf("install: %s %s", op.Status, op.Error)
	}
	if n := e.Portainer.Faults.Calls(ptrCreateKube); n != 1 {
		t.Errorf("kubernetes/repository called %d times, want 1", n)
	}
	if n := e.Portainer.Faults.Calls(ptrCreateRepo); n != 0 {
		t.Errorf("a compose stack was created (%d calls)", n)
	}
	files := e.Gitea.Files(e.Owner, "kwho", "main")
	for _, f := range []string{"kubernetes/deployment.yaml", "kubernetes/service.yaml", "docker-compose.yml", ".env"} {
		if _, ok := files[f]; !ok {
			t.Errorf("repository lacks %s", f)
		}
	}
	if h := e.Gitea.Commits(e.Owner, "kwho"); h != 1 {
		t.Errorf("repository has %d commits, want 1", h)
	}
	var st *portainerfake.Stack
	for _, s := range e.Portainer.Stacks() {
		if s.Name == "kwho" {
			st = &s
		}
	}
	if st == nil || st.Type != 3 || st.Namespace != "kwho" || st.EndpointID != kubeEP || st.EntryPoint != "kubernetes/deployment.yaml" || !slices.Equal(st.AdditionalFiles, []string{"kubernetes/service.yaml"}) {
		t.Fatalf("stack = %+v", st)
	}
	if ns := e.Portainer.KubeNamespaces(kubeEP); !slices.Contains(ns, "kwho") {
		t.Errorf("namespaces = %v", ns)
	}
	a := e.listed("kwho")
	if a == nil || a.Status != AppActive || a.EndpointID != kubeEP || !a.Official {
		t.Fatalf("listed = %+v", a)
	}
	cs, errs := e.Svc.NewView().Containers(context.Background(), []AppRef{a.AppRef})
	if errs[0] != nil || len(cs[0]) != 1 || cs[0][0].Image != "traefik/whoami:v1.10.3" {
		t.Errorf("containers = %+v %v", cs, errs)
	}

	e.lifecycle(KindStop, "kwho")
	if r := e.replicas("kwho"); !slices.Equal(r, []int{0}) {
		t.Errorf("replicas after stop = %v", r)
	}
	if a := e.listed("kwho"); a == nil || a.Status != AppInactive {
		t.Errorf("after stop: %+v", a)
	}
	if _, err := e.Svc.StopApp(context.Background(), "kwho", ""); apperr.CodeOf(err) != apperr.PreconditionFailed {
		t.Errorf("second stop: %v", err)
	}
	e.lifecycle(KindStart, "kwho")
	if r := e.replicas("kwho"); !slices.Equal(r, []int{1}) {
		t.Errorf("replicas after start = %v", r)
	}
	if a := e.listed("kwho"); a == nil || a.Status != AppActive {
		t.Errorf("after start: %+v", a)
	}
	e.lifecycle(KindRestart, "kwho")
	if n := e.Portainer.Faults.Calls(ptrPatchDeployment); n != 4 {
		t.Errorf("scale calls = %d, want 4 (stop, start, restart's stop and start)", n)
	}
	e.lifecycle(KindRedeploy, "kwho")
	if a := e.listed("kwho"); a == nil || a.Status != AppActive {
		t.Errorf("after redeploy: %+v", a)
	}

	// What appmanage does not do on Kubernetes is refused, saying why.
	if _, err := e.Svc.AddAppDomains(context.Background(), "kwho", []string{"kwho.example.com"}); apperr.CodeOf(err) != apperr.PreconditionFailed || !strings.Contains(err.Error(), "Nginx Proxy Manager") {
		t.Errorf("add domains: %v", err)
	}
	if _, err := e.Svc.UpgradeApp(context.Background(), UpgradeRequest{AppID: "kwho", Version: "latest"}); apperr.CodeOf(err) != apperr.PreconditionFailed {
		t.Errorf("upgrade: %v", err)
	}

	un := e.uninstall("kwho", false)
	if un.Status != ops.StatusSucceeded {
		t.Fatalf("uninstall: %s %s", un.Status, un.Error)
	}
	if l := e.kubeLeftovers("kwho"); len(l) != 0 {
		t.Errorf("leftovers: %v", l)
	}
	if a := e.listed("kwho"); a != nil {
		t.Errorf("still listed: %+v", a)
	}
}

// Acceptance 2, apps level: the Helm app (podinfo) installs through the
// Helm route with the repository's values, lists ACTIVE, stops and
// starts, refuses a redeploy, and uninstalls to nothing.
func TestKubernetesHelmApp(t *testing.T) {
	e := kubeEnv(t)
	op := e.install(InstallRequest{AppName: "podinfo", AppID: "hpod", EndpointID: kubeEP})
	if op.Status != ops.StatusSucceeded {
		t.Fatalf("install: %s %s", op.Status, op.Error)
	}
	if n := e.Portainer.Faults.Calls(ptrHelmInstall); n != 1 {
		t.Errorf("helm install called %d times", n)
	}
	if n := e.Portainer.Faults.Calls(ptrCreateKube) + e.Portainer.Faults.Calls(ptrCreateRepo); n != 0 {
		t.Errorf("a stack was created (%d calls)", n)
	}
	values, ok := e.Portainer.HelmReleaseValues(kubeEP, "hpod", "hpod")
	if !ok || values != string(e.Gitea.Files(e.Owner, "hpod", "main")["values.yaml"]) || !strings.Contains(values, "replicaCount: 1") {
		t.Errorf("release values = %q (%v), want the repository's values.yaml", values, ok)
	}
	if d := e.Portainer.KubeDeployments(kubeEP); len(d) != 1 || d[0].Image != "ghcr.io/stefanprodan/podinfo:6.7.1" {
		t.Errorf("deployments = %+v", d)
	}
	a := e.listed("hpod")
	if a == nil || a.Status != AppActive || a.EndpointID != kubeEP || !a.Official {
		t.Fatalf("listed = %+v", a)
	}
	l, err := e.Svc.NewView().Apps(context.Background(), ListQuery{IDsOnly: true})
	if err != nil || !slices.ContainsFunc(l.Apps, func(s AppSummary) bool { return s.ID == "hpod" && s.Status == AppActive }) {
		t.Errorf("ids-only listing: %+v %v", l, err)
	}
	if _, err := e.Svc.RedeployApp(context.Background(), "hpod", false, ""); apperr.CodeOf(err) != apperr.PreconditionFailed || !strings.Contains(err.Error(), "Helm") {
		t.Errorf("redeploy: %v", err)
	}
	e.lifecycle(KindStop, "hpod")
	if a := e.listed("hpod"); a == nil || a.Status != AppInactive {
		t.Errorf("after stop: %+v", a)
	}
	e.lifecycle(KindStart, "hpod")
	if a := e.listed("hpod"); a == nil || a.Status != AppActive {
		t.Errorf("after start: %+v", a)
	}
	un := e.uninstall("hpod", true)
	if un.Status != ops.StatusSucceeded {
		t.Fatalf("uninstall: %s %s", un.Status, un.Error)
	}
	if l := e.kubeLeftovers("hpod"); len(l) != 0 {
		t.Errorf("leftovers: %v", l)
	}
	if a := e.listed("hpod"); a != nil {
		t.Errorf("still listed: %+v", a)
	}
}

// kubeLibrary holds apps of each material form for the refusal tests.
func kubeLibrary(t *testing.T) *library.Library {
	env := []byte("W9_ID=x\nW9_VERSION=1.0\nW9_HTTP_PORT=80\nW9_URL=localhost:9100\nW9_NETWORK=websoft9\n")
	vars := func(n string) []byte {
		return []byte(`{"name":"` + n + `","edition":[{"dist":"community","version":["1.0"]}]}`)
	}
	deploy := []byte("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      containers:\n        - name: web\n          image: traefik/whoami:v1.10.3\n")
	fsys := fstest.MapFS{
		"kubeonly/.env":                  {Data: env},
		"kubeonly/variables.json":        {Data: vars("kubeonly")},
		"kubeonly/kubernetes/web.yaml":   {Data: deploy},
		"chartdir/.env":                  {Data: env},
		"chartdir/variables.json":        {Data: vars("chartdir")},
		"chartdir/chart/Chart.yaml":      {Data: []byte("apiVersion: v2\nname: web\nversion: 0.1.0\n")},
		"composeonly/.env":               {Data: env},
		"composeonly/variables.json":     {Data: vars("composeonly")},
		"composeonly/docker-compose.yml": {Data: []byte("services:\n  web:\n    image: traefik/whoami:v1.10.3\n    container_name: $W9_ID\n")},
	}
	lib, err := library.Load(fsys, testLogger(t))
	if err != nil || len(lib.Problems()) > 0 {
		t.Fatalf("library: %v %+v", err, lib.Problems())
	}
	return lib
}

// Preflight refuses an app whose material has no form for the endpoint's
// type, and domains on Kubernetes, before anything is written.
func TestKubernetesPreflightRefusals(t *testing.T) {
	e := kubeEnv(t, withLibrary(kubeLibrary(t)))
	tests := []struct {
		name  string
		req   InstallRequest
		field string
		says  string
	}{
		{"compose only on Kubernetes", InstallRequest{AppName: "composeonly", AppID: "c1", EndpointID: kubeEP}, "endpointId", "only compose material"},
		{"Kubernetes only on Docker", InstallRequest{AppName: "kubeonly", AppID: "k1", EndpointID: 1}, "endpointId", "no docker-compose.yml"},
		{"chart folder on Kubernetes", InstallRequest{AppName: "chartdir", AppID: "d1", EndpointID: kubeEP}, "endpointId", "chart repository only"},
		{"domains on Kubernetes", InstallRequest{AppName: "kubeonly", AppID: "k2", EndpointID: kubeEP, Domains: []string{"k2.example.com"}}, "domains", "NodePort"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := e.Portainer.Faults.AllCalls()
			_, err := e.Svc.Install(context.Background(), tc.req)
			ae, ok := apperr.As(err)
			if !ok || ae.Code != apperr.PreconditionFailed || ae.Field != tc.field || !strings.Contains(ae.Message, tc.says) {
				t.Fatalf("err = %v, want PRECONDITION_FAILED on %s saying %q", err, tc.field, tc.says)
			}
			if _, err := e.Svc.PlanInstall(context.Background(), tc.req); apperr.CodeOf(err) != apperr.PreconditionFailed {
				t.Errorf("plan: %v", err)
			}
			after := e.Portainer.Faults.AllCalls()
			for route, n := range after {
				if !strings.HasPrefix(route, "GET ") && n != before[route] {
					t.Errorf("%s called during a refused install", route)
				}
			}
			if l := e.kubeLeftovers(tc.req.AppID); len(l) != 0 {
				t.Errorf("leftovers: %v", l)
			}
		})
	}
	// The same Kubernetes-only app installs on the Kubernetes endpoint.
	if op := e.install(InstallRequest{AppName: "kubeonly", AppID: "k3", EndpointID: kubeEP}); op.Status != ops.StatusSucceeded {
		t.Fatalf("kubeonly on Kubernetes: %s %s", op.Status, op.Error)
	}
	// An id taken by a namespace's workloads is refused in preflight.
	if _, err := e.Svc.Install(context.Background(), InstallRequest{AppName: "kubeonly", AppID: "k3", EndpointID: kubeEP}); apperr.CodeOf(err) != apperr.Conflict {
		t.Errorf("taken id: %v", err)
	}
}

// The fault matrix of the Kubernetes install steps: every call of the
// stack step, failed in each way, leaves the app complete or gone.
func TestKubernetesInstallFaultMatrix(t *testing.T) {
	if testing.Short() {
		t.Skip("fault matrix")
	}
	type target struct {
		app, route string
		write      bool
	}
	targets := []target{
		{"whoami", ptrCreateNS, true},
		{"whoami", ptrCreateKube, true},
		{"whoami", ptrNSDeployments, false},
		{"podinfo", ptrCreateNS, true},
		{"podinfo", ptrHelmInstall, true},
		{"podinfo", ptrNSDeployments, false},
	}
	kinds := []struct {
		name  string
		write bool
		f     faults.Fault
	}{
		{"500", false, faults.Fault{Status: 500, Body: `{"message":"injected","details":"Internal Server Error"}`}},
		{"drop", false, faults.Fault{Drop: true}},
		{"timeout", false, faults.Fault{Delay: 1500 * time.Millisecond}},
		{"after-drop", true, faults.Fault{Drop: true, Phase: faults.After}},
	}
	n := 0
	for _, tg := range targets {
		for _, k := range kinds {
			if k.write && !tg.write {
				continue
			}
			for _, times := range []int{1, 10} {
				if k.name == "timeout" && times > 1 {
					continue // each costs the client's timeout: once is enough
				}
				n++
				id := fmt.Sprintf("fm%d", n)
				name := fmt.Sprintf("%s/%s/%s/x%d", tg.app, tg.route, k.name, times)
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					e := kubeEnv(t, withClientTimeout(time.Second), withQuietLog(), withDeferredStart(),
						withOps(func(o *ops.Options) { o.UndoAttempts = 15 }))
					f := k.f
					f.Times = times
					// The faults are armed once preflight (which lists
					// the namespace's deployments too) is past.
					op, err := e.Svc.Install(context.Background(), InstallRequest{AppName: tg.app, AppID: id, EndpointID: kubeEP})
					if err != nil {
						t.Fatal(err)
					}
					e.Portainer.Faults.Fail(tg.route, f)
					e.run()
					done := e.wait(op)
					e.Portainer.Faults.Clear()
					left := e.kubeLeftovers(id)
					t.Logf("%s: %s %s", name, done.Status, done.Error)
					if e.Portainer.Faults.Calls(tg.route) == 0 {
						t.Errorf("route %s never called: the fault had no effect", tg.route)
					}
					switch done.Status {
					case ops.StatusSucceeded:
						if !slices.ContainsFunc(left, func(s string) bool { return strings.HasPrefix(s, "namespace ") }) ||
							!slices.ContainsFunc(left, func(s string) bool { return strings.HasPrefix(s, "deployment ") }) {
							t.Errorf("succeeded but incomplete: %v", left)
						}
						if un := e.uninstall(id, true); un.Status != ops.StatusSucceeded {
							t.Fatalf("uninstall: %s %s", un.Status, un.Error)
						}
						if l := e.kubeLeftovers(id); len(l) != 0 {
							t.Errorf("after uninstall: %v", l)
						}
					case ops.StatusRolledBack, ops.StatusFailed:
						if len(left) != 0 {
							t.Errorf("%s with leftovers: %v (error %s)", done.Status, left, done.Error)
						}
					default:
						t.Errorf("status %s", done.Status)
					}
				})
			}
		}
	}
}

// The crash test of the Kubernetes install steps: the process dies with
// each of the stack step's calls in flight (before, or after the upstream
// did the work); a new process on the same database brings the install to
// an end with the app complete or gone.
func TestKubernetesCrashDuringInstall(t *testing.T) {
	points := []struct {
		app   string
		route string
		phase faults.Phase
	}{
		{"whoami", ptrCreateNS, faults.Before},
		{"whoami", ptrCreateNS, faults.After},
		{"whoami", ptrCreateKube, faults.Before},
		{"whoami", ptrCreateKube, faults.After},
		{"whoami", ptrNSDeployments, faults.Before},
		{"podinfo", ptrHelmInstall, faults.Before},
		{"podinfo", ptrHelmInstall, faults.After},
	}
	for i, p := range points {
		t.Run(fmt.Sprintf("%s %s phase %d", p.app, p.route, p.phase), func(t *testing.T) {
			t.Parallel()
			e := kubeEnv(t, withDeferredStart(), withClientTimeout(crashHold))
			id := fmt.Sprintf("kc%d", i)
			op, err := e.Svc.Install(context.Background(), InstallRequest{AppName: p.app, AppID: id, EndpointID: kubeEP})
			if err != nil {
				t.Fatal(err)
			}
			e.crashAt(crashPoint{fake: "portainer", route: p.route, phase: p.phase})
			op = e.wait(op)
			e.checkResumed(crashPoint{fake: "portainer"}, op)
			left := e.kubeLeftovers(id)
			switch op.Status {
			case ops.StatusSucceeded:
				if !slices.ContainsFunc(left, func(s string) bool { return strings.HasPrefix(s, "deployment ") }) ||
					!slices.ContainsFunc(left, func(s string) bool { return strings.HasPrefix(s, "gitea repo ") }) {
					t.Fatalf("succeeded after the crash, but the fakes hold %v", left)
				}
			case ops.StatusRolledBack:
				if len(left) != 0 {
					t.Fatalf("rolled back after the crash (%s), but left %v", op.Error, left)
				}
			default:
				t.Fatalf("ended %s (%s); fakes hold %v", op.Status, op.Error, left)
			}
			t.Logf("%s", op.Status)
		})
	}
}
