package apps

import (
	"context"
	"strings"
	"time"

	"github.com/appmanage/appmanage/datasources/portainer"
	"github.com/appmanage/appmanage/datasources/proxymanager"
)

// The App aggregate's pieces as the domain hands them to the API layer
// (DESIGN.md §1: resolvers reach upstreams only through the domain, so an
// upstream's shape does not leak into the schema's resolvers).

// Stack is an app's Portainer stack.
type Stack struct {
	ID, Status, EndpointID int // Status: 1 active, 2 inactive
	Name                   string
	CreatedAt, UpdatedAt   *time.Time
	Git                    *StackGit // nil for a stack not deployed from git
}

// StackGit is a stack's git link.
type StackGit struct {
	URL, ReferenceName, ConfigFilePath, ConfigHash string
	Authenticated                                  bool
	AutoUpdateInterval                             string // "" when off
}

// Container is one of an app's containers.
type Container struct {
	ID, Name, Image, State, Status string
	Service                        string // the compose service
	Ports                          []PortBinding
}

// PortBinding is a container port and where the host publishes it.
type PortBinding struct {
	PrivatePort, PublicPort int // PublicPort 0: not published
	IP, Type                string
}

// ProxyHost is one of an app's NPM proxy hosts.
type ProxyHost struct {
	ID                         int
	Domains                    []string
	ForwardScheme, ForwardHost string
	ForwardPort                int
	Enabled                    bool
	Online                     *bool // nil when NPM did not say
	AdvancedConfig             string
	Certificate                *Certificate // nil without one
}

// Certificate is a proxy host's TLS certificate.
type Certificate struct {
	ID                 int
	NiceName, Provider string
	Domains            []string
	ExpiresOn          *time.Time // nil when NPM's date does not parse
}

func stackOf(st *portainer.Stack) *Stack {
	if st == nil {
		return nil
	}
	m := &Stack{ID: st.ID, Name: st.Name, Status: st.Status, EndpointID: st.EndpointID,
		CreatedAt: unixTime(st.CreationDate), UpdatedAt: unixTime(st.UpdateDate)}
	if g := st.GitConfig; g != nil {
		m.Git = &StackGit{URL: g.URL, ReferenceName: g.ReferenceName, ConfigFilePath: g.ConfigFilePath,
			ConfigHash: g.ConfigHash, Authenticated: g.Authentication != nil && g.Authentication.Username != ""}
		if st.AutoUpdate != nil {
			m.Git.AutoUpdateInterval = st.AutoUpdate.Interval
		}
	}
	return m
}

func containerOf(c portainer.Container) Container {
	m := Container{ID: c.ID, Name: c.Name(), Image: c.Image, State: c.State, Status: c.Status,
		Service: c.Labels["com.docker.compose.service"], Ports: make([]PortBinding, 0, len(c.Ports))}
	for _, p := range c.Ports {
		m.Ports = append(m.Ports, PortBinding{PrivatePort: p.PrivatePort, PublicPort: p.PublicPort, IP: p.IP, Type: p.Type})
	}
	return m
}

func proxyHostOf(h proxymanager.ProxyHost) ProxyHost {
	m := ProxyHost{ID: h.ID, Domains: h.DomainNames, ForwardScheme: h.ForwardScheme, ForwardHost: h.ForwardHost,
		ForwardPort: h.ForwardPort, Enabled: h.Enabled, Online: h.Meta.NginxOnline, AdvancedConfig: h.AdvancedConfig}
	if c := h.Certificate; c != nil && c.ID > 0 {
		m.Certificate = &Certificate{ID: c.ID, NiceName: c.NiceName, Provider: c.Provider, Domains: c.DomainNames}
		for _, layout := range []string{time.RFC3339, "2006-01-02 15:04:05"} {
			if t, err := time.Parse(layout, c.ExpiresOn); err == nil {
				m.Certificate.ExpiresOn = &t
				break
			}
		}
	}
	return m
}

// Stacks returns each app's Portainer stack (nil when it has none).
func (v *View) Stacks(ctx context.Context, refs []AppRef) ([]*Stack, []error) {
	raw, errs := v.rawStacks(ctx, refs)
	out := make([]*Stack, len(raw))
	for i, st := range raw {
		out[i] = stackOf(st)
	}
	return out, errs
}

// Containers returns each app's containers (see rawContainers).
func (v *View) Containers(ctx context.Context, refs []AppRef) ([][]Container, []error) {
	raw, errs := v.rawContainers(ctx, refs)
	out := make([][]Container, len(raw))
	for i, cs := range raw {
		for _, c := range cs {
			out[i] = append(out[i], containerOf(c))
		}
	}
	return out, errs
}

// Proxies returns each app's NPM proxy hosts (forward_host == app id).
func (v *View) Proxies(ctx context.Context, refs []AppRef) ([][]ProxyHost, []error) {
	raw, errs := v.rawProxies(ctx, refs)
	out := make([][]ProxyHost, len(raw))
	for i, hs := range raw {
		for _, h := range hs {
			out[i] = append(out[i], proxyHostOf(h))
		}
	}
	return out, errs
}

// IsMainOf reports whether c is the app appID's main container (named
// like the app).
func (c Container) IsMainOf(appID string) bool { return strings.EqualFold(c.Name, appID) }
