package apps

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	composedotenv "github.com/compose-spec/compose-go/v2/dotenv"
	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/template"
	"github.com/compose-spec/compose-go/v2/types"

	"github.com/appmanage/appmanage/apperr"
	"github.com/appmanage/appmanage/datasources/portainer"
	"github.com/appmanage/appmanage/library"
	"github.com/appmanage/appmanage/library/dotenv"
	"github.com/appmanage/appmanage/ops"
)

// PortSource says how an install came to publish a host port.
type PortSource string

// Port sources.
const (
	// PortFromSetting: the user gave the port setting.
	PortFromSetting PortSource = "SETTING"
	// PortDefault: no setting was given and the template default was free.
	PortDefault PortSource = "DEFAULT"
	// PortNextFree: no setting was given and the default was taken, so the
	// next free port above it was chosen.
	PortNextFree PortSource = "NEXT_FREE"
	// PortLiteral: the compose file publishes the port itself ("8080:8080").
	PortLiteral PortSource = "COMPOSE"
)

// PlannedPort is one host port an install's compose file publishes, read
// with compose-go from the material the install writes (its .env applied).
type PlannedPort struct {
	Service       string `json:"service"`
	HostIP        string `json:"hostIp,omitempty"`
	HostPort      int    `json:"hostPort"`
	ContainerPort int    `json:"containerPort"`
	Protocol      string `json:"protocol"`
	// Setting is the port setting (…_SET) whose value this is; "" for a
	// port written in the compose file.
	Setting string     `json:"setting,omitempty"`
	Source  PortSource `json:"source"`
	// Default and DefaultHolder: for NEXT_FREE, the template default that
	// was passed over and what held it.
	Default       int    `json:"default,omitempty"`
	DefaultHolder string `json:"defaultHolder,omitempty"`
}

// reservation is the ops resource that claims the port: "port:EP:N" for
// TCP (as before ports had protocols), "port:EP:N/udp" otherwise.
func (p PlannedPort) reservation(endpoint int) string {
	key := portReservation(endpoint, p.HostPort)
	if p.Protocol != "tcp" {
		key += "/" + p.Protocol
	}
	return key
}

// describe names the port for messages: "host port 8080/tcp (written in
// docker-compose.yml, service web)".
func (p PlannedPort) describe() string {
	what := "written in docker-compose.yml"
	if p.Setting != "" {
		what = "setting " + p.Setting
	}
	return fmt.Sprintf("host port %d/%s (%s, service %s)", p.HostPort, p.Protocol, what, p.Service)
}

// field is the input field a refusal of this port points at.
func (p PlannedPort) field() string {
	if p.Setting != "" {
		return "settings"
	}
	return ""
}

// composeProject loads the compose file of rendered material as Compose
// would in the stack: project name = app id, variables from the rendered
// .env and nothing from our process environment, paths not resolved.
func composeProject(ctx context.Context, app *library.App, appID string, files map[string][]byte) (*types.Project, error) {
	envMap, err := composedotenv.ParseWithLookup(bytes.NewReader(files[".env"]), func(string) (string, bool) { return "", false })
	if err != nil {
		return nil, apperr.Invalid("settings", "compose cannot read the .env of %s with these settings: %v", app.Name, err)
	}
	compose, ok := files["docker-compose.yml"]
	if !ok {
		return nil, apperr.New(apperr.Internal, "library app %s has no docker-compose.yml", app.Name)
	}
	if err := library.CheckComposeYAML(compose); err != nil {
		return nil, apperr.Invalid("settings", "the compose file of %s cannot be read: %v", app.Name, err)
	}
	project, err := loader.LoadWithContext(ctx, types.ConfigDetails{
		WorkingDir: "/nonexistent/apps/" + appID,
		// The library loaded this file under the same name, so compose-go's
		// once-per-file warnings are not repeated.
		ConfigFiles: []types.ConfigFile{{Filename: app.Name + "/docker-compose.yml", Content: compose}},
		Environment: envMap,
	}, func(o *loader.Options) {
		o.SetProjectName(appID, true)
		o.ResolvePaths = false
		o.SkipResolveEnvironment = true
		o.SkipResolveLabels = true
		o.Interpolate.Substitute = func(s string, m template.Mapping) (string, error) {
			return template.SubstituteWithOptions(s, m, template.WithoutLogging)
		}
	})
	if err != nil {
		return nil, apperr.Invalid("settings", "the compose file of %s cannot be read with this install's .env: %v", app.Name, err)
	}
	return project, nil
}

// publishedPorts lists every host port the project publishes: short and
// long syntax, ranges (each port of a host range), protocols and host IPs.
// A port without a published side gets an ephemeral host port and is left
// out. Services come in name order.
func publishedPorts(project *types.Project) ([]PlannedPort, error) {
	var out []PlannedPort
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for n := range project.Services {
			if !yield(n) {
				return
			}
		}
	}) {
		svc := project.Services[name]
		for _, pc := range svc.Ports {
			if pc.Published == "" {
				continue
			}
			lo, hi, err := portRange(pc.Published)
			if err != nil {
				return nil, apperr.Invalid("settings", "service %s publishes %q, which is not a host port or range: %v", name, clip(pc.Published), err)
			}
			proto := strings.ToLower(cmp.Or(pc.Protocol, "tcp"))
			for p := lo; p <= hi; p++ {
				out = append(out, PlannedPort{Service: name, HostIP: pc.HostIP, HostPort: p,
					ContainerPort: int(pc.Target), Protocol: proto, Source: PortLiteral})
			}
		}
	}
	return out, nil
}

func portRange(s string) (int, int, error) {
	a, b, isRange := strings.Cut(strings.TrimSpace(s), "-")
	lo, err := strconv.Atoi(a)
	if err != nil || lo < 1 || lo > 65535 {
		return 0, 0, fmt.Errorf("%q is not a port number (1-65535)", a)
	}
	if !isRange {
		return lo, lo, nil
	}
	hi, err := strconv.Atoi(b)
	if err != nil || hi < lo || hi > 65535 {
		return 0, 0, fmt.Errorf("%q is not a port range", s)
	}
	return lo, hi, nil
}

// wildcardIP reports whether a host IP binds every address.
func wildcardIP(ip string) bool {
	return ip == "" || ip == "0.0.0.0" || ip == "::" || ip == "[::]"
}

// portHolder names the container that already publishes p (same port and
// protocol on an overlapping address), or "".
func portHolder(cs []portainer.Container, p PlannedPort) string {
	for _, c := range cs {
		for _, cp := range c.Ports {
			if cp.PublicPort != p.HostPort || !strings.EqualFold(cmp.Or(cp.Type, "tcp"), p.Protocol) {
				continue
			}
			if wildcardIP(cp.IP) || wildcardIP(p.HostIP) || cp.IP == p.HostIP {
				return strings.TrimPrefix(firstName(c), "/")
			}
		}
	}
	return ""
}

// reservationLister is the optional engine method that lists held
// reservations (ops.Engine has it).
type reservationLister interface {
	Reservations(ctx context.Context, prefix string) ([]ops.Reservation, error)
}

// takenPorts maps each host port number on the endpoint that is in use to
// what uses it: published by a container (any protocol or address: a port
// this install chooses should be plainly free), chosen by the install of an
// app whose stack is stopped, reserved by an in-flight operation, or being
// claimed by a concurrent request of this process.
func (s *Service) takenPorts(ctx context.Context, endpoint int) (map[int]string, error) {
	taken := map[int]string{}
	cs, err := s.stacks.ListContainers(ctx, endpoint, portainer.ContainerFilter{All: true})
	if err != nil {
		return nil, upstreamErr("portainer", err, "list containers")
	}
	for _, c := range cs {
		for _, p := range c.Ports {
			if p.PublicPort > 0 && taken[p.PublicPort] == "" {
				taken[p.PublicPort] = "container " + strings.TrimPrefix(firstName(c), "/")
			}
		}
	}
	// A stopped stack has no containers (Portainer's stop is compose down),
	// yet its app wants its ports back when started: keep the ports its
	// install chose free too.
	if lk, ok := s.engine.(latestOfKind); ok {
		stacks, err := s.cachedStacks(ctx)
		if err != nil {
			return nil, upstreamErr("portainer", err, "list stacks")
		}
		var stopped []string
		for _, st := range stacks {
			if st.EndpointID == endpoint && st.Status == portainer.StackStatusInactive {
				stopped = append(stopped, st.Name)
			}
		}
		if len(stopped) > 0 {
			latest, err := latestInstalls(ctx, lk, stopped)
			if err != nil {
				return nil, err
			}
			for _, op := range latest {
				var in InstallInput
				if json.Unmarshal(op.Input, &in) != nil || in.EndpointID != endpoint {
					continue
				}
				for _, p := range in.Ports {
					if taken[p.HostPort] == "" {
						taken[p.HostPort] = "app " + in.AppID + " (stopped)"
					}
				}
			}
		}
	}
	prefix := "port:" + strconv.Itoa(endpoint) + ":"
	parse := func(res string) (int, bool) {
		n, _, _ := strings.Cut(strings.TrimPrefix(res, prefix), "/")
		p, err := strconv.Atoi(n)
		return p, err == nil
	}
	if rl, ok := s.engine.(reservationLister); ok {
		rs, err := rl.Reservations(ctx, prefix)
		if err != nil {
			return nil, err
		}
		for _, r := range rs {
			if p, ok := parse(r.Resource); ok && taken[p] == "" {
				taken[p] = fmt.Sprintf("the %s of app %s (operation %s)", r.Kind, r.AppID, r.OperationID)
			}
		}
	}
	for _, k := range s.claims.heldWithPrefix(prefix) {
		if p, ok := parse(k); ok && taken[p] == "" {
			taken[p] = "a concurrent install request"
		}
	}
	return taken, nil
}

// planPorts decides the host ports of an install: a port setting the user
// gave is kept as given (preflight refuses it when taken); one they did not
// give gets the template default when that is free on the endpoint, else
// the next free port above it, never one in use, reserved by an in-flight
// operation, claimed by a concurrent request, in avoid, or published by the
// app itself. It reads every published port from the compose file with the
// install's .env applied (in.Ports) and decides the web port. No write.
func (s *Service) planPorts(ctx context.Context, app *library.App, in *InstallInput, avoid map[int]bool) (WebPortInfo, error) {
	var none WebPortInfo
	autos, userPorts, err := portSettings(app, in.Settings)
	if err != nil {
		return none, err
	}
	var project *types.Project // loaded with the final values, when set
	var ports []PlannedPort
	picked := map[string]PlannedPort{} // the settings chosen here
	if len(autos) > 0 {
		var own []PlannedPort // the app's other published ports
		var standIn map[int]string
		project, ports, standIn, err = loadWithStandIns(ctx, app, *in, autos)
		if err != nil {
			return none, err
		}
		if project != nil {
			for _, p := range ports {
				if standIn[p.HostPort] == "" {
					own = append(own, p)
				}
			}
		} else {
			// Stand-ins could not be used: read the app's own ports with
			// the defaults, and load again once the ports are chosen.
			files, err := render(app, *in)
			if err != nil {
				return none, err
			}
			pr, err := composeProject(ctx, app, in.AppID, files)
			if err != nil {
				return none, err
			}
			all, err := publishedPorts(pr)
			if err != nil {
				return none, err
			}
			defaults := map[int]bool{}
			for _, a := range autos {
				defaults[a.def] = true
			}
			for _, p := range all {
				if !defaults[p.HostPort] {
					own = append(own, p)
				}
			}
		}
		taken, err := s.takenPorts(ctx, in.EndpointID)
		if err != nil {
			return none, err
		}
		for p := range avoid {
			if taken[p] == "" {
				taken[p] = "a concurrent install request"
			}
		}
		for _, p := range own {
			if taken[p.HostPort] == "" {
				taken[p.HostPort] = "this app (" + p.describe() + ")"
			}
		}
		for _, p := range userPorts {
			if taken[p] == "" {
				taken[p] = "this app's settings"
			}
		}
		for _, a := range autos {
			p := a.def
			for p <= 65535 && taken[p] != "" {
				p++
			}
			if p > 65535 {
				return none, apperr.Precondition("settings", "%s: no free host port from %d up on endpoint %d", a.key, a.def, in.EndpointID)
			}
			pp := PlannedPort{HostPort: p, Setting: a.key, Source: PortDefault}
			if p != a.def {
				pp.Source, pp.Default, pp.DefaultHolder = PortNextFree, a.def, taken[a.def]
			}
			taken[p] = "this app (setting " + a.key + ")"
			picked[a.key] = pp
			in.Settings = append(in.Settings, EnvSetting{Name: a.key, Value: strconv.Itoa(p)})
		}
		if project != nil {
			remap := map[int]int{}
			for v, key := range standIn {
				remap[v] = picked[key].HostPort
			}
			applyStandIns(project, remap)
			for i, p := range ports {
				if key := standIn[p.HostPort]; key != "" {
					pp := picked[key]
					ports[i].HostPort, ports[i].Setting = pp.HostPort, key
					ports[i].Source, ports[i].Default, ports[i].DefaultHolder = pp.Source, pp.Default, pp.DefaultHolder
				}
				if v, ok := remap[p.ContainerPort]; ok {
					ports[i].ContainerPort = v
				}
			}
		}
	}
	if in.HostPorts, err = hostPorts(app, in.Settings); err != nil {
		return none, err
	}
	// Render as the template stands: a webPort the install writes as
	// W9_HTTP_PORT must not pass for one the app names itself.
	bare := *in
	bare.WebPort = 0
	files, err := render(app, bare)
	if err != nil {
		return none, err
	}
	if project == nil {
		if project, err = composeProject(ctx, app, in.AppID, files); err != nil {
			return none, err
		}
		if ports, err = publishedPorts(project); err != nil {
			return none, err
		}
	}
	// Ports not yet marked (all of them when loaded just now) belong to a
	// port setting whose value they are.
	settingOf := map[int]string{}
	for _, st := range app.Settings {
		for _, g := range in.Settings {
			if st.Port && g.Name == st.Key {
				if p, err := strconv.Atoi(strings.Trim(g.Value, `'" `)); err == nil && settingOf[p] == "" {
					settingOf[p] = st.Key
				}
			}
		}
	}
	for i, p := range ports {
		key := settingOf[p.HostPort]
		if key == "" || p.Setting != "" {
			continue
		}
		ports[i].Setting, ports[i].Source = key, PortFromSetting
		if pp, ok := picked[key]; ok {
			ports[i].Source, ports[i].Default, ports[i].DefaultHolder = pp.Source, pp.Default, pp.DefaultHolder
		}
	}
	in.Ports = ports
	env, err := dotenv.Parse(files[".env"])
	if err != nil {
		return none, apperr.Wrap(apperr.Internal, err, "parse the rendered .env of %s", app.Name)
	}
	return decideWebPort(app, in, project, env)
}

// autoPort is a port setting the user did not give, with its default.
type autoPort struct {
	key string
	def int
}

// portSettings splits the app's port settings into those the user did not
// give (to be chosen) and the values of those they gave.
func portSettings(app *library.App, settings []EnvSetting) ([]autoPort, []int, error) {
	var autos []autoPort
	var user []int
	for _, st := range app.Settings {
		if !st.Port {
			continue
		}
		i := slices.IndexFunc(settings, func(g EnvSetting) bool { return g.Name == st.Key })
		if i >= 0 {
			if p, err := strconv.Atoi(strings.Trim(settings[i].Value, `'" `)); err == nil {
				user = append(user, p)
			}
			continue
		}
		v := strings.Trim(st.Default, `'" `)
		if v == "" {
			continue
		}
		p, err := strconv.Atoi(v)
		if err != nil || p < 1 || p > 65535 {
			return nil, nil, apperr.Invalid("settings", "%s: the template default %q is not a port number; give the setting", st.Key, clip(v))
		}
		autos = append(autos, autoPort{st.Key, p})
	}
	return autos, user, nil
}

// loadWithStandIns loads the compose file once with each port setting to
// choose set to a stand-in: a port number written nowhere in the app's
// material, so the published ports carrying it are that setting's and all
// others are the app's own. standIn maps each stand-in to its setting. A
// nil project means stand-ins cannot be told apart here (one ends up in a
// port range, or the file does not load with them): the caller loads again.
func loadWithStandIns(ctx context.Context, app *library.App, in InstallInput, autos []autoPort) (*types.Project, []PlannedPort, map[int]string, error) {
	text := string(app.Files()["docker-compose.yml"]) + "\n" + string(app.Files()[".env"])
	for _, st := range in.Settings {
		text += "\n" + st.Value
	}
	standIn := map[int]string{}
	trial := in
	trial.Settings = slices.Clone(in.Settings)
	v := 65535
	for _, a := range autos {
		for v > 1024 && strings.Contains(text, strconv.Itoa(v)) {
			v--
		}
		if v <= 1024 {
			return nil, nil, nil, nil
		}
		standIn[v] = a.key
		trial.Settings = append(trial.Settings, EnvSetting{Name: a.key, Value: strconv.Itoa(v)})
		v--
	}
	files, err := render(app, trial)
	if err != nil {
		return nil, nil, nil, err
	}
	project, err := composeProject(ctx, app, in.AppID, files)
	if err != nil {
		return nil, nil, nil, nil // perhaps the stand-ins: the caller tries the defaults
	}
	ports, err := publishedPorts(project)
	if err != nil {
		return nil, nil, nil, nil
	}
	for _, svc := range project.Services {
		for _, pc := range svc.Ports {
			if strings.Contains(pc.Published, "-") {
				lo, hi, err := portRange(pc.Published)
				if err != nil {
					return nil, nil, nil, nil
				}
				for s := range standIn {
					if s >= lo && s <= hi {
						return nil, nil, nil, nil
					}
				}
			}
		}
	}
	return project, ports, standIn, nil
}

// applyStandIns puts the chosen ports where the stand-ins went in the
// parts of the project the web-port decision reads: container ports,
// exposed ports and the http(s) port labels.
func applyStandIns(project *types.Project, remap map[int]int) {
	swap := func(s string) string {
		if n, err := strconv.Atoi(strings.TrimSpace(s)); err == nil {
			if v, ok := remap[n]; ok {
				return strconv.Itoa(v)
			}
		}
		return s
	}
	for name, svc := range project.Services {
		for i, pc := range svc.Ports {
			if v, ok := remap[int(pc.Target)]; ok {
				svc.Ports[i].Target = uint32(v)
			}
			svc.Ports[i].Published = swap(pc.Published)
		}
		for i, e := range svc.Expose {
			n, proto, found := strings.Cut(e, "/")
			svc.Expose[i] = swap(n)
			if found {
				svc.Expose[i] += "/" + proto
			}
		}
		for _, k := range []string{httpPortLabel, httpsPortLabel} {
			if v, ok := svc.Labels[k]; ok {
				svc.Labels[k] = swap(v)
			}
		}
		project.Services[name] = svc
	}
}

// portKeys are the reservations of an install's host ports: every
// published port, and every port setting's value (also one the compose
// file does not publish under the active profiles).
func portKeys(in InstallInput) []string {
	var keys []string
	for _, p := range in.Ports {
		keys = append(keys, p.reservation(in.EndpointID))
	}
	for _, p := range in.HostPorts {
		keys = append(keys, portReservation(in.EndpointID, p))
	}
	slices.Sort(keys)
	return slices.Compact(keys)
}

// pickedKey reports whether a reservation key belongs to a port this
// install chose itself (so another can be chosen instead of refusing).
func pickedKey(in InstallInput, key string) (int, bool) {
	for _, p := range in.Ports {
		if (p.Source == PortDefault || p.Source == PortNextFree) && p.reservation(in.EndpointID) == key {
			return p.HostPort, true
		}
	}
	return 0, false
}

// WebPortInfo is how the port NPM forwards an app's domains to is known.
type WebPortInfo struct {
	Port   int
	Scheme string
	// Source: "label com.docker.compose.http.port", ".env W9_HTTP_PORT",
	// "the only TCP port of service x", "webPort".
	Source string
}

// namedWebPort is the web port the material names itself, as the proxy
// step will find it: a service's com.docker.compose.http(s).port label
// (the main service first), else the .env's W9_HTTP_PORT / W9_HTTPS_PORT.
func namedWebPort(project *types.Project, appID string, env *dotenv.File) (WebPortInfo, bool) {
	for _, name := range servicesMainFirst(project, appID) {
		lbl := project.Services[name].Labels
		if p, ok := labelPort(lbl[httpPortLabel]); ok {
			return WebPortInfo{p, "http", "label " + httpPortLabel + " of service " + name}, true
		}
		if p, ok := labelPort(lbl[httpsPortLabel]); ok {
			return WebPortInfo{p, "https", "label " + httpsPortLabel + " of service " + name}, true
		}
	}
	if p, ok := envPort(env, "W9_HTTP_PORT"); ok {
		return WebPortInfo{p, "http", ".env W9_HTTP_PORT"}, true
	}
	if p, ok := envPort(env, "W9_HTTPS_PORT"); ok {
		return WebPortInfo{p, "https", ".env W9_HTTPS_PORT"}, true
	}
	return WebPortInfo{}, false
}

// servicesMainFirst lists the services, the one whose container is named
// like the app first, the others by name.
func servicesMainFirst(project *types.Project, appID string) []string {
	var main string
	var rest []string
	for n, svc := range project.Services {
		if main == "" && strings.EqualFold(svc.ContainerName, appID) {
			main = n
			continue
		}
		rest = append(rest, n)
	}
	slices.Sort(rest)
	if main != "" {
		return append([]string{main}, rest...)
	}
	return rest
}

// webCandidates are the TCP container ports the main service (else every
// service) publishes or exposes: where a web interface could listen.
func webCandidates(project *types.Project, appID string) (string, []int) {
	names := servicesMainFirst(project, appID)
	if len(names) > 0 && strings.EqualFold(project.Services[names[0]].ContainerName, appID) {
		names = names[:1]
	}
	var out []int
	for _, n := range names {
		svc := project.Services[n]
		for _, pc := range svc.Ports {
			if strings.EqualFold(cmp.Or(pc.Protocol, "tcp"), "tcp") && pc.Target > 0 {
				out = append(out, int(pc.Target))
			}
		}
		for _, e := range svc.Expose {
			n, proto, _ := strings.Cut(e, "/")
			if p, err := strconv.Atoi(n); err == nil && (proto == "" || strings.EqualFold(proto, "tcp")) {
				out = append(out, p)
			}
		}
	}
	slices.Sort(out)
	return strings.Join(names, ", "), slices.Compact(out)
}

// decideWebPort settles, before anything is written, which container port
// NPM will forward the app's domains to. When the material names it (label
// or W9_HTTP(S)_PORT) that is it. Otherwise the user's webPort, else the
// only TCP port the main service offers, is written into the .env as
// W9_HTTP_PORT, where the proxy step (and later domain changes) read it.
// With domains and several candidates (or none), the install is refused,
// naming the candidates and the input that chooses.
func decideWebPort(app *library.App, in *InstallInput, project *types.Project, env *dotenv.File) (WebPortInfo, error) {
	if !app.Web {
		if in.WebPort != 0 {
			return WebPortInfo{}, apperr.Invalid("webPort", "%s serves no web interface (its .env has no W9_URL), so it takes no webPort", app.Name)
		}
		return WebPortInfo{}, nil
	}
	if named, ok := namedWebPort(project, in.AppID, env); ok {
		if in.WebPort != 0 && in.WebPort != named.Port {
			return WebPortInfo{}, apperr.Invalid("webPort", "%s names its web port itself (%s = %d); webPort is only for apps that do not", app.Name, named.Source, named.Port)
		}
		in.WebPort = 0 // nothing to write
		return named, nil
	}
	if in.WebPort != 0 {
		return WebPortInfo{in.WebPort, "http", "webPort, written to .env as W9_HTTP_PORT"}, nil
	}
	services, cands := webCandidates(project, in.AppID)
	if len(cands) == 1 {
		in.WebPort = cands[0]
		return WebPortInfo{in.WebPort, "http", "the only TCP port of service " + services + ", written to .env as W9_HTTP_PORT"}, nil
	}
	if len(in.Domains) == 0 {
		return WebPortInfo{}, nil // no proxy to create; a later domain change asks again
	}
	why := fmt.Sprintf("%s names no web port (no %s label, no W9_HTTP_PORT or W9_HTTPS_PORT in its .env)", app.Name, httpPortLabel)
	if len(cands) == 0 {
		return WebPortInfo{}, apperr.Invalid("webPort", "cannot tell which port to forward the domains to: %s, and service %s offers no TCP port; give webPort (the container port of its web interface)", why, services)
	}
	list := make([]string, len(cands))
	for i, c := range cands {
		list[i] = strconv.Itoa(c)
	}
	return WebPortInfo{}, apperr.Invalid("webPort", "cannot tell which port to forward the domains to: %s, and service %s offers several TCP ports: %s; give webPort to choose one", why, services, strings.Join(list, ", "))
}

// portEvent is the event line that says which host port an install
// publishes and why.
func portEvent(p PlannedPort) string {
	target := fmt.Sprintf("-> %s:%d", p.Service, p.ContainerPort)
	on := ""
	if !wildcardIP(p.HostIP) {
		on = " on " + p.HostIP
	}
	switch p.Source {
	case PortDefault:
		return fmt.Sprintf("host port %d/%s%s %s: %s was not given, its default %d is free", p.HostPort, p.Protocol, on, target, p.Setting, p.HostPort)
	case PortNextFree:
		return fmt.Sprintf("host port %d/%s%s %s: %s was not given and its default %d is held by %s, so the next free port was chosen", p.HostPort, p.Protocol, on, target, p.Setting, p.Default, p.DefaultHolder)
	case PortFromSetting:
		return fmt.Sprintf("host port %d/%s%s %s: from setting %s", p.HostPort, p.Protocol, on, target, p.Setting)
	}
	return fmt.Sprintf("host port %d/%s%s %s: written in docker-compose.yml", p.HostPort, p.Protocol, on, target)
}
