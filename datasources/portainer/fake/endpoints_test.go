package fake_test

import (
	"strings"
	"testing"

	"github.com/appmanage/appmanage/datasources/portainer/fake"
)

// Several environments of different types: each keeps its own containers
// and published ports (the same host port is free on one and taken on
// another), and the Docker proxy answers as Portainer does for a
// Kubernetes environment and for each kind of environment that is down.
func TestSeveralEndpoints(t *testing.T) {
	f, r := newFake(t, fake.Options{Endpoints: []fake.Endpoint{
		{ID: 1, Name: "local", Type: 1, URL: "unix:///var/run/docker.sock"},
		{ID: 2, Name: "agent", Type: 2, URL: "tcp://10.0.0.2:9001"},
		{ID: 3, Name: "k8s", Type: 5, URL: "https://kubernetes.default.svc"},
		{ID: 4, Name: "edge", Type: 4},
	}})
	for _, ep := range []int{1, 2} {
		r.expect("POST", "/api/stacks/create/standalone/string?endpointId="+itoa(ep),
			map[string]any{"Name": "web" + itoa(ep), "StackFileContent": compose}, 200, "")
	}
	// Port 8000 is published on both Docker hosts, each by its own project.
	for _, ep := range []int{1, 2} {
		cs := f.Containers(ep)
		if len(cs) != 1 || cs[0].Project() != "web"+itoa(ep) || cs[0].Ports[0].HostPort != 8000 {
			t.Fatalf("endpoint %d containers = %+v", ep, cs)
		}
		st, _, b := r.do("GET", "/api/endpoints/"+itoa(ep)+"/docker/containers/json?all=1", nil)
		if st != 200 || !strings.Contains(string(b), "web"+itoa(ep)) || strings.Contains(string(b), "web"+itoa(3-ep)) {
			t.Fatalf("endpoint %d list = %d %s", ep, st, b)
		}
	}
	// A second project wanting 8000 on endpoint 2 is refused there only.
	m := r.expect("POST", "/api/stacks/create/standalone/string?endpointId=2",
		map[string]any{"Name": "other", "StackFileContent": compose}, 500, "")
	if !strings.Contains(m["details"].(string)+m["message"].(string), "8000") {
		t.Fatalf("taken port refusal = %v", m)
	}

	// Kubernetes: the Docker proxy reaches the cluster's API server.
	m = r.expect("GET", "/api/endpoints/3/docker/containers/json?all=1", nil, 404, "the server could not find the requested resource")
	if m["kind"] != "Status" || m["reason"] != "NotFound" {
		t.Fatalf("kubernetes docker proxy = %v", m)
	}
	// Compose cannot run there.
	m = r.expect("POST", "/api/stacks/create/standalone/string?endpointId=3",
		map[string]any{"Name": "kube", "StackFileContent": compose}, 500, "")
	if !strings.Contains(m["message"].(string)+m["details"].(string), "Cannot connect to the Docker daemon at https://kubernetes.default.svc") {
		t.Fatalf("compose on kubernetes = %v", m)
	}

	// Down: each type answers its own way; the others are unaffected.
	f.SetEndpointStatus(1, 2)
	f.SetEndpointStatus(2, 2)
	f.SetEndpointStatus(4, 2)
	r.expect("GET", "/api/endpoints/1/docker/containers/json", nil, 502, "Unable to proxy the request via the Docker socket")
	m = r.expect("GET", "/api/endpoints/2/docker/containers/json", nil, 502, "Proxy failure")
	if !strings.Contains(m["details"].(string), "10.0.0.2:9001") {
		t.Fatalf("agent down details = %v", m)
	}
	r.expect("GET", "/api/endpoints/4/docker/containers/json", nil, 500, "Unable to get the active tunnel")
	f.SetEndpointStatus(1, 1)
	r.expect("GET", "/api/endpoints/1/docker/containers/json", nil, 200, "")
	// The endpoint list says which is down.
	st, _, b := r.do("GET", "/api/endpoints?status[]=2", nil)
	if st != 200 || !strings.Contains(string(b), `"agent"`) || strings.Contains(string(b), `"local"`) {
		t.Fatalf("down endpoints = %d %s", st, b)
	}
}
