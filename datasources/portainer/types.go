package portainer

import (
	"regexp"
	"slices"
	"strings"
)

// Stack types and statuses as Portainer numbers them.
const (
	StackTypeSwarm      = 1
	StackTypeCompose    = 2
	StackTypeKubernetes = 3

	StackStatusActive   = 1
	StackStatusInactive = 2

	EndpointStatusUp   = 1
	EndpointStatusDown = 2
)

// Endpoint is a Portainer environment.
type Endpoint struct {
	ID        int    `json:"Id"`
	Name      string `json:"Name"`
	Type      int    `json:"Type"`
	URL       string `json:"URL"`
	Status    int    `json:"Status"` // 1 up, 2 down
	PublicURL string `json:"PublicURL"`
	GroupID   int    `json:"GroupId"`
}

// EnvVar is one stack environment variable (Portainer's Pair; lower-case keys
// on the wire).
type EnvVar struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// AutoUpdate is a stack's GitOps setting. Portainer needs Interval (a Go
// duration) or Webhook (a UUID) when the object is present.
type AutoUpdate struct {
	Interval       string `json:"Interval,omitempty"`
	Webhook        string `json:"Webhook,omitempty"`
	JobID          string `json:"JobID,omitempty"`
	ForceUpdate    bool   `json:"ForceUpdate"`
	ForcePullImage bool   `json:"ForcePullImage"`
}

// GitAuthentication is the stored git credential. Portainer always blanks
// Password in responses.
type GitAuthentication struct {
	Username        string `json:"Username"`
	Password        string `json:"Password"`
	GitCredentialID int    `json:"GitCredentialID"`
}

// GitConfig is a git stack's repository settings; ConfigHash is the commit
// that was deployed last.
type GitConfig struct {
	URL            string             `json:"URL"`
	ReferenceName  string             `json:"ReferenceName"`
	ConfigFilePath string             `json:"ConfigFilePath"`
	ConfigHash     string             `json:"ConfigHash"`
	TLSSkipVerify  bool               `json:"TLSSkipVerify"`
	Authentication *GitAuthentication `json:"Authentication"`
}

// StackOption holds Portainer's per-stack deploy options.
type StackOption struct {
	Prune bool `json:"Prune"`
}

// Stack is a Portainer stack. Env is nil when Portainer sent null.
type Stack struct {
	ID              int          `json:"Id"`
	Name            string       `json:"Name"`
	Type            int          `json:"Type"`
	EndpointID      int          `json:"EndpointId"`
	SwarmID         string       `json:"SwarmId"`
	EntryPoint      string       `json:"EntryPoint"`
	Env             []EnvVar     `json:"Env"`
	Status          int          `json:"Status"`
	ProjectPath     string       `json:"ProjectPath"`
	CreationDate    int64        `json:"CreationDate"`
	UpdateDate      int64        `json:"UpdateDate"`
	CreatedBy       string       `json:"CreatedBy"`
	UpdatedBy       string       `json:"UpdatedBy"`
	AdditionalFiles []string     `json:"AdditionalFiles"`
	AutoUpdate      *AutoUpdate  `json:"AutoUpdate"`
	Option          *StackOption `json:"Option"`
	GitConfig       *GitConfig   `json:"GitConfig"`
	FromAppTemplate bool         `json:"FromAppTemplate"`
	// Namespace is a Kubernetes stack's namespace ("" for compose stacks).
	Namespace string `json:"Namespace,omitempty"`
}

// Active reports whether the stack is running (Status 1).
func (s *Stack) Active() bool { return s.Status == StackStatusActive }

// GitCredentials are basic-auth credentials for the stack's repository (a
// token works as Password).
type GitCredentials struct {
	Username string
	Password string
}

// CreateRepositoryStackRequest is the body of
// POST /stacks/create/standalone/repository.
type CreateRepositoryStackRequest struct {
	Name                     string      `json:"Name"`
	RepositoryURL            string      `json:"RepositoryURL"`
	RepositoryReferenceName  string      `json:"RepositoryReferenceName"`
	ComposeFile              string      `json:"ComposeFile"`
	AdditionalFiles          []string    `json:"AdditionalFiles,omitempty"`
	RepositoryAuthentication bool        `json:"RepositoryAuthentication"`
	RepositoryUsername       string      `json:"RepositoryUsername"`
	RepositoryPassword       string      `json:"RepositoryPassword"`
	Env                      []EnvVar    `json:"Env"`
	AutoUpdate               *AutoUpdate `json:"AutoUpdate,omitempty"`
	FromAppTemplate          bool        `json:"FromAppTemplate"`
	TLSSkipVerify            bool        `json:"TLSSkipVerify"`
}

// CreateStringStackRequest is the body of POST /stacks/create/standalone/string.
type CreateStringStackRequest struct {
	Name             string   `json:"Name"`
	StackFileContent string   `json:"StackFileContent"`
	Env              []EnvVar `json:"Env"`
	FromAppTemplate  bool     `json:"FromAppTemplate"`
}

// GitUpdateRequest is the body of POST /stacks/{id}/git. Every field replaces
// the stored value, so build it with GitUpdateFromStack.
type GitUpdateRequest struct {
	AutoUpdate               *AutoUpdate `json:"AutoUpdate"`
	Env                      []EnvVar    `json:"Env"`
	Prune                    bool        `json:"Prune"`
	RepositoryReferenceName  string      `json:"RepositoryReferenceName"`
	RepositoryAuthentication bool        `json:"RepositoryAuthentication"`
	RepositoryUsername       string      `json:"RepositoryUsername"`
	RepositoryPassword       string      `json:"RepositoryPassword"`
	TLSSkipVerify            bool        `json:"TLSSkipVerify"`
}

// GitRedeployRequest is the body of PUT /stacks/{id}/git/redeploy. The ref
// and Env replace the stored ones; the clone uses only these credentials.
type GitRedeployRequest struct {
	RepositoryReferenceName  string   `json:"RepositoryReferenceName"`
	RepositoryAuthentication bool     `json:"RepositoryAuthentication"`
	RepositoryUsername       string   `json:"RepositoryUsername"`
	RepositoryPassword       string   `json:"RepositoryPassword"`
	Env                      []EnvVar `json:"Env"`
	Prune                    bool     `json:"Prune"`
	PullImage                bool     `json:"PullImage"`
}

// MigrateRequest is the body of POST /stacks/{id}/migrate.
type MigrateRequest struct {
	EndpointID int    `json:"EndpointID"`
	SwarmID    string `json:"SwarmID,omitempty"`
	Name       string `json:"Name,omitempty"`
}

// SystemStatus is GET /system/status.
type SystemStatus struct {
	Version    string `json:"Version"`
	InstanceID string `json:"InstanceID"`
}

// GitUpdateFromStack builds a /git request that keeps everything the stack
// has now: ref, Env, auto-update, prune, TLS setting and credentials. With
// creds nil and stored credentials present it sends the stored username and
// an empty password, which tells Portainer to keep the stored password;
// without either the request turns authentication off.
func GitUpdateFromStack(s *Stack, creds *GitCredentials) GitUpdateRequest {
	req := GitUpdateRequest{Env: cloneEnv(s.Env)}
	if s.AutoUpdate != nil {
		au := *s.AutoUpdate
		au.JobID = "" // assigned by Portainer, not ours to send
		req.AutoUpdate = &au
	}
	if s.Option != nil {
		req.Prune = s.Option.Prune
	}
	if g := s.GitConfig; g != nil {
		req.RepositoryReferenceName = g.ReferenceName
		req.TLSSkipVerify = g.TLSSkipVerify
		if g.Authentication != nil && g.Authentication.Username != "" {
			req.RepositoryAuthentication = true
			req.RepositoryUsername = g.Authentication.Username
		}
	}
	if creds != nil {
		req.RepositoryAuthentication = true
		req.RepositoryUsername = creds.Username
		req.RepositoryPassword = creds.Password
	}
	return req
}

// GitRedeployFromStack builds a redeploy request that keeps the stack's ref,
// Env and prune setting. Portainer clones with the payload's credentials
// only, so with creds nil the stored username is sent with an empty password
// (Portainer then reuses the stored password).
func GitRedeployFromStack(s *Stack, creds *GitCredentials, pullImage bool) GitRedeployRequest {
	u := GitUpdateFromStack(s, creds)
	return GitRedeployRequest{
		RepositoryReferenceName:  u.RepositoryReferenceName,
		RepositoryAuthentication: u.RepositoryAuthentication,
		RepositoryUsername:       u.RepositoryUsername,
		RepositoryPassword:       u.RepositoryPassword,
		Env:                      u.Env,
		Prune:                    u.Prune,
		PullImage:                pullImage,
	}
}

func cloneEnv(env []EnvVar) []EnvVar {
	if env == nil {
		return nil
	}
	return append([]EnvVar{}, env...)
}

var invalidNameChars = regexp.MustCompile(`[^-_a-z0-9]+`)

// NormalizeStackName applies Portainer's stack name normalization: lower
// case, then drop every character outside [-_a-z0-9].
func NormalizeStackName(name string) string {
	return invalidNameChars.ReplaceAllString(strings.ToLower(name), "")
}

// Port is a published or exposed container port as Docker lists it.
type Port struct {
	IP          string `json:"IP,omitempty"`
	PrivatePort int    `json:"PrivatePort"`
	PublicPort  int    `json:"PublicPort,omitempty"`
	Type        string `json:"Type"`
}

// NetworkEndpoint is a container's attachment to one network.
type NetworkEndpoint struct {
	NetworkID  string   `json:"NetworkID"`
	EndpointID string   `json:"EndpointID"`
	Gateway    string   `json:"Gateway"`
	IPAddress  string   `json:"IPAddress"`
	MacAddress string   `json:"MacAddress"`
	Aliases    []string `json:"Aliases"`
}

// Mount is a container mount.
type Mount struct {
	Type        string `json:"Type"`
	Name        string `json:"Name,omitempty"`
	Source      string `json:"Source"`
	Destination string `json:"Destination"`
	Driver      string `json:"Driver,omitempty"`
	Mode        string `json:"Mode"`
	RW          bool   `json:"RW"`
}

// Container is one entry of Docker's container list.
type Container struct {
	ID              string            `json:"Id"`
	Names           []string          `json:"Names"`
	Image           string            `json:"Image"`
	ImageID         string            `json:"ImageID"`
	Command         string            `json:"Command"`
	Created         int64             `json:"Created"`
	State           string            `json:"State"`
	Status          string            `json:"Status"`
	Labels          map[string]string `json:"Labels"`
	Ports           []Port            `json:"Ports"`
	Mounts          []Mount           `json:"Mounts"`
	NetworkSettings struct {
		Networks map[string]NetworkEndpoint `json:"Networks"`
	} `json:"NetworkSettings"`
}

// Name returns the container name without Docker's leading slash.
func (c *Container) Name() string {
	if len(c.Names) == 0 {
		return ""
	}
	return strings.TrimPrefix(c.Names[0], "/")
}

// PublicPorts returns the host ports the container publishes, each once
// (Docker lists a binding once per address family: 0.0.0.0 and ::).
func (c *Container) PublicPorts() []int {
	var out []int
	for _, p := range c.Ports {
		if p.PublicPort > 0 && !slices.Contains(out, p.PublicPort) {
			out = append(out, p.PublicPort)
		}
	}
	slices.Sort(out)
	return out
}

// ContainerFilter selects containers: All includes stopped ones; Labels are
// Docker label filters ("key" or "key=value"), all of which must match.
type ContainerFilter struct {
	All    bool
	Labels []string
}

// ContainerHealth is a container's health check state.
type ContainerHealth struct {
	Status        string `json:"Status"` // starting | healthy | unhealthy
	FailingStreak int    `json:"FailingStreak"`
}

// ContainerState is the State of Docker's inspect answer.
type ContainerState struct {
	Status     string           `json:"Status"`
	Running    bool             `json:"Running"`
	Paused     bool             `json:"Paused"`
	Restarting bool             `json:"Restarting"`
	OOMKilled  bool             `json:"OOMKilled"`
	Dead       bool             `json:"Dead"`
	Pid        int              `json:"Pid"`
	ExitCode   int              `json:"ExitCode"`
	Error      string           `json:"Error"`
	StartedAt  string           `json:"StartedAt"`
	FinishedAt string           `json:"FinishedAt"`
	Health     *ContainerHealth `json:"Health,omitempty"`
}

// ContainerConfig is the Config of Docker's inspect answer.
type ContainerConfig struct {
	Hostname     string              `json:"Hostname"`
	Image        string              `json:"Image"`
	Env          []string            `json:"Env"`
	Cmd          []string            `json:"Cmd"`
	Labels       map[string]string   `json:"Labels"`
	ExposedPorts map[string]struct{} `json:"ExposedPorts"`
}

// PortBinding is a host binding of a container port.
type PortBinding struct {
	HostIP   string `json:"HostIp"`
	HostPort string `json:"HostPort"`
}

// ContainerJSON is Docker's container inspect answer (the parts we read).
type ContainerJSON struct {
	ID           string          `json:"Id"`
	Name         string          `json:"Name"`
	Created      string          `json:"Created"`
	Image        string          `json:"Image"`
	RestartCount int             `json:"RestartCount"`
	State        *ContainerState `json:"State"`
	Config       *ContainerConfig
	HostConfig   struct {
		NetworkMode   string `json:"NetworkMode"`
		RestartPolicy struct {
			Name string `json:"Name"`
		} `json:"RestartPolicy"`
		PortBindings map[string][]PortBinding `json:"PortBindings"`
	} `json:"HostConfig"`
	NetworkSettings struct {
		Ports    map[string][]PortBinding   `json:"Ports"`
		Networks map[string]NetworkEndpoint `json:"Networks"`
	} `json:"NetworkSettings"`
	Mounts []Mount `json:"Mounts"`
}

// EnvMap returns Config.Env as a map (later entries win, as in Docker).
func (c *ContainerJSON) EnvMap() map[string]string {
	out := map[string]string{}
	if c.Config == nil {
		return out
	}
	for _, kv := range c.Config.Env {
		k, v, _ := strings.Cut(kv, "=")
		out[k] = v
	}
	return out
}

// Volume is a Docker volume.
type Volume struct {
	Name       string            `json:"Name"`
	Driver     string            `json:"Driver"`
	Mountpoint string            `json:"Mountpoint"`
	CreatedAt  string            `json:"CreatedAt"`
	Labels     map[string]string `json:"Labels"`
	Scope      string            `json:"Scope"`
	Options    map[string]string `json:"Options"`
}
