package apps

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/appmanage/appmanage/apperr"
	"github.com/appmanage/appmanage/datasources/portainer"
)

// Several endpoints (issue 13): the apps of every endpoint are listed with
// one container list per Docker-kind endpoint, read concurrently. An
// endpoint that is down, or whose list fails, is one problem naming it (its
// apps are UNKNOWN), and the View then reads its containers as unknown
// rather than failing every field of every app on it once more.

// endpointLabel names an endpoint in messages: "endpoint 2 (agent)".
func endpointLabel(ep portainer.Endpoint) string {
	if ep.Name == "" {
		return fmt.Sprintf("endpoint %d", ep.ID)
	}
	return fmt.Sprintf("endpoint %d (%s)", ep.ID, ep.Name)
}

// endpointDownErr is the listing's problem for an endpoint Portainer marks
// down: its containers are not even asked for.
func endpointDownErr(ep portainer.Endpoint) error {
	return &apperr.Error{Code: apperr.UpstreamUnavailable, Upstream: "portainer", EndpointID: ep.ID,
		Message: endpointLabel(ep) + " is down: the status of its apps is UNKNOWN"}
}

// endpointListErr is the listing's problem for an endpoint whose container
// list failed (err is getContainers' error).
func endpointListErr(ep portainer.Endpoint, err error) error {
	code := apperr.UpstreamUnavailable
	if ae, ok := apperr.As(err); ok && ae.Code == apperr.UpstreamRejected {
		code = ae.Code
	}
	cause := err
	if ae, ok := apperr.As(err); ok && ae.Err != nil {
		cause = ae.Err
	}
	return &apperr.Error{Code: code, Upstream: "portainer", EndpointID: ep.ID, Err: cause,
		Message: "cannot list the containers of " + endpointLabel(ep) + ": the status of its apps is UNKNOWN"}
}

// listedEndpoints lists the containers of one endpoint (only != 0) or of
// every endpoint, concurrently, and says which endpoints are not Docker
// hosts. It is allContainers' body; see there.
func (v *View) listedEndpoints(ctx context.Context, only int) (map[int]*containerIndex, []error) {
	for _, id := range v.s.lists.knownEndpoints() {
		if only == 0 || id == only {
			// Joined below through the view's memo of that endpoint. Not
			// waited for otherwise: the list of an endpoint that went
			// down may only end with the upstream timeout.
			go func() { _, _ = v.getContainers(ctx, id) }()
		}
	}
	eps, err := v.endpoints.get(ctx, v.s.cachedEndpoints)
	if err != nil {
		return nil, []error{upstreamErr("portainer", err, "list endpoints")}
	}
	out := make(map[int]*containerIndex, len(eps))
	var problems []error
	var up []int
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, ep := range eps {
		if only != 0 && ep.ID != only {
			continue
		}
		// A Kubernetes endpoint has no Docker proxy: cachedContainers lists
		// its Deployments instead of containers/json (kubeContainers).
		if kind := ep.Kind(); !kind.Docker() && !kind.Kubernetes() {
			continue // Azure container instances, unknown types: appmanage deploys nothing there
		}
		if ep.Status == portainer.EndpointStatusDown {
			v.markUnread(ep.ID, true)
			mu.Lock()
			problems = append(problems, endpointDownErr(ep))
			mu.Unlock()
			continue
		}
		up = append(up, ep.ID)
		wg.Go(func() {
			cs, err := v.getContainers(ctx, ep.ID)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				v.markUnread(ep.ID, false)
				problems = append(problems, endpointListErr(ep, err))
				return
			}
			out[ep.ID] = cs
		})
	}
	if only == 0 && !slices.Equal(v.s.lists.knownEndpoints(), up) {
		v.s.lists.rememberEndpoints(up)
	}
	wg.Wait()
	slices.SortStableFunc(problems, func(a, b error) int { return problemEndpoint(a) - problemEndpoint(b) })
	return out, problems
}

// problemEndpoint is the endpoint a listing problem names (0 for none).
func problemEndpoint(err error) int {
	if ae, ok := apperr.As(err); ok {
		return ae.EndpointID
	}
	return 0
}

// markUnread records that the listing reported an endpoint's containers as
// unreadable (one problem); lazy fields then read them as unknown. down:
// because Portainer marks the endpoint down (rather than a failed list).
func (v *View) markUnread(endpointID int, down bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.unread == nil {
		v.unread = map[int]bool{}
	}
	v.unread[endpointID] = down
}

// withoutDownEndpoints drops from problems those that say an endpoint is down
// (the endpoint list marks it so): for a reader that skips such endpoints
// anyway, as the orphan listing does.
func (v *View) withoutDownEndpoints(problems []error) []error {
	v.mu.Lock()
	defer v.mu.Unlock()
	var out []error
	for _, p := range problems {
		if ae, ok := apperr.As(p); ok && ae.EndpointID != 0 && v.unread[ae.EndpointID] {
			continue
		}
		out = append(out, p)
	}
	return out
}

// knownContainers is an endpoint's container index for the lazy fields of
// its apps, or nil (and no error) when there is none to read: the endpoint
// is neither a Docker host nor Kubernetes (whose Deployments cachedContainers
// lists as containers), or the listing already reported that its containers
// cannot be read. An app's fields then show no containers instead of adding
// one more error per app to the listing's one.
func (v *View) knownContainers(ctx context.Context, endpointID int) (*containerIndex, error) {
	v.mu.Lock()
	_, unread := v.unread[endpointID]
	v.mu.Unlock()
	if unread {
		return nil, nil
	}
	if ep, ok := v.endpointOf(ctx, endpointID); ok && !ep.Kind().Docker() && !ep.Kind().Kubernetes() {
		return nil, nil
	}
	return v.getContainers(ctx, endpointID)
}

// endpointOf looks an endpoint up in the view's endpoint list (false when
// the list cannot be read or has no such endpoint).
func (v *View) endpointOf(ctx context.Context, id int) (portainer.Endpoint, bool) {
	eps, err := v.endpoints.get(ctx, v.s.cachedEndpoints)
	if err != nil {
		return portainer.Endpoint{}, false
	}
	for _, ep := range eps {
		if ep.ID == id {
			return ep, true
		}
	}
	return portainer.Endpoint{}, false
}

// EndpointSummary is an endpoint with the number of apps on it.
type EndpointSummary struct {
	portainer.Endpoint
	Apps int
}

// EndpointsWithApps lists the endpoints with the number of apps on each:
// one endpoint list and one stack list (plus the journal's in-flight
// installs), however many apps, once per View. Compose projects without a
// stack are not counted (finding them takes every endpoint's container
// list).
func (v *View) EndpointsWithApps(ctx context.Context) ([]EndpointSummary, error) {
	return v.summaries.get(ctx, v.endpointsWithApps)
}

// EndpointOf is one endpoint of EndpointsWithApps (nil when Portainer has
// none of that id).
func (v *View) EndpointOf(ctx context.Context, id int) (*EndpointSummary, error) {
	sums, err := v.EndpointsWithApps(ctx)
	if err != nil {
		return nil, err
	}
	for i := range sums {
		if sums[i].ID == id {
			return &sums[i], nil
		}
	}
	return nil, nil
}

func (v *View) endpointsWithApps(ctx context.Context) ([]EndpointSummary, error) {
	eps, err := v.endpoints.get(ctx, v.s.cachedEndpoints)
	if err != nil {
		return nil, upstreamErr("portainer", err, "list endpoints")
	}
	l, err := v.Apps(ctx, ListQuery{IDsOnly: true})
	if err != nil {
		return nil, err
	}
	count := map[int]int{}
	for _, a := range l.Apps {
		count[a.EndpointID]++
	}
	out := make([]EndpointSummary, len(eps))
	for i, ep := range eps {
		out[i] = EndpointSummary{Endpoint: ep, Apps: count[ep.ID]}
	}
	return out, nil
}

// MigrateApp would move an app to another endpoint. The seed defers it
// (moving the data of the app's volumes between hosts is the hard part):
// it is refused, with nothing read or written.
func (s *Service) MigrateApp(ctx context.Context, appID string, endpointID int) error {
	return apperr.New(apperr.NotImplemented, "moving apps between endpoints (migrate %s to endpoint %d) is not built: uninstall the app and install it on the other endpoint instead (its data is not moved)", appID, endpointID)
}
