package fake

import (
	"context"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"go.yaml.in/yaml/v4"
)

// Compose services with a build: section. The fake does not run a
// builder; it models what decides a build's outcome and what compose
// prints: the Dockerfile read from the clone (context/dockerfile), each
// FROM image present on the endpoint or pulled (the image/pull model:
// FailPull, Options.Pullable, BreakPull), FailBuild for a step that fails,
// and on success the image <project>-<service> (or the service's image:
// name) in the endpoint's image store. A failed build fails `compose up`
// before any container is created, with BuildKit's plain progress and
// "failed to solve: ..." last, which Portainer returns as the deploy
// error. An existing image is reused (compose's default); a redeploy with
// PullImage rebuilds (Portainer 2.17+, "rebuild image for compose stack
// from git", portainer/portainer#7707).

// buildSpec is a service's build: section, resolved against the clone.
type buildSpec struct {
	context    string // repository path of the context ("" = the root)
	dockerfile string // repository path of the Dockerfile
	content    []byte // the Dockerfile, nil when the clone has none
	found      bool
	inline     string // dockerfile_inline
}

// FailBuild makes every build of project's services fail with output (the
// failing step's lines, as the build printed them).
func (s *Server) FailBuild(project, output string) {
	s.lockState()
	defer s.mu.Unlock()
	if s.failBuilds == nil {
		s.failBuilds = map[string]string{}
	}
	s.failBuilds[normalizeName(project)] = output
}

// Builds returns how many images were built for project so far.
func (s *Server) Builds(project string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.builds[normalizeName(project)]
}

// buildRefs lists the Dockerfile paths (relative to the compose file's
// directory) of a compose file's build sections, without interpolation.
func buildRefs(content []byte) []string {
	if len(content) == 0 {
		return nil
	}
	var doc struct {
		Services map[string]struct {
			Build any `yaml:"build"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(content, &doc); err != nil {
		return nil
	}
	var out []string
	for _, svc := range doc.Services {
		ctx, df := "", "Dockerfile"
		switch b := svc.Build.(type) {
		case string:
			ctx = b
		case map[string]any:
			if c, ok := b["context"].(string); ok {
				ctx = c
			}
			if d, ok := b["dockerfile"].(string); ok && d != "" {
				df = d
			}
		default:
			continue
		}
		if strings.Contains(ctx+df, "$") || strings.Contains(ctx, "://") {
			continue
		}
		if ctx == "" {
			ctx = "."
		}
		out = append(out, path.Join(ctx, df))
	}
	return out
}

// attachBuilds gives each planned container of a service with a build:
// section its Dockerfile from the clone's files.
func attachBuilds(p *types.Project, ws []wanted, files map[string][]byte, projectPath string) {
	for i := range ws {
		svc, ok := p.Services[ws[i].service]
		if !ok || svc.Build == nil {
			continue
		}
		b := &buildSpec{inline: svc.Build.DockerfileInline}
		rel, ok := strings.CutPrefix(svc.Build.Context, projectPath)
		if !ok && svc.Build.Context != "" {
			rel = "\x00outside" // an absolute path or a remote context
		}
		b.context = cleanRepoPath(rel)
		df := svc.Build.Dockerfile
		if df == "" {
			df = "Dockerfile"
		}
		if path.IsAbs(df) {
			b.dockerfile = cleanRepoPath(strings.TrimPrefix(df, projectPath))
		} else {
			b.dockerfile = joinRepo(b.context, df)
		}
		if !strings.HasPrefix(rel, "\x00") {
			b.content, b.found = files[b.dockerfile]
		}
		ws[i].build = b
	}
}

// fromImages returns the base images of a Dockerfile's FROM lines, without
// stage names and scratch, in order.
func fromImages(dockerfile []byte) []string {
	var stages, out []string
	for _, line := range strings.Split(string(dockerfile), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || !strings.EqualFold(f[0], "FROM") {
			continue
		}
		f = slices.DeleteFunc(f[1:], func(w string) bool { return strings.HasPrefix(w, "--") })
		if len(f) == 0 {
			continue
		}
		img := f[0]
		skip := strings.EqualFold(img, "scratch") || slices.Contains(stages, strings.ToLower(img)) || strings.Contains(img, "$")
		if len(f) >= 3 && strings.EqualFold(f[1], "AS") {
			stages = append(stages, strings.ToLower(f[2]))
		}
		if !skip {
			out = append(out, img)
		}
	}
	return out
}

// firstRun is the first RUN instruction's command (for a failed step's
// wording).
func firstRun(dockerfile []byte) string {
	for _, line := range strings.Split(string(dockerfile), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && strings.EqualFold(f[0], "RUN") {
			return strings.Join(f[1:], " ")
		}
	}
	return "true"
}

// buildLocked builds w's image on the endpoint, appending BuildKit's plain
// progress to progress. It returns the error compose up fails with.
func (s *Server) buildLocked(endpointID int, project string, w wanted, progress *[]string) error {
	b := w.build
	svc := w.service
	step := 0
	line := func(format string, args ...any) { *progress = append(*progress, fmt.Sprintf(format, args...)) }
	fail := func(last string) error { return &composeErr{progress: *progress, last: last} }
	line(" %s Building", svc)
	line(`#0 building with "default" instance using docker driver`)
	step++
	line("#%d [%s internal] load build definition from %s", step, svc, path.Base(b.dockerfile))
	content := b.content
	if b.inline != "" {
		content = []byte(b.inline)
	} else if !b.found {
		line("#%d transferring dockerfile: 2B done", step)
		line("#%d DONE 0.0s", step)
		return fail(fmt.Sprintf("failed to solve: failed to read dockerfile: open %s: no such file or directory", path.Base(b.dockerfile)))
	}
	line("#%d transferring dockerfile: %dB done", step, len(content))
	line("#%d DONE 0.0s", step)
	bases := fromImages(content)
	if len(bases) == 0 && !strings.Contains(strings.ToUpper(string(content)), "FROM") {
		return fail("failed to solve: dockerfile parse error: no build stage in current context")
	}
	for _, base := range bases {
		norm, err := normalizeRef(base)
		if err != nil {
			return fail(fmt.Sprintf("failed to solve: failed to parse stage name %q: invalid reference format", base))
		}
		step++
		line("#%d [%s internal] load metadata for %s", step, svc, norm)
		if s.findImageLocked(endpointID, norm) != nil {
			line("#%d DONE 0.0s", step)
			continue
		}
		if status, msg := s.pullDecisionLocked(context.Background(), norm); status != 0 {
			line("#%d ERROR: %s", step, msg)
			return fail(fmt.Sprintf("failed to solve: %s: failed to resolve source metadata for %s: %s", base, norm, msg))
		}
		if msg, broken := s.brokenPulls[norm]; broken {
			line("#%d ERROR: %s", step, msg)
			return fail(fmt.Sprintf("failed to solve: %s: %s", base, msg))
		}
		line("#%d DONE 0.4s", step)
		s.addImageLocked(endpointID, norm, time.Now())
	}
	step++
	line("#%d [%s 1/2] FROM %s", step, svc, strings.Join(bases, ", "))
	line("#%d DONE 0.1s", step)
	if out, failing := s.failBuilds[normalizeName(project)]; failing {
		step++
		run := firstRun(content)
		line("#%d [%s 2/2] RUN %s", step, svc, run)
		for _, l := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
			line("#%d %s", step, l)
		}
		line("#%d ERROR: process \"/bin/sh -c %s\" did not complete successfully: exit code: 1", step, run)
		return fail(fmt.Sprintf("failed to solve: process \"/bin/sh -c %s\" did not complete successfully: exit code: 1", run))
	}
	step++
	norm, err := normalizeRef(w.c.Image)
	if err != nil {
		return fail(fmt.Sprintf("invalid reference format: %q", w.c.Image))
	}
	line("#%d exporting to image", step)
	line("#%d naming to %s done", step, norm)
	line("#%d DONE 0.2s", step)
	line(" %s Built", svc)
	s.addImageLocked(endpointID, norm, time.Now())
	if s.builds == nil {
		s.builds = map[string]int{}
	}
	s.builds[normalizeName(project)]++
	return nil
}
