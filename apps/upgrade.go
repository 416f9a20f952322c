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
	"time"
	"unicode"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/appmanage/appmanage/apperr"
	"github.com/appmanage/appmanage/datasources/gitea"
	"github.com/appmanage/appmanage/datasources/portainer"
	"github.com/appmanage/appmanage/library"
	"github.com/appmanage/appmanage/library/dotenv"
	"github.com/appmanage/appmanage/ops"
)

// KindUpgrade moves an app to another version of its template.
const KindUpgrade = "upgrade"

// Bounds of the upgrade's health gate (UpgradeRequest.HealthTimeout).
const (
	DefaultHealthTimeout = 2 * time.Minute
	MinHealthTimeout     = 5 * time.Second
	MaxHealthTimeout     = 15 * time.Minute
	// restartLoop is how many restarts of one container the gate reads as
	// a restart loop.
	restartLoop = 3
)

// UpgradeRequest is an upgradeApp call.
type UpgradeRequest struct {
	AppID   string
	Version string
	// HealthTimeout bounds the health gate (0 = DefaultHealthTimeout).
	HealthTimeout  time.Duration
	IdempotencyKey string
}

// UpgradeTarget is the version change an upgrade operation journals with
// its MaterialInput: the commit step makes the .env say it.
type UpgradeTarget struct {
	AppName string `json:"appName,omitempty"`
	From    string `json:"from"`
	Version string `json:"version"`
	// Dist is W9_DIST for the new version ("" = keep what the .env has).
	Dist          string        `json:"dist,omitempty"`
	HealthTimeout time.Duration `json:"healthTimeout"`
}

// Journal keys of the upgrade.
const (
	stateUpgradeImages = "upgradeImages" // service -> image of the new version
	stateOldImages     = "oldImages"     // service -> image the old version ran
	stateGateDeadline  = "gateDeadline"  // when the health gate gives up
)

// HTTPProbe requests the app's domain through NPM (the proxy's own
// address, the domain as Host) and returns the HTTP status.
type HTTPProbe func(ctx context.Context, domain string) (int, error)

// UseProbe sets how the health gate reaches an app's domain through NPM;
// nil turns the gate's HTTP check off (it then says so in the events).
func (s *Service) UseProbe(p HTTPProbe) { s.probe = p }

// UpgradeApp moves an app to another version listed in its variables.json
// (the repository's or the library's): preflight (the new images present
// or pullable, host ports unchanged or free), a pre-pull of the new images
// while the old version still runs (progress in the events), one commit of
// the .env (W9_VERSION and any key the template added, every value the
// user set kept), a redeploy with pull and a health gate. A failed gate or
// step reverts the commit with another commit and deploys the old version
// again: the operation ends ROLLED_BACK with the reason. Volumes are never
// touched.
func (s *Service) UpgradeApp(ctx context.Context, req UpgradeRequest) (*ops.Operation, error) {
	if op, done, err := s.replay(ctx, req.IdempotencyKey, KindUpgrade, req.AppID); done {
		return op, err
	}
	if err := s.refuseKube(ctx, req.AppID, "upgrade"); err != nil {
		return nil, err
	}
	timeout := req.HealthTimeout
	if timeout == 0 {
		timeout = DefaultHealthTimeout
	}
	if timeout < MinHealthTimeout || timeout > MaxHealthTimeout {
		return nil, apperr.Invalid("healthTimeout", "want %d to %d seconds", int(MinHealthTimeout.Seconds()), int(MaxHealthTimeout.Seconds()))
	}
	version := strings.TrimSpace(req.Version)
	if version == "" {
		return nil, apperr.Invalid("version", "give the version to upgrade to")
	}
	target := &UpgradeTarget{Version: version, HealthTimeout: timeout}
	in := MaterialInput{Upgrade: target}
	in.PullImages = true
	return s.submitMaterialReserving(ctx, KindUpgrade, req.AppID, req.IdempotencyKey, in, func(ctx context.Context, repo, branch string, st *portainer.Stack) ([]string, error) {
		if !st.Active() {
			return nil, apperr.Precondition("id", "app %s is stopped: start it before upgrading", st.Name)
		}
		env, err := s.repoEnvAt(ctx, repo, branch)
		if err != nil {
			return nil, err
		}
		target.From, _ = env.Get("W9_VERSION")
		target.AppName, _ = env.Get("W9_APP_NAME")
		listed, app, err := s.listedVersions(ctx, repo, branch, target.AppName)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(listed, version) {
			return nil, apperr.Invalid("version", "%s has no version %q; listed: %s", cmp.Or(target.AppName, repo), clip(version), strings.Join(listed, ", "))
		}
		if version == target.From {
			return nil, apperr.Precondition("version", "app %s already runs version %s", st.Name, version)
		}
		if app != nil {
			target.Dist = app.EditionOf(version)
		}
		// The host ports the new version publishes are held while it runs,
		// so no install chooses one the upgrade is about to take (those the
		// app publishes already are its own anyway).
		project, err := s.newProject(ctx, MaterialInput{LifecycleInput: LifecycleInput{AppID: repo}, Branch: branch, Upgrade: target})
		if err != nil {
			return nil, err
		}
		ports, err := publishedPorts(project)
		if err != nil {
			return nil, apperr.Precondition("version", "%v", err)
		}
		var reserve []string
		for _, p := range ports {
			reserve = append(reserve, p.reservation(st.EndpointID))
		}
		return reserve, nil
	})
}

// repoEnvAt parses the .env of repo at ref.
func (s *Service) repoEnvAt(ctx context.Context, repo, ref string) (*dotenv.File, error) {
	raw, err := s.repos.GetRawFile(ctx, repo, envFileName, ref)
	if notFound(err) {
		return nil, apperr.Precondition("id", "the repository of %s has no .env", repo)
	}
	if err != nil {
		return nil, upstreamErr("gitea", err, "read .env")
	}
	env, err := dotenv.Parse(raw)
	if err != nil {
		return nil, apperr.Precondition("id", "the repository's .env cannot be read: %v", err)
	}
	return env, nil
}

// listedVersions are the versions an app may move to: those its
// repository's variables.json lists, then the library's (default first),
// each once; app is the library app (nil when the library has none).
func (s *Service) listedVersions(ctx context.Context, repo, ref, appName string) ([]string, *library.App, error) {
	var out []string
	raw, err := s.repos.GetRawFile(ctx, repo, "variables.json", ref)
	switch {
	case notFound(err):
	case err != nil:
		return nil, nil, upstreamErr("gitea", err, "read variables.json")
	default:
		vs, perr := library.VersionsOf(raw)
		if perr != nil {
			return nil, nil, apperr.Precondition("id", "the repository's variables.json cannot be read: %v", perr)
		}
		out = vs
	}
	app, ok := s.catalog.Get(appName)
	if ok {
		for _, v := range app.Versions() {
			if !slices.Contains(out, v) {
				out = append(out, v)
			}
		}
		return out, app, nil
	}
	return out, nil, nil
}

// Updates lists the versions newer than current that variables (the
// app's variables.json, as read from its repository) or the library app
// appName lists, newest first. Versions are ordered by their numeric
// parts ("1.10" after "1.9"); tags without a leading number, such as
// "latest", cannot be ordered and are never listed.
func (s *Service) Updates(appName, current string, variables map[string]any) []string {
	var listed []string
	if variables != nil {
		if raw, err := json.Marshal(variables); err == nil {
			listed, _ = library.VersionsOf(raw)
		}
	}
	if app, ok := s.catalog.Get(appName); ok {
		for _, v := range app.Versions() {
			if !slices.Contains(listed, v) {
				listed = append(listed, v)
			}
		}
	}
	var out []string
	for _, v := range listed {
		if c, ok := compareVersions(v, current); ok && c > 0 {
			out = append(out, v)
		}
	}
	slices.SortStableFunc(out, func(a, b string) int {
		c, _ := compareVersions(b, a)
		return c
	})
	return out
}

// versionParts splits a version into numeric and other parts ("v1.26-ee"
// -> 1, 26, "ee"); ok is false when it does not start with a number.
func versionParts(v string) ([]any, bool) {
	v = strings.TrimPrefix(strings.TrimSpace(v), "v")
	if v == "" || !unicode.IsDigit(rune(v[0])) {
		return nil, false
	}
	var parts []any
	for _, f := range strings.FieldsFunc(v, func(r rune) bool { return r == '.' || r == '-' || r == '_' || r == '+' }) {
		if n, err := strconv.Atoi(f); err == nil {
			parts = append(parts, n)
		} else {
			parts = append(parts, f)
		}
	}
	return parts, true
}

// compareVersions orders two versions by their parts; ok is false when
// either cannot be ordered. A number sorts after a word in the same place
// (1.2 > 1.2-rc), and a longer version after its prefix (1.2.1 > 1.2).
func compareVersions(a, b string) (int, bool) {
	pa, oka := versionParts(a)
	pb, okb := versionParts(b)
	if !oka || !okb {
		return 0, false
	}
	for i := 0; i < max(len(pa), len(pb)); i++ {
		switch {
		case i >= len(pa):
			if _, word := pb[i].(string); word {
				return 1, true
			}
			return -1, true
		case i >= len(pb):
			if _, word := pa[i].(string); word {
				return -1, true
			}
			return 1, true
		}
		na, aNum := pa[i].(int)
		nb, bNum := pb[i].(int)
		switch {
		case aNum && bNum:
			if na != nb {
				return cmpInt(na, nb), true
			}
		case aNum:
			return 1, true
		case bNum:
			return -1, true
		default:
			if c := strings.Compare(pa[i].(string), pb[i].(string)); c != 0 {
				return c, true
			}
		}
	}
	return 0, true
}

func cmpInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// upgradedEnv is the .env of the new version: W9_VERSION (and W9_DIST when
// the version belongs to another edition) changed, every key the library
// template has and the .env lacks added with the template's value, and
// every other value kept as the user has it. added names the new keys.
func upgradedEnv(env *dotenv.File, up *UpgradeTarget, app *library.App) (added []string, err error) {
	if err := env.Set("W9_VERSION", up.Version); err != nil {
		return nil, apperr.Invalid("version", "%v", err)
	}
	if up.Dist != "" && env.Has("W9_DIST") {
		if err := env.Set("W9_DIST", up.Dist); err != nil {
			return nil, apperr.Invalid("version", "%v", err)
		}
	}
	if app == nil || app.Env == nil {
		return nil, nil
	}
	for _, k := range app.Env.Keys() {
		if env.Has(k) {
			continue
		}
		v, _ := app.Env.Get(k)
		if k == "W9_POWER_PASSWORD" || k == "W9_RCODE" {
			// As an install writes them: fresh, never the template's.
			if v, err = GeneratePassword(20); err != nil {
				return nil, err
			}
		}
		if err := env.Set(k, v); err != nil {
			return nil, apperr.Invalid("version", "template key %s: %v", k, err)
		}
		added = append(added, k)
	}
	return added, nil
}

// upgradeChanges is the upgrade's one commit on top of head: the .env of
// the new version (nothing when head already has it).
func (s *Service) upgradeChanges(ctx context.Context, in MaterialInput, repo, head string) ([]gitea.FileChange, string, error) {
	up := in.Upgrade
	summary := fmt.Sprintf("Upgrade %s from %s to %s", cmp.Or(up.AppName, repo), up.From, up.Version)
	f, err := s.repos.GetFile(ctx, repo, envFileName, head)
	if err != nil {
		return nil, summary, upstreamErr("gitea", err, "read .env")
	}
	env, err := dotenv.Parse(f.Content)
	if err != nil {
		return nil, summary, apperr.Precondition("id", "the repository's .env cannot be read: %v", err)
	}
	app, _ := s.catalog.Get(up.AppName)
	added, err := upgradedEnv(env, up, app)
	if err != nil {
		return nil, summary, err
	}
	if bytes.Equal(env.Bytes(), f.Content) {
		return nil, summary, nil
	}
	if len(added) > 0 {
		summary += "\n\nNew .env keys of the template: " + strings.Join(added, ", ")
	}
	return []gitea.FileChange{{Operation: gitea.OpUpdate, Path: envFileName, Content: env.Bytes(), SHA: f.SHA}}, summary, nil
}

func (s *Service) upgradeWorkflow() ops.Workflow {
	m := s.materialWorkflows()[0].Steps // commit, redeploy: shared with update-files and rollback
	commit := m[0]
	gateTimeout := MaxHealthTimeout + s.cfg.StepTimeout
	return ops.Workflow{Kind: KindUpgrade, Steps: []ops.Step{
		{Name: "preflight", Weight: 1, Timeout: s.cfg.StepTimeout, Retries: 2, Do: s.stepUpgradePreflight},
		{Name: "pull", Weight: 4, Timeout: s.cfg.DeployTimeout, Retries: 2, Do: s.stepUpgradePull},
		commit,
		{Name: "redeploy", Weight: 3, Timeout: s.cfg.DeployTimeout, Retries: 2, Do: s.stepUpgradeRedeploy},
		{Name: "health", Weight: 2, Timeout: gateTimeout, Do: s.stepHealthGate},
	}}
}

// newProject loads the compose file at the branch head with the .env the
// upgrade will commit.
func (s *Service) newProject(ctx context.Context, in MaterialInput) (*types.Project, error) {
	repo := in.AppID
	compose, err := s.repos.GetRawFile(ctx, repo, composeFileName, in.Branch)
	if err != nil {
		return nil, retryIfTransient(upstreamErr("gitea", err, "read "+composeFileName))
	}
	env, err := s.repoEnvAt(ctx, repo, in.Branch)
	if err != nil {
		return nil, retryIfTransient(err)
	}
	app, _ := s.catalog.Get(in.Upgrade.AppName)
	if _, err := upgradedEnv(env, in.Upgrade, app); err != nil {
		return nil, err
	}
	name := cmp.Or(in.Upgrade.AppName, repo)
	project, err := composeProject(ctx, &library.App{Name: name}, repo, map[string][]byte{
		envFileName: env.Bytes(), composeFileName: compose,
	})
	if err != nil {
		return nil, apperr.Precondition("version", "%s %s: %v", name, in.Upgrade.Version, err)
	}
	return project, nil
}

// serviceImages maps each service of the project to its image.
func serviceImages(p *types.Project) map[string]string {
	out := map[string]string{}
	for name, svc := range p.Services {
		if svc.Image != "" {
			out[name] = svc.Image
		}
	}
	return out
}

// stepUpgradePreflight checks what the new version needs before anything
// changes: its compose file loads with the new .env, every host port it
// publishes is the app's own already or free on the endpoint, and every
// image is on the endpoint or can be pulled. It journals the images.
func (s *Service) stepUpgradePreflight(ctx context.Context, r *ops.Run) error {
	in, _, err := s.materialInput(r)
	if err != nil {
		return err
	}
	project, err := s.newProject(ctx, in)
	if err != nil {
		return err
	}
	cs, err := s.stacks.ListContainers(ctx, in.EndpointID, portainer.ContainerFilter{All: true})
	if err != nil {
		return retryIfTransient(upstreamErr("portainer", err, "list containers"))
	}
	var own, others []portainer.Container
	for _, c := range cs {
		if strings.EqualFold(c.Labels[projectLabel], in.AppID) {
			own = append(own, c)
		} else {
			others = append(others, c)
		}
	}
	ports, err := publishedPorts(project)
	if err != nil {
		return apperr.Precondition("version", "%v", err)
	}
	var taken map[int]string // what else holds a port: read only when the new version publishes a new one
	for _, p := range ports {
		if holder := portHolder(others, p); holder != "" {
			return apperr.Precondition("version", "version %s publishes %s, which container %s holds on endpoint %d",
				in.Upgrade.Version, p.describe(), holder, in.EndpointID)
		}
		if portHolder(own, p) != "" {
			r.Logf("host port %d/%s: the app's own already", p.HostPort, p.Protocol)
			continue
		}
		if taken == nil {
			if taken, err = s.takenPorts(ctx, in.EndpointID); err != nil {
				return retryIfTransient(err)
			}
		}
		// (The upgrade's own reservation of the port names its operation.)
		if holder := taken[p.HostPort]; holder != "" && !strings.Contains(holder, r.OperationID()) {
			return apperr.Precondition("version", "version %s publishes %s, which %s holds on endpoint %d",
				in.Upgrade.Version, p.describe(), holder, in.EndpointID)
		}
		r.Logf("host port %d/%s: new, and free on endpoint %d", p.HostPort, p.Protocol, in.EndpointID)
	}
	images := serviceImages(project)
	old := map[string]string{}
	for _, c := range own {
		if svc := c.Labels["com.docker.compose.service"]; svc != "" {
			old[svc] = c.Image
		}
	}
	if err := s.upgradeImagesPullable(ctx, r, in, project); err != nil {
		return err
	}
	if err := r.Set(stateOldImages, old); err != nil {
		return err
	}
	return r.Set(stateUpgradeImages, images)
}

// upgradeImagesPullable is the upgrade preflight's image check, the
// install's (checkImages, the rule of unpullable): each image of the new
// version is on the endpoint (image inspect) or a registry serves it
// (mirrors first), else PRECONDITION_FAILED naming what was tried. An
// image only a mirror serves is refused too: the install points the
// compose file at the mirror, but the upgrade's one commit is the .env,
// and writing a mirror's literal reference into the compose file would
// pin the tag W9_VERSION sets there for every later upgrade. Without a
// registry checker, reachability is left to the pull step, which proves
// it.
func (s *Service) upgradeImagesPullable(ctx context.Context, r *ops.Run, in MaterialInput, project *types.Project) error {
	checked := s.checkImages(ctx, in.EndpointID, composeImages(project))
	for _, im := range checked {
		switch {
		case im.Present != nil && *im.Present:
			r.Logf("image %s: present on endpoint %d", im.Ref, in.EndpointID)
		case im.Reachable:
			r.Logf("image %s: not on endpoint %d yet, served by %s; it is pulled next", im.Ref, in.EndpointID, im.Via)
		default:
			r.Logf("image %s: not known to be on endpoint %d (%s); it is pulled next", im.Ref, in.EndpointID, strings.Join(im.Tried, "; "))
		}
	}
	if s.cfg.Registries == nil {
		return nil
	}
	rewrites, bad := unpullable(in.EndpointID, checked)
	if len(bad) > 0 {
		return refuseImages(bad, "")
	}
	if len(rewrites) > 0 {
		var only []string
		for _, svc := range sortedKeys(rewrites) {
			only = append(only, fmt.Sprintf("service %s: %s", svc, rewrites[svc]))
		}
		return apperr.Precondition("images", "version %s: images served only by a mirror (%s); an upgrade commits only the .env, so the compose file cannot name the mirror: pull them on the endpoint first",
			in.Upgrade.Version, strings.Join(only, ", "))
	}
	return nil
}

// stepUpgradePull pulls the new version's images on the endpoint while the
// old version still runs, so the redeploy only swaps containers.
func (s *Service) stepUpgradePull(ctx context.Context, r *ops.Run) error {
	in, _, err := s.materialInput(r)
	if err != nil {
		return err
	}
	var images, old map[string]string
	if _, err := r.Get(stateUpgradeImages, &images); err != nil {
		return err
	}
	if _, err := r.Get(stateOldImages, &old); err != nil {
		return err
	}
	var refs []string
	for _, svc := range sortedKeys(images) {
		if ref := images[svc]; !slices.Contains(refs, ref) {
			refs = append(refs, ref)
		}
	}
	for _, ref := range refs {
		if slices.Contains(mapValues(old), ref) {
			r.Logf("image %s: the old version runs it already", ref)
			continue
		}
		if err := s.pullImage(ctx, r, in.EndpointID, ref); err != nil {
			return err
		}
	}
	return nil
}

func mapValues(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// stepUpgradeRedeploy redeploys the stack from the new commit, pulling
// images. It does not wait: the health gate does, with its own timeout.
func (s *Service) stepUpgradeRedeploy(ctx context.Context, r *ops.Run) error {
	if err := r.Set(stateRedeployTried, true); err != nil {
		return err
	}
	in, st, err := s.currentStack(ctx, r)
	if err != nil {
		return err
	}
	out, err := s.redeployStack(ctx, st, in.PullImages)
	if err != nil {
		return retryIfTransient(err)
	}
	hash := ""
	if out.GitConfig != nil {
		hash = out.GitConfig.ConfigHash
	}
	r.Logf("redeployed stack %s from %s at %s, pulling images", st.Name, st.GitConfig.ReferenceName, shortID(hash))
	return nil
}

// gateError is a failed health gate: its message is the operation's error.
func gateError(format string, args ...any) error {
	return apperr.New(apperr.PreconditionFailed, "health gate: "+format, args...)
}

// stepHealthGate waits, up to the request's healthTimeout, until the new
// version is healthy: the main container runs the new image (and reports
// healthy when it has a health check), no container of the app restarts in
// a loop, and the app's first domain answers below 500 through NPM. A
// container that exited for good, or restarts in a loop, fails it at once.
func (s *Service) stepHealthGate(ctx context.Context, r *ops.Run) error {
	in, _, err := s.materialInput(r)
	if err != nil {
		return err
	}
	var deadline time.Time
	if ok, err := r.Get(stateGateDeadline, &deadline); err != nil {
		return err
	} else if !ok {
		deadline = time.Now().Add(in.Upgrade.HealthTimeout)
		if err := r.Set(stateGateDeadline, deadline); err != nil {
			return err
		}
	}
	var images map[string]string
	if _, err := r.Get(stateUpgradeImages, &images); err != nil {
		return err
	}
	r.Logf("health gate: waiting up to %s (until %s)", time.Until(deadline).Round(time.Second), deadline.UTC().Format(time.RFC3339))
	domain, domainKnown := "", false
	wait := 250 * time.Millisecond
	for {
		var reason string
		var fatal bool
		if !domainKnown {
			// The domain the HTTP check asks: the first of the app's first
			// enabled proxy host. NPM not answering is a reason to look
			// again, not a verdict.
			if domain, err = s.gateDomain(ctx, r, in.AppID); err != nil {
				reason = err.Error()
			} else {
				domainKnown = true
			}
		}
		if domainKnown {
			if reason, fatal, err = s.checkHealth(ctx, in, images, domain); err != nil {
				return err
			}
		}
		if reason == "" {
			r.Logf("health gate passed: %s %s is healthy", in.AppID, in.Upgrade.Version)
			return nil
		}
		if fatal {
			return gateError("%s", reason)
		}
		if time.Now().After(deadline) {
			return gateError("%s after %s", reason, in.Upgrade.HealthTimeout)
		}
		select {
		case <-ctx.Done():
			return gateError("%s (%v)", reason, ctx.Err())
		case <-time.After(min(wait, time.Until(deadline)+time.Millisecond)):
		}
		wait = min(wait*2, 3*time.Second)
	}
}

// gateDomain is the domain the gate's HTTP check asks ("" for none: the
// app has no enabled proxy host, or no probe is configured).
func (s *Service) gateDomain(ctx context.Context, r *ops.Run, appID string) (string, error) {
	hosts, err := s.appProxies(ctx, appID)
	if err != nil {
		return "", err
	}
	for _, h := range hosts {
		if h.Enabled && len(h.DomainNames) > 0 {
			if s.probe == nil {
				r.Logf("health gate: no HTTP probe is configured, so %s is not requested", h.DomainNames[0])
				return "", nil
			}
			return h.DomainNames[0], nil
		}
	}
	r.Logf("health gate: the app has no enabled domain, so no HTTP check")
	return "", nil
}

// checkHealth is one look at the app: reason is "" when healthy, else why
// not; fatal when waiting cannot help. A read that fails is a reason to
// look again, not a verdict.
func (s *Service) checkHealth(ctx context.Context, in MaterialInput, images map[string]string, domain string) (reason string, fatal bool, err error) {
	cs, err := s.stacks.ListContainers(ctx, in.EndpointID, portainer.ContainerFilter{All: true, Labels: []string{projectLabel + "=" + in.AppID}})
	if err != nil {
		return "the app's containers cannot be listed: " + err.Error(), false, nil
	}
	main := mainContainer(cs, in.AppID)
	if main == nil {
		return fmt.Sprintf("the app has no container on endpoint %d", in.EndpointID), false, nil
	}
	var mainReason string
	for _, c := range cs {
		name := c.Name()
		ci, err := s.stacks.InspectContainer(ctx, in.EndpointID, c.ID)
		if notFound(err) {
			return fmt.Sprintf("container %s went away", name), false, nil
		}
		if err != nil {
			return fmt.Sprintf("container %s cannot be inspected: %v", name, err), false, nil
		}
		stt := portainer.ContainerState{Status: c.State}
		if ci.State != nil {
			stt = *ci.State
		}
		if ci.RestartCount >= restartLoop {
			return fmt.Sprintf("container %s restarts in a loop (%d restarts; state %s, exit code %d)", name, ci.RestartCount, stt.Status, stt.ExitCode), true, nil
		}
		isMain := c.ID == main.ID
		if !isMain {
			continue
		}
		image := c.Image
		if ci.Config != nil && ci.Config.Image != "" {
			image = ci.Config.Image
		}
		if want := images[c.Labels["com.docker.compose.service"]]; want != "" && image != want {
			mainReason = fmt.Sprintf("container %s runs image %s, not %s", name, image, want)
			continue
		}
		switch {
		case stt.Status == "running" && stt.Health != nil && stt.Health.Status != "healthy":
			mainReason = fmt.Sprintf("container %s is running but %s", name, stt.Health.Status)
		case stt.Status == "running":
		case (stt.Status == "exited" || stt.Status == "dead") && !restarts(ci):
			return fmt.Sprintf("container %s is %s (exit code %d)", name, stt.Status, stt.ExitCode), true, nil
		default:
			mainReason = fmt.Sprintf("container %s is %s (exit code %d)", name, stt.Status, stt.ExitCode)
		}
	}
	if mainReason != "" {
		return mainReason, false, nil
	}
	if domain != "" {
		status, err := s.probe(ctx, domain)
		switch {
		case err != nil:
			return fmt.Sprintf("HTTP request to %s through NPM failed: %v", domain, err), false, nil
		case status >= 500:
			return fmt.Sprintf("HTTP request to %s through NPM answered %d", domain, status), false, nil
		}
	}
	return "", false, nil
}

// restarts reports whether Docker will start the container again by
// itself (its restart policy).
func restarts(ci *portainer.ContainerJSON) bool {
	switch ci.HostConfig.RestartPolicy.Name {
	case "always", "unless-stopped":
		return true
	case "on-failure":
		return ci.State != nil && ci.State.ExitCode != 0
	}
	return false
}
