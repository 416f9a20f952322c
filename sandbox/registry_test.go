package sandbox

import (
	"errors"
	"net/http"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// The sandbox registry serves the images it was allowed, under any
// registry host, also to requests that arrive together while the image is
// first pushed; anything else is 404.
func TestRegistryServesAllowedImages(t *testing.T) {
	r := newRegistry()
	t.Cleanup(r.Close)
	r.Allow([]string{"wordpress:6.5", "ghcr.io/org/tool:2", "not a reference"})
	head := func(ref string) error {
		n, err := name.ParseReference(ref)
		if err != nil {
			t.Fatal(err)
		}
		_, err = remote.Head(n, remote.WithTransport(r.Transport()))
		return err
	}
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = head("docker.io/library/wordpress:6.5")
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("concurrent head %d: %v", i, err)
		}
	}
	if err := head("ghcr.io/org/tool:2"); err != nil {
		t.Fatalf("ghcr image: %v", err)
	}
	var te *transport.Error
	if err := head("wordpress:9"); !errors.As(err, &te) || te.StatusCode != http.StatusNotFound {
		t.Fatalf("an image the library does not name: %v, want 404", err)
	}
}
