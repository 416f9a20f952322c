package fake

import (
	"maps"
	"slices"
	"time"
)

// The fake keeps its own wire types rather than importing the client's, so a
// mistake in one cannot hide the same mistake in the other.

// Endpoint is an environment served by the fake.
type Endpoint struct {
	ID        int
	Name      string
	Type      int // 1 Docker socket, 2 agent, 4 Edge agent, 5-7 Kubernetes (as portainer.KindOf reads it)
	URL       string
	Status    int // 1 up, 2 down
	PublicURL string
}

// EnvVar is Portainer's Pair.
type EnvVar struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// AutoUpdate is Portainer's AutoUpdateSettings.
type AutoUpdate struct {
	Interval       string `json:"Interval"`
	Webhook        string `json:"Webhook"`
	JobID          string `json:"JobID"`
	ForceUpdate    bool   `json:"ForceUpdate"`
	ForcePullImage bool   `json:"ForcePullImage"`
}

// GitAuthentication holds stored credentials. The fake keeps the password so
// tests can see what is stored; responses always blank it.
type GitAuthentication struct {
	Username        string `json:"Username"`
	Password        string `json:"Password"`
	GitCredentialID int    `json:"GitCredentialID"`
}

// GitConfig is Portainer's gittypes.RepoConfig.
type GitConfig struct {
	URL            string             `json:"URL"`
	ReferenceName  string             `json:"ReferenceName"`
	ConfigFilePath string             `json:"ConfigFilePath"`
	ConfigHash     string             `json:"ConfigHash"`
	TLSSkipVerify  bool               `json:"TLSSkipVerify"`
	Authentication *GitAuthentication `json:"Authentication"`
}

// StackOption is Portainer's StackOption.
type StackOption struct {
	Prune bool `json:"Prune"`
}

// UserAccess is one user entry of a resource control.
type UserAccess struct {
	UserID      int `json:"UserId"`
	AccessLevel int `json:"AccessLevel"`
}

// ResourceControl is the access control Portainer attaches to a stack.
type ResourceControl struct {
	ID                 int          `json:"Id"`
	ResourceID         string       `json:"ResourceId"`
	SubResourceIDs     []string     `json:"SubResourceIds"`
	Type               int          `json:"Type"`
	UserAccesses       []UserAccess `json:"UserAccesses"`
	TeamAccesses       []UserAccess `json:"TeamAccesses"`
	Public             bool         `json:"Public"`
	AdministratorsOnly bool         `json:"AdministratorsOnly"`
	System             bool         `json:"System"`
}

// Stack is a stack as the fake stores it (field names and JSON as Portainer
// 2.21 sends them).
type Stack struct {
	ID              int              `json:"Id"`
	Name            string           `json:"Name"`
	Type            int              `json:"Type"`
	EndpointID      int              `json:"EndpointId"`
	SwarmID         string           `json:"SwarmId"`
	EntryPoint      string           `json:"EntryPoint"`
	Env             []EnvVar         `json:"Env"`
	ResourceControl *ResourceControl `json:"ResourceControl"`
	Status          int              `json:"Status"`
	ProjectPath     string           `json:"ProjectPath"`
	CreationDate    int64            `json:"CreationDate"`
	CreatedBy       string           `json:"CreatedBy"`
	UpdateDate      int64            `json:"UpdateDate"`
	UpdatedBy       string           `json:"UpdatedBy"`
	AdditionalFiles []string         `json:"AdditionalFiles"`
	AutoUpdate      *AutoUpdate      `json:"AutoUpdate"`
	Option          *StackOption     `json:"Option"`
	GitConfig       *GitConfig       `json:"GitConfig"`
	FromAppTemplate bool             `json:"FromAppTemplate"`
	Namespace       string           `json:"Namespace"`
	IsComposeFormat bool             `json:"IsComposeFormat"`
}

func (s Stack) clone() Stack {
	out := s
	if s.Env != nil {
		out.Env = slices.Clone(s.Env)
	}
	if s.AdditionalFiles != nil {
		out.AdditionalFiles = slices.Clone(s.AdditionalFiles)
	}
	if s.ResourceControl != nil {
		rc := *s.ResourceControl
		out.ResourceControl = &rc
	}
	if s.AutoUpdate != nil {
		au := *s.AutoUpdate
		out.AutoUpdate = &au
	}
	if s.Option != nil {
		o := *s.Option
		out.Option = &o
	}
	if s.GitConfig != nil {
		g := *s.GitConfig
		if g.Authentication != nil {
			a := *g.Authentication
			g.Authentication = &a
		}
		out.GitConfig = &g
	}
	return out
}

// public is the stack as responses show it: the git password blanked.
func (s Stack) public() Stack {
	out := s.clone()
	if out.GitConfig != nil && out.GitConfig.Authentication != nil {
		out.GitConfig.Authentication.Password = ""
	}
	return out
}

// PortBinding is a container port, published when HostPort > 0.
type PortBinding struct {
	HostIP        string // "" means 0.0.0.0 (and ::)
	HostPort      int
	ContainerPort int
	Protocol      string // tcp (default) | udp
}

// NetworkAttachment is a container's address on one network.
type NetworkAttachment struct {
	NetworkID string
	IPAddress string
	Gateway   string
	Aliases   []string
}

// Mount is a container mount.
type Mount struct {
	Type        string // volume | bind | tmpfs
	Name        string // volume name
	Source      string
	Destination string
	ReadOnly    bool
}

// Container is a simulated Docker container.
type Container struct {
	ID         string
	Name       string // without the leading slash
	Image      string
	ImageID    string
	Command    []string
	Created    time.Time
	StartedAt  time.Time
	FinishedAt time.Time
	State      string // running | exited | created
	ExitCode   int
	Health     string // "" (no health check) | starting | healthy | unhealthy
	Labels     map[string]string
	Env        []string
	Ports      []PortBinding
	Exposed    []string // "80/tcp"
	Networks   map[string]NetworkAttachment
	Mounts     []Mount
	Restart    string
	Hostname   string
	// CrashLoop: the process exits at once (FailImage) and the restart
	// policy brings it back, again and again: Docker shows it
	// "restarting" with a RestartCount that grows with its backoff.
	CrashLoop bool
}

// restartsBy is how many times Docker has restarted a crash-looping
// container d after it was created: its restart backoff starts at 100ms
// and doubles, up to a minute.
func restartsBy(d time.Duration) int {
	n, wait, at := 0, 100*time.Millisecond, time.Duration(0)
	for at+wait <= d {
		at += wait
		n++
		wait = min(wait*2, time.Minute)
	}
	return n
}

func (c *Container) clone() Container {
	out := *c
	out.Command = slices.Clone(c.Command)
	out.Labels = maps.Clone(c.Labels)
	out.Env = slices.Clone(c.Env)
	out.Ports = slices.Clone(c.Ports)
	out.Exposed = slices.Clone(c.Exposed)
	out.Networks = maps.Clone(c.Networks)
	out.Mounts = slices.Clone(c.Mounts)
	return out
}

// Project returns the compose project label.
func (c *Container) Project() string { return c.Labels[labelProject] }

// Service returns the compose service label.
func (c *Container) Service() string { return c.Labels[labelService] }

// Volume is a simulated Docker volume.
type Volume struct {
	Name      string
	Driver    string
	Labels    map[string]string
	CreatedAt time.Time
}

// Compose labels the fake sets, as docker compose v2 does.
const (
	labelProject     = "com.docker.compose.project"
	labelService     = "com.docker.compose.service"
	labelNumber      = "com.docker.compose.container-number"
	labelWorkingDir  = "com.docker.compose.project.working_dir"
	labelConfigFiles = "com.docker.compose.project.config_files"
	labelConfigHash  = "com.docker.compose.config-hash"
	labelOneoff      = "com.docker.compose.oneoff"
	labelVersion     = "com.docker.compose.version"
	labelImage       = "com.docker.compose.image"
	labelDependsOn   = "com.docker.compose.depends_on"
	labelVolume      = "com.docker.compose.volume"
	labelNetwork     = "com.docker.compose.network"

	composeVersion = "2.29.2"
)
