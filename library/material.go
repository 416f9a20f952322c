package library

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strings"

	"github.com/goccy/go-yaml"
)

// An app folder carries its material in one or more forms:
//
//   - COMPOSE: docker-compose.yml (Docker environments);
//   - KUBERNETES: manifests, every *.yaml / *.yml file under kubernetes/
//     (applied in path order as one Portainer Kubernetes stack, in the
//     namespace named after the app id);
//   - HELM: a chart, either a chart/ folder (chart/Chart.yaml) or a
//     reference to a chart in a chart repository, helm.json
//     {"repository": URL, "chart": NAME, "version": VERSION}, with the
//     release's values in values.yaml (chart/values.yaml for a folder).
//
// Every form is validated at load: manifests must be Kubernetes objects
// (apiVersion, kind, metadata.name; no metadata.namespace, as the install
// chooses it), a chart must name itself and its version, values must be a
// YAML mapping.

// MaterialKind is one form of an app's material.
type MaterialKind string

// The forms.
const (
	MaterialCompose    MaterialKind = "COMPOSE"
	MaterialKubernetes MaterialKind = "KUBERNETES"
	MaterialHelm       MaterialKind = "HELM"
)

// Files of the Kubernetes and Helm forms.
const (
	KubernetesDir  = "kubernetes"
	ChartDir       = "chart"
	HelmRefFile    = "helm.json"
	HelmValuesFile = "values.yaml"
)

// HelmMaterial is an app's Helm form.
type HelmMaterial struct {
	// Repository, Chart and Version name a chart in a chart repository
	// (helm.json); empty for a chart/ folder.
	Repository string `json:"repository"`
	Chart      string `json:"chart"`
	Version    string `json:"version"`
	// Folder is true for a chart/ folder (Chart names it, from Chart.yaml).
	Folder bool `json:"-"`
	// ValuesPath is the values file in the app folder ("" when none).
	ValuesPath string `json:"-"`
}

// MaterialKinds lists the forms the app's material has, in the order
// COMPOSE, KUBERNETES, HELM.
func (a *App) MaterialKinds() []MaterialKind {
	var out []MaterialKind
	if a.HasCompose() {
		out = append(out, MaterialCompose)
	}
	if len(a.Manifests) > 0 {
		out = append(out, MaterialKubernetes)
	}
	if a.Helm != nil {
		out = append(out, MaterialHelm)
	}
	return out
}

// HasCompose reports whether the app has a docker-compose.yml.
func (a *App) HasCompose() bool {
	_, ok := a.files[composeFile]
	return ok
}

// HasMaterial reports whether the app has material of kind k.
func (a *App) HasMaterial(k MaterialKind) bool { return slices.Contains(a.MaterialKinds(), k) }

// kubeNameRe is a DNS-1123 subdomain, what most object names must be.
var kubeNameRe = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)

// Manifest is one object of a manifest file.
type Manifest struct {
	File       string
	APIVersion string
	Kind       string
	Name       string
}

// ParseManifests reads every YAML document of a manifest file and checks
// that each is a Kubernetes object: apiVersion, kind and a valid
// metadata.name. Empty documents are skipped; a file with no object is an
// error.
func ParseManifests(file string, b []byte) ([]Manifest, error) {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var out []Manifest
	for i := 1; ; i++ {
		var doc map[string]any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", file, i, err)
		}
		if len(doc) == 0 {
			continue
		}
		m := Manifest{File: file}
		m.APIVersion, _ = doc["apiVersion"].(string)
		m.Kind, _ = doc["kind"].(string)
		meta, _ := doc["metadata"].(map[string]any)
		if meta != nil {
			m.Name, _ = meta["name"].(string)
		}
		switch {
		case m.APIVersion == "":
			return nil, fmt.Errorf("%s: document %d: apiVersion is missing", file, i)
		case m.Kind == "":
			return nil, fmt.Errorf("%s: document %d: kind is missing", file, i)
		case m.Name == "":
			return nil, fmt.Errorf("%s: document %d (%s): metadata.name is missing", file, i, m.Kind)
		case len(m.Name) > 253 || !kubeNameRe.MatchString(m.Name):
			return nil, fmt.Errorf("%s: document %d (%s): metadata.name %q is not a valid Kubernetes name", file, i, m.Kind, m.Name)
		}
		if ns, ok := meta["namespace"]; ok && ns != nil && ns != "" {
			return nil, fmt.Errorf("%s: %s %s names namespace %v: leave it out, the install deploys into the app's own namespace", file, m.Kind, m.Name, ns)
		}
		if m.Kind == "Namespace" {
			return nil, fmt.Errorf("%s: Namespace %s: the install creates the app's namespace itself", file, m.Name)
		}
		out = append(out, m)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no Kubernetes object", file)
	}
	return out, nil
}

// loadMaterial fills Manifests and Helm from the folder's files.
func (a *App) loadMaterial() error {
	for _, p := range slices.Sorted(maps.Keys(a.files)) {
		if !strings.HasPrefix(p, KubernetesDir+"/") {
			continue
		}
		if ext := path.Ext(p); ext != ".yaml" && ext != ".yml" {
			continue
		}
		if _, err := ParseManifests(p, a.files[p]); err != nil {
			return err
		}
		a.Manifests = append(a.Manifests, p)
	}
	ref, hasRef := a.files[HelmRefFile]
	chart, hasChart := a.files[ChartDir+"/Chart.yaml"]
	switch {
	case hasRef && hasChart:
		return fmt.Errorf("both %s and %s/Chart.yaml: a Helm chart is either a reference or a folder", HelmRefFile, ChartDir)
	case hasRef:
		h, err := parseHelmRef(ref)
		if err != nil {
			return fmt.Errorf("%s: %w", HelmRefFile, err)
		}
		if _, ok := a.files[HelmValuesFile]; ok {
			h.ValuesPath = HelmValuesFile
		}
		a.Helm = h
	case hasChart:
		var c struct {
			APIVersion string `yaml:"apiVersion"`
			Name       string `yaml:"name"`
			Version    string `yaml:"version"`
		}
		if err := yaml.Unmarshal(chart, &c); err != nil {
			return fmt.Errorf("%s/Chart.yaml: %w", ChartDir, err)
		}
		if c.APIVersion == "" || c.Name == "" || c.Version == "" {
			return fmt.Errorf("%s/Chart.yaml: apiVersion, name and version are required", ChartDir)
		}
		a.Helm = &HelmMaterial{Chart: c.Name, Version: c.Version, Folder: true}
		if _, ok := a.files[ChartDir+"/"+HelmValuesFile]; ok {
			a.Helm.ValuesPath = ChartDir + "/" + HelmValuesFile
		}
	}
	if a.Helm != nil && a.Helm.ValuesPath != "" {
		var v any
		if err := yaml.Unmarshal(a.files[a.Helm.ValuesPath], &v); err != nil {
			return fmt.Errorf("%s: %w", a.Helm.ValuesPath, err)
		}
		if _, ok := v.(map[string]any); !ok && v != nil {
			return fmt.Errorf("%s: values must be a YAML mapping", a.Helm.ValuesPath)
		}
	}
	return nil
}

var chartNameRe = regexp.MustCompile(`^[a-z0-9]([-a-z0-9_.]*[a-z0-9])?$`)

func parseHelmRef(b []byte) (*HelmMaterial, error) {
	var h HelmMaterial
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&h); err != nil {
		return nil, err
	}
	u, err := url.Parse(h.Repository)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		return nil, fmt.Errorf("repository %q is not an http(s) chart repository URL without credentials", h.Repository)
	}
	if !chartNameRe.MatchString(h.Chart) {
		return nil, fmt.Errorf("chart %q is not a chart name", h.Chart)
	}
	if strings.TrimSpace(h.Version) == "" {
		return nil, errors.New("version is required")
	}
	return &h, nil
}
