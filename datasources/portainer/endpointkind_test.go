package portainer

import "testing"

func TestKindOf(t *testing.T) {
	for _, c := range []struct {
		typ              int
		kind             EndpointKind
		docker, kubernet bool
	}{
		{1, KindDocker, true, false},
		{2, KindAgent, true, false},
		{3, KindAzure, false, false},
		{4, KindEdgeAgent, true, false},
		{5, KindKubernetes, false, true},
		{6, KindKubernetesAgent, false, true},
		{7, KindKubernetesEdgeAgent, false, true},
		{0, KindUnknown, false, false},
		{8, KindUnknown, false, false},
	} {
		k := Endpoint{Type: c.typ}.Kind()
		if k != c.kind || k.Docker() != c.docker || k.Kubernetes() != c.kubernet {
			t.Errorf("type %d: kind %s docker %v kubernetes %v; want %s %v %v", c.typ, k, k.Docker(), k.Kubernetes(), c.kind, c.docker, c.kubernet)
		}
	}
}
