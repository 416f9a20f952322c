package sandbox

import (
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Registry is an in-process OCI registry (go-containerregistry's
// pkg/registry) that stands in for every image registry in sandbox mode,
// where none can be reached: appmanage's image checks and the fake
// Portainer's pulls both go to it (Transport sends every registry host
// there), so the images of the embedded library are reachable and pull,
// and any other image is not. It holds a small random image for each
// reference Allow was given, pushed the first time it is asked for.
// Registry hosts are not told apart: docker.io/library/x:1 and
// ghcr.io/library/x:1 are the same image here.
type Registry struct {
	srv  *httptest.Server
	host string

	mu      sync.Mutex
	allowed map[string]bool          // repository:tag
	pushed  map[string]chan struct{} // closed once the image is there (or its push failed)
}

// seedHeader marks the registry's own requests while it pushes an image.
const seedHeader = "X-Appmanage-Sandbox-Seed"

func newRegistry() *Registry {
	r := &Registry{allowed: map[string]bool{}, pushed: map[string]chan struct{}{}}
	h := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Header.Get(seedHeader) == "" {
			r.materialize(req.URL.Path)
		}
		h.ServeHTTP(w, req)
	}))
	r.host = strings.TrimPrefix(r.srv.URL, "http://")
	return r
}

// URL is the registry's loopback address.
func (r *Registry) URL() string { return r.srv.URL }

// Close stops it.
func (r *Registry) Close() { r.srv.Close() }

// Transport sends every registry request to the sandbox registry, over
// plain HTTP, keeping its path (/v2/<repository>/...).
func (r *Registry) Transport() http.RoundTripper {
	return roundTripper(func(req *http.Request) (*http.Response, error) {
		out := req.Clone(req.Context())
		out.URL.Scheme, out.URL.Host, out.Host = "http", r.host, r.host
		return http.DefaultTransport.RoundTrip(out)
	})
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// Allow makes the registry hold the images refs name (references as a
// compose file writes them; digests and unparsable ones are skipped).
func (r *Registry) Allow(refs []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range refs {
		ref, err := name.ParseReference(s, name.WeakValidation)
		if err != nil {
			continue
		}
		if t, ok := ref.(name.Tag); ok {
			r.allowed[t.RepositoryStr()+":"+t.TagStr()] = true
		}
	}
}

// materialize pushes the allowed image a manifest request asks for, once.
func (r *Registry) materialize(path string) {
	rest, ok := strings.CutPrefix(path, "/v2/")
	if !ok {
		return
	}
	repo, tag, ok := strings.Cut(rest, "/manifests/")
	if !ok || strings.HasPrefix(tag, "sha256:") {
		return
	}
	key := repo + ":" + tag
	r.mu.Lock()
	if !r.allowed[key] {
		r.mu.Unlock()
		return
	}
	if done, ok := r.pushed[key]; ok {
		r.mu.Unlock()
		<-done // another request is pushing it: answer once it is there
		return
	}
	done := make(chan struct{})
	r.pushed[key] = done
	r.mu.Unlock()
	defer close(done)
	img, err := random.Image(256, 1)
	if err == nil {
		var ref name.Reference
		if ref, err = name.ParseReference(r.host + "/" + key); err == nil {
			err = remote.Write(ref, img, remote.WithTransport(seeding{}))
		}
	}
	if err != nil {
		r.mu.Lock()
		delete(r.pushed, key) // the next request tries again
		r.mu.Unlock()
	}
}

// seeding marks the push's own requests, which materialize lets through.
type seeding struct{}

func (seeding) RoundTrip(req *http.Request) (*http.Response, error) {
	out := req.Clone(req.Context())
	out.Header.Set(seedHeader, "1")
	return http.DefaultTransport.RoundTrip(out)
}
