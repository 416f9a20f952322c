package fake

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/dotenv"
	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
	"go.yaml.in/yaml/v4"
)

// cleanRepoPath normalizes a path inside the repository; "" when it leaves
// the repository.
func cleanRepoPath(p string) string {
	p = path.Clean("/" + strings.TrimPrefix(p, "./"))
	p = strings.TrimPrefix(p, "/")
	if p == "." || p == "" || strings.HasPrefix(p, "..") {
		return ""
	}
	return p
}

func dirOf(p string) string {
	d := path.Dir(cleanRepoPath(p))
	if d == "." {
		return ""
	}
	return d
}

func joinRepo(dir, p string) string {
	if path.IsAbs(p) {
		return "" // outside the clone: compose reads it from the daemon host
	}
	return cleanRepoPath(path.Join(dir, p))
}

// envFileRefs lists the env_file paths of a compose file (without
// interpolation; paths with variables are skipped).
func envFileRefs(content []byte) []string {
	if len(content) == 0 {
		return nil
	}
	var doc struct {
		Services map[string]struct {
			EnvFile any `yaml:"env_file"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(content, &doc); err != nil {
		return nil
	}
	var out []string
	add := func(v any) {
		switch t := v.(type) {
		case string:
			out = append(out, t)
		case map[string]any:
			if p, ok := t["path"].(string); ok {
				out = append(out, p)
			}
		}
	}
	for _, svc := range doc.Services {
		switch t := svc.EnvFile.(type) {
		case []any:
			for _, v := range t {
				add(v)
			}
		default:
			add(t)
		}
	}
	return slices.DeleteFunc(out, func(p string) bool { return strings.Contains(p, "$") })
}

// composeInput is one `docker compose up` as Portainer runs it.
type composeInput struct {
	Name        string // project name = stack name
	Files       map[string][]byte
	EntryPoint  string
	Additional  []string
	Env         []EnvVar // stack Env
	ProjectPath string   // /data/compose/<id>
}

// loadProject parses the compose files as compose would inside Portainer.
// The files go to a temporary directory so that relative env_file paths
// resolve against the clone (never the fake's own disk); paths in the result
// are mapped back to ProjectPath. Interpolation uses the repository's .env
// beside the entry point, or, when the stack has Env, Portainer's stack.env:
// that .env followed by the Env pairs, later lines winning (contracts §2.4).
func loadProject(ctx context.Context, in composeInput) (*types.Project, error) {
	tmp, err := os.MkdirTemp("", "fake-portainer-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	for p, b := range in.Files {
		full := filepath.Join(tmp, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(full, b, 0o644); err != nil {
			return nil, err
		}
	}
	entry := cleanRepoPath(in.EntryPoint)
	workDir := filepath.Join(tmp, filepath.FromSlash(dirOf(entry)))
	mapErr := func(err error) error {
		return fmt.Errorf("%s", strings.ReplaceAll(err.Error(), tmp, in.ProjectPath))
	}

	var details types.ConfigDetails
	details.WorkingDir = workDir
	for _, f := range append([]string{entry}, in.Additional...) {
		p := cleanRepoPath(f)
		b, ok := in.Files[p]
		if !ok {
			return nil, fmt.Errorf("open %s: no such file or directory", path.Join(in.ProjectPath, f))
		}
		details.ConfigFiles = append(details.ConfigFiles, types.ConfigFile{Filename: filepath.Join(tmp, filepath.FromSlash(p)), Content: withoutVersion(b)})
	}
	envPath := filepath.Join(workDir, ".env")
	if len(in.Env) > 0 {
		var buf bytes.Buffer
		if b, ok := in.Files[joinRepo(dirOf(entry), ".env")]; ok {
			buf.Write(b)
			if len(b) > 0 && b[len(b)-1] != '\n' {
				buf.WriteByte('\n')
			}
		}
		for _, e := range in.Env {
			fmt.Fprintf(&buf, "%s=%s\n", e.Name, e.Value)
		}
		envPath = filepath.Join(workDir, "stack.env")
		if err := os.WriteFile(envPath, buf.Bytes(), 0o644); err != nil {
			return nil, err
		}
	}
	details.Environment = types.Mapping{}
	if _, err := os.Stat(envPath); err == nil {
		m, err := dotenv.GetEnvFromFile(map[string]string{}, []string{envPath})
		if err != nil {
			return nil, mapErr(err)
		}
		details.Environment = m
	}
	p, err := loader.LoadWithContext(ctx, details, func(o *loader.Options) {
		o.SetProjectName(in.Name, true)
		o.ResolvePaths = true
	})
	if err != nil {
		return nil, mapErr(err)
	}
	// Map paths under the temporary clone back to the Portainer project path.
	for name, svc := range p.Services {
		toProject := func(p string) string {
			if rest, ok := strings.CutPrefix(p, tmp); ok {
				return in.ProjectPath + filepath.ToSlash(rest)
			}
			return p
		}
		for i, v := range svc.Volumes {
			if v.Type == types.VolumeTypeBind {
				svc.Volumes[i].Source = toProject(v.Source)
			}
		}
		for i, ef := range svc.EnvFiles {
			svc.EnvFiles[i].Path = toProject(ef.Path)
		}
		if svc.Build != nil {
			svc.Build.Context = toProject(svc.Build.Context)
		}
		p.Services[name] = svc
	}
	return p, nil
}

// withoutVersion drops the obsolete top-level `version` key, which compose
// ignores anyway; compose-go would otherwise warn through the global logrus
// logger on every deploy. Anchors and aliases survive (node round trip); on
// any doubt the content is returned unchanged.
func withoutVersion(b []byte) []byte {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil || doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return b
	}
	top := doc.Content[0]
	if top.Kind != yaml.MappingNode {
		return b
	}
	for i := 0; i+1 < len(top.Content); i += 2 {
		if top.Content[i].Value == "version" {
			top.Content = append(top.Content[:i], top.Content[i+2:]...)
			out, err := yaml.Marshal(&doc)
			if err != nil {
				return b
			}
			return out
		}
	}
	return b
}

// serviceOrder returns the services with dependencies first, names sorted
// otherwise, so deploys are deterministic.
func serviceOrder(p *types.Project) []string {
	names := slices.Sorted(func(yield func(string) bool) {
		for n := range p.Services {
			if !yield(n) {
				return
			}
		}
	})
	seen := map[string]bool{}
	var out []string
	var visit func(n string)
	visit = func(n string) {
		if seen[n] {
			return
		}
		seen[n] = true
		svc, ok := p.Services[n]
		if !ok {
			return
		}
		deps := slices.Sorted(func(yield func(string) bool) {
			for d := range svc.DependsOn {
				if !yield(d) {
					return
				}
			}
		})
		for _, d := range deps {
			visit(d)
		}
		out = append(out, n)
	}
	for _, n := range names {
		visit(n)
	}
	return out
}

// configHash is compose's per-service hash of the resolved configuration.
func configHash(svc types.ServiceConfig) string {
	b, _ := json.Marshal(svc)
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// wanted is one container compose would create.
type wanted struct {
	c       Container
	service string
	number  int
	hash    string
	volumes []Volume   // named volumes it needs
	build   *buildSpec // the service's build: section (build.go), nil without
}

// plan turns a loaded project into the containers `compose up` would run.
func plan(p *types.Project, projectPath string, configFiles []string) ([]wanted, error) {
	var out []wanted
	for _, name := range serviceOrder(p) {
		svc := p.Services[name]
		scale := svc.GetScale()
		if svc.ContainerName != "" && scale > 1 {
			return nil, fmt.Errorf("services.%s: can't set container_name and %s as container name must be unique", name, name)
		}
		hash := configHash(svc)
		image := svc.Image
		if image == "" {
			image = p.Name + "-" + name
		}
		env := []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
		for _, k := range slices.Sorted(func(yield func(string) bool) {
			for k := range svc.Environment {
				if !yield(k) {
					return
				}
			}
		}) {
			if v := svc.Environment[k]; v != nil {
				env = append(env, k+"="+*v)
			}
		}
		var deps []string
		for d, dep := range svc.DependsOn {
			deps = append(deps, fmt.Sprintf("%s:%s:%t", d, dep.Condition, dep.Restart))
		}
		slices.Sort(deps)
		for n := 1; n <= scale; n++ {
			cname := svc.ContainerName
			if cname == "" {
				cname = fmt.Sprintf("%s-%s-%d", p.Name, name, n)
			}
			labels := map[string]string{}
			for k, v := range svc.Labels {
				labels[k] = v
			}
			for k, v := range map[string]string{
				labelProject:     p.Name,
				labelService:     name,
				labelNumber:      strconv.Itoa(n),
				labelOneoff:      "False",
				labelWorkingDir:  projectPath,
				labelConfigFiles: strings.Join(configFiles, ","),
				labelConfigHash:  hash,
				labelVersion:     composeVersion,
				labelImage:       imageID(image),
				labelDependsOn:   strings.Join(deps, ","),
			} {
				labels[k] = v
			}
			w := wanted{service: name, number: n, hash: hash}
			w.c = Container{
				Name:     cname,
				Image:    image,
				ImageID:  imageID(image),
				Command:  slices.Clone([]string(svc.Command)),
				Labels:   labels,
				Env:      slices.Clone(env),
				Restart:  svc.Restart,
				Hostname: svc.Hostname,
				Networks: map[string]NetworkAttachment{},
			}
			if svc.HealthCheck != nil && !svc.HealthCheck.Disable {
				w.c.Health = "healthy"
			}
			for _, port := range svc.Ports {
				proto := port.Protocol
				if proto == "" {
					proto = "tcp"
				}
				hostPort := 0
				if port.Published != "" {
					first, _, _ := strings.Cut(port.Published, "-")
					hp, err := strconv.Atoi(first)
					if err != nil {
						return nil, fmt.Errorf("invalid published port %q", port.Published)
					}
					hostPort = hp
				} else {
					hostPort = -1 // ephemeral, assigned at deploy
				}
				w.c.Ports = append(w.c.Ports, PortBinding{HostIP: port.HostIP, HostPort: hostPort, ContainerPort: int(port.Target), Protocol: proto})
			}
			for _, e := range svc.Expose {
				if !strings.Contains(e, "/") {
					e += "/tcp"
				}
				w.c.Exposed = append(w.c.Exposed, e)
			}
			for _, v := range svc.Volumes {
				switch v.Type {
				case types.VolumeTypeVolume:
					if v.Source == "" { // anonymous
						anon := randomHex(64)
						w.c.Mounts = append(w.c.Mounts, Mount{Type: "volume", Name: anon, Source: "/var/lib/docker/volumes/" + anon + "/_data", Destination: v.Target, ReadOnly: v.ReadOnly})
						w.volumes = append(w.volumes, Volume{Name: anon, Driver: "local", Labels: map[string]string{"com.docker.volume.anonymous": ""}})
						continue
					}
					vname := v.Source
					if top, ok := p.Volumes[v.Source]; ok {
						vname = top.Name
						if !top.External {
							lbl := map[string]string{labelProject: p.Name, labelVolume: v.Source, labelVersion: composeVersion}
							for k, val := range top.Labels {
								lbl[k] = val
							}
							driver := top.Driver
							if driver == "" {
								driver = "local"
							}
							w.volumes = append(w.volumes, Volume{Name: vname, Driver: driver, Labels: lbl})
						}
					}
					w.c.Mounts = append(w.c.Mounts, Mount{Type: "volume", Name: vname, Source: "/var/lib/docker/volumes/" + vname + "/_data", Destination: v.Target, ReadOnly: v.ReadOnly})
				case types.VolumeTypeBind:
					w.c.Mounts = append(w.c.Mounts, Mount{Type: "bind", Source: v.Source, Destination: v.Target, ReadOnly: v.ReadOnly})
				case types.VolumeTypeTmpfs:
					w.c.Mounts = append(w.c.Mounts, Mount{Type: "tmpfs", Destination: v.Target})
				}
			}
			if svc.NetworkMode == "" {
				nets := svc.Networks
				if len(nets) == 0 {
					nets = map[string]*types.ServiceNetworkConfig{"default": nil}
				}
				for key, cfg := range nets {
					netName := p.Name + "_" + key
					if top, ok := p.Networks[key]; ok && top.Name != "" {
						netName = top.Name
					}
					aliases := []string{cname, name}
					if cfg != nil {
						aliases = append(aliases, cfg.Aliases...)
					}
					// The address is assigned at deploy; keep the aliases.
					w.c.Networks[netName] = NetworkAttachment{Aliases: aliases}
				}
			}
			out = append(out, w)
		}
	}
	return out, nil
}
