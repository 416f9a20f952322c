package portainer

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/appmanage/appmanage/datasources/upstream"
)

// Kubernetes environments (EndpointKind.Kubernetes): manifests deployed as
// Kubernetes stacks from a git repository, namespaces through Portainer's own
// Kubernetes routes, and workloads read and scaled through Portainer's
// Kubernetes proxy (/endpoints/{id}/kubernetes/..., a passthrough to the
// cluster's API server, as /docker/... is to the Docker Engine).

// KubernetesRepositoryStackRequest is the body of
// POST /stacks/create/kubernetes/repository
// (stacks.kubernetesGitDeploymentPayload).
type KubernetesRepositoryStackRequest struct {
	StackName                string   `json:"StackName"`
	Namespace                string   `json:"Namespace"`
	RepositoryURL            string   `json:"RepositoryURL"`
	RepositoryReferenceName  string   `json:"RepositoryReferenceName"`
	RepositoryAuthentication bool     `json:"RepositoryAuthentication"`
	RepositoryUsername       string   `json:"RepositoryUsername"`
	RepositoryPassword       string   `json:"RepositoryPassword"`
	ManifestFile             string   `json:"ManifestFile"`
	AdditionalFiles          []string `json:"AdditionalFiles,omitempty"`
	ComposeFormat            bool     `json:"ComposeFormat"`
	TLSSkipVerify            bool     `json:"TLSSkipVerify"`
}

// CreateKubernetesStackFromRepository clones the repository and applies its
// manifests (ManifestFile, then AdditionalFiles) in req.Namespace of
// endpointID. Never retried: after a failure, look the stack up by name.
func (c *Client) CreateKubernetesStackFromRepository(ctx context.Context, endpointID int, req KubernetesRepositoryStackRequest) (*Stack, error) {
	var out Stack
	_, err := c.do(ctx, c.deployCall(upstream.Call{
		Method: http.MethodPost, Path: "/stacks/create/kubernetes/repository",
		Query: endpointQuery(endpointID), Body: req, Result: &out,
		Idempotent: upstream.Bool(false),
	}))
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// namespaceDetails is kubernetes.K8sNamespaceDetails.
type namespaceDetails struct {
	Name        string            `json:"Name"`
	Annotations map[string]string `json:"Annotations,omitempty"`
}

// CreateNamespace creates a Kubernetes namespace (POST
// /kubernetes/{id}/namespaces). An existing one is an error matching
// ErrConflict.
func (c *Client) CreateNamespace(ctx context.Context, endpointID int, name string, annotations map[string]string) error {
	_, err := c.do(ctx, upstream.Call{
		Method: http.MethodPost, Route: "/kubernetes/{id}/namespaces", Path: fmt.Sprintf("/kubernetes/%d/namespaces", endpointID),
		Body: namespaceDetails{Name: name, Annotations: annotations}, Idempotent: upstream.Bool(false),
	})
	return err
}

// DeleteNamespace deletes a namespace and everything in it; ErrNotFound
// when there is none.
func (c *Client) DeleteNamespace(ctx context.Context, endpointID int, name string) error {
	_, err := c.do(ctx, c.deployCall(upstream.Call{
		Method: http.MethodDelete, Route: "/kubernetes/{id}/namespaces/{namespace}",
		Path: fmt.Sprintf("/kubernetes/%d/namespaces/%s", endpointID, url.PathEscape(name)),
	}))
	return err
}

// HelmInstallRequest is helm.installChartPayload: chart Chart from the
// chart repository Repo, installed as release Name in Namespace with Values
// (a values.yaml document). Portainer's route takes no chart version: it
// installs the newest version the repository's index lists.
type HelmInstallRequest struct {
	Chart     string `json:"chart"`
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	Repo      string `json:"repo"`
	Values    string `json:"values,omitempty"`
}

// HelmRelease is release.Release as Portainer answers an install.
type HelmRelease struct {
	Name      string         `json:"name"`
	Namespace string         `json:"namespace"`
	Version   int            `json:"version"`
	Manifest  string         `json:"manifest"`
	Config    map[string]any `json:"config"`
	Chart     *struct {
		Metadata *struct {
			Name       string `json:"name"`
			Version    string `json:"version"`
			AppVersion string `json:"appVersion"`
		} `json:"metadata"`
	} `json:"chart"`
}

// HelmReleaseElement is one entry of the release list (release.ReleaseElement).
type HelmReleaseElement struct {
	Name       string `json:"name"`
	Namespace  string `json:"namespace"`
	Chart      string `json:"chart"`
	AppVersion string `json:"app_version"`
	Revision   string `json:"revision"`
	Status     string `json:"status"`
	Updated    string `json:"updated"`
}

// InstallHelmChart installs a chart (POST /endpoints/{id}/kubernetes/helm).
// Never retried; after a failure, list the releases.
func (c *Client) InstallHelmChart(ctx context.Context, endpointID int, req HelmInstallRequest) (*HelmRelease, error) {
	var out HelmRelease
	_, err := c.do(ctx, c.deployCall(upstream.Call{
		Method: http.MethodPost, Route: "/endpoints/{id}/kubernetes/helm", Path: fmt.Sprintf("/endpoints/%d/kubernetes/helm", endpointID),
		Body: req, Result: &out, Idempotent: upstream.Bool(false),
	}))
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// ListHelmReleases lists the releases of namespace ("" = every namespace).
func (c *Client) ListHelmReleases(ctx context.Context, endpointID int, namespace string) ([]HelmReleaseElement, error) {
	q := url.Values{}
	if namespace != "" {
		q.Set("namespace", namespace)
	}
	var out []HelmReleaseElement
	_, err := c.do(ctx, upstream.Call{
		Method: http.MethodGet, Route: "/endpoints/{id}/kubernetes/helm", Path: fmt.Sprintf("/endpoints/%d/kubernetes/helm", endpointID),
		Query: q, Result: &out,
	})
	if err != nil {
		return nil, err
	}
	if out == nil {
		out = []HelmReleaseElement{}
	}
	return out, nil
}

// DeleteHelmRelease uninstalls a release.
func (c *Client) DeleteHelmRelease(ctx context.Context, endpointID int, name, namespace string) error {
	q := url.Values{}
	if namespace != "" {
		q.Set("namespace", namespace)
	}
	_, err := c.do(ctx, c.deployCall(upstream.Call{
		Method: http.MethodDelete, Route: "/endpoints/{id}/kubernetes/helm/{release}",
		Path:  fmt.Sprintf("/endpoints/%d/kubernetes/helm/%s", endpointID, url.PathEscape(name)),
		Query: q,
	}))
	return err
}

// ObjectMeta is the part of a Kubernetes object's metadata we read.
type ObjectMeta struct {
	Name              string            `json:"name"`
	Namespace         string            `json:"namespace"`
	UID               string            `json:"uid"`
	Labels            map[string]string `json:"labels"`
	Annotations       map[string]string `json:"annotations"`
	CreationTimestamp time.Time         `json:"creationTimestamp"`
}

// Deployment is an apps/v1 Deployment, reduced to what status and scaling
// need.
type Deployment struct {
	Metadata ObjectMeta `json:"metadata"`
	Spec     struct {
		Replicas *int `json:"replicas"`
		Template struct {
			Spec struct {
				Containers []struct {
					Name  string `json:"name"`
					Image string `json:"image"`
				} `json:"containers"`
			} `json:"spec"`
		} `json:"template"`
	} `json:"spec"`
	Status struct {
		Replicas          int `json:"replicas"`
		ReadyReplicas     int `json:"readyReplicas"`
		AvailableReplicas int `json:"availableReplicas"`
	} `json:"status"`
}

// DesiredReplicas is spec.replicas (Kubernetes' default 1 when unset).
func (d *Deployment) DesiredReplicas() int {
	if d.Spec.Replicas == nil {
		return 1
	}
	return *d.Spec.Replicas
}

type deploymentList struct {
	Items []Deployment `json:"items"`
}

// ListDeployments lists the Deployments of namespace, or of every namespace
// when it is "", through the Kubernetes proxy. The list is shared with
// other callers that got the same answer: do not modify it.
func (c *Client) ListDeployments(ctx context.Context, endpointID int, namespace string) ([]Deployment, error) {
	route, path := "/endpoints/{id}/kubernetes/apis/apps/v1/deployments", fmt.Sprintf("/endpoints/%d/kubernetes/apis/apps/v1/deployments", endpointID)
	if namespace != "" {
		route = "/endpoints/{id}/kubernetes/apis/apps/v1/namespaces/{namespace}/deployments"
		path = fmt.Sprintf("/endpoints/%d/kubernetes/apis/apps/v1/namespaces/%s/deployments", endpointID, url.PathEscape(namespace))
	}
	var out deploymentList
	if _, err := c.do(ctx, upstream.Call{Method: http.MethodGet, Route: route, Path: path, Result: &out}); err != nil {
		return nil, err
	}
	if out.Items == nil {
		out.Items = []Deployment{}
	}
	return out.Items, nil
}

// ScaleDeployment sets a Deployment's spec.replicas and merges annotations
// into its metadata (a JSON merge patch: a nil value removes a key).
func (c *Client) ScaleDeployment(ctx context.Context, endpointID int, namespace, name string, replicas int, annotations map[string]*string) error {
	patch := map[string]any{"spec": map[string]any{"replicas": replicas}}
	if len(annotations) > 0 {
		patch["metadata"] = map[string]any{"annotations": annotations}
	}
	b, err := json.Marshal(patch)
	if err != nil {
		return fmt.Errorf("portainer: encode scale patch: %w", err)
	}
	_, err = c.do(ctx, upstream.Call{
		Method: http.MethodPatch,
		Route:  "/endpoints/{id}/kubernetes/apis/apps/v1/namespaces/{namespace}/deployments/{name}",
		Path: fmt.Sprintf("/endpoints/%d/kubernetes/apis/apps/v1/namespaces/%s/deployments/%s",
			endpointID, url.PathEscape(namespace), url.PathEscape(name)),
		Header: http.Header{"Content-Type": {"application/merge-patch+json"}},
		Body:   b,
		// The same patch twice is the same state.
		Idempotent: upstream.Bool(true),
	})
	return err
}

// ReplicasAnnotation holds, on a Deployment scaled to 0 by a stop, the
// replicas a start restores.
const ReplicasAnnotation = "appmanage.io/replicas"

// ParseReplicas reads a ReplicasAnnotation value (1 when absent or bad).
func ParseReplicas(v string) int {
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 1
	}
	return n
}
