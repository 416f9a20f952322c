package portainer

// EndpointKind is what an environment's Type (portainer.EndpointType) means
// for deploying to it: where its containers are listed and which stack
// routes apply.
type EndpointKind string

// The kinds, by Portainer's EndpointType values (1–7).
const (
	KindDocker              EndpointKind = "DOCKER"                // 1: Docker API, local socket or TCP
	KindAgent               EndpointKind = "AGENT"                 // 2: Portainer agent on Docker
	KindAzure               EndpointKind = "AZURE"                 // 3: Azure container instances
	KindEdgeAgent           EndpointKind = "EDGE_AGENT"            // 4: Edge agent on Docker
	KindKubernetes          EndpointKind = "KUBERNETES"            // 5: Kubernetes, local
	KindKubernetesAgent     EndpointKind = "KUBERNETES_AGENT"      // 6: agent on Kubernetes
	KindKubernetesEdgeAgent EndpointKind = "KUBERNETES_EDGE_AGENT" // 7: Edge agent on Kubernetes
	KindUnknown             EndpointKind = "UNKNOWN"
)

// KindOf maps an Endpoint.Type to its kind.
func KindOf(endpointType int) EndpointKind {
	switch endpointType {
	case 1:
		return KindDocker
	case 2:
		return KindAgent
	case 3:
		return KindAzure
	case 4:
		return KindEdgeAgent
	case 5:
		return KindKubernetes
	case 6:
		return KindKubernetesAgent
	case 7:
		return KindKubernetesEdgeAgent
	}
	return KindUnknown
}

// Docker reports whether the endpoint runs compose stacks through the
// Docker proxy (/endpoints/{id}/docker/...).
func (k EndpointKind) Docker() bool {
	return k == KindDocker || k == KindAgent || k == KindEdgeAgent
}

// Kubernetes reports whether the endpoint is a Kubernetes cluster
// (manifests and Helm charts, no Docker proxy).
func (k EndpointKind) Kubernetes() bool {
	return k == KindKubernetes || k == KindKubernetesAgent || k == KindKubernetesEdgeAgent
}

// Kind is the endpoint's kind.
func (e Endpoint) Kind() EndpointKind { return KindOf(e.Type) }
