// Package fake is a stateful in-process Portainer CE (2.21) for tests and
// sandbox mode. It keeps stacks, environments, containers and volumes in
// memory and reproduces the statuses, error bodies and rules written down in
// shared/specs/portainer-contract.md: name normalization and 409s, the
// endpointId traps, the replace-everything /git semantics, the credential
// rules of redeploy, JWT and API-key auth. Git stacks are "cloned" over
// HTTP from a Gitea (fake or real); the compose file is parsed with
// compose-go and turned into simulated containers with compose's labels,
// names, env and published ports; a host port already taken is refused.
package fake

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	json "github.com/goccy/go-json"
	"github.com/google/uuid"

	"github.com/appmanage/appmanage/datasources/encache"
	"github.com/appmanage/appmanage/datasources/faults"
)

// Defaults used when Options leave them empty.
const (
	DefaultAdminUser     = "admin"
	DefaultAdminPassword = "adminpassword" // Portainer wants 12+ characters
	DefaultAPIKey        = "ptr_fakeportainerapikey0000000000000000000000"
	Version              = "2.21.4"
)

// Options configures a Server.
type Options struct {
	// APIKeys accepted in X-API-Key (all belong to the admin user). Empty
	// means DefaultAPIKey.
	APIKeys       []string
	AdminUser     string // default DefaultAdminUser
	AdminPassword string // default DefaultAdminPassword
	// Endpoints served; empty means one: Id 1 "local", Type 1, Status 1.
	Endpoints []Endpoint
	// HTTPClient clones git repositories (fake or real Gitea). Nil means a
	// client with a 30s timeout.
	HTTPClient *http.Client
	// JWTLifetime of tokens from /api/auth (default 8h, Portainer's default).
	JWTLifetime time.Duration
	// AuthRateLimit is the number of /api/auth calls per second per IP
	// before the IP is banned for an hour (default 10; negative: no limit).
	AuthRateLimit int
	Logger        *slog.Logger
	// Wrap, when set, wraps the whole handler (contract middleware).
	Wrap func(http.Handler) http.Handler
	// Pullable, when set, decides whether an image that is not marked
	// FailPull can be pulled (by POST /images/create, or by a compose up
	// that lacks it): nil yes; an error wrapping ErrManifestUnknown is a
	// registry without that repository or tag (404), any other error an
	// unreachable registry (500). It gets the normalized reference
	// (docker.io/library/nginx:1.27) and is called with the fake's lock
	// held, so it must not call the fake. Nil: every pull succeeds.
	// RegistryPullable asks a registry (go-containerregistry's remote).
	Pullable func(ctx context.Context, ref string) error
	// PullStep is a pause after each line of a pull's progress stream
	// (default none), for tests that watch a pull as it runs.
	PullStep time.Duration
}

// Server is the fake Portainer.
type Server struct {
	// Faults injects failures per route; patterns are the ones registered
	// below, e.g. "POST /api/stacks/create/standalone/repository".
	Faults *faults.Injector

	opts    Options
	srv     *httptest.Server
	handler http.Handler
	git     *http.Client
	log     *slog.Logger

	mu          sync.Mutex
	endpoints   []Endpoint
	stacks      map[int]*stackRec
	nextStack   int
	containers  map[int][]*Container // by endpoint
	volumes     map[int]map[string]*Volume
	ipNets      map[string]*ipAlloc // per endpoint/network
	apiKeys     map[string]bool
	jwtSecret   []byte
	jwtSeq      int64
	jwtCutoff   int64 // tokens with seq <= cutoff are expired
	authHits    map[string][]time.Time
	bannedTill  map[string]time.Time
	instanceID  string
	rcNext      int
	images      map[string]imageFault        // by image reference (FailPull, LackExecutable)
	imgs        map[int]map[string]*imageRec // image stores by endpoint, by normalized reference
	brokenPulls map[string]string            // BreakPull: normalized reference -> in-stream error
	exitImages  map[string]int               // FailImage: normalized reference -> exit code
	pullAuths   map[string]string            // X-Registry-Auth user of the last pull, by reference
	cutPulls    map[string]int               // CutPull: pulls left to cut off, by reference
	kube        *kubeState                   // Kubernetes environments (kubernetes.go)
	failBuilds  map[string]string            // FailBuild: project -> the failing step's output
	builds      map[string]int               // images built, by project

	// rev counts changes of the state above; the encoded lists below are
	// valid only at the rev they were made at.
	rev            uint64
	encodedStacks  encache.Cache[string, []byte]     // GET /stacks answers by filters
	encodedSummary encache.Cache[summaryKey, []byte] // container list entries
	containerLists encache.Lists[string]             // container list answers by endpoint and query
}

// summaryKey names one container list entry: its status text ("Up 5
// seconds") moves with the clock, not with the state.
type summaryKey struct {
	c      *Container
	status string
}

// lockState takes the lock to change (or possibly change) the stacks,
// containers, endpoints or volumes; read-only handlers take s.mu itself.
func (s *Server) lockState() {
	s.mu.Lock()
	s.rev++
}

// stackRec is a stored stack plus the files of its last clone (what
// Portainer keeps under /data/compose/<id>).
type stackRec struct {
	Stack
	files map[string][]byte
}

// New starts a fake on a loopback port.
func New(opts Options) *Server {
	s := newServer(opts)
	s.srv = httptest.NewServer(s.handler)
	return s
}

// NewHandler builds a fake without a listener (for sandbox wiring that
// serves it itself); URL() is then empty.
func NewHandler(opts Options) (*Server, http.Handler) {
	s := newServer(opts)
	return s, s.handler
}

func newServer(opts Options) *Server {
	if len(opts.APIKeys) == 0 {
		opts.APIKeys = []string{DefaultAPIKey}
	}
	opts.AdminUser = cmp.Or(opts.AdminUser, DefaultAdminUser)
	opts.AdminPassword = cmp.Or(opts.AdminPassword, DefaultAdminPassword)
	if len(opts.Endpoints) == 0 {
		opts.Endpoints = []Endpoint{{ID: 1, Name: "local", Type: 1, URL: "unix:///var/run/docker.sock", Status: 1}}
	}
	if opts.JWTLifetime <= 0 {
		opts.JWTLifetime = 8 * time.Hour
	}
	if opts.AuthRateLimit == 0 {
		opts.AuthRateLimit = 10
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	git := opts.HTTPClient
	if git == nil {
		git = &http.Client{Timeout: 30 * time.Second}
	}
	s := &Server{
		Faults:     faults.New(),
		opts:       opts,
		git:        git,
		log:        opts.Logger.With("fake", "portainer"),
		stacks:     map[int]*stackRec{},
		nextStack:  1,
		containers: map[int][]*Container{},
		volumes:    map[int]map[string]*Volume{},
		ipNets:     map[string]*ipAlloc{},
		apiKeys:    map[string]bool{},
		jwtSecret:  randomBytes(32),
		authHits:   map[string][]time.Time{},
		bannedTill: map[string]time.Time{},
		instanceID: uuid.NewString(),
	}
	for _, k := range opts.APIKeys {
		s.apiKeys[k] = true
	}
	for _, e := range opts.Endpoints {
		e.Type = cmp.Or(e.Type, 1)
		e.Status = cmp.Or(e.Status, 1)
		s.endpoints = append(s.endpoints, e)
		s.volumes[e.ID] = map[string]*Volume{}
	}
	mux := http.NewServeMux()
	s.routes(mux)
	var h http.Handler = mux
	if opts.Wrap != nil {
		h = opts.Wrap(h)
	}
	s.handler = h
	return s
}

// URL is the server root (the client adds /api).
func (s *Server) URL() string {
	if s.srv == nil {
		return ""
	}
	return s.srv.URL
}

// Close stops the server.
func (s *Server) Close() {
	if s.srv != nil {
		s.srv.Close()
	}
}

// Handler returns the fake's HTTP handler.
func (s *Server) Handler() http.Handler { return s.handler }

func (s *Server) routes(mux *http.ServeMux) {
	pub := func(pattern string, h http.HandlerFunc) { s.Faults.Handle(mux, pattern, h) }
	auth := func(pattern string, h http.HandlerFunc) { s.Faults.Handle(mux, pattern, s.authenticated(h)) }

	pub("POST /api/auth", s.handleAuth)
	pub("GET /api/system/status", s.handleStatus)
	pub("GET /api/status", s.handleStatus)

	auth("GET /api/endpoints", s.handleListEndpoints)
	auth("GET /api/endpoints/{id}", s.handleGetEndpoint)

	auth("POST /api/stacks/create/standalone/repository", s.handleCreateRepository)
	auth("POST /api/stacks/create/standalone/string", s.handleCreateString)
	auth("GET /api/stacks", s.handleListStacks)
	auth("GET /api/stacks/{id}", s.handleGetStack)
	auth("GET /api/stacks/{id}/file", s.handleStackFile)
	auth("POST /api/stacks/{id}/git", s.handleGitUpdate)
	auth("PUT /api/stacks/{id}/git/redeploy", s.handleRedeploy)
	auth("POST /api/stacks/{id}/start", s.handleStart)
	auth("POST /api/stacks/{id}/stop", s.handleStop)
	auth("POST /api/stacks/{id}/migrate", s.handleMigrate)
	auth("DELETE /api/stacks/{id}", s.handleDeleteStack)

	// The Docker proxy answers as the Kubernetes API server on a
	// Kubernetes environment (dockerOnly).
	dock := func(pattern string, h http.HandlerFunc) { auth(pattern, s.dockerOnly(h)) }
	dock("GET /api/endpoints/{id}/docker/containers/json", s.handleListContainers)
	dock("GET /api/endpoints/{id}/docker/containers/{cid}/json", s.handleInspectContainer)
	dock("GET /api/endpoints/{id}/docker/volumes", s.handleListVolumes)
	dock("DELETE /api/endpoints/{id}/docker/volumes/{name}", s.handleDeleteVolume)
	// Docker's image names hold slashes: /images/{name}/json is matched
	// whole and cut in the handler.
	dock("GET /api/endpoints/{id}/docker/images/{rest...}", s.handleInspectImage)
	dock("POST /api/endpoints/{id}/docker/images/create", s.handleCreateImage)

	// Kubernetes environments (kubernetes.go).
	auth("POST /api/stacks/create/kubernetes/repository", s.handleCreateKubernetesRepository)
	auth("POST /api/kubernetes/{id}/namespaces", s.handleCreateNamespace)
	auth("DELETE /api/kubernetes/{id}/namespaces/{namespace}", s.handleDeleteNamespace)
	auth("GET /api/endpoints/{id}/kubernetes/helm", s.handleHelmList)
	auth("POST /api/endpoints/{id}/kubernetes/helm", s.handleHelmInstall)
	auth("DELETE /api/endpoints/{id}/kubernetes/helm/{release}", s.handleHelmDelete)
	auth("GET /api/endpoints/{id}/kubernetes/apis/apps/v1/deployments", s.handleListDeployments)
	auth("GET /api/endpoints/{id}/kubernetes/apis/apps/v1/namespaces/{namespace}/deployments", s.handleListDeployments)
	auth("PATCH /api/endpoints/{id}/kubernetes/apis/apps/v1/namespaces/{namespace}/deployments/{name}", s.handlePatchDeployment)
}

// ---- responses ----

func writeJSON(w http.ResponseWriter, status int, v any) {
	// Map keys sorted, as Go's encoder in Docker and Portainer writes them:
	// the same state gives the same bytes (clients may rely on it to skip
	// decoding an unchanged list).
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	writeRawJSON(w, status, b)
}

// writeRawJSON answers with an encoded body.
func writeRawJSON(w http.ResponseWriter, status int, b []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// httpErr is a Portainer handler error: {"message","details"}, where details
// is the underlying error capitalized, as Portainer's httperror does.
type httpErr struct {
	status  int
	message string
	details string
}

func (e *httpErr) Error() string { return e.message + ": " + e.details }

func perr(status int, message string, cause string) *httpErr {
	return &httpErr{status: status, message: message, details: capitalize(cause)}
}

func writeErr(w http.ResponseWriter, e *httpErr) {
	writeJSON(w, e.status, errBody(e))
}

// errBody is the {"message","details"} body of a handler error.
func errBody(e *httpErr) map[string]string {
	body := map[string]string{}
	if e.message != "" {
		body["message"] = e.message
	}
	if e.details != "" {
		body["details"] = e.details
	}
	return body
}

// writeDockerErr answers in the Docker daemon's own shape.
func writeDockerErr(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"message": msg})
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	r := []rune(s)
	r[0] = unicode.ToUpper(r[0])
	return string(r)
}

// ---- small helpers ----

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

func randomHex(n int) string { return hex.EncodeToString(randomBytes(n / 2)) }

func (s *Server) endpointLocked(id int) (*Endpoint, bool) {
	for i := range s.endpoints {
		if s.endpoints[i].ID == id {
			return &s.endpoints[i], true
		}
	}
	return nil, false
}

// pathID parses a numeric route variable.
func pathID(r *http.Request, name string) (int, bool) {
	n, err := strconv.Atoi(r.PathValue(name))
	return n, err == nil
}

// queryInt reads a numeric query parameter the way Portainer's
// RetrieveNumericQueryParameter does: (value, present, error).
func queryInt(r *http.Request, name string) (int, bool, error) {
	raw := r.URL.Query().Get(name)
	if raw == "" {
		return 0, false, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil {
		return 0, true, err
	}
	return n, true, nil
}

// requiredEndpointID implements the 400 of a required endpointId.
func requiredEndpointID(r *http.Request) (int, *httpErr) {
	n, present, err := queryInt(r, "endpointId")
	if err != nil {
		return 0, perr(400, "Invalid query parameter: endpointId", err.Error())
	}
	if !present {
		return 0, perr(400, "Invalid query parameter: endpointId", "missing query parameter")
	}
	return n, nil
}

// optionalEndpointID reads an optional endpointId (missing counts as 0).
func optionalEndpointID(r *http.Request) (int, *httpErr) {
	n, _, err := queryInt(r, "endpointId")
	if err != nil {
		return 0, perr(400, "Invalid query parameter: endpointId", err.Error())
	}
	return n, nil
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func (s *Server) handleStatus(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, 200, map[string]string{"Version": Version, "InstanceID": s.instanceID})
}

// ---- inspection and seeding for tests ----

// Stacks returns copies of every stored stack, stored git passwords
// included, ordered by id.
func (s *Server) Stacks() []Stack {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Stack, 0, len(s.stacks))
	for _, st := range s.stacks {
		out = append(out, st.Stack.clone())
	}
	slices.SortFunc(out, func(a, b Stack) int { return a.ID - b.ID })
	return out
}

// StackFiles returns the files of a stack's last clone (nil if unknown).
func (s *Server) StackFiles(id int) map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.stacks[id]
	if !ok {
		return nil
	}
	out := map[string]string{}
	for k, v := range st.files {
		out[k] = string(v)
	}
	return out
}

// Containers returns copies of the containers of an endpoint, by name.
func (s *Server) Containers(endpointID int) []Container {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Container, 0, len(s.containers[endpointID]))
	for _, c := range s.containers[endpointID] {
		out = append(out, c.clone())
	}
	slices.SortFunc(out, func(a, b Container) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Volumes returns copies of the volumes of an endpoint, by name.
func (s *Server) Volumes(endpointID int) []Volume {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Volume, 0, len(s.volumes[endpointID]))
	for _, v := range s.volumes[endpointID] {
		c := *v
		c.Labels = cloneMap(v.Labels)
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b Volume) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// SetEndpointStatus marks an environment up (1) or down (2); a down
// environment fails deploys and Docker proxy calls.
func (s *Server) SetEndpointStatus(id, status int) {
	s.lockState()
	defer s.mu.Unlock()
	if e, ok := s.endpointLocked(id); ok {
		e.Status = status
	}
}

// SetUptime makes every running container look started d ago (its status
// text reads "Up 3 days", or "Up 2 seconds" and ticking): for benchmarks of
// a steady-state server, or of one that has just booted.
func (s *Server) SetUptime(d time.Duration) {
	s.lockState()
	defer s.mu.Unlock()
	started := time.Now().Add(-d)
	for _, cs := range s.containers {
		for _, c := range cs {
			if c.State == "running" {
				c.StartedAt = started
				if c.Created.After(started) {
					c.Created = started.Add(-time.Second)
				}
			}
		}
	}
}

// AddContainers adds containers of a compose project that has no Portainer
// stack (an app started by hand, or leftovers of a failed create). Missing
// ids, names, states and compose labels are filled in. It returns the
// container ids.
func (s *Server) AddContainers(endpointID int, project string, containers ...Container) ([]string, error) {
	s.lockState()
	defer s.mu.Unlock()
	if _, ok := s.endpointLocked(endpointID); !ok {
		return nil, fmt.Errorf("fake portainer: unknown endpoint %d", endpointID)
	}
	now := time.Now()
	var ids []string
	for i, c := range containers {
		nc := c.clone()
		nc.ID = cmp.Or(nc.ID, randomHex(64))
		if nc.Labels == nil {
			nc.Labels = map[string]string{}
		}
		service := cmp.Or(nc.Labels[labelService], fmt.Sprintf("svc%d", i+1))
		if project != "" {
			nc.Labels[labelProject] = project
			nc.Labels[labelService] = service
			if _, ok := nc.Labels[labelNumber]; !ok {
				nc.Labels[labelNumber] = "1"
			}
			if _, ok := nc.Labels[labelConfigHash]; !ok {
				nc.Labels[labelConfigHash] = randomHex(64)
			}
			if _, ok := nc.Labels[labelWorkingDir]; !ok {
				nc.Labels[labelWorkingDir] = "/opt/" + project
			}
			if _, ok := nc.Labels[labelOneoff]; !ok {
				nc.Labels[labelOneoff] = "False"
			}
		}
		nc.Name = cmp.Or(nc.Name, fmt.Sprintf("%s-%s-1", project, service))
		if other := s.containerByNameLocked(endpointID, nc.Name); other != nil {
			return ids, fmt.Errorf("fake portainer: container name %q in use", nc.Name)
		}
		nc.Image = cmp.Or(nc.Image, "busybox:latest")
		nc.ImageID = cmp.Or(nc.ImageID, imageID(nc.Image))
		if n, err := normalizeRef(nc.Image); err == nil {
			s.addImageLocked(endpointID, n, now) // a container's image is on its host
		}
		nc.State = cmp.Or(nc.State, "running")
		if nc.Created.IsZero() {
			nc.Created = now
		}
		if nc.State == "running" && nc.StartedAt.IsZero() {
			nc.StartedAt = now
		}
		nc.Hostname = cmp.Or(nc.Hostname, nc.ID[:12])
		for j := range nc.Ports {
			nc.Ports[j].Protocol = cmp.Or(nc.Ports[j].Protocol, "tcp")
		}
		if nc.Networks == nil && project != "" {
			net := project + "_default"
			nc.Networks = map[string]NetworkAttachment{net: s.attachLocked(endpointID, net, []string{nc.Name, service})}
		}
		s.containers[endpointID] = append(s.containers[endpointID], &nc)
		ids = append(ids, nc.ID)
	}
	return ids, nil
}

// AddVolume adds a Docker volume (for volume tests).
func (s *Server) AddVolume(endpointID int, name string, labels map[string]string) {
	s.lockState()
	defer s.mu.Unlock()
	if s.volumes[endpointID] == nil {
		s.volumes[endpointID] = map[string]*Volume{}
	}
	s.volumes[endpointID][name] = &Volume{Name: name, Driver: "local", Labels: cloneMap(labels), CreatedAt: time.Now()}
}

// RemoveContainer deletes a container as `docker rm -f` would.
func (s *Server) RemoveContainer(endpointID int, id string) bool {
	s.lockState()
	defer s.mu.Unlock()
	list := s.containers[endpointID]
	for i, c := range list {
		if c.ID == id {
			s.containers[endpointID] = slices.Delete(list, i, i+1)
			return true
		}
	}
	return false
}

// SetContainerState sets a container's state ("exited", "running", ...) so
// tests can simulate crashes.
func (s *Server) SetContainerState(endpointID int, id, state string, exitCode int) bool {
	s.lockState()
	defer s.mu.Unlock()
	for _, c := range s.containers[endpointID] {
		if c.ID == id {
			c.State = state
			c.ExitCode = exitCode
			now := time.Now()
			if state == "running" {
				c.StartedAt = now
			} else {
				c.FinishedAt = now
			}
			return true
		}
	}
	return false
}

func cloneMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func (s *Server) containerByNameLocked(endpointID int, name string) *Container {
	for _, c := range s.containers[endpointID] {
		if c.Name == name {
			return c
		}
	}
	return nil
}

type ipAlloc struct {
	subnet int // second octet of 172.x.0.0/16
	last   int
}

// attachLocked hands out an address on a simulated network.
func (s *Server) attachLocked(endpointID int, network string, aliases []string) NetworkAttachment {
	key := fmt.Sprintf("%d/%s", endpointID, network)
	a, ok := s.ipNets[key]
	if !ok {
		a = &ipAlloc{subnet: 18 + len(s.ipNets)%200}
		s.ipNets[key] = a
	}
	a.last++
	n := a.last
	return NetworkAttachment{
		NetworkID: hex.EncodeToString(sha256Sum([]byte(key))),
		IPAddress: fmt.Sprintf("172.%d.%d.%d", a.subnet, n/250, n%250+2),
		Gateway:   fmt.Sprintf("172.%d.0.1", a.subnet),
		Aliases:   slices.Clone(aliases),
	}
}

func sha256Sum(b []byte) []byte {
	h := sha256.Sum256(b)
	return h[:]
}

// imageID is the simulated id of an image: the same for every spelling
// of its reference (nginx:1 and docker.io/library/nginx:1).
func imageID(image string) string {
	return "sha256:" + hex.EncodeToString(sha256Sum([]byte("image:"+normOr(image))))
}
