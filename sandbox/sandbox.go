// Package sandbox starts stateful in-process fakes of Gitea, Portainer and
// NPM on loopback, for `serve --sandbox` and for end-to-end tests. The fake
// Portainer clones from the fake (or a real) Gitea over HTTP, like the real
// one does.
package sandbox

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/appmanage/appmanage/config"
	giteafake "github.com/appmanage/appmanage/datasources/gitea/fake"
	portainerfake "github.com/appmanage/appmanage/datasources/portainer/fake"
	npmfake "github.com/appmanage/appmanage/datasources/proxymanager/fake"
)

// Env is a running set of fakes. A nil field is an upstream not faked.
type Env struct {
	Gitea     *giteafake.Server
	Portainer *portainerfake.Server
	NPM       *npmfake.Server
	// Registry stands in for every image registry when Portainer is faked
	// (see Registry).
	Registry *Registry

	GiteaUser, GiteaToken string
	PortainerAPIKey       string
}

// Start starts the fakes named in which (config.Gitea, config.Portainer,
// config.NPM).
func Start(which []string, log *slog.Logger) (*Env, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	e := &Env{}
	if slices.Contains(which, config.Gitea) {
		e.Gitea = giteafake.New(giteafake.Options{})
		e.GiteaUser = giteafake.AdminUser
		e.GiteaToken = e.Gitea.Token(giteafake.AdminUser)
		log.Info("sandbox: fake Gitea started", "url", e.Gitea.URL(), "user", e.GiteaUser)
	}
	if slices.Contains(which, config.Portainer) {
		e.PortainerAPIKey = "ptr_sandbox_" + randomHex(16)
		e.Registry = newRegistry()
		e.Portainer = portainerfake.New(portainerfake.Options{APIKeys: []string{e.PortainerAPIKey}, Endpoints: Endpoints,
			Pullable: portainerfake.RegistryPullable(remote.WithTransport(e.Registry.Transport()))})
		log.Info("sandbox: fake Portainer started", "url", e.Portainer.URL(), "endpoints", "1 local (Docker), 2 agent (Docker agent), 3 k8s (Kubernetes)")
		log.Info("sandbox: in-process image registry started: it stands in for every registry and holds the library's images", "url", e.Registry.URL())
	}
	if slices.Contains(which, config.NPM) {
		opts := npmfake.Options{Logger: log, ReloadDelay: ReloadDelay}
		if e.Portainer != nil {
			// nginx resolves names through Docker's DNS: only a running
			// container's name or alias resolves. The sandbox's NPM reaches
			// both Docker endpoints' containers by name (as if the agent's
			// host shared its Docker network); a real NPM reaches only the
			// containers of the host it runs on.
			opts.Resolve = RunningContainers(e.Portainer, 1, 2)
		}
		e.NPM = npmfake.New(opts)
		log.Info("sandbox: fake Nginx Proxy Manager started", "url", e.NPM.URL())
	}
	return e, nil
}

// Endpoints are the sandbox Portainer's environments: the local Docker
// host, a Docker host reached through Portainer's agent (with containers of
// its own), and a Kubernetes cluster. Env.Portainer.SetEndpointStatus marks
// one down (2) or up (1).
var Endpoints = []portainerfake.Endpoint{
	{ID: 1, Name: "local", Type: 1, URL: "unix:///var/run/docker.sock", Status: 1},
	{ID: 2, Name: "agent", Type: 2, URL: "tcp://10.0.9.2:9001", PublicURL: "10.0.9.2", Status: 1},
	{ID: 3, Name: "k8s", Type: 5, URL: "https://kubernetes.default.svc", Status: 1},
}

// Apply points the configuration at the fakes and fills in their
// credentials, leaving real upstreams as they are.
func (e *Env) Apply(cfg *config.Config) {
	if e.Gitea != nil {
		cfg.Gitea = config.GiteaConfig{URL: e.Gitea.URL(), Token: e.GiteaToken, User: e.GiteaUser, Owner: e.GiteaUser}
	}
	if e.Portainer != nil {
		cfg.Portainer.URL, cfg.Portainer.APIKey, cfg.Portainer.User, cfg.Portainer.Password = e.Portainer.URL(), e.PortainerAPIKey, "", ""
	}
	if e.NPM != nil {
		cfg.NPM = config.NPMConfig{URL: e.NPM.URL(), Email: e.NPM.Email(), Password: e.NPM.Password()}
	}
}

// SetLatency delays every call to a fake by d (0: none).
func (e *Env) SetLatency(d time.Duration) {
	if e.Gitea != nil {
		e.Gitea.Faults.SetLatency(d)
	}
	if e.Portainer != nil {
		e.Portainer.Faults.SetLatency(d)
	}
	if e.NPM != nil {
		e.NPM.Faults.SetLatency(d)
	}
}

// Close stops every fake.
func (e *Env) Close() {
	if e.Gitea != nil {
		e.Gitea.Close()
	}
	if e.Portainer != nil {
		e.Portainer.Close()
	}
	if e.Registry != nil {
		e.Registry.Close()
	}
	if e.NPM != nil {
		e.NPM.Close()
	}
}

// ReloadDelay is how long the sandbox's nginx keeps serving a changed
// host's old config, as a real NPM does while nginx reloads.
const ReloadDelay = 100 * time.Millisecond

// RunningContainers is an NPM fake resolver (npmfake.Options.Resolve) over
// a fake Portainer: a name resolves when a running container of one of
// the endpoints (default: 1) has it as its container name or as an alias
// on one of its networks, compared case-insensitively as DNS does. A
// stopped app (its containers removed) or one whose container is being
// recreated resolves to nothing, as on Docker.
func RunningContainers(p *portainerfake.Server, endpoints ...int) func(host string) bool {
	if len(endpoints) == 0 {
		endpoints = []int{1}
	}
	return func(host string) bool {
		for _, ep := range endpoints {
			for _, c := range p.Containers(ep) {
				if c.State != "running" {
					continue
				}
				if strings.EqualFold(c.Name, host) {
					return true
				}
				for _, n := range c.Networks {
					if slices.ContainsFunc(n.Aliases, func(a string) bool { return strings.EqualFold(a, host) }) {
						return true
					}
				}
			}
		}
		return false
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err))
	}
	return hex.EncodeToString(b)
}

// Probe answers an HTTP request for domain as NPM's nginx would in front
// of the fakes, which serve no HTTP themselves: 404 when no enabled proxy
// host carries the domain, 502 (Bad Gateway) when the container it
// forwards to is not running, else 200. It needs both NPM and Portainer
// faked; the upgrade's health gate uses it as its "through NPM" check.
func (e *Env) Probe(_ context.Context, domain string) (int, error) {
	if e.NPM == nil || e.Portainer == nil {
		return 0, errors.New("sandbox: the HTTP probe needs both NPM and Portainer faked")
	}
	forward := ""
	for _, h := range e.NPM.Hosts() {
		if h.Enabled && slices.ContainsFunc(h.DomainNames, func(d string) bool { return strings.EqualFold(d, domain) }) {
			forward = h.ForwardHost
			break
		}
	}
	if forward == "" {
		return http.StatusNotFound, nil
	}
	for _, st := range e.Portainer.Stacks() {
		for _, c := range e.Portainer.Containers(st.EndpointID) {
			if strings.EqualFold(c.Name, forward) && c.State == "running" {
				return http.StatusOK, nil
			}
		}
	}
	return http.StatusBadGateway, nil
}
