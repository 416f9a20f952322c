package apps

import (
	"context"
	"strings"

	"github.com/appmanage/appmanage/datasources/portainer"
)

// portainerImageRoutes is the Portainer client's pull route (Docker's
// images/create through Portainer's Docker proxy).
type portainerImageRoutes interface {
	PullImage(ctx context.Context, endpointID int, ref string, auth *portainer.RegistryAuth, progress func(portainer.PullProgress)) error
}

// portainerImages is Images over the Portainer client.
type portainerImages struct{ c portainerImageRoutes }

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
