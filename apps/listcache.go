package apps

import (
	"context"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/appmanage/appmanage/datasources/portainer"
	"github.com/appmanage/appmanage/datasources/proxymanager"
	"github.com/appmanage/appmanage/ops"
)

// DefaultListTTL is how long the read side reuses an upstream list. The web
// console polls every few seconds, so a short TTL turns a burst of polls
// (several tabs, several panels) into one upstream call, while our own
// mutations invalidate it at once.
const DefaultListTTL = 2 * time.Second

// listCache holds the upstream lists the read side needs (stacks, endpoints,
// containers per endpoint, proxy hosts) for a short TTL. Concurrent misses
// of one list share one upstream call. Values are shared: callers must not
// modify them.
type listCache struct {
	ttl time.Duration
	now func() time.Time

	mu      sync.Mutex
	gen     uint64 // bumped by invalidate; a fetch from an older gen is not stored
	entries map[string]listEntry
	flight  singleflight.Group

	// upEndpoints: the endpoints that were up in the last endpoint list the
	// read side used. A hint, not data (invalidate keeps it): a poll starts
	// their container lists at once, beside the endpoint list, instead of
	// after it.
	upEndpoints []int
}

type listEntry struct {
	val any
	at  time.Time
}

func newListCache(ttl time.Duration) *listCache {
	return &listCache{ttl: ttl, now: time.Now, entries: map[string]listEntry{}}
}

// invalidate drops every list, and makes fetches already in flight not
// store their (possibly older) answer.
func (c *listCache) invalidate() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	clear(c.entries)
}

// knownEndpoints returns the endpoint ids rememberEndpoints stored last.
func (c *listCache) knownEndpoints() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.upEndpoints
}

// rememberEndpoints stores the ids of the endpoints that are up, for the
// next poll's knownEndpoints. ids must not be modified afterwards.
func (c *listCache) rememberEndpoints(ids []int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.upEndpoints = ids
}

func cached[T any](ctx context.Context, c *listCache, key string, fetch func(context.Context) (T, error)) (T, error) {
	c.mu.Lock()
	if e, ok := c.entries[key]; ok && c.ttl > 0 && c.now().Sub(e.at) < c.ttl {
		c.mu.Unlock()
		return e.val.(T), nil
	}
	gen := c.gen
	c.mu.Unlock()
	// The flight key carries the generation so a call started after an
	// invalidation never joins one started before it.
	ch := c.flight.DoChan(key+"@"+strconv.FormatUint(gen, 10), func() (any, error) {
		// Detached from the first caller's cancellation: other callers may
		// share this call.
		v, err := fetch(context.WithoutCancel(ctx))
		if err != nil {
			return v, err
		}
		c.mu.Lock()
		if c.gen == gen {
			c.entries[key] = listEntry{val: v, at: c.now()}
		}
		c.mu.Unlock()
		return v, nil
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			var zero T
			return zero, r.Err
		}
		return r.Val.(T), nil
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}

// derivedCache keeps what the read side derives from an upstream list (an
// endpoint's container index, the proxy index) for as long as the list is
// the very same slice. The clients hand back the same slice while the
// upstream's answer is unchanged, so polls of unchanged lists build
// nothing again, whatever the number of apps.
type derivedCache struct {
	mu sync.Mutex
	m  map[string]derivedEntry
}

type derivedEntry struct {
	first any // &list[0]; it keeps the list alive, so no other list can take its memory
	n     int
	val   any
}

// derive returns build(list), or what it returned for this very list
// before. list and the result are shared: neither may be modified.
func derive[E, T any](c *derivedCache, key string, list []E, build func([]E) T) T {
	if len(list) == 0 {
		return build(list)
	}
	first := any(&list[0])
	c.mu.Lock()
	e, ok := c.m[key]
	c.mu.Unlock()
	if ok && e.n == len(list) && e.first == first {
		if v, ok := e.val.(T); ok {
			return v
		}
	}
	v := build(list)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]derivedEntry{}
	}
	c.m[key] = derivedEntry{first: first, n: len(list), val: v}
	return v
}

func (s *Service) cachedStacks(ctx context.Context) ([]portainer.Stack, error) {
	return cached(ctx, s.lists, "stacks", func(ctx context.Context) ([]portainer.Stack, error) {
		return s.stacks.ListStacks(ctx, 0)
	})
}

func (s *Service) cachedEndpoints(ctx context.Context) ([]portainer.Endpoint, error) {
	return cached(ctx, s.lists, "endpoints", func(ctx context.Context) ([]portainer.Endpoint, error) {
		return s.stacks.ListEndpoints(ctx)
	})
}

func (s *Service) cachedContainers(ctx context.Context, endpointID int) ([]portainer.Container, error) {
	return cached(ctx, s.lists, "containers:"+strconv.Itoa(endpointID), func(ctx context.Context) ([]portainer.Container, error) {
		if s.isKubeEndpoint(ctx, endpointID) {
			return s.kubeContainers(ctx, endpointID) // its Deployments (kubernetes.go)
		}
		return s.stacks.ListContainers(ctx, endpointID, portainer.ContainerFilter{All: true})
	})
}

func (s *Service) cachedProxyHosts(ctx context.Context) ([]proxymanager.ProxyHost, error) {
	return cached(ctx, s.lists, "proxies", func(ctx context.Context) ([]proxymanager.ProxyHost, error) {
		return s.proxies.ListProxyHosts(ctx)
	})
}

// InvalidateLists drops the cached upstream lists (our own workflows do it
// after every step; exported for tests and for changes made behind our back).
func (s *Service) InvalidateLists() { s.lists.invalidate() }

// SetListTTL changes the list cache's TTL (0 disables it).
func (s *Service) SetListTTL(d time.Duration) {
	s.lists.mu.Lock()
	defer s.lists.mu.Unlock()
	s.lists.ttl = d
}

// invalidating wraps every step of w so the list cache is dropped after the
// step ran (done or undone, success or not): the read side then shows what
// the workflow changed on the next query instead of after the TTL.
func (s *Service) invalidating(w ops.Workflow) ops.Workflow {
	for i := range w.Steps {
		st := &w.Steps[i]
		if do := st.Do; do != nil {
			st.Do = func(ctx context.Context, r *ops.Run) error {
				defer s.history.forget(r.AppID())
				defer s.lists.invalidate()
				return do(s.withUpstreams(withRunInfo(ctx, r), r.OperationID()), r)
			}
		}
		if undo := st.Undo; undo != nil {
			st.Undo = func(ctx context.Context, r *ops.Run) error {
				defer s.history.forget(r.AppID())
				defer s.lists.invalidate()
				return undo(s.withUpstreams(withRunInfo(ctx, r), r.OperationID()), r)
			}
		}
	}
	return w
}
