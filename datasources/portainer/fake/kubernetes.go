package fake

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	json "github.com/goccy/go-json"
	"github.com/goccy/go-yaml"
)

// The fake's Kubernetes environments (Type 5-7): namespaces holding the
// objects that Kubernetes stacks and Helm releases applied. Deployments are
// modelled (replicas, ready replicas, the first container's image, labels
// and annotations); other kinds are kept by kind and name so that deleting
// their owner removes them. Pods become ready at once.

// Labels Portainer puts on what a Kubernetes stack applies (KubeAppLabels).
const (
	kubeLabelStackID   = "io.portainer.kubernetes.application.stackid"
	kubeLabelStackName = "io.portainer.kubernetes.application.stack"
	kubeLabelOwner     = "io.portainer.kubernetes.application.owner"
	kubeLabelKind      = "io.portainer.kubernetes.application.kind"
)

type kubeState struct {
	namespaces map[int]map[string]*kubeNamespace // by endpoint, by name
	releases   map[int]map[string]*helmRelease   // by endpoint, by namespace/name
	nextUID    int
}

type kubeNamespace struct {
	name        string
	created     time.Time
	annotations map[string]string
	objects     map[string]*kubeObject // by kind/name
}

type kubeObject struct {
	kind, name string
	owner      string // "stack:<id>" or "helm:<release>"
	uid        string
	created    time.Time
	labels     map[string]string
	annots     map[string]string
	// Deployments only.
	replicas int
	image    string
	cname    string
}

type helmRelease struct {
	name, namespace, chart, repo, values string
	revision                             int
	updated                              time.Time
}

// kubeLocked returns the Kubernetes state, made on first use (s.mu held).
func (s *Server) kubeLocked() *kubeState {
	if s.kube == nil {
		s.kube = &kubeState{namespaces: map[int]map[string]*kubeNamespace{}, releases: map[int]map[string]*helmRelease{}}
	}
	return s.kube
}

func isKubeType(t int) bool { return t >= 5 && t <= 7 }

// kubeEndpointLocked resolves {id} to a Kubernetes environment.
func (s *Server) kubeEndpointLocked(r *http.Request) (*Endpoint, *httpErr) {
	id, ok := pathID(r, "id")
	if !ok {
		return nil, perr(400, "Invalid environment identifier route variable", "invalid syntax")
	}
	ep, ok := s.endpointLocked(id)
	if !ok {
		return nil, perr(404, "Unable to find an environment with the specified identifier inside the database", "object not found inside the database")
	}
	if !isKubeType(ep.Type) {
		return nil, perr(400, "Environment is not a Kubernetes environment", "environment type is not Kubernetes")
	}
	if ep.Status == 2 {
		return nil, perr(502, "Unable to reach the Kubernetes API", "environment is down")
	}
	return ep, nil
}

// kubeStatus answers in the Kubernetes API server's own error shape.
func kubeStatus(w http.ResponseWriter, code int, reason, msg string) {
	writeJSON(w, code, map[string]any{
		"kind": "Status", "apiVersion": "v1", "metadata": map[string]any{},
		"status": "Failure", "message": msg, "reason": reason, "details": map[string]any{}, "code": code,
	})
}

// dockerOnly guards the Docker proxy: on a Kubernetes environment Portainer
// forwards /docker/... to the Kubernetes API server, which knows no such
// path.
func (s *Server) dockerOnly(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if id, ok := pathID(r, "id"); ok {
			s.mu.Lock()
			ep, found := s.endpointLocked(id)
			kube := found && isKubeType(ep.Type)
			s.mu.Unlock()
			if kube {
				kubeStatus(w, 404, "NotFound", "the server could not find the requested resource")
				return
			}
		}
		h(w, r)
	}
}

// ---- manifests ----

type manifestDoc struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name        string            `yaml:"name"`
		Namespace   string            `yaml:"namespace"`
		Labels      map[string]string `yaml:"labels"`
		Annotations map[string]string `yaml:"annotations"`
	} `yaml:"metadata"`
	Spec struct {
		Replicas *int `yaml:"replicas"`
		Template struct {
			Spec struct {
				Containers []struct {
					Name  string `yaml:"name"`
					Image string `yaml:"image"`
				} `yaml:"containers"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

// parseManifests reads every YAML document of a manifest file, as kubectl
// apply does: each non-empty one must name apiVersion, kind and
// metadata.name.
func parseManifests(file string, b []byte) ([]manifestDoc, error) {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var out []manifestDoc
	for i := 1; ; i++ {
		var raw map[string]any
		err := dec.Decode(&raw)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("error parsing %s: %w", file, err)
		}
		if len(raw) == 0 {
			continue
		}
		enc, err := yaml.Marshal(raw)
		if err != nil {
			return nil, err
		}
		var d manifestDoc
		if err := yaml.Unmarshal(enc, &d); err != nil {
			return nil, fmt.Errorf("error parsing %s (document %d): %w", file, i, err)
		}
		if d.APIVersion == "" || d.Kind == "" {
			return nil, fmt.Errorf("error validating %q: error validating data: [apiVersion not set, kind not set]", file)
		}
		if d.Metadata.Name == "" {
			return nil, fmt.Errorf("error when retrieving current configuration of %s: resource name may not be empty", d.Kind)
		}
		out = append(out, d)
	}
	return out, nil
}

// applyLocked creates or updates the objects of docs in namespace ns,
// owned by owner; objects of that owner the docs no longer hold are
// deleted (a re-apply with prune).
func (s *Server) applyLocked(endpointID int, ns string, owner string, docs []manifestDoc, labels map[string]string) error {
	k := s.kubeLocked()
	n, ok := k.namespaces[endpointID][ns]
	if !ok {
		return fmt.Errorf("namespaces %q not found", ns)
	}
	for _, d := range docs {
		if d.Metadata.Namespace != "" && d.Metadata.Namespace != ns {
			return fmt.Errorf("the namespace from the provided object %q does not match the namespace %q. You must pass '--namespace=%s' to perform this operation", d.Metadata.Namespace, ns, d.Metadata.Namespace)
		}
	}
	now := time.Now()
	keep := map[string]bool{}
	for _, d := range docs {
		key := d.Kind + "/" + d.Metadata.Name
		keep[key] = true
		o, exists := n.objects[key]
		if !exists {
			k.nextUID++
			o = &kubeObject{kind: d.Kind, name: d.Metadata.Name, uid: fmt.Sprintf("%08x-0000-4000-8000-%012x", k.nextUID, k.nextUID), created: now}
			n.objects[key] = o
		}
		o.owner = owner
		o.labels = maps.Clone(d.Metadata.Labels)
		if o.labels == nil {
			o.labels = map[string]string{}
		}
		maps.Copy(o.labels, labels)
		o.annots = maps.Clone(d.Metadata.Annotations)
		if d.Kind == "Deployment" {
			o.replicas = 1
			if d.Spec.Replicas != nil {
				o.replicas = *d.Spec.Replicas
			}
			if cs := d.Spec.Template.Spec.Containers; len(cs) > 0 {
				o.image, o.cname = cs[0].Image, cs[0].Name
			}
		}
	}
	for key, o := range n.objects {
		if o.owner == owner && !keep[key] {
			delete(n.objects, key)
		}
	}
	return nil
}

// removeOwnedLocked deletes every object owner applied on the endpoint.
func (s *Server) removeOwnedLocked(endpointID int, owner string) {
	for _, n := range s.kubeLocked().namespaces[endpointID] {
		for key, o := range n.objects {
			if o.owner == owner {
				delete(n.objects, key)
			}
		}
	}
}

// ---- Kubernetes stacks ----

func (s *Server) handleCreateKubernetesRepository(w http.ResponseWriter, r *http.Request) {
	endpointID, e := s.createPreamble(r)
	if e != nil {
		writeErr(w, e)
		return
	}
	var p struct {
		StackName                string
		Namespace                string
		ComposeFormat            bool
		RepositoryURL            string
		RepositoryReferenceName  string
		RepositoryAuthentication bool
		RepositoryUsername       string
		RepositoryPassword       string
		ManifestFile             string
		AdditionalFiles          []string
		AutoUpdate               *AutoUpdate
		TLSSkipVerify            bool
	}
	if e := decode(r, &p); e != nil {
		writeErr(w, e)
		return
	}
	bad := ""
	switch {
	case !validURL(p.RepositoryURL):
		bad = "Invalid repository URL. Must correspond to a valid URL format"
	case p.RepositoryAuthentication && p.RepositoryPassword == "":
		bad = "Invalid repository credentials. Password must be specified when authentication is enabled"
	case strings.TrimSpace(p.ManifestFile) == "":
		bad = "Invalid manifest file in repository"
	case validateAutoUpdate(p.AutoUpdate) != "":
		bad = validateAutoUpdate(p.AutoUpdate)
	case strings.TrimSpace(p.StackName) == "":
		bad = "Invalid stack name"
	}
	if bad != "" {
		writeErr(w, perr(400, "Invalid request payload", bad))
		return
	}
	if p.RepositoryReferenceName == "" {
		p.RepositoryReferenceName = "refs/heads/main"
	}
	ns := cmp.Or(p.Namespace, "default")
	s.lockState()
	ep, _ := s.endpointLocked(endpointID)
	if !isKubeType(ep.Type) {
		s.mu.Unlock()
		writeErr(w, perr(400, "Invalid request payload", "environment is not a Kubernetes environment"))
		return
	}
	if e := s.kubeUniqueLocked(endpointID, p.StackName, ns); e != nil {
		s.mu.Unlock()
		writeErr(w, e)
		return
	}
	id := s.nextStack
	s.nextStack++
	s.mu.Unlock()

	src := gitSource{URL: p.RepositoryURL, Ref: p.RepositoryReferenceName, TLSSkipVerify: p.TLSSkipVerify}
	if p.RepositoryAuthentication {
		src.Auth, src.Username, src.Password = true, p.RepositoryUsername, p.RepositoryPassword
	}
	cl, err := s.clone(r.Context(), src, p.ManifestFile, p.AdditionalFiles)
	if err != nil {
		writeErr(w, perr(500, "Failed to clone git repository", err.Error()))
		return
	}
	docs, err := manifestsOf(cl.Files, p.ManifestFile, p.AdditionalFiles)
	if err != nil {
		writeErr(w, perr(500, "Unable to deploy Kubernetes stack", err.Error()))
		return
	}
	s.lockState()
	defer s.mu.Unlock()
	if e := s.kubeUniqueLocked(endpointID, p.StackName, ns); e != nil {
		writeErr(w, e)
		return
	}
	u := s.currentUser()
	labels := map[string]string{kubeLabelStackID: strconv.Itoa(id), kubeLabelStackName: p.StackName, kubeLabelOwner: u.Username, kubeLabelKind: "git"}
	if err := s.applyLocked(endpointID, ns, "stack:"+strconv.Itoa(id), docs, labels); err != nil {
		s.removeOwnedLocked(endpointID, "stack:"+strconv.Itoa(id))
		writeErr(w, perr(500, "Unable to deploy Kubernetes stack", err.Error()))
		return
	}
	st := Stack{
		ID: id, Name: p.StackName, Type: 3, EndpointID: endpointID, EntryPoint: p.ManifestFile,
		Namespace: ns, Status: 1, ProjectPath: fmt.Sprintf("/data/compose/%d", id),
		CreationDate: time.Now().Unix(), CreatedBy: u.Username, AdditionalFiles: p.AdditionalFiles,
		IsComposeFormat: p.ComposeFormat, Env: []EnvVar{},
		ResourceControl: s.newResourceControlLocked(endpointID, p.StackName),
		GitConfig:       &GitConfig{URL: p.RepositoryURL, ReferenceName: p.RepositoryReferenceName, ConfigFilePath: p.ManifestFile, ConfigHash: cl.SHA, TLSSkipVerify: p.TLSSkipVerify},
	}
	if p.AutoUpdate != nil {
		au := *p.AutoUpdate
		st.AutoUpdate = &au
	}
	if p.RepositoryAuthentication {
		st.GitConfig.Authentication = &GitAuthentication{Username: p.RepositoryUsername, Password: p.RepositoryPassword}
	}
	s.stacks[id] = &stackRec{Stack: st, files: cl.Files}
	writeJSON(w, 200, st.public())
}

// kubeUniqueLocked is checkUniqueStackNameInKubernetes: a stack of that
// name in that namespace of the environment is a 409.
func (s *Server) kubeUniqueLocked(endpointID int, name, ns string) *httpErr {
	for _, st := range s.stacks {
		if st.EndpointID == endpointID && st.Type == 3 && st.Name == name && st.Namespace == ns {
			return perr(409, fmt.Sprintf("A stack with the name '%s' already exists", name), "a stack already exists with this name")
		}
	}
	return nil
}

func manifestsOf(files map[string][]byte, entry string, additional []string) ([]manifestDoc, error) {
	var docs []manifestDoc
	for _, f := range append([]string{entry}, additional...) {
		b, ok := files[cleanRepoPath(f)]
		if !ok {
			return nil, fmt.Errorf("failed to read manifest file %s: open %s: no such file or directory", f, f)
		}
		ds, err := parseManifests(f, b)
		if err != nil {
			return nil, err
		}
		docs = append(docs, ds...)
	}
	return docs, nil
}

// redeployKubeStack re-applies a Kubernetes stack from its new clone
// (PUT /stacks/{id}/git/redeploy on a Kubernetes stack).
func (s *Server) redeployKubeStack(w http.ResponseWriter, rec *stackRec, cl *cloneResult) {
	docs, err := manifestsOf(cl.Files, rec.EntryPoint, rec.AdditionalFiles)
	if err != nil {
		writeErr(w, perr(500, "Failed to redeploy Kubernetes stack", err.Error()))
		return
	}
	s.lockState()
	defer s.mu.Unlock()
	if _, ok := s.stacks[rec.ID]; !ok {
		writeErr(w, errStackNotFound)
		return
	}
	owner := "stack:" + strconv.Itoa(rec.ID)
	labels := map[string]string{kubeLabelStackID: strconv.Itoa(rec.ID), kubeLabelStackName: rec.Name, kubeLabelOwner: rec.CreatedBy, kubeLabelKind: "git"}
	if err := s.applyLocked(rec.EndpointID, rec.Namespace, owner, docs, labels); err != nil {
		writeErr(w, perr(500, "Failed to redeploy Kubernetes stack", err.Error()))
		return
	}
	rec.GitConfig.ConfigHash = cl.SHA
	rec.files = cl.Files
	rec.UpdateDate = time.Now().Unix()
	rec.UpdatedBy = s.currentUser().Username
	s.saveLocked(rec)
	writeJSON(w, 200, rec.public())
}

// deleteKubeStackLocked is DELETE /stacks/{id} of a Kubernetes stack:
// kubectl delete of its manifests.
func (s *Server) deleteKubeStackLocked(st *stackRec) {
	s.removeOwnedLocked(st.EndpointID, "stack:"+strconv.Itoa(st.ID))
	delete(s.stacks, st.ID)
}

// ---- namespaces (Portainer's /kubernetes/{id}/namespaces) ----

var kubeNameRe = func(n string) bool {
	if n == "" || len(n) > 63 {
		return false
	}
	for i, c := range n {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' && i > 0 && i < len(n)-1) {
			return false
		}
	}
	return true
}

func (s *Server) handleCreateNamespace(w http.ResponseWriter, r *http.Request) {
	var p struct {
		Name          string
		Owner         string
		Annotations   map[string]string
		ResourceQuota *struct {
			Enabled bool   `json:"enabled"`
			CPU     string `json:"cpu"`
			Memory  string `json:"memory"`
		}
	}
	if e := decode(r, &p); e != nil {
		writeErr(w, e)
		return
	}
	if !kubeNameRe(p.Name) {
		writeErr(w, perr(400, "Invalid request payload", "namespace name must be a valid DNS-1123 label"))
		return
	}
	s.lockState()
	defer s.mu.Unlock()
	ep, e := s.kubeEndpointLocked(r)
	if e != nil {
		writeErr(w, e)
		return
	}
	k := s.kubeLocked()
	if k.namespaces[ep.ID] == nil {
		k.namespaces[ep.ID] = map[string]*kubeNamespace{}
	}
	if _, ok := k.namespaces[ep.ID][p.Name]; ok {
		writeErr(w, perr(409, "Unable to create namespace", fmt.Sprintf("namespaces %q already exists", p.Name)))
		return
	}
	k.namespaces[ep.ID][p.Name] = &kubeNamespace{name: p.Name, created: time.Now(), annotations: maps.Clone(p.Annotations), objects: map[string]*kubeObject{}}
	writeJSON(w, 200, "")
}

func (s *Server) handleDeleteNamespace(w http.ResponseWriter, r *http.Request) {
	s.lockState()
	defer s.mu.Unlock()
	ep, e := s.kubeEndpointLocked(r)
	if e != nil {
		writeErr(w, e)
		return
	}
	name := r.PathValue("namespace")
	k := s.kubeLocked()
	if _, ok := k.namespaces[ep.ID][name]; !ok {
		writeErr(w, perr(404, "Unable to find a namespace with the specified identifier", fmt.Sprintf("namespaces %q not found", name)))
		return
	}
	if name == "default" || name == "kube-system" {
		writeErr(w, perr(403, "Unable to delete namespace", "namespace is a system namespace"))
		return
	}
	// Everything in a namespace goes with it: Kubernetes objects and the
	// Helm releases recorded there.
	delete(k.namespaces[ep.ID], name)
	for key, rel := range k.releases[ep.ID] {
		if rel.namespace == name {
			delete(k.releases[ep.ID], key)
		}
	}
	writeJSON(w, 200, "")
}

// ---- Helm ----

// Charts the fake can "install" without a chart repository: Options
// .HelmCharts maps repo|chart to the manifests the chart renders; else a
// chart renders one Deployment named after the release, from the values'
// image.repository/image.tag and replicaCount.

type helmValues struct {
	ReplicaCount *int `yaml:"replicaCount"`
	Image        struct {
		Repository string `yaml:"repository"`
		Tag        string `yaml:"tag"`
	} `yaml:"image"`
}

func (s *Server) handleHelmInstall(w http.ResponseWriter, r *http.Request) {
	var p struct {
		Chart     string `json:"chart"`
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
		Repo      string `json:"repo"`
		Values    string `json:"values"`
	}
	if e := decode(r, &p); e != nil {
		writeErr(w, e)
		return
	}
	switch {
	case p.Chart == "":
		writeErr(w, perr(400, "Invalid Helm install payload", "chart is required"))
		return
	case p.Name == "":
		writeErr(w, perr(400, "Invalid Helm install payload", "name is required"))
		return
	case p.Repo == "" || !validURL(p.Repo):
		writeErr(w, perr(400, "Invalid Helm install payload", "repo is required"))
		return
	}
	ns := cmp.Or(p.Namespace, "default")
	var vals helmValues
	var config map[string]any
	if strings.TrimSpace(p.Values) != "" {
		if err := yaml.Unmarshal([]byte(p.Values), &config); err != nil {
			writeErr(w, perr(500, "Unable to install a chart", "failed to parse values: "+err.Error()))
			return
		}
		_ = yaml.Unmarshal([]byte(p.Values), &vals)
	}
	if config == nil {
		config = map[string]any{}
	}
	s.lockState()
	defer s.mu.Unlock()
	ep, e := s.kubeEndpointLocked(r)
	if e != nil {
		writeErr(w, e)
		return
	}
	k := s.kubeLocked()
	key := ns + "/" + p.Name
	if _, ok := k.releases[ep.ID][key]; ok {
		writeErr(w, perr(500, "Unable to install a chart", "cannot re-use a name that is still in use"))
		return
	}
	if _, ok := k.namespaces[ep.ID][ns]; !ok {
		writeErr(w, perr(500, "Unable to install a chart", fmt.Sprintf("create: failed to create: namespaces %q not found", ns)))
		return
	}
	image := cmp.Or(vals.Image.Repository, p.Chart)
	if vals.Image.Tag != "" {
		image += ":" + vals.Image.Tag
	}
	replicas := 1
	if vals.ReplicaCount != nil {
		replicas = *vals.ReplicaCount
	}
	var doc manifestDoc
	doc.APIVersion, doc.Kind, doc.Metadata.Name = "apps/v1", "Deployment", p.Name
	doc.Spec.Replicas = &replicas
	doc.Spec.Template.Spec.Containers = append(doc.Spec.Template.Spec.Containers, struct {
		Name  string `yaml:"name"`
		Image string `yaml:"image"`
	}{Name: p.Chart, Image: image})
	labels := map[string]string{
		"app.kubernetes.io/managed-by": "Helm", "app.kubernetes.io/instance": p.Name,
		"app.kubernetes.io/name": p.Chart, "helm.sh/chart": p.Chart,
	}
	if err := s.applyLocked(ep.ID, ns, "helm:"+key, []manifestDoc{doc}, labels); err != nil {
		writeErr(w, perr(500, "Unable to install a chart", err.Error()))
		return
	}
	if k.releases[ep.ID] == nil {
		k.releases[ep.ID] = map[string]*helmRelease{}
	}
	rel := &helmRelease{name: p.Name, namespace: ns, chart: p.Chart, repo: p.Repo, values: p.Values, revision: 1, updated: time.Now()}
	k.releases[ep.ID][key] = rel
	manifest := fmt.Sprintf("---\n# Source: %s/templates/deployment.yaml\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: %s\nspec:\n  replicas: %d\n", p.Chart, p.Name, replicas)
	writeJSON(w, 201, map[string]any{
		"name": p.Name, "namespace": ns, "version": 1, "manifest": manifest, "config": config,
		"chart": map[string]any{"metadata": map[string]any{"name": p.Chart, "version": "0.1.0"}, "values": map[string]any{}},
		"hooks": []any{},
	})
}

func (s *Server) handleHelmList(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ep, e := s.kubeEndpointLocked(r)
	if e != nil {
		writeErr(w, e)
		return
	}
	ns := r.URL.Query().Get("namespace")
	out := []map[string]string{}
	for _, rel := range s.kubeLocked().releases[ep.ID] {
		if ns != "" && rel.namespace != ns {
			continue
		}
		out = append(out, map[string]string{
			"name": rel.name, "namespace": rel.namespace, "chart": rel.chart + "-0.1.0", "app_version": "",
			"revision": strconv.Itoa(rel.revision), "status": "deployed",
			"updated": rel.updated.UTC().Format("2006-01-02 15:04:05.999999999 -0700 MST"),
		})
	}
	slices.SortFunc(out, func(a, b map[string]string) int {
		return cmp.Or(strings.Compare(a["namespace"], b["namespace"]), strings.Compare(a["name"], b["name"]))
	})
	writeJSON(w, 200, out)
}

func (s *Server) handleHelmDelete(w http.ResponseWriter, r *http.Request) {
	s.lockState()
	defer s.mu.Unlock()
	ep, e := s.kubeEndpointLocked(r)
	if e != nil {
		writeErr(w, e)
		return
	}
	name := r.PathValue("release")
	ns := cmp.Or(r.URL.Query().Get("namespace"), "default")
	k := s.kubeLocked()
	key := ns + "/" + name
	if _, ok := k.releases[ep.ID][key]; !ok {
		writeErr(w, perr(404, "Unable to find a release", fmt.Sprintf("uninstall: Release not loaded: %s: release: not found", name)))
		return
	}
	delete(k.releases[ep.ID], key)
	s.removeOwnedLocked(ep.ID, "helm:"+key)
	w.WriteHeader(http.StatusNoContent)
}

// ---- the Kubernetes proxy: apps/v1 deployments ----

func (o *kubeObject) deploymentJSON(ns string) map[string]any {
	cs := []map[string]any{}
	if o.image != "" {
		cs = append(cs, map[string]any{"name": cmp.Or(o.cname, o.name), "image": o.image})
	}
	meta := map[string]any{
		"name": o.name, "namespace": ns, "uid": o.uid,
		"creationTimestamp": o.created.UTC().Format(time.RFC3339),
		"labels":            nonNil(o.labels), "annotations": nonNil(o.annots),
	}
	status := map[string]any{"observedGeneration": 1}
	if o.replicas > 0 {
		status["replicas"], status["readyReplicas"], status["availableReplicas"], status["updatedReplicas"] = o.replicas, o.replicas, o.replicas, o.replicas
	}
	return map[string]any{
		"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta,
		"spec": map[string]any{
			"replicas": o.replicas,
			"selector": map[string]any{"matchLabels": map[string]string{"app": o.name}},
			"template": map[string]any{"metadata": map[string]any{"labels": map[string]string{"app": o.name}}, "spec": map[string]any{"containers": cs}},
		},
		"status": status,
	}
}

func (s *Server) handleListDeployments(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ep, e := s.kubeEndpointLocked(r)
	if e != nil {
		writeErr(w, e)
		return
	}
	only := r.PathValue("namespace")
	nss := s.kubeLocked().namespaces[ep.ID]
	if only != "" {
		if _, ok := nss[only]; !ok {
			// Kubernetes lists an unknown namespace as empty.
			nss = nil
		}
	}
	items := []map[string]any{}
	for _, name := range slices.Sorted(maps.Keys(nss)) {
		if only != "" && name != only {
			continue
		}
		n := nss[name]
		for _, key := range slices.Sorted(maps.Keys(n.objects)) {
			if o := n.objects[key]; o.kind == "Deployment" {
				items = append(items, o.deploymentJSON(name))
			}
		}
	}
	writeJSON(w, 200, map[string]any{"kind": "DeploymentList", "apiVersion": "apps/v1", "metadata": map[string]any{"resourceVersion": strconv.FormatUint(s.rev, 10)}, "items": items})
}

func (s *Server) handlePatchDeployment(w http.ResponseWriter, r *http.Request) {
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/merge-patch+json") && !strings.HasPrefix(ct, "application/strategic-merge-patch+json") {
		kubeStatus(w, 415, "UnsupportedMediaType", fmt.Sprintf("the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml (got %q)", ct))
		return
	}
	var p struct {
		Metadata struct {
			Annotations map[string]*string `json:"annotations"`
		} `json:"metadata"`
		Spec struct {
			Replicas *int `json:"replicas"`
		} `json:"spec"`
	}
	if err := json.NewDecoder(r.Body).Decode(&p); err != nil {
		kubeStatus(w, 400, "BadRequest", "error decoding patch: "+err.Error())
		return
	}
	s.lockState()
	defer s.mu.Unlock()
	ep, e := s.kubeEndpointLocked(r)
	if e != nil {
		writeErr(w, e)
		return
	}
	ns, name := r.PathValue("namespace"), r.PathValue("name")
	n, ok := s.kubeLocked().namespaces[ep.ID][ns]
	var o *kubeObject
	if ok {
		o = n.objects["Deployment/"+name]
	}
	if o == nil {
		kubeStatus(w, 404, "NotFound", fmt.Sprintf("deployments.apps %q not found", name))
		return
	}
	if p.Spec.Replicas != nil {
		if *p.Spec.Replicas < 0 {
			kubeStatus(w, 422, "Invalid", fmt.Sprintf("Deployment.apps %q is invalid: spec.replicas: Invalid value: %d: must be greater than or equal to 0", name, *p.Spec.Replicas))
			return
		}
		o.replicas = *p.Spec.Replicas
	}
	for k, v := range p.Metadata.Annotations {
		if o.annots == nil {
			o.annots = map[string]string{}
		}
		if v == nil {
			delete(o.annots, k)
		} else {
			o.annots[k] = *v
		}
	}
	writeJSON(w, 200, o.deploymentJSON(ns))
}

// ---- inspection for tests ----

// KubeDeployment is a Deployment as a test sees it.
type KubeDeployment struct {
	Namespace, Name, Image string
	Replicas               int
	Labels, Annotations    map[string]string
}

// KubeNamespaces lists the namespaces of a Kubernetes environment.
func (s *Server) KubeNamespaces(endpointID int) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Sorted(maps.Keys(s.kubeLocked().namespaces[endpointID]))
}

// KubeObjects counts the objects of every kind in a namespace.
func (s *Server) KubeObjects(endpointID int, ns string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.kubeLocked().namespaces[endpointID][ns].objectsOrNil())
}

func (n *kubeNamespace) objectsOrNil() map[string]*kubeObject {
	if n == nil {
		return nil
	}
	return n.objects
}

// KubeDeployments lists the Deployments of an environment.
func (s *Server) KubeDeployments(endpointID int) []KubeDeployment {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []KubeDeployment
	for _, n := range s.kubeLocked().namespaces[endpointID] {
		for _, o := range n.objects {
			if o.kind == "Deployment" {
				out = append(out, KubeDeployment{Namespace: n.name, Name: o.name, Image: o.image, Replicas: o.replicas, Labels: maps.Clone(o.labels), Annotations: maps.Clone(o.annots)})
			}
		}
	}
	slices.SortFunc(out, func(a, b KubeDeployment) int {
		return cmp.Or(strings.Compare(a.Namespace, b.Namespace), strings.Compare(a.Name, b.Name))
	})
	return out
}

// HelmReleases lists the releases of an environment as namespace/name.
func (s *Server) HelmReleases(endpointID int) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Sorted(maps.Keys(s.kubeLocked().releases[endpointID]))
}

// HelmReleaseValues returns the values a release was installed with.
func (s *Server) HelmReleaseValues(endpointID int, ns, name string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rel, ok := s.kubeLocked().releases[endpointID][ns+"/"+name]
	if !ok {
		return "", false
	}
	return rel.values, true
}
