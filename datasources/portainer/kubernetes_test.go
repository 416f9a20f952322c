package portainer_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/appmanage/appmanage/datasources/contract"
	"github.com/appmanage/appmanage/datasources/faults"
	"github.com/appmanage/appmanage/datasources/portainer"
	"github.com/appmanage/appmanage/datasources/portainer/fake"
	"github.com/appmanage/appmanage/datasources/suite"
)

const kubeManifest = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  template:
    spec:
      containers:
        - name: web
          image: traefik/whoami:v1.10.3
`

const kubeService = `apiVersion: v1
kind: Service
metadata:
  name: web
`

// kubeEndpoints: a Docker environment (1) and a Kubernetes one (3).
func kubeEndpoints(o *fake.Options) {
	o.Endpoints = []fake.Endpoint{{ID: 1, Name: "local"}, {ID: 3, Name: "k8s", Type: 5, URL: "https://kubernetes.default.svc"}}
}

func (g *gitSource) kubeRequest(stack, ns string) portainer.KubernetesRepositoryStackRequest {
	return portainer.KubernetesRepositoryStackRequest{
		StackName: stack, Namespace: ns, RepositoryURL: g.cloneURL, RepositoryReferenceName: "refs/heads/main",
		RepositoryAuthentication: true, RepositoryUsername: g.creds.Username, RepositoryPassword: g.creds.Password,
		ManifestFile: "kubernetes/deployment.yaml", AdditionalFiles: []string{"kubernetes/service.yaml"},
	}
}

// TestKubernetesContract runs every Kubernetes and Helm route of the client
// against the fake with the exchanges on documented routes checked against
// the 2.21.4 Swagger. The Kubernetes proxy (/endpoints/{id}/kubernetes/api
// and /apis) is not in the spec: TestKubernetesProxyShapes checks it.
func TestKubernetesContract(t *testing.T) {
	suite.FakeOnly(t)
	v, err := contract.LoadSwagger2(contract.Spec(t, "portainer-swagger.yaml"), "/api",
		contract.Ignore(`^/api/endpoints/[0-9]+/docker/`), contract.Ignore(`^/api/endpoints/[0-9]+/kubernetes/apis?/`))
	if err != nil {
		t.Fatal(err)
	}
	var bad violations
	src := newGitSource(t, "kct", map[string]string{"kubernetes/deployment.yaml": kubeManifest, "kubernetes/service.yaml": kubeService})
	cfg, tgt := suite.Portainer(t, suite.WithPortainerServerWrap(contract.Middleware(v, bad.report)), suite.WithPortainerFake(kubeEndpoints))
	c := newClient(t, cfg)
	ctx := ctxT(t)
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	must("namespace", c.CreateNamespace(ctx, 3, "kct", map[string]string{"appmanage.io/app": "kct"}))
	if err := c.CreateNamespace(ctx, 3, "kct", nil); !errors.Is(err, portainer.ErrConflict) {
		t.Errorf("second namespace create: %v, want ErrConflict", err)
	}
	st, err := c.CreateKubernetesStackFromRepository(ctx, 3, src.kubeRequest("kct", "kct"))
	must("create kubernetes stack", err)
	if st.Type != portainer.StackTypeKubernetes || st.Namespace != "kct" || st.EndpointID != 3 || st.GitConfig == nil {
		t.Errorf("stack = %+v", st)
	}
	if _, err := c.CreateKubernetesStackFromRepository(ctx, 3, src.kubeRequest("kct", "kct")); !errors.Is(err, portainer.ErrConflict) {
		t.Errorf("second create: %v, want ErrConflict", err)
	}
	if _, err := c.CreateKubernetesStackFromRepository(ctx, 3, src.kubeRequest("other", "nosuch")); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("create in a missing namespace: %v", err)
	}
	ds, err := c.ListDeployments(ctx, 3, "")
	must("list deployments", err)
	if len(ds) != 1 || ds[0].Metadata.Name != "web" || ds[0].Metadata.Namespace != "kct" || ds[0].DesiredReplicas() != 2 || ds[0].Status.ReadyReplicas != 2 {
		t.Fatalf("deployments = %+v", ds)
	}
	if ds[0].Metadata.Labels["io.portainer.kubernetes.application.stack"] != "kct" {
		t.Errorf("labels = %v", ds[0].Metadata.Labels)
	}
	must("scale", c.ScaleDeployment(ctx, 3, "kct", "web", 0, map[string]*string{portainer.ReplicasAnnotation: new("2")}))
	ds, err = c.ListDeployments(ctx, 3, "kct")
	must("list namespace", err)
	if ds[0].DesiredReplicas() != 0 || ds[0].Status.ReadyReplicas != 0 || ds[0].Metadata.Annotations[portainer.ReplicasAnnotation] != "2" {
		t.Errorf("after scale: %+v", ds[0])
	}
	if err := c.ScaleDeployment(ctx, 3, "kct", "nosuch", 1, nil); !errors.Is(err, portainer.ErrNotFound) {
		t.Errorf("scale unknown: %v", err)
	}
	_, err = c.RedeployStackGit(ctx, st.ID, 3, portainer.GitRedeployFromStack(st, &portainer.GitCredentials{Username: src.creds.Username, Password: src.creds.Password}, false))
	must("redeploy", err)
	if ds, _ := c.ListDeployments(ctx, 3, "kct"); ds[0].DesiredReplicas() != 2 {
		t.Errorf("redeploy did not re-apply the manifest: %+v", ds[0])
	}

	must("helm namespace", c.CreateNamespace(ctx, 3, "hct", nil))
	rel, err := c.InstallHelmChart(ctx, 3, portainer.HelmInstallRequest{Chart: "podinfo", Name: "hct", Namespace: "hct", Repo: "https://stefanprodan.github.io/podinfo",
		Values: "replicaCount: 3\nimage:\n  repository: ghcr.io/stefanprodan/podinfo\n  tag: 6.7.1\n"})
	must("helm install", err)
	if rel.Name != "hct" || rel.Namespace != "hct" || rel.Version != 1 {
		t.Errorf("release = %+v", rel)
	}
	if _, err := c.InstallHelmChart(ctx, 3, portainer.HelmInstallRequest{Chart: "podinfo", Name: "hct", Namespace: "hct", Repo: "https://stefanprodan.github.io/podinfo"}); err == nil || !strings.Contains(err.Error(), "still in use") {
		t.Errorf("second install: %v", err)
	}
	rels, err := c.ListHelmReleases(ctx, 3, "hct")
	must("helm list", err)
	if len(rels) != 1 || rels[0].Name != "hct" || rels[0].Status != "deployed" {
		t.Errorf("releases = %+v", rels)
	}
	ds, _ = c.ListDeployments(ctx, 3, "hct")
	if len(ds) != 1 || ds[0].DesiredReplicas() != 3 || ds[0].Spec.Template.Spec.Containers[0].Image != "ghcr.io/stefanprodan/podinfo:6.7.1" {
		t.Errorf("release deployment = %+v", ds)
	}
	must("helm delete", c.DeleteHelmRelease(ctx, 3, "hct", "hct"))
	if err := c.DeleteHelmRelease(ctx, 3, "hct", "hct"); !errors.Is(err, portainer.ErrNotFound) {
		t.Errorf("second helm delete: %v", err)
	}
	if ds, _ := c.ListDeployments(ctx, 3, "hct"); len(ds) != 0 {
		t.Errorf("release deployment left: %+v", ds)
	}

	must("delete stack", c.DeleteStack(ctx, st.ID, 3))
	if ds, _ := c.ListDeployments(ctx, 3, "kct"); len(ds) != 0 {
		t.Errorf("stack deployment left: %+v", ds)
	}
	must("delete namespace", c.DeleteNamespace(ctx, 3, "kct"))
	must("delete helm namespace", c.DeleteNamespace(ctx, 3, "hct"))
	if err := c.DeleteNamespace(ctx, 3, "kct"); !errors.Is(err, portainer.ErrNotFound) {
		t.Errorf("second namespace delete: %v", err)
	}
	if ns := tgt.Fake.KubeNamespaces(3); len(ns) != 0 {
		t.Errorf("namespaces left: %v", ns)
	}
	// The Docker proxy of a Kubernetes environment: the API server's 404.
	if _, err := c.ListContainers(ctx, 3, portainer.ContainerFilter{All: true}); !errors.Is(err, portainer.ErrNotFound) {
		t.Errorf("docker proxy on kubernetes: %v", err)
	}
	// Kubernetes routes on a Docker environment are refused.
	if _, err := c.ListHelmReleases(ctx, 1, ""); err == nil {
		t.Error("helm list on a Docker environment succeeded")
	}
	if _, err := c.CreateKubernetesStackFromRepository(ctx, 1, src.kubeRequest("dock", "dock")); err == nil {
		t.Error("kubernetes stack on a Docker environment succeeded")
	}

	for _, err := range bad.list() {
		t.Errorf("contract violation: %v", err)
	}
	checked := v.Checked()
	for _, route := range []string{
		"POST /stacks/create/kubernetes/repository", "POST /kubernetes/{id}/namespaces", "DELETE /kubernetes/{id}/namespaces/{namespace}",
		"GET /endpoints/{id}/kubernetes/helm", "POST /endpoints/{id}/kubernetes/helm", "DELETE /endpoints/{id}/kubernetes/helm/{release}",
		"PUT /stacks/{id}/git/redeploy", "DELETE /stacks/{id}",
	} {
		if checked[route] == 0 {
			t.Errorf("route %s was never checked (checked: %v)", route, v.CheckedRoutes())
		}
	}
	for _, route := range []string{
		"GET /api/endpoints/{id}/kubernetes/apis/apps/v1/deployments",
		"GET /api/endpoints/{id}/kubernetes/apis/apps/v1/namespaces/{namespace}/deployments",
		"PATCH /api/endpoints/{id}/kubernetes/apis/apps/v1/namespaces/{namespace}/deployments/{name}",
	} {
		if tgt.Fake.Faults.Calls(route) == 0 {
			t.Errorf("proxy route %s not exercised", route)
		}
	}
}

// TestKubernetesProxyShapes checks the fake's Kubernetes API answers in
// code against apps/v1: the DeploymentList, a Deployment's fields, the
// Status error object, and the media types a PATCH takes.
func TestKubernetesProxyShapes(t *testing.T) {
	suite.FakeOnly(t)
	src := newGitSource(t, "kps", map[string]string{"kubernetes/deployment.yaml": kubeManifest, "kubernetes/service.yaml": kubeService})
	cfg, tgt := suite.Portainer(t, suite.WithPortainerFake(kubeEndpoints))
	c := newClient(t, cfg)
	ctx := ctxT(t)
	if err := c.CreateNamespace(ctx, 3, "kps", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateKubernetesStackFromRepository(ctx, 3, src.kubeRequest("kps", "kps")); err != nil {
		t.Fatal(err)
	}
	base := tgt.Fake.URL() + "/api/endpoints/3/kubernetes/apis/apps/v1"
	list := checkShape(t, "DeploymentList", getJSON(t, base+"/deployments", 200), shape{"kind": "string", "apiVersion": "string", "metadata": "object", "items": "array"})
	if list["kind"] != "DeploymentList" {
		t.Errorf("kind = %v", list["kind"])
	}
	items := list["items"].([]any)
	if len(items) != 1 {
		t.Fatalf("items = %v", items)
	}
	d := checkShape(t, "Deployment", items[0], shape{"apiVersion": "string", "kind": "string", "metadata": "object", "spec": "object", "status": "object"})
	checkShape(t, "metadata", d["metadata"], shape{"name": "string", "namespace": "string", "uid": "string", "creationTimestamp": "string", "labels": "object", "annotations": "object"})
	spec := checkShape(t, "spec", d["spec"], shape{"replicas": "number", "selector": "object", "template": "object"})
	tpl := checkShape(t, "template", spec["template"], shape{"spec": "object"})
	checkShape(t, "template.spec", tpl["spec"], shape{"containers": "array"})
	checkShape(t, "status", d["status"], shape{"replicas": "number", "readyReplicas": "number", "availableReplicas": "number"})
	empty := checkShape(t, "empty list", getJSON(t, base+"/namespaces/nosuch/deployments", 200), shape{"items": "array"})
	if len(empty["items"].([]any)) != 0 {
		t.Errorf("unknown namespace lists %v", empty["items"])
	}
	// A PATCH without a patch media type: 415 in the Status shape.
	req, _ := http.NewRequest(http.MethodPatch, base+"/namespaces/kps/deployments/web", strings.NewReader(`{"spec":{"replicas":1}}`))
	req.Header.Set("X-API-Key", fake.DefaultAPIKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 415 {
		t.Errorf("PATCH application/json: %d, want 415", resp.StatusCode)
	}
	// The Docker proxy of a Kubernetes environment answers as the API server.
	st := checkShape(t, "Status", getJSON(t, tgt.Fake.URL()+"/api/endpoints/3/docker/containers/json", 404),
		shape{"kind": "string", "apiVersion": "string", "status": "string", "message": "string", "reason": "string", "code": "number"})
	if st["kind"] != "Status" || st["reason"] != "NotFound" {
		t.Errorf("status = %v", st)
	}
	// Faults reach the new routes like every other.
	tgt.Fake.Faults.Fail("GET /api/endpoints/{id}/kubernetes/apis/apps/v1/deployments", faults.Fault{Status: 503})
	if _, err := c.ListDeployments(ctx, 3, ""); err != nil {
		t.Errorf("a 503 is retried for a list: %v", err)
	}
	tgt.Fake.SetEndpointStatus(3, 2)
	if _, err := c.ListDeployments(ctx, 3, ""); !errors.Is(err, portainer.ErrUnavailable) {
		t.Errorf("environment down: %v, want ErrUnavailable", err)
	}
}
