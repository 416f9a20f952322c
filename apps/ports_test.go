package apps

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/appmanage/appmanage/apperr"
	"github.com/appmanage/appmanage/datasources/portainer"
	portainerfake "github.com/appmanage/appmanage/datasources/portainer/fake"
	"github.com/appmanage/appmanage/library"
	"github.com/appmanage/appmanage/library/dotenv"
	"github.com/appmanage/appmanage/ops"
)

// portApp is a synthetic Websoft9-format app folder: env is the .env body
// after the W9_ID/W9_VERSION lines, compose the services block.
type portApp struct {
	env     string
	compose string
}

// portLibrary writes the apps as library folders in a temporary directory
// and loads them as --library-dir would.
func portLibrary(t *testing.T, apps map[string]portApp) *library.Library {
	t.Helper()
	dir := t.TempDir()
	for name, a := range apps {
		d := filepath.Join(dir, name)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		files := map[string]string{
			"variables.json": fmt.Sprintf(`{"name": %q, "trademark": %q, "release": true,
  "edition": [{"dist": "community", "version": ["1.0", "latest"]}]}`, name, strings.ToUpper(name)),
			".env": "W9_REPO=traefik/whoami\nW9_DIST='community'\nW9_VERSION='1.0'\nW9_ID='" + name + "'\nW9_NETWORK=websoft9\n" + a.env,
			"docker-compose.yml": "version: '3.8'\nservices:\n" + a.compose +
				"networks:\n  default:\n    name: $W9_NETWORK\n    external: true\n",
		}
		for f, body := range files {
			if err := os.WriteFile(filepath.Join(d, f), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	lib, err := library.LoadDir(dir, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if p := lib.Problems(); len(p) > 0 {
		t.Fatalf("synthetic library has problems: %+v", p)
	}
	return lib
}

// sameDefaultApps are three apps that, like every app of the Websoft9
// library, default W9_HTTP_PORT_SET to 9001.
func sameDefaultApps() map[string]portApp {
	out := map[string]portApp{}
	for _, name := range []string{"alpha", "bravo", "charlie"} {
		out[name] = portApp{
			env: "W9_HTTP_PORT=80\nW9_HTTP_PORT_SET='9001'\nW9_URL='internet_ip'\n",
			compose: "  " + name + ":\n    image: $W9_REPO:$W9_VERSION\n    container_name: $W9_ID\n" +
				"    ports:\n      - $W9_HTTP_PORT_SET:80\n",
		}
	}
	return out
}

// hostPortsOf returns the host ports the containers of project publish.
func hostPortsOf(e *testEnv, project string) []int {
	var out []int
	for _, c := range e.Portainer.Containers(1) {
		if c.Labels[projectLabel] == project {
			for _, p := range c.Ports {
				out = append(out, p.HostPort)
			}
		}
	}
	slices.Sort(out)
	return out
}

// Acceptance (issue 16, line 2): five installs of apps that all default to
// host port 9001, given no port setting, all succeed on distinct free ports
// (9001 first, then the next free ones), one after the other and at once;
// each says which port in its events and its .env.
func TestInstallsWithoutPortSettingsGetDistinctFreePorts(t *testing.T) {
	for _, concurrent := range []bool{false, true} {
		t.Run(map[bool]string{false: "sequential", true: "concurrent"}[concurrent], func(t *testing.T) {
			e := newEnv(t, withLibrary(portLibrary(t, sameDefaultApps())))
			// Something outside appmanage already holds 9002.
			if _, err := e.Portainer.AddContainers(1, "foreign", portainerfake.Container{Name: "foreign",
				Ports: []portainerfake.PortBinding{{HostPort: 9002, ContainerPort: 80}}}); err != nil {
				t.Fatal(err)
			}
			names := []string{"alpha", "bravo", "charlie", "alpha", "bravo"}
			reqs := make([]InstallRequest, len(names))
			for i, n := range names {
				reqs[i] = InstallRequest{AppName: n, AppID: n + strconv.Itoa(i)}
			}
			var done []*ops.Operation
			if concurrent {
				e.slowUpstreams(20 * time.Millisecond)
				started, errs := installAll(e, reqs)
				for i, err := range errs {
					if err != nil {
						t.Fatalf("install %s refused: %v", reqs[i].AppID, err)
					}
				}
				e.slowUpstreams(0)
				for _, op := range started {
					done = append(done, e.wait(op))
				}
			} else {
				for _, r := range reqs {
					done = append(done, e.install(r))
				}
			}
			var got []int
			for i, op := range done {
				id := reqs[i].AppID
				if op.Status != ops.StatusSucceeded {
					t.Fatalf("install %s: %s %s", id, op.Status, op.Error)
				}
				ports := hostPortsOf(e, id)
				if len(ports) != 1 {
					t.Fatalf("%s publishes %v, want one port", id, ports)
				}
				p := ports[0]
				got = append(got, p)
				env, err := dotenv.Parse(e.Gitea.Files(e.Owner, id, "main")[".env"])
				if err != nil {
					t.Fatal(err)
				}
				if v, _ := env.Get("W9_HTTP_PORT_SET"); v != strconv.Itoa(p) {
					t.Errorf("%s: .env W9_HTTP_PORT_SET = %q, container publishes %d", id, v, p)
				}
				if v, _ := env.Get("W9_URL"); v != "203.0.113.7:"+strconv.Itoa(p) {
					t.Errorf("%s: W9_URL = %q, want the chosen port", id, v)
				}
				evs, err := e.Engine.Events(context.Background(), op.ID, 0)
				if err != nil {
					t.Fatal(err)
				}
				said := slices.ContainsFunc(evs, func(ev ops.Event) bool {
					return strings.Contains(ev.Message, "host port "+strconv.Itoa(p)+"/tcp") && strings.Contains(ev.Message, "W9_HTTP_PORT_SET")
				})
				if !said {
					t.Errorf("%s: no event says host port %d", id, p)
				}
				if p != 9001 && !slices.ContainsFunc(evs, func(ev ops.Event) bool { return strings.Contains(ev.Message, "default 9001 is held by") }) {
					t.Errorf("%s: the events do not say why the default 9001 was passed over", id)
				}
			}
			slices.Sort(got)
			if want := []int{9001, 9003, 9004, 9005, 9006}; !slices.Equal(got, want) {
				t.Fatalf("ports = %v, want %v (distinct, 9002 held by a foreign container)", got, want)
			}
		})
	}
}

// A port the user asks for that is taken is still refused, naming the
// port and its holder, before anything is written.
func TestInstallRefusesATakenPortTheUserAskedFor(t *testing.T) {
	e := newEnv(t, withLibrary(portLibrary(t, sameDefaultApps())))
	if op := e.install(InstallRequest{AppName: "alpha", AppID: "first"}); op.Status != ops.StatusSucceeded {
		t.Fatalf("first install: %s %s", op.Status, op.Error)
	}
	e.resetCalls()
	_, err := e.Svc.Install(context.Background(), InstallRequest{AppName: "bravo", AppID: "second",
		Settings: []EnvSetting{{Name: "W9_HTTP_PORT_SET", Value: "9001"}}})
	ae, ok := apperr.As(err)
	if !ok || ae.Code != apperr.PreconditionFailed || ae.Field != "settings" ||
		!strings.Contains(err.Error(), "host port 9001") || !strings.Contains(err.Error(), "container first") {
		t.Fatalf("err = %v, want PRECONDITION_FAILED naming port 9001 and container first", err)
	}
	if n := e.writeCalls(); n != 0 {
		t.Fatalf("refused install wrote upstream: %d calls (%v)", n, e.calledRoutes())
	}
}

// literalApps: "holder" publishes 8080 through its setting; "literal"
// writes "8080:8080" in its compose file, which no setting controls.
func literalApps() map[string]portApp {
	apps := sameDefaultApps()
	apps["holder"] = portApp{
		env:     "W9_HTTP_PORT=80\nW9_HTTP_PORT_SET=8080\nW9_URL=''\n",
		compose: "  holder:\n    image: $W9_REPO:$W9_VERSION\n    container_name: $W9_ID\n    ports:\n      - $W9_HTTP_PORT_SET:80\n",
	}
	apps["literal"] = portApp{
		env: "W9_HTTP_PORT=8080\nW9_HTTP_PORT_SET=9001\nW9_URL=''\n",
		compose: "  literal:\n    image: $W9_REPO:$W9_VERSION\n    container_name: $W9_ID\n    ports:\n      - $W9_HTTP_PORT_SET:80\n" +
			"      - \"8080:8080\"\n",
	}
	return apps
}

// Acceptance (issue 16, line 2): an app whose compose file publishes a
// literal port that another app holds is refused in preflight, naming the
// port, with no upstream write: no repository, no stack, no proxy. Also
// when the holder is an install still in flight.
func TestInstallRefusesALiteralPortAnotherAppHolds(t *testing.T) {
	t.Run("published", func(t *testing.T) {
		e := newEnv(t, withLibrary(portLibrary(t, literalApps())))
		if op := e.install(InstallRequest{AppName: "holder", AppID: "holder"}); op.Status != ops.StatusSucceeded {
			t.Fatalf("holder: %s %s", op.Status, op.Error)
		}
		e.resetCalls()
		_, err := e.Svc.Install(context.Background(), InstallRequest{AppName: "literal", AppID: "lit", Domains: []string{"lit.example.com"}})
		ae, ok := apperr.As(err)
		if !ok || ae.Code != apperr.PreconditionFailed || !strings.Contains(err.Error(), "host port 8080/tcp (written in docker-compose.yml, service literal)") ||
			!strings.Contains(err.Error(), "container holder") {
			t.Fatalf("err = %v, want PRECONDITION_FAILED naming literal port 8080 and container holder", err)
		}
		if n := e.writeCalls(); n != 0 {
			t.Fatalf("refused install wrote upstream: %d calls (%v)", n, e.calledRoutes())
		}
		if l := e.leftovers("lit"); len(l) != 0 {
			t.Fatalf("leftovers: %v", l)
		}
		if len(e.Gitea.RepoNames()) != 1 || len(e.Portainer.Stacks()) != 1 || len(e.NPM.Hosts()) != 0 {
			t.Fatalf("upstream state changed: repos %v, stacks %+v, hosts %+v", e.Gitea.RepoNames(), e.Portainer.Stacks(), e.NPM.Hosts())
		}
	})
	t.Run("in flight", func(t *testing.T) {
		e := newEnv(t, withLibrary(portLibrary(t, literalApps())), withDeferredStart())
		if _, err := e.Svc.Install(context.Background(), InstallRequest{AppName: "holder", AppID: "holder"}); err != nil {
			t.Fatal(err)
		}
		e.resetCalls()
		_, err := e.Svc.Install(context.Background(), InstallRequest{AppName: "literal", AppID: "lit"})
		ae, ok := apperr.As(err)
		if !ok || ae.Code != apperr.PreconditionFailed || ae.Field != "" ||
			!strings.Contains(err.Error(), "host port 8080/tcp (written in docker-compose.yml, service literal)") || !strings.Contains(err.Error(), "app holder") {
			t.Fatalf("err = %v, want PRECONDITION_FAILED naming port 8080 and the in-flight install of holder", err)
		}
		if n := e.writeCalls(); n != 0 {
			t.Fatalf("refused install wrote upstream: %d calls", n)
		}
	})
}

// publishedPorts reads every published port compose-go sees: short and
// long syntax, ranges, protocols, host IPs, variables from the .env; ports
// without a published side are left out.
func TestPublishedPortsReadsEveryForm(t *testing.T) {
	lib := portLibrary(t, map[string]portApp{"forms": {
		env: "W9_HTTP_PORT_SET=9100\nDNS=53\n",
		compose: `  forms:
    image: $W9_REPO:$W9_VERSION
    container_name: $W9_ID
    ports:
      - $W9_HTTP_PORT_SET:80
      - "127.0.0.1:8443:443"
      - "${DNS}:53/udp"
      - "7000-7002:7000-7002"
      - "9999"
      - target: 25
        published: "2525"
        protocol: tcp
        host_ip: 10.0.0.1
  side:
    image: busybox
    ports:
      - "6000-6001:6000/udp"
`,
	}})
	app, _ := lib.Get("forms")
	files, err := render(app, InstallInput{AppName: "forms", AppID: "forms1", Version: "1.0"})
	if err != nil {
		t.Fatal(err)
	}
	project, err := composeProject(context.Background(), app, "forms1", files)
	if err != nil {
		t.Fatal(err)
	}
	ports, err := publishedPorts(project)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range ports {
		got = append(got, fmt.Sprintf("%s %s:%d->%d/%s", p.Service, p.HostIP, p.HostPort, p.ContainerPort, p.Protocol))
	}
	slices.Sort(got)
	want := []string{
		"forms 10.0.0.1:2525->25/tcp",
		"forms 127.0.0.1:8443->443/tcp",
		"forms :53->53/udp",
		"forms :7000->7000/tcp",
		"forms :7001->7001/tcp",
		"forms :7002->7002/tcp",
		"forms :9100->80/tcp",
		"side :6000->6000/udp",
		"side :6001->6000/udp",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("published ports:\n got %q\nwant %q", got, want)
	}
}

// Ports on different protocols or on distinct addresses do not collide;
// the wildcard address collides with every address.
func TestPortHolderMatchesProtocolAndAddress(t *testing.T) {
	tests := []struct {
		name  string
		held  portBind
		want  PlannedPort
		taken bool
	}{
		{"same tcp", portBind{"0.0.0.0", 53, "tcp"}, PlannedPort{HostPort: 53, Protocol: "tcp"}, true},
		{"udp beside tcp", portBind{"0.0.0.0", 53, "tcp"}, PlannedPort{HostPort: 53, Protocol: "udp"}, false},
		{"other port", portBind{"", 8080, "tcp"}, PlannedPort{HostPort: 8081, Protocol: "tcp"}, false},
		{"loopback held, wildcard wanted", portBind{"127.0.0.1", 8080, "tcp"}, PlannedPort{HostPort: 8080, Protocol: "tcp"}, true},
		{"wildcard held, loopback wanted", portBind{"::", 8080, "tcp"}, PlannedPort{HostIP: "127.0.0.1", HostPort: 8080, Protocol: "tcp"}, true},
		{"two distinct addresses", portBind{"10.0.0.1", 8080, "tcp"}, PlannedPort{HostIP: "10.0.0.2", HostPort: 8080, Protocol: "tcp"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := portHolder(tt.held.containers(), tt.want)
			if (got != "") != tt.taken {
				t.Fatalf("holder = %q, want taken=%v", got, tt.taken)
			}
		})
	}
}

// webApps: "vpn" has a web UI but names no web port, and its main service
// offers two TCP ports; "single" names none but offers one.
func webApps() map[string]portApp {
	return map[string]portApp{
		"vpn": {
			env: "W9_HTTP_PORT_SET=9001\nW9_VPN_PORT_SET=51820\nW9_URL='internet_ip'\n",
			compose: "  vpn:\n    image: $W9_REPO:$W9_VERSION\n    container_name: $W9_ID\n    ports:\n" +
				"      - $W9_HTTP_PORT_SET:51821\n      - $W9_VPN_PORT_SET:51820/udp\n      - \"9443:443\"\n",
		},
		"single": {
			env: "W9_HTTP_PORT_SET=9001\nW9_URL='internet_ip'\n",
			compose: "  single:\n    image: $W9_REPO:$W9_VERSION\n    container_name: $W9_ID\n    ports:\n" +
				"      - $W9_HTTP_PORT_SET:3000\n",
		},
	}
}

// A web port that cannot be determined is decided in preflight: refused
// there, naming the candidates and the input that chooses, with nothing
// written; given webPort, the install succeeds and NPM forwards to it; an
// app with one candidate gets it without asking.
func TestWebPortIsDecidedInPreflight(t *testing.T) {
	e := newEnv(t, withLibrary(portLibrary(t, webApps())))
	ctx := context.Background()
	e.resetCalls()
	_, err := e.Svc.Install(ctx, InstallRequest{AppName: "vpn", AppID: "vpn1", Domains: []string{"vpn.example.com"}})
	ae, ok := apperr.As(err)
	if !ok || ae.Code != apperr.ValidationFailed || ae.Field != "webPort" || !strings.Contains(err.Error(), "443, 51821") || !strings.Contains(err.Error(), "give webPort") {
		t.Fatalf("err = %v, want VALIDATION_FAILED on webPort naming candidates 443, 51821", err)
	}
	if n := e.writeCalls(); n != 0 {
		t.Fatalf("refused install wrote upstream: %d calls", n)
	}
	if l := e.leftovers("vpn1"); len(l) != 0 {
		t.Fatalf("leftovers: %v", l)
	}
	// Without domains there is nothing to forward: no question asked.
	if op := e.install(InstallRequest{AppName: "vpn", AppID: "vpn2"}); op.Status != ops.StatusSucceeded {
		t.Fatalf("vpn without domains: %s %s", op.Status, op.Error)
	}
	// (vpn2 holds the port 9443 the compose file writes: free it.)
	if u, err := e.Svc.Uninstall(ctx, "vpn2", true, ""); err != nil || e.wait(u).Status != ops.StatusSucceeded {
		t.Fatalf("uninstall vpn2: %v", err)
	}

	op := e.install(InstallRequest{AppName: "vpn", AppID: "vpn3", Domains: []string{"vpn3.example.com"}, WebPort: 51821})
	if op.Status != ops.StatusSucceeded {
		t.Fatalf("vpn with webPort: %s %s", op.Status, op.Error)
	}
	op = e.install(InstallRequest{AppName: "single", AppID: "single1", Domains: []string{"single.example.com"}})
	if op.Status != ops.StatusSucceeded {
		t.Fatalf("single: %s %s", op.Status, op.Error)
	}
	forward := map[string]int{}
	for _, h := range e.NPM.Hosts() {
		forward[h.ForwardHost] = h.ForwardPort
	}
	if forward["vpn3"] != 51821 || forward["single1"] != 3000 {
		t.Fatalf("forward ports = %v, want vpn3:51821 single1:3000", forward)
	}
	if v := domEnvValue(t, e, "single1", "W9_HTTP_PORT"); v != "3000" {
		t.Errorf("single1 .env W9_HTTP_PORT = %q, want 3000 written by the install", v)
	}

	// webPort where the app names its own, or for an app without a web UI.
	for _, tt := range []struct {
		req  InstallRequest
		want string
	}{
		{InstallRequest{AppName: "vpn", AppID: "vpn4", WebPort: 70000}, "not a port number"},
	} {
		_, err := e.Svc.Install(ctx, tt.req)
		if apperr.CodeOf(err) != apperr.ValidationFailed || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: %v, want VALIDATION_FAILED: %s", tt.req, err, tt.want)
		}
	}
	// An app that names its web port (whoami: a label) takes no other.
	d := newEnv(t)
	_, err = d.Svc.Install(ctx, InstallRequest{AppName: "whoami", AppID: "who9", WebPort: 8080, Domains: []string{"who9.example.com"}})
	if ae, ok := apperr.As(err); !ok || ae.Field != "webPort" || !strings.Contains(err.Error(), "names its web port itself") {
		t.Errorf("webPort for whoami: %v, want VALIDATION_FAILED on webPort", err)
	}
}

type portBind struct {
	ip    string
	port  int
	proto string
}

func (b portBind) containers() []portainer.Container {
	return []portainer.Container{{Names: []string{"/holder"},
		Ports: []portainer.Port{{IP: b.ip, PrivatePort: b.port, PublicPort: b.port, Type: b.proto}}}}
}

// PlanInstall proposes the ports Install would use and writes nothing; an
// in-flight install holding a literal port makes it refuse as Submit would.
func TestPlanInstallWritesNothingAndRefusesAsInstallWould(t *testing.T) {
	e := newEnv(t, withLibrary(portLibrary(t, literalApps())), withDeferredStart())
	ctx := context.Background()
	e.resetCalls()
	plan, err := e.Svc.PlanInstall(ctx, InstallRequest{AppName: "literal", AppID: "lit"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range plan.Input.Ports {
		got = append(got, fmt.Sprintf("%d %s %s", p.HostPort, p.Source, p.Setting))
	}
	slices.Sort(got)
	if want := []string{"8080 COMPOSE ", "9001 DEFAULT W9_HTTP_PORT_SET"}; !slices.Equal(got, want) {
		t.Fatalf("planned ports = %q, want %q", got, want)
	}
	if plan.Web.Port != 8080 || plan.Web.Source != ".env W9_HTTP_PORT" {
		t.Errorf("web port = %+v", plan.Web)
	}
	if n := e.writeCalls(); n != 0 {
		t.Fatalf("a plan wrote upstream: %d calls", n)
	}
	if all, _ := e.Engine.List(ctx, ops.ListFilter{}); len(all) != 0 {
		t.Fatalf("a plan recorded operations: %+v", all)
	}
	// holder (queued, not yet run) reserves 8080 through its setting.
	if _, err := e.Svc.Install(ctx, InstallRequest{AppName: "holder", AppID: "holder"}); err != nil {
		t.Fatal(err)
	}
	_, err = e.Svc.PlanInstall(ctx, InstallRequest{AppName: "literal", AppID: "lit"})
	if apperr.CodeOf(err) != apperr.PreconditionFailed || !strings.Contains(err.Error(), "host port 8080") || !strings.Contains(err.Error(), "app holder") {
		t.Fatalf("plan beside an in-flight holder: %v", err)
	}
	// The plan of an app given no port setting passes over the reserved one.
	plan2, err := e.Svc.PlanInstall(ctx, InstallRequest{AppName: "holder", AppID: "holder2"})
	if err != nil {
		t.Fatal(err)
	}
	if p := plan2.Input.Ports; len(p) != 1 || p[0].HostPort != 8081 || p[0].Source != PortNextFree || !strings.Contains(p[0].DefaultHolder, "app holder") {
		t.Fatalf("holder2 plan = %+v, want 8081 NEXT_FREE past the reservation of holder", p)
	}
}

// The ports a setting drives are told from the app's own by one compose
// load with stand-in values; where that cannot work (settings that build a
// range) the defaults are loaded instead. Either way the chosen value goes
// everywhere the setting is used.
func TestPlanPortsFollowTheSettingEverywhere(t *testing.T) {
	lib := portLibrary(t, map[string]portApp{
		"same": {env: "W9_HTTP_PORT_SET=9001\nW9_URL=''\n",
			compose: "  same:\n    image: $W9_REPO:$W9_VERSION\n    container_name: $W9_ID\n    ports:\n      - ${W9_HTTP_PORT_SET}:${W9_HTTP_PORT_SET}\n"},
		"rng": {env: "W9_LO_PORT_SET=7000\nW9_HI_PORT_SET=7001\n",
			compose: "  rng:\n    image: $W9_REPO:$W9_VERSION\n    container_name: $W9_ID\n    ports:\n      - ${W9_LO_PORT_SET}-${W9_HI_PORT_SET}:5000-5001\n      - \"7002:7002\"\n"},
	})
	e := newEnv(t, withLibrary(lib))
	if _, err := e.Portainer.AddContainers(1, "foreign", portainerfake.Container{Name: "foreign",
		Ports: []portainerfake.PortBinding{{HostPort: 9001, ContainerPort: 80}}}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tests := []struct {
		app  string
		want []string
		web  int
	}{
		{"same", []string{"9002->9002 W9_HTTP_PORT_SET NEXT_FREE"}, 9002},
		// Stand-ins cannot build a range: the defaults are loaded instead.
		{"rng", []string{"7000->5000 W9_LO_PORT_SET DEFAULT", "7001->5001 W9_HI_PORT_SET DEFAULT", "7002->7002  COMPOSE"}, 0},
	}
	for _, tt := range tests {
		plan, err := e.Svc.PlanInstall(ctx, InstallRequest{AppName: tt.app, AppID: tt.app + "1"})
		if err != nil {
			t.Fatalf("%s: %v", tt.app, err)
		}
		var got []string
		for _, p := range plan.Input.Ports {
			got = append(got, fmt.Sprintf("%d->%d %s %s", p.HostPort, p.ContainerPort, p.Setting, p.Source))
		}
		slices.Sort(got)
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: ports %q, want %q", tt.app, got, tt.want)
		}
		if plan.Web.Port != tt.web {
			t.Errorf("%s: web port %+v, want %d", tt.app, plan.Web, tt.web)
		}
	}
}

// A stopped app has no containers (Portainer's stop is compose down), but
// an install given no port setting still leaves it the port it will want
// back when started.
func TestInstallLeavesAStoppedAppItsPort(t *testing.T) {
	e := newEnv(t, withLibrary(portLibrary(t, sameDefaultApps())))
	ctx := context.Background()
	if op := e.install(InstallRequest{AppName: "alpha", AppID: "sleepy"}); op.Status != ops.StatusSucceeded {
		t.Fatalf("install: %s %s", op.Status, op.Error)
	}
	op, err := e.Svc.StopApp(ctx, "sleepy", "")
	if err != nil || e.wait(op).Status != ops.StatusSucceeded {
		t.Fatalf("stop: %v", err)
	}
	if ports := hostPortsOf(e, "sleepy"); len(ports) != 0 {
		t.Fatalf("the stopped app still publishes %v", ports)
	}
	op = e.install(InstallRequest{AppName: "bravo", AppID: "awake"})
	if op.Status != ops.StatusSucceeded {
		t.Fatalf("install: %s %s", op.Status, op.Error)
	}
	if ports := hostPortsOf(e, "awake"); !slices.Equal(ports, []int{9002}) {
		t.Fatalf("awake publishes %v, want 9002 (9001 is the stopped app's)", ports)
	}
	evs, _ := e.Engine.Events(ctx, op.ID, 0)
	if !slices.ContainsFunc(evs, func(ev ops.Event) bool {
		return strings.Contains(ev.Message, "default 9001 is held by app sleepy (stopped)")
	}) {
		t.Error("the events do not say the default was the stopped app's")
	}
	op, err = e.Svc.StartApp(ctx, "sleepy", "")
	if err != nil || e.wait(op).Status != ops.StatusSucceeded {
		t.Fatalf("start the stopped app again: %v %+v", err, op)
	}
}
