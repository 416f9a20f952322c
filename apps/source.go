package apps

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v4"

	"github.com/appmanage/appmanage/apperr"
	"github.com/appmanage/appmanage/datasources/gitea"
	"github.com/appmanage/appmanage/datasources/portainer"
	"github.com/appmanage/appmanage/datasources/proxymanager"
	"github.com/appmanage/appmanage/ops"
	"github.com/appmanage/appmanage/store"
)

// installFromSource: an app built from a git repository instead of the
// library. The repository is imported into Gitea (its migrate API, a plain
// copy under the app id), compose material that builds the image from it
// is committed when it has no compose file of its own, and the repository
// is deployed as a Portainer git stack (the endpoint builds the image),
// then the domains are published. The same guarantees as install: checks
// before anything is written, one operation, all or nothing.

// KindInstallSource is the operation kind of installFromSource.
const KindInstallSource = "installFromSource"

// SourceAuth are the credentials Gitea clones the source with. They are
// never echoed, logged or journalled: kept sealed in the settings store
// until the import is done.
type SourceAuth struct {
	Username string
	Token    string
}

// SourceRequest is an installFromSource as the API receives it.
type SourceRequest struct {
	AppID          string
	GitURL         string
	Ref            string // branch; "" = the repository's default branch
	Dockerfile     string // relative to ContextPath; "" = Dockerfile
	ContextPath    string // build context in the repository; "" = its root
	Port           int    // container port the app listens on (0: none)
	Domains        []string
	Env            []EnvSetting
	EndpointID     int
	Auth           *SourceAuth
	IdempotencyKey string
}

// SourceInput is the journalled input of the operation: the install's
// fields (so the read side sees its endpoint and ports) and the source's.
type SourceInput struct {
	InstallInput
	GitURL      string       `json:"gitUrl"`
	Ref         string       `json:"ref,omitempty"`
	Dockerfile  string       `json:"dockerfile"`
	ContextPath string       `json:"contextPath,omitempty"`
	Port        int          `json:"port,omitempty"`
	Env         []EnvSetting `json:"env,omitempty"`
	HasAuth     bool         `json:"hasAuth,omitempty"`
}

// Compose files a repository may bring, in compose's order of preference.
var sourceComposeFiles = []string{"compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml"}

// generatedCompose is where the generated material goes.
const generatedCompose = "docker-compose.yml"

var (
	branchPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._/-]{0,254}$`)
	envKeyPattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,127}$`)
)

// validateRepoPath checks a path inside the repository: relative, no "..",
// nothing a shell or YAML could misread.
func validateRepoPath(field, p string, allowEmpty bool) (string, error) {
	if p == "" || p == "." || p == "./" {
		if allowEmpty {
			return "", nil
		}
		return "", apperr.Invalid(field, "is empty")
	}
	if len(p) > 255 {
		return "", apperr.Invalid(field, "is longer than 255 bytes")
	}
	if strings.HasPrefix(p, "/") || strings.Contains(p, `\`) {
		return "", apperr.Invalid(field, "%q must be a relative path inside the repository", clip(p))
	}
	for _, r := range p {
		if r < 0x20 || r == 0x7f || r == '$' || r == '`' || r == '"' || r == '\'' {
			return "", apperr.Invalid(field, "%q contains control or quoting characters", clip(p))
		}
	}
	clean := strings.TrimPrefix(strings.TrimSuffix(p, "/"), "./")
	for _, seg := range strings.Split(clean, "/") {
		if seg == ".." {
			return "", apperr.Invalid(field, "%q must not leave the repository (..)", clip(p))
		}
		if seg == "" || seg == "." || strings.EqualFold(seg, ".git") {
			return "", apperr.Invalid(field, "%q has an empty, . or .git segment", clip(p))
		}
	}
	return path.Clean(clean), nil
}

func validateBranch(ref string) error {
	if ref == "" {
		return nil
	}
	if !branchPattern.MatchString(ref) || strings.Contains(ref, "..") || strings.Contains(ref, "//") ||
		strings.HasSuffix(ref, "/") || strings.HasSuffix(ref, ".lock") || strings.HasSuffix(ref, ".") || strings.Contains(ref, "@{") {
		return apperr.Invalid("ref", "%q is not a valid branch name", clip(ref))
	}
	return nil
}

// validateSource checks the request's syntax; the URL last, as its check
// may resolve the host.
func (s *Service) validateSource(ctx context.Context, req SourceRequest) (SourceInput, error) {
	in := SourceInput{InstallInput: InstallInput{AppID: req.AppID}}
	if err := ValidateAppID("appId", req.AppID); err != nil {
		return in, err
	}
	su, err := ParseSourceURL("gitUrl", req.GitURL)
	if err != nil {
		return in, err
	}
	in.Ref = strings.TrimPrefix(strings.TrimSpace(req.Ref), "refs/heads/")
	if err := validateBranch(in.Ref); err != nil {
		return in, err
	}
	if in.ContextPath, err = validateRepoPath("contextPath", req.ContextPath, true); err != nil {
		return in, err
	}
	df := req.Dockerfile
	if df == "" {
		df = "Dockerfile"
	}
	if in.Dockerfile, err = validateRepoPath("dockerfile", df, false); err != nil {
		return in, err
	}
	if req.Port < 0 || req.Port > 65535 {
		return in, apperr.Invalid("port", "%d is not a port number (1-65535)", req.Port)
	}
	in.Port = req.Port
	if in.Domains, err = NormalizeDomains("domains", req.Domains); err != nil {
		return in, err
	}
	if len(in.Domains) > 0 {
		if in.Port == 0 {
			return in, apperr.Invalid("port", "domains are forwarded to the app's port: give the port it listens on")
		}
		in.DefaultDomain, in.URL = in.Domains[0], in.Domains[0]
	}
	if len(req.Env) > 200 {
		return in, apperr.Invalid("env", "at most 200 variables")
	}
	seen := map[string]bool{}
	for i, e := range req.Env {
		field := "env[" + strconv.Itoa(i) + "]"
		if !envKeyPattern.MatchString(e.Name) {
			return in, apperr.Invalid(field, "%q is not a valid variable name (letters, digits and _, not starting with a digit)", clip(e.Name))
		}
		if seen[e.Name] {
			return in, apperr.Invalid(field, "%s is given twice", e.Name)
		}
		seen[e.Name] = true
		if err := ValidateEnvValue(field, e.Value); err != nil {
			return in, err
		}
		in.Env = append(in.Env, EnvSetting{Name: e.Name, Value: e.Value})
	}
	if a := req.Auth; a != nil && (a.Username != "" || a.Token != "") {
		if a.Token == "" {
			return in, apperr.Invalid("auth.token", "is empty")
		}
		if strings.ContainsAny(a.Username+a.Token, "\r\n\x00") || len(a.Token) > 4096 || len(a.Username) > 255 {
			return in, apperr.Invalid("auth", "credentials must be one line each (token at most 4096 bytes)")
		}
		if s.settings == nil {
			return in, apperr.Invalid("auth", "source credentials need the settings store, where they are kept sealed")
		}
		in.HasAuth = true
	}
	if _, err := CheckSourceURL(ctx, "gitUrl", req.GitURL, s.sourceResolver(), s.allowPrivateSources(ctx)); err != nil {
		return in, err
	}
	in.GitURL = su.Clean
	return in, nil
}

// InstallFromSource validates the request and checks every precondition
// synchronously (as Install does), then submits the operation.
func (s *Service) InstallFromSource(ctx context.Context, req SourceRequest) (*ops.Operation, error) {
	if op, done, err := s.replay(ctx, req.IdempotencyKey, KindInstallSource, req.AppID); done {
		return op, err
	}
	in, err := s.validateSource(ctx, req)
	if err != nil {
		return nil, err
	}
	ep, err := s.pickEndpoint(ctx, req.EndpointID)
	if err != nil {
		return nil, err
	}
	if kind := ep.Kind(); !kind.Docker() {
		// The image is built by the endpoint's docker compose (build:);
		// Portainer builds nothing on Kubernetes.
		return nil, apperr.Precondition("endpointId", "%s is of type %s: an app built from source is built by docker compose on a Docker endpoint (local, agent or Edge agent), which Portainer cannot do on this endpoint; choose a Docker endpoint", endpointLabel(*ep), kind)
	}
	in.EndpointID, in.Actor = ep.ID, actor(ctx)
	avoid := map[int]bool{}
	for attempt := 1; ; attempt++ {
		plan := in
		if err := s.planSourcePort(ctx, &plan, avoid); err != nil {
			return nil, err
		}
		if plan.URL == "" {
			plan.URL = s.fallbackURL(ep, s.publicHost(ctx), plan.InstallInput)
		}
		op, repick, err := s.submitSource(ctx, req, plan)
		if repick != 0 && attempt < maxPortPicks {
			avoid[repick] = true
			continue
		}
		return op, err
	}
}

// planSourcePort chooses the host port that publishes the app's port, as
// install chooses a port setting's: the port's own number when it is free
// on the endpoint, else the next free one above it.
func (s *Service) planSourcePort(ctx context.Context, in *SourceInput, avoid map[int]bool) error {
	in.Ports, in.HostPorts = nil, nil
	if in.Port == 0 {
		return nil
	}
	taken, err := s.takenPorts(ctx, in.EndpointID)
	if err != nil {
		return err
	}
	p := in.Port
	for p <= 65535 && (taken[p] != "" || avoid[p]) {
		p++
	}
	if p > 65535 {
		return apperr.Precondition("port", "no free host port from %d up on endpoint %d", in.Port, in.EndpointID)
	}
	pp := PlannedPort{Service: in.AppID, HostPort: p, ContainerPort: in.Port, Protocol: "tcp", Source: PortDefault}
	if p != in.Port {
		pp.Source, pp.Default, pp.DefaultHolder = PortNextFree, in.Port, taken[in.Port]
	}
	in.Ports, in.HostPorts = []PlannedPort{pp}, []int{p}
	return nil
}

// submitSource is submitInstall for a source install: the preflight under
// the claims of its names, the credentials sealed, the submit.
func (s *Service) submitSource(ctx context.Context, req SourceRequest, in SourceInput) (*ops.Operation, int, error) {
	res := portKeys(in.InstallInput)
	for _, d := range in.Domains {
		res = append(res, "domain:"+d)
	}
	unlock, err := s.claims.lock(ctx, append([]string{"app:" + in.AppID}, res...))
	if err != nil {
		return nil, 0, err
	}
	defer unlock()
	if err := s.refuseActive(ctx, in.AppID); err != nil {
		return nil, 0, err
	}
	if err := s.preflight(ctx, in.InstallInput); err != nil {
		if rp, ok := errors.AsType[*repickError](err); ok {
			return nil, rp.port, rp.err
		}
		return nil, 0, err
	}
	if in.HasAuth {
		b, _ := json.Marshal(SourceAuth{Username: req.Auth.Username, Token: req.Auth.Token})
		if err := s.settings.SetSetting(ctx, sourceAuthKey(in.AppID), string(b), true); err != nil {
			return nil, 0, err
		}
	}
	op, err := s.engine.Submit(ctx, ops.SubmitRequest{
		Kind: KindInstallSource, AppID: in.AppID, Input: in,
		IdempotencyKey: req.IdempotencyKey, Reservations: res,
	})
	if err != nil && in.HasAuth {
		_ = s.settings.SetSetting(context.WithoutCancel(ctx), sourceAuthKey(in.AppID), "", true)
	}
	if re, ok := errors.AsType[*ops.ReservationError](err); ok {
		p, _ := pickedKey(in.InstallInput, re.Resource)
		return nil, p, installReservationErr(in.InstallInput, re)
	}
	return op, 0, err
}

func sourceAuthKey(appID string) string   { return "sourceauth:" + strings.ToLower(appID) }
func sourceRecordKey(appID string) string { return "source:" + strings.ToLower(appID) }

// sourceAuth reads the sealed credentials of the app's import (nil: none).
func (s *Service) sourceAuth(ctx context.Context, appID string) (*SourceAuth, error) {
	if s.settings == nil {
		return nil, nil
	}
	st, err := s.settings.GetSetting(ctx, sourceAuthKey(appID))
	if errors.Is(err, store.ErrSettingNotFound) || err == nil && st.Value == "" {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var a SourceAuth
	if err := json.Unmarshal([]byte(st.Value), &a); err != nil {
		return nil, nil
	}
	return &a, nil
}

func (s *Service) forgetSourceAuth(ctx context.Context, appID string) error {
	if s.settings == nil {
		return nil
	}
	return s.settings.SetSetting(ctx, sourceAuthKey(appID), "", true)
}

// sourceRecord marks an app built from source: its redeploys rebuild.
type sourceRecord struct {
	Operation string `json:"op"`
	GitURL    string `json:"gitUrl"`
	Branch    string `json:"branch"`
}

// FromSource reports whether appID was installed from source (and not
// uninstalled since).
func (s *Service) FromSource(ctx context.Context, appID string) bool {
	return s.setting(ctx, sourceRecordKey(appID)) != ""
}

func (s *Service) saveSourceRecord(ctx context.Context, appID string, rec *sourceRecord) error {
	if s.settings == nil {
		return nil
	}
	v := ""
	if rec != nil {
		b, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		v = string(b)
	}
	return s.settings.SetSetting(ctx, sourceRecordKey(appID), v, false)
}

// --- the workflow -------------------------------------------------------

func (s *Service) sourceWorkflow() ops.Workflow {
	return ops.Workflow{
		Kind: KindInstallSource,
		Steps: []ops.Step{
			{Name: "import", Weight: 3, Timeout: s.cfg.DeployTimeout, Retries: 3, UndoOnFailure: true, Do: s.stepImport, Undo: s.undoImport},
			{Name: "material", Weight: 1, Timeout: s.cfg.StepTimeout, Retries: 3, Do: s.stepSourceMaterial},
			{Name: "webhook", Weight: 1, Timeout: s.cfg.StepTimeout, Retries: 3, UndoOnFailure: true, Do: s.stepWebhook, Undo: s.undoWebhook},
			{Name: "stack", Weight: 5, Timeout: s.cfg.DeployTimeout, Retries: 2, UndoOnFailure: true, Do: s.stepSourceStack, Undo: s.undoStack},
			{Name: "proxy", Weight: 2, Timeout: s.cfg.StepTimeout, Retries: 3, UndoOnFailure: true, Do: s.stepSourceProxy, Undo: s.undoProxy},
		},
	}
}

// Journal keys of the source workflow.
const (
	keyImportTried   = "importTried"   // bool: an attempt went straight to the migrate
	keySourceBranch  = "sourceBranch"  // string: the branch the stack deploys
	keySourceCompose = "sourceCompose" // sourceMaterial
)

// sourceMaterial is what the material step decided.
type sourceMaterial struct {
	ComposeFile string `json:"composeFile"`
	Generated   bool   `json:"generated"`
}

func sourceInput(r *ops.Run) (SourceInput, error) {
	var in SourceInput
	if err := r.Input(&in); err != nil {
		return in, fmt.Errorf("decode source input: %w", err)
	}
	return in, nil
}

// stepImport has Gitea import the source as the app's repository. A
// migrate is not idempotent: a retried or resumed attempt first looks for
// the repository (the name is ours: preflight proved it free).
func (s *Service) stepImport(ctx context.Context, r *ops.Run) error {
	in, err := sourceInput(r)
	if err != nil {
		return err
	}
	var repo *gitea.Repository
	err = errNotLookedUp
	if tried, terr := r.Get(keyImportTried, new(bool)); terr != nil {
		return terr
	} else if tried || r.Resumed() {
		repo, err = s.repos.GetRepo(ctx, in.AppID)
	} else if err := r.Set(keyImportTried, true); err != nil {
		return err
	}
	if notFound(err) || err == errNotLookedUp {
		opts := gitea.MigrateOptions{CloneAddr: in.GitURL, Description: "built from " + in.GitURL + " by appmanage"}
		if in.HasAuth {
			a, aerr := s.sourceAuth(ctx, in.AppID)
			if aerr != nil {
				return aerr
			}
			if a == nil {
				return apperr.Precondition("auth", "the source's credentials are no longer stored; install again")
			}
			opts.AuthUsername, opts.AuthPassword = a.Username, a.Token
			if opts.AuthUsername == "" {
				opts.AuthUsername = "oauth2"
			}
		}
		r.Logf("importing %s into repository %s/%s", in.GitURL, s.repos.Owner(), in.AppID)
		repo, err = s.repos.MigrateRepo(ctx, in.AppID, opts)
		if err != nil {
			if found, gerr := s.repos.GetRepo(ctx, in.AppID); gerr == nil {
				repo, err = found, nil
				r.Logf("repository %s was imported although the call failed; using it", in.AppID)
			}
		}
		if err != nil {
			return retryIfTransient(upstreamErr("gitea", err, "import "+in.GitURL))
		}
	} else if err != nil {
		return retryIfTransient(upstreamErr("gitea", err, "look up repository"))
	}
	if repo.Empty {
		return apperr.Precondition("gitUrl", "%s is an empty repository: nothing to build", in.GitURL)
	}
	branch := in.Ref
	if branch == "" {
		branch = repo.DefaultBranch
	}
	if err := r.Set(keyRepoURLs, repoURLs{Clone: repo.CloneURL, HTML: repo.HTMLURL, Owner: repo.Owner, Name: repo.Name}); err != nil {
		return err
	}
	if err := r.Set(keySourceBranch, branch); err != nil {
		return err
	}
	if err := s.saveSourceRecord(ctx, in.AppID, &sourceRecord{Operation: r.OperationID(), GitURL: in.GitURL, Branch: branch}); err != nil {
		return err
	}
	if in.HasAuth {
		if err := s.forgetSourceAuth(ctx, in.AppID); err != nil {
			return err
		}
	}
	r.Logf("imported %s as %s (branch %s)", in.GitURL, repo.FullName, branch)
	return nil
}

// undoImport deletes the imported repository and forgets what the
// install kept of the source.
func (s *Service) undoImport(ctx context.Context, r *ops.Run) error {
	if err := s.stepDeleteRepository(ctx, r); err != nil {
		return err
	}
	if err := s.forgetSourceAuth(ctx, r.AppID()); err != nil {
		return err
	}
	return s.saveSourceRecord(ctx, r.AppID(), nil)
}

func (s *Service) sourceBranch(r *ops.Run) (string, error) {
	var b string
	ok, err := r.Get(keySourceBranch, &b)
	if err == nil && !ok {
		err = errors.New("the import step recorded no branch")
	}
	return b, err
}

// stepSourceMaterial inspects the imported repository: its own compose
// file is deployed as it is; without one, a Dockerfile at
// contextPath/dockerfile gets compose material that builds it (one
// commit); with neither, PRECONDITION_FAILED (and the import is undone).
func (s *Service) stepSourceMaterial(ctx context.Context, r *ops.Run) error {
	in, err := sourceInput(r)
	if err != nil {
		return err
	}
	branch, err := s.sourceBranch(r)
	if err != nil {
		return err
	}
	var done sourceMaterial
	if ok, err := r.Get(keySourceCompose, &done); err != nil {
		return err
	} else if ok && !done.Generated {
		return nil
	}
	exists := func(p string) (bool, error) {
		_, err := s.repos.GetRawFile(ctx, in.AppID, p, branch)
		switch {
		case err == nil:
			return true, nil
		case notFound(err):
			return false, nil
		}
		return false, retryIfTransient(upstreamErr("gitea", err, "read "+p))
	}
	if done.Generated {
		// A retry after the commit's answer was lost: the file is there.
		if ok, err := exists(generatedCompose); err != nil || ok {
			return err
		}
	} else {
		for _, f := range sourceComposeFiles {
			ok, err := exists(f)
			if err != nil {
				return err
			}
			if ok {
				r.Logf("the repository has its own compose file %s: deployed as it is", f)
				return r.Set(keySourceCompose, sourceMaterial{ComposeFile: f})
			}
		}
	}
	df := path.Join(in.ContextPath, in.Dockerfile)
	ok, err := exists(df)
	if err != nil {
		return err
	}
	if !ok {
		return apperr.Precondition("dockerfile", "%s has neither a compose file (%s) nor a Dockerfile at %s on branch %s", in.GitURL, strings.Join(sourceComposeFiles, ", "), df, branch)
	}
	content, err := sourceCompose(in)
	if err != nil {
		return err
	}
	if err := r.Set(keySourceCompose, sourceMaterial{ComposeFile: generatedCompose, Generated: true}); err != nil {
		return err
	}
	commit := gitea.Commit{Branch: branch, Message: fmt.Sprintf("Build %s from %s with appmanage", in.AppID, df),
		Files: []gitea.FileChange{{Operation: gitea.OpCreate, Path: generatedCompose, Content: content}}}
	if _, err := s.repos.CommitFiles(ctx, in.AppID, commit); err != nil {
		if ok, gerr := exists(generatedCompose); gerr == nil && ok {
			r.Logf("the compose material landed although the call failed")
			return nil
		}
		return retryIfTransient(upstreamErr("gitea", err, "commit the compose material"))
	}
	for _, p := range in.Ports {
		r.Logf("%s", portEvent(p))
	}
	r.Logf("committed %s: service %s builds %s (context %s)", generatedCompose, in.AppID, df, "./"+in.ContextPath)
	return nil
}

// sourceCompose is the generated material: one service, named like the
// app, built from the repository, publishing the planned host port.
func sourceCompose(in SourceInput) ([]byte, error) {
	type build struct {
		Context    string `yaml:"context"`
		Dockerfile string `yaml:"dockerfile"`
	}
	type service struct {
		Build         build             `yaml:"build"`
		ContainerName string            `yaml:"container_name"`
		Restart       string            `yaml:"restart"`
		Ports         []string          `yaml:"ports,omitempty"`
		Environment   map[string]string `yaml:"environment,omitempty"`
		Labels        map[string]string `yaml:"labels,omitempty"`
	}
	ctxPath := "."
	if in.ContextPath != "" {
		ctxPath = "./" + in.ContextPath
	}
	svc := service{Build: build{Context: ctxPath, Dockerfile: in.Dockerfile}, ContainerName: in.AppID, Restart: "unless-stopped"}
	for _, p := range in.Ports {
		svc.Ports = append(svc.Ports, fmt.Sprintf("%d:%d", p.HostPort, p.ContainerPort))
	}
	if in.Port != 0 {
		svc.Labels = map[string]string{"com.docker.compose.http.port": strconv.Itoa(in.Port)}
	}
	if len(in.Env) > 0 {
		svc.Environment = map[string]string{}
		for _, e := range in.Env {
			// Compose interpolates $: a literal one is $$.
			svc.Environment[e.Name] = strings.ReplaceAll(e.Value, "$", "$$")
		}
	}
	doc := map[string]any{"services": map[string]service{in.AppID: svc}}
	b, err := yaml.Marshal(doc)
	if err != nil {
		return nil, apperr.Wrap(apperr.Internal, err, "write the compose material")
	}
	return append([]byte("# Generated by appmanage: builds the image from this repository.\n"), b...), nil
}

// stepSourceStack deploys the repository as a git stack on the endpoint,
// which builds the image; a failed build comes back with its output.
func (s *Service) stepSourceStack(ctx context.Context, r *ops.Run) error {
	in, err := sourceInput(r)
	if err != nil {
		return err
	}
	branch, err := s.sourceBranch(r)
	if err != nil {
		return err
	}
	var mat sourceMaterial
	if ok, err := r.Get(keySourceCompose, &mat); err != nil || !ok {
		if err == nil {
			err = errors.New("the material step recorded no compose file")
		}
		return err
	}
	if err := s.recordVolumesBefore(ctx, r, in.EndpointID, in.AppID); err != nil {
		return err
	}
	tried, err := r.Get(keyStackTried, new(bool))
	if err != nil {
		return err
	}
	var st *portainer.Stack
	err = errNotLookedUp
	if tried || r.Resumed() {
		st, err = s.stacks.FindStackByName(ctx, in.EndpointID, in.AppID)
	} else if serr := r.Set(keyStackTried, true); serr != nil {
		return serr
	}
	if notFound(err) || err == errNotLookedUp {
		var urls repoURLs
		if ok, jerr := r.Get(keyRepoURLs, &urls); jerr != nil || !ok {
			if jerr == nil {
				jerr = errors.New("the import step recorded no repository")
			}
			return jerr
		}
		repo := &gitea.Repository{CloneURL: urls.Clone, HTMLURL: urls.HTML, Owner: urls.Owner, Name: urls.Name}
		req := s.repositoryStack(ctx, in.AppID, repo)
		req.RepositoryReferenceName = "refs/heads/" + branch
		req.ComposeFile = mat.ComposeFile
		r.Logf("deploying stack %s on endpoint %d from %s (%s, %s): the endpoint builds the image", in.AppID, in.EndpointID, urls.HTML, branch, mat.ComposeFile)
		st, err = s.stacks.CreateStackFromRepository(ctx, in.EndpointID, req)
		if err != nil {
			if found, ferr := s.stacks.FindStackByName(ctx, in.EndpointID, in.AppID); ferr == nil {
				st, err = found, nil
				r.Logf("stack %s was created although the call failed; using it", in.AppID)
			}
		}
		if err != nil {
			return retryIfTransient(upstreamErr("portainer", err, "build and deploy stack"))
		}
	} else if err != nil {
		return retryIfTransient(upstreamErr("portainer", err, "look up stack"))
	}
	if err := r.Set("stackId", st.ID); err != nil {
		return err
	}
	r.Logf("stack %s (id %d) built and deployed", st.Name, st.ID)
	return s.waitRunning(ctx, r, in.EndpointID, in.AppID)
}

// stepSourceProxy publishes the domains through NPM, forwarding to the
// app's port on its main container.
func (s *Service) stepSourceProxy(ctx context.Context, r *ops.Run) error {
	in, err := sourceInput(r)
	if err != nil {
		return err
	}
	if len(in.Domains) == 0 {
		r.Logf("no domains: nothing to publish")
		return nil
	}
	tried, err := r.Get(keyProxyTried, new(bool))
	if err != nil {
		return err
	}
	if tried || r.Resumed() {
		found, err := s.findProxy(ctx, in.AppID)
		if err != nil {
			return retryIfTransient(err)
		}
		if found != nil {
			r.Logf("proxy host %d already exists", found.ID)
			return s.checkOnline(ctx, r, found.ID)
		}
	} else if err := r.Set(keyProxyTried, true); err != nil {
		return err
	}
	h, err := s.proxies.CreateProxyHost(ctx, proxymanager.ProxyHostRequest{
		DomainNames: in.Domains, ForwardScheme: "http", ForwardHost: in.AppID, ForwardPort: in.Port,
		BlockExploits: true, AllowWebsocketUpgrade: true,
	})
	if err != nil {
		if found, ferr := s.findProxy(ctx, in.AppID); ferr == nil && found != nil {
			h, err = found, nil
			r.Logf("proxy host %d was created although the call failed; using it", h.ID)
		}
	}
	if err != nil {
		return retryIfTransient(upstreamErr("npm", err, "create proxy host"))
	}
	if err := r.Set("proxyId", h.ID); err != nil {
		return err
	}
	r.Logf("proxy host %d: %s -> http://%s:%d", h.ID, strings.Join(in.Domains, ", "), in.AppID, in.Port)
	return s.checkOnline(ctx, r, h.ID)
}

// sourceKinds are the install kinds, for code that treats both alike.
var sourceKinds = []string{KindInstall, KindInstallSource}

// isInstallKind reports whether kind makes an app exist (install or
// installFromSource).
func isInstallKind(kind string) bool { return slices.Contains(sourceKinds, kind) }

// latestInstalls is LatestOfKind over both install kinds: per app, the
// newer of its latest install and its latest installFromSource.
func latestInstalls(ctx context.Context, lk latestOfKind, ids []string) (map[string]*ops.Operation, error) {
	out, err := lk.LatestOfKind(ctx, KindInstall, ids)
	if err != nil {
		return nil, err
	}
	src, err := lk.LatestOfKind(ctx, KindInstallSource, ids)
	if err != nil {
		return nil, err
	}
	if out == nil {
		out = map[string]*ops.Operation{}
	}
	for id, op := range src {
		if cur := out[id]; cur == nil || op.CreatedAt.After(cur.CreatedAt) {
			out[id] = op
		}
	}
	return out, nil
}
