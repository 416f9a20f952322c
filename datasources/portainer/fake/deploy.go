package fake

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// dockerErr carries the Docker daemon's own wording (capitalized, with
// punctuation), which callers and tests match on.
type dockerErr string

func (e dockerErr) Error() string { return string(e) }

const errDockerDown = dockerErr("Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?")

// composeRefusal is why compose cannot run on an environment: it is down,
// or it is a Kubernetes cluster (types 5-7), which has no Docker daemon for
// Portainer's compose deployer to reach.
func composeRefusal(ep *Endpoint) error {
	switch {
	case ep.Type >= 5 && ep.Type <= 7:
		return dockerErr("Cannot connect to the Docker daemon at " + cmp.Or(ep.URL, "https://kubernetes.default.svc") + ". Is the docker daemon running?")
	case ep.Status != 1:
		return errDockerDown
	}
	return nil
}

// composeErr is what Portainer 2.19-2.23 make of a failed `docker compose
// up`: the compose plugin's whole stderr (libstack composeplugin returns it
// as the error), that is the progress lines compose printed, then the
// daemon's (or compose's) error as the last line, with a final newline.
type composeErr struct {
	progress []string
	last     string
}

func (e *composeErr) Error() string {
	var b strings.Builder
	for _, l := range e.progress {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	b.WriteString(e.last)
	b.WriteByte('\n')
	return b.String()
}

// progressLine is compose's plain (no TTY) progress output.
func progressLine(kind, name, status string) string {
	return fmt.Sprintf(" %s %s  %s", kind, name, status)
}

// imageFault is what pulling or running an image does wrong.
type imageFault struct {
	unpullable bool
	lacks      []string // executables missing from the image
}

// FailPull makes every pull of image fail as a registry refuses an
// unknown or private repository; compose up then fails before it creates
// anything, with the daemon's "pull access denied" last.
func (s *Server) FailPull(image string) {
	s.lockState()
	defer s.mu.Unlock()
	f := s.imagesLocked()[image]
	f.unpullable = true
	s.images[image] = f
}

// LackExecutable makes image miss exe: a container of that image whose
// command starts with exe fails to start as runc reports it ("executable
// file not found in $PATH").
func (s *Server) LackExecutable(image, exe string) {
	s.lockState()
	defer s.mu.Unlock()
	f := s.imagesLocked()[image]
	f.lacks = append(f.lacks, exe)
	s.images[image] = f
}

// imageFaultLocked is what FailPull and LackExecutable set for ref, under
// any spelling of it.
func (s *Server) imageFaultLocked(ref string) imageFault {
	if f, ok := s.images[ref]; ok {
		return f
	}
	for k, f := range s.images {
		if normOr(k) == normOr(ref) {
			return f
		}
	}
	return imageFault{}
}

func (s *Server) imagesLocked() map[string]imageFault {
	if s.images == nil {
		s.images = map[string]imageFault{}
	}
	return s.images
}

type upOpts struct {
	forceRecreate bool // redeploy: recreate every container
	pull          bool // redeploy with PullImage: pull every image, present or not
	removeOrphans bool // prune: remove containers of services that are gone
}

func bindIP(ip string) string {
	if ip == "" || ip == "::" {
		return "0.0.0.0"
	}
	return ip
}

type hostBinding struct {
	ip    string
	port  int
	proto string
}

func (a hostBinding) overlaps(b hostBinding) bool {
	if a.port != b.port || a.proto != b.proto {
		return false
	}
	return a.ip == "0.0.0.0" || b.ip == "0.0.0.0" || a.ip == b.ip
}

// composeUpLocked runs `docker compose up -d` for project on an endpoint. It
// is all-or-nothing: on a refusal (port taken, name in use) nothing changes,
// which is the simplest faithful reading of "no stack record is kept".
func (s *Server) composeUpLocked(endpointID int, project string, ws []wanted, o upOpts) error {
	ep, ok := s.endpointLocked(endpointID)
	if !ok {
		return fmt.Errorf("environment %d not found", endpointID)
	}
	if err := composeRefusal(ep); err != nil {
		return err
	}
	all := s.containers[endpointID]
	var existing []*Container
	for _, c := range all {
		if c.Project() == project {
			existing = append(existing, c)
		}
	}
	matched := map[*Container]bool{}
	type step struct {
		w    wanted
		keep *Container // reuse as is
		old  *Container // replaced
	}
	steps := make([]step, 0, len(ws))
	for _, w := range ws {
		st := step{w: w}
		for _, ex := range existing {
			if ex.Service() == w.service && ex.Labels[labelNumber] == fmt.Sprint(w.number) && !matched[ex] {
				matched[ex] = true
				if !o.forceRecreate && ex.Labels[labelConfigHash] == w.hash && ex.State == "running" && ex.Name == w.c.Name {
					st.keep = ex
				} else {
					st.old = ex
				}
				break
			}
		}
		steps = append(steps, st)
	}
	removed := map[*Container]bool{}
	for _, st := range steps {
		if st.old != nil {
			removed[st.old] = true
		}
	}
	if o.removeOrphans {
		for _, ex := range existing {
			if !matched[ex] {
				removed[ex] = true
			}
		}
	}

	// Host ports held by containers that stay running.
	var held []hostBinding
	for _, c := range all {
		if removed[c] || c.State != "running" {
			continue
		}
		for _, p := range c.Ports {
			if p.HostPort > 0 {
				held = append(held, hostBinding{bindIP(p.HostIP), p.HostPort, p.Protocol})
			}
		}
	}
	// Images the endpoint lacks are pulled before anything is created
	// (compose's default pull_policy "missing"; a redeploy with PullImage
	// pulls them all).
	var progress []string
	var pulled []string
	built := map[string]bool{}
	for _, st := range steps {
		if st.keep != nil {
			continue
		}
		img := st.w.c.Image
		if st.w.build != nil {
			// Built, not pulled (build.go): when missing, or rebuilt on a
			// redeploy with PullImage; once per service.
			norm, err := normalizeRef(img)
			if err != nil {
				return &composeErr{progress: progress, last: fmt.Sprintf("invalid reference format: %q", img)}
			}
			if built[st.w.service] || !o.pull && s.findImageLocked(endpointID, norm) != nil {
				continue
			}
			if err := s.buildLocked(endpointID, project, st.w, &progress); err != nil {
				return err
			}
			built[st.w.service] = true
			continue
		}
		norm, err := normalizeRef(img)
		if err != nil {
			return &composeErr{progress: progress, last: fmt.Sprintf("invalid reference format: %q", img)}
		}
		if !o.pull && s.findImageLocked(endpointID, norm) != nil || slices.Contains(pulled, norm) {
			continue
		}
		// Only a failed pull's lines are kept in the output: a successful
		// one's would be " svc Pulling" and " svc Pulled".
		if status, msg := s.pullDecisionLocked(context.Background(), norm); status != 0 {
			progress = append(progress, fmt.Sprintf(" %s Pulling ", st.w.service), fmt.Sprintf(" %s Error %s", st.w.service, msg))
			return &composeErr{progress: progress, last: "Error response from daemon: " + msg}
		}
		if msg, broken := s.brokenPulls[norm]; broken {
			progress = append(progress, fmt.Sprintf(" %s Pulling ", st.w.service), fmt.Sprintf(" %s Error %s", st.w.service, msg))
			return &composeErr{progress: progress, last: msg}
		}
		pulled = append(pulled, norm)
		// A pulled image stays, whatever becomes of the containers.
		s.addImageLocked(endpointID, norm, time.Now())
	}
	now := time.Now()
	var created []*Container
	for _, st := range steps {
		if st.keep != nil {
			continue
		}
		c := st.w.c.clone()
		c.ID = randomHex(64)
		progress = append(progress, progressLine("Container", c.Name, "Creating"))
		if other := s.containerByNameLocked(endpointID, c.Name); other != nil && !removed[other] {
			return &composeErr{progress: progress, last: fmt.Sprintf("Error response from daemon: Conflict. The container name \"/%s\" is already in use by container \"%s\". You have to remove (or rename) that container to be able to reuse that name.", c.Name, other.ID)}
		}
		for _, nc := range created {
			if nc.Name == c.Name {
				return &composeErr{progress: progress, last: fmt.Sprintf("Error response from daemon: Conflict. The container name \"/%s\" is already in use by container \"%s\". You have to remove (or rename) that container to be able to reuse that name.", c.Name, nc.ID)}
			}
		}
		progress = append(progress, progressLine("Container", c.Name, "Created"), progressLine("Container", c.Name, "Starting"))
		if exe := firstWord(c.Command); exe != "" && slices.Contains(s.imageFaultLocked(c.Image).lacks, exe) {
			return &composeErr{progress: progress, last: fmt.Sprintf("Error response from daemon: failed to create task for container: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: exec: %q: executable file not found in $PATH: unknown", exe)}
		}
		for i, p := range c.Ports {
			if p.HostPort < 0 { // ephemeral
				port := 32768
				for slices.ContainsFunc(held, func(h hostBinding) bool {
					return h.overlaps(hostBinding{bindIP(p.HostIP), port, p.Protocol})
				}) {
					port++
				}
				c.Ports[i].HostPort = port
				p.HostPort = port
			}
			b := hostBinding{bindIP(p.HostIP), p.HostPort, p.Protocol}
			if slices.ContainsFunc(held, b.overlaps) {
				return &composeErr{progress: progress, last: fmt.Sprintf("Error response from daemon: driver failed programming external connectivity on endpoint %s (%s): Bind for %s:%d failed: port is already allocated", c.Name, c.ID, b.ip, b.port)}
			}
			held = append(held, b)
		}
		progress = append(progress, progressLine("Container", c.Name, "Started"))
		c.Created, c.StartedAt = now, now
		c.State = "running"
		if code, ok := s.exitImages[normOr(c.Image)]; ok {
			// FailImage: the process exits at once; `up -d` has
			// returned by then.
			c.State, c.ExitCode, c.FinishedAt = "exited", code, now
			if r := restartName(c.Restart); r == "always" || r == "unless-stopped" || strings.HasPrefix(r, "on-failure") {
				// ... and its restart policy starts it again, in a loop.
				c.State, c.CrashLoop = "restarting", true
			}
		}
		if c.Hostname == "" {
			c.Hostname = c.ID[:12]
		}
		created = append(created, &c)
	}

	// Commit.
	for _, c := range created {
		if n, err := normalizeRef(c.Image); err == nil {
			s.addImageLocked(endpointID, n, now)
		}
		for net, att := range c.Networks {
			c.Networks[net] = s.attachLocked(endpointID, net, att.Aliases)
		}
	}
	kept := slices.DeleteFunc(slices.Clone(all), func(c *Container) bool { return removed[c] })
	s.containers[endpointID] = append(kept, created...)
	vols := s.volumes[endpointID]
	if vols == nil {
		vols = map[string]*Volume{}
		s.volumes[endpointID] = vols
	}
	for _, st := range steps {
		for _, v := range st.w.volumes {
			if _, ok := vols[v.Name]; !ok {
				nv := v
				nv.Labels = cloneMap(v.Labels)
				nv.CreatedAt = now
				vols[v.Name] = &nv
			}
		}
	}
	return nil
}

// composeDownLocked runs `docker compose down --remove-orphans`: every
// container of the project goes; named volumes stay.
func (s *Server) composeDownLocked(endpointID int, project string) error {
	ep, ok := s.endpointLocked(endpointID)
	if !ok {
		return fmt.Errorf("environment %d not found", endpointID)
	}
	if err := composeRefusal(ep); err != nil {
		return err
	}
	s.containers[endpointID] = slices.DeleteFunc(s.containers[endpointID], func(c *Container) bool {
		return c.Project() == project
	})
	return nil
}

func (s *Server) projectContainersLocked(endpointID int, project string) []*Container {
	var out []*Container
	for _, c := range s.containers[endpointID] {
		if c.Project() == project {
			out = append(out, c)
		}
	}
	return out
}

// firstWord is the executable a container's command runs (the fake does
// not model entrypoints).
func firstWord(command []string) string {
	if len(command) > 0 {
		return command[0]
	}
	return ""
}
