package fake

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

var invalidNameChars = regexp.MustCompile(`[^-_a-z0-9]+`)

// normalizeName is Portainer's stack name normalization.
func normalizeName(n string) string {
	return invalidNameChars.ReplaceAllString(strings.ToLower(n), "")
}

var (
	errStackNotFound = perr(404, "Unable to find a stack with the specified identifier inside the database", "object not found inside the database")
	errEnvNotFound   = perr(404, "Unable to find an environment with the specified identifier inside the database", "object not found inside the database")
	errBadStackID    = perr(400, "Invalid stack identifier route variable", "invalid syntax")
)

func validateAutoUpdate(au *AutoUpdate) string {
	if au == nil {
		return ""
	}
	if au.Interval == "" && au.Webhook == "" {
		return "Webhook or Interval must be provided"
	}
	if au.Webhook != "" {
		if _, err := uuid.Parse(au.Webhook); err != nil {
			return "invalid Webhook format"
		}
	}
	if au.Interval != "" {
		if _, err := time.ParseDuration(au.Interval); err != nil {
			return "invalid Interval format"
		}
	}
	return ""
}

func validURL(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && u.Host != "" && (u.Scheme == "http" || u.Scheme == "https" || u.Scheme == "git" || u.Scheme == "ssh")
}

// createInput is what both create routes (and AddStack) deploy.
type createInput struct {
	endpointID      int
	name            string // as given, normalized here
	entry           string
	additional      []string
	env             []EnvVar
	autoUpdate      *AutoUpdate
	fromAppTemplate bool
	files           map[string][]byte // string stacks
	git             *gitSource        // repository stacks
}

// create follows 4.1 steps 4-8 (the caller did 1-3): normalize, check
// uniqueness, clone, deploy, and only then save the record.
func (s *Server) create(ctx context.Context, in createInput) (*Stack, *httpErr) {
	name := normalizeName(in.name)
	s.lockState()
	if e := s.uniqueLocked(in.endpointID, name, in.autoUpdate); e != nil {
		s.mu.Unlock()
		return nil, e
	}
	id := s.nextStack
	s.nextStack++
	s.mu.Unlock()

	projectPath := fmt.Sprintf("/data/compose/%d", id)
	files := in.files
	var sha string
	if in.git != nil {
		cl, err := s.clone(ctx, *in.git, in.entry, in.additional)
		if err != nil {
			return nil, cloneHTTPErr(err, in.git.Auth)
		}
		files, sha = cl.Files, cl.SHA
	}
	ws, err := s.planStack(ctx, name, files, in.entry, in.additional, in.env, projectPath)
	if err != nil {
		return nil, deployErr(err)
	}

	s.lockState()
	defer s.mu.Unlock()
	if e := s.uniqueLocked(in.endpointID, name, in.autoUpdate); e != nil {
		return nil, e
	}
	if err := s.composeUpLocked(in.endpointID, name, ws, upOpts{}); err != nil {
		return nil, deployErr(err)
	}
	u := s.currentUser()
	st := Stack{
		ID: id, Name: name, Type: 2, EndpointID: in.endpointID,
		EntryPoint: in.entry, Env: in.env, Status: 1, ProjectPath: projectPath,
		CreationDate: time.Now().Unix(), CreatedBy: u.Username,
		AdditionalFiles: in.additional, FromAppTemplate: in.fromAppTemplate,
		ResourceControl: s.newResourceControlLocked(in.endpointID, name),
	}
	if in.autoUpdate != nil {
		au := *in.autoUpdate
		if au.Interval != "" {
			au.JobID = strconv.Itoa(id)
		}
		st.AutoUpdate = &au
	}
	if g := in.git; g != nil {
		st.GitConfig = &GitConfig{URL: g.URL, ReferenceName: g.Ref, ConfigFilePath: in.entry, ConfigHash: sha, TLSSkipVerify: g.TLSSkipVerify}
		if g.Auth {
			st.GitConfig.Authentication = &GitAuthentication{Username: g.Username, Password: g.Password}
		}
	}
	s.stacks[id] = &stackRec{Stack: st, files: files}
	out := st.public()
	return &out, nil
}

func deployErr(err error) *httpErr {
	msg := "failed to deploy a stack: " + err.Error()
	return perr(500, msg, msg)
}

// planStack loads the compose project and computes its containers.
func (s *Server) planStack(ctx context.Context, name string, files map[string][]byte, entry string, additional []string, env []EnvVar, projectPath string) ([]wanted, error) {
	if entry == "" {
		entry = "docker-compose.yml"
	}
	p, err := loadProject(ctx, composeInput{Name: name, Files: files, EntryPoint: entry, Additional: additional, Env: env, ProjectPath: projectPath})
	if err != nil {
		return nil, err
	}
	var configFiles []string
	for _, f := range append([]string{entry}, additional...) {
		configFiles = append(configFiles, projectPath+"/"+cleanRepoPath(f))
	}
	ws, err := plan(p, projectPath, configFiles)
	if err == nil {
		attachBuilds(p, ws, files, projectPath)
	}
	return ws, err
}

// uniqueLocked is 4.1 step 5: a stack of that name on the env, or a webhook
// already in use, is a conflict. Foreign containers with the project label
// are not (compose adopts them).
func (s *Server) uniqueLocked(endpointID int, name string, au *AutoUpdate) *httpErr {
	for _, st := range s.stacks {
		if st.EndpointID == endpointID && strings.EqualFold(st.Name, name) {
			return perr(409, fmt.Sprintf("A stack with the normalized name '%s' already exists", name), "a stack already exists with this name")
		}
		if au != nil && au.Webhook != "" && st.AutoUpdate != nil && strings.EqualFold(st.AutoUpdate.Webhook, au.Webhook) {
			return perr(409, fmt.Sprintf("Webhook ID: %s already exists", au.Webhook), "a webhook already exists with this id")
		}
	}
	return nil
}

func (s *Server) newResourceControlLocked(endpointID int, name string) *ResourceControl {
	s.rcNext++
	return &ResourceControl{
		ID: s.rcNext, ResourceID: fmt.Sprintf("%d_%s", endpointID, name), Type: 6,
		SubResourceIDs: []string{}, UserAccesses: []UserAccess{}, TeamAccesses: []UserAccess{},
		AdministratorsOnly: true,
	}
}

// createPreamble is 4.1 steps 1 (endpointId) for both create routes.
func (s *Server) createPreamble(r *http.Request) (int, *httpErr) {
	id, e := requiredEndpointID(r)
	if e != nil {
		return 0, e
	}
	s.lockState()
	_, ok := s.endpointLocked(id)
	s.mu.Unlock()
	if !ok {
		return 0, errEnvNotFound
	}
	return id, nil
}

func decode(r *http.Request, v any) *httpErr {
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		return perr(400, "Invalid request payload", err.Error())
	}
	return nil
}

func (s *Server) handleCreateRepository(w http.ResponseWriter, r *http.Request) {
	endpointID, e := s.createPreamble(r)
	if e != nil {
		writeErr(w, e)
		return
	}
	var p struct {
		Name                     string
		RepositoryURL            string
		RepositoryReferenceName  string
		ComposeFile              string
		AdditionalFiles          []string
		RepositoryAuthentication bool
		RepositoryUsername       string
		RepositoryPassword       string
		Env                      []EnvVar
		AutoUpdate               *AutoUpdate
		FromAppTemplate          bool
		TLSSkipVerify            bool
	}
	if e := decode(r, &p); e != nil {
		writeErr(w, e)
		return
	}
	bad := ""
	switch {
	case strings.TrimSpace(p.Name) == "":
		bad = "Invalid stack name"
	case !validURL(p.RepositoryURL):
		bad = "Invalid repository URL. Must correspond to a valid URL format"
	case p.RepositoryAuthentication && p.RepositoryPassword == "":
		bad = "Invalid repository credentials. Password must be specified when authentication is enabled"
	default:
		bad = validateAutoUpdate(p.AutoUpdate)
	}
	if bad != "" {
		writeErr(w, perr(400, "Invalid request payload", bad))
		return
	}
	if p.ComposeFile == "" {
		p.ComposeFile = "docker-compose.yml"
	}
	src := &gitSource{URL: p.RepositoryURL, Ref: p.RepositoryReferenceName, TLSSkipVerify: p.TLSSkipVerify}
	if p.RepositoryAuthentication {
		src.Auth, src.Username, src.Password = true, p.RepositoryUsername, p.RepositoryPassword
	}
	st, e := s.create(r.Context(), createInput{
		endpointID: endpointID, name: p.Name, entry: p.ComposeFile, additional: p.AdditionalFiles,
		env: p.Env, autoUpdate: p.AutoUpdate, fromAppTemplate: p.FromAppTemplate, git: src,
	})
	if e != nil {
		writeErr(w, e)
		return
	}
	writeJSON(w, 200, st)
}

func (s *Server) handleCreateString(w http.ResponseWriter, r *http.Request) {
	endpointID, e := s.createPreamble(r)
	if e != nil {
		writeErr(w, e)
		return
	}
	var p struct {
		Name             string
		StackFileContent string
		Env              []EnvVar
		FromAppTemplate  bool
	}
	if e := decode(r, &p); e != nil {
		writeErr(w, e)
		return
	}
	switch {
	case strings.TrimSpace(p.Name) == "":
		writeErr(w, perr(400, "Invalid request payload", "Invalid stack name"))
		return
	case strings.TrimSpace(p.StackFileContent) == "":
		writeErr(w, perr(400, "Invalid request payload", "Invalid stack file content"))
		return
	}
	st, e := s.create(r.Context(), createInput{
		endpointID: endpointID, name: p.Name, entry: "docker-compose.yml", env: p.Env,
		fromAppTemplate: p.FromAppTemplate,
		files:           map[string][]byte{"docker-compose.yml": []byte(p.StackFileContent)},
	})
	if e != nil {
		writeErr(w, e)
		return
	}
	writeJSON(w, 200, st)
}

// AddStack creates a string stack as someone using the Portainer UI would
// (outside our client), deploying its containers.
func (s *Server) AddStack(endpointID int, name, composeFile string, env ...EnvVar) (Stack, error) {
	s.lockState()
	_, ok := s.endpointLocked(endpointID)
	s.mu.Unlock()
	if !ok {
		return Stack{}, fmt.Errorf("fake portainer: unknown endpoint %d", endpointID)
	}
	st, e := s.create(context.Background(), createInput{
		endpointID: endpointID, name: name, entry: "docker-compose.yml", env: env,
		files: map[string][]byte{"docker-compose.yml": []byte(composeFile)},
	})
	if e != nil {
		return Stack{}, fmt.Errorf("fake portainer: %s", e.Error())
	}
	return *st, nil
}

func (s *Server) handleListStacks(w http.ResponseWriter, r *http.Request) {
	var f struct {
		EndpointID            int
		SwarmID               string
		IncludeOrphanedStacks bool
	}
	if raw := r.URL.Query().Get("filters"); raw != "" {
		if err := json.Unmarshal([]byte(raw), &f); err != nil {
			writeErr(w, perr(400, "Invalid query parameter: filters", err.Error()))
			return
		}
	}
	s.mu.Lock()
	key := fmt.Sprintf("%d|%s", f.EndpointID, f.SwarmID)
	if b, ok := s.encodedStacks.Get(s.rev, key); ok {
		s.mu.Unlock()
		writeRawJSON(w, 200, b)
		return
	}
	rev := s.rev
	out := []Stack{}
	for _, st := range s.stacks {
		if f.EndpointID != 0 && st.EndpointID != f.EndpointID {
			continue
		}
		if f.SwarmID != "" && st.SwarmID != f.SwarmID {
			continue
		}
		out = append(out, st.public())
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b Stack) int { return a.ID - b.ID })
	b, err := json.Marshal(out)
	if err != nil {
		panic(err) // plain data: cannot fail
	}
	s.mu.Lock()
	s.encodedStacks.Put(rev, key, b) // dropped at once if the state moved on meanwhile
	s.mu.Unlock()
	writeRawJSON(w, 200, b)
}

// stackFromPath resolves {id}; the record is returned by copy.
func (s *Server) stackFromPath(r *http.Request) (*stackRec, *httpErr) {
	id, ok := pathID(r, "id")
	if !ok {
		return nil, errBadStackID
	}
	s.lockState()
	defer s.mu.Unlock()
	st, ok := s.stacks[id]
	if !ok {
		return nil, errStackNotFound
	}
	return &stackRec{Stack: st.Stack.clone(), files: maps.Clone(st.files)}, nil
}

func (s *Server) handleGetStack(w http.ResponseWriter, r *http.Request) {
	st, e := s.stackFromPath(r)
	if e != nil {
		writeErr(w, e)
		return
	}
	writeJSON(w, 200, st.public())
}

func (s *Server) handleStackFile(w http.ResponseWriter, r *http.Request) {
	st, e := s.stackFromPath(r)
	if e != nil {
		writeErr(w, e)
		return
	}
	b, ok := st.files[cleanRepoPath(st.EntryPoint)]
	if !ok {
		writeErr(w, perr(500, "Unable to retrieve Compose file from disk", "no such file or directory"))
		return
	}
	writeJSON(w, 200, map[string]string{"StackFileContent": string(b)})
}

// gitEndpointTrap is 4.6/4.7: an endpointId that differs from the stack's
// (missing counts as 0) overwrites it, and an unknown env is a 404.
func (s *Server) gitEndpointTrap(r *http.Request, st *Stack) *httpErr {
	q, e := optionalEndpointID(r)
	if e != nil {
		return e
	}
	if q != st.EndpointID {
		st.EndpointID = q
	}
	s.lockState()
	_, ok := s.endpointLocked(st.EndpointID)
	s.mu.Unlock()
	if !ok {
		return perr(404, "Unable to find the environment associated to the stack inside the database", "object not found inside the database")
	}
	return nil
}

// save writes a modified record back, unless the stack was deleted meanwhile.
func (s *Server) saveLocked(rec *stackRec) bool {
	if _, ok := s.stacks[rec.ID]; !ok {
		return false
	}
	s.stacks[rec.ID] = rec
	return true
}

func (s *Server) handleGitUpdate(w http.ResponseWriter, r *http.Request) {
	if _, ok := pathID(r, "id"); !ok {
		writeErr(w, errBadStackID)
		return
	}
	var p struct {
		AutoUpdate               *AutoUpdate
		Env                      []EnvVar
		Prune                    bool
		RepositoryReferenceName  string
		RepositoryAuthentication bool
		RepositoryUsername       string
		RepositoryPassword       string
		TLSSkipVerify            bool
	}
	if e := decode(r, &p); e != nil {
		writeErr(w, e)
		return
	}
	if bad := validateAutoUpdate(p.AutoUpdate); bad != "" {
		writeErr(w, perr(400, "Invalid request payload", bad))
		return
	}
	rec, e := s.stackFromPath(r)
	if e != nil {
		writeErr(w, e)
		return
	}
	if rec.GitConfig == nil {
		writeErr(w, perr(500, "No Git config in the found stack", "stack is not created from git"))
		return
	}
	if e := s.gitEndpointTrap(r, &rec.Stack); e != nil {
		writeErr(w, e)
		return
	}
	// Everything is replaced by the payload (an omitted field is cleared).
	g := rec.GitConfig
	g.ReferenceName = p.RepositoryReferenceName
	g.TLSSkipVerify = p.TLSSkipVerify
	rec.Env = p.Env
	rec.Option = &StackOption{Prune: p.Prune}
	if p.AutoUpdate != nil {
		au := *p.AutoUpdate
		if au.Interval != "" {
			au.JobID = strconv.Itoa(rec.ID)
		} else {
			au.JobID = ""
		}
		rec.AutoUpdate = &au
	} else {
		rec.AutoUpdate = nil
	}
	if p.RepositoryAuthentication {
		password := p.RepositoryPassword
		if password == "" && g.Authentication != nil {
			password = g.Authentication.Password
		}
		src := gitSource{URL: g.URL, Ref: g.ReferenceName, Auth: true, Username: p.RepositoryUsername, Password: password, TLSSkipVerify: g.TLSSkipVerify}
		if _, err := s.lsRemote(r.Context(), src); err != nil {
			writeErr(w, perr(500, "Unable to fetch git repository", err.Error()))
			return
		}
		g.Authentication = &GitAuthentication{Username: p.RepositoryUsername, Password: password}
	} else {
		g.Authentication = nil
	}
	rec.UpdateDate = time.Now().Unix()
	rec.UpdatedBy = s.currentUser().Username
	s.lockState()
	ok := s.saveLocked(rec)
	s.mu.Unlock()
	if !ok {
		writeErr(w, errStackNotFound)
		return
	}
	writeJSON(w, 200, rec.public())
}

func (s *Server) handleRedeploy(w http.ResponseWriter, r *http.Request) {
	if _, ok := pathID(r, "id"); !ok {
		writeErr(w, errBadStackID)
		return
	}
	var p struct {
		RepositoryReferenceName  string
		RepositoryAuthentication bool
		RepositoryUsername       string
		RepositoryPassword       string
		Env                      []EnvVar
		Prune                    bool
		PullImage                bool
		StackName                *string
	}
	if e := decode(r, &p); e != nil {
		writeErr(w, e)
		return
	}
	rec, e := s.stackFromPath(r)
	if e != nil {
		writeErr(w, e)
		return
	}
	if rec.GitConfig == nil {
		writeErr(w, perr(400, "Stack is not created from git", "stack is not created from git"))
		return
	}
	if e := s.gitEndpointTrap(r, &rec.Stack); e != nil {
		writeErr(w, e)
		return
	}
	g := rec.GitConfig
	g.ReferenceName = p.RepositoryReferenceName
	rec.Env = p.Env
	// Only the payload's credentials are used (2.19-2.23): without
	// RepositoryAuthentication the clone is anonymous, whatever is stored.
	src := gitSource{URL: g.URL, Ref: g.ReferenceName, TLSSkipVerify: g.TLSSkipVerify}
	if p.RepositoryAuthentication {
		password := p.RepositoryPassword
		if password == "" && g.Authentication != nil {
			password = g.Authentication.Password
		}
		src.Auth, src.Username, src.Password = true, p.RepositoryUsername, password
	}
	cl, err := s.clone(r.Context(), src, rec.EntryPoint, rec.AdditionalFiles)
	if err != nil {
		writeErr(w, perr(500, "Unable to clone git repository directory", err.Error()))
		return
	}
	if rec.Type == 3 {
		s.redeployKubeStack(w, rec, cl)
		return
	}
	ws, err := s.planStack(r.Context(), rec.Name, cl.Files, rec.EntryPoint, rec.AdditionalFiles, rec.Env, rec.ProjectPath)
	if err != nil {
		writeErr(w, deployErr(err))
		return
	}
	s.lockState()
	defer s.mu.Unlock()
	if _, ok := s.stacks[rec.ID]; !ok {
		writeErr(w, errStackNotFound)
		return
	}
	if err := s.composeUpLocked(rec.EndpointID, rec.Name, ws, upOpts{forceRecreate: true, removeOrphans: p.Prune, pull: p.PullImage}); err != nil {
		writeErr(w, deployErr(err))
		return
	}
	g.ConfigHash = cl.SHA
	rec.files = cl.Files
	rec.Status = 1
	rec.UpdateDate = time.Now().Unix()
	rec.UpdatedBy = s.currentUser().Username
	s.saveLocked(rec)
	writeJSON(w, 200, rec.public())
}

// actionPreamble is the shared start of start/stop, in the handlers' order
// (stack_start.go / stack_stop.go, 2.19-2.23): the stack ({id}: 400, 404),
// then the required endpointId (400) and its environment (404; start says
// "endpoint", stop "environment").
func (s *Server) actionPreamble(r *http.Request, envNotFound *httpErr) (*stackRec, int, *httpErr) {
	rec, e := s.stackFromPath(r)
	if e != nil {
		return nil, 0, e
	}
	endpointID, e := requiredEndpointID(r)
	if e != nil {
		return nil, 0, e
	}
	s.lockState()
	_, ok := s.endpointLocked(endpointID)
	s.mu.Unlock()
	if !ok {
		return nil, 0, envNotFound
	}
	return rec, endpointID, nil
}

var (
	errStartEnvNotFound = perr(404, "Unable to find an endpoint with the specified identifier inside the database", "object not found inside the database")
	errStackActive      = perr(400, "Stack is already active", "Stack is already active")
	errStackInactive    = perr(400, "Stack is already inactive", "Stack is already inactive")
)

// errAlreadyRunning is start's name check (checkUniqueStackNameInDocker):
// it runs before the status check, so starting a stack whose containers
// exist answers this 409, not 400 "Stack is already active".
func errAlreadyRunning(name string) *httpErr {
	msg := fmt.Sprintf("A stack with the name '%s' is already running", name)
	return perr(409, msg, msg)
}

// nameTakenLocked is checkUniqueStackNameInDocker for start: another stack
// record of that name on the environment, or any container (running or
// not: the list is all=true) labelled with the project.
func (s *Server) nameTakenLocked(endpointID int, rec *stackRec) bool {
	for _, st := range s.stacks {
		if st.ID != rec.ID && st.EndpointID == endpointID && strings.EqualFold(st.Name, rec.Name) {
			return true
		}
	}
	return len(s.projectContainersLocked(endpointID, rec.Name)) > 0
}

func (s *Server) handleStart(w http.ResponseWriter, r *http.Request) {
	rec, endpointID, e := s.actionPreamble(r, errStartEnvNotFound)
	if e != nil {
		writeErr(w, e)
		return
	}
	s.lockState()
	taken := s.nameTakenLocked(endpointID, rec)
	s.mu.Unlock()
	if taken {
		writeErr(w, errAlreadyRunning(rec.Name))
		return
	}
	if rec.Status == 1 {
		writeErr(w, errStackActive)
		return
	}
	// Compose runs from the files of the last clone, without re-cloning.
	ws, err := s.planStack(r.Context(), rec.Name, rec.files, rec.EntryPoint, rec.AdditionalFiles, rec.Env, rec.ProjectPath)
	if err != nil {
		writeErr(w, perr(500, "Unable to start stack", "failed to deploy a stack: "+err.Error()))
		return
	}
	s.lockState()
	defer s.mu.Unlock()
	cur, ok := s.stacks[rec.ID]
	if !ok {
		writeErr(w, errStackNotFound)
		return
	}
	if s.nameTakenLocked(endpointID, cur) {
		writeErr(w, errAlreadyRunning(cur.Name))
		return
	}
	if cur.Status == 1 {
		writeErr(w, errStackActive)
		return
	}
	if err := s.composeUpLocked(endpointID, rec.Name, ws, upOpts{}); err != nil {
		writeErr(w, perr(500, "Unable to start stack", "failed to deploy a stack: "+err.Error()))
		return
	}
	cur.Status = 1
	writeJSON(w, 200, cur.public())
}

func (s *Server) handleStop(w http.ResponseWriter, r *http.Request) {
	rec, endpointID, e := s.actionPreamble(r, errEnvNotFound)
	if e != nil {
		writeErr(w, e)
		return
	}
	s.lockState()
	defer s.mu.Unlock()
	cur, ok := s.stacks[rec.ID]
	if !ok {
		writeErr(w, errStackNotFound)
		return
	}
	if cur.Status == 2 {
		writeErr(w, errStackInactive)
		return
	}
	if err := s.composeDownLocked(endpointID, cur.Name); err != nil {
		writeErr(w, perr(500, "Unable to stop stack", "failed to remove a stack: "+err.Error()))
		return
	}
	cur.Status = 2
	writeJSON(w, 200, cur.public())
}

func (s *Server) handleDeleteStack(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("external") == "true" {
		// {id} is a swarm stack name here; compose stacks cannot be removed
		// this way.
		name := r.PathValue("id")
		s.lockState()
		defer s.mu.Unlock()
		for _, st := range s.stacks {
			if st.Name == name {
				writeErr(w, perr(400, "A stack with this name exists inside the database", "a stack with this name exists inside the database"))
				return
			}
		}
		writeErr(w, perr(500, "Unable to remove external stack", "this node is not a swarm manager"))
		return
	}
	id, ok := pathID(r, "id")
	if !ok {
		writeErr(w, errBadStackID)
		return
	}
	q, e := optionalEndpointID(r)
	if e != nil {
		writeErr(w, e)
		return
	}
	s.lockState()
	defer s.mu.Unlock()
	st, ok := s.stacks[id]
	if !ok {
		writeErr(w, errStackNotFound)
		return
	}
	if st.Type == 3 { // Kubernetes: kubectl delete of its manifests
		s.deleteKubeStackLocked(st)
		w.WriteHeader(http.StatusNoContent)
		return
	}
	// A different endpointId makes the stack "orphaned" (admins may delete
	// it); the env looked up is the one given, 0 when missing. compose down
	// then runs there, which leaves the real containers behind.
	if _, ok := s.endpointLocked(q); !ok {
		writeErr(w, perr(404, "Unable to find the endpoint associated to the stack inside the database", "object not found inside the database"))
		return
	}
	if err := s.composeDownLocked(q, st.Name); err != nil {
		writeErr(w, perr(500, err.Error(), err.Error()))
		return
	}
	delete(s.stacks, id)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) handleMigrate(w http.ResponseWriter, r *http.Request) {
	if _, ok := pathID(r, "id"); !ok {
		writeErr(w, errBadStackID)
		return
	}
	var p struct {
		EndpointID int
		SwarmID    string
		Name       string
	}
	if e := decode(r, &p); e != nil {
		writeErr(w, e)
		return
	}
	if p.EndpointID <= 0 {
		writeErr(w, perr(400, "Invalid request payload", "Invalid environment identifier. Must be a positive number"))
		return
	}
	rec, e := s.stackFromPath(r)
	if e != nil {
		writeErr(w, e)
		return
	}
	q, e := optionalEndpointID(r)
	if e != nil {
		writeErr(w, e)
		return
	}
	if q != 0 && q != rec.EndpointID {
		rec.EndpointID = q
	}
	s.lockState()
	_, srcOK := s.endpointLocked(rec.EndpointID)
	target, tgtOK := s.endpointLocked(p.EndpointID)
	var targetName string
	if tgtOK {
		targetName = target.Name
	}
	s.mu.Unlock()
	if !srcOK {
		writeErr(w, perr(404, "Unable to find an environment with the specified identifier inside the database", "object not found inside the database"))
		return
	}
	if !tgtOK {
		writeErr(w, errEnvNotFound)
		return
	}
	name := rec.Name
	if p.Name != "" {
		name = p.Name // not normalized, as in Portainer
	}
	ws, err := s.planStack(r.Context(), name, rec.files, rec.EntryPoint, rec.AdditionalFiles, rec.Env, rec.ProjectPath)
	if err != nil {
		writeErr(w, perr(500, "Unable to migrate stack", err.Error()))
		return
	}
	s.lockState()
	defer s.mu.Unlock()
	for _, st := range s.stacks {
		if st.ID != rec.ID && st.EndpointID == p.EndpointID && strings.EqualFold(st.Name, name) {
			writeErr(w, perr(409, fmt.Sprintf("A stack with the name '%s' is already running on endpoint '%s'", name, targetName), "stack name is not unique"))
			return
		}
	}
	if (p.EndpointID != rec.EndpointID || name != rec.Name) && len(s.projectContainersLocked(p.EndpointID, name)) > 0 {
		writeErr(w, perr(409, fmt.Sprintf("A stack with the name '%s' is already running on endpoint '%s'", name, targetName), "stack name is not unique"))
		return
	}
	if err := s.composeUpLocked(p.EndpointID, name, ws, upOpts{}); err != nil {
		writeErr(w, perr(500, "Unable to migrate stack", err.Error()))
		return
	}
	if p.EndpointID != rec.EndpointID || name != rec.Name {
		if err := s.composeDownLocked(rec.EndpointID, rec.Name); err != nil {
			writeErr(w, perr(500, "Unable to remove stack from its original environment", err.Error()))
			return
		}
	}
	rec.EndpointID = p.EndpointID
	rec.Name = name
	rec.Status = 1
	if rec.ResourceControl != nil {
		rec.ResourceControl.ResourceID = fmt.Sprintf("%d_%s", p.EndpointID, name)
	}
	if !s.saveLocked(rec) {
		writeErr(w, errStackNotFound)
		return
	}
	writeJSON(w, 200, rec.public())
}
