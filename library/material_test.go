package library

import (
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

const testDeployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  template:
    spec:
      containers:
        - name: web
          image: traefik/whoami:v1.10.3
---
apiVersion: v1
kind: Service
metadata:
  name: web
`

func TestMaterialKinds(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(fstest.MapFS)
		want   []MaterialKind
		check  func(*testing.T, *App)
	}{
		{"compose only", func(fstest.MapFS) {}, []MaterialKind{MaterialCompose}, nil},
		{"compose and manifests", func(m fstest.MapFS) {
			m["a/kubernetes/b.yaml"] = &fstest.MapFile{Data: []byte(testDeployment)}
			m["a/kubernetes/a.yml"] = &fstest.MapFile{Data: []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: conf\n")}
			m["a/kubernetes/README.md"] = &fstest.MapFile{Data: []byte("not a manifest")}
		}, []MaterialKind{MaterialCompose, MaterialKubernetes}, func(t *testing.T, a *App) {
			if !slices.Equal(a.Manifests, []string{"kubernetes/a.yml", "kubernetes/b.yaml"}) {
				t.Errorf("Manifests = %v", a.Manifests)
			}
		}},
		{"manifests only", func(m fstest.MapFS) {
			delete(m, "a/docker-compose.yml")
			m["a/kubernetes/app.yaml"] = &fstest.MapFile{Data: []byte(testDeployment)}
		}, []MaterialKind{MaterialKubernetes}, nil},
		{"helm reference", func(m fstest.MapFS) {
			m["a/helm.json"] = &fstest.MapFile{Data: []byte(`{"repository":"https://charts.example.org","chart":"web","version":"1.2.3"}`)}
			m["a/values.yaml"] = &fstest.MapFile{Data: []byte("replicaCount: 2\n")}
		}, []MaterialKind{MaterialCompose, MaterialHelm}, func(t *testing.T, a *App) {
			h := a.Helm
			if h.Repository != "https://charts.example.org" || h.Chart != "web" || h.Version != "1.2.3" || h.Folder || h.ValuesPath != "values.yaml" {
				t.Errorf("Helm = %+v", h)
			}
		}},
		{"chart folder", func(m fstest.MapFS) {
			delete(m, "a/docker-compose.yml")
			m["a/chart/Chart.yaml"] = &fstest.MapFile{Data: []byte("apiVersion: v2\nname: web\nversion: 0.1.0\n")}
			m["a/chart/values.yaml"] = &fstest.MapFile{Data: []byte("image: {tag: x}\n")}
		}, []MaterialKind{MaterialHelm}, func(t *testing.T, a *App) {
			if h := a.Helm; !h.Folder || h.Chart != "web" || h.ValuesPath != "chart/values.yaml" {
				t.Errorf("Helm = %+v", h)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fsys := goodApp("a")
			tc.mutate(fsys)
			lib, err := Load(fsys, testLogger(t))
			if err != nil {
				t.Fatal(err)
			}
			a, ok := lib.Get("a")
			if !ok {
				t.Fatalf("not loaded: %+v", lib.Problems())
			}
			if got := a.MaterialKinds(); !slices.Equal(got, tc.want) {
				t.Errorf("MaterialKinds = %v, want %v", got, tc.want)
			}
			if tc.check != nil {
				tc.check(t, a)
			}
		})
	}
}

func TestMaterialRefused(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(fstest.MapFS)
		reason string
	}{
		{"no material", func(m fstest.MapFS) { delete(m, "a/docker-compose.yml") }, "missing docker-compose.yml"},
		{"manifest without kind", func(m fstest.MapFS) {
			m["a/kubernetes/x.yaml"] = &fstest.MapFile{Data: []byte("apiVersion: v1\nmetadata:\n  name: x\n")}
		}, "kind is missing"},
		{"manifest without apiVersion", func(m fstest.MapFS) {
			m["a/kubernetes/x.yaml"] = &fstest.MapFile{Data: []byte("kind: Service\nmetadata:\n  name: x\n")}
		}, "apiVersion is missing"},
		{"manifest without name", func(m fstest.MapFS) {
			m["a/kubernetes/x.yaml"] = &fstest.MapFile{Data: []byte(testDeployment + "---\napiVersion: v1\nkind: Service\nmetadata: {}\n")}
		}, "document 3 (Service): metadata.name is missing"},
		{"manifest with a bad name", func(m fstest.MapFS) {
			m["a/kubernetes/x.yaml"] = &fstest.MapFile{Data: []byte("apiVersion: v1\nkind: Service\nmetadata:\n  name: Web_1\n")}
		}, "not a valid Kubernetes name"},
		{"manifest naming a namespace", func(m fstest.MapFS) {
			m["a/kubernetes/x.yaml"] = &fstest.MapFile{Data: []byte("apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  namespace: prod\n")}
		}, "names namespace prod"},
		{"namespace object", func(m fstest.MapFS) {
			m["a/kubernetes/x.yaml"] = &fstest.MapFile{Data: []byte("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: web\n")}
		}, "creates the app's namespace"},
		{"unparsable manifest", func(m fstest.MapFS) {
			m["a/kubernetes/x.yaml"] = &fstest.MapFile{Data: []byte("apiVersion: [v1\n")}
		}, "kubernetes/x.yaml"},
		{"empty manifest file", func(m fstest.MapFS) {
			m["a/kubernetes/x.yaml"] = &fstest.MapFile{Data: []byte("---\n# nothing\n")}
		}, "no Kubernetes object"},
		{"helm reference with credentials", func(m fstest.MapFS) {
			m["a/helm.json"] = &fstest.MapFile{Data: []byte(`{"repository":"https://u:p@charts.example.org","chart":"web","version":"1"}`)}
		}, "without credentials"},
		{"helm reference with a file URL", func(m fstest.MapFS) {
			m["a/helm.json"] = &fstest.MapFile{Data: []byte(`{"repository":"file:///charts","chart":"web","version":"1"}`)}
		}, "not an http(s) chart repository"},
		{"helm reference without version", func(m fstest.MapFS) {
			m["a/helm.json"] = &fstest.MapFile{Data: []byte(`{"repository":"https://charts.example.org","chart":"web"}`)}
		}, "version is required"},
		{"helm reference with an unknown key", func(m fstest.MapFS) {
			m["a/helm.json"] = &fstest.MapFile{Data: []byte(`{"repository":"https://charts.example.org","chart":"web","version":"1","repo":"x"}`)}
		}, "unknown field"},
		{"helm reference and folder", func(m fstest.MapFS) {
			m["a/helm.json"] = &fstest.MapFile{Data: []byte(`{"repository":"https://charts.example.org","chart":"web","version":"1"}`)}
			m["a/chart/Chart.yaml"] = &fstest.MapFile{Data: []byte("apiVersion: v2\nname: web\nversion: 0.1.0\n")}
		}, "either a reference or a folder"},
		{"chart without version", func(m fstest.MapFS) {
			m["a/chart/Chart.yaml"] = &fstest.MapFile{Data: []byte("apiVersion: v2\nname: web\n")}
		}, "apiVersion, name and version are required"},
		{"values not a mapping", func(m fstest.MapFS) {
			m["a/helm.json"] = &fstest.MapFile{Data: []byte(`{"repository":"https://charts.example.org","chart":"web","version":"1"}`)}
			m["a/values.yaml"] = &fstest.MapFile{Data: []byte("- a\n- b\n")}
		}, "values must be a YAML mapping"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fsys := goodApp("a")
			tc.mutate(fsys)
			lib, err := Load(fsys, testLogger(t))
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := lib.Get("a"); ok {
				t.Fatal("loaded")
			}
			probs := lib.Problems()
			if len(probs) != 1 || !strings.Contains(probs[0].Reason, tc.reason) {
				t.Fatalf("problems = %+v, want one mentioning %q", probs, tc.reason)
			}
		})
	}
}

func TestDefaultLibraryMaterial(t *testing.T) {
	lib, err := Default(nil)
	if err != nil {
		t.Fatal(err)
	}
	w, _ := lib.Get("whoami")
	if got := w.MaterialKinds(); !slices.Equal(got, []MaterialKind{MaterialCompose, MaterialKubernetes}) {
		t.Errorf("whoami: %v", got)
	}
	p, _ := lib.Get("podinfo")
	if got := p.MaterialKinds(); !slices.Equal(got, []MaterialKind{MaterialCompose, MaterialHelm}) {
		t.Errorf("podinfo: %v", got)
	}
	if p.Helm.ValuesPath != HelmValuesFile {
		t.Errorf("podinfo values: %q", p.Helm.ValuesPath)
	}
}
