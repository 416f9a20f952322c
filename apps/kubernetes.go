package apps

// Apps on Kubernetes environments (EndpointKind.Kubernetes). The app's
// material is written to its Gitea repository as for every install (one
// commit), then deployed through Portainer in the namespace named after the
// app id:
//
//   - Kubernetes manifests (library kubernetes/*.yaml) as a Portainer
//     Kubernetes stack from the repository
//     (POST /stacks/create/kubernetes/repository);
//   - a Helm chart reference (library helm.json) through Portainer's Helm
//     route (POST /endpoints/{id}/kubernetes/helm), with the values file
//     read back from the repository.
//
// Status and the App's containers come from the environment's Deployments
// (one list per environment per poll, through Portainer's Kubernetes
// proxy); stop scales every Deployment of the namespace to 0 (the replicas
// kept in an annotation), start scales them back. What Portainer cannot do
// for a form is refused with PRECONDITION_FAILED.

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/appmanage/appmanage/apperr"
	"github.com/appmanage/appmanage/datasources/gitea"
	"github.com/appmanage/appmanage/datasources/portainer"
	"github.com/appmanage/appmanage/datasources/upstream"
	"github.com/appmanage/appmanage/library"
	"github.com/appmanage/appmanage/ops"
)

// KubeStacks is what apps needs of Portainer for Kubernetes environments.
type KubeStacks interface {
	CreateKubernetesStackFromRepository(ctx context.Context, endpointID int, req portainer.KubernetesRepositoryStackRequest) (*portainer.Stack, error)
	CreateNamespace(ctx context.Context, endpointID int, name string, annotations map[string]string) error
	DeleteNamespace(ctx context.Context, endpointID int, name string) error
	InstallHelmChart(ctx context.Context, endpointID int, req portainer.HelmInstallRequest) (*portainer.HelmRelease, error)
	ListHelmReleases(ctx context.Context, endpointID int, namespace string) ([]portainer.HelmReleaseElement, error)
	DeleteHelmRelease(ctx context.Context, endpointID int, name, namespace string) error
	ListDeployments(ctx context.Context, endpointID int, namespace string) ([]portainer.Deployment, error)
	ScaleDeployment(ctx context.Context, endpointID int, namespace, name string, replicas int, annotations map[string]*string) error
}

// The material an install deploys on a Kubernetes environment
// (InstallInput.Material, LifecycleInput.Material); "" is compose.
const (
	MaterialKubernetes = "kubernetes"
	MaterialHelm       = "helm"
)

// appAnnotation marks the namespaces appmanage creates.
const appAnnotation = "appmanage.io/app"

// Journal keys of the Kubernetes stack step.
const (
	keyNSTried      = "namespaceCreateTried" // bool: an attempt sent the namespace create
	keyNSForeign    = "namespaceForeign"     // bool: the namespace existed before this install
	keyKubeTried    = "kubeDeployTried"      // bool: an attempt sent the stack create or Helm install
	keyHelmValues   = "helmValuesPath"       // string: the values file read from the repository
	keyHelmRelease  = "helmRelease"          // string: the release name
	kubeReadyPoll   = 50 * time.Millisecond
	kubeReadyPollUp = 2 * time.Second
)

// systemNamespaces hold the cluster's own workloads, never an app.
var systemNamespaces = []string{"default", "kube-system", "kube-public", "kube-node-lease", "portainer"}

// endpointOf returns the endpoint id from the (cached) endpoint list.
func (s *Service) endpointOf(ctx context.Context, id int) (*portainer.Endpoint, error) {
	eps, err := s.cachedEndpoints(ctx)
	if err != nil {
		return nil, upstreamErr("portainer", err, "list endpoints")
	}
	for i := range eps {
		if eps[i].ID == id {
			return &eps[i], nil
		}
	}
	return nil, apperr.New(apperr.NotFound, "no endpoint %d", id)
}

// isKubeEndpoint reports whether endpoint id is a Kubernetes environment
// (false when it cannot be told).
func (s *Service) isKubeEndpoint(ctx context.Context, id int) bool {
	ep, err := s.endpointOf(ctx, id)
	return err == nil && ep.Kind().Kubernetes()
}

// materialFor chooses the form of app's material for endpoint ep: "" for
// compose on a Docker environment, MaterialKubernetes or MaterialHelm on a
// Kubernetes one; an app with no form for the endpoint is refused.
func materialFor(app *library.App, ep *portainer.Endpoint) (string, error) {
	kinds := app.MaterialKinds()
	names := make([]string, len(kinds))
	for i, k := range kinds {
		names[i] = string(k)
	}
	have := strings.Join(names, ", ")
	switch k := ep.Kind(); {
	case k.Docker():
		if app.HasCompose() {
			return "", nil
		}
		return "", apperr.Precondition("endpointId", "app %s has no docker-compose.yml: its material (%s) has no form for Docker endpoint %d (%s); choose a Kubernetes endpoint", app.Name, have, ep.ID, ep.Name)
	case k.Kubernetes():
		if len(app.Manifests) > 0 {
			return MaterialKubernetes, nil
		}
		if app.Helm != nil && !app.Helm.Folder {
			return MaterialHelm, nil
		}
		if app.Helm != nil {
			return "", apperr.Precondition("endpointId", "app %s ships its Helm chart as a chart/ folder, but Portainer's Helm route installs charts from a chart repository only: publish the chart and name it in helm.json, or add Kubernetes manifests in kubernetes/", app.Name)
		}
		return "", apperr.Precondition("endpointId", "app %s has only compose material (%s), which Portainer cannot deploy on Kubernetes endpoint %d (%s): it needs Kubernetes manifests (kubernetes/) or a Helm chart (helm.json)", app.Name, have, ep.ID, ep.Name)
	default:
		return "", apperr.Precondition("endpointId", "endpoint %d (%s) is of type %s, where appmanage deploys nothing", ep.ID, ep.Name, k)
	}
}

// kubeInstall takes over Install for a Kubernetes endpoint, and refuses an
// app without compose material on a Docker one. done is false for a compose
// install, which Install goes on with.
func (s *Service) kubeInstall(ctx context.Context, key string, in InstallInput, app *library.App, ep *portainer.Endpoint) (op *ops.Operation, done bool, err error) {
	plan, done, err := s.kubePlan(ctx, in, app, ep)
	if !done || err != nil {
		return nil, done, err
	}
	in = plan.Input
	unlock, err := s.claims.lock(ctx, []string{"app:" + in.AppID})
	if err != nil {
		return nil, true, err
	}
	defer unlock()
	if err := s.refuseActive(ctx, in.AppID); err != nil {
		return nil, true, err
	}
	if err := s.kubePreflight(ctx, in); err != nil {
		return nil, true, err
	}
	op, err = s.engine.Submit(ctx, ops.SubmitRequest{Kind: KindInstall, AppID: in.AppID, Input: in, IdempotencyKey: key})
	return op, true, err
}

// kubePlan is Install's planning for a Kubernetes endpoint (done false for
// a compose install): the material, no host ports, no domains.
func (s *Service) kubePlan(ctx context.Context, in InstallInput, app *library.App, ep *portainer.Endpoint) (*InstallPlan, bool, error) {
	material, err := materialFor(app, ep)
	if err != nil {
		return nil, true, err
	}
	if material == "" {
		return nil, false, nil
	}
	if len(in.Domains) > 0 {
		return nil, true, apperr.Precondition("domains", "domains cannot be published for an app on Kubernetes endpoint %d: Nginx Proxy Manager forwards to a container name on its Docker network, and appmanage does not manage a NodePort, LoadBalancer or Ingress address for the app's Service; install without domains", ep.ID)
	}
	in.Material = material
	in.EndpointID = ep.ID
	in.Actor = actor(ctx)
	in.URL = ""
	in.Ports, in.HostPorts, in.WebPort = nil, nil, 0
	return &InstallPlan{Input: in}, true, nil
}

// kubePreflight checks that nothing uses the app id: a Gitea repository, a
// Portainer stack, Deployments or a Helm release in the namespace, an NPM
// host forwarding to it.
func (s *Service) kubePreflight(ctx context.Context, in InstallInput) error {
	g, gctx := errgroup.WithContext(ctx)
	problems := make([]error, 5)
	g.Go(func() error {
		_, err := s.repos.GetRepo(gctx, in.AppID)
		switch {
		case err == nil:
			problems[0] = apperr.New(apperr.Conflict, "app id %q is taken: Gitea already has a repository %s/%s", in.AppID, s.repos.Owner(), in.AppID)
		case !notFound(err):
			return upstreamErr("gitea", err, "look up repository")
		}
		return nil
	})
	g.Go(func() error {
		stacks, err := s.stacks.ListStacks(gctx, 0)
		if err != nil {
			return upstreamErr("portainer", err, "list stacks")
		}
		for _, st := range stacks {
			if strings.EqualFold(st.Name, in.AppID) {
				problems[1] = apperr.New(apperr.Conflict, "app id %q is taken: Portainer already has a stack of that name on endpoint %d", in.AppID, st.EndpointID)
			}
		}
		return nil
	})
	g.Go(func() error {
		ds, err := s.stacks.ListDeployments(gctx, in.EndpointID, in.AppID)
		if err != nil {
			return upstreamErr("portainer", err, "list the deployments of namespace "+in.AppID)
		}
		if len(ds) > 0 {
			problems[2] = apperr.New(apperr.Conflict, "app id %q is taken: namespace %s on endpoint %d already runs deployment %s", in.AppID, in.AppID, in.EndpointID, ds[0].Metadata.Name)
		}
		return nil
	})
	g.Go(func() error {
		rels, err := s.stacks.ListHelmReleases(gctx, in.EndpointID, in.AppID)
		if err != nil {
			return upstreamErr("portainer", err, "list Helm releases")
		}
		if len(rels) > 0 {
			problems[3] = apperr.New(apperr.Conflict, "app id %q is taken: namespace %s on endpoint %d holds Helm release %s", in.AppID, in.AppID, in.EndpointID, rels[0].Name)
		}
		return nil
	})
	g.Go(func() error {
		hosts, err := s.proxies.ListProxyHosts(gctx)
		if err != nil {
			return upstreamErr("npm", err, "list proxy hosts")
		}
		for _, h := range hosts {
			if strings.EqualFold(h.ForwardHost, in.AppID) {
				problems[4] = apperr.New(apperr.Conflict, "app id %q is taken: NPM proxy host %d already forwards to it", in.AppID, h.ID)
			}
		}
		return nil
	})
	if err := g.Wait(); err != nil {
		return err
	}
	for _, p := range problems {
		if p != nil {
			return p
		}
	}
	return nil
}

// kubeStepStack is the install's stack step on a Kubernetes endpoint:
// the namespace, then the stack or the Helm release, then ready pods.
func (s *Service) kubeStepStack(ctx context.Context, r *ops.Run, in InstallInput, app *library.App) error {
	if err := s.kubeNamespace(ctx, r, in); err != nil {
		return err
	}
	tried, err := r.Get(keyKubeTried, new(bool))
	if err != nil {
		return err
	}
	lookFirst := tried || r.Resumed()
	if !lookFirst {
		if err := r.Set(keyKubeTried, true); err != nil {
			return err
		}
	}
	switch in.Material {
	case MaterialKubernetes:
		err = s.kubeDeployManifests(ctx, r, in, app, lookFirst)
	case MaterialHelm:
		err = s.kubeDeployHelm(ctx, r, in, app, lookFirst)
	default:
		err = apperr.New(apperr.Internal, "unknown material %q", in.Material)
	}
	if err != nil {
		return err
	}
	return s.waitKubeReady(ctx, r, in.EndpointID, in.AppID)
}

// kubeNamespace creates the app's namespace, once.
func (s *Service) kubeNamespace(ctx context.Context, r *ops.Run, in InstallInput) error {
	tried, err := r.Get(keyNSTried, new(bool))
	if err != nil {
		return err
	}
	if !tried {
		if err := r.Set(keyNSTried, true); err != nil {
			return err
		}
	}
	err = s.stacks.CreateNamespace(ctx, in.EndpointID, in.AppID, map[string]string{appAnnotation: in.AppID})
	switch {
	case err == nil:
		r.Logf("created namespace %s on endpoint %d", in.AppID, in.EndpointID)
	case errors.Is(err, upstream.ErrConflict) && (tried || r.Resumed()):
		r.Logf("namespace %s exists (an earlier attempt created it)", in.AppID)
	case errors.Is(err, upstream.ErrConflict):
		if serr := r.Set(keyNSForeign, true); serr != nil {
			return serr
		}
		return apperr.New(apperr.Conflict, "app id %q is taken: namespace %s already exists on endpoint %d", in.AppID, in.AppID, in.EndpointID)
	default:
		return retryIfTransient(upstreamErr("portainer", err, "create namespace "+in.AppID))
	}
	return nil
}

func (s *Service) kubeDeployManifests(ctx context.Context, r *ops.Run, in InstallInput, app *library.App, lookFirst bool) error {
	if lookFirst {
		st, err := s.stacks.FindStackByName(ctx, in.EndpointID, in.AppID)
		if err == nil {
			r.Logf("Kubernetes stack %s (id %d) already exists", st.Name, st.ID)
			return r.Set("stackId", st.ID)
		}
		if !notFound(err) {
			return retryIfTransient(upstreamErr("portainer", err, "look up stack"))
		}
	}
	var urls repoURLs
	if _, err := r.Get(keyRepoURLs, &urls); err != nil {
		return err
	}
	if urls.Clone == "" {
		repo, err := s.repos.GetRepo(ctx, in.AppID)
		if err != nil {
			return retryIfTransient(upstreamErr("gitea", err, "read repository"))
		}
		urls = repoURLs{Clone: repo.CloneURL, HTML: repo.HTMLURL, Owner: repo.Owner, Name: repo.Name}
	}
	req := s.kubeStackRequest(ctx, in.AppID, urls, app.Manifests)
	r.Logf("deploying Kubernetes stack %s in namespace %s on endpoint %d from %s (%s)", in.AppID, in.AppID, in.EndpointID, urls.HTML, strings.Join(app.Manifests, ", "))
	st, err := s.stacks.CreateKubernetesStackFromRepository(ctx, in.EndpointID, req)
	if err != nil {
		if found, ferr := s.stacks.FindStackByName(ctx, in.EndpointID, in.AppID); ferr == nil {
			st, err = found, nil
			r.Logf("stack %s was created although the call failed; using it", in.AppID)
		}
	}
	if err != nil {
		return retryIfTransient(upstreamErr("portainer", err, "create Kubernetes stack"))
	}
	r.Logf("Kubernetes stack %s (id %d) deployed", st.Name, st.ID)
	return r.Set("stackId", st.ID)
}

// kubeStackRequest deploys the app's repository's manifests.
func (s *Service) kubeStackRequest(ctx context.Context, appID string, urls repoURLs, manifests []string) portainer.KubernetesRepositoryStackRequest {
	git := s.ups(ctx).git
	req := portainer.KubernetesRepositoryStackRequest{
		StackName: appID, Namespace: appID,
		RepositoryURL:            s.cloneURL(ctx, &gitea.Repository{CloneURL: urls.Clone, Owner: urls.Owner, Name: urls.Name}),
		RepositoryReferenceName:  "refs/heads/main",
		RepositoryAuthentication: git.Password != "",
		RepositoryUsername:       git.Username,
		RepositoryPassword:       git.Password,
	}
	if len(manifests) > 0 {
		req.ManifestFile, req.AdditionalFiles = manifests[0], slices.Clone(manifests[1:])
	}
	return req
}

func (s *Service) kubeDeployHelm(ctx context.Context, r *ops.Run, in InstallInput, app *library.App, lookFirst bool) error {
	if app.Helm == nil {
		return apperr.Precondition("appName", "app %s has no Helm chart any more", app.Name)
	}
	if lookFirst {
		found, err := s.findRelease(ctx, in.EndpointID, in.AppID)
		if err != nil {
			return retryIfTransient(err)
		}
		if found {
			r.Logf("Helm release %s already exists", in.AppID)
			return r.Set(keyHelmRelease, in.AppID)
		}
	}
	// The values are the repository's: what the commit holds is what is
	// installed.
	var values []byte
	if p := app.Helm.ValuesPath; p != "" {
		b, err := s.repos.GetRawFile(ctx, in.AppID, p, "main")
		if err != nil && !notFound(err) {
			return retryIfTransient(upstreamErr("gitea", err, "read "+p))
		}
		values = b
		if err := r.Set(keyHelmValues, p); err != nil {
			return err
		}
	}
	r.Logf("installing chart %s from %s as Helm release %s in namespace %s on endpoint %d (Portainer installs the repository's newest version; helm.json names %s)",
		app.Helm.Chart, app.Helm.Repository, in.AppID, in.AppID, in.EndpointID, app.Helm.Version)
	_, err := s.stacks.InstallHelmChart(ctx, in.EndpointID, portainer.HelmInstallRequest{
		Chart: app.Helm.Chart, Repo: app.Helm.Repository, Name: in.AppID, Namespace: in.AppID, Values: string(values),
	})
	if err != nil {
		if found, ferr := s.findRelease(ctx, in.EndpointID, in.AppID); ferr == nil && found {
			err = nil
			r.Logf("release %s was installed although the call failed; using it", in.AppID)
		}
	}
	if err != nil {
		return retryIfTransient(upstreamErr("portainer", err, "install Helm chart"))
	}
	r.Logf("Helm release %s installed", in.AppID)
	return r.Set(keyHelmRelease, in.AppID)
}

// findRelease reports whether the app's release exists in its namespace.
func (s *Service) findRelease(ctx context.Context, endpointID int, appID string) (bool, error) {
	rels, err := s.stacks.ListHelmReleases(ctx, endpointID, appID)
	if err != nil {
		return false, upstreamErr("portainer", err, "list Helm releases")
	}
	return slices.ContainsFunc(rels, func(h portainer.HelmReleaseElement) bool { return h.Name == appID }), nil
}

// waitKubeReady waits until the namespace has Deployments and every one
// has its replicas ready.
func (s *Service) waitKubeReady(ctx context.Context, r *ops.Run, endpointID int, ns string) error {
	deadline := time.Now().Add(s.cfg.ContainerWait)
	wait := kubeReadyPoll
	for {
		ds, err := s.stacks.ListDeployments(ctx, endpointID, ns)
		if err != nil && !transient(err) {
			return upstreamErr("portainer", err, "list the app's deployments")
		}
		if err == nil && len(ds) > 0 && allReady(ds) {
			r.Logf("%d deployment(s) of namespace %s ready", len(ds), ns)
			return nil
		}
		if time.Now().After(deadline) {
			return apperr.New(apperr.PreconditionFailed, "the app's deployments were not ready within %s", s.cfg.ContainerWait)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = min(wait*2, kubeReadyPollUp)
	}
}

func allReady(ds []portainer.Deployment) bool {
	for _, d := range ds {
		if d.Status.ReadyReplicas < d.DesiredReplicas() {
			return false
		}
	}
	return true
}

// kubeUndoStack removes what the install's stack step made.
func (s *Service) kubeUndoStack(ctx context.Context, r *ops.Run, in InstallInput) error {
	foreign, err := r.Get(keyNSForeign, new(bool))
	if err != nil {
		return err
	}
	tried, err := r.Get(keyNSTried, new(bool))
	if err != nil {
		return err
	}
	if !tried && !r.Resumed() {
		return nil // the step never got as far as the namespace
	}
	if foreign {
		r.Logf("namespace %s existed before this install: left alone", in.AppID)
		return nil
	}
	return s.kubeRemove(ctx, r, in.EndpointID, in.AppID, 0)
}

// kubeRemove deletes the app's Kubernetes stack (by knownID, else by name),
// its Helm release and its namespace; each "already gone" is done.
func (s *Service) kubeRemove(ctx context.Context, r *ops.Run, endpointID int, appID string, knownID int) error {
	if err := s.deleteStack(ctx, r, endpointID, appID, knownID); err != nil {
		return err
	}
	switch err := s.stacks.DeleteHelmRelease(ctx, endpointID, appID, appID); {
	case err == nil:
		r.Logf("deleted Helm release %s", appID)
	case notFound(err):
	default:
		return retryIfTransient(upstreamErr("portainer", err, "delete Helm release"))
	}
	switch err := s.stacks.DeleteNamespace(ctx, endpointID, appID); {
	case err == nil:
		r.Logf("deleted namespace %s on endpoint %d", appID, endpointID)
	case notFound(err):
		r.Logf("no namespace %s on endpoint %d", appID, endpointID)
	default:
		return retryIfTransient(upstreamErr("portainer", err, "delete namespace"))
	}
	return nil
}

// kubeDeleteStep is the uninstall's stack step on a Kubernetes endpoint
// (done false elsewhere).
func (s *Service) kubeDeleteStep(ctx context.Context, r *ops.Run, in UninstallInput) (bool, error) {
	if !in.Kubernetes {
		return false, nil
	}
	return true, s.kubeRemove(ctx, r, in.EndpointID, in.AppID, in.StackID)
}

// ---- reading ----

// kubeContainers lists the Deployments of a Kubernetes environment (one
// call for every namespace) as the container list the read side works on:
// one entry per Deployment, in the compose project named after its
// namespace (= the app id), running when its replicas are ready, exited
// when scaled to 0.
func (s *Service) kubeContainers(ctx context.Context, endpointID int) ([]portainer.Container, error) {
	ds, err := s.stacks.ListDeployments(ctx, endpointID, "")
	if err != nil {
		return nil, err
	}
	out := make([]portainer.Container, 0, len(ds))
	for _, d := range ds {
		ns := d.Metadata.Namespace
		if slices.Contains(systemNamespaces, ns) || strings.HasPrefix(ns, "kube-") {
			continue
		}
		c := portainer.Container{
			ID:      cmp.Or(d.Metadata.UID, ns+"/"+d.Metadata.Name),
			Names:   []string{"/" + d.Metadata.Name},
			Created: d.Metadata.CreationTimestamp.Unix(),
			Labels: map[string]string{
				projectLabel:                 ns,
				"com.docker.compose.service": d.Metadata.Name,
				kubeNamespaceLabel:           ns,
				"io.kubernetes.deployment":   d.Metadata.Name,
			},
		}
		if cs := d.Spec.Template.Spec.Containers; len(cs) > 0 {
			c.Image = cs[0].Image
		}
		want := d.DesiredReplicas()
		switch {
		case want == 0:
			c.State, c.Status = "exited", "Scaled to 0"
		case d.Status.ReadyReplicas >= want:
			c.State, c.Status = "running", fmt.Sprintf("Ready %d/%d", d.Status.ReadyReplicas, want)
		default:
			c.State, c.Status = "restarting", fmt.Sprintf("Ready %d/%d", d.Status.ReadyReplicas, want)
		}
		out = append(out, c)
	}
	return out, nil
}

// appRunStatus is runStatus, except for the Deployments of a Kubernetes
// namespace (kubeContainers): ACTIVE when one runs, INACTIVE when every one
// is scaled to 0 (stopped), else ERROR (replicas not ready).
func appRunStatus(cs []portainer.Container, appID string, whenDown AppStatus) AppStatus {
	if len(cs) == 0 || cs[0].Labels[kubeNamespaceLabel] == "" {
		return runStatus(cs, appID, whenDown)
	}
	stopped := true
	for _, c := range cs {
		switch c.State {
		case "running":
			return AppActive
		case "exited":
		default:
			stopped = false
		}
	}
	if stopped {
		return AppInactive
	}
	return AppError
}

// kubeNamespaceLabel marks the entries kubeContainers makes of Deployments
// (no Docker container to inspect).
const kubeNamespaceLabel = "io.kubernetes.namespace"

// kubeDrift is the drift of a Kubernetes stack: behind its branch, or
// Deployments not ready (one scaled to 0 by a stop is not drift). Neither
// is repairable: repair works on compose stacks.
func kubeDrift(st *portainer.Stack, cs []portainer.Container, behind string) []DriftIssue {
	var out []DriftIssue
	if behind != "" {
		out = append(out, DriftIssue{Kind: DriftStackBehind, Message: behind})
	}
	if len(cs) == 0 {
		out = append(out, DriftIssue{Kind: DriftContainersDown, Message: fmt.Sprintf("Kubernetes stack %s is active but namespace %s has no deployment", st.Name, st.Namespace)})
	} else if appRunStatus(cs, st.Name, AppInactive) == AppError {
		out = append(out, DriftIssue{Kind: DriftContainersDown, Message: fmt.Sprintf("deployments of namespace %s are not ready", st.Namespace)})
	}
	return out
}

// kubeInstallOf returns the input of a Kubernetes install and the install
// (nil, nil for any other).
func kubeInstallOf(op *ops.Operation) (*InstallInput, *ops.Operation) {
	var in InstallInput
	if json.Unmarshal(op.Input, &in) != nil || in.Material == "" {
		return nil, nil
	}
	return &in, op
}

// kubeRepo reports whether rec is a Helm app whose install succeeded, so
// its repository exists (it has no stack to name it).
func kubeRepo(rec *appRecord) bool {
	return rec.install != nil && rec.install.Material != "" && rec.op != nil && rec.op.Status == ops.StatusSucceeded
}

// ---- lifecycle ----

// kubeApp returns the install of an app appmanage deployed on a Kubernetes
// endpoint (nil for any other app).
func (s *Service) kubeApp(ctx context.Context, appID string) (*InstallInput, error) {
	installed, err := s.installedApps(ctx)
	if err != nil {
		return nil, err
	}
	op := installed[strings.ToLower(appID)]
	if op == nil {
		return nil, nil
	}
	var in InstallInput
	if err := json.Unmarshal(op.Input, &in); err != nil || in.Material == "" {
		return nil, nil //nolint:nilerr // not ours to read: a compose app
	}
	return &in, nil
}

// refuseKube refuses what appmanage does not do for apps on Kubernetes
// endpoints (what names the operation).
func (s *Service) refuseKube(ctx context.Context, appID, what string) error {
	in, err := s.kubeApp(ctx, appID)
	if err != nil || in == nil {
		return err
	}
	return apperr.Precondition("id", "%s is not available for app %s: it runs on Kubernetes endpoint %d (%s material), where %s", what, appID, in.EndpointID, in.Material, kubeWhyNot(what))
}

func kubeWhyNot(what string) string {
	switch what {
	case "domains":
		return "Nginx Proxy Manager cannot reach the app: it forwards to a container name on its Docker network, and appmanage does not manage a NodePort, LoadBalancer or Ingress address for the app's Service"
	case "upgrade":
		return "appmanage upgrades compose material only (a new image version in .env); edit the manifests in the app's repository and redeploy instead"
	}
	return "the operation works on compose stacks only"
}

// kubeLifecycle takes over start, stop, restart and redeploy for an app on
// a Kubernetes endpoint (done false for any other app).
func (s *Service) kubeLifecycle(ctx context.Context, kind, id, key string, lin LifecycleInput) (*ops.Operation, bool, error) {
	if op, done, err := s.replay(ctx, key, kind, id); done {
		return op, true, err
	}
	if ValidateAppID("id", id) != nil {
		return nil, false, nil
	}
	in, err := s.kubeApp(ctx, id)
	if err != nil || in == nil {
		return nil, err != nil, err
	}
	if kind == KindRedeploy && in.Material == MaterialHelm {
		return nil, true, apperr.Precondition("id", "app %s is a Helm release: Portainer's Helm API (install, list, delete) has no upgrade, so a release cannot be redeployed in place; uninstall and install it again", id)
	}
	if err := s.refuseActive(ctx, id); err != nil {
		return nil, true, err
	}
	ds, err := s.stacks.ListDeployments(ctx, in.EndpointID, in.AppID)
	if err != nil {
		return nil, true, upstreamErr("portainer", err, "list the app's deployments")
	}
	if len(ds) == 0 && kind != KindRedeploy {
		return nil, true, apperr.Precondition("id", "app %s has no deployments in namespace %s on endpoint %d", id, in.AppID, in.EndpointID)
	}
	running := slices.ContainsFunc(ds, func(d portainer.Deployment) bool { return d.DesiredReplicas() > 0 })
	switch {
	case kind == KindStart && running:
		return nil, true, apperr.Precondition("id", "app %s is already running", id)
	case kind == KindStop && !running:
		return nil, true, apperr.Precondition("id", "app %s is already stopped", id)
	}
	lin.AppID, lin.EndpointID, lin.Material, lin.Actor = in.AppID, in.EndpointID, in.Material, actor(ctx)
	if in.Material == MaterialKubernetes {
		st, err := s.stacks.FindStackByName(ctx, in.EndpointID, in.AppID)
		switch {
		case err == nil:
			lin.StackID = st.ID
		case notFound(err) && kind == KindRedeploy:
			return nil, true, apperr.New(apperr.NotFound, "app %s has no Kubernetes stack any more", id)
		case !notFound(err):
			return nil, true, upstreamErr("portainer", err, "look up stack")
		}
	}
	op, err := s.engine.Submit(ctx, ops.SubmitRequest{Kind: kind, AppID: id, Input: lin, IdempotencyKey: key})
	return op, true, err
}

// kubeLifecycleStep runs a lifecycle step of an app on a Kubernetes
// endpoint (done false for a compose app).
func (s *Service) kubeLifecycleStep(ctx context.Context, r *ops.Run, step string) (bool, error) {
	in, err := s.lifecycleInput(r)
	if err != nil || in.Material == "" {
		return err != nil, err
	}
	switch step {
	case "stop":
		return true, s.kubeScale(ctx, r, in, false)
	case "start":
		if err := s.kubeScale(ctx, r, in, true); err != nil {
			return true, err
		}
		return true, s.waitKubeReady(ctx, r, in.EndpointID, in.AppID)
	case "redeploy":
		if in.Material != MaterialKubernetes {
			return true, apperr.Precondition("id", "a Helm release cannot be redeployed through Portainer's Helm API")
		}
		st, err := s.stacks.GetStack(ctx, in.StackID)
		if err != nil {
			return true, retryIfTransient(upstreamErr("portainer", err, "read stack"))
		}
		git := s.ups(ctx).git
		var creds *portainer.GitCredentials
		if git.Password != "" {
			creds = &portainer.GitCredentials{Username: git.Username, Password: git.Password}
		}
		if _, err := s.stacks.RedeployStackGit(ctx, st.ID, in.EndpointID, portainer.GitRedeployFromStack(st, creds, in.PullImages)); err != nil {
			return true, retryIfTransient(upstreamErr("portainer", err, "redeploy Kubernetes stack"))
		}
		r.Logf("Kubernetes stack %s re-applied from the repository", st.Name)
		return true, s.waitKubeReady(ctx, r, in.EndpointID, in.AppID)
	}
	return true, apperr.New(apperr.Internal, "no Kubernetes form of step %s", step)
}

// kubeScale scales every Deployment of the app's namespace to 0 (up
// false), keeping its replicas in an annotation, or back to them (up).
// Deployments already where they should be are left alone, so a retried
// or resumed step finishes what it started.
func (s *Service) kubeScale(ctx context.Context, r *ops.Run, in LifecycleInput, up bool) error {
	ds, err := s.stacks.ListDeployments(ctx, in.EndpointID, in.AppID)
	if err != nil {
		return retryIfTransient(upstreamErr("portainer", err, "list the app's deployments"))
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, d := range ds {
		want := d.DesiredReplicas()
		var to int
		var note map[string]*string
		switch {
		case up && want == 0:
			to = portainer.ParseReplicas(d.Metadata.Annotations[portainer.ReplicasAnnotation])
			note = map[string]*string{portainer.ReplicasAnnotation: nil}
		case !up && want > 0:
			note = map[string]*string{portainer.ReplicasAnnotation: new(fmt.Sprint(want))}
		default:
			continue
		}
		g.Go(func() error {
			if err := s.stacks.ScaleDeployment(gctx, in.EndpointID, in.AppID, d.Metadata.Name, to, note); err != nil {
				return retryIfTransient(upstreamErr("portainer", err, "scale deployment "+d.Metadata.Name))
			}
			r.Logf("scaled deployment %s from %d to %d", d.Metadata.Name, want, to)
			return nil
		})
	}
	return g.Wait()
}
