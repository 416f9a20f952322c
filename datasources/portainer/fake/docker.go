package fake

import (
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	json "github.com/goccy/go-json"
)

// Docker-proxy routes answer in the Docker Engine API's shapes (v1.41+).

// dockerEndpoint resolves {id} as Portainer does before proxying.
func (s *Server) dockerEndpoint(w http.ResponseWriter, r *http.Request) (int, bool) {
	id, ok := pathID(r, "id")
	if !ok {
		writeErr(w, perr(400, "Invalid environment identifier route variable", "invalid syntax"))
		return 0, false
	}
	s.mu.Lock()
	ep, found := s.endpointLocked(id)
	var e Endpoint
	if found {
		e = *ep
	}
	s.mu.Unlock()
	if !found {
		writeErr(w, errEnvNotFound)
		return 0, false
	}
	if status, body := dockerProxyRefusal(e); status != 0 {
		writeJSON(w, status, body)
		return 0, false
	}
	return id, true
}

// dockerProxyRefusal is what Portainer answers on the Docker proxy of an
// environment that cannot serve it (status 0: it is proxied). Portainer
// documents none of this (neither contracts.md nor portainer-contract.md
// does); it is read from its source (api/http/handler/endpointproxy and
// api/http/proxy/factory):
//   - A Kubernetes environment (types 5-7): ProxyFactory.NewEndpointProxy
//     gives it its Kubernetes proxy whatever the route, so /docker/<path> is
//     forwarded to the cluster's API server as /<path>, which answers 404
//     with a Kubernetes Status object.
//   - A local Docker environment (type 1, unix socket) that is down: the
//     socket proxy writes 502 "Unable to proxy the request via the Docker
//     socket" with the dial error.
//   - An agent (type 2) that is down: the HTTP reverse proxy's
//     ErrorHandler writes 502 "Proxy failure" with the dial error.
//   - An Edge agent (type 4) that is down: no active tunnel, 500 "Unable to
//     get the active tunnel".
func dockerProxyRefusal(e Endpoint) (int, any) {
	switch {
	case e.Type >= 5 && e.Type <= 7:
		return 404, map[string]any{"kind": "Status", "apiVersion": "v1", "metadata": map[string]any{},
			"status": "Failure", "message": "the server could not find the requested resource",
			"reason": "NotFound", "details": map[string]any{}, "code": 404}
	case e.Status == 1:
		return 0, nil
	case e.Type == 2:
		return 502, errBody(perr(502, "Proxy failure", "dial tcp "+agentAddr(e)+": connect: connection refused"))
	case e.Type == 4:
		return 500, errBody(perr(500, "Unable to get the active tunnel", "no active tunnel for the environment"))
	}
	return 502, errBody(perr(502, "Unable to proxy the request via the Docker socket", errDockerDown.Error()))
}

// agentAddr is host:port of an agent environment's URL (tcp://10.0.0.2:9001).
func agentAddr(e Endpoint) string {
	if _, hp, ok := strings.Cut(e.URL, "://"); ok && hp != "" {
		return hp
	}
	return "agent:9001"
}

// dockerFilters parses Docker's filters parameter: {"key":["v",...]} or the
// legacy {"key":{"v":true}}.
func dockerFilters(raw string) (map[string][]string, error) {
	out := map[string][]string{}
	if raw == "" {
		return out, nil
	}
	var generic map[string]json.RawMessage
	if err := json.Unmarshal([]byte(raw), &generic); err != nil {
		return nil, fmt.Errorf("invalid filter: %v", err)
	}
	for k, v := range generic {
		var list []string
		if err := json.Unmarshal(v, &list); err == nil {
			out[k] = list
			continue
		}
		var set map[string]bool
		if err := json.Unmarshal(v, &set); err != nil {
			return nil, fmt.Errorf("invalid filter '%s'", k)
		}
		for x, on := range set {
			if on {
				out[k] = append(out[k], x)
			}
		}
	}
	return out, nil
}

func labelsMatch(labels map[string]string, filters []string) bool {
	for _, f := range filters {
		k, v, hasV := strings.Cut(f, "=")
		got, ok := labels[k]
		if !ok || (hasV && got != v) {
			return false
		}
	}
	return true
}

func (s *Server) handleListContainers(w http.ResponseWriter, r *http.Request) {
	endpointID, ok := s.dockerEndpoint(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	all := q.Get("all") == "1" || q.Get("all") == "true"
	f, err := dockerFilters(q.Get("filters"))
	if err != nil {
		writeDockerErr(w, 400, err.Error())
		return
	}
	for k := range f {
		switch k {
		case "label", "name", "id", "status":
		default:
			writeDockerErr(w, 400, fmt.Sprintf("invalid filter '%s'", k))
			return
		}
	}
	now := time.Now()
	s.mu.Lock()
	var entries [][]byte
	for _, c := range s.containers[endpointID] {
		if !all && c.State != "running" {
			continue
		}
		if !labelsMatch(c.Labels, f["label"]) {
			continue
		}
		if st := f["status"]; len(st) > 0 && !slices.Contains(st, c.State) {
			continue
		}
		if ids := f["id"]; len(ids) > 0 && !slices.ContainsFunc(ids, func(p string) bool { return strings.HasPrefix(c.ID, p) }) {
			continue
		}
		if names := f["name"]; len(names) > 0 && !slices.ContainsFunc(names, func(p string) bool {
			re, err := regexp.Compile(p)
			return err == nil && re.MatchString("/"+c.Name)
		}) {
			continue
		}
		entries = append(entries, s.summaryLocked(c, now))
	}
	body := s.containerLists.Join(s.rev, strconv.Itoa(endpointID)+"?"+r.URL.RawQuery, entries)
	s.mu.Unlock()
	writeRawJSON(w, 200, body)
}

// summaryLocked is c's container list entry, encoded.
func (s *Server) summaryLocked(c *Container, now time.Time) []byte {
	key := summaryKey{c, statusText(c, now)}
	if b, ok := s.encodedSummary.Get(s.rev, key); ok {
		return b
	}
	b, err := json.Marshal(listJSON(c, now))
	if err != nil {
		panic(err) // plain data: cannot fail
	}
	s.encodedSummary.Put(s.rev, key, b)
	return b
}

// containerSummary is one entry of Docker's container list, in the
// order Docker writes the fields (types.Container).
type containerSummary struct {
	ID         string            `json:"Id"`
	Names      []string          `json:"Names"`
	Image      string            `json:"Image"`
	ImageID    string            `json:"ImageID"`
	Command    string            `json:"Command"`
	Created    int64             `json:"Created"`
	Ports      []portSummary     `json:"Ports"`
	Labels     map[string]string `json:"Labels"`
	State      string            `json:"State"`
	Status     string            `json:"Status"`
	HostConfig struct {
		NetworkMode string `json:"NetworkMode"`
	} `json:"HostConfig"`
	NetworkSettings struct {
		Networks map[string]endpointSettings `json:"Networks"`
	} `json:"NetworkSettings"`
	Mounts []mountPoint `json:"Mounts"`
}

// portSummary: an unpublished port has neither IP nor PublicPort.
type portSummary struct {
	IP          string `json:"IP,omitempty"`
	PrivatePort int    `json:"PrivatePort"`
	PublicPort  int    `json:"PublicPort,omitempty"`
	Type        string `json:"Type"`
}

type endpointSettings struct {
	IPAMConfig  any      `json:"IPAMConfig"`
	Links       []string `json:"Links"`
	Aliases     []string `json:"Aliases"`
	NetworkID   string   `json:"NetworkID"`
	EndpointID  string   `json:"EndpointID"`
	Gateway     string   `json:"Gateway"`
	IPAddress   string   `json:"IPAddress"`
	IPPrefixLen int      `json:"IPPrefixLen"`
	MacAddress  string   `json:"MacAddress"`
}

// mountPoint: only volumes have a Name and a Driver.
type mountPoint struct {
	Type        string `json:"Type"`
	Name        string `json:"Name,omitempty"`
	Source      string `json:"Source"`
	Destination string `json:"Destination"`
	Driver      string `json:"Driver,omitempty"`
	Mode        string `json:"Mode"`
	RW          bool   `json:"RW"`
	Propagation string `json:"Propagation"`
}

func listJSON(c *Container, now time.Time) containerSummary {
	ports := []portSummary{}
	for _, p := range c.Ports {
		if p.HostPort > 0 {
			ips := []string{p.HostIP}
			if p.HostIP == "" {
				ips = []string{"0.0.0.0", "::"} // Docker lists both families
			}
			for _, ip := range ips {
				ports = append(ports, portSummary{IP: ip, PrivatePort: p.ContainerPort, PublicPort: p.HostPort, Type: p.Protocol})
			}
		} else {
			ports = append(ports, portSummary{PrivatePort: p.ContainerPort, Type: p.Protocol})
		}
	}
	for _, e := range c.Exposed {
		port, proto, _ := strings.Cut(e, "/")
		n, _ := strconv.Atoi(port)
		if !slices.ContainsFunc(c.Ports, func(p PortBinding) bool { return p.ContainerPort == n && p.Protocol == proto }) {
			ports = append(ports, portSummary{PrivatePort: n, Type: proto})
		}
	}
	out := containerSummary{
		ID: c.ID, Names: []string{"/" + c.Name}, Image: c.Image, ImageID: c.ImageID,
		Command: strings.Join(c.Command, " "), Created: c.Created.Unix(), Ports: ports,
		Labels: nonNil(c.Labels), State: c.State, Status: statusText(c, now), Mounts: mountsJSON(c.Mounts),
	}
	out.HostConfig.NetworkMode = "bridge"
	for name := range c.Networks {
		out.HostConfig.NetworkMode = name
		break
	}
	out.NetworkSettings.Networks = networksJSON(c.Networks)
	return out
}

func nonNil(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

func networksJSON(nets map[string]NetworkAttachment) map[string]endpointSettings {
	out := make(map[string]endpointSettings, len(nets))
	for name, a := range nets {
		out[name] = endpointSettings{
			Aliases: a.Aliases, NetworkID: a.NetworkID, EndpointID: randomHexStable(a.IPAddress),
			Gateway: a.Gateway, IPAddress: a.IPAddress, IPPrefixLen: 16, MacAddress: "02:42:ac:12:00:02",
		}
	}
	return out
}

// randomHexStable derives a stable 64-hex id from a seed.
func randomHexStable(seed string) string {
	return fmt.Sprintf("%x", sha256Sum([]byte("ep:"+seed)))
}

func mountsJSON(ms []Mount) []mountPoint {
	out := []mountPoint{}
	for _, m := range ms {
		j := mountPoint{Type: m.Type, Source: m.Source, Destination: m.Destination, RW: !m.ReadOnly}
		switch m.Type {
		case "volume":
			j.Name, j.Driver, j.Mode = m.Name, "local", "z"
		case "bind":
			j.Mode, j.Propagation = "rw", "rprivate"
			if m.ReadOnly {
				j.Mode = "ro"
			}
		}
		out = append(out, j)
	}
	return out
}

// statusText is Docker's human status column ("Up 5 seconds (healthy)").
func statusText(c *Container, now time.Time) string {
	switch c.State {
	case "running":
		s := "Up " + humanDuration(now.Sub(c.StartedAt))
		if c.Health != "" {
			h := c.Health
			if h == "starting" {
				h = "health: starting"
			}
			s += " (" + h + ")"
		}
		return s
	case "exited":
		return fmt.Sprintf("Exited (%d) %s ago", c.ExitCode, humanDuration(now.Sub(c.FinishedAt)))
	case "restarting":
		return fmt.Sprintf("Restarting (%d) %s ago", c.ExitCode, humanDuration(now.Sub(c.FinishedAt)))
	case "created":
		return "Created"
	case "paused":
		return "Up " + humanDuration(now.Sub(c.StartedAt)) + " (Paused)"
	}
	return c.State
}

// humanDuration follows docker/go-units HumanDuration.
func humanDuration(d time.Duration) string {
	if secs := int(d.Seconds()); secs < 1 {
		return "Less than a second"
	} else if secs == 1 {
		return "1 second"
	} else if secs < 60 {
		return fmt.Sprintf("%d seconds", secs)
	} else if mins := int(d.Minutes()); mins == 1 {
		return "About a minute"
	} else if mins < 60 {
		return fmt.Sprintf("%d minutes", mins)
	} else if hours := int(d.Hours() + 0.5); hours == 1 {
		return "About an hour"
	} else if hours < 48 {
		return fmt.Sprintf("%d hours", hours)
	} else if hours < 24*7*2 {
		return fmt.Sprintf("%d days", hours/24)
	} else if hours < 24*30*2 {
		return fmt.Sprintf("%d weeks", hours/24/7)
	} else if hours < 24*365*2 {
		return fmt.Sprintf("%d months", hours/24/30)
	}
	return fmt.Sprintf("%d years", int(d.Hours())/24/365)
}

func rfc3339(t time.Time) string {
	if t.IsZero() {
		return "0001-01-01T00:00:00Z"
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func (s *Server) handleInspectContainer(w http.ResponseWriter, r *http.Request) {
	endpointID, ok := s.dockerEndpoint(w, r)
	if !ok {
		return
	}
	cid := r.PathValue("cid")
	s.mu.Lock()
	var c *Container
	for _, x := range s.containers[endpointID] {
		// Docker accepts the full id, a unique id prefix, or the name.
		if x.ID == cid || x.Name == strings.TrimPrefix(cid, "/") || (len(cid) >= 3 && strings.HasPrefix(x.ID, cid)) {
			c = x
			break
		}
	}
	var body map[string]any
	if c != nil {
		body = inspectJSON(c)
	}
	s.mu.Unlock()
	if c == nil {
		writeDockerErr(w, 404, "No such container: "+cid)
		return
	}
	writeJSON(w, 200, body)
}

func inspectJSON(c *Container) map[string]any {
	state := map[string]any{
		"Status": c.State, "Running": c.State == "running", "Paused": c.State == "paused",
		"Restarting": c.State == "restarting", "OOMKilled": false, "Dead": false, "Pid": 0, "ExitCode": c.ExitCode,
		"Error": "", "StartedAt": rfc3339(c.StartedAt), "FinishedAt": rfc3339(c.FinishedAt),
	}
	if c.State == "running" {
		state["Pid"] = 1000 + int(c.Created.UnixNano()%30000)
	}
	if c.Health != "" {
		state["Health"] = map[string]any{"Status": c.Health, "FailingStreak": 0, "Log": []any{}}
	}
	exposed := map[string]any{}
	bindings := map[string]any{}
	netPorts := map[string]any{}
	for _, p := range c.Ports {
		key := fmt.Sprintf("%d/%s", p.ContainerPort, p.Protocol)
		exposed[key] = map[string]any{}
		if p.HostPort > 0 {
			bindings[key] = []map[string]string{{"HostIp": p.HostIP, "HostPort": strconv.Itoa(p.HostPort)}}
			ips := []string{p.HostIP}
			if p.HostIP == "" {
				ips = []string{"0.0.0.0", "::"}
			}
			var list []map[string]string
			for _, ip := range ips {
				list = append(list, map[string]string{"HostIp": ip, "HostPort": strconv.Itoa(p.HostPort)})
			}
			netPorts[key] = list
		} else {
			netPorts[key] = nil
		}
	}
	for _, e := range c.Exposed {
		exposed[e] = map[string]any{}
		if _, ok := netPorts[e]; !ok {
			netPorts[e] = nil
		}
	}
	nets := networksJSON(c.Networks)
	networkMode := "bridge"
	for name := range c.Networks {
		networkMode = name
	}
	cmd := any(nil)
	if len(c.Command) > 0 {
		cmd = c.Command
	}
	return map[string]any{
		"Id":           c.ID,
		"Created":      rfc3339(c.Created),
		"Path":         firstOr(c.Command, ""),
		"Args":         restOr(c.Command),
		"State":        state,
		"Image":        c.ImageID,
		"Name":         "/" + c.Name,
		"RestartCount": restartCount(c),
		"Driver":       "overlay2",
		"Platform":     "linux",
		"HostConfig": map[string]any{
			"NetworkMode":   networkMode,
			"PortBindings":  bindings,
			"RestartPolicy": map[string]any{"Name": restartName(c.Restart), "MaximumRetryCount": 0},
		},
		"Mounts": mountsJSON(c.Mounts),
		"Config": map[string]any{
			"Hostname":     c.Hostname,
			"Image":        c.Image,
			"Env":          c.Env,
			"Cmd":          cmd,
			"Labels":       nonNil(c.Labels),
			"ExposedPorts": exposed,
		},
		"NetworkSettings": map[string]any{
			"Ports":    netPorts,
			"Networks": nets,
		},
	}
}

// restartCount is the inspect answer's RestartCount.
func restartCount(c *Container) int {
	if !c.CrashLoop {
		return 0
	}
	return restartsBy(time.Since(c.Created))
}

func restartName(r string) string {
	if r == "" {
		return "no"
	}
	return r
}

func firstOr(s []string, d string) string {
	if len(s) == 0 {
		return d
	}
	return s[0]
}

func restOr(s []string) []string {
	if len(s) <= 1 {
		return []string{}
	}
	return s[1:]
}

func (s *Server) handleListVolumes(w http.ResponseWriter, r *http.Request) {
	endpointID, ok := s.dockerEndpoint(w, r)
	if !ok {
		return
	}
	f, err := dockerFilters(r.URL.Query().Get("filters"))
	if err != nil {
		writeDockerErr(w, 400, err.Error())
		return
	}
	for k := range f {
		switch k {
		case "label", "name", "dangling", "driver":
		default:
			writeDockerErr(w, 400, fmt.Sprintf("invalid filter '%s'", k))
			return
		}
	}
	s.mu.Lock()
	inUse := s.volumesInUseLocked(endpointID)
	out := []map[string]any{}
	for _, v := range s.volumes[endpointID] {
		if !labelsMatch(v.Labels, f["label"]) {
			continue
		}
		if names := f["name"]; len(names) > 0 && !slices.ContainsFunc(names, func(n string) bool { return strings.Contains(v.Name, n) }) {
			continue
		}
		if d := f["dangling"]; len(d) > 0 {
			wantDangling := d[0] == "true" || d[0] == "1"
			if wantDangling == (len(inUse[v.Name]) > 0) {
				continue
			}
		}
		if drv := f["driver"]; len(drv) > 0 && !slices.Contains(drv, v.Driver) {
			continue
		}
		out = append(out, map[string]any{
			"Name": v.Name, "Driver": v.Driver, "Mountpoint": "/var/lib/docker/volumes/" + v.Name + "/_data",
			"CreatedAt": v.CreatedAt.UTC().Format(time.RFC3339), "Labels": nonNil(v.Labels), "Scope": "local",
			"Options": nil,
		})
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b map[string]any) int { return strings.Compare(a["Name"].(string), b["Name"].(string)) })
	writeJSON(w, 200, map[string]any{"Volumes": out, "Warnings": nil})
}

func (s *Server) volumesInUseLocked(endpointID int) map[string][]string {
	out := map[string][]string{}
	for _, c := range s.containers[endpointID] {
		for _, m := range c.Mounts {
			if m.Type == "volume" {
				out[m.Name] = append(out[m.Name], c.ID)
			}
		}
	}
	return out
}

func (s *Server) handleDeleteVolume(w http.ResponseWriter, r *http.Request) {
	endpointID, ok := s.dockerEndpoint(w, r)
	if !ok {
		return
	}
	name := r.PathValue("name")
	force := r.URL.Query().Get("force") == "1" || r.URL.Query().Get("force") == "true"
	s.lockState()
	defer s.mu.Unlock()
	if _, ok := s.volumes[endpointID][name]; !ok {
		if force {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		writeDockerErr(w, 404, "get "+name+": no such volume")
		return
	}
	if users := s.volumesInUseLocked(endpointID)[name]; len(users) > 0 {
		writeDockerErr(w, 409, fmt.Sprintf("remove %s: volume is in use - [%s]", name, strings.Join(users, ", ")))
		return
	}
	delete(s.volumes[endpointID], name)
	w.WriteHeader(http.StatusNoContent)
}
