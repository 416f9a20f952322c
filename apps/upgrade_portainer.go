package apps

import (
	"context"
	"strings"

	"github.com/appmanage/appmanage/datasources/portainer"
)

// portainerImageRoutes are the Portainer client's image routes (Docker's
// image inspect and images/create through Portainer's Docker proxy).
type portainerImageRoutes interface {
	InspectImage(ctx context.Context, endpointID int, ref string) (*portainer.Image, error)
	PullImage(ctx context.Context, endpointID int, ref string, auth *portainer.RegistryAuth, progress func(portainer.PullProgress)) error
}

// portainerImages is Images over the Portainer client.
type portainerImages struct{ c portainerImageRoutes }

func (p portainerImages) ImagePresent(ctx context.Context, endpointID int, ref string) (bool, error) {
	_, err := p.c.InspectImage(ctx, endpointID, ref)
	if notFound(err) {
		return false, nil
	}
	return err == nil, err
}

// PullImage pulls without registry credentials. Docker's first line names
// the tag rather than a layer; it is reported as being about the image.
func (p portainerImages) PullImage(ctx context.Context, endpointID int, ref string, progress func(PullProgress)) error {
	tag := "latest"
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		tag = ref[i+1:]
	}
	return p.c.PullImage(ctx, endpointID, ref, nil, func(pp portainer.PullProgress) {
		layer := pp.ID
		if layer == tag {
			layer = ""
		}
		progress(PullProgress{Layer: layer, Status: pp.Status, Current: pp.Current, Total: pp.Total})
	})
}
