package fake

import (
	"fmt"
	"slices"
	"time"
)

// dockerErr carries the Docker daemon's own wording (capitalized, with
// punctuation), which callers and tests match on.
type dockerErr string

func (e dockerErr) Error() string { return string(e) }

func dockerErrorf(format string, args ...any) error { return dockerErr(fmt.Sprintf(format, args...)) }

const errDockerDown = dockerErr("Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?")

type upOpts struct {
	forceRecreate bool // redeploy: recreate every container
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
	if ep.Status != 1 {
		return errDockerDown
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
	now := time.Now()
	var created []*Container
	for _, st := range steps {
		if st.keep != nil {
			continue
		}
		c := st.w.c.clone()
		c.ID = randomHex(64)
		if other := s.containerByNameLocked(endpointID, c.Name); other != nil && !removed[other] {
			return dockerErrorf("Error response from daemon: Conflict. The container name \"/%s\" is already in use by container \"%s\". You have to remove (or rename) that container to be able to reuse that name.", c.Name, other.ID)
		}
		for _, nc := range created {
			if nc.Name == c.Name {
				return dockerErrorf("Error response from daemon: Conflict. The container name \"/%s\" is already in use by container \"%s\". You have to remove (or rename) that container to be able to reuse that name.", c.Name, nc.ID)
			}
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
				return dockerErrorf("Error response from daemon: driver failed programming external connectivity on endpoint %s (%s): Bind for %s:%d failed: port is already allocated", c.Name, c.ID, b.ip, b.port)
			}
			held = append(held, b)
		}
		c.Created, c.StartedAt = now, now
		c.State = "running"
		if c.Hostname == "" {
			c.Hostname = c.ID[:12]
		}
		created = append(created, &c)
	}

	// Commit.
	for _, c := range created {
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
	if ep.Status != 1 {
		return errDockerDown
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
