package fake

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// RegistryPullable is an Options.Pullable that asks the image's registry
// whether it has the reference, with go-containerregistry's remote.Head
// (bounded to 5s): a registry answering 404 (MANIFEST_UNKNOWN,
// NAME_UNKNOWN) makes the pull fail as Docker's does, and one that cannot
// be reached makes it fail as unreachable. opts are added to the call,
// e.g. remote.WithTransport for a test registry standing in for docker.io.
// Registries on localhost and 127.0.0.1 are spoken to over plain HTTP, as
// go-containerregistry does by default.
func RegistryPullable(opts ...remote.Option) func(ctx context.Context, ref string) error {
	return func(ctx context.Context, ref string) error {
		r, err := name.ParseReference(ref)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrManifestUnknown, err)
		}
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		_, err = remote.Head(r, append([]remote.Option{remote.WithContext(ctx)}, opts...)...)
		var te *transport.Error
		if errors.As(err, &te) && (te.StatusCode == http.StatusNotFound || te.StatusCode == http.StatusUnauthorized || te.StatusCode == http.StatusForbidden) {
			return fmt.Errorf("%w: %v", ErrManifestUnknown, err)
		}
		return err
	}
}
